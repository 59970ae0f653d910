//! Keys a caller chooses the names of stay bounded: a sim mailbox (one per chat id anyone may
//! send from) keeps a fixed number of messages, expires after its last one, and a bot keeps a
//! fixed number of mailboxes.

use std::time::Duration;

use chrono::Utc;
use mobile_branch::store::mailbox::{
    MAILBOX_CAPACITY, MAILBOX_TTL, MAILBOXES_PER_BOT, MailboxMessage,
};

use crate::helpers::{REDIS, spawn_app_with, test_settings};

async fn conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn mail(chat: &str, text: &str) -> MailboxMessage {
    MailboxMessage {
        chat_id: chat.to_owned(),
        text: text.to_owned(),
        at: Utc::now(),
    }
}

#[tokio::test]
async fn sim_mailboxes_are_capped_expire_and_are_limited_per_bot() {
    // Arrange: the outbox stays out of it; mail is delivered the way the sim adapter does.
    let mut settings = test_settings(&REDIS.url(), "");
    settings.outbox.enabled = false;
    settings.scheduler.enabled = false;
    let app = spawn_app_with(settings).await;
    let store = &app.store;

    // Act: one chat gets one message more than a mailbox keeps.
    for i in 0..=MAILBOX_CAPACITY {
        store
            .push_mailbox("demo", &mail("g-full", &format!("第{i}条")))
            .await
            .unwrap();
    }

    // Assert: the oldest went, and the mailbox expires a week after its last message.
    let kept = app.mailbox("demo", "g-full").await;
    assert_eq!(kept.len(), MAILBOX_CAPACITY);
    assert_eq!(kept[0], "第1条");
    let key = format!("{}:{{sim:demo}}:mailbox:g-full", app.prefix);
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn().await)
        .await
        .unwrap();
    let week = i64::try_from(MAILBOX_TTL.as_millis()).unwrap();
    assert!(ttl > week - 60_000 && ttl <= week, "{key}: {ttl}");

    // Act: as many more chats as a bot keeps mailboxes, each with one message (a moment
    // later, so the full one is the least recently written by the clock, not by a tie).
    tokio::time::sleep(Duration::from_millis(5)).await;
    for i in 0..MAILBOXES_PER_BOT {
        store
            .push_mailbox("demo", &mail(&format!("g{i:04}"), "你好"))
            .await
            .unwrap();
    }

    // Assert: the bot holds exactly its cap of mailboxes; the least recently written one
    // (the full one) is gone, the newest are there, and the index expires too.
    let index = format!("{}:{{sim:demo}}:mailboxes", app.prefix);
    let (count, index_ttl): (usize, i64) = redis::pipe()
        .cmd("ZCARD")
        .arg(&index)
        .cmd("PTTL")
        .arg(&index)
        .query_async(&mut conn().await)
        .await
        .unwrap();
    assert_eq!(count, MAILBOXES_PER_BOT);
    assert!(index_ttl > 0 && index_ttl <= week, "{index_ttl}");
    assert!(app.mailbox("demo", "g-full").await.is_empty());
    let mailboxes = app.keys(&REDIS.url()).await;
    let mailboxes = mailboxes
        .iter()
        .filter(|k| k.contains(":{sim:demo}:mailbox:"))
        .count();
    assert_eq!(mailboxes, MAILBOXES_PER_BOT);
    assert_eq!(
        app.mailbox("demo", &format!("g{:04}", MAILBOXES_PER_BOT - 1))
            .await,
        ["你好"]
    );
}
