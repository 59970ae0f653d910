//! The OneBot (QQ) adapter end to end: events signed as NapCat and go-cqhttp sign them go
//! through the webhook, replies come back as a quick operation in the response or, with
//! `reply = "api"`, reach a fake OneBot HTTP API through the outbox; proactive sends are
//! classified the way the outbox needs.

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
use hmac::{Hmac, Mac};
use mobile_branch::{
    config::BotSettings,
    error::chain,
    platform::{OutboundMessage, Platform, SendError, onebot::OnebotAdapter},
};
use serde_json::{Value, json};

use crate::helpers::{REDIS, TestApp, spawn_app_with, spawn_live_app, test_settings};

const SECRET: &str = "napcat-http-client-token_0123";
pub(super) const ACCESS_TOKEN: &str = "onebot-api-access-token-4567";
const SELF_ID: i64 = 3_141_592_653;
pub(super) const GROUP: i64 = 734_512_009;

/// How the fake OneBot API answers the next action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    TooManyRequests,
    ServerError,
    /// go-cqhttp's answer when QQ refuses a message (anti-spam): 200 with retcode 100.
    SendFailed,
    /// An action the implementation does not know.
    UnknownAction,
}

/// One request the fake saw: `METHOD /path`, the Authorization header, the JSON body.
pub(super) type Seen = (String, Option<String>, Value);

#[derive(Clone)]
struct Fake {
    answer: Arc<Mutex<Answer>>,
    /// Every request, in order.
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// A fake OneBot v11 HTTP API (as NapCat's HTTP server answers) on 127.0.0.1:0.
pub(super) struct FakeOnebot {
    pub(super) base: String,
    fake: Fake,
}

impl FakeOnebot {
    pub(super) async fn start() -> Self {
        let fake = Fake {
            answer: Arc::new(Mutex::new(Answer::Ok)),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(onebot_api).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, fake }
    }

    fn answer(&self, answer: Answer) {
        *self.fake.answer.lock().unwrap() = answer;
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.fake.seen.lock().unwrap().clone()
    }
}

fn failed(retcode: i64, wording: &str) -> Response {
    Json(json!({"status": "failed", "retcode": retcode, "data": null,
                "message": wording, "wording": wording}))
    .into_response()
}

/// `POST /send_group_msg` and `/send_private_msg`, checking the token (401 missing, 403
/// wrong, as the spec says) and the body shape (numbers and a segment array).
async fn onebot_api(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    fake.seen.lock().unwrap().push((
        format!("{method} {}", uri.path()),
        auth.clone(),
        body.clone(),
    ));
    match auth.as_deref() {
        None => return StatusCode::UNAUTHORIZED.into_response(),
        Some(a) if a != format!("Bearer {ACCESS_TOKEN}") => {
            return StatusCode::FORBIDDEN.into_response();
        }
        Some(_) => {}
    }
    let target = match uri.path() {
        "/send_group_msg" => "group_id",
        "/send_private_msg" => "user_id",
        _ => return failed(1404, "不支持的Api"),
    };
    let segments_ok = body["message"].as_array().is_some_and(|segments| {
        segments
            .iter()
            .all(|s| s["type"].is_string() && s["data"].is_object())
    });
    if method != Method::POST || !body[target].is_i64() || !segments_ok {
        return failed(1400, "参数错误");
    }
    let answer = *fake.answer.lock().unwrap();
    match answer {
        Answer::Ok => Json(
            json!({"status": "ok", "retcode": 0, "data": {"message_id": 1_234_567},
                        "message": "", "wording": ""}),
        )
        .into_response(),
        Answer::TooManyRequests => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "3")],
            "slow down",
        )
            .into_response(),
        Answer::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Answer::SendFailed => failed(100, "消息发送失败，可能被风控"),
        Answer::UnknownAction => failed(1404, "不支持的Api"),
    }
}

/// The `[bots.qq]` table, pointed at `api_base`.
pub(super) fn qq_bot(api_base: &str, reply: &str, access_token: Option<&str>) -> String {
    let token = access_token
        .map(|t| format!("access_token = \"{t}\"\n"))
        .unwrap_or_default();
    format!(
        "\n[bots.qq]\nplatform = \"onebot\"\nsecret = \"{SECRET}\"\n{token}\
         api_base = \"{api_base}\"\nreply = \"{reply}\"\n"
    )
}

async fn spawn_qq_app(fake: &FakeOnebot) -> TestApp {
    spawn_app_with(test_settings(
        &REDIS.url(),
        &qq_bot(&fake.base, "quick", Some(ACCESS_TOKEN)),
    ))
    .await
}

/// The adapter as `from_settings` would build it, on a client of our own.
fn adapter(api_base: &str, access_token: Option<&str>, client: reqwest::Client) -> OnebotAdapter {
    let settings = test_settings(&REDIS.url(), &qq_bot(api_base, "api", access_token));
    let Some(BotSettings::Onebot(qq)) = settings.bots.get("qq") else {
        panic!("bots.qq is a onebot bot")
    };
    OnebotAdapter::new("qq", qq, client).unwrap()
}

/// `sha1=<hex>` of the exact bytes, as NapCat's `http-client.ts` computes it.
fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha1={hex}")
}

/// A group message in NapCat's array format, opening with an @ of the bot.
pub(super) fn napcat_group(message_id: i64, user_id: i64, card: &str, command: &str) -> Value {
    json!({
        "self_id": SELF_ID, "user_id": user_id, "time": 1_767_225_600,
        "message_id": message_id, "message_seq": message_id, "real_id": message_id,
        "message_type": "group",
        "sender": {"user_id": user_id, "nickname": format!("{card}的QQ"), "card": card,
                   "role": "member"},
        "raw_message": format!("[CQ:at,qq={SELF_ID}] {command}"), "font": 14,
        "sub_type": "normal",
        "message": [{"type": "at", "data": {"qq": SELF_ID.to_string()}},
                    {"type": "text", "data": {"text": format!(" {command}")}}],
        "message_format": "array", "post_type": "message", "group_id": GROUP,
    })
}

/// The same in go-cqhttp's string format (`post_message_format: string`).
fn gocq_group(message_id: i64, user_id: i64, card: &str, text: &str) -> Value {
    json!({
        "post_type": "message", "message_type": "group", "time": 1_767_225_600,
        "self_id": SELF_ID, "sub_type": "normal", "anonymous": null, "font": 0,
        "group_id": GROUP, "message": text, "message_seq": 88, "raw_message": text,
        "sender": {"age": 0, "area": "", "card": card, "level": "", "nickname": "nick",
                   "role": "owner", "sex": "unknown", "title": "", "user_id": user_id},
        "user_id": user_id, "message_id": message_id,
    })
}

/// Posts raw bytes with a signature header (or none).
async fn post_bytes(app: &TestApp, signature: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/webhook/onebot/qq", app.base))
        .header("content-type", "application/json")
        .header("x-self-id", SELF_ID.to_string())
        .body(body);
    if let Some(signature) = signature {
        request = request.header("x-signature", signature);
    }
    request.send().await.unwrap()
}

/// Posts an event signed with the bot's secret.
pub(super) async fn post_event(app: &TestApp, event: &Value) -> reqwest::Response {
    let body = event.to_string().into_bytes();
    let signature = signature(SECRET, &body);
    post_bytes(app, Some(&signature), body).await
}

/// Status, content type and body (JSON, or `null` when empty).
pub(super) async fn answer_of(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, content_type, body)
}

/// The text of a quick-operation reply or a send body's `message`.
pub(super) fn segments_text(segments: &Value) -> String {
    segments
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] == "text")
        .map(|s| s["data"]["text"].as_str().unwrap_or_default())
        .collect()
}

async fn pending_members(app: &TestApp, branch: &str) -> u64 {
    let (_, requests) = app
        .api(
            reqwest::Method::GET,
            &format!("/branches/{branch}/join-requests"),
            None,
        )
        .await;
    requests["total"].as_u64().unwrap()
}

#[tokio::test]
async fn a_signed_group_help_request_gets_a_quick_operation_reply() {
    // Arrange
    let fake = FakeOnebot::start().await;
    let app = spawn_qq_app(&fake).await;

    // Act
    let response = post_event(&app, &napcat_group(1_001, 2_233_445_566, "张三", "帮助")).await;

    // Assert: a quick operation without @sender, text as segments, no API call made.
    let (status, content_type, body) = answer_of(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/json");
    assert_eq!(body["at_sender"], json!(false), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    assert!(segments_text(&body["reply"]).contains("绑定"), "{body}");
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
}

#[tokio::test]
async fn an_uppercase_hex_signature_as_old_lagrange_sends_it_is_accepted() {
    let fake = FakeOnebot::start().await;
    let app = spawn_qq_app(&fake).await;
    let body = gocq_group(1_002, 42, "李四", &format!("[CQ:at,qq={SELF_ID}] 帮助"))
        .to_string()
        .into_bytes();
    let signature = signature(SECRET, &body)
        .to_uppercase()
        .replace("SHA1=", "sha1=");

    let (status, _, answer) = answer_of(post_bytes(&app, Some(&signature), body).await).await;

    assert_eq!(status, 200, "{answer}");
    assert!(segments_text(&answer["reply"]).contains("绑定"), "{answer}");
}

#[tokio::test]
async fn forged_requests_get_401_and_store_nothing() {
    let fake = FakeOnebot::start().await;
    let app = spawn_qq_app(&fake).await;
    let (_, code) = app.create_branch("伪造支部").await;
    let before = app.keys(&REDIS.url()).await;
    let genuine = gocq_group(1_003, 42, "李四", &format!("绑定 {code}"))
        .to_string()
        .into_bytes();
    let good = signature(SECRET, &genuine);
    let tampered = String::from_utf8(genuine.clone())
        .unwrap()
        .replace("\"user_id\":42", "\"user_id\":43")
        .into_bytes();
    assert_ne!(tampered, genuine);

    for (what, signature, body) in [
        ("no signature", None, genuine.clone()),
        (
            "wrong secret",
            Some(signature("guessed", &genuine)),
            genuine.clone(),
        ),
        ("tampered body", Some(good.clone()), tampered),
        (
            "not hex",
            Some(format!("sha1={}", "z".repeat(40))),
            genuine.clone(),
        ),
        (
            "other algorithm",
            Some(good.replace("sha1=", "sha256=")),
            genuine.clone(),
        ),
        ("empty", Some(String::new()), genuine.clone()),
    ] {
        let response = post_bytes(&app, signature.as_deref(), body).await;
        assert_eq!(response.status().as_u16(), 401, "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
    }

    assert_eq!(
        app.keys(&REDIS.url()).await,
        before,
        "a refused webhook wrote keys"
    );
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn meta_events_notices_and_non_text_messages_get_204_and_store_nothing() {
    let fake = FakeOnebot::start().await;
    let app = spawn_qq_app(&fake).await;
    let before = app.keys(&REDIS.url()).await;
    let mut image = napcat_group(1_004, 42, "李四", "");
    image["message"] =
        json!([{"type": "image", "data": {"file": "abc.image", "url": "https://x"}}]);

    for event in [
        json!({"time": 1_767_225_600, "self_id": SELF_ID, "post_type": "meta_event",
               "meta_event_type": "lifecycle", "sub_type": "connect"}),
        json!({"time": 1_767_225_600, "self_id": SELF_ID, "post_type": "meta_event",
               "meta_event_type": "heartbeat", "status": {"online": true, "good": true},
               "interval": 30_000}),
        json!({"time": 1_767_225_600, "self_id": SELF_ID, "post_type": "notice",
               "notice_type": "group_recall", "group_id": GROUP, "user_id": 42,
               "operator_id": 42, "message_id": 77}),
        json!({"time": 1_767_225_600, "self_id": SELF_ID, "post_type": "request",
               "request_type": "group", "sub_type": "add", "group_id": GROUP, "user_id": 42,
               "comment": "", "flag": "f"}),
        image,
        // Plain chatter, not a command: nothing to say.
        gocq_group(1_005, 42, "李四", "今天天气不错"),
    ] {
        let (status, _, body) = answer_of(post_event(&app, &event).await).await;
        assert_eq!((status, &body), (204, &Value::Null), "{event}");
    }
    assert_eq!(app.keys(&REDIS.url()).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_message_three_times_has_one_effect_and_identical_replies() {
    // Arrange: a branch bound to the group from QQ itself (go-cqhttp string format).
    let fake = FakeOnebot::start().await;
    let app = spawn_qq_app(&fake).await;
    let (id, code) = app.create_branch("企鹅支部").await;
    let (status, _, bound) = answer_of(
        post_event(
            &app,
            &gocq_group(
                2_001,
                1,
                "王书记",
                &format!("[CQ:at,qq={SELF_ID}] 绑定 {code}"),
            ),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{bound}");
    assert!(
        segments_text(&bound["reply"]).contains("企鹅支部"),
        "{bound}"
    );

    // Act: one delivery, then two at once (go-cqhttp retries after a timeout).
    let join = napcat_group(2_002, 2, "李四", "加入 李四");
    let first = answer_of(post_event(&app, &join).await).await;
    let (second, third) = tokio::join!(post_event(&app, &join), post_event(&app, &join));
    let second = answer_of(second).await;
    let third = answer_of(third).await;

    // Assert
    assert_eq!(first.0, 200, "{first:?}");
    assert_eq!(first, second);
    assert_eq!(first, third);
    assert!(
        segments_text(&first.2["reply"]).contains("已收到加入申请"),
        "{first:?}"
    );
    assert_eq!(pending_members(&app, &id).await, 1);
    // Nothing went to the group through the API; the secretary hears of the request once,
    // privately.
    app.eventually(10, "the secretary is told", || async {
        !fake.seen().is_empty()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].0.contains("send_private_msg"), "{seen:?}");
    assert_eq!(seen[0].2["user_id"], 1, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_api_mode_replies_reach_send_group_msg_once_with_the_token() {
    // Arrange: reply = "api", as Lagrange.OneBot needs; the outbox runs on the real clock.
    let fake = FakeOnebot::start().await;
    let app = spawn_live_app(test_settings(
        &REDIS.url(),
        &qq_bot(&fake.base, "api", Some(ACCESS_TOKEN)),
    ))
    .await;
    let (_, code) = app.create_branch("接口支部").await;
    let bind = napcat_group(3_001, 1, "王书记", &format!("绑定 {code}"));

    // Act: the same event three times, the last two at once.
    let first = answer_of(post_event(&app, &bind).await).await;
    let (second, third) = tokio::join!(post_event(&app, &bind), post_event(&app, &bind));
    let (second, third) = (answer_of(second).await, answer_of(third).await);

    // Assert: every answer is an empty 204, and the reply arrives once through the API.
    for answer in [&first, &second, &third] {
        assert_eq!((answer.0, &answer.2), (204, &Value::Null), "{answer:?}");
    }
    app.eventually(10, "the reply reaches send_group_msg", || async {
        !fake.seen().is_empty()
    })
    .await;
    // Give a duplicate time to show up, if one were queued.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (path, auth, body) = &seen[0];
    assert_eq!(path, "POST /send_group_msg");
    assert_eq!(
        auth.as_deref(),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert_eq!(body["group_id"], json!(GROUP), "{body}");
    assert!(
        segments_text(&body["message"]).contains("接口支部"),
        "{body}"
    );
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
}

fn outbound(chat_id: &str, text: &str) -> OutboundMessage {
    OutboundMessage {
        chat_id: chat_id.to_owned(),
        text: text.to_owned(),
        idempotency_key: "meeting:b1:3:reminder:24h:chat:g".to_owned(),
        context: None,
    }
}

#[tokio::test]
async fn send_reports_each_onebot_answer_as_the_outbox_needs_it() {
    // Arrange
    let fake = FakeOnebot::start().await;
    let qq = adapter(&fake.base, Some(ACCESS_TOKEN), reqwest::Client::new());
    let mention = mobile_branch::platform::mention_token("2233445566", "张三");
    let message = outbound(
        &GROUP.to_string(),
        &format!("{mention} 会议 #3 明天 19:30 开始"),
    );

    // Act and assert, one answer at a time.
    for (answer, expected) in [
        (Answer::Ok, Ok(())),
        (
            Answer::TooManyRequests,
            Err(SendError::RateLimited {
                retry_after: Duration::from_secs(3),
            }),
        ),
        (
            Answer::ServerError,
            Err(
                SendError::transient("the OneBot implementation could not take the message")
                    .answered("HTTP 500"),
            ),
        ),
        (
            Answer::SendFailed,
            Err(
                SendError::transient("the OneBot implementation could not send the message")
                    .answered("retcode 100: 消息发送失败，可能被风控"),
            ),
        ),
        (
            Answer::UnknownAction,
            Err(
                SendError::permanent("the OneBot implementation refused the message")
                    .answered("retcode 1404: 不支持的Api"),
            ),
        ),
    ] {
        fake.answer(answer);
        assert_eq!(qq.send(&message).await, expected, "{answer:?}");
    }

    // The fake saw the token, the path and a segment body each time: the mention as an at
    // segment, the text as a text segment.
    let seen = fake.seen();
    assert_eq!(seen.len(), 5, "{seen:?}");
    for (path, auth, body) in seen {
        assert_eq!(path, "POST /send_group_msg");
        assert_eq!(auth, Some(format!("Bearer {ACCESS_TOKEN}")));
        assert_eq!(
            body,
            json!({"group_id": GROUP, "message": [
                {"type": "at", "data": {"qq": "2233445566"}},
                {"type": "text", "data": {"text": " 会议 #3 明天 19:30 开始"}},
            ]})
        );
    }
}

#[tokio::test]
async fn private_sends_use_send_private_msg_and_keep_user_text_literal() {
    let fake = FakeOnebot::start().await;
    let qq = adapter(&fake.base, Some(ACCESS_TOKEN), reqwest::Client::new());

    let sent = qq
        .send(&outbound("dm:2233445566", "名单：[CQ:image,file=x] &#91;"))
        .await;

    assert_eq!(sent, Ok(()));
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, "POST /send_private_msg");
    assert_eq!(
        seen[0].2,
        json!({"user_id": 2_233_445_566_i64, "message": [
            {"type": "text", "data": {"text": "名单：[CQ:image,file=x] &#91;"}},
        ]})
    );
}

#[tokio::test]
async fn a_missing_or_wrong_access_token_is_permanent_and_never_shown() {
    // OneBot tokens are static (no expiry, nothing to refresh): a refusal needs the operator.
    let fake = FakeOnebot::start().await;
    let message = outbound(&GROUP.to_string(), "提醒");

    let missing = adapter(&fake.base, None, reqwest::Client::new())
        .send(&message)
        .await;
    let wrong = adapter(&fake.base, Some("wrong-token-9876"), reqwest::Client::new())
        .send(&message)
        .await;

    let text = |r: &Result<(), SendError>| r.as_ref().map_err(|e| chain(e)).err();
    let (missing, wrong) = (text(&missing), text(&wrong));
    assert!(
        missing.as_ref().is_some_and(|m| m.starts_with(
            "permanent: the OneBot implementation asks for an access token: set access_token \
             for this bot: HTTP 401"
        )),
        "{missing:?}"
    );
    assert!(
        wrong.as_ref().is_some_and(|m| m
            .starts_with("permanent: the OneBot implementation refused the access token")
            && m.contains("HTTP 403")
            && !m.contains("wrong-token")),
        "{wrong:?}"
    );
    let auths: Vec<Option<String>> = fake.seen().into_iter().map(|(_, a, _)| a).collect();
    assert_eq!(auths, [None, Some("Bearer wrong-token-9876".to_owned())]);
}

#[tokio::test]
async fn transport_failures_are_transient_and_never_show_the_token() {
    // A port nobody listens on: the implementation is restarting.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let result = adapter(
        &format!("http://{closed}"),
        Some(ACCESS_TOKEN),
        reqwest::Client::new(),
    )
    .send(&outbound(&GROUP.to_string(), "提醒"))
    .await;

    let Err(e @ SendError::Transient { .. }) = &result else {
        panic!("expected a transient error: {result:?}")
    };
    let text = chain(e);
    assert!(
        text.starts_with("transient: the request to OneBot failed: "),
        "{text}"
    );
    assert!(!text.contains(ACCESS_TOKEN), "{text}");
}
