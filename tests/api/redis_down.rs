//! Redis stops mid-run: 503s while it is down, correct answers once it is back, no panic,
//! nothing half-written.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{RedisServer, Who, spawn_app_with, test_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_answer_503_while_redis_is_down_and_recover_by_themselves() {
    let mut redis = RedisServer::start_persistent();
    let app = spawn_app_with(test_settings(&redis.url(), "")).await;
    let sec = Who {
        chat: "g1",
        user: "u-sec",
        name: "王书记",
    };
    let (id, code) = app.create_branch("断线支部").await;
    app.say1(sec, &format!("绑定 {code}")).await;

    redis.stop();

    let join = json!({"chat_id":"g1","user_id":"u-li","user_name":"李四","message_id":"down-1","text":"加入 李四"}).to_string();
    for _ in 0..3 {
        let started = Instant::now();
        let resp = app.post_raw("/webhook/sim/demo", join.clone()).await;
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "503 must be prompt: {:?}",
            started.elapsed()
        );
    }
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let (status, _) = app.api(Method::GET, &format!("/branches/{id}"), None).await;
    assert_eq!(status, 503);
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the process itself stays alive");

    redis.restart();

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = app
            .client
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap();
        if ready.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The platform's retry of the refused message now runs, once.
    let resp = app.post_raw("/webhook/sim/demo", join.clone()).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["replies"][0]["text"]
            .as_str()
            .unwrap()
            .contains("已收到加入申请"),
        "{v}"
    );
    let again: Value = app
        .post_raw("/webhook/sim/demo", join)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, v);

    // State from before the outage survived (AOF), and the outage wrote nothing half-way.
    let (_, members) = app
        .api(Method::GET, &format!("/branches/{id}/members"), None)
        .await;
    let names: Vec<&str> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["王书记"], "{members}");
    let (_, requests) = app
        .api(Method::GET, &format!("/branches/{id}/join-requests"), None)
        .await;
    assert_eq!(requests["items"][0]["name"], "李四", "{requests}");
    assert_eq!(requests["total"], 1, "{requests}");
}
