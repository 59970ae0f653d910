//! Inbound limits (SPEC §10): per-sender and per-chat command limits that answer once and
//! then stay silent, wrong check-in codes limited per member and per meeting, guests and
//! unbound chats that cost Redis nothing but bounded counters, and an HTTP server that cuts
//! off slow senders and serves a bounded number of connections.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::cast::SEC;
use crate::helpers::{REDIS, TestApp, Who, spawn_app, spawn_app_with, test_settings};

/// Every limit counter's key holds one of these: the `{lim:<chat>}` and `{wa:<object>}` tags,
/// or, under a branch's tag, a member's counter (`lim:`) and a meeting's code tries (`wa:`).
const COUNTERS: [&str; 4] = [":{lim:", ":{wa:", "}:lim:", "}:wa:"];

fn member(user: &'static str, name: &'static str) -> Who<'static> {
    Who {
        chat: "g1",
        user,
        name,
    }
}

async fn app_with(limits: &str) -> TestApp {
    spawn_app_with(test_settings(&REDIS.url(), &format!("[limits]\n{limits}"))).await
}

/// A branch bound to g1 by its secretary, with members linked by `加入`.
async fn branch_with(app: &TestApp, members: &[Who<'_>]) -> String {
    let (id, code) = app.create_branch("限流支部").await;
    assert!(
        app.say1(SEC, &format!("绑定 {code}"))
            .await
            .contains("成为书记")
    );
    for who in members {
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/branches/{id}/members"),
                Some(json!({"name": who.name})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let joined = app.say1(*who, &format!("加入 {}", who.name)).await;
        assert!(joined.contains("已收到加入申请"), "{joined}");
    }
    id
}

/// Posts one sim message with a given id; the reply texts.
async fn say_as(app: &TestApp, who: Who<'_>, message_id: &str, text: &str) -> Vec<String> {
    let body = json!({"chat_id": who.chat, "user_id": who.user, "user_name": who.name,
                      "message_id": message_id, "text": text});
    let response = app.post_raw("/webhook/sim/demo", body.to_string()).await;
    assert_eq!(response.status(), 200, "{text}");
    let v: Value = response.json().await.unwrap();
    v["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn added(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect()
}

#[tokio::test]
async fn guessing_a_checkin_code_is_stopped_and_the_right_code_still_works_for_others() {
    // Small numbers so that the test reaches them: 3 wrong codes a member, 5 a meeting.
    let app = app_with(
        "sender_commands = 1000\nwrong_codes_per_person = 3\nwrong_codes_per_object = 5\nwrong_code_cooldown = \"3s\"",
    )
    .await;
    let (guesser, b, c, d) = (
        member("u-guess", "钱七"),
        member("u-b", "孙八"),
        member("u-c", "周九"),
        member("u-d", "吴十"),
    );
    branch_with(&app, &[guesser, b, c, d]).await;
    assert!(
        app.say1(SEC, "新建会议 党员大会 明天 19:30 年度总结")
            .await
            .contains("#1")
    );
    assert!(
        app.say1(SEC, "开始签到 #1 30 0042")
            .await
            .contains("签到已开放")
    );

    // One member walks the code space: three wrong codes, then every try is refused unread,
    // the right one included, with the wait and the right form.
    let mut replies = Vec::new();
    for n in 0..60 {
        replies.push(app.say1(guesser, &format!("签到 {n:04}")).await);
    }
    assert!(
        replies[..2].iter().all(|r| r.contains("签到码不对")),
        "{replies:?}"
    );
    for r in &replies[2..] {
        assert!(
            r.contains("输错次数过多")
                && r.contains("秒后再试")
                && r.contains("「签到 #1 签到码」"),
            "{r}"
        );
    }
    assert!(
        !replies.iter().any(|r| r.contains("签到成功")),
        "the code fell to guessing: {replies:?}"
    );

    // Spread over accounts: two more wrong codes use up the meeting's budget of 5.
    assert!(app.say1(b, "签到 1111").await.contains("签到码不对"));
    assert!(app.say1(c, "签到 2222").await.contains("输错次数过多"));
    // Now a member with a wrong try on record is not heard, even with the right code…
    assert!(app.say1(b, "签到 0042").await.contains("输错次数过多"));
    // …while one who types the right code first time checks in.
    assert!(app.say1(d, "签到 0042").await.contains("签到成功"));

    // Every counter expires; none outlives the cooldown.
    let mut conn = redis().await;
    let keys = app.keys(&REDIS.url()).await;
    let counters: Vec<&String> = keys.iter().filter(|k| k.contains("}:wa:mtg:")).collect();
    assert_eq!(
        counters.len(),
        4,
        "the meeting's and three members': {counters:?}"
    );
    for key in counters {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!((1..=3000).contains(&ttl), "{key}: {ttl}");
    }

    // The lockout of an honest member is bounded by the cooldown from their own wrong try.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(app.say1(b, "签到 0042").await.contains("签到成功"));

    let ended = app.say1(SEC, "结束会议 #1").await;
    assert!(ended.contains("实到 2 人"), "{ended}");
}

#[tokio::test]
async fn a_member_over_the_sender_limit_gets_one_reply_then_silence_and_changes_nothing() {
    let app = app_with("sender_commands = 3\nwindow = \"3s\"").await;
    let (zhang, li) = (member("u-zhang", "张三"), member("u-li", "李四"));
    let id = branch_with(&app, &[zhang, li]).await;
    assert!(
        app.say1(SEC, "新建会议 党员大会 明天 19:30 年度总结")
            .await
            .contains("#1")
    );
    // Their 加入 counted too; start from fresh windows.
    tokio::time::sleep(Duration::from_millis(3100)).await;

    // Three commands in the window are served; the fourth gets one short reply…
    for _ in 0..3 {
        assert!(app.say1(zhang, "帮助").await.contains("常用命令"));
    }
    let before = app.redis_state(&COUNTERS).await;
    let refused = app.say1(zhang, "参加 #1").await;
    assert!(
        refused.contains("操作太频繁") && refused.contains("秒后再试"),
        "{refused}"
    );
    // …and later ones silence; none of them changed anything but the counter.
    assert!(app.say(zhang, "参加 #1").await.is_empty());
    assert!(app.say(zhang, "请假 #1 出差").await.is_empty());
    app.assert_redis_unchanged(&before, &COUNTERS, "refused commands")
        .await;

    // Another member, and the secretary however busy, are not held up.
    assert!(app.say1(li, "帮助").await.contains("常用命令"));
    for _ in 0..10 {
        assert!(app.say1(SEC, "会议").await.contains("#1"));
    }

    // A new window serves again.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(app.say1(zhang, "参加 #1").await.contains("#1"));

    // An English branch is told in English.
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/branches/{id}"),
            Some(json!({"language": "en"})),
        )
        .await;
    assert_eq!(status, 200);
    for _ in 0..3 {
        app.say1(li, "help").await;
    }
    let refused = app.say1(li, "help").await;
    assert!(refused.contains("Too many commands"), "{refused}");
}

#[tokio::test]
async fn guests_share_a_chat_limit_that_spares_members_and_joining() {
    let app = app_with("chat_guest_commands = 5\nsender_commands = 100").await;
    let zhang = member("u-zhang", "张三");
    let id = branch_with(&app, &[zhang]).await;
    let guest = |i: usize| Who {
        chat: "g1",
        user: Box::leak(format!("u-guest{i}").into_boxed_str()),
        name: "访客",
    };

    // The secretary's 绑定, sent while the chat was unbound, was the chat's first; four more
    // guests are served, the fifth gets the one reply, the rest silence.
    let mut replies = Vec::new();
    for i in 0..12 {
        replies.push(app.say(guest(i), "帮助").await);
    }
    assert!(
        replies[..4]
            .iter()
            .all(|r| r.len() == 1 && r[0].contains("可用命令")),
        "{replies:?}"
    );
    assert_eq!(replies[4].len(), 1, "{replies:?}");
    assert!(replies[4][0].contains("本群命令太多"), "{replies:?}");
    assert!(replies[5..].iter().all(Vec::is_empty), "{replies:?}");

    // Members of the chat are not guests: they are still served.
    assert!(app.say1(zhang, "帮助").await.contains("常用命令"));
    // Joining is what a guest is there for: it is not counted against the chat.
    let joined = app.say1(guest(20), "加入 新人").await;
    assert!(joined.contains("已收到加入申请"), "{joined}");
    let (_, requests) = app
        .api(Method::GET, &format!("/branches/{id}/join-requests"), None)
        .await;
    assert!(
        requests["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "新人"),
        "{requests}"
    );

    // In an unbound chat everyone is a guest, and the chat has its own budget.
    let stranger = |i: usize| Who {
        chat: "g-unbound",
        user: Box::leak(format!("u-s{i}").into_boxed_str()),
        name: "路人",
    };
    let mut replies = Vec::new();
    for i in 0..8 {
        replies.push(app.say(stranger(i), "绑定 ABCDEFGH").await);
    }
    assert!(
        replies[..5]
            .iter()
            .all(|r| r.len() == 1 && r[0].contains("绑定码无效")),
        "{replies:?}"
    );
    assert!(replies[5][0].contains("本群命令太多"), "{replies:?}");
    assert!(replies[6..].iter().all(Vec::is_empty), "{replies:?}");
}

#[tokio::test]
async fn guests_and_unbound_chats_leave_only_bounded_expiring_counters() {
    let mut settings = test_settings(&REDIS.url(), "");
    // 300 requests at once on a loaded machine: production timeouts.
    settings.redis.response_timeout = Duration::from_secs(5);
    settings.redis.connect_timeout = Duration::from_secs(2);
    let app = spawn_app_with(settings).await;
    branch_with(&app, &[]).await;
    let before = app.redis_state(&COUNTERS).await;

    // A guest's hint and help in a bound chat; help and a wrong bind code in an unbound one.
    let guest = Who {
        chat: "g1",
        user: "u-guest",
        name: "访客",
    };
    assert!(app.say1(guest, "/开会").await.contains("未知命令"));
    assert!(app.say1(guest, "帮助").await.contains("可用命令"));
    let stranger = Who {
        chat: "g-unbound",
        user: "u-stranger",
        name: "路人",
    };
    assert!(app.say1(stranger, "帮助").await.contains("尚未绑定"));
    assert!(
        app.say1(stranger, "绑定 ABCDEFGH")
            .await
            .contains("绑定码无效")
    );
    assert!(app.say1(stranger, "我的").await.contains("尚未绑定"));
    app.assert_redis_unchanged(&before, &COUNTERS, "guests' read-only commands")
        .await;

    // A flood: 300 different guests, each one 帮助 with a message id of its own, half in a
    // bound chat and half in an unbound one.
    let flood = (0..300).map(|i| {
        let chat = if i % 2 == 0 { "g1" } else { "g-unbound" };
        let body = json!({"chat_id": chat, "user_id": format!("u-flood{i}"), "user_name": "访客",
                          "message_id": format!("flood-{i}"), "text": "帮助"});
        app.post_raw("/webhook/sim/demo", body.to_string())
    });
    for response in futures::future::join_all(flood).await {
        assert_eq!(response.status(), 200);
    }
    // Not even a dedup key: guests claim no message id.
    app.assert_redis_unchanged(&before, &COUNTERS, "a flood of guests")
        .await;

    // What it left: per chat one counter and at most `chat_guest_commands` (30) sender
    // counters (a command the chat refuses creates none), each expiring within the window.
    let keys = app.keys(&REDIS.url()).await;
    let mut conn = redis().await;
    for chat in ["sim:demo:g1", "sim:demo:g-unbound"] {
        let tag = format!(":{{lim:{chat}}}:");
        let counters: Vec<&String> = keys.iter().filter(|k| k.contains(&tag)).collect();
        assert!(
            (2..=31).contains(&counters.len()),
            "{chat}: {} counters",
            counters.len()
        );
        for key in counters {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!((1..=60_000).contains(&ttl), "{key}: {ttl}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_guests_retried_join_has_one_effect_the_same_reply_and_no_dedup_key() {
    let app = spawn_app().await;
    let id = branch_with(&app, &[]).await;
    let guest = Who {
        chat: "g1",
        user: "u-new",
        name: "新人",
    };
    let before = app.redis_state(&COUNTERS).await;

    // Twice in a row, then three at once: one message, as a platform retries it.
    let mut replies = Vec::new();
    for _ in 0..2 {
        replies.push(say_as(&app, guest, "join-1", "加入 新人").await);
    }
    let (a, b, c) = tokio::join!(
        say_as(&app, guest, "join-1", "加入 新人"),
        say_as(&app, guest, "join-1", "加入 新人"),
        say_as(&app, guest, "join-1", "加入 新人"),
    );
    replies.extend([a, b, c]);
    assert!(replies[0][0].contains("已收到加入申请"), "{replies:?}");
    assert!(replies.iter().all(|r| *r == replies[0]), "{replies:?}");

    let (_, requests) = app
        .api(Method::GET, &format!("/branches/{id}/join-requests"), None)
        .await;
    assert_eq!(requests["total"], 1, "{requests}");
    // The request was stored; no dedup key was written.
    let after = app.redis_state(&COUNTERS).await;
    let new = added(&before, &after);
    assert!(!new.is_empty());
    assert!(!new.iter().any(|k| k.contains(":dedup:")), "{new:?}");

    // A join that links a guest to the roster makes them a member, whose retry takes the
    // member's path: the reply stored by the join answers it the same.
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/members"),
            Some(json!({"name": "张三"})),
        )
        .await;
    assert_eq!(status, 201);
    let zhang = member("u-zhang", "张三");
    let first = say_as(&app, zhang, "join-2", "加入 张三").await;
    assert!(first[0].contains("已收到加入申请"), "{first:?}");
    assert_eq!(say_as(&app, zhang, "join-2", "加入 张三").await, first);
}

/// The app's listening address.
fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Reads until the peer closes the connection (or `within` passes); the bytes read and
/// whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (got, false),
            Ok(Ok(0) | Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_connection_that_sends_its_headers_slowly_is_closed_after_the_timeout() {
    let mut settings = test_settings(&REDIS.url(), "");
    settings.server.header_read_timeout = Duration::from_millis(500);
    let app = spawn_app_with(settings).await;

    // A slow sender: a header line every 100 ms, never the blank line that ends them.
    let mut slow = TcpStream::connect(addr(&app)).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    let (closed_after, answer) = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Once the server has closed, writes fail or reads see the end.
        let wrote = slow.write_all(b"X-Slow: 1\r\n").await.is_ok();
        let (bytes, closed) = read_until_closed(&mut slow, Duration::from_millis(1)).await;
        if !wrote || closed {
            break (started.elapsed(), bytes);
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the slow connection is still open after 5 s"
        );
    };
    assert!(
        closed_after >= Duration::from_millis(450),
        "closed too early: {closed_after:?}"
    );
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "the slow request was not served"
    );

    // A client that sends its request at once is served as usual.
    let mut quick = TcpStream::connect(addr(&app)).await.unwrap();
    quick
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut quick, Duration::from_secs(5)).await;
    assert!(closed);
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let mut settings = test_settings(&REDIS.url(), "");
    settings.server.max_connections = 2;
    settings.server.header_read_timeout = Duration::from_secs(30);
    let app = spawn_app_with(settings).await;

    // Two connections hold both slots without asking anything.
    let idle_one = TcpStream::connect(addr(&app)).await.unwrap();
    let _idle_two = TcpStream::connect(addr(&app)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A third is connected by the kernel but not served…
    let mut third = TcpStream::connect(addr(&app)).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut third, Duration::from_millis(800)).await;
    assert!(
        answer.is_empty() && !closed,
        "served beyond the cap: {}",
        String::from_utf8_lossy(&answer)
    );

    // …until a slot frees: then it is.
    drop(idle_one);
    let (answer, closed) = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(closed);
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
