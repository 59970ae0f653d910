//! The settings tree: one struct per section of `config/default.toml`, and [`Secret`], the
//! string type every secret key uses. Per-platform bot tables are in `bots.rs`.

use std::{collections::BTreeMap, fmt, net::SocketAddr, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use super::{BotSettings, TimingSettings};

/// A secret string: redacted in `Debug`, masked when serialized, compared by its owner only.
#[derive(Clone)]
pub struct Secret(SecretString);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D>(deserializer: D) -> Result<Self, D::Error>
    where
        D: serde::Deserializer<'de>,
    {
        // Environment values that look like numbers or booleans arrive typed; a secret of
        // digits is still a secret, and an error here must not echo the value.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Scalar {
            Text(String),
            Int(i128),
            Float(f64),
            Bool(bool),
        }
        match Scalar::deserialize(deserializer) {
            Ok(Scalar::Text(s)) => Ok(Self::new(s)),
            Ok(Scalar::Int(i)) => Ok(Self::new(i.to_string())),
            Ok(Scalar::Float(f)) => Ok(Self::new(f.to_string())),
            Ok(Scalar::Bool(b)) => Ok(Self::new(b.to_string())),
            Err(_) => Err(serde::de::Error::custom("must be a string")),
        }
    }
}

impl Secret {
    /// Wraps a value that must never be printed.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The raw value, for the one place that needs it (a comparison or an outbound request).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S>(&self, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
    {
        serializer.serialize_str("***")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// HTTP listener and limits.
    pub server: ServerSettings,
    /// Where state lives.
    pub redis: RedisSettings,
    /// The bootstrap admin token.
    pub admin: AdminSettings,
    /// Log output.
    pub log: LogSettings,
    /// Default timings that a branch may override.
    pub timing: TimingSettings,
    /// Timed jobs.
    pub scheduler: SchedulerSettings,
    /// Proactive message delivery.
    pub outbox: OutboxSettings,
    /// Check-in acknowledgements in busy chats.
    pub checkin: CheckinSettings,
    /// Inbound limits: commands per sender and per chat, wrong codes, pending joins.
    pub limits: LimitSettings,
    /// The 三会一课 rule table.
    pub ledger: crate::domain::ledger::LedgerRules,
    /// The demo branch seeded for newcomers.
    pub demo: DemoSettings,
    /// Chat bots by name; the name is the `{bot}` path segment of the webhook.
    pub bots: BTreeMap<String, BotSettings>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Base URL for links the server hands out.
    pub public_url: String,
    /// Deadline for a whole request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest webhook body accepted, in bytes.
    pub webhook_body_limit: usize,
    /// Largest admin API body accepted, in bytes.
    pub api_body_limit: usize,
    /// How long in-flight requests may take after a shutdown signal.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How long a client may take to send a request's headers (and how long an idle
    /// keep-alive connection stays open); past it the connection is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
}

/// How the Redis deployment is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    /// One server (or a proxy in front of many).
    Single,
    /// Redis Cluster: `url` lists seed nodes.
    Cluster,
}

/// One or several Redis URLs (cluster seeds), each a secret since it may carry a password.
#[derive(Debug, Clone, Serialize)]
pub struct RedisUrls(pub Vec<Secret>);

impl<'de> Deserialize<'de> for RedisUrls {
    fn deserialize<D>(deserializer: D) -> Result<Self, D::Error>
    where
        D: serde::Deserializer<'de>,
    {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let urls = match OneOrMany::deserialize(deserializer)? {
            // A comma-separated string is the env-friendly form of a list.
            OneOrMany::One(s) => s.split(',').map(|u| u.trim().to_owned()).collect(),
            OneOrMany::Many(v) => v,
        };
        Ok(Self(
            urls.into_iter()
                .filter(|u| !u.is_empty())
                .map(Secret::new)
                .collect(),
        ))
    }
}

/// `[redis]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// Server URL, or cluster seed URLs.
    pub url: RedisUrls,
    /// single | cluster.
    pub mode: RedisMode,
    /// Prefix of every key.
    pub prefix: String,
    /// How long to wait for a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long to wait for an answer.
    #[serde(with = "humantime_serde")]
    pub response_timeout: Duration,
}

/// `[admin]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Bootstrap region-admin token.
    pub token: Option<Secret>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// text | json.
    pub format: LogFormat,
    /// `tracing` filter directives.
    pub filter: String,
}

/// `[scheduler]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    /// Whether this replica runs jobs.
    pub enabled: bool,
    /// Idle polling interval.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Lease on a claimed job.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Jobs claimed per round.
    pub batch: usize,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Attempts before a failing job is recorded as failed.
    pub max_attempts: u32,
    /// First retry wait.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// Longest retry wait.
    #[serde(with = "humantime_serde")]
    pub retry_cap: Duration,
}

/// `[outbox]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// Whether this replica sends.
    pub enabled: bool,
    /// Idle polling interval.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Lease on a claimed chat.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Chats claimed per round.
    pub batch: usize,
    /// Chats sent to at once.
    pub concurrency: usize,
    /// Attempts before a message is dead-lettered.
    pub max_attempts: u32,
    /// First retry wait.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// Longest retry wait.
    #[serde(with = "humantime_serde")]
    pub retry_cap: Duration,
    /// How long an intent key blocks a second enqueue.
    #[serde(with = "humantime_serde")]
    pub idempotency_ttl: Duration,
    /// Longest digest text.
    pub digest_max_chars: usize,
    /// Dead letters kept: past it, the oldest are dropped as new ones come.
    pub dead_letter_cap: usize,
    /// How long a dead letter is kept before it is dropped.
    #[serde(with = "humantime_serde")]
    pub dead_letter_ttl: Duration,
}

/// `[checkin]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckinSettings {
    /// More check-ins than this in one chat within `digest_window` switch to digests.
    pub digest_threshold: u32,
    /// The window the threshold counts over.
    #[serde(with = "humantime_serde")]
    pub digest_window: Duration,
    /// How often a digest goes out.
    #[serde(with = "humantime_serde")]
    pub digest_every: Duration,
}

/// `[limits]`: what one sender, one chat or one guesser may ask of the server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// The fixed window the command counters count over.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Commands one sender below 支委 may send in one chat per window.
    pub sender_commands: u32,
    /// Commands per chat per window from guests (and everyone in an unbound chat), `加入`
    /// excepted.
    pub chat_guest_commands: u32,
    /// Wrong codes one person may try on one object (a meeting's check-in code) within
    /// `wrong_code_cooldown` before that person waits out the cooldown.
    pub wrong_codes_per_person: u32,
    /// Wrong codes everyone together may try on one object within `wrong_code_cooldown`;
    /// past it only people with no wrong try of their own are heard.
    pub wrong_codes_per_object: u32,
    /// How long wrong tries are remembered, and how long a person who used up theirs waits.
    #[serde(with = "humantime_serde")]
    pub wrong_code_cooldown: Duration,
    /// Join requests that may wait for the secretary in one branch.
    pub max_pending_joins: u32,
    /// Replies per bot per window that go through the outbox (platforms without inline
    /// replies) to guests and in unbound chats; past it they are dropped, not queued. Never
    /// more than half of what the bot may send in a window, so members keep the rest.
    pub guest_replies: u32,
}

/// `[demo]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    /// Seed the demo branch at startup.
    pub seed: bool,
    /// The sim bot whose chat gets bound.
    pub bot: String,
    /// The sim chat bound to the demo branch.
    pub chat_id: String,
    /// The demo branch's name.
    pub branch_name: String,
}
