//! The settings tree and how it is loaded: embedded defaults, an optional TOML file, `MB_`
//! environment overrides and `*_file` secrets, validated so that every bad key is named at once.

use std::{collections::BTreeMap, fmt, net::SocketAddr, path::Path, time::Duration};

use figment::{
    Figment,
    providers::{Format, Toml},
    value::{Dict, Value},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer, de::DeserializeOwned};

use crate::domain::chat::{PlatformKind, SendLimits};
pub use crate::domain::timing::TimingSettings;

mod secret_rules;

pub use secret_rules::{insecure_exposure, insecure_sim_bots, is_loopback};

/// The embedded defaults: the single list of every key, documented in place.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Keys whose values are secrets: masked when printed, and each accepts a `<key>_file` form.
const SECRET_KEYS: &[&str] = &[
    "token",
    "secret",
    "access_token",
    "secret_token",
    "app_secret",
    "verification_token",
    "encrypt_key",
    "encoding_aes_key",
    "corp_secret",
    "push_webhook_key",
    "url",
];

/// Keys whose environment values are typed (numbers, booleans, lists). Every other value is
/// taken as the exact string, so that a secret `0012` stays `0012` and a chat id `123` stays
/// text.
const TYPED_ENV_KEYS: &[&str] = &[
    "enabled",
    "per_chat_per_minute",
    "per_bot_per_second",
    "per_bot_per_minute",
    "batch",
    "concurrency",
    "max_attempts",
    "digest_max_chars",
    "digest_threshold",
    "webhook_body_limit",
    "api_body_limit",
    "seed",
    "insecure",
    "agent_id",
    "meeting_reminders",
    "volunteer_reminders",
    "max_connections",
    "sender_commands",
    "chat_guest_commands",
    "wrong_codes_per_person",
    "wrong_codes_per_object",
    "max_pending_joins",
];

/// The sections the top level may hold.
const SECTIONS: &[&str] = &[
    "server",
    "redis",
    "admin",
    "log",
    "timing",
    "scheduler",
    "outbox",
    "checkin",
    "limits",
    "ledger",
    "demo",
    "bots",
];

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

/// One `[bots.<name>]` table, tagged by `platform`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "platform", rename_all = "lowercase")]
pub enum BotSettings {
    /// The built-in simulator.
    Sim(SimBot),
    /// QQ through OneBot v11.
    Onebot(OnebotBot),
    /// Telegram Bot API.
    Telegram(TelegramBot),
    /// Feishu / Lark.
    Feishu(FeishuBot),
    /// DingTalk.
    Dingtalk(DingtalkBot),
    /// WeCom.
    Wecom(WecomBot),
}

impl BotSettings {
    /// Which platform the bot speaks.
    pub fn kind(&self) -> PlatformKind {
        match self {
            Self::Sim(_) => PlatformKind::Sim,
            Self::Onebot(_) => PlatformKind::Onebot,
            Self::Telegram(_) => PlatformKind::Telegram,
            Self::Feishu(_) => PlatformKind::Feishu,
            Self::Dingtalk(_) => PlatformKind::Dingtalk,
            Self::Wecom(_) => PlatformKind::Wecom,
        }
    }

    /// The required keys that are not secrets, by key and whether each is set and not blank
    /// (secrets are checked by `secret_rules::bot_secrets`).
    fn required_keys(&self) -> Vec<(&'static str, bool)> {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
        match self {
            Self::Sim(_) | Self::Onebot(_) | Self::Telegram(_) => Vec::new(),
            Self::Feishu(b) => vec![("app_id", set(&b.app_id))],
            Self::Dingtalk(b) => vec![("app_key", set(&b.app_key))],
            Self::Wecom(b) if b.mode == WecomMode::App => vec![
                ("corp_id", set(&b.corp_id)),
                ("agent_id", b.agent_id.is_some()),
            ],
            Self::Wecom(_) => Vec::new(),
        }
    }
}

/// `platform = "sim"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimBot {
    /// Accept requests without a secret (sim only).
    #[serde(default)]
    pub insecure: bool,
    /// Expected `X-Sim-Secret` header.
    pub secret: Option<Secret>,
    /// Sending budget; defaults to the platform's published limits.
    #[serde(default)]
    pub limits: Option<SendLimits>,
}

/// How a OneBot bot replies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnebotReply {
    /// Quick operation in the webhook response.
    #[default]
    Quick,
    /// `send_group_msg` through the HTTP API.
    Api,
}

/// `platform = "onebot"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OnebotBot {
    /// X-Signature HMAC key.
    pub secret: Option<Secret>,
    /// Bearer token for the OneBot HTTP API.
    pub access_token: Option<Secret>,
    /// OneBot HTTP API base.
    #[serde(default = "default_onebot_api")]
    pub api_base: String,
    /// quick | api.
    #[serde(default)]
    pub reply: OnebotReply,
    /// Sending budget; defaults to the platform's published limits.
    #[serde(default)]
    pub limits: Option<SendLimits>,
}

/// `platform = "telegram"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramBot {
    /// Bot token.
    pub token: Option<Secret>,
    /// Expected `X-Telegram-Bot-Api-Secret-Token`.
    pub secret_token: Option<Secret>,
    /// The bot's @username without the `@` (as `getMe` reports it). With it, `@username`
    /// mentions and `/cmd@username` commands are recognised and stripped, and commands
    /// addressed to other bots in the same group are ignored.
    #[serde(default)]
    pub username: Option<String>,
    /// Bot API base.
    #[serde(default = "default_telegram_api")]
    pub api_base: String,
    /// Sending budget; defaults to the platform's published limits.
    #[serde(default)]
    pub limits: Option<SendLimits>,
}

/// `platform = "feishu"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeishuBot {
    /// App id.
    pub app_id: Option<String>,
    /// App secret.
    pub app_secret: Option<Secret>,
    /// Verification token.
    pub verification_token: Option<Secret>,
    /// Encrypt key (optional). With it, events arrive AES-encrypted and signed
    /// (`X-Lark-Signature`), and the signature is required.
    pub encrypt_key: Option<Secret>,
    /// The bot's own `open_id` (`GET /open-apis/bot/v3/info` → `bot.open_id`). With it, a
    /// mention is "of the bot" exactly when its `open_id` matches; without it, mentions that
    /// open a message are taken as addressed to the bot.
    #[serde(default)]
    pub bot_open_id: Option<String>,
    /// Open API base.
    #[serde(default = "default_feishu_api")]
    pub api_base: String,
    /// Sending budget; defaults to the platform's published limits.
    #[serde(default)]
    pub limits: Option<SendLimits>,
}

/// `platform = "dingtalk"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DingtalkBot {
    /// App key.
    pub app_key: Option<String>,
    /// App secret (also the callback HMAC key).
    pub app_secret: Option<Secret>,
    /// Robot code for group sends.
    pub robot_code: Option<String>,
    /// API base.
    #[serde(default = "default_dingtalk_api")]
    pub api_base: String,
    /// The send-by-session endpoint a message's `sessionWebhook` must name exactly (followed
    /// only by `?session=<opaque>`) to be posted to; anything else falls back to the OpenAPI.
    #[serde(default = "default_dingtalk_session_endpoint")]
    pub session_webhook_endpoint: String,
    /// Sending budget; defaults to the platform's published limits.
    #[serde(default)]
    pub limits: Option<SendLimits>,
}

/// WeCom bot kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WecomMode {
    /// 智能机器人 (AI bot).
    #[default]
    Aibot,
    /// Self-built app.
    App,
}

/// `platform = "wecom"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WecomBot {
    /// aibot | app.
    #[serde(default)]
    pub mode: WecomMode,
    /// Callback token.
    pub token: Option<Secret>,
    /// Callback EncodingAESKey.
    pub encoding_aes_key: Option<Secret>,
    /// Corp id (app mode).
    pub corp_id: Option<String>,
    /// Corp secret (app mode).
    pub corp_secret: Option<Secret>,
    /// Agent id (app mode).
    pub agent_id: Option<i64>,
    /// Group robot (消息推送) webhook key for pushes.
    pub push_webhook_key: Option<Secret>,
    /// The chat id of the one group the push robot sits in: only messages for this chat go
    /// through `push_webhook_key`, so nothing meant for another chat can land in that group.
    #[serde(default)]
    pub push_chat_id: Option<String>,
    /// The AI bot's display name as members @ it (without `@`). With it, `@name` is removed
    /// wherever it appears; without it, only a leading `@word` is removed.
    #[serde(default)]
    pub bot_name: Option<String>,
    /// API base.
    #[serde(default = "default_wecom_api")]
    pub api_base: String,
    /// Sending budget; defaults to the platform's published limits.
    #[serde(default)]
    pub limits: Option<SendLimits>,
}

fn default_onebot_api() -> String {
    "http://127.0.0.1:3000".to_owned()
}
fn default_telegram_api() -> String {
    "https://api.telegram.org".to_owned()
}
fn default_feishu_api() -> String {
    "https://open.feishu.cn".to_owned()
}
fn default_dingtalk_api() -> String {
    "https://api.dingtalk.com".to_owned()
}
/// DingTalk's send-by-session endpoint: a callback's `sessionWebhook` is used only when it is
/// this, followed by `?session=<opaque>` and nothing else (the `session_webhook_endpoint`
/// setting replaces it for a test double).
pub const DINGTALK_SESSION_ENDPOINT: &str = "https://oapi.dingtalk.com/robot/sendBySession";

fn default_dingtalk_session_endpoint() -> String {
    DINGTALK_SESSION_ENDPOINT.to_owned()
}
fn default_wecom_api() -> String {
    "https://qyapi.weixin.qq.com".to_owned()
}

/// Every problem found while loading, each naming its key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

/// Where the configuration comes from, besides the embedded defaults.
#[derive(Debug, Default, Clone)]
pub struct Sources<'a> {
    /// A TOML file layered over the defaults.
    pub file: Option<&'a Path>,
    /// Extra TOML layered after the file (tests, admin helpers).
    pub overlay: Option<&'a str>,
    /// Whether `MB_*` environment variables apply.
    pub env: bool,
}

impl Settings {
    /// Loads defaults, then the file, then the overlay, then the environment; resolves `*_file`
    /// secrets; validates; and returns every problem at once.
    pub fn load(sources: &Sources<'_>) -> Result<Self, ConfigError> {
        let mut user = Figment::new();
        if let Some(path) = sources.file {
            if !path.exists() {
                return Err(ConfigError(vec![format!(
                    "config file {} does not exist",
                    path.display()
                )]));
            }
            user = user.merge(Toml::file_exact(path));
        }
        if let Some(overlay) = sources.overlay {
            user = user.merge(Toml::string(overlay));
        }
        if sources.env {
            user = user.merge(figment::providers::Serialized::defaults(env_layer(
                std::env::vars_os(),
            )));
        }
        let user_dict = user
            .extract::<Dict>()
            .map_err(|e| ConfigError(figment_errors(e)))?;

        let mut defaults = Figment::from(Toml::string(DEFAULT_TOML))
            .extract::<Dict>()
            .map_err(|e| ConfigError(figment_errors(e)))?;
        // Bots defined by the operator replace the demo bot rather than join it.
        if user_dict.contains_key("bots") {
            defaults.remove("bots");
        }
        let merged = Figment::from(figment::providers::Serialized::defaults(defaults))
            .merge(figment::providers::Serialized::defaults(user_dict))
            .extract::<Dict>()
            .map_err(|e| ConfigError(figment_errors(e)))?;

        let mut errors = Vec::new();
        let mut from_files = Vec::new();
        let mut root = merged;
        resolve_secret_files(&mut root, "", &mut from_files, &mut errors);
        match from_dict(&root, &mut errors) {
            Some(s) if errors.is_empty() => Ok(s),
            _ => Err(ConfigError(name_secret_files(errors, &from_files))),
        }
    }
}

/// Semantic checks that types alone cannot express, one function per section so that each
/// runs on whatever parsed, even when another section did not.
fn check_server(server: &ServerSettings, errors: &mut Vec<String>) {
    if server.webhook_body_limit == 0 {
        errors.push("server.webhook_body_limit: must be greater than 0".to_owned());
    }
    if !(server.public_url.starts_with("http://") || server.public_url.starts_with("https://")) {
        errors.push("server.public_url: must start with http:// or https://".to_owned());
    }
}

fn check_server_limits(server: &ServerSettings, errors: &mut Vec<String>) {
    if server.header_read_timeout < Duration::from_millis(100) {
        errors.push("server.header_read_timeout: must be at least 100ms".to_owned());
    }
    if !(1..=1_000_000).contains(&server.max_connections) {
        errors.push("server.max_connections: must be 1 to 1000000".to_owned());
    }
}

fn check_limits(limits: &LimitSettings, errors: &mut Vec<String>) {
    // Upper bounds keep every counter short-lived: its TTL is the window or the cooldown.
    if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&limits.window) {
        errors.push("limits.window: must be 1s to 1h".to_owned());
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(24 * 3600))
        .contains(&limits.wrong_code_cooldown)
    {
        errors.push("limits.wrong_code_cooldown: must be 1s to 24h".to_owned());
    }
    for (key, value) in [
        ("sender_commands", limits.sender_commands),
        ("chat_guest_commands", limits.chat_guest_commands),
        ("wrong_codes_per_person", limits.wrong_codes_per_person),
        ("max_pending_joins", limits.max_pending_joins),
    ] {
        if value == 0 {
            errors.push(format!("limits.{key}: must be at least 1"));
        }
    }
    // The object's budget is the one that stops guessing spread over many accounts, so it
    // must not be below what one person alone may try.
    if limits.wrong_codes_per_object < limits.wrong_codes_per_person {
        errors.push(
            "limits.wrong_codes_per_object: must be at least limits.wrong_codes_per_person"
                .to_owned(),
        );
    }
}

fn check_redis(redis: &RedisSettings, errors: &mut Vec<String>) {
    if redis.url.0.is_empty() {
        errors.push("redis.url: at least one URL is required".to_owned());
    }
    for url in &redis.url.0 {
        let u = url.expose();
        if !["redis://", "rediss://", "redis+unix://", "unix://"]
            .iter()
            .any(|s| u.starts_with(s))
        {
            // The value may hold a password, so the message never repeats it.
            errors.push(
                "redis.url: must start with redis://, rediss://, redis+unix:// or unix://"
                    .to_owned(),
            );
        } else if let Some(problem) = secret_rules::redis_password_problem(u) {
            errors.push(format!("redis.url: {problem}"));
        }
    }
    if redis.mode == RedisMode::Single && redis.url.0.len() > 1 {
        errors.push("redis.url: several URLs need mode = \"cluster\"".to_owned());
    }
    let prefix_ok = !redis.prefix.is_empty()
        && redis
            .prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !prefix_ok {
        errors.push("redis.prefix: use 1+ characters from a-z A-Z 0-9 _ - .".to_owned());
    }
}

fn check_admin(admin: &AdminSettings, errors: &mut Vec<String>) {
    if let Some(token) = &admin.token
        && let Some(problem) =
            secret_rules::secret_problem(token.expose(), secret_rules::Shape::Long)
    {
        errors.push(format!("admin.token: {problem}"));
    }
}

fn check_timing(timing: &TimingSettings, errors: &mut Vec<String>) {
    if timing.dedup_ttl < Duration::from_secs(24 * 3600) {
        errors
            .push("timing.dedup_ttl: must be at least 24h (platforms retry for hours)".to_owned());
    }
    if timing.bind_code_ttl.is_zero() {
        errors.push("timing.bind_code_ttl: must be greater than 0".to_owned());
    }
}

fn check_workers(
    section: &str,
    batch: usize,
    concurrency: usize,
    max_attempts: u32,
    lease: Duration,
    errors: &mut Vec<String>,
) {
    if !(1..=10_000).contains(&batch) {
        errors.push(format!("{section}.batch: must be 1 to 10000"));
    }
    if !(1..=1_000).contains(&concurrency) {
        errors.push(format!("{section}.concurrency: must be 1 to 1000"));
    }
    if max_attempts == 0 {
        errors.push(format!("{section}.max_attempts: must be at least 1"));
    }
    if lease < Duration::from_secs(1) {
        errors.push(format!("{section}.lease: must be at least 1s"));
    }
}

fn check_bot(name: &str, bot: &BotSettings, errors: &mut Vec<String>) {
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !name_ok {
        errors.push(format!(
            "bots.{name}: bot names use a-z 0-9 _ - (they are URL path segments)"
        ));
    }
    for (key, present) in bot.required_keys() {
        if !present {
            errors.push(format!("bots.{name}.{key}: required"));
        }
    }
    for check in secret_rules::bot_secrets(bot) {
        match check.value {
            Some(value) => {
                if let Some(problem) = secret_rules::secret_problem(value.expose(), check.shape) {
                    errors.push(format!("bots.{name}.{}: {problem}", check.key));
                }
            }
            None if check.required => {
                let hint = if bot.kind() == PlatformKind::Sim {
                    " (or set insecure = true for a sim bot served on loopback only)"
                } else {
                    ""
                };
                errors.push(format!("bots.{name}.{}: required{hint}", check.key));
            }
            None => {}
        }
    }
}

/// Deserializes every section on its own so that one bad section does not hide another.
fn from_dict(root: &Dict, errors: &mut Vec<String>) -> Option<Settings> {
    for key in root.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            errors.push(format!("{key}: unknown section"));
        }
    }
    let server = section::<ServerSettings>(root, "server", errors);
    let redis = section::<RedisSettings>(root, "redis", errors);
    let admin = match root.get("admin") {
        Some(_) => section::<AdminSettings>(root, "admin", errors),
        None => Some(AdminSettings::default()),
    };
    let log = section::<LogSettings>(root, "log", errors);
    let timing = section::<TimingSettings>(root, "timing", errors);
    if let Some(s) = &server {
        check_server(s, errors);
        check_server_limits(s, errors);
    }
    if let Some(r) = &redis {
        check_redis(r, errors);
    }
    if let Some(a) = &admin {
        check_admin(a, errors);
    }
    if let Some(t) = &timing {
        check_timing(t, errors);
    }
    let demo = section::<DemoSettings>(root, "demo", errors);
    let scheduler = section::<SchedulerSettings>(root, "scheduler", errors);
    let outbox = section::<OutboxSettings>(root, "outbox", errors);
    let ledger = section::<crate::domain::ledger::LedgerRules>(root, "ledger", errors);
    let checkin = section::<CheckinSettings>(root, "checkin", errors);
    let limits = section::<LimitSettings>(root, "limits", errors);
    if let Some(l) = &limits {
        check_limits(l, errors);
    }
    if let Some(c) = &checkin
        && (c.digest_window.is_zero() || c.digest_every < Duration::from_secs(1))
    {
        errors
            .push("checkin.digest_window and checkin.digest_every: must be at least 1s".to_owned());
    }
    if let Some(Err(e)) = ledger
        .as_ref()
        .map(crate::domain::ledger::LedgerRules::validate)
    {
        errors.push(e.to_string());
    }
    if let Some(s) = &scheduler {
        check_workers(
            "scheduler",
            s.batch,
            s.concurrency,
            s.max_attempts,
            s.lease,
            errors,
        );
    }
    if let Some(o) = &outbox {
        check_workers(
            "outbox",
            o.batch,
            o.concurrency,
            o.max_attempts,
            o.lease,
            errors,
        );
        if o.digest_max_chars < 200 {
            errors.push("outbox.digest_max_chars: must be at least 200".to_owned());
        }
        if !(1..=100_000).contains(&o.dead_letter_cap) {
            errors.push("outbox.dead_letter_cap: must be 1 to 100000".to_owned());
        }
        if o.dead_letter_ttl < Duration::from_secs(3600) {
            errors.push("outbox.dead_letter_ttl: must be at least 1h".to_owned());
        }
    }
    let mut bots = BTreeMap::new();
    match root.get("bots") {
        None => {}
        Some(Value::Dict(_, dict)) => {
            for (name, value) in dict {
                if let Some(bot) =
                    deserialize_at::<BotSettings>(value, &format!("bots.{name}"), errors)
                {
                    check_bot(name, &bot, errors);
                    bots.insert(name.clone(), bot);
                }
            }
        }
        Some(_) => errors.push("bots: must be a table of [bots.<name>] tables".to_owned()),
    }
    if let Some(s) = &server
        && !secret_rules::is_loopback(s.listen.ip())
    {
        for bot in secret_rules::insecure_sim_bots(&bots) {
            errors.push(secret_rules::insecure_exposure(bot, s.listen));
        }
    }
    Some(Settings {
        server: server?,
        redis: redis?,
        admin: admin?,
        log: log?,
        timing: timing?,
        demo: demo?,
        scheduler: scheduler?,
        outbox: outbox?,
        ledger: ledger?,
        checkin: checkin?,
        limits: limits?,
        bots,
    })
}

fn section<T: DeserializeOwned>(root: &Dict, name: &str, errors: &mut Vec<String>) -> Option<T> {
    match root.get(name) {
        Some(value) => deserialize_at(value, name, errors),
        None => {
            errors.push(format!("{name}: missing section"));
            None
        }
    }
}

fn deserialize_at<T: DeserializeOwned>(
    value: &Value,
    path: &str,
    errors: &mut Vec<String>,
) -> Option<T> {
    // Round-trip through JSON so that serde_path_to_error can name the exact key at fault.
    let json = match serde_json::to_value(value) {
        Ok(j) => j,
        Err(e) => {
            errors.push(format!("{path}: {e}"));
            return None;
        }
    };
    match serde_path_to_error::deserialize::<_, T>(json) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let key = if inner == "." || inner.is_empty() {
                path.to_owned()
            } else {
                format!("{path}.{inner}")
            };
            // serde quotes the offending value; for a secret key that value is the secret.
            let last = key.rsplit('.').next().unwrap_or_default();
            if SECRET_KEYS.contains(&last) {
                errors.push(format!("{key}: invalid value (not shown: it is a secret)"));
            } else {
                errors.push(format!("{key}: {}", e.inner()));
            }
            None
        }
    }
}

/// `MB_SECTION__KEY=value` variables as a nested table (keys lowercased, `__` nesting).
fn env_layer(vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>) -> Dict {
    let mut root = Dict::new();
    for (key, value) in vars {
        // A variable that is not valid Unicode cannot be ours; skip it rather than panic.
        let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else {
            continue;
        };
        let Some(rest) = key.strip_prefix("MB_") else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        if path.iter().any(String::is_empty) {
            continue;
        }
        let last = path.last().map(String::as_str).unwrap_or_default();
        let value = if TYPED_ENV_KEYS.contains(&last) {
            typed_env_value(value)
        } else {
            Value::from(value.to_owned())
        };
        insert_path(&mut root, &path, value);
    }
    root
}

/// Reads `[a, b]` as a list of strings, integers and booleans as such, anything else as text.
fn typed_env_value(raw: &str) -> Value {
    let t = raw.trim();
    if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let items = inner
            .split(',')
            .map(|i| i.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
            .filter(|i| !i.is_empty())
            .map(Value::from)
            .collect();
        return Value::Array(figment::value::Tag::Default, items);
    }
    if let Ok(n) = t.parse::<i64>() {
        return Value::from(n);
    }
    match t {
        "true" => Value::from(true),
        "false" => Value::from(false),
        _ => Value::from(raw.to_owned()),
    }
}

fn insert_path(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::Dict(figment::value::Tag::Default, Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::Dict(figment::value::Tag::Default, Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// Replaces `<secret>_file` keys by the named file's contents under `<secret>`, and records
/// the dotted path of each secret so read in `from_files`.
fn resolve_secret_files(
    dict: &mut Dict,
    path: &str,
    from_files: &mut Vec<String>,
    errors: &mut Vec<String>,
) {
    let file_keys: Vec<String> = dict
        .keys()
        .filter(|k| {
            k.strip_suffix("_file")
                .is_some_and(|stem| SECRET_KEYS.contains(&stem))
        })
        .cloned()
        .collect();
    for key in file_keys {
        let Some(value) = dict.remove(&key) else {
            continue;
        };
        let stem = key.trim_end_matches("_file").to_owned();
        let full = join_path(path, &key);
        let Some(file) = value.as_str().map(str::to_owned) else {
            errors.push(format!("{full}: must be a file path"));
            continue;
        };
        match std::fs::read_to_string(&file) {
            // Every trailing whitespace character goes, not only one newline: `echo` and
            // editors add a newline (sometimes `\r\n`, sometimes a stray space), and no
            // platform issues or accepts a secret that ends in whitespace. Leading whitespace
            // stays, and validation refuses it.
            Ok(contents) => {
                from_files.push(join_path(path, &stem));
                dict.insert(stem, Value::from(contents.trim_end().to_owned()));
            }
            Err(e) => errors.push(format!("{full}: cannot read {file}: {e}")),
        }
    }
    for (key, value) in dict.iter_mut() {
        if let Value::Dict(_, inner) = value {
            resolve_secret_files(inner, &join_path(path, key), from_files, errors);
        }
    }
}

/// Points an error about a secret that came from a file at that file's key, so that the
/// operator looks at the file rather than for a key they never wrote.
fn name_secret_files(errors: Vec<String>, from_files: &[String]) -> Vec<String> {
    errors
        .into_iter()
        .map(
            |e| match from_files.iter().find(|k| e.starts_with(&format!("{k}: "))) {
                Some(key) => format!("{e} (read from {key}_file)"),
                None => e,
            },
        )
        .collect()
}

fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Figment's errors, without the source excerpt a TOML syntax error carries: that excerpt
/// is a line of the file, and the line may hold a secret.
fn figment_errors(e: figment::Error) -> Vec<String> {
    e.into_iter()
        .map(|e| {
            e.to_string()
                .lines()
                .filter(|line| !line.contains('|'))
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// `Vec<Duration>` in humantime form.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_load_and_hold_the_demo_bot() {
        let s = Settings::load(&Sources::default()).unwrap();
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.redis.prefix, "mb");
        assert_eq!(s.timing.meeting_reminders.len(), 3);
        assert!(matches!(s.bots.get("demo"), Some(BotSettings::Sim(b)) if b.insecure));
        // Only scripts/run.sh seeds the demo branch; the embedded default does not.
        assert!(!s.demo.seed);
    }

    #[test]
    fn operator_bots_replace_the_demo_bot() {
        let overlay = "[bots.qq]\nplatform = \"onebot\"\nsecret = \"s3cret-0123456789\"\n";
        let s = Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.bots.keys().collect::<Vec<_>>(), vec!["qq"]);
    }

    #[test]
    fn every_bad_key_is_named_at_once() {
        let overlay = "[server]\nlisten = \"nope\"\n[timing]\ndedup_ttl = \"soon\"\n[redis]\nbogus = 1\n[bots.tg]\nplatform = \"telegram\"\n";
        let err = Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        })
        .unwrap_err()
        .0
        .join("\n");
        assert!(err.contains("server.listen"), "{err}");
        assert!(err.contains("timing.dedup_ttl"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn guest_replies_and_dead_letters_are_bounded_by_default_and_checked() {
        let s = Settings::load(&Sources::default()).unwrap();
        assert_eq!(s.limits.guest_replies, 30);
        assert_eq!(s.outbox.dead_letter_cap, 1000);
        assert_eq!(
            s.outbox.dead_letter_ttl,
            Duration::from_secs(30 * 24 * 3600)
        );
        let overlay = "[outbox]\ndead_letter_cap = 0\ndead_letter_ttl = \"10m\"\n";
        let err = Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        })
        .unwrap_err()
        .0
        .join("\n");
        for key in ["outbox.dead_letter_cap", "outbox.dead_letter_ttl"] {
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn inbound_limits_are_checked_and_each_bad_one_is_named() {
        let s = Settings::load(&Sources::default()).unwrap();
        assert_eq!(s.server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(s.server.max_connections, 1024);
        assert_eq!(s.limits.max_pending_joins, 200);
        let overlay = "[server]\nheader_read_timeout = \"10ms\"\nmax_connections = 0\n\
                       [limits]\nwindow = \"2h\"\nsender_commands = 0\n\
                       wrong_codes_per_person = 10\nwrong_codes_per_object = 5\n\
                       wrong_code_cooldown = \"0s\"\nmax_pending_joins = 0\n";
        let err = Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        })
        .unwrap_err()
        .0
        .join("\n");
        for key in [
            "server.header_read_timeout",
            "server.max_connections",
            "limits.window",
            "limits.sender_commands",
            "limits.wrong_codes_per_object",
            "limits.wrong_code_cooldown",
            "limits.max_pending_joins",
        ] {
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn secrets_are_masked_when_serialized() {
        let overlay = "[admin]\ntoken = \"super-secret-admin-token\"\n";
        let s = Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        })
        .unwrap();
        let printed = toml::to_string(&s).unwrap();
        assert!(!printed.contains("super-secret-admin-token"));
        assert!(format!("{s:?}").contains("Secret(***)"));
    }
}

#[cfg(test)]
mod env_tests {
    use std::ffi::OsString;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn env_values_stay_exact_text_unless_the_key_is_typed() {
        let dict = env_layer(vars(&[
            ("MB_ADMIN__TOKEN", "0012345678901234567"),
            ("MB_DEMO__CHAT_ID", "123"),
            ("MB_SERVER__WEBHOOK_BODY_LIMIT", "2048"),
            ("MB_TIMING__MEETING_REMINDERS", "[2h, \"10m\"]"),
            ("MB_BOTS__QQ__INSECURE", "true"),
            ("MB_LIMITS__SENDER_COMMANDS", "7"),
            ("OTHER", "x"),
            ("MB___BROKEN", "x"),
        ]));
        let get = |path: &[&str]| {
            let mut v = dict.get(path[0]).cloned();
            for p in &path[1..] {
                v = v
                    .and_then(|v| v.into_dict())
                    .and_then(|d| d.get(*p).cloned());
            }
            v
        };
        assert_eq!(
            get(&["admin", "token"])
                .and_then(|v| v.into_string())
                .as_deref(),
            Some("0012345678901234567")
        );
        assert_eq!(
            get(&["demo", "chat_id"])
                .and_then(|v| v.into_string())
                .as_deref(),
            Some("123")
        );
        assert_eq!(
            get(&["server", "webhook_body_limit"]).and_then(|v| v.to_i128()),
            Some(2048)
        );
        assert_eq!(
            get(&["timing", "meeting_reminders"])
                .and_then(|v| v.into_array())
                .map(|a| a.len()),
            Some(2)
        );
        assert_eq!(
            get(&["bots", "qq", "insecure"]).and_then(|v| v.to_bool()),
            Some(true)
        );
        assert_eq!(
            get(&["limits", "sender_commands"]).and_then(|v| v.to_i128()),
            Some(7)
        );
        assert_eq!(dict.len(), 6, "{dict:?}");
    }
}
