//! Bad input gets a clear 4xx (or a clear chat reply) and stores nothing.

use chrono::Utc;
use mobile_branch::store::mailbox::MailboxMessage;
use serde_json::{Value, json};

use crate::helpers::{REDIS, SIM_SECRET, Who, spawn_app};

#[tokio::test]
async fn bad_webhook_bodies_get_clear_errors_and_store_nothing() {
    let app = spawn_app().await;
    let before = app.redis_state(&[]).await;

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("malformed json", b"{\"chat_id\": ".to_vec(), 400, "EOF"),
        ("not an object", b"[1,2]".to_vec(), 400, "invalid type"),
        (
            "missing message_id",
            br#"{"chat_id":"g1","user_id":"u1","text":"help"}"#.to_vec(),
            400,
            "message_id",
        ),
        (
            "missing text",
            br#"{"chat_id":"g1","user_id":"u1","message_id":"x"}"#.to_vec(),
            400,
            "text",
        ),
        (
            "empty user id",
            br#"{"chat_id":"g1","user_id":" ","message_id":"x","text":"help"}"#.to_vec(),
            400,
            "user_id",
        ),
        (
            "invalid utf-8",
            b"{\"chat_id\":\"g1\",\"user_id\":\"u\xff\xfe\",\"message_id\":\"x\",\"text\":\"a\"}"
                .to_vec(),
            400,
            "unicode",
        ),
        (
            "trailing garbage",
            br#"{"chat_id":"g1","user_id":"u1","message_id":"x","text":"a"} xx"#.to_vec(),
            400,
            "trailing",
        ),
        ("2 MiB body", vec![b' '; 2 * 1024 * 1024], 413, ""),
    ];
    for (what, body, status, needle) in cases {
        let resp = app.post_raw("/webhook/sim/demo", body).await;
        assert_eq!(resp.status().as_u16(), status, "{what}");
        let text = resp.text().await.unwrap();
        assert!(text.contains(needle), "{what}: {text}");
    }

    for (path, status) in [
        ("/webhook/sim/nosuchbot", 404),
        ("/webhook/whatsapp/demo", 404),
        ("/webhook/telegram/demo", 404),
        ("/webhook/sim/locked", 401),
    ] {
        let body =
            json!({"chat_id":"g1","user_id":"u1","message_id":"x","text":"帮助"}).to_string();
        let resp = app.post_raw(path, body).await;
        assert_eq!(resp.status().as_u16(), status, "{path}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }

    let resp = app
        .client
        .get(format!("{}/webhook/sim/demo", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405, "sim takes POST only");
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mb_webhook_rejections_total{platform=\"sim\",reason=\"bad_secret\"}")
            || metrics.contains(
                "mb_webhook_rejections_total{platform=\"sim\",reason=\"missing_secret\"}"
            ),
        "{metrics}"
    );

    app.assert_redis_unchanged(&before, &[], "bad input").await;
}

#[tokio::test]
async fn odd_texts_get_silence_or_a_clear_reply_and_store_nothing() {
    let app = spawn_app().await;
    let who = Who {
        chat: "g1",
        user: "u1",
        name: "张三",
    };
    let before = app.keys(&REDIS.url()).await;

    assert!(app.say(who, "").await.is_empty());
    assert!(app.say(who, "　 ").await.is_empty());
    assert!(
        app.say(who, &"聊".repeat(10_000)).await.is_empty(),
        "long chatter stays silent"
    );
    let reply = app
        .say1(who, &format!("加入 {}", "张".repeat(10_000)))
        .await;
    assert!(reply.contains("太长"), "{reply}");
    let reply = app.say1(who, "加入 张\u{0}三").await;
    assert!(
        reply.contains("尚未绑定"),
        "unbound chat answers first: {reply}"
    );
    let reply = app.say1(who, "/开会").await;
    assert!(
        reply.contains("未知命令") && reply.contains("帮助"),
        "{reply}"
    );

    // A guest in an unbound chat claims no message id and writes no branch, member or chat
    // key: the commands above left only their expiring limit counters.
    let after = app.keys(&REDIS.url()).await;
    let new: Vec<&String> = after.iter().filter(|k| !before.contains(k)).collect();
    assert!(new.iter().all(|k| k.contains(":{lim:")), "{new:?}");
}

#[tokio::test]
async fn a_secured_sim_bot_needs_its_secret_and_its_mailbox_too() {
    let app = spawn_app().await;
    let body = json!({"chat_id":"g1","user_id":"u1","message_id":"s1","text":"帮助"}).to_string();
    let resp = app
        .client
        .post(format!("{}/webhook/sim/locked", app.base))
        .header("x-sim-secret", SIM_SECRET)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The mailbox shows what the outbox delivered to a sim chat.
    let message = MailboxMessage {
        chat_id: "g1".to_owned(),
        text: "会议提醒".to_owned(),
        at: Utc::now(),
    };
    app.store.push_mailbox("locked", &message).await.unwrap();
    let url = format!("{}/webhook/sim/locked/messages?chat_id=g1", app.base);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    let resp = app
        .client
        .get(&url)
        .header("x-sim-secret", SIM_SECRET)
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["messages"][0]["text"], "会议提醒", "{v}");
    assert_eq!(v["messages"][0]["chat_id"], "g1", "{v}");

    let resp = app
        .client
        .get(format!("{}/webhook/sim/demo/messages", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let resp = app
        .client
        .get(format!(
            "{}/webhook/sim/demo/messages?chat_id=empty",
            app.base
        ))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["messages"], json!([]));
}
