//! The ledger (`台账`) asked for in the forms people type, through the sim platform and real
//! Redis.

use chrono::Datelike;
use mobile_branch::clock::Clock;
use reqwest::Method;

use crate::helpers::{TestApp, Who};

const SEC: Who<'static> = Who {
    chat: "g1",
    user: "u-sec",
    name: "王书记",
};

/// A branch bound to g1 with its secretary; returns its id.
async fn branch(app: &TestApp) -> String {
    let (id, code) = app.create_branch("记录支部").await;
    app.say1(SEC, &format!("绑定 {code}")).await;
    id
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
