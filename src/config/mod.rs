//! The settings tree and how it is loaded: embedded defaults, an optional TOML file, `MB_`
//! environment overrides and `*_file` secrets, validated so that every bad key is named at once.
//!
//! By concern: `schema.rs` (the sections and [`Secret`]), `bots.rs` (the `[bots.<name>]`
//! tables), `load.rs` (sources, the environment layer, `*_file` secrets), `validate.rs`
//! (checks that name each bad key), `durations.rs` (the range of every
//! duration key) and `secret_rules.rs` (what a secret must look like).

mod bots;
mod durations;
mod load;
mod schema;
mod secret_rules;
mod validate;

pub use bots::{
    BotSettings, DINGTALK_SESSION_ENDPOINT, DingtalkBot, FeishuBot, OnebotBot, OnebotReply, SimBot,
    TelegramBot, WecomBot, WecomMode,
};
pub use load::Sources;
pub use schema::{
    AdminSettings, CheckinSettings, DemoSettings, LimitSettings, LogFormat, LogSettings,
    OutboxSettings, RedisMode, RedisSettings, RedisUrls, SchedulerSettings, Secret, ServerSettings,
    Settings,
};
pub use secret_rules::{insecure_exposure, insecure_sim_bots, is_loopback};

pub use crate::domain::timing::TimingSettings;

/// The embedded defaults: the single list of every key, documented in place.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Every problem found while loading, each naming its key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);
