//! A member's own record (`签到状态`) over past, running and coming meetings, and the ledger
//! (`台账`) asked for in the forms people type, through the sim platform and real Redis.

use chrono::{DateTime, Datelike, Duration, Utc};
use mobile_branch::clock::Clock;
use reqwest::Method;
use serde_json::json;

use crate::helpers::cast::{LI, SEC, ZHANG};
use crate::helpers::{TestApp, Who};

/// A branch bound to g1 with its secretary; returns its id.
async fn branch(app: &TestApp) -> String {
    let (id, code) = app.create_branch("记录支部").await;
    app.say1(SEC, &format!("绑定 {code}")).await;
    id
}

/// Adds a roster entry now and links the person's account to it.
async fn join(app: &TestApp, id: &str, who: Who<'_>) {
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/members"),
            Some(json!({"name": who.name})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.say1(who, &format!("加入 {}", who.name)).await;
}

/// Schedules a 党小组会 through the API; returns its number.
async fn meeting_at(app: &TestApp, id: &str, starts: DateTime<Utc>) -> u64 {
    let (status, m) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/meetings"),
            Some(json!({"kind": "group", "starts_at": starts.to_rfc3339(), "topic": "学习"})),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    m["no"].as_u64().unwrap()
}

fn advance_to(app: &TestApp, at: DateTime<Utc>) {
    app.clock.advance(at - app.clock.now());
}

/// The state word on the line of meeting `no`, after the colon.
fn state_of(status: &str, no: u64) -> String {
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("#{no} ")))
        .unwrap_or_else(|| panic!("#{no} missing: {status}"));
    line.rsplit_once('：').unwrap().1.to_owned()
}

#[tokio::test]
async fn checkin_status_tells_past_meetings_by_outcome_and_coming_ones_by_answer() {
    let app = crate::helpers::spawn_app().await;
    let id = branch(&app).await;
    join(&app, &id, ZHANG).await;
    let t0 = app.clock.now();
    let day = |d: i64| t0 + Duration::days(d);
    let on_time = meeting_at(&app, &id, day(1)).await;
    let late = meeting_at(&app, &id, day(2)).await;
    let excused = meeting_at(&app, &id, day(3)).await;
    let absent = meeting_at(&app, &id, day(4)).await;
    let coming = meeting_at(&app, &id, day(10)).await;

    let reply = app.say1(ZHANG, &format!("请假 #{excused} 外出培训")).await;
    assert!(reply.contains("请假"), "{reply}");
    let reply = app.say1(ZHANG, &format!("参加 #{coming}")).await;
    assert!(reply.contains("已报名"), "{reply}");

    // Before anything was held, the past is empty and the coming ones say what was answered.
    let status = app.say1(ZHANG, "签到状态").await;
    assert!(
        status.starts_with("张三的签到记录（最近 5 场）"),
        "{status}"
    );
    assert_eq!(state_of(&status, on_time), "未回复");
    assert_eq!(state_of(&status, excused), "已请假");
    assert_eq!(state_of(&status, coming), "已报名");

    // On time to the first, late to the second; both ended by the secretary.
    advance_to(&app, day(1) - Duration::minutes(5));
    let reply = app.say1(ZHANG, &format!("签到 #{on_time}")).await;
    assert!(reply.contains("签到成功"), "{reply}");
    advance_to(&app, day(2) + Duration::minutes(5));
    let reply = app.say1(ZHANG, &format!("签到 #{late}")).await;
    assert!(reply.contains("迟到"), "{reply}");
    for no in [on_time, late] {
        let reply = app.say1(SEC, &format!("结束会议 #{no}")).await;
        assert!(reply.contains("已结束"), "{reply}");
    }
    // The third ended with the member on leave; the fourth nobody ended, and its planned
    // end has passed: over all the same.
    advance_to(&app, day(3) + Duration::minutes(30));
    app.say1(SEC, &format!("结束会议 #{excused}")).await;
    advance_to(&app, day(4) + Duration::hours(3));

    let status = app.say1(ZHANG, "签到状态").await;
    assert!(
        status.starts_with("张三的签到记录（最近 5 场）："),
        "{status}"
    );
    assert_eq!(state_of(&status, on_time), "准时");
    assert_eq!(state_of(&status, late), "迟到");
    assert_eq!(state_of(&status, excused), "请假");
    assert_eq!(state_of(&status, absent), "缺席");
    assert_eq!(state_of(&status, coming), "已报名");
    assert!(!status.contains("外出培训"), "no leave reason: {status}");

    // Someone who joins now was not on the roster for the past four: none reads 缺席.
    join(&app, &id, LI).await;
    let status = app.say1(LI, "签到状态").await;
    assert!(
        status.starts_with("李四的签到记录（最近 1 场）："),
        "{status}"
    );
    assert_eq!(state_of(&status, coming), "未回复");
    assert!(!status.contains("缺席"), "{status}");
    assert!(
        status.contains(&format!("「参加 #{coming}」")),
        "the next step names the meeting: {status}"
    );
}

#[tokio::test]
async fn the_ledger_reads_spoken_periods_and_does_not_blame_the_time_before_the_branch() {
    let app = crate::helpers::spawn_app().await;
    let id = branch(&app).await;
    let today = app
        .clock
        .now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let (year, month) = (today.year(), today.month());

    let this_month = app.say1(SEC, "台账 本月").await;
    assert!(
        this_month.starts_with(&format!("{year}年{month}月「三会一课」台账：")),
        "{this_month}"
    );
    assert!(this_month.contains("支委会"), "{this_month}");
    assert!(!this_month.contains("未完成"), "{this_month}");

    // The latest fourth quarter that has begun: this year's from October, else last year's,
    // which was over before the branch was created.
    let q4 = app.say1(SEC, "台账 第四季度").await;
    let q4_year = if month >= 10 { year } else { year - 1 };
    assert!(
        q4.starts_with(&format!("{q4_year}年第4季度「三会一课」台账：")),
        "{q4}"
    );
    assert!(!q4.contains("未完成"), "{q4}");
    assert_eq!(app.say1(SEC, "台账 Q4").await, q4);
    assert_eq!(
        app.say1(SEC, &format!("台账 {q4_year}年第四季度")).await,
        q4
    );

    // Last year: all before the branch, nothing missed, in chat and in the API.
    let last_year = app.say1(SEC, "台账 去年").await;
    assert!(
        last_year.contains("支部尚未成立") && !last_year.contains("未完成"),
        "{last_year}"
    );
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/branches/{id}/ledger?period={}", year - 1),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let units: Vec<&serde_json::Value> = body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["units"].as_array().unwrap())
        .collect();
    assert!(!units.is_empty());
    assert!(
        units.iter().all(|u| u["status"] == "before_branch"),
        "{body}"
    );

    // A form it cannot read: the forms, with today's values. In a group only what is
    // shaped like a period, or a message addressed to the bot, is taken for the command.
    let bad = app.say1(SEC, "台账 13月").await;
    assert!(bad.starts_with("无法识别台账期间「13月」"), "{bad}");
    assert!(
        bad.contains(&format!("台账 {year}年{month}月")) && !bad.contains('<'),
        "{bad}"
    );
    let addressed = app.say1(SEC, "/台账 下下月").await;
    assert!(
        addressed.starts_with("无法识别台账期间「下下月」"),
        "{addressed}"
    );
    assert!(app.say(SEC, "台账 下下月再说").await.is_empty(), "chatter");
    // Spaces inside a period are fine.
    assert_eq!(app.say1(SEC, &format!("台账 {q4_year}年 Q4")).await, q4);
}
