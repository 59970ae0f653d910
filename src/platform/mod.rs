//! Platform adapters: each proves a request authentic, turns the platform's event into the
//! common [`InboundEvent`], and renders common replies in the platform's reply form. Adapters
//! carry text only; they never call into `chat` or `service`.

pub mod event;
pub mod sim;

use std::{collections::HashMap, fmt, str::FromStr, sync::Arc};

use axum::{body::Bytes, http::HeaderMap, response::Response};
use serde::{Deserialize, Serialize};

pub use event::{ChatKind, ChatRef, InboundEvent, Reply};

use crate::config::{BotSettings, Settings};

/// The `{platform}` path segment of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    /// Telegram Bot API.
    Telegram,
    /// Feishu / Lark.
    Feishu,
    /// DingTalk.
    Dingtalk,
    /// WeCom.
    Wecom,
    /// QQ through OneBot v11.
    Onebot,
    /// The built-in simulator.
    Sim,
}

impl PlatformKind {
    /// The lowercase name used in paths, keys and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Telegram => "telegram",
            Self::Feishu => "feishu",
            Self::Dingtalk => "dingtalk",
            Self::Wecom => "wecom",
            Self::Onebot => "onebot",
            Self::Sim => "sim",
        }
    }
}

impl fmt::Display for PlatformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A path segment that names no platform.
#[derive(Debug, thiserror::Error)]
#[error("unknown platform {0:?}")]
pub struct UnknownPlatform(pub String);

impl FromStr for PlatformKind {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "telegram" => Self::Telegram,
            "feishu" => Self::Feishu,
            "dingtalk" => Self::Dingtalk,
            "wecom" => Self::Wecom,
            "onebot" => Self::Onebot,
            "sim" => Self::Sim,
            other => return Err(UnknownPlatform(other.chars().take(32).collect())),
        })
    }
}

/// Why an inbound request was refused, and so which status it gets.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The proof of origin failed (401).
    #[error("authentication failed: {0}")]
    Unauthenticated(&'static str),
    /// The body is not what the platform sends (400).
    #[error("malformed request: {0}")]
    Malformed(String),
}

impl PlatformError {
    /// A short, stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unauthenticated(r) => r,
            Self::Malformed(_) => "malformed",
        }
    }
}

/// What an adapter made of an authentic request.
#[derive(Debug)]
pub enum Inbound {
    /// A message for the bot to consider.
    Event(InboundEvent),
    /// A handshake or an event we do not act on, answered at once by the adapter.
    Immediate(Response),
}

/// The raw request as an adapter sees it: headers and the exact body bytes.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The body, byte for byte (signatures are over raw bytes).
    pub body: &'a Bytes,
}

/// One configured bot on one platform.
pub trait Platform: Send + Sync + fmt::Debug {
    /// The platform this bot speaks.
    fn kind(&self) -> PlatformKind;
    /// The bot's configured name.
    fn bot(&self) -> &str;
    /// Proves the request came from the platform.
    fn verify(&self, request: InboundRequest<'_>) -> Result<(), PlatformError>;
    /// Turns an authentic request into an event or an immediate answer.
    fn parse(&self, request: InboundRequest<'_>) -> Result<Inbound, PlatformError>;
    /// Renders the replies to an event as the webhook response.
    fn render_replies(&self, event: &InboundEvent, replies: &[Reply]) -> Response;
    /// How a mention of `name` is written in this platform's text.
    fn mention(&self, name: &str, user_id: &str) -> String;
}

/// Every configured bot, by name.
#[derive(Debug, Clone, Default)]
pub struct Platforms {
    bots: HashMap<String, Arc<dyn Platform>>,
}

/// A configured bot that this build cannot serve.
#[derive(Debug, thiserror::Error)]
#[error("bots.{bot}: the {platform} adapter is not available in this version yet")]
pub struct UnsupportedPlatform {
    /// The bot's name.
    pub bot: String,
    /// Its platform.
    pub platform: PlatformKind,
}

impl Platforms {
    /// Builds an adapter for every configured bot, refusing bots this build cannot serve.
    pub fn from_settings(settings: &Settings) -> Result<Self, UnsupportedPlatform> {
        let mut bots: HashMap<String, Arc<dyn Platform>> = HashMap::new();
        for (name, bot) in &settings.bots {
            let adapter: Arc<dyn Platform> = match bot {
                BotSettings::Sim(sim) => Arc::new(sim::SimAdapter::new(name, sim)),
                other => {
                    return Err(UnsupportedPlatform {
                        bot: name.clone(),
                        platform: other.kind(),
                    });
                }
            };
            bots.insert(name.clone(), adapter);
        }
        Ok(Self { bots })
    }

    /// The bot of that name, if configured.
    pub fn get(&self, bot: &str) -> Option<&Arc<dyn Platform>> {
        self.bots.get(bot)
    }
}
