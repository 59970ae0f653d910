//! Errors keep their cause: a failed job's record says why down to the root cause, not only
//! "redis is unavailable", and so does a dead letter, down to why the platform's answer was
//! not one, without a token on the way.

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::post};
use chrono::Utc;
use mobile_branch::{
    clock::ManualClock,
    platform::BoxFuture,
    scheduler::{Job, JobError, JobHandler, Scheduler},
    store::{Store, jobs::RecordList, outbox::QueuedMessage},
};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{REDIS, spawn_live_app, test_settings};

/// Fails every job the way a handler does when Redis is down (a real store error, from a
/// store pointed at a port nothing listens on), or with a bare text.
struct Failing {
    dead: Store,
}

impl JobHandler for Failing {
    fn kind(&self) -> &'static str {
        "failing"
    }
    fn grace(&self) -> Duration {
        Duration::from_secs(60)
    }
    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            if job.payload["text"] == true {
                return Err(JobError::fail("the meeting is gone"));
            }
            let e = self.dead.ping().await.expect_err("nothing listens there");
            Err(JobError::from(e))
        })
    }
}

fn job(key: &str, payload: serde_json::Value) -> Job {
    Job {
        key: key.to_owned(),
        kind: "failing".to_owned(),
        due: Utc::now(),
        payload,
        recurrence: None,
        attempts: 0,
    }
}

#[tokio::test]
async fn a_failed_jobs_record_keeps_the_whole_cause_chain() {
    let mut settings = test_settings(&REDIS.url(), "");
    settings.scheduler.max_attempts = 1;
    let store = Store::new(&settings.redis).unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("redis://{}", free.local_addr().unwrap());
    drop(free);
    let dead = Store::new(&test_settings(&dead_url, "").redis).unwrap();

    store
        .schedule_job(&job("failing:redis", json!({})))
        .await
        .unwrap();
    store
        .schedule_job(&job("failing:text", json!({"text": true})))
        .await
        .unwrap();
    let mut scheduler = Scheduler::new(
        store.clone(),
        Arc::new(ManualClock::new(Utc::now() + chrono::Duration::seconds(1))),
        settings.scheduler.clone(),
    );
    scheduler.register(Arc::new(Failing { dead }));
    let outcome = scheduler.tick().await.unwrap();
    assert_eq!(outcome.failed, 2, "{outcome:?}");

    let records = store.job_records(RecordList::Failed, 10).await.unwrap();
    let reason = |key: &str| {
        records
            .iter()
            .find(|r| r.key == key)
            .map(|r| r.reason.clone())
            .unwrap_or_else(|| panic!("no record of {key}: {records:?}"))
    };
    // The store's own words, then what Redis's client said, then the OS.
    let redis = reason("failing:redis");
    let (head, rest) = redis
        .split_once(": ")
        .unwrap_or_else(|| panic!("no cause in {redis:?}"));
    assert_eq!(head, "redis is unavailable", "{redis}");
    assert!(!rest.trim().is_empty(), "{redis}");
    assert!(
        ["refused", "timed out", "timeout", "connect"]
            .iter()
            .any(|w| rest.to_lowercase().contains(w)),
        "{redis}"
    );
    // A text cause is recorded as written.
    assert_eq!(reason("failing:text"), "the meeting is gone");
}

const TOKEN: &str = "4242:chain-test-token";

/// A Bot API that answers every send with a proxy's HTML page and a 200.
async fn garbage_platform() -> String {
    let router = Router::new().route(
        &format!("/bot{TOKEN}/sendMessage"),
        post(|| async { "<html>502 Bad Gateway</html>" }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

fn queued(bot: &str, chat: &str) -> QueuedMessage {
    QueuedMessage {
        id: format!("{bot}-{chat}"),
        bot: bot.to_owned(),
        chat_id: chat.to_owned(),
        text: "提醒".to_owned(),
        intent: format!("test:{bot}:{chat}"),
        queued_at: Utc::now(),
        attempts: 0,
        last_error: None,
        context: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_keeps_the_cause_chain_without_the_token() {
    let garbage = garbage_platform().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let bot = |name: &str, base: &str| {
        format!(
            "[bots.{name}]\nplatform = \"telegram\"\ntoken = \"{TOKEN}\"\n\
             secret_token = \"chain-secret-0123\"\napi_base = \"{base}\"\n"
        )
    };
    let config = bot("garbage", &garbage) + &bot("closed", &format!("http://{closed}"));
    let mut settings = test_settings(&REDIS.url(), &config);
    // The first failure is the last: each message is dead-lettered at once.
    settings.outbox.max_attempts = 1;
    let app = spawn_live_app(settings).await;
    for bot in ["garbage", "closed"] {
        let message = queued(bot, "-1000000000301");
        assert!(
            app.store
                .enqueue_message(&message, Duration::from_secs(600))
                .await
                .unwrap()
        );
    }
    app.eventually(10, "two dead letters", || async {
        app.store.dead_messages(0, 200).await.unwrap().0.len() == 2
    })
    .await;

    let (status, dead) = app.api(Method::GET, "/outbox/dead", None).await;
    assert_eq!(status, 200, "{dead}");
    let last_error = |bot: &str| {
        dead["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["bot"] == bot)
            .and_then(|m| m["last_error"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no dead letter of {bot}: {dead}"))
    };
    // What failed, the platform's status, and why the body was no answer.
    assert_eq!(
        last_error("garbage"),
        "transient: Telegram's answer is not a Bot API answer: HTTP 200: expected value at line \
         1 column 1"
    );
    // What failed, then reqwest's causes down to the OS; never the URL with the token.
    let refused = last_error("closed");
    assert!(
        refused.starts_with("transient: the request to Telegram failed: error sending request"),
        "{refused}"
    );
    assert!(
        ["refused", "connect"]
            .iter()
            .any(|w| refused.to_lowercase().contains(w)),
        "{refused}"
    );
    assert!(!dead.to_string().contains(TOKEN), "{dead}");
    assert!(!dead.to_string().contains("chain-test-token"), "{dead}");
}
