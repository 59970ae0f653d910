//! Real replica processes sharing one Redis: a replica killed with SIGKILL while it holds
//! leases loses nothing and doubles nothing.

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use mobile_branch::config::Settings;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{REDIS, Who, spawn_live_app, test_settings};

/// Starts the real binary as a worker replica on the test's Redis and key prefix.
fn replica(settings: &Settings) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mobile-branch"))
        .arg("serve")
        .env("MB_SERVER__LISTEN", "127.0.0.1:0")
        .env("MB_REDIS__URL", REDIS.url())
        .env("MB_REDIS__PREFIX", &settings.redis.prefix)
        .env("MB_DEMO__SEED", "false")
        .env("MB_SCHEDULER__LEASE", "2s")
        .env("MB_SCHEDULER__POLL_INTERVAL", "10ms")
        .env("MB_SCHEDULER__BATCH", "50")
        .env("MB_OUTBOX__LEASE", "2s")
        .env("MB_OUTBOX__POLL_INTERVAL", "10ms")
        .env("MB_LOG__FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("replica starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_while_holding_leases_loses_and_doubles_nothing() {
    // The in-process app serves the API only: all jobs and sends are left to the replicas.
    let settings = test_settings(&REDIS.url(), "");
    let mut api_only = settings.clone();
    api_only.scheduler.enabled = false;
    api_only.outbox.enabled = false;
    let app = spawn_live_app(api_only).await;
    let (id, code) = app.create_branch("多副本支部").await;
    let chats: Vec<String> = (0..10).map(|i| format!("g{i}")).collect();
    app.say1(
        Who {
            chat: &chats[0],
            user: "u-sec",
            name: "王书记",
        },
        &format!("绑定 {code}"),
    )
    .await;
    for chat in &chats[1..] {
        let (_, body) = app
            .api(Method::POST, &format!("/branches/{id}/bind-codes"), None)
            .await;
        let code = body["bind_code"].as_str().unwrap();
        app.say1(
            Who {
                chat,
                user: "u-sec",
                name: "王书记",
            },
            &format!("绑定 {code}"),
        )
        .await;
    }

    let mut doomed = replica(&settings);
    let at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    for i in 0..200 {
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/branches/{id}/notices"),
                Some(json!({"text": format!("通知{i}"), "at": at})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    // Kill the replica the moment it holds leases.
    let client = redis::Client::open(REDIS.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let leases_key = format!("{}:{{sched}}:leases", settings.redis.prefix);
    let deadline = Instant::now() + Duration::from_secs(20);
    let held = loop {
        let n: u64 = redis::cmd("ZCARD")
            .arg(&leases_key)
            .query_async(&mut conn)
            .await
            .unwrap();
        if n > 0 {
            break n;
        }
        assert!(Instant::now() < deadline, "the replica never claimed a job");
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    // Job leases, or the chat leases of the sends those jobs queued: either way the dead
    // replica left work behind that only lease expiry can free.
    let left_jobs: u64 = redis::cmd("ZCARD")
        .arg(&leases_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let outbox_leases = format!("{}:{{outbox}}:leases", settings.redis.prefix);
    let left_chats: u64 = redis::cmd("ZCARD")
        .arg(&outbox_leases)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        held > 0 && left_jobs + left_chats > 0,
        "the killed replica held leases ({held}; {left_jobs} jobs, {left_chats} chats after the kill)"
    );

    let mut survivor = replica(&settings);
    let expected = 200 * chats.len();
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let mut all = HashMap::new();
        for chat in &chats {
            all.insert(chat.clone(), app.mailbox("demo", chat).await);
        }
        let count: usize = all.values().map(Vec::len).sum();
        let depth = app.store.outbox_depth().await.unwrap();
        let jobs = app.store.job_counts().await.unwrap();
        // The deployment's one global job (the monthly early warning) is always pending.
        if count >= expected && depth == 0 && jobs.0 <= 1 && jobs.1 == 0 {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "stalled at {count}/{expected}, depth {depth}, jobs {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    survivor.kill().unwrap();
    survivor.wait().unwrap();

    for (chat, texts) in delivered {
        let mut sorted = texts.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            200,
            "{chat}: {} unique of {}",
            sorted.len(),
            texts.len()
        );
        assert_eq!(texts.len(), 200, "{chat}: duplicates delivered");
    }
}
