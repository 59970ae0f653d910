//! The README's quick start, as a newcomer follows it: the seeded demo branch, a `加入` in
//! the group, and reading what the bot sent on its own to the secretary's private chat
//! (`dm:secretary`) through the sim mailbox route.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{REDIS, Who, spawn_app_with, test_settings};

#[tokio::test]
async fn the_quick_start_reads_the_secretarys_private_notices_from_the_sim_mailbox() {
    let mut settings = test_settings(&REDIS.url(), "");
    settings.demo.seed = true;
    let app = spawn_app_with(settings).await;
    // The seed runs beside the server at startup.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .api(reqwest::Method::GET, "/branches/demo", None)
        .await
        .0
        != 200
    {
        assert!(Instant::now() < deadline, "the demo branch was not seeded");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let zhang = Who {
        chat: "g1",
        user: "u1",
        name: "张三",
    };
    // The seed binds `g1` just after it creates the branch.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let replies = app.say(zhang, "加入 张三").await;
        assert!(!replies.is_empty(), "the group hears an answer");
        if !replies[0].contains("尚未绑定") {
            break;
        }
        assert!(Instant::now() < deadline, "g1 was not bound: {replies:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The README's private-chat line: `"chat_type": "private", "chat_id": "dm:u1"`.
    let me = app.say_private("u1", "我的").await;
    assert!(
        me.len() == 1 && me[0].contains("张三") && me[0].contains("演示支部"),
        "{me:?}"
    );

    // The README's line: GET /webhook/sim/demo/messages?chat_id=dm:<user_id>.
    let url = format!(
        "{}/webhook/sim/demo/messages?chat_id=dm:secretary",
        app.base
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let told = loop {
        let body: Value = app
            .client
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let texts: Vec<String> = body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["text"].as_str().map(str::to_owned))
            .collect();
        if let Some(t) = texts.iter().find(|t| t.contains("张三")) {
            break t.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the secretary was not told privately: {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(!told.is_empty());

    // And the demo secretary is user_id `secretary`: its private `成员` lists the roster.
    let roster = app.say_private("secretary", "成员").await.join("\n");
    assert!(
        roster.contains("张三") && roster.contains("李四"),
        "{roster}"
    );
}
