//! Hardening of the platform adapters against hostile requests, end to end: a validly signed
//! DingTalk callback cannot steer replies to a webhook of its choosing, and a WeCom app
//! callback whose XML makes the parser fail gets a clean 4xx instead of killing the
//! connection task.

use std::sync::{Arc, Mutex};

use axum::{Router, body::Bytes, extract::State, http::Uri};
use serde_json::{Value, json};

use mobile_branch::platform::wecom::crypto::{MsgCrypt, signature};

use crate::{
    dingtalk::{
        APP_SECRET, FakeDingtalk, GROUP, group_text, now_ms, post_signed, session_texts, sign,
        spawn_dt_app,
    },
    helpers::{REDIS, spawn_app_with, test_settings},
    wecom::{AES_KEY, CORP_ID, TOKEN, app_bot},
};

/// A server standing for an attacker's webhook: it records every request and answers as a
/// DingTalk robot would, so nothing about its answer would make a sender stop early.
#[derive(Clone, Default)]
struct Attacker(Arc<Mutex<Vec<(String, Value)>>>);

impl Attacker {
    async fn start() -> (String, Self) {
        let attacker = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .fallback(
                |State(a): State<Attacker>, uri: Uri, body: Bytes| async move {
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    a.0.lock().unwrap().push((uri.to_string(), body));
                    axum::Json(json!({"errcode": 0, "errmsg": "ok"}))
                },
            )
            .with_state(attacker.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, attacker)
    }

    fn seen(&self) -> Vec<(String, Value)> {
        self.0.lock().unwrap().clone()
    }
}

/// The texts the fake OpenAPI was asked to send to `conversation`.
fn openapi_texts(fake: &FakeDingtalk, conversation: &str) -> Vec<String> {
    fake.seen_on("/v1.0/robot/groupMessages/send")
        .iter()
        .filter(|b| b["openConversationId"] == conversation)
        .filter_map(|b| {
            b["msgParam"]
                .as_str()
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
        })
        .map(|p| p["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_signed_dingtalk_callback_cannot_send_the_reply_to_a_webhook_it_names() {
    // Arrange: a branch bound to the group by its secretary, through the real webhook; the
    // bind reply goes to the genuine sessionWebhook.
    let fake = FakeDingtalk::start().await;
    let (attacker_base, attacker) = Attacker::start().await;
    let app = spawn_dt_app(&fake).await;
    let (_, code) = app.create_branch("钉钉安全支部").await;
    let bind_id = format!("{}-bind", app.prefix);
    let ts = now_ms().to_string();
    let signature = sign(APP_SECRET, &ts);
    let bind = group_text(
        &fake,
        &bind_id,
        "secretary01",
        "王书记",
        &format!(" 绑定 {code}"),
    );
    let response = post_signed(&app, Some(&ts), Some(&signature), &bind.to_string()).await;
    assert_eq!(response.status(), 200);
    app.eventually(
        10,
        "the bind reply on the genuine sessionWebhook",
        || async {
            session_texts(&fake, &bind_id)
                .iter()
                .any(|t| t.contains("钉钉安全支部"))
        },
    )
    .await;

    // Act: the same captured header pair (DingTalk signs only the timestamp) on forged
    // bodies that ask for the roster as the secretary and name the attacker's webhooks:
    // another robot on the endpoint's own host, and the right path on another host.
    let forged_urls = [
        format!("{}/robot/send?access_token=attacker", fake.base),
        format!("{attacker_base}/robot/sendBySession?session=stolen"),
    ];
    for (i, url) in forged_urls.iter().enumerate() {
        let mut forged = group_text(
            &fake,
            &format!("{}-forged-{i}", app.prefix),
            "secretary01",
            "王书记",
            " 名册",
        );
        forged["sessionWebhook"] = json!(url);
        let response = post_signed(&app, Some(&ts), Some(&signature), &forged.to_string()).await;
        assert_eq!(response.status(), 200, "{url}");
    }

    // Assert: both replies went to the conversation through the OpenAPI (the roster itself
    // goes to the secretary privately; the group hears only where), none to the attacker's
    // webhooks.
    app.eventually(10, "both replies on the OpenAPI", || async {
        openapi_texts(&fake, GROUP).len() >= 2
    })
    .await;
    let texts = openapi_texts(&fake, GROUP);
    assert_eq!(texts.len(), 2, "{texts:?}");
    for text in &texts {
        assert!(text.contains("私信") && !text.contains("书记："), "{text}");
    }
    assert!(fake.seen_on("/robot/send").is_empty(), "{:?}", fake.seen());
    assert!(attacker.seen().is_empty(), "{:?}", attacker.seen());
    // The bind reply was the only post to any sessionWebhook.
    let session_posts: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|(p, _, _)| p.starts_with("POST /session/"))
        .collect();
    assert_eq!(session_posts.len(), 1, "{session_posts:?}");
}

/// An element whose start tag has a long non-ASCII name and whose end tag does not match it:
/// quick-xml fails with "ill-formed document: expected `</ééé…>`, but `</x>` was found", and
/// byte 200 of that message falls inside an `é`.
fn mismatched_non_ascii_tag() -> String {
    let name = "é".repeat(120);
    format!("<{name}>1</x>")
}

/// Seals `plain` for the WeCom app (receive id = corp id) and signs it with the callback
/// token: the query string and the outer XML body.
fn sealed_app(plain: &str) -> (String, String) {
    let encrypt = MsgCrypt::new(AES_KEY, CORP_ID)
        .unwrap()
        .encrypt(plain.as_bytes());
    let ts = chrono::Utc::now().timestamp().to_string();
    let nonce = "1372623149";
    let query = format!(
        "msg_signature={}&timestamp={ts}&nonce={nonce}",
        signature(TOKEN, &ts, nonce, &encrypt)
    );
    let body = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>\
         <AgentID><![CDATA[1000002]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    );
    (query, body)
}

#[tokio::test]
async fn a_wecom_app_callback_with_a_non_ascii_tag_gets_a_clean_4xx_and_changes_nothing() {
    // Arrange: an app-mode bot. Its API is never reached by a refused callback.
    let app = spawn_app_with(test_settings(&REDIS.url(), &app_bot("http://127.0.0.1:9"))).await;
    let url = |query: &str| format!("{}/webhook/wecom/wxapp?{query}", app.base);
    let before = app.redis_state(&[]).await;

    // Before authentication: the outer envelope itself does not parse. The signature query
    // is well formed, so the body is read to find the ciphertext.
    let ts = chrono::Utc::now().timestamp();
    let outer = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>{}<Encrypt>abc</Encrypt></xml>",
        mismatched_non_ascii_tag()
    );
    let unauthenticated = format!("msg_signature=00&timestamp={ts}&nonce=1");
    // After authentication: a genuine, correctly sealed and signed callback whose decrypted
    // message is the bad XML.
    let inner = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>\
         <FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1700000000</CreateTime>\
         <MsgType><![CDATA[text]]></MsgType>{}<Content><![CDATA[帮助]]></Content>\
         <MsgId>7000000000000000001</MsgId><AgentID>1000002</AgentID></xml>",
        mismatched_non_ascii_tag()
    );
    let (signed, sealed) = sealed_app(&inner);

    for (what, query, body, status) in [
        ("outer envelope", unauthenticated, outer, 401),
        ("decrypted message", signed, sealed, 400),
    ] {
        // Act
        let response = app
            .client
            .post(url(&query))
            .header("content-type", "text/xml")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: the connection failed instead of answering: {e}"));

        // Assert: an answer, not a dropped connection; a problem document.
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], status, "{what}: {problem}");
    }
    app.assert_redis_unchanged(&before, &[], "a WeCom callback with a non-ASCII tag")
        .await;

    // The server still serves: a genuine text message on the same bot is answered.
    let good = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>\
         <FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1700000000</CreateTime>\
         <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[帮助]]></Content>\
         <MsgId>7000000000000000002</MsgId><AgentID>1000002</AgentID></xml>"
    );
    let (query, body) = sealed_app(&good);
    let response = app
        .client
        .post(url(&query))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("<Encrypt>"));
}
