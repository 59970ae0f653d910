//! Redis round trips per chat command, measured (not guessed) with the store's own counter
//! (`Store::round_trips`: every request sent, a pipeline or a script counting once) on an app
//! whose scheduler and outbox workers are off, so that nothing but the webhook talks to Redis.
//! The figures are the table in docs/BENCHMARKS.md; a change that adds a trip shows here.

use mobile_branch::clock::Clock;
use reqwest::Method;
use serde_json::json;

use crate::helpers::cast::SEC;
use crate::helpers::{REDIS, TestApp, Who, spawn_app_with, test_settings};

fn member(i: usize) -> (String, String) {
    (format!("u-{i}"), format!("成员{i}"))
}

fn who<'a>(user: &'a str, name: &'a str) -> Who<'a> {
    Who {
        chat: "g1",
        user,
        name,
    }
}

/// An app with no background workers, and `extra` settings.
async fn quiet_app(extra: &str) -> TestApp {
    let mut settings = test_settings(&REDIS.url(), extra);
    settings.scheduler.enabled = false;
    settings.outbox.enabled = false;
    spawn_app_with(settings).await
}

/// A bound branch with `n` linked members and meeting #1 starting in 10 minutes (its default
/// check-in window is open).
async fn scene(app: &TestApp, n: usize) -> String {
    let (id, code) = app.create_branch("计数支部").await;
    assert!(
        app.say1(SEC, &format!("绑定 {code}"))
            .await
            .contains("书记")
    );
    for i in 0..n {
        let (user, name) = member(i);
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/branches/{id}/members"),
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        app.say1(who(&user, &name), &format!("加入 {name}")).await;
        let approved = app.say1(SEC, &format!("批准 {name}")).await;
        assert!(approved.contains(&name), "{approved}");
    }
    let starts = app.clock.now() + chrono::Duration::minutes(10);
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/meetings"),
            Some(json!({"kind": "group", "starts_at": starts.to_rfc3339(), "topic": "计数"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    id
}

/// The replies to one message and the round trips it took.
async fn trips(app: &TestApp, who: Who<'_>, text: &str, message_id: &str) -> (u64, Vec<String>) {
    let before = app.store.round_trips();
    let replies = app.say_as(who, text, message_id).await;
    (app.store.round_trips() - before, replies)
}

#[tokio::test]
async fn a_check_in_takes_one_round_trip_and_the_other_commands_are_counted_too() {
    let app = quiet_app("").await;
    let id = scene(&app, 4).await;
    let (u0, n0) = member(0);
    let (u1, n1) = member(1);
    let (u2, n2) = member(2);
    let (u3, n3) = member(3);
    let guest = Who {
        chat: "g1",
        user: "u-new",
        name: "新人",
    };
    // Every script is loaded once (a first EVALSHA on a fresh server costs a SCRIPT LOAD).
    app.say_as(who(&u3, &n3), "签到", "warm-1").await;
    app.say_as(who(&u3, &n3), "我的", "warm-2").await;
    app.say_as(who(&u3, &n3), "会议 #1", "warm-3").await;

    let (checkin, replies) = trips(&app, who(&u0, &n0), "签到", "m-1").await;
    assert!(replies[0].contains("签到成功"), "{replies:?}");
    let (again, replies) = trips(&app, who(&u0, &n0), "签到", "m-2").await;
    assert!(replies[0].contains("不重复计"), "{replies:?}");
    let (retry, replies) = trips(&app, who(&u0, &n0), "签到", "m-1").await;
    assert!(
        replies[0].contains("签到成功"),
        "a retry answers as the first: {replies:?}"
    );
    let (by_number, replies) = trips(&app, who(&u1, &n1), "签到 #1", "m-3").await;
    assert!(replies[0].contains("签到成功"), "{replies:?}");
    let (me, replies) = trips(&app, who(&u2, &n2), "我的", "m-4").await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    let (show, replies) = trips(&app, who(&u2, &n2), "会议 #1", "m-5").await;
    assert!(replies[0].contains("#1"), "{replies:?}");
    let (status, replies) = trips(&app, who(&u0, &n0), "签到状态", "m-6").await;
    assert!(replies[0].contains("已签到"), "{replies:?}");
    let (join, replies) = trips(&app, guest, "加入 新人", "m-7").await;
    assert!(replies[0].contains("已收到加入申请"), "{replies:?}");
    let (guest_checkin, replies) = trips(&app, guest, "签到", "m-8").await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    println!(
        "round trips: 签到 {checkin}, again {again}, retried {retry}, 签到 #n {by_number}, \
         我的 {me}, 会议 #n {show}, 签到状态 {status}, 加入 (guest, a request) {join}, \
         签到 by a guest {guest_checkin}"
    );

    // The goal of the check-in path: one script (the chat's branch comes from this replica's
    // copy of the index, which the script checks).
    assert_eq!(checkin, 1);
    assert_eq!(again, 1);
    assert_eq!(retry, 1);
    assert_eq!(by_number, 1);
    // The others, as measured when this was written (docs/BENCHMARKS.md).
    assert!(me <= 4, "我的: {me}");
    assert!(show <= 6, "会议 #n: {show}");
    assert!(status <= 5, "签到状态: {status}");
    assert!(join <= 8, "加入: {join}");
    assert!(guest_checkin <= 4, "签到 by a guest: {guest_checkin}");

    // Counted once each, whatever path they took.
    let (_, ended) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/meetings/1/end"),
            None,
        )
        .await;
    assert_eq!(ended["summary"]["present"], 3, "{ended}");
}

#[tokio::test]
async fn a_busy_chat_schedules_its_digest_once_and_the_list_expires() {
    let app = quiet_app("[checkin]\ndigest_threshold = 2\n").await;
    let id = scene(&app, 5).await;
    let mut counts = Vec::new();
    for i in 0..5 {
        let (user, name) = member(i);
        let (n, replies) = trips(&app, who(&user, &name), "签到", &format!("d-{i}")).await;
        counts.push((n, replies.len()));
    }
    // The first (which also builds the branch's meeting indexes) and the second are
    // acknowledged; the third goes to the digest and schedules its job (one more trip, and
    // perhaps a script load); the rest only join the list.
    assert_eq!(counts[0].1, 1, "{counts:?}");
    assert_eq!(counts[1], (1, 1), "{counts:?}");
    assert!(counts[2].0 >= 2 && counts[2].1 == 0, "{counts:?}");
    assert_eq!(&counts[3..], &[(1, 0), (1, 0)], "{counts:?}");

    let client = redis::Client::open(REDIS.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let list = format!("{}:{{b:{id}}}:ckdigest:sim:demo:g1", app.prefix);
    let (len, ttl): (i64, i64) = redis::pipe()
        .llen(&list)
        .pttl(&list)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, 3);
    assert!(ttl > 0 && ttl <= 24 * 3600 * 1000, "{ttl}");
    let jobs: Vec<String> = redis::cmd("HKEYS")
        .arg(format!("{}:{{sched}}:jobs", app.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    let digests = jobs
        .iter()
        .filter(|j| j.starts_with("checkin-digest:"))
        .count();
    assert_eq!(digests, 1, "{jobs:?}");
}

#[tokio::test]
async fn a_branch_from_before_the_indexes_checks_in_and_gets_them_built() {
    let app = quiet_app("").await;
    let id = scene(&app, 2).await;
    // As an older version left it: meetings, no indexes.
    let client = redis::Client::open(REDIS.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg(
            ["nos", "agenda", "agenda_ends", "ended", "mtg_index"]
                .map(|k| format!("{}:{{b:{id}}}:{k}", app.prefix))
                .to_vec(),
        )
        .query_async(&mut conn)
        .await
        .unwrap();
    let (u0, n0) = member(0);
    let (u1, n1) = member(1);
    let (first, replies) = trips(&app, who(&u0, &n0), "签到", "x-1").await;
    assert!(replies[0].contains("签到成功"), "{replies:?}");
    assert!(first > 2, "the service path builds the indexes: {first}");
    let (next, replies) = trips(&app, who(&u1, &n1), "签到 #1", "x-2").await;
    assert!(replies[0].contains("签到成功"), "{replies:?}");
    assert_eq!(next, 1);
}
