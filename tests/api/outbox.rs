//! The outbox over the sim platform: intent dedup, digests under a tight budget, nothing lost
//! across a Redis restart.

use std::time::Duration;

use mobile_branch::{
    clock::Clock,
    store::outbox::{Grant, QueuedMessage, Settlement},
};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{REDIS, RedisServer, TestApp, Who, spawn_app_with, test_settings};

/// A sim bot allowed 4 messages a minute per chat: a bucket of 1, refilled 3 a minute.
const SLOW_BOT: &str = "[bots.slow]\nplatform = \"sim\"\ninsecure = true\nlimits = { per_chat_per_minute = 4, per_bot_per_second = 100 }\n";

fn message(app: &TestApp, chat: &str, text: &str, intent: &str) -> QueuedMessage {
    QueuedMessage {
        id: format!("{intent}-id"),
        bot: "slow".to_owned(),
        chat_id: chat.to_owned(),
        text: text.to_owned(),
        intent: intent.to_owned(),
        queued_at: app.clock.now(),
        attempts: 0,
        last_error: None,
        context: None,
    }
}

#[tokio::test]
async fn a_throttled_chat_gets_one_digest_and_an_intent_is_queued_once() {
    // The outbox is driven by hand here, so that all five are queued before it looks.
    let mut settings = test_settings(&REDIS.url(), SLOW_BOT);
    settings.outbox.enabled = false;
    let app = spawn_app_with(settings).await;
    let ttl = Duration::from_secs(3600);

    // Five notices at once, for a chat whose budget holds one message: one digest.
    for i in 1..=5 {
        let queued = app
            .store
            .enqueue_message(
                &message(&app, "s1", &format!("通知{i}"), &format!("t:{i}")),
                ttl,
            )
            .await;
        assert!(queued.unwrap());
    }
    assert!(
        !app.store
            .enqueue_message(&message(&app, "s1", "通知1", "t:1"), ttl)
            .await
            .unwrap(),
        "same intent"
    );
    assert_eq!(app.outbox.tick().await.unwrap().delivered, 5);
    assert_eq!(app.mailbox("slow", "s1").await.len(), 1);
    let digest = &app.mailbox("slow", "s1").await[0];
    for i in 1..=5 {
        assert!(digest.contains(&format!("通知{i}")), "{digest}");
    }
    assert!(
        digest.find("通知1") < digest.find("通知5"),
        "oldest first: {digest}"
    );

    // The budget is spent: the next notice waits for a token (20 s at 3 a minute).
    app.store
        .enqueue_message(&message(&app, "s1", "通知6", "t:6"), ttl)
        .await
        .unwrap();
    app.outbox.tick().await.unwrap();
    assert_eq!(app.mailbox("slow", "s1").await.len(), 1, "no token yet");
    // Other chats have their own budget and keep flowing.
    app.store
        .enqueue_message(&message(&app, "s2", "别的群", "t:s2"), ttl)
        .await
        .unwrap();
    app.outbox.tick().await.unwrap();
    assert_eq!(app.mailbox("slow", "s2").await, ["别的群"]);
    app.clock.advance(chrono::Duration::seconds(21));
    app.outbox.tick().await.unwrap();
    assert_eq!(app.mailbox("slow", "s1").await.len(), 2);
    assert_eq!(app.mailbox("slow", "s1").await[1], "通知6");
    assert_eq!(app.store.outbox_depth().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_messages_pending_across_a_redis_restart_are_not_lost() {
    let mut redis = RedisServer::start_persistent();
    let app = spawn_app_with(test_settings(&redis.url(), SLOW_BOT)).await;
    let (id, code) = app.create_branch("重启支部").await;
    app.say1(
        Who {
            chat: "g1",
            user: "u-sec",
            name: "王书记",
        },
        &format!("绑定 {code}"),
    )
    .await;
    let ttl = Duration::from_secs(3600);

    // Pending jobs: two notices ten minutes ahead.
    let at = (app.clock.now() + chrono::Duration::minutes(10)).to_rfc3339();
    for text in ["甲通知", "乙通知"] {
        let (status, _) = app
            .api(
                Method::POST,
                &format!("/branches/{id}/notices"),
                Some(json!({"text": text, "at": at})),
            )
            .await;
        assert_eq!(status, 201);
    }
    // Pending messages: the slow chat's budget is spent by the first, the rest wait.
    app.store
        .enqueue_message(&message(&app, "s1", "第一条", "r:1"), ttl)
        .await
        .unwrap();
    app.eventually(5, "first", || async {
        app.mailbox("slow", "s1").await.len() == 1
    })
    .await;
    for i in 2..=4 {
        app.store
            .enqueue_message(
                &message(&app, "s1", &format!("第{i}条"), &format!("r:{i}")),
                ttl,
            )
            .await
            .unwrap();
    }
    // The first message's settlement may still be in flight when its text has landed.
    app.eventually(5, "three waiting", || async {
        app.store.outbox_depth().await.unwrap() == 3
    })
    .await;

    redis.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart();
    app.eventually(15, "redis back", || async {
        app.store.ping().await.is_ok()
    })
    .await;

    assert_eq!(
        app.store.outbox_depth().await.unwrap(),
        3,
        "queued messages survived"
    );
    app.clock.advance(chrono::Duration::minutes(11));
    app.eventually(10, "notices after restart", || async {
        app.mailbox("demo", "g1").await.len() == 2
    })
    .await;
    app.eventually(10, "messages after restart", || async {
        app.mailbox("slow", "s1").await.len() == 2
    })
    .await;
    let digest = &app.mailbox("slow", "s1").await[1];
    assert!(
        digest.contains("第2条") && digest.contains("第4条"),
        "{digest}"
    );
    let mut notices = app.mailbox("demo", "g1").await;
    notices.sort();
    assert_eq!(notices, ["乙通知", "甲通知"]);
}

#[tokio::test]
async fn a_chat_being_served_is_never_handed_to_a_second_replica() {
    let mut settings = test_settings(&REDIS.url(), SLOW_BOT);
    settings.outbox.enabled = false;
    let app = spawn_app_with(settings).await;
    let (store, ttl, now) = (&app.store, Duration::from_secs(60), app.clock.now());
    store
        .enqueue_message(&message(&app, "s9", "一", "c:1"), ttl)
        .await
        .unwrap();
    let a = store
        .claim_chats(now, Duration::from_secs(30), "replica-a", 10)
        .await
        .unwrap();
    assert_eq!(a, ["slow:s9"]);
    // More arrives while A sends: B gets nothing until A settles.
    store
        .enqueue_message(&message(&app, "s9", "二", "c:2"), ttl)
        .await
        .unwrap();
    assert!(
        store
            .claim_chats(now, Duration::from_secs(30), "replica-b", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let settled = store
        .settle_chat(
            "slow:s9",
            "replica-a",
            &Settlement {
                delivered: vec!["c:1-id".to_owned()],
                next_at: now,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(settled);
    assert_eq!(
        store
            .claim_chats(now, Duration::from_secs(30), "replica-b", 10)
            .await
            .unwrap(),
        ["slow:s9"]
    );
    let waiting = store.chat_messages("slow:s9", 10).await.unwrap();
    assert_eq!(
        waiting.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["二"]
    );
}

#[tokio::test]
async fn a_turn_whose_lease_lapsed_can_neither_send_nor_record_nor_settle() {
    let mut settings = test_settings(&REDIS.url(), SLOW_BOT);
    settings.outbox.enabled = false;
    let app = spawn_app_with(settings).await;
    let (store, ttl, now) = (&app.store, Duration::from_secs(60), app.clock.now());
    for (i, text) in ["一", "二"].iter().enumerate() {
        store
            .enqueue_message(&message(&app, "s8", text, &format!("f:{i}")), ttl)
            .await
            .unwrap();
    }
    let lease = Duration::from_secs(30);
    assert_eq!(
        store.claim_chats(now, lease, "turn-a", 10).await.unwrap(),
        ["slow:s8"]
    );
    // Turn A stalls past its lease: even before anyone claims the chat again, it may not
    // send, as another replica may claim it at any moment and send too.
    let later = now + chrono::Duration::seconds(31);
    let bucket =
        mobile_branch::outbox::chat_bucket(mobile_branch::domain::chat::SendLimits::UNLIMITED);
    assert_eq!(
        store
            .take_tokens("slow:s8", "turn-a", bucket, bucket, 1, later)
            .await
            .unwrap(),
        Grant::Lost
    );
    // Turn B (another replica, or the same one) takes over.
    assert_eq!(
        store.claim_chats(later, lease, "turn-b", 10).await.unwrap(),
        ["slow:s8"]
    );
    let ids = vec!["f:0-id".to_owned()];
    let before = app.redis_state(&[]).await;
    assert_eq!(
        store
            .take_tokens("slow:s8", "turn-a", bucket, bucket, 1, later)
            .await
            .unwrap(),
        Grant::Lost
    );
    assert!(
        !store
            .hold_chat("slow:s8", "turn-a", later, &ids)
            .await
            .unwrap()
    );
    let settlement = Settlement {
        delivered: ids.clone(),
        next_at: later,
        ..Default::default()
    };
    assert!(
        !store
            .settle_chat("slow:s8", "turn-a", &settlement)
            .await
            .unwrap()
    );
    app.assert_redis_unchanged(&before, &[], "the stale turn")
        .await;

    // The holder's progress counts, and renews its lease past the lapsed one's.
    assert!(matches!(
        store
            .take_tokens("slow:s8", "turn-b", bucket, bucket, 2, later)
            .await
            .unwrap(),
        Grant::Send(_)
    ));
    let until = later + chrono::Duration::seconds(30);
    assert!(
        store
            .hold_chat("slow:s8", "turn-b", until, &ids)
            .await
            .unwrap()
    );
    let just_before = until - chrono::Duration::seconds(1);
    assert!(
        store
            .claim_chats(just_before, lease, "turn-c", 10)
            .await
            .unwrap()
            .is_empty(),
        "renewed: not up for grabs"
    );
    let waiting = store.chat_messages("slow:s8", 10).await.unwrap();
    assert_eq!(
        waiting.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["二"]
    );
    assert!(
        store
            .settle_chat("slow:s8", "turn-b", &settlement)
            .await
            .unwrap()
    );
}
