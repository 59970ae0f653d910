//! The outbox against a fake Telegram Bot API that misbehaves on purpose: every message
//! arrives exactly once through failures, a 429 holds back only its chat, messages the
//! platform refuses for good are dead-lettered and can be retried, and a platform slower than
//! the outbox lease does not let a second replica send for a chat being served.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use mobile_branch::{
    config::Settings,
    store::{Store, outbox::QueuedMessage},
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{REDIS, TestApp, spawn_live_app, test_settings};

const TOKEN: &str = "4242:delivery-test-token";

#[derive(Default)]
struct Script {
    /// 500 for the first N attempts of every distinct (chat, text).
    fail_first: u32,
    /// Chats answered with 429 and this retry_after, once.
    rate_limit_once: HashMap<i64, u64>,
    /// Chats refused for good (400 chat not found).
    refuse: Vec<i64>,
    attempts: HashMap<(i64, String), u32>,
    /// Every request: chat, text, when, status.
    log: Vec<(i64, String, Instant, u16)>,
    /// Each answer comes this long after the request arrived.
    answer_after: Duration,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Script>>);

impl Fake {
    fn accepted(&self, chat: i64) -> Vec<String> {
        let s = self.0.lock().unwrap();
        s.log
            .iter()
            .filter(|(c, _, _, st)| *c == chat && *st == 200)
            .map(|(_, t, _, _)| t.clone())
            .collect()
    }
}

async fn send_message(State(fake): State<Fake>, Json(body): Json<Value>) -> Response {
    let (status, answer, delay) = answer(&fake, &body);
    tokio::time::sleep(delay).await;
    (StatusCode::from_u16(status).unwrap(), Json(answer)).into_response()
}

/// Logs the request as it arrives and decides the answer (the lock is not held while the
/// answer waits).
fn answer(fake: &Fake, body: &Value) -> (u16, Value, Duration) {
    let chat = body["chat_id"].as_i64().unwrap_or_default();
    let text = body["text"].as_str().unwrap_or_default().to_owned();
    let mut s = fake.0.lock().unwrap();
    let n = {
        let n = s.attempts.entry((chat, text.clone())).or_default();
        *n += 1;
        *n
    };
    let (status, answer) = if s.refuse.contains(&chat) {
        (
            400,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
        )
    } else if let Some(wait) = s.rate_limit_once.remove(&chat) {
        (
            429,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": wait}}),
        )
    } else if n <= s.fail_first {
        (
            500,
            json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
        )
    } else {
        (
            200,
            json!({"ok": true, "result": {"message_id": n, "chat": {"id": chat}}}),
        )
    };
    s.log.push((chat, text, Instant::now(), status));
    (status, answer, s.answer_after)
}

async fn start(script: Script) -> (Fake, String) {
    let fake = Fake(Arc::new(Mutex::new(script)));
    let router = Router::new()
        .route(&format!("/bot{TOKEN}/sendMessage"), post(send_message))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (fake, base)
}

fn settings_for(base: &str) -> Settings {
    let bot = format!(
        "[bots.tg]\nplatform = \"telegram\"\ntoken = \"{TOKEN}\"\nsecret_token = \"delivery-secret-0123\"\n\
         api_base = \"{base}\"\nlimits = {{ per_chat_per_minute = 600, per_bot_per_second = 200 }}\n"
    );
    test_settings(&REDIS.url(), &bot)
}

async fn app_for(base: &str) -> TestApp {
    spawn_live_app(settings_for(base)).await
}

async fn enqueue(app: &TestApp, chat: i64, text: &str) {
    enqueue_in(&app.store, chat, text).await;
}

async fn enqueue_in(store: &Store, chat: i64, text: &str) {
    let message = QueuedMessage {
        id: format!("{chat}-{text}"),
        bot: "tg".to_owned(),
        chat_id: chat.to_string(),
        text: text.to_owned(),
        intent: format!("test:{chat}:{text}"),
        queued_at: chrono::Utc::now(),
        attempts: 0,
        last_error: None,
        context: None,
    };
    assert!(
        store
            .enqueue_message(&message, Duration::from_secs(600))
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_arrives_exactly_once_when_the_first_two_attempts_fail() {
    let (fake, base) = start(Script {
        fail_first: 2,
        ..Script::default()
    })
    .await;
    let app = app_for(&base).await;
    let chats: Vec<i64> = (1..=5).map(|i| -1_000_000_000_000 - i).collect();
    for chat in &chats {
        for i in 1..=4 {
            enqueue(&app, *chat, &format!("消息{i}")).await;
        }
    }
    app.eventually(30, "all delivered", || async {
        app.store.outbox_depth().await.unwrap() == 0
    })
    .await;
    for chat in &chats {
        // Digests may carry several; each text must be in exactly one accepted message, in order.
        let accepted = fake.accepted(*chat).join("\n");
        let mut last = 0;
        for i in 1..=4 {
            let needle = format!("消息{i}");
            assert_eq!(accepted.matches(&needle).count(), 1, "{chat}: {accepted}");
            let at = accepted.find(&needle).unwrap();
            assert!(at >= last, "order kept in {chat}: {accepted}");
            last = at;
        }
    }
    let (_, dead) = app.api(Method::GET, "/outbox/dead", None).await;
    assert_eq!(dead["total"], 0, "{dead}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_holds_back_its_chat_for_retry_after_while_other_chats_flow() {
    let (slow, quick) = (-1_000_000_000_101_i64, -1_000_000_000_102_i64);
    let (fake, base) = start(Script {
        rate_limit_once: HashMap::from([(slow, 2)]),
        ..Script::default()
    })
    .await;
    let app = app_for(&base).await;
    enqueue(&app, slow, "被限流的群").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 1..=3 {
        enqueue(&app, quick, &format!("正常{i}")).await;
    }
    app.eventually(10, "all delivered", || async {
        app.store.outbox_depth().await.unwrap() == 0
    })
    .await;

    let log = fake.0.lock().unwrap().log.clone();
    let refused = log
        .iter()
        .find(|(c, _, _, s)| *c == slow && *s == 429)
        .expect("a 429 was served")
        .2;
    let accepted = log
        .iter()
        .find(|(c, _, _, s)| *c == slow && *s == 200)
        .expect("delivered after")
        .2;
    let waited = accepted.duration_since(refused);
    assert!(waited >= Duration::from_secs(2), "waited only {waited:?}");
    let quick_done = log
        .iter()
        .filter(|(c, _, _, s)| *c == quick && *s == 200)
        .map(|e| e.2)
        .max()
        .unwrap();
    assert!(
        quick_done < accepted,
        "the other chat kept flowing during the wait"
    );
    assert_eq!(fake.accepted(quick).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_is_dead_lettered_listed_and_can_be_retried() {
    let chat = -1_000_000_000_201_i64;
    let (fake, base) = start(Script {
        refuse: vec![chat],
        ..Script::default()
    })
    .await;
    let app = app_for(&base).await;
    enqueue(&app, chat, "发不出去").await;
    app.eventually(10, "dead letter", || async {
        app.store.dead_messages(0, 200).await.unwrap().0.len() == 1
    })
    .await;
    let (status, dead) = app.api(Method::GET, "/outbox/dead", None).await;
    assert_eq!(status, 200);
    assert_eq!(dead["items"][0]["text"], "发不出去", "{dead}");
    assert!(
        dead["items"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("chat not found"),
        "{dead}"
    );
    assert!(
        !dead.to_string().contains(TOKEN),
        "no token in what operators see"
    );

    // Fixed on the platform's side (the bot was re-added): retry.
    fake.0.lock().unwrap().refuse.clear();
    let id = dead["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .api(Method::POST, &format!("/outbox/dead/{id}/retry"), None)
        .await;
    assert_eq!(status, 204);
    app.eventually(10, "delivered after retry", || async {
        fake.accepted(chat) == ["发不出去"]
    })
    .await;
    let (status, _) = app
        .api(Method::POST, &format!("/outbox/dead/{id}/retry"), None)
        .await;
    assert_eq!(status, 404, "a message is retried once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_slower_than_the_lease_never_lets_two_replicas_serve_one_chat() {
    // Each send takes 8 s (within the adapters' 10 s timeout) against a 3 s lease: unless the
    // lease is renewed while a turn sends, the second replica claims the chat mid-send and
    // sends the same messages again, or the next one out of order.
    let chat = -1_000_000_000_301_i64;
    let (fake, base) = start(Script {
        answer_after: Duration::from_secs(8),
        ..Script::default()
    })
    .await;
    let mut settings = settings_for(&base);
    settings.outbox.lease = Duration::from_secs(3);
    // All three wait before either replica looks, so one turn has three slow sends to make.
    let store = Store::new(&settings.redis).unwrap();
    let texts = ["第一条", "第二条", "第三条"];
    for text in texts {
        enqueue_in(&store, chat, text).await;
    }
    let first = spawn_live_app(settings.clone()).await;
    let _second = spawn_live_app(settings).await;

    first
        .eventually(45, "all three delivered", || async {
            store.outbox_depth().await.unwrap() == 0
        })
        .await;
    // A send still on its way would show up here as a duplicate.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked: Vec<String> = fake
        .0
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|(c, ..)| *c == chat)
        .map(|(_, t, ..)| t.clone())
        .collect();
    assert_eq!(asked, texts, "each once, in the order queued");
}
