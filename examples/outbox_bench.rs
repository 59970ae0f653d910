//! Benchmark: N reminders due at once across C sim chats, under a per-chat limit of 20/min
//! and a per-bot limit of 30/s, through the real scheduler, outbox and Redis.
//!
//! Run with `cargo run --release --example outbox_bench -- [chats] [per_chat]`
//! (defaults 1000 and 10). It starts its own redis-server on a free port. It reports the time
//! to deliver everything against the floor the limits allow for the sends it made (a ratio
//! in the same run), scheduler lag, delivery latency, and Redis commands per reminder.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use mobile_branch::{
    clock::SystemClock,
    config::{Settings, Sources},
    domain::chat::{ChatKind, ChatRef, PlatformKind, Sender},
    service::notices::NewNotice,
    startup::Application,
};

const PER_CHAT_PER_MINUTE: u32 = 20;
const PER_BOT_PER_SECOND: u32 = 30;

async fn redis_info(conn: &mut redis::aio::MultiplexedConnection, field: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let chats = args.first().copied().unwrap_or(1000);
    let per_chat = args.get(1).copied().unwrap_or(10);
    let total = chats * per_chat;

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
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = format!("redis://127.0.0.1:{port}");

    let overlay = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[redis]
url = "{url}"
prefix = "bench"
[demo]
seed = false
[scheduler]
poll_interval = "10ms"
batch = 500
concurrency = 64
[outbox]
poll_interval = "10ms"
batch = 256
concurrency = 64
[bots.bench]
platform = "sim"
insecure = true
limits = {{ per_chat_per_minute = {PER_CHAT_PER_MINUTE}, per_bot_per_second = {PER_BOT_PER_SECOND} }}
"#
    );
    let settings = Settings::load(&Sources {
        overlay: Some(&overlay),
        ..Default::default()
    })
    .unwrap();
    let app = Application::build_with_clock(settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let services = app.state().services.clone();
    let store = app.store();
    tokio::spawn(app.run_until_stopped(std::future::pending()));

    // Setup: one branch per chat, each bound to one sim chat; `per_chat` notices each, all
    // due at the same instant.
    eprintln!("setting up {chats} chats x {per_chat} reminders = {total} ...");
    let setup = Instant::now();
    let due = Utc::now() + chrono::Duration::seconds(20 + (total / 1000) as i64);
    for c in 0..chats {
        let (branch, code) = services
            .create_branch(mobile_branch::service::branches::NewBranch {
                name: format!("支部{c}"),
                timezone: None,
                language: None,
            })
            .await
            .unwrap();
        let secretary = Sender {
            chat: ChatRef {
                platform: PlatformKind::Sim,
                bot: "bench".to_owned(),
                chat_id: format!("c{c}"),
            },
            chat_kind: ChatKind::Group,
            user_id: format!("s{c}"),
            name: Some("书记".to_owned()),
        };
        services
            .bind_chat(&code.code, &secretary, false, None)
            .await
            .unwrap();
        for r in 0..per_chat {
            let notice = NewNotice {
                text: format!("提醒 {r}：会议将于明晚开始"),
                at: Some(due),
            };
            services
                .create_notice(&branch.id, notice, None)
                .await
                .unwrap();
        }
    }
    eprintln!(
        "setup took {:.1}s; waiting for the due time",
        setup.elapsed().as_secs_f64()
    );

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let wait = (due - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    let commands_before = redis_info(&mut conn, "total_commands_processed").await;
    let started = Instant::now();

    // Done when no job is due or leased and the outbox is empty.
    loop {
        let jobs = store.job_counts().await.unwrap();
        let depth = store.outbox_depth().await.unwrap();
        // The monthly early-warning job is always pending; nothing else may be.
        if jobs.0 <= 1 && jobs.1 == 0 && depth == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "stalled: jobs {jobs:?}, depth {depth}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let commands = redis_info(&mut conn, "total_commands_processed").await - commands_before;

    // Every reminder must have arrived exactly once; count sends and latencies.
    let mut sends = 0usize;
    let mut delivered = 0usize;
    let mut latencies = Vec::new();
    for c in 0..chats {
        let mailbox = store.read_mailbox("bench", &format!("c{c}")).await.unwrap();
        sends += mailbox.len();
        for m in &mailbox {
            let n = m.text.matches("提醒 ").count();
            delivered += n;
            let latency = (m.at - due).num_milliseconds() as f64 / 1000.0;
            latencies.extend(std::iter::repeat_n(latency, n));
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    assert_eq!(delivered, total, "every reminder delivered exactly once");

    // The floor: the bot bucket starts full (one second's burst), then refills at 30/s; a
    // chat's bucket allows (limit/4) at once, then the rest of its limit over the minute.
    let bot_floor =
        (sends.saturating_sub(PER_BOT_PER_SECOND as usize)) as f64 / f64::from(PER_BOT_PER_SECOND);
    let max_per_chat = (sends as f64 / chats as f64).ceil();
    let chat_burst = (f64::from(PER_CHAT_PER_MINUTE) / 4.0).floor();
    let chat_floor =
        (max_per_chat - chat_burst).max(0.0) * 60.0 / (f64::from(PER_CHAT_PER_MINUTE) - chat_burst);
    let floor = bot_floor.max(chat_floor);
    let undigested_floor =
        (total.saturating_sub(PER_BOT_PER_SECOND as usize)) as f64 / f64::from(PER_BOT_PER_SECOND);

    println!("reminders               {total} ({chats} chats x {per_chat})");
    println!(
        "messages sent           {sends} ({:.1} reminders per message: digests)",
        total as f64 / sends as f64
    );
    println!("time to deliver all     {elapsed:.1} s");
    println!("floor for those sends   {floor:.1} s (30/s per bot, 20/min per chat)");
    println!("ratio time / floor      {:.3}", elapsed / floor.max(0.001));
    println!("floor without digests   {undigested_floor:.1} s (one message per reminder)");
    println!(
        "delivery latency        p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    println!(
        "redis commands          {commands} ({:.1} per reminder, {:.1} per message)",
        commands as f64 / total as f64,
        commands as f64 / sends as f64
    );
    let metrics = app_metrics();
    if !metrics.is_empty() {
        println!("scheduler lag buckets   {metrics}");
    }
    let _ = redis.kill();
    let _ = redis.wait();
}

/// The scheduler-lag histogram as `le=count` pairs, from the process's Prometheus recorder.
fn app_metrics() -> String {
    let text = mobile_branch::metrics::Metrics::install().render();
    text.lines()
        .filter(|l| l.starts_with("mb_scheduler_lag_seconds_bucket"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let count = l.rsplit(' ').next()?;
            Some(format!("{le}:{count}"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}
