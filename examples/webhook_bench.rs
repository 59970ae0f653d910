//! Benchmark: webhook latency through the whole pipeline (parse, chat context, limit counters,
//! dispatch, Redis, reply) against `/healthz` over the same client and concurrency (the
//! baseline in the same run), on a runtime limited to one worker thread. The inbound limits are
//! raised out of the way: this measures the pipeline's cost, not the limiter's refusals (every
//! request still pays for its counters).
//!
//! Run with `cargo run --release --example webhook_bench -- [requests] [concurrency]`
//! (defaults 5000 and 16). It starts its own redis-server on a free port.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use mobile_branch::{
    clock::SystemClock,
    config::{Settings, Sources},
    startup::Application,
};
use serde_json::json;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(
    client: &reqwest::Client,
    n: usize,
    concurrency: usize,
    request: impl Fn(usize) -> reqwest::RequestBuilder,
) -> (Vec<f64>, f64) {
    let started = Instant::now();
    let mut latencies: Vec<f64> = stream::iter(0..n)
        .map(|i| {
            let req = request(i);
            async move {
                let t = Instant::now();
                let resp = req.send().await.unwrap();
                assert!(resp.status().is_success(), "{}", resp.status());
                let _ = resp.bytes().await.unwrap();
                t.elapsed().as_secs_f64() * 1000.0
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let total = started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let _ = client;
    (latencies, n as f64 / total)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(5000);
    let concurrency = args.get(1).copied().unwrap_or(16);

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    std::thread::sleep(Duration::from_millis(300));

    // The server gets one worker thread (SPEC: p99 under 50 ms on one core); the load
    // generator runs on its own runtime.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let overlay = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[redis]\nurl = \"redis://127.0.0.1:{port}\"\nprefix = \"wb\"\n\
         [demo]\nseed = true\n[log]\nfilter = \"warn\"\n\
         [limits]\nsender_commands = 1000000\nchat_guest_commands = 1000000\nmax_pending_joins = 100000\n"
    );
    let settings = Settings::load(&Sources {
        overlay: Some(&overlay),
        ..Default::default()
    })
    .unwrap();
    let addr = server_rt.block_on(async {
        let app = Application::build_with_clock(settings, Arc::new(SystemClock))
            .await
            .unwrap();
        let addr = app.local_addr();
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        addr
    });

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    client_rt.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
        let base = format!("http://{addr}");
        // Wait for the demo branch (seeded in the background).
        for _ in 0..100 {
            let r = client
                .post(format!("{base}/webhook/sim/demo"))
                .json(&json!({"chat_id":"g1","user_id":"probe","message_id":"probe","text":"我的"}))
                .send()
                .await
                .unwrap();
            if !r.text().await.unwrap().contains("尚未绑定") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let webhook = |text: &'static str, tag: &'static str| {
            let (client, base) = (client.clone(), base.clone());
            move |i: usize| {
                client.post(format!("{base}/webhook/sim/demo")).json(&json!({
                    "chat_id": "g1", "user_id": format!("u{tag}{i}"), "user_name": "成员",
                    "message_id": format!("{tag}{i}"), "text": text,
                }))
            }
        };
        // Warm-up.
        let _ = run(&client, 500, concurrency, |_| client.get(format!("{base}/healthz"))).await;

        let (health, health_rps) = run(&client, n, concurrency, |_| client.get(format!("{base}/healthz"))).await;
        let (read, read_rps) = run(&client, n, concurrency, webhook("我的", "r")).await;
                // Rosters hold dozens of people; 500 joins already grow one far past any real branch.
        let writes = n.min(500);
        let (write, write_rps) = run(&client, writes, concurrency, |i| {
            let (client, base) = (client.clone(), base.clone());
            client.post(format!("{base}/webhook/sim/demo")).json(&json!({
                "chat_id": "g1", "user_id": format!("w{i}"), "user_name": "成员",
                "message_id": format!("w{i}"), "text": format!("加入 成员{i}"),
            }))
        })
        .await;
                let (dup, dup_rps) = run(&client, writes, concurrency, |i| {
            let (client, base) = (client.clone(), base.clone());
            client.post(format!("{base}/webhook/sim/demo")).json(&json!({
                "chat_id": "g1", "user_id": format!("w{i}"), "message_id": format!("w{i}"), "text": "加入 x",
            }))
        })
        .await;

                println!("{n} requests each ({writes} for the roster writes and duplicates), concurrency {concurrency}, server on 1 worker thread");
        println!("{:<34} {:>8} {:>8} {:>8} {:>9} {:>8}", "", "p50 ms", "p99 ms", "max ms", "req/s", "p99/base");
        let base_p99 = percentile(&health, 0.99);
        for (name, l, rps) in [
            ("GET /healthz (baseline)", &health, health_rps),
            ("webhook 我的 (guest read)", &read, read_rps),
            ("webhook 加入 (join request write)", &write, write_rps),
            ("webhook 加入 again (guest retry)", &dup, dup_rps),
        ] {
            println!(
                "{:<34} {:>8.2} {:>8.2} {:>8.2} {:>9.0} {:>8.1}",
                name,
                percentile(l, 0.5),
                percentile(l, 0.99),
                percentile(l, 1.0),
                rps,
                percentile(l, 0.99) / base_p99
            );
        }
    });
    let _ = redis.kill();
    let _ = redis.wait();
}
