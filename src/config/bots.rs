//! One `[bots.<name>]` table per chat bot, tagged by `platform`: the keys each adapter reads.

use serde::{Deserialize, Serialize};

use super::Secret;
use crate::domain::chat::{PlatformKind, SendLimits};

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

    /// The names people address the bot by in text: its configured `names`, then the
    /// Telegram `username` or the WeCom `bot_name` when configured (each platform's own
    /// mention handling knows those too; the parser then reads a leading `@name` the platform
    /// did not mark). Blank names and a leading `@` are dropped.
    pub fn names(&self) -> Vec<String> {
        let (configured, own) = match self {
            Self::Sim(b) => (&b.names, None),
            Self::Onebot(b) => (&b.names, None),
            Self::Telegram(b) => (&b.names, b.username.as_ref()),
            Self::Feishu(b) => (&b.names, None),
            Self::Dingtalk(b) => (&b.names, None),
            Self::Wecom(b) => (&b.names, b.bot_name.as_ref()),
        };
        let mut names: Vec<String> = Vec::new();
        for name in configured.iter().chain(own) {
            let name = name.trim().trim_start_matches('@').trim();
            if !name.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name.to_owned());
            }
        }
        names
    }

    /// The problem with a configured name of the bot, if any: the parser reads `@name`
    /// followed by a space, so a name is one word.
    pub fn name_problem(name: &str) -> Option<&'static str> {
        let name = name.trim().trim_start_matches('@');
        if name.is_empty() {
            Some("a name must not be blank")
        } else if name.chars().any(char::is_whitespace) {
            Some("a name is one word, without spaces")
        } else if name.chars().count() > 32 {
            Some("a name is at most 32 characters")
        } else {
            None
        }
    }

    /// The required keys that are not secrets, by key and whether each is set and not blank
    /// (secrets are checked by `secret_rules::bot_secrets`).
    pub(super) fn required_keys(&self) -> Vec<(&'static str, bool)> {
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
    /// What people call the bot when they type its name (`@党建小助手 会议`) and the platform
    /// does not mark the mention, besides the generic names (`chat::command::BOT_NAMES`).
    #[serde(default)]
    pub names: Vec<String>,
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
    /// What people call the bot when they type its name (`@党建小助手 会议`) and the platform
    /// does not mark the mention, besides the generic names (`chat::command::BOT_NAMES`).
    #[serde(default)]
    pub names: Vec<String>,
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
    /// addressed to other bots in the same group are ignored. Without it, the adapter learns
    /// it from `getMe` at startup (cached in Redis for a day).
    #[serde(default)]
    pub username: Option<String>,
    /// Bot API base.
    #[serde(default = "default_telegram_api")]
    pub api_base: String,
    /// What people call the bot when they type its name (`@党建小助手 会议`) and the platform
    /// does not mark the mention, besides the generic names (`chat::command::BOT_NAMES`).
    #[serde(default)]
    pub names: Vec<String>,
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
    /// What people call the bot when they type its name (`@党建小助手 会议`) and the platform
    /// does not mark the mention, besides the generic names (`chat::command::BOT_NAMES`).
    #[serde(default)]
    pub names: Vec<String>,
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
    /// What people call the bot when they type its name (`@党建小助手 会议`) and the platform
    /// does not mark the mention, besides the generic names (`chat::command::BOT_NAMES`).
    #[serde(default)]
    pub names: Vec<String>,
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
    /// What people call the bot when they type its name (`@党建小助手 会议`) and the platform
    /// does not mark the mention, besides the generic names (`chat::command::BOT_NAMES`).
    #[serde(default)]
    pub names: Vec<String>,
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
