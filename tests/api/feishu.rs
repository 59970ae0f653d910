//! The Feishu adapter end to end: encrypted, signed `im.message.receive_v1` callbacks through
//! the webhook against real Redis, replies delivered by the outbox to a fake Open API that
//! checks the tenant token, the path and the body shape, forged callbacks refused, and `send`
//! classifying each answer the way the outbox needs.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use mobile_branch::{
    config::BotSettings,
    error::chain,
    platform::{
        OutboundMessage, Platform, SendError,
        feishu::{FeishuAdapter, crypto},
    },
};
use serde_json::{Value, json};

use crate::helpers::{REDIS, TestApp, spawn_live_app, test_settings};

const APP_ID: &str = "cli_a5f0e1d2c3b4a596";
const APP_SECRET: &str = "feishu-app-secret-0123456789";
const VERIFICATION_TOKEN: &str = "feishu-verification-token-42";
const ENCRYPT_KEY: &str = "feishu-encrypt-key-XYZ";
const BOT_OPEN_ID: &str = "ou_7d8a6e6df7621556ce0d21922b676706";
pub(super) const GROUP: &str = "oc_a0553eda9014c201e6969b478895c230";
pub(super) const SECRETARY: &str = "ou_4e6f0d1b2c3a495867788990aabbccdd";
pub(super) const MEMBER: &str = "ou_84aad35d084aa403a838cf73ee18467a";

/// How the fake Open API answers the next message call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    RateLimited,
    ServerError,
    BotNotInChat,
    /// The current token is revoked before answering (as if it expired early).
    RevokeToken,
    /// Every token is refused.
    RefuseAllTokens,
    /// The contact API is not granted (names come from the chat members).
    NoContactPermission,
    /// Replies are refused because the message was recalled; new messages go through.
    Recalled,
}

#[derive(Clone)]
struct Fake {
    answer: Arc<Mutex<Answer>>,
    /// The token the fake currently accepts.
    valid_token: Arc<Mutex<String>>,
    tokens_issued: Arc<Mutex<u32>>,
    /// Every request: `METHOD path?query`, the bearer token, the JSON body.
    seen: Arc<Mutex<Vec<(String, String, Value)>>>,
}

/// A fake Feishu Open API on 127.0.0.1:0.
pub(super) struct FakeFeishu {
    pub(super) base: String,
    fake: Fake,
}

impl FakeFeishu {
    pub(super) async fn start() -> Self {
        let fake = Fake {
            answer: Arc::new(Mutex::new(Answer::Ok)),
            valid_token: Arc::new(Mutex::new(String::new())),
            tokens_issued: Arc::new(Mutex::new(0)),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(open_api).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, fake }
    }

    fn answer(&self, answer: Answer) {
        *self.fake.answer.lock().unwrap() = answer;
    }

    fn tokens_issued(&self) -> u32 {
        *self.fake.tokens_issued.lock().unwrap()
    }

    /// Message calls (sends and replies) seen, without token and name lookups.
    pub(super) fn messages(&self) -> Vec<(String, String, Value)> {
        self.fake
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _, _)| path.contains("/im/v1/messages"))
            .cloned()
            .collect()
    }

    pub(super) fn paths(&self) -> Vec<String> {
        let seen = self.fake.seen.lock().unwrap();
        seen.iter().map(|(p, _, _)| p.clone()).collect()
    }
}

fn code(status: StatusCode, code: i64, msg: &str) -> Response {
    (status, Json(json!({"code": code, "msg": msg}))).into_response()
}

/// The Open API as Feishu answers it, for the calls the adapter makes.
async fn open_api(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let path = uri.path().to_owned();
    let target = format!("{method} {uri}");
    fake.seen
        .lock()
        .unwrap()
        .push((target.clone(), bearer.clone(), body.clone()));
    let answer = *fake.answer.lock().unwrap();

    if path == "/open-apis/auth/v3/tenant_access_token/internal" {
        if body != json!({"app_id": APP_ID, "app_secret": APP_SECRET}) {
            return code(StatusCode::BAD_REQUEST, 10014, "app secret invalid");
        }
        let mut issued = fake.tokens_issued.lock().unwrap();
        *issued += 1;
        let token = format!("t-g1044qeGEDXTB6NDJOGV4JQCYDGHRBAR{issued}");
        *fake.valid_token.lock().unwrap() = token.clone();
        return Json(json!({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200}))
            .into_response();
    }

    if answer == Answer::RevokeToken {
        *fake.valid_token.lock().unwrap() = "revoked".to_owned();
        *fake.answer.lock().unwrap() = Answer::Ok;
    }
    let valid = fake.valid_token.lock().unwrap().clone();
    if answer == Answer::RefuseAllTokens || bearer.is_empty() || bearer != valid {
        return code(
            StatusCode::BAD_REQUEST,
            99_991_663,
            "Invalid access token for authorization. Please make a request with token attached.",
        );
    }

    if method == Method::GET && path.starts_with("/open-apis/contact/v3/users/") {
        if answer == Answer::NoContactPermission {
            return code(
                StatusCode::BAD_REQUEST,
                99_991_672,
                "Access denied. One of the following scopes is required: [contact:user.base:readonly]",
            );
        }
        let name = if path.ends_with(SECRETARY) {
            "王书记"
        } else {
            "李四"
        };
        return Json(
            json!({"code": 0, "msg": "success", "data": {"user": {"name": name,
            "open_id": path.rsplit('/').next()}}}),
        )
        .into_response();
    }
    if method == Method::GET && path == format!("/open-apis/im/v1/chats/{GROUP}/members") {
        let page = uri.query().unwrap_or_default();
        return if page.contains("page_token=p2") {
            Json(
                json!({"code": 0, "data": {"has_more": false, "page_token": "", "member_total": 2,
                "items": [{"member_id_type": "open_id", "member_id": MEMBER, "name": "李四（群）",
                           "tenant_key": "x"}]}}),
            )
            .into_response()
        } else {
            Json(
                json!({"code": 0, "data": {"has_more": true, "page_token": "p2", "member_total": 2,
                "items": [{"member_id_type": "open_id", "member_id": SECRETARY, "name": "王书记",
                           "tenant_key": "x"}]}}),
            )
            .into_response()
        };
    }

    let create = path == "/open-apis/im/v1/messages"
        && uri.query() == Some("receive_id_type=chat_id")
        && body["receive_id"].is_string();
    let reply = path.starts_with("/open-apis/im/v1/messages/") && path.ends_with("/reply");
    let content_ok = body["content"]
        .as_str()
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .is_some_and(|c| c["text"].is_string());
    let uuid_ok = body["uuid"]
        .as_str()
        .is_some_and(|u| !u.is_empty() && u.len() <= 50);
    if method != Method::POST || !(create || reply) {
        return code(StatusCode::NOT_FOUND, 404, "not found");
    }
    if body["msg_type"] != "text" || !content_ok || !uuid_ok {
        return code(StatusCode::BAD_REQUEST, 230_001, "invalid message content");
    }
    match answer {
        Answer::Recalled if reply => code(
            StatusCode::BAD_REQUEST,
            230_011,
            "The message was withdrawn.",
        ),
        Answer::RateLimited => {
            let mut response = code(
                StatusCode::TOO_MANY_REQUESTS,
                99_991_400,
                "request trigger frequency limit",
            );
            response
                .headers_mut()
                .insert("x-ogw-ratelimit-reset", "3".parse().unwrap());
            response
        }
        Answer::ServerError => code(StatusCode::INTERNAL_SERVER_ERROR, 1_500, "internal error"),
        Answer::BotNotInChat => code(
            StatusCode::BAD_REQUEST,
            230_002,
            "Bot/User can NOT be out of the chat.",
        ),
        _ => Json(json!({"code": 0, "msg": "success", "data": {
            "message_id": "om_reply0000000000000000000000001", "msg_type": "text",
            "chat_id": body["receive_id"], "body": {"content": body["content"]}}}))
        .into_response(),
    }
}

/// The `[bots.fs]` (encrypted) and `[bots.fsplain]` (token only) tables.
pub(super) fn fs_bots(api_base: &str) -> String {
    format!(
        r#"
[bots.fs]
platform = "feishu"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
verification_token = "{VERIFICATION_TOKEN}"
encrypt_key = "{ENCRYPT_KEY}"
bot_open_id = "{BOT_OPEN_ID}"
api_base = "{api_base}"

[bots.fsplain]
platform = "feishu"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
verification_token = "{VERIFICATION_TOKEN}"
api_base = "{api_base}"
"#
    )
}

pub(super) async fn spawn_fs_app(fake: &FakeFeishu) -> TestApp {
    spawn_live_app(test_settings(&REDIS.url(), &fs_bots(&fake.base))).await
}

/// A group text message as Feishu pushes it (schema 2.0), opening with @bot.
pub(super) fn group_message(message_id: &str, sender: &str, text: &str) -> Value {
    json!({
        "schema": "2.0",
        "header": {
            "event_id": format!("5e3702a84e847582be8db7fb73283c02{message_id}"),
            "event_type": "im.message.receive_v1",
            "create_time": "1767225600000",
            "token": VERIFICATION_TOKEN,
            "app_id": APP_ID,
            "tenant_key": "2ca1d211f64f6438",
        },
        "event": {
            "sender": {
                "sender_id": {"union_id": "on_8ed6aa67826108097d9ee143816345",
                              "user_id": "e33ggbyz", "open_id": sender},
                "sender_type": "user",
                "tenant_key": "2ca1d211f64f6438",
            },
            "message": {
                "message_id": message_id,
                "root_id": "", "parent_id": "",
                "create_time": "1767225600123", "update_time": "1767225600123",
                "chat_id": GROUP,
                "thread_id": "",
                "chat_type": "group",
                "message_type": "text",
                "content": json!({"text": format!("@_user_1 {text}")}).to_string(),
                "mentions": [{"key": "@_user_1",
                              "id": {"union_id": "on_bot", "user_id": "", "open_id": BOT_OPEN_ID},
                              "name": "支部助手", "tenant_key": "2ca1d211f64f6438"}],
                "user_agent": "Mozilla/5.0 (Macintosh) Lark/7.30.5",
            },
        },
    })
}

/// The encrypted envelope Feishu sends when an Encrypt Key is set.
fn seal(event: &Value) -> String {
    let iv: [u8; 16] = rand::random();
    let encrypt = crypto::Cipher::new(ENCRYPT_KEY).encrypt(iv, event.to_string().as_bytes());
    json!({ "encrypt": encrypt }).to_string()
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Posts `body` to a Feishu webhook, signed at `timestamp` when given.
async fn post_signed(
    app: &TestApp,
    bot: &str,
    body: &str,
    signature: Option<(i64, &str)>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/webhook/feishu/{bot}", app.base))
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_owned());
    if let Some((timestamp, body_signed)) = signature {
        let nonce = format!("{}", rand::random::<u32>());
        let ts = timestamp.to_string();
        request = request
            .header("X-Lark-Request-Timestamp", &ts)
            .header("X-Lark-Request-Nonce", &nonce)
            .header(
                "X-Lark-Signature",
                crypto::signature(&ts, &nonce, ENCRYPT_KEY, body_signed.as_bytes()),
            );
    }
    request.send().await.unwrap()
}

/// Sends a message as Feishu would: encrypted and signed now.
pub(super) async fn deliver(app: &TestApp, event: &Value) -> (u16, Value) {
    let body = seal(event);
    let response = post_signed(app, "fs", &body, Some((unix_now(), &body))).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The text of a message call's `content`.
pub(super) fn text_of(body: &Value) -> String {
    let content: Value = serde_json::from_str(body["content"].as_str().unwrap()).unwrap();
    content["text"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_verification_challenge_is_echoed_in_both_modes() {
    let fake = FakeFeishu::start().await;
    let app = spawn_fs_app(&fake).await;
    let challenge = json!({"challenge": "ajls384kdjx98XX", "token": VERIFICATION_TOKEN,
                           "type": "url_verification"});
    for (bot, body) in [("fsplain", challenge.to_string()), ("fs", seal(&challenge))] {
        let response = post_signed(&app, bot, &body, None).await;
        assert_eq!(response.status(), 200, "{bot}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer, json!({"challenge": "ajls384kdjx98XX"}), "{bot}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_help_request_is_answered_through_the_reply_api() {
    // Arrange: a bound group (in an unbound chat only a bind is answered: replies there
    // would cost the bot's send budget for anyone who adds it anywhere).
    let fake = FakeFeishu::start().await;
    let app = spawn_fs_app(&fake).await;
    let (_, code) = app.create_branch("飞书帮助支部").await;
    let bind = group_message(
        "om_bind00000000000000000000000009",
        SECRETARY,
        &format!("绑定 {code}"),
    );
    assert_eq!(deliver(&app, &bind).await, (200, json!({})));
    app.eventually(10, "the bind reply", || async {
        !fake.messages().is_empty()
    })
    .await;
    let lookups = || {
        fake.paths()
            .iter()
            .filter(|p| p.starts_with("GET /open-apis/contact/v3/users/"))
            .count()
    };
    let lookups_before = lookups();
    let message_id = "om_dc13264520392913993dd051dba21dcf";

    // Act: Feishu pushes a guest's help; the webhook answers at once.
    let (status, body) = deliver(&app, &group_message(message_id, MEMBER, "帮助")).await;

    // Assert: `{}` in the response, the reply through the reply API with a tenant token.
    assert_eq!((status, body), (200, json!({})));
    let target = format!("POST /open-apis/im/v1/messages/{message_id}/reply");
    let replies = || {
        fake.messages()
            .into_iter()
            .filter(|(t, _, _)| *t == target)
            .collect::<Vec<_>>()
    };
    app.eventually(10, "the reply reaches the fake Open API", || async {
        !replies().is_empty()
    })
    .await;
    let messages = replies();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let (_, bearer, body) = &messages[0];
    assert_eq!(bearer, "t-g1044qeGEDXTB6NDJOGV4JQCYDGHRBAR1");
    assert_eq!(body["msg_type"], "text");
    assert_eq!(body["reply_in_thread"], false);
    assert!(text_of(body).contains("加入"), "{body}");
    assert_eq!(body["uuid"].as_str().unwrap().len(), 32);
    assert_eq!(fake.tokens_issued(), 1);
    // Only binding and joining keep a name, so help asks the contact API for none.
    assert_eq!(lookups(), lookups_before, "{:?}", fake.paths());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_message_three_times_has_one_effect_and_one_reply() {
    // Arrange: a branch bound to the group from Feishu itself.
    let fake = FakeFeishu::start().await;
    let app = spawn_fs_app(&fake).await;
    let (id, code) = app.create_branch("飞书支部").await;
    let bind = group_message(
        "om_bind00000000000000000000000001",
        SECRETARY,
        &format!("绑定 {code}"),
    );
    assert_eq!(deliver(&app, &bind).await, (200, json!({})));

    // Act: one push, then two at once (Feishu retries; replicas race). Each push is sealed
    // with a fresh IV and signed anew, as Feishu does.
    let join = group_message("om_join00000000000000000000000001", MEMBER, "加入 李四");
    let first = deliver(&app, &join).await;
    let (second, third) = tokio::join!(deliver(&app, &join), deliver(&app, &join));

    // Assert: identical answers, one pending member, one reply to each message.
    assert_eq!(first, (200, json!({})));
    assert_eq!(second, first);
    assert_eq!(third, first);
    app.eventually(10, "both replies are delivered", || async {
        fake.messages().len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let messages = fake.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].0.contains("om_bind"), "{messages:?}");
    assert!(text_of(&messages[0].2).contains("飞书支部"), "{messages:?}");
    assert!(messages[1].0.contains("om_join"), "{messages:?}");
    assert!(
        text_of(&messages[1].2).contains("已收到加入申请"),
        "{messages:?}"
    );
    let (_, requests) = app
        .api(
            reqwest::Method::GET,
            &format!("/branches/{id}/join-requests"),
            None,
        )
        .await;
    assert_eq!(requests["total"], 1, "{requests}");
    // The joining guest's name came from the contact API, with the one token.
    assert!(
        fake.paths()
            .iter()
            .any(|p| p == &format!("GET /open-apis/contact/v3/users/{MEMBER}?user_id_type=open_id")),
        "{:?}",
        fake.paths()
    );
    assert_eq!(fake.tokens_issued(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tampered_and_expired_callbacks_get_401_and_store_nothing() {
    let fake = FakeFeishu::start().await;
    let app = spawn_fs_app(&fake).await;
    let before = app.keys(&REDIS.url()).await;
    let event = group_message("om_forged0000000000000000000000001", MEMBER, "加入 坏人");
    let body = seal(&event);
    let now = unix_now();

    // Signed with another key.
    let forged = {
        let ts = now.to_string();
        app.client
            .post(format!("{}/webhook/feishu/fs", app.base))
            .header("X-Lark-Request-Timestamp", &ts)
            .header("X-Lark-Request-Nonce", "1")
            .header(
                "X-Lark-Signature",
                crypto::signature(&ts, "1", "not-the-key", body.as_bytes()),
            )
            .body(body.clone())
            .send()
            .await
            .unwrap()
    };
    // Signed, then the body changed (another ciphertext of the same event).
    let tampered = post_signed(&app, "fs", &seal(&event), Some((now, &body))).await;
    // Signed correctly, ten minutes ago.
    let expired = post_signed(&app, "fs", &body, Some((now - 600, &body))).await;
    // No signature on an event.
    let unsigned = post_signed(&app, "fs", &body, None).await;
    // Token mode: another app's token.
    let mut other = event.clone();
    other["header"]["token"] = json!("another-apps-verification-token");
    let wrong_token = post_signed(&app, "fsplain", &other.to_string(), None).await;

    for (case, response) in [
        ("forged", forged),
        ("tampered", tampered),
        ("expired", expired),
        ("unsigned", unsigned),
        ("wrong token", wrong_token),
    ] {
        assert_eq!(response.status().as_u16(), 401, "{case}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{case}"
        );
    }
    assert_eq!(
        app.keys(&REDIS.url()).await,
        before,
        "a refused webhook wrote keys"
    );
    assert!(fake.paths().is_empty(), "{:?}", fake.paths());
}

/// The adapter as `from_settings` would build it, on the app's store.
fn adapter(app: &TestApp, api_base: &str) -> FeishuAdapter {
    let settings = test_settings(&REDIS.url(), &fs_bots(api_base));
    let Some(BotSettings::Feishu(fs)) = settings.bots.get("fs") else {
        panic!("bots.fs is a feishu bot")
    };
    FeishuAdapter::new("fs", fs, reqwest::Client::new(), app.store.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reports_each_open_api_answer_as_the_outbox_needs_it() {
    // Arrange
    let fake = FakeFeishu::start().await;
    let app = spawn_fs_app(&fake).await;
    let fs = adapter(&app, &fake.base);
    let message = OutboundMessage {
        chat_id: GROUP.to_owned(),
        text: format!(
            "会议 #3 明天 19:30 开始 {}",
            mobile_branch::platform::mention_token(MEMBER, "李四")
        ),
        idempotency_key: "meeting:b1:3:reminder:24h:chat:g".to_owned(),
        context: None,
    };

    // Act and assert, one answer at a time.
    for (answer, expected) in [
        (Answer::Ok, Ok(())),
        (
            Answer::RateLimited,
            Err(SendError::RateLimited {
                retry_after: Duration::from_secs(3),
            }),
        ),
        (
            Answer::ServerError,
            Err(SendError::transient("Feishu could not take the call")
                .answered("HTTP 500: code 1500: internal error")),
        ),
        (
            Answer::BotNotInChat,
            Err(SendError::permanent("Feishu refused the call")
                .answered("HTTP 400: code 230002: Bot/User can NOT be out of the chat.")),
        ),
        // The token is refused once: refreshed, and the send goes through.
        (Answer::RevokeToken, Ok(())),
    ] {
        fake.answer(answer);
        assert_eq!(fs.send(&message).await, expected, "{answer:?}");
    }
    assert_eq!(fake.tokens_issued(), 2, "one fetch, one refresh");

    // Every token refused: one refresh, then a final answer.
    fake.answer(Answer::RefuseAllTokens);
    assert!(matches!(
        fs.send(&message).await,
        Err(e @ SendError::Permanent { .. })
            if chain(&e).starts_with("permanent: Feishu refused a fresh access token: ")
                && chain(&e).contains("99991663")
    ));
    assert_eq!(fake.tokens_issued(), 3);

    // Each call was a create to the chat, with the mention tag, and the same uuid.
    let messages = fake.messages();
    assert_eq!(messages.len(), 8, "{messages:?}");
    for (target, _, body) in &messages {
        assert_eq!(
            target,
            "POST /open-apis/im/v1/messages?receive_id_type=chat_id"
        );
        assert_eq!(body["receive_id"], GROUP);
        assert_eq!(body["uuid"], messages[0].2["uuid"]);
        assert_eq!(
            text_of(body),
            format!("会议 #3 明天 19:30 开始 <at user_id=\"{MEMBER}\">李四</at>")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_threads_to_its_message_and_falls_back_to_the_chat_when_it_was_recalled() {
    let fake = FakeFeishu::start().await;
    let app = spawn_fs_app(&fake).await;
    let fs = adapter(&app, &fake.base);
    let message = OutboundMessage {
        chat_id: GROUP.to_owned(),
        text: "签到成功".to_owned(),
        idempotency_key: "reply:feishu:fs:oc_a:om_1:0".to_owned(),
        context: Some(json!({"message_id": "om_recalled000000000000000000001", "chat_id": GROUP})),
    };

    assert_eq!(fs.send(&message).await, Ok(()));
    fake.answer(Answer::Recalled);
    assert_eq!(fs.send(&message).await, Ok(()));
    // A reply meant for another chat (a private follow-up) is a new message there.
    let elsewhere = OutboundMessage {
        chat_id: "oc_private0000000000000000000001".to_owned(),
        ..message.clone()
    };
    fake.answer(Answer::Ok);
    assert_eq!(fs.send(&elsewhere).await, Ok(()));

    let targets: Vec<String> = fake.messages().into_iter().map(|(t, _, _)| t).collect();
    let reply = "POST /open-apis/im/v1/messages/om_recalled000000000000000000001/reply";
    let create = "POST /open-apis/im/v1/messages?receive_id_type=chat_id";
    assert_eq!(targets, [reply, reply, create, create]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_come_from_the_contact_api_or_else_the_chat_members() {
    let fake = FakeFeishu::start().await;
    let app = spawn_fs_app(&fake).await;
    let fs = adapter(&app, &fake.base);

    assert_eq!(
        fs.fetch_display_name(GROUP, SECRETARY).await,
        Ok(Some("王书记".to_owned()))
    );
    fake.answer(Answer::NoContactPermission);
    assert_eq!(
        fs.fetch_display_name(GROUP, MEMBER).await,
        Ok(Some("李四（群）".to_owned()))
    );
    assert_eq!(fs.fetch_display_name(GROUP, "ou_nobody").await, Ok(None));
    assert_eq!(fs.fetch_display_name(GROUP, "../x").await, Ok(None));
    let paths = fake.paths();
    assert!(
        paths.contains(&format!(
            "GET /open-apis/im/v1/chats/{GROUP}/members?member_id_type=open_id&page_size=100&page_token=p2"
        )),
        "{paths:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_failures_are_transient_and_never_show_secrets() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let fake = FakeFeishu::start().await;
    let app = spawn_fs_app(&fake).await;
    let fs = adapter(&app, &format!("http://{closed}"));
    let message = OutboundMessage {
        chat_id: GROUP.to_owned(),
        text: "提醒".to_owned(),
        idempotency_key: "k".to_owned(),
        context: None,
    };
    let result = fs.send(&message).await;
    let Err(e @ SendError::Transient { .. }) = &result else {
        panic!("expected a transient error: {result:?}")
    };
    let text = chain(e);
    assert!(
        text.starts_with("transient: the request to Feishu failed: "),
        "{text}"
    );
    assert!(!text.contains(APP_SECRET), "{text}");
    assert!(!text.contains(&closed.to_string()), "{text}");
}
