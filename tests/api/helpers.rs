//! The test harness: a throw-away redis-server per test binary (on a free port), a random key
//! prefix per test so tests run in parallel, and the whole app on 127.0.0.1:0.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, LazyLock},
    time::{Duration, Instant},
};

use chrono::Utc;
use mobile_branch::{
    clock::ManualClock,
    config::{Settings, Sources},
    startup::Application,
};
use serde_json::{Value, json};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The `X-Sim-Secret` of the secured sim bot `locked` (secrets are at least 16 characters).
pub const SIM_SECRET: &str = "sim-secret-0123456789";

/// A redis-server this process started.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    dir: Option<tempfile::TempDir>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

fn spawn_redis(port: u16, aof_dir: Option<&Path>) -> Child {
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--daemonize",
        "no",
    ]);
    match aof_dir {
        Some(dir) => {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(dir);
        }
        None => {
            cmd.args(["--appendonly", "no"]);
        }
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (scripts/test.sh installs it)");
    // If the test process dies without cleaning up, a watchdog stops the server.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while kill -0 {} 2>/dev/null; do sleep 1; done; kill {} 2>/dev/null",
            std::process::id(),
            child.id()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ping(port) {
        assert!(
            Instant::now() < deadline,
            "redis-server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl RedisServer {
    /// Starts a server on a free port; with `aof_dir`, persisting with AOF there.
    pub fn start(port: Option<u16>, aof_dir: Option<&Path>) -> Self {
        let port = port.unwrap_or_else(free_port);
        Self {
            port,
            child: spawn_redis(port, aof_dir),
            dir: None,
        }
    }

    /// A persistent server in its own temp dir, for tests that restart it.
    pub fn start_persistent() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start(None, Some(dir.path()));
        server.dir = Some(dir);
        server
    }

    /// Stops the server (SIGTERM: AOF is flushed) and waits for it to go.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        while ping(self.port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts it again on the same port and data dir.
    pub fn restart(&mut self) {
        let path: Option<PathBuf> = self.dir.as_ref().map(|d| d.path().to_owned());
        self.child = spawn_redis(self.port, path.as_deref());
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The redis-server shared by every test of this binary.
pub static REDIS: LazyLock<RedisServer> = LazyLock::new(|| RedisServer::start(None, None));

/// A running app.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub prefix: String,
    pub store: mobile_branch::store::Store,
    pub outbox: Arc<mobile_branch::outbox::Outbox>,
    /// The supervised workers' health (and the hook that makes one die).
    pub workers: mobile_branch::supervisor::Workers,
    next_message: std::sync::atomic::AtomicU64,
}

/// Settings for a test: a random prefix, port 0, no demo seed, an insecure and a secured sim bot.
pub fn test_settings(redis_url: &str, extra: &str) -> Settings {
    let prefix = format!("t{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let overlay = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[redis]
url = "{redis_url}"
prefix = "{prefix}"
connect_timeout = "300ms"
response_timeout = "500ms"
[admin]
token = "{ADMIN_TOKEN}"
[demo]
seed = false
[scheduler]
poll_interval = "20ms"
retry_base = "50ms"
[outbox]
poll_interval = "20ms"
retry_base = "50ms"
retry_cap = "1s"
[bots.demo]
platform = "sim"
insecure = true
[bots.locked]
platform = "sim"
secret = "{SIM_SECRET}"
{extra}
"#
    );
    Settings::load(&Sources {
        overlay: Some(&overlay),
        ..Default::default()
    })
    .expect("test settings")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_settings(&REDIS.url(), "")).await
}

/// An app on the system clock, for tests of real waiting (backoff, Retry-After).
pub async fn spawn_live_app(settings: Settings) -> TestApp {
    spawn_app_on(settings, None).await
}

pub async fn spawn_app_with(settings: Settings) -> TestApp {
    let clock = ManualClock::new(Utc::now());
    spawn_app_on(settings, Some(clock)).await
}

async fn spawn_app_on(settings: Settings, manual: Option<ManualClock>) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        mobile_branch::telemetry::init(&settings.log);
    }
    let prefix = settings.redis.prefix.clone();
    let (clock, app) = match manual {
        Some(clock) => {
            let app = Application::build_with_clock(settings, Arc::new(clock.clone()))
                .await
                .expect("app builds");
            (clock, app)
        }
        None => (
            ManualClock::new(Utc::now()),
            Application::build(settings).await.expect("app builds"),
        ),
    };
    let base = format!("http://{}", app.local_addr());
    let store = app.store();
    let outbox = app.outbox();
    let workers = app.state().workers.clone();
    let scheduling = app.state().services.settings.scheduler.enabled;
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    // Startup creates the deployment's global jobs in the background; tests that compare
    // keys before and after start from the settled state.
    if scheduling {
        let deadline = Instant::now() + Duration::from_secs(10);
        while store
            .job(mobile_branch::service::warnings::WARNING_JOB)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            assert!(
                Instant::now() < deadline,
                "startup did not create the global jobs"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    TestApp {
        base,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        clock,
        prefix,
        store,
        outbox,
        workers,
        next_message: std::sync::atomic::AtomicU64::new(1),
    }
}

/// One chat message's sender.
#[derive(Clone, Copy)]
pub struct Who<'a> {
    pub chat: &'a str,
    pub user: &'a str,
    pub name: &'a str,
}

impl TestApp {
    pub fn message_id(&self) -> String {
        let n = self
            .next_message
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-m{n}", self.prefix)
    }

    /// Posts a raw body to a webhook path.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// Sends a sim message with a fresh id and returns the reply texts.
    pub async fn say(&self, who: Who<'_>, text: &str) -> Vec<String> {
        let body = json!({
            "chat_id": who.chat, "user_id": who.user, "user_name": who.name,
            "message_id": self.message_id(), "text": text,
        });
        let resp = self.post_raw("/webhook/sim/demo", body.to_string()).await;
        assert_eq!(resp.status(), 200, "{text}");
        let v: Value = resp.json().await.expect("json");
        v["replies"]
            .as_array()
            .expect("replies")
            .iter()
            .map(|r| r["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Sends a sim message with a given message id (a platform's retry repeats it) and
    /// returns the reply texts.
    pub async fn say_as(&self, who: Who<'_>, text: &str, message_id: &str) -> Vec<String> {
        let body = json!({
            "chat_id": who.chat, "user_id": who.user, "user_name": who.name,
            "message_id": message_id, "text": text,
        });
        self.replies_to(body).await
    }

    /// Sends a sim message in the private chat of `user` and returns the reply texts.
    pub async fn say_private(&self, user: &str, text: &str) -> Vec<String> {
        let body = json!({
            "chat_type": "private", "chat_id": format!("dm:{user}"), "user_id": user,
            "message_id": self.message_id(), "text": text,
        });
        self.replies_to(body).await
    }

    async fn replies_to(&self, body: Value) -> Vec<String> {
        let resp = self.post_raw("/webhook/sim/demo", body.to_string()).await;
        assert_eq!(resp.status(), 200, "{body}");
        let v: Value = resp.json().await.expect("json");
        v["replies"]
            .as_array()
            .expect("replies")
            .iter()
            .map(|r| r["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Like [`say`], expecting exactly one reply.
    pub async fn say1(&self, who: Who<'_>, text: &str) -> String {
        let replies = self.say(who, text).await;
        assert_eq!(replies.len(), 1, "{text}: {replies:?}");
        replies.into_iter().next().unwrap_or_default()
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Creates a branch through the API; returns (id, bind code).
    pub async fn create_branch(&self, name: &str) -> (String, String) {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                "/branches",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["bind_code"].as_str().unwrap().to_owned(),
        )
    }

    /// The sim mailbox of a chat, as texts.
    pub async fn mailbox(&self, bot: &str, chat: &str) -> Vec<String> {
        self.store
            .read_mailbox(bot, chat)
            .await
            .expect("mailbox")
            .into_iter()
            .map(|m| m.text)
            .collect()
    }

    /// Waits (up to 10 s) for a message containing `needle` in a sim chat's mailbox and
    /// returns it (the outbox delivers in the background).
    pub async fn mail_containing(&self, bot: &str, chat: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mail = self.mailbox(bot, chat).await;
            if let Some(found) = mail.iter().find(|m| m.contains(needle)) {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no message with {needle:?} reached {chat}; it holds {mail:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits (up to `secs`) until `check` holds, polling.
    pub async fn eventually<F, Fut>(&self, secs: u64, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !check().await {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the outbox has delivered everything queued so far, so that a Redis
    /// snapshot taken next does not race with deliveries in the background.
    pub async fn quiet(&self) {
        self.eventually(10, "the outbox to drain", || async {
            self.store.outbox_depth().await.unwrap_or(1) == 0
        })
        .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    /// Every key under this test's prefix with its serialized value (`DUMP`), so that a test
    /// can show a refused request changed nothing. Keys whose name contains one of `ignore`
    /// (e.g. rate-limit counters, which a refusal may rightly bump) are left out.
    pub async fn redis_state(
        &self,
        ignore: &[&str],
    ) -> std::collections::BTreeMap<String, Vec<u8>> {
        let client = redis::Client::open(REDIS.url()).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("conn");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut conn)
            .await
            .expect("keys");
        let mut state = std::collections::BTreeMap::new();
        for key in keys {
            if ignore.iter().any(|i| key.contains(i)) {
                continue;
            }
            let dump: Option<Vec<u8>> = redis::cmd("DUMP")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("dump");
            if let Some(d) = dump {
                state.insert(key, d);
            }
        }
        state
    }

    /// Asserts that Redis holds exactly `before` (see [`TestApp::redis_state`]), naming the
    /// keys that appeared, vanished or changed.
    pub async fn assert_redis_unchanged(
        &self,
        before: &std::collections::BTreeMap<String, Vec<u8>>,
        ignore: &[&str],
        what: &str,
    ) {
        let after = self.redis_state(ignore).await;
        let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
        let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
        let changed: Vec<&String> = after
            .iter()
            .filter(|(k, v)| before.get(*k).is_some_and(|b| b != *v))
            .map(|(k, _)| k)
            .collect();
        assert!(
            added.is_empty() && removed.is_empty() && changed.is_empty(),
            "{what} changed Redis: added {added:?}, removed {removed:?}, changed {changed:?}"
        );
    }

    /// Every key under this test's prefix.
    pub async fn keys(&self, redis_url: &str) -> Vec<String> {
        let client = redis::Client::open(redis_url).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("conn");
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut conn)
            .await
            .expect("keys");
        keys.sort();
        keys
    }
}

/// The people most tests talk as, in group `g1`: the secretary who binds it and two members.
pub mod cast {
    use super::Who;

    pub const SEC: Who<'static> = Who {
        chat: "g1",
        user: "u-sec",
        name: "王书记",
    };
    pub const ZHANG: Who<'static> = Who {
        chat: "g1",
        user: "u-zhang",
        name: "张三",
    };
    pub const LI: Who<'static> = Who {
        chat: "g1",
        user: "u-li",
        name: "李四",
    };
}
