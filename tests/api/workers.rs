//! The background workers are supervised: a worker that dies is reported by `/readyz`, counted,
//! and started again, and the restarted workers do their work.

use std::time::Duration;

use mobile_branch::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Who, spawn_app};

async fn readyz(app: &TestApp) -> (u16, Value) {
    let resp = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Polls `/readyz` until `check` holds for its body, and returns that body.
async fn readyz_until(app: &TestApp, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = readyz(app).await;
        assert_eq!(status, 200, "{body}");
        if check(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_dies_is_reported_by_readyz_restarted_and_works_again() {
    // Arrange: a bound chat, and both workers running.
    let app = spawn_app().await;
    let (id, code) = app.create_branch("守护支部").await;
    app.say1(
        Who {
            chat: "g1",
            user: "u-sec",
            name: "王书记",
        },
        &format!("绑定 {code}"),
    )
    .await;
    let (_, body) = readyz(&app).await;
    assert_eq!(body["status"], "ready", "{body}");
    for worker in ["scheduler", "outbox"] {
        assert_eq!(body["workers"][worker]["state"], "running", "{body}");
        assert_eq!(body["workers"][worker]["restarts"], 0, "{body}");
    }

    // Act: both workers panic, as a bug in them would make them.
    assert!(app.workers.inject_panic("outbox"));
    assert!(app.workers.inject_panic("scheduler"));

    // Assert: /readyz reports them down with the reason (still 200: webhooks are served)...
    let down = readyz_until(&app, "the workers to be reported down", |b| {
        b["workers"]["outbox"]["state"] == "restarting" || b["workers"]["outbox"]["restarts"] == 1
    })
    .await;
    assert!(
        down["workers"]["outbox"]["last_failure"]
            .as_str()
            .is_some_and(|f| f.starts_with("panicked: ")),
        "{down}"
    );
    if down["workers"]["outbox"]["state"] == "restarting" {
        assert_eq!(down["status"], "degraded", "{down}");
    }
    // ...then running again, each restarted once.
    let up = readyz_until(&app, "the workers to run again", |b| {
        b["status"] == "ready"
            && ["scheduler", "outbox"].iter().all(|w| {
                b["workers"][*w]["state"] == "running" && b["workers"][*w]["restarts"] == 1
            })
    })
    .await;
    assert!(
        up["workers"]["scheduler"]["last_failure"]
            .as_str()
            .is_some_and(|f| f.contains("fault injected into the scheduler worker")),
        "{up}"
    );
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
        metrics.contains("mb_worker_restarts_total{worker=\"outbox\"}"),
        "{metrics}"
    );

    // And the restarted workers work: a scheduled notice fires and is delivered.
    let at = (app.clock.now() + chrono::Duration::minutes(5)).to_rfc3339();
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/notices"),
            Some(json!({"text": "重启后的通知", "at": at})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.clock.advance(chrono::Duration::minutes(6));
    app.mail_containing("demo", "g1", "重启后的通知").await;
}
