//! The names people type for the bot (`@党建小助手 会议`) when the platform does not mark the
//! mention: the generic ones, and each bot's configured `names`.

use serde_json::{Value, json};

use crate::helpers::{REDIS, TestApp, spawn_app_with, test_settings};

/// Sends a message in sim chat `g1` of bot `named` as its secretary and returns the replies.
async fn say(app: &TestApp, text: &str) -> Vec<String> {
    let body = json!({
        "chat_id": "g1", "user_id": "u-sec", "user_name": "王书记",
        "message_id": app.message_id(), "text": text,
    });
    let resp = app.post_raw("/webhook/sim/named", body.to_string()).await;
    assert_eq!(resp.status(), 200, "{text}");
    let v: Value = resp.json().await.expect("json");
    v["replies"]
        .as_array()
        .expect("replies")
        .iter()
        .map(|r| r["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_configured_name_typed_before_a_command_addresses_the_bot() {
    let extra = "[bots.named]\nplatform = \"sim\"\ninsecure = true\nnames = [\"红星小助理\", \"@Xiaohong\"]\n";
    let app = spawn_app_with(test_settings(&REDIS.url(), extra)).await;
    let (_, code) = app.create_branch("红星支部").await;
    let bound = say(&app, &format!("绑定 {code}")).await;
    assert!(bound.iter().any(|r| r.contains("红星支部")), "{bound:?}");
    let plan = say(&app, "新建会议 党员大会 明天 19:30 学习").await;
    assert!(plan.iter().any(|r| r.contains("会议 #1")), "{plan:?}");

    // Unmarked by the platform: the configured names, the generic ones, a leading `@` in the
    // configuration and the case of a Latin name do not matter.
    for text in ["@红星小助理 会议", "@党建小助手 会议", "@xiaohong 会议"] {
        let replies = say(&app, text).await;
        assert_eq!(replies.len(), 1, "{text}: {replies:?}");
        assert!(replies[0].contains("#1"), "{text}: {replies:?}");
    }
    // Addressed to the bot, an unknown word earns a hint instead of silence.
    let hint = say(&app, "@红星小助理 开会").await;
    assert_eq!(hint.len(), 1, "{hint:?}");
    assert!(hint[0].contains("帮助"), "{hint:?}");
    // Addressed to someone else it is chatter, and so is a name run into the text after it.
    assert!(say(&app, "@张三 会议").await.is_empty());
    assert!(say(&app, "@红星小助理开会").await.is_empty());
}

#[tokio::test]
async fn a_name_with_a_space_is_refused_with_its_place() {
    let overlay = format!(
        "[redis]\nurl = \"{}\"\n[bots.named]\nplatform = \"sim\"\ninsecure = true\nnames = [\"红星\", \"党建 助手\"]\n",
        REDIS.url()
    );
    let err = mobile_branch::config::Settings::load(&mobile_branch::config::Sources {
        overlay: Some(&overlay),
        ..Default::default()
    })
    .expect_err("a name with a space is refused");
    let text = err.to_string();
    assert!(
        text.contains("bots.named.names[1]: a name is one word"),
        "{text}"
    );
}
