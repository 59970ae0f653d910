//! The DingTalk adapter end to end: robot callbacks signed as DingTalk signs them (HMAC over
//! the timestamp, computed here with the `hmac` crate directly, not with the adapter's code),
//! replies delivered by the outbox to a fake sessionWebhook, and proactive sends against a
//! fake DingTalk OpenAPI that checks the token header, the path and the body shape.

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
use base64::Engine;
use hmac::{Hmac, Mac};
use mobile_branch::{
    clock::SystemClock,
    config::BotSettings,
    error::chain,
    platform::{OutboundMessage, Platform, SendError, dingtalk::DingtalkAdapter},
    store::Store,
};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{REDIS, TestApp, spawn_live_app, test_settings};

const APP_KEY: &str = "dingtestappkey0001";
pub(super) const APP_SECRET: &str = "dt-app-secret_0123456789abcdefghijklmnopqrstuvwxyz";
const ROBOT_CODE: &str = "dingtestrobot0001";
pub(super) const GROUP: &str = "cidGroupTest0001==";

/// How the fake answers robot sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    TooManyRequests,
    QpsLimit,
    ServerError,
    BadConversation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionAnswer {
    Ok,
    Expired,
    TooFast,
}

#[derive(Default)]
struct Script {
    answer: Option<Answer>,
    session: Option<SessionAnswer>,
    /// Tokens issued so far; only the last one is valid.
    issued: u32,
    /// Every request: `METHOD /path`, the token header, the JSON body.
    seen: Vec<(String, Option<String>, Value)>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Script>>);

/// A fake DingTalk on 127.0.0.1:0: the OpenAPI and sessionWebhooks (`/robot/sendBySession`).
pub(super) struct FakeDingtalk {
    pub(super) base: String,
    fake: Fake,
}

impl FakeDingtalk {
    pub(super) async fn start() -> Self {
        let fake = Fake::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .fallback(dingtalk_api)
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, fake }
    }

    fn answer(&self, answer: Answer) {
        self.fake.0.lock().unwrap().answer = Some(answer);
    }

    fn session(&self, answer: SessionAnswer) {
        self.fake.0.lock().unwrap().session = Some(answer);
    }

    /// Revokes every token issued so far, as a token expiring early would.
    fn revoke(&self) {
        self.fake.0.lock().unwrap().issued += 1000;
    }

    pub(super) fn seen(&self) -> Vec<(String, Option<String>, Value)> {
        self.fake.0.lock().unwrap().seen.clone()
    }

    pub(super) fn seen_on(&self, path: &str) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|(p, _, _)| p == &format!("POST {path}"))
            .map(|(_, _, b)| b)
            .collect()
    }

    pub(super) fn session_url(&self, id: &str) -> String {
        format!("{}/robot/sendBySession?session={id}", self.base)
    }
}

fn open_api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message, "requestid": "req-1"})),
    )
        .into_response()
}

async fn dingtalk_api(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let token = headers
        .get("x-acs-dingtalk-access-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Each sessionWebhook (`/robot/sendBySession?session=<id>`) is filed as `/session/<id>`.
    let path = match (
        uri.path(),
        uri.query().and_then(|q| q.strip_prefix("session=")),
    ) {
        ("/robot/sendBySession", Some(id)) => format!("/session/{id}"),
        (path, _) => path.to_owned(),
    };
    let mut s = fake.0.lock().unwrap();
    s.seen
        .push((format!("{method} {path}"), token.clone(), body.clone()));
    if method != Method::POST {
        return open_api_error(StatusCode::NOT_FOUND, "NotFound", "no such API");
    }
    if path.starts_with("/session/") {
        // The custom-robot text shape, no token.
        if body["msgtype"] != "text" || !body["text"]["content"].is_string() || token.is_some() {
            return Json(json!({"errcode": 400, "errmsg": "bad body"})).into_response();
        }
        return match s.session.unwrap_or(SessionAnswer::Ok) {
            SessionAnswer::Ok => Json(json!({"errcode": 0, "errmsg": "ok"})).into_response(),
            SessionAnswer::Expired => {
                Json(json!({"errcode": 300001, "errmsg": "session 不存在"})).into_response()
            }
            SessionAnswer::TooFast => Json(json!({"errcode": 130101,
                "errmsg": "send too fast, exceed 20 times per minute"}))
            .into_response(),
        };
    }
    match path.as_str() {
        "/v1.0/oauth2/accessToken" => {
            if body != json!({"appKey": APP_KEY, "appSecret": APP_SECRET}) {
                return open_api_error(
                    StatusCode::BAD_REQUEST,
                    "invalidClientIdOrSecret",
                    "无效的clientId或者clientSecret",
                );
            }
            s.issued += 1;
            Json(json!({"accessToken": format!("tok-{}", s.issued), "expireIn": 7200}))
                .into_response()
        }
        "/v1.0/robot/groupMessages/send" | "/v1.0/robot/oToMessages/batchSend" => {
            if token.as_deref() != Some(format!("tok-{}", s.issued).as_str()) {
                return open_api_error(
                    StatusCode::UNAUTHORIZED,
                    "InvalidAuthentication",
                    "不合法的access_token",
                );
            }
            let param: Option<Value> = body["msgParam"]
                .as_str()
                .and_then(|p| serde_json::from_str(p).ok());
            let target_ok = if path.ends_with("groupMessages/send") {
                body["openConversationId"].is_string()
            } else {
                body["userIds"].is_array()
            };
            if body["robotCode"] != ROBOT_CODE
                || body["msgKey"] != "sampleText"
                || !param.is_some_and(|p| p["content"].is_string())
                || !target_ok
            {
                return open_api_error(StatusCode::BAD_REQUEST, "invalidParameter", "body shape");
            }
            match s.answer.unwrap_or(Answer::Ok) {
                Answer::Ok => Json(json!({"processQueryKey": "pqk-1"})).into_response(),
                Answer::TooManyRequests => {
                    let mut r =
                        open_api_error(StatusCode::TOO_MANY_REQUESTS, "Throttling", "slow down");
                    r.headers_mut().insert("retry-after", "4".parse().unwrap());
                    r
                }
                Answer::QpsLimit => open_api_error(
                    StatusCode::FORBIDDEN,
                    "Forbidden.AccessDenied.QpsLimitForApi",
                    "qps limit",
                ),
                Answer::ServerError => open_api_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceUnavailable",
                    "try later",
                ),
                Answer::BadConversation => open_api_error(
                    StatusCode::BAD_REQUEST,
                    "invalidParameter.openConversationId",
                    "群不存在",
                ),
            }
        }
        _ => open_api_error(StatusCode::NOT_FOUND, "NotFound", "no such API"),
    }
}

pub(super) fn dt_bot(api_base: &str) -> String {
    format!(
        r#"
[bots.dt]
platform = "dingtalk"
app_key = "{APP_KEY}"
app_secret = "{APP_SECRET}"
robot_code = "{ROBOT_CODE}"
api_base = "{api_base}"
session_webhook_endpoint = "{api_base}/robot/sendBySession"
"#
    )
}

/// On the system clock: the outbox's per-bot bucket (1 message a second by default) only
/// refills as real time passes, and DingTalk's signature window is wall time too.
pub(super) async fn spawn_dt_app(fake: &FakeDingtalk) -> TestApp {
    spawn_live_app(test_settings(&REDIS.url(), &dt_bot(&fake.base))).await
}

/// DingTalk's header signature, computed independently of the adapter.
pub(super) fn sign(secret: &str, timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A group text message @-ing the robot, in DingTalk's exact wire shape.
pub(super) fn group_text(
    fake: &FakeDingtalk,
    msg_id: &str,
    staff_id: &str,
    nick: &str,
    content: &str,
) -> Value {
    let now = now_ms();
    json!({
        "conversationId": GROUP,
        "atUsers": [{"dingtalkId": "$:LWCP_v1:$robot0001"}],
        "chatbotCorpId": "dingcorp0001",
        "chatbotUserId": "$:LWCP_v1:$robot0001",
        "msgId": msg_id,
        "senderNick": nick,
        "isAdmin": false,
        "senderStaffId": staff_id,
        "sessionWebhookExpiredTime": now + 5_400_000,
        "createAt": now,
        "senderCorpId": "dingcorp0001",
        "conversationType": "2",
        "senderId": format!("$:LWCP_v1:${staff_id}"),
        "conversationTitle": "星光支部",
        "isInAtList": true,
        "sessionWebhook": fake.session_url(msg_id),
        "text": {"content": content},
        "robotCode": ROBOT_CODE,
        "msgtype": "text",
    })
}

pub(super) async fn post_signed(
    app: &TestApp,
    timestamp: Option<&str>,
    sign: Option<&str>,
    body: &str,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/webhook/dingtalk/dt", app.base))
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_owned());
    if let Some(ts) = timestamp {
        request = request.header("timestamp", ts);
    }
    if let Some(s) = sign {
        request = request.header("sign", s);
    }
    request.send().await.unwrap()
}

pub(super) async fn post_callback(app: &TestApp, body: &Value) -> reqwest::Response {
    let ts = now_ms().to_string();
    post_signed(
        app,
        Some(&ts),
        Some(&sign(APP_SECRET, &ts)),
        &body.to_string(),
    )
    .await
}

async fn ok_and_empty(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The texts the fake's sessionWebhook `id` received.
pub(super) fn session_texts(fake: &FakeDingtalk, id: &str) -> Vec<String> {
    fake.seen_on(&format!("/session/{id}"))
        .iter()
        .map(|b| b["text"]["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_group_help_request_is_answered_on_the_session_webhook() {
    // Arrange: a bound group (in an unbound chat only a bind is answered).
    let fake = FakeDingtalk::start().await;
    let app = spawn_dt_app(&fake).await;
    let (_, code) = app.create_branch("钉钉帮助支部").await;
    let bind_id = format!("{}-bind", app.prefix);
    let bind = group_text(
        &fake,
        &bind_id,
        "secretary01",
        "王书记",
        &format!(" 绑定 {code}"),
    );
    assert_eq!(
        ok_and_empty(post_callback(&app, &bind).await).await,
        (200, json!({}))
    );
    app.eventually(10, "the bind reply", || async {
        !session_texts(&fake, &bind_id).is_empty()
    })
    .await;
    let msg_id = format!("{}-help", app.prefix);

    // Act: DingTalk removed the @robot and kept the space after it.
    let response = post_callback(
        &app,
        &group_text(&fake, &msg_id, "manager0001", "张三", " 帮助"),
    )
    .await;

    // Assert: 200 {} at once, the reply arrives on the sessionWebhook, no token needed.
    assert_eq!(ok_and_empty(response).await, (200, json!({})));
    app.eventually(10, "the reply on the sessionWebhook", || async {
        !session_texts(&fake, &msg_id).is_empty()
    })
    .await;
    let seen = fake.seen_on(&format!("/session/{msg_id}"));
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0]["text"]["content"]
            .as_str()
            .unwrap()
            .contains("加入"),
        "{seen:?}"
    );
    assert_eq!(seen[0]["at"], json!({"atUserIds": [], "isAtAll": false}));
    assert!(fake.seen_on("/v1.0/oauth2/accessToken").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_message_three_times_has_one_effect_and_identical_replies() {
    // Arrange: a branch bound to the group from DingTalk itself.
    let fake = FakeDingtalk::start().await;
    let app = spawn_dt_app(&fake).await;
    let (id, code) = app.create_branch("钉钉支部").await;
    let bind_id = format!("{}-bind", app.prefix);
    let bound = post_callback(
        &app,
        &group_text(
            &fake,
            &bind_id,
            "secretary01",
            "王书记",
            &format!(" 绑定 {code}"),
        ),
    )
    .await;
    assert_eq!(bound.status(), 200);
    app.eventually(10, "the bind reply", || async {
        session_texts(&fake, &bind_id)
            .iter()
            .any(|t| t.contains("钉钉支部"))
    })
    .await;

    // Act: one delivery, then two at once (a replayed capture; replicas race). Each is
    // freshly signed, as a replay inside the window would be.
    let join_id = format!("{}-join", app.prefix);
    let join = group_text(&fake, &join_id, "user0002", "李四", " 加入 李四");
    let first = ok_and_empty(post_callback(&app, &join).await).await;
    let (second, third) = tokio::join!(post_callback(&app, &join), post_callback(&app, &join));
    let second = ok_and_empty(second).await;
    let third = ok_and_empty(third).await;

    // Assert: identical answers, one pending member, one reply on the sessionWebhook.
    assert_eq!(first, (200, json!({})));
    assert_eq!(first, second);
    assert_eq!(first, third);
    app.eventually(10, "the join reply", || async {
        !session_texts(&fake, &join_id).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts = session_texts(&fake, &join_id);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("已收到加入申请"), "{texts:?}");
    let (_, requests) = app
        .api(
            reqwest::Method::GET,
            &format!("/branches/{id}/join-requests"),
            None,
        )
        .await;
    assert_eq!(requests["total"], 1, "{requests}");
}

#[tokio::test]
async fn forged_or_expired_requests_get_401_and_store_nothing() {
    let fake = FakeDingtalk::start().await;
    let app = spawn_dt_app(&fake).await;
    let body = group_text(
        &fake,
        &format!("{}-forged", app.prefix),
        "manager0001",
        "张三",
        " 加入 张三",
    )
    .to_string();
    let before = app.keys(&REDIS.url()).await;

    let now = now_ms();
    let fresh = now.to_string();
    let hour_ago = (now - 3_600_000 - 60_000).to_string();
    let in_an_hour = (now + 3_600_000 + 60_000).to_string();
    let cases: Vec<(&str, Option<String>, Option<String>)> = vec![
        ("no headers", None, None),
        ("no sign", Some(fresh.clone()), None),
        ("no timestamp", None, Some(sign(APP_SECRET, &fresh))),
        (
            "wrong secret",
            Some(fresh.clone()),
            Some(sign("another-secret", &fresh)),
        ),
        (
            "garbage sign",
            Some(fresh.clone()),
            Some("bm90IGEgc2lnbg==".to_owned()),
        ),
        // Signed, then the timestamp moved: the sign no longer matches.
        (
            "timestamp changed after signing",
            Some((now + 1).to_string()),
            Some(sign(APP_SECRET, &fresh)),
        ),
        // A correctly signed request captured 61 minutes ago and replayed now.
        (
            "replayed after an hour",
            Some(hour_ago.clone()),
            Some(sign(APP_SECRET, &hour_ago)),
        ),
        (
            "from the future",
            Some(in_an_hour.clone()),
            Some(sign(APP_SECRET, &in_an_hour)),
        ),
    ];
    for (what, ts, sg) in cases {
        let response = post_signed(&app, ts.as_deref(), sg.as_deref(), &body).await;
        assert_eq!(response.status().as_u16(), 401, "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
    }

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.keys(&REDIS.url()).await,
        before,
        "a refused webhook wrote keys"
    );
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
}

#[tokio::test]
async fn non_text_callbacks_get_200_and_an_empty_object() {
    let fake = FakeDingtalk::start().await;
    let app = spawn_dt_app(&fake).await;
    let before = app.keys(&REDIS.url()).await;
    let mut picture = group_text(&fake, "pic-1", "manager0001", "张三", "");
    picture["msgtype"] = json!("picture");
    picture["content"] = json!({"downloadCode": "dc", "pictureDownloadCode": "pdc"});
    picture.as_object_mut().unwrap().remove("text");
    let response = post_callback(&app, &picture).await;
    assert_eq!(ok_and_empty(response).await, (200, json!({})));
    assert_eq!(app.keys(&REDIS.url()).await, before);
}

/// The adapter as `from_settings` builds it, on its own client and a test-prefixed store.
fn adapter(api_base: &str) -> DingtalkAdapter {
    let settings = test_settings(&REDIS.url(), &dt_bot(api_base));
    let Some(BotSettings::Dingtalk(dt)) = settings.bots.get("dt") else {
        panic!("bots.dt is a dingtalk bot")
    };
    let store = Store::new(&settings.redis).unwrap();
    DingtalkAdapter::new(
        "dt",
        dt,
        reqwest::Client::new(),
        store,
        Arc::new(SystemClock),
    )
    .unwrap()
}

fn message(chat_id: &str, context: Option<Value>) -> OutboundMessage {
    OutboundMessage {
        chat_id: chat_id.to_owned(),
        text: "会议 #3 明天 19:30 开始".to_owned(),
        idempotency_key: "meeting:b1:3:reminder:24h:chat:g".to_owned(),
        context,
    }
}

#[tokio::test]
async fn send_reports_each_openapi_answer_as_the_outbox_needs_it() {
    let fake = FakeDingtalk::start().await;
    let dt = adapter(&fake.base);
    let group = message(GROUP, None);

    for (answer, expected) in [
        (Answer::Ok, Ok(())),
        (
            Answer::TooManyRequests,
            Err(SendError::RateLimited {
                retry_after: Duration::from_secs(4),
            }),
        ),
        (
            Answer::QpsLimit,
            Err(SendError::RateLimited {
                retry_after: Duration::from_secs(2),
            }),
        ),
        (
            Answer::ServerError,
            Err(
                SendError::transient("the DingTalk OpenAPI could not take the call")
                    .answered("HTTP 500 ServiceUnavailable: try later"),
            ),
        ),
        (
            Answer::BadConversation,
            Err(
                SendError::permanent("the DingTalk OpenAPI refused the call")
                    .answered("HTTP 400 invalidParameter.openConversationId: 群不存在"),
            ),
        ),
    ] {
        fake.answer(answer);
        assert_eq!(dt.send(&group).await, expected, "{answer:?}");
    }

    // One token for all five, sent in the header; the body as DingTalk wants it.
    assert_eq!(fake.seen_on("/v1.0/oauth2/accessToken").len(), 1);
    let sends: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|(p, _, _)| p == "POST /v1.0/robot/groupMessages/send")
        .collect();
    assert_eq!(sends.len(), 5, "{sends:?}");
    for (_, token, body) in sends {
        assert_eq!(token.as_deref(), Some("tok-1"));
        assert_eq!(
            body,
            json!({"robotCode": ROBOT_CODE, "openConversationId": GROUP, "msgKey": "sampleText",
                   "msgParam": "{\"content\":\"会议 #3 明天 19:30 开始\"}"})
        );
    }
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_send_goes_through() {
    let fake = FakeDingtalk::start().await;
    let dt = adapter(&fake.base);
    assert_eq!(dt.send(&message(GROUP, None)).await, Ok(()));
    fake.revoke();

    // The cached tok-1 is refused; the adapter fetches a new token and retries once.
    assert_eq!(dt.send(&message("dm:user0002", None)).await, Ok(()));
    assert_eq!(fake.seen_on("/v1.0/oauth2/accessToken").len(), 2);
    let private: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|(p, _, _)| p == "POST /v1.0/robot/oToMessages/batchSend")
        .collect();
    assert_eq!(private.len(), 2, "{private:?}");
    assert_eq!(private[0].1.as_deref(), Some("tok-1"));
    assert_eq!(private[1].1.as_deref(), Some("tok-1002"));
    assert_eq!(private[1].2["userIds"], json!(["user0002"]));
}

#[tokio::test]
async fn replies_use_the_session_webhook_until_it_expires_then_the_openapi() {
    let fake = FakeDingtalk::start().await;
    let dt = adapter(&fake.base);
    let context = |id: &str, expires: i64| {
        Some(
            json!({"chatId": GROUP, "sessionWebhook": fake.session_url(id),
                    "sessionWebhookExpiredTime": expires}),
        )
    };
    let mention = mobile_branch::platform::mention_token("user0002", "李四");
    let mut reply = message(GROUP, context("live", now_ms() + 3_600_000));
    reply.text = format!("{mention} 已加入");

    // Live: on the sessionWebhook, with a real @ of the user id.
    assert_eq!(dt.send(&reply).await, Ok(()));
    let live = fake.seen_on("/session/live");
    assert_eq!(
        live,
        vec![
            json!({"msgtype": "text", "text": {"content": "@user0002 已加入"},
                    "at": {"atUserIds": ["user0002"], "isAtAll": false}})
        ]
    );

    // Expired by the clock: straight to the OpenAPI, the mention as a plain name.
    reply.context = context("old", now_ms() - 1);
    assert_eq!(dt.send(&reply).await, Ok(()));
    assert!(fake.seen_on("/session/old").is_empty());
    let api = fake.seen_on("/v1.0/robot/groupMessages/send");
    assert_eq!(api.len(), 1);
    assert_eq!(api[0]["msgParam"], "{\"content\":\"@李四 已加入\"}");

    // Expired early (errcode 300001): falls back to the OpenAPI in the same send.
    fake.session(SessionAnswer::Expired);
    reply.context = context("early", now_ms() + 3_600_000);
    assert_eq!(dt.send(&reply).await, Ok(()));
    assert_eq!(fake.seen_on("/session/early").len(), 1);
    assert_eq!(fake.seen_on("/v1.0/robot/groupMessages/send").len(), 2);

    // Too fast: the robot is blocked for ten minutes, and nothing else is tried.
    fake.session(SessionAnswer::TooFast);
    reply.context = context("fast", now_ms() + 3_600_000);
    assert_eq!(
        dt.send(&reply).await,
        Err(SendError::RateLimited {
            retry_after: Duration::from_secs(600)
        })
    );
    assert_eq!(fake.seen_on("/v1.0/robot/groupMessages/send").len(), 2);

    // A session for another chat is never used for this one.
    fake.session(SessionAnswer::Ok);
    let mut other = message(
        "dm:user0002",
        context("group-session", now_ms() + 3_600_000),
    );
    other.text = "私聊".to_owned();
    assert_eq!(dt.send(&other).await, Ok(()));
    assert!(fake.seen_on("/session/group-session").is_empty());
}

#[tokio::test]
async fn transport_failures_are_transient_and_never_show_secrets() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let dt = adapter(&format!("http://{closed}"));
    let context = json!({"chatId": GROUP,
        "sessionWebhook": format!("http://{closed}/robot/sendBySession?session=secret-session-key"),
        "sessionWebhookExpiredTime": now_ms() + 3_600_000});
    for m in [message(GROUP, None), message(GROUP, Some(context))] {
        let result = dt.send(&m).await;
        let Err(e @ SendError::Transient { .. }) = &result else {
            panic!("expected a transient error: {result:?}")
        };
        // The whole chain, as logs and dead letters print it: reqwest's causes, never the
        // URL (the sessionWebhook's is a bearer capability) nor a secret.
        let text = chain(e);
        assert!(
            text.starts_with("transient: the request to the DingTalk "),
            "{text}"
        );
        assert!(text.contains("error sending request"), "{text}");
        assert!(!text.contains(APP_SECRET), "{text}");
        assert!(!text.contains("session="), "{text}");
        assert!(!text.contains("secret-session-key"), "{text}");
    }
}
