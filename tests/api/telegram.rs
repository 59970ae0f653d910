//! The Telegram adapter end to end: real Updates through the webhook with the secret header,
//! replies as a `sendMessage` method in the response, and proactive sends against a fake Bot
//! API that answers as Telegram does (ok, 429 with retry_after, 500, 400 chat not found).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use mobile_branch::{
    config::BotSettings,
    error::chain,
    platform::{OutboundMessage, Platform, SendError, telegram::TelegramAdapter},
};
use serde_json::{Value, json};

use crate::helpers::{REDIS, TestApp, spawn_app_with, test_settings};

const TOKEN: &str = "123456789:AAH-test_token_0123456789abcdefghij";
pub(super) const SECRET: &str = "tg-webhook-secret_0123";
const USERNAME: &str = "branch_helper_bot";
pub(super) const GROUP: i64 = -1_001_234_567_890;

/// How the fake Bot API answers the next `sendMessage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    TooManyRequests,
    ServerError,
    ChatNotFound,
    Slow,
}

#[derive(Clone)]
struct Fake {
    answer: Arc<Mutex<Answer>>,
    /// Every request seen: `METHOD /path` and the JSON body.
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    /// Whether `getMe` answers (as Telegram does) or fails with 500.
    get_me_answers: Arc<AtomicBool>,
}

/// A fake Telegram Bot API on 127.0.0.1:0.
pub(super) struct FakeTelegram {
    base: String,
    fake: Fake,
}

impl FakeTelegram {
    pub(super) async fn start() -> Self {
        let fake = Fake {
            answer: Arc::new(Mutex::new(Answer::Ok)),
            seen: Arc::new(Mutex::new(Vec::new())),
            get_me_answers: Arc::new(AtomicBool::new(true)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(bot_api).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, fake }
    }

    fn answer(&self, answer: Answer) {
        *self.fake.answer.lock().unwrap() = answer;
    }

    pub(super) fn seen(&self) -> Vec<(String, Value)> {
        self.fake.seen.lock().unwrap().clone()
    }

    /// The `getMe` requests seen.
    fn get_me_calls(&self) -> usize {
        self.seen()
            .iter()
            .filter(|(request, _)| request.ends_with("/getMe"))
            .count()
    }
}

fn api_error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// `POST /bot<token>/sendMessage` and `GET /bot<token>/getMe` as Telegram answers them;
/// anything else is a 404 like an unknown token.
async fn bot_api(State(fake): State<Fake>, method: Method, uri: Uri, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.seen
        .lock()
        .unwrap()
        .push((format!("{method} {}", uri.path()), body.clone()));
    if uri.path() == format!("/bot{TOKEN}/getMe") {
        return if fake.get_me_answers.load(Ordering::SeqCst) {
            Json(json!({"ok": true, "result": {
                "id": 123_456_789, "is_bot": true, "first_name": "支部助手",
                "username": USERNAME, "can_join_groups": true}}))
            .into_response()
        } else {
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
            )
        };
    }
    if method != Method::POST || uri.path() != format!("/bot{TOKEN}/sendMessage") {
        return api_error(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        );
    }
    if !(body["chat_id"].is_i64() && body["text"].is_string()) {
        return api_error(
            StatusCode::BAD_REQUEST,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: body shape"}),
        );
    }
    let answer = *fake.answer.lock().unwrap();
    match answer {
        Answer::Ok | Answer::Slow => {
            if answer == Answer::Slow {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            Json(json!({"ok": true, "result": {
                "message_id": 501, "date": 1_767_225_600,
                "chat": {"id": body["chat_id"], "type": "supergroup"}, "text": body["text"]}}))
            .into_response()
        }
        Answer::TooManyRequests => api_error(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"ok": false, "error_code": 429,
                   "description": "Too Many Requests: retry after 3",
                   "parameters": {"retry_after": 3}}),
        ),
        Answer::ServerError => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
        ),
        Answer::ChatNotFound => api_error(
            StatusCode::BAD_REQUEST,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
        ),
    }
}

/// The `[bots.tg]` table, pointed at `api_base`.
fn tg_bot(api_base: &str) -> String {
    format!(
        r#"
[bots.tg]
platform = "telegram"
token = "{TOKEN}"
secret_token = "{SECRET}"
username = "{USERNAME}"
api_base = "{api_base}"
"#
    )
}

/// The same table without `username`, so the adapter learns it.
fn tg_bot_without_username(api_base: &str) -> String {
    tg_bot(api_base).replace(&format!("username = \"{USERNAME}\"\n"), "")
}

pub(super) async fn spawn_tg_app(fake: &FakeTelegram) -> TestApp {
    spawn_app_with(test_settings(&REDIS.url(), &tg_bot(&fake.base))).await
}

/// The adapter as `from_settings` would build it, on a client of our own.
fn adapter(api_base: &str, client: reqwest::Client) -> TelegramAdapter {
    let settings = test_settings(&REDIS.url(), &tg_bot(api_base));
    let Some(BotSettings::Telegram(tg)) = settings.bots.get("tg") else {
        panic!("bots.tg is a telegram bot")
    };
    let store = mobile_branch::store::Store::new(&settings.redis).unwrap();
    TelegramAdapter::new("tg", tg, client, store).unwrap()
}

/// A supergroup text message, as Telegram delivers it.
pub(super) fn group_text(update_id: i64, user_id: i64, first_name: &str, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": 1000 + update_id,
            "from": {"id": user_id, "is_bot": false, "first_name": first_name,
                     "language_code": "zh-hans"},
            "chat": {"id": GROUP, "title": "星光支部", "type": "supergroup"},
            "date": 1_767_225_600,
            "text": text,
        }
    })
}

/// The same, opening with `@branch_helper_bot `.
fn group_mention(update_id: i64, user_id: i64, first_name: &str, command: &str) -> Value {
    let mention = format!("@{USERNAME}");
    let mut update = group_text(
        update_id,
        user_id,
        first_name,
        &format!("{mention} {command}"),
    );
    update["message"]["entities"] =
        json!([{"type": "mention", "offset": 0, "length": mention.encode_utf16().count()}]);
    update
}

pub(super) async fn post_update(
    app: &TestApp,
    secret: Option<&str>,
    update: &Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/webhook/telegram/tg", app.base))
        .header("content-type", "application/json")
        .body(update.to_string());
    if let Some(secret) = secret {
        request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    request.send().await.unwrap()
}

pub(super) async fn json_of(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.json().await.unwrap())
}

fn offset_update(n: i64) -> i64 {
    // Distinct per call site; the per-test key prefix keeps tests apart anyway.
    700_000_000 + n
}

#[tokio::test]
async fn a_group_help_request_gets_its_reply_as_a_send_message_method() {
    // Arrange
    let fake = FakeTelegram::start().await;
    let app = spawn_tg_app(&fake).await;

    // Act
    let response = post_update(
        &app,
        Some(SECRET),
        &group_mention(offset_update(1), 42, "张三", "帮助"),
    )
    .await;

    // Assert: one method call inline, chat id as a number, no API call made.
    let (status, content_type, body) = json_of(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/json");
    assert_eq!(body["method"], "sendMessage", "{body}");
    assert_eq!(body["chat_id"], json!(GROUP), "{body}");
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("绑定"), "{text}");
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
}

#[tokio::test]
async fn a_missing_or_wrong_secret_gets_401_and_stores_nothing() {
    let fake = FakeTelegram::start().await;
    let app = spawn_tg_app(&fake).await;
    let before = app.keys(&REDIS.url()).await;

    for secret in [None, Some("wrong-secret"), Some("")] {
        let response = post_update(
            &app,
            secret,
            &group_mention(offset_update(2), 42, "张三", "帮助"),
        )
        .await;
        assert_eq!(response.status().as_u16(), 401, "{secret:?}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }

    assert_eq!(
        app.keys(&REDIS.url()).await,
        before,
        "a refused webhook wrote keys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_update_three_times_has_one_effect_and_identical_replies() {
    // Arrange: a branch bound to the group from Telegram itself.
    let fake = FakeTelegram::start().await;
    let app = spawn_tg_app(&fake).await;
    let (id, code) = app.create_branch("电报支部").await;
    let (status, _, bound) = json_of(
        post_update(
            &app,
            Some(SECRET),
            &group_text(offset_update(10), 1, "王书记", &format!("绑定 {code}")),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        bound["text"].as_str().unwrap().contains("电报支部"),
        "{bound}"
    );

    // Act: one delivery, then two at once (Telegram retries; replicas race).
    let join = group_mention(offset_update(11), 2, "李四", "加入 李四");
    let first = json_of(post_update(&app, Some(SECRET), &join).await).await;
    let (second, third) = tokio::join!(
        post_update(&app, Some(SECRET), &join),
        post_update(&app, Some(SECRET), &join),
    );
    let second = json_of(second).await;
    let third = json_of(third).await;

    // Assert
    assert_eq!(first.0, 200, "{first:?}");
    assert_eq!(first, second);
    assert_eq!(first, third);
    assert!(
        first.2["text"].as_str().unwrap().contains("已收到加入申请"),
        "{first:?}"
    );
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
async fn updates_without_a_text_message_get_200_and_an_empty_object() {
    let fake = FakeTelegram::start().await;
    let app = spawn_tg_app(&fake).await;
    let before = app.keys(&REDIS.url()).await;
    let chat = json!({"id": GROUP, "type": "supergroup"});
    let from = json!({"id": 42, "is_bot": false, "first_name": "张三"});

    for update in [
        json!({"update_id": offset_update(20), "message": {"message_id": 1, "date": 1,
            "chat": chat, "from": from,
            "sticker": {"file_id": "f", "file_unique_id": "u", "width": 512, "height": 512,
                        "is_animated": false, "is_video": false, "type": "regular"}}}),
        json!({"update_id": offset_update(21), "message": {"message_id": 2, "date": 1,
            "chat": chat, "from": from, "new_chat_members": [from]}}),
        json!({"update_id": offset_update(22), "my_chat_member": {"chat": chat, "from": from,
            "date": 1, "old_chat_member": {}, "new_chat_member": {}}}),
    ] {
        let (status, content_type, body) =
            json_of(post_update(&app, Some(SECRET), &update).await).await;
        assert_eq!((status, body), (200, json!({})), "{update}");
        assert_eq!(content_type, "application/json");
    }
    assert_eq!(app.keys(&REDIS.url()).await, before);
}

#[tokio::test]
async fn send_reports_each_bot_api_answer_as_the_outbox_needs_it() {
    // Arrange
    let fake = FakeTelegram::start().await;
    let tg = adapter(&fake.base, reqwest::Client::new());
    let message = OutboundMessage {
        chat_id: GROUP.to_string(),
        text: "会议 #3 明天 19:30 开始".to_owned(),
        idempotency_key: "meeting:b1:3:reminder:24h:chat:g".to_owned(),
        context: None,
    };

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
            Err(SendError::transient("Telegram could not take the message")
                .answered("HTTP 500: Internal Server Error")),
        ),
        (
            Answer::ChatNotFound,
            Err(SendError::permanent("Telegram refused the message")
                .answered("HTTP 400: Bad Request: chat not found")),
        ),
    ] {
        fake.answer(answer);
        assert_eq!(tg.send(&message).await, expected, "{answer:?}");
    }

    // The fake saw the token's path and the right body each time.
    let seen = fake.seen();
    assert_eq!(seen.len(), 4, "{seen:?}");
    for (path, body) in seen {
        assert_eq!(path, format!("POST /bot{TOKEN}/sendMessage"));
        assert_eq!(
            body,
            json!({"chat_id": GROUP, "text": "会议 #3 明天 19:30 开始"})
        );
    }
}

#[tokio::test]
async fn transport_failures_are_transient_and_never_show_the_token() {
    // A port nobody listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let message = OutboundMessage {
        chat_id: GROUP.to_string(),
        text: "提醒".to_owned(),
        idempotency_key: "k".to_owned(),
        context: None,
    };
    let refused = adapter(&format!("http://{closed}"), reqwest::Client::new())
        .send(&message)
        .await;

    let fake = FakeTelegram::start().await;
    fake.answer(Answer::Slow);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let timed_out = adapter(&fake.base, client).send(&message).await;

    for result in [refused, timed_out] {
        let Err(e @ SendError::Transient { .. }) = &result else {
            panic!("expected a transient error: {result:?}")
        };
        // The whole chain, as logs and dead letters print it, down to reqwest's causes.
        let text = chain(e);
        assert!(
            text.starts_with("transient: the request to Telegram failed: "),
            "{text}"
        );
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains("AAH-test_token"), "{text}");
    }
}

// ---- A bot without a configured username learns it from getMe ----

/// The learned username in Redis and its remaining life.
async fn cached_username(app: &TestApp) -> (Option<String>, i64) {
    let client = redis::Client::open(REDIS.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}:botname:tg", app.prefix);
    let name: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    (name, ttl)
}

/// Posts `@branch_helper_bot 绑定 <code>` in the group; returns the inline reply's text.
async fn bind_by_mention(app: &TestApp, update_id: i64, code: &str) -> String {
    let update = group_mention(update_id, 1, "王书记", &format!("绑定 {code}"));
    let (status, _, body) = json_of(post_update(app, Some(SECRET), &update).await).await;
    assert_eq!(status, 200, "{body}");
    body["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn without_a_configured_username_getme_teaches_it_and_a_mention_bind_works() {
    // Arrange
    let fake = FakeTelegram::start().await;
    let settings = test_settings(&REDIS.url(), &tg_bot_without_username(&fake.base));
    let app = spawn_app_with(settings).await;
    let (_, code) = app.create_branch("电报支部").await;

    // Act
    let reply = bind_by_mention(&app, offset_update(30), &code).await;

    // Assert: bound, after one getMe at startup, whose answer is cached for a day.
    assert!(reply.contains("电报支部"), "{reply}");
    assert_eq!(fake.get_me_calls(), 1, "{:?}", fake.seen());
    let (name, ttl) = cached_username(&app).await;
    assert_eq!(name.as_deref(), Some(USERNAME));
    assert!((1..=24 * 3600).contains(&ttl), "{ttl}");
}

#[tokio::test]
async fn a_username_learned_once_is_read_from_redis_on_the_next_start() {
    // Arrange: one start learns the name; then getMe fails.
    let fake = FakeTelegram::start().await;
    let settings = test_settings(&REDIS.url(), &tg_bot_without_username(&fake.base));
    let first = spawn_app_with(settings.clone()).await;
    assert_eq!(cached_username(&first).await.0.as_deref(), Some(USERNAME));
    fake.fake.get_me_answers.store(false, Ordering::SeqCst);

    // Act: a second replica (or a restart) on the same Redis.
    let second = spawn_app_with(settings).await;
    let (_, code) = second.create_branch("二支部").await;
    let reply = bind_by_mention(&second, offset_update(31), &code).await;

    // Assert: it knew the name without asking Telegram again.
    assert!(reply.contains("二支部"), "{reply}");
    assert_eq!(fake.get_me_calls(), 1, "{:?}", fake.seen());
}

#[tokio::test]
async fn a_telegram_that_never_answers_getme_delays_startup_only_by_the_lookup_budget() {
    // Arrange: a Bot API that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let settings = test_settings(&REDIS.url(), &tg_bot_without_username(&base));

    // Act
    let started = Instant::now();
    let app = spawn_app_with(settings).await;
    let took = started.elapsed();

    // Assert: serving within the 3 s budget (plus slack); no name cached; a command typed
    // without a mention still works, while a mention is not yet recognised as the bot's.
    assert!(took < Duration::from_secs(6), "startup took {took:?}");
    assert_eq!(cached_username(&app).await.0, None);
    let (_, code) = app.create_branch("三支部").await;
    let mentioned = bind_by_mention(&app, offset_update(32), &code).await;
    assert!(!mentioned.contains("三支部"), "{mentioned}");
    let plain = group_text(offset_update(33), 1, "王书记", &format!("绑定 {code}"));
    let (status, _, body) = json_of(post_update(&app, Some(SECRET), &plain).await).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["text"].as_str().unwrap().contains("三支部"), "{body}");
}
