//! Ground types of chat that every layer shares: which platform, which chat, what kind of
//! chat, a bot's sending budget and the server-made mention markers. Pure values; this module
//! imports nothing of the crate, so config, domain, store and the adapters can all stand on it.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Opens a mention token (a Unicode noncharacter, stripped from everything users type).
pub const MENTION_OPEN: char = '\u{FDE0}';
/// Separates the user id from the name inside a mention token.
pub const MENTION_SEP: char = '\u{FDE1}';
/// Closes a mention token.
pub const MENTION_CLOSE: char = '\u{FDE2}';

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

/// Group or one-to-one chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    /// A group chat.
    Group,
    /// A private chat with one person.
    Private,
}

/// A chat on a bot: the address of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatRef {
    /// Platform.
    pub platform: PlatformKind,
    /// Bot name.
    pub bot: String,
    /// The platform's chat id.
    pub chat_id: String,
}

impl ChatRef {
    /// `platform:bot:chat_id`, the form used in keys and stored sets (also its `Display`;
    /// key builders join [`ChatRef::key_pieces`] instead).
    pub fn key(&self) -> String {
        self.key_pieces().concat()
    }

    /// The pieces of [`ChatRef::key`], for key builders that join them with others at once.
    pub fn key_pieces(&self) -> [&str; 5] {
        [self.platform.as_str(), ":", &self.bot, ":", &self.chat_id]
    }

    /// Parses [`ChatRef::key`] output.
    pub fn parse_key(key: &str) -> Option<Self> {
        let mut parts = key.splitn(3, ':');
        let platform = parts.next()?.parse().ok()?;
        let bot = parts.next()?.to_owned();
        let chat_id = parts.next()?.to_owned();
        Some(Self {
            platform,
            bot,
            chat_id,
        })
    }
}

impl fmt::Display for ChatRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.platform, self.bot, self.chat_id)
    }
}

/// A mention of a user in text built by the server (reminders). Text travels with it, neutral,
/// all the way to the adapter that sends it, which writes it in its platform's mention form
/// while escaping everything else (see `platform::render`). Made of Unicode noncharacters, which the
/// webhook pipeline strips from everything users type, so no one can forge a mention through
/// their name or message.
pub fn mention_token(user_id: &str, name: &str) -> String {
    let clean = |s: &str| s.chars().filter(|c| !is_token_char(*c)).collect::<String>();
    format!(
        "{}{}{}{}{}",
        MENTION_OPEN,
        clean(user_id),
        MENTION_SEP,
        clean(name),
        MENTION_CLOSE
    )
}

/// Whether a character is reserved for server-made markers (U+FDD0..U+FDEF, noncharacters).
pub fn is_token_char(c: char) -> bool {
    ('\u{FDD0}'..='\u{FDEF}').contains(&c)
}

/// The chat id of a one-to-one chat with `user_id`, as each adapter names private chats, so
/// that sensitive messages (absentee names, leave reasons) can go to one person. `None` where
/// the platform's private chats have ids of their own that an event must tell us (Feishu).
pub fn private_chat_id(platform: PlatformKind, user_id: &str) -> Option<String> {
    match platform {
        PlatformKind::Sim | PlatformKind::Onebot | PlatformKind::Dingtalk => {
            Some(format!("dm:{user_id}"))
        }
        // A Telegram private chat's id is the user's id; a WeCom 1:1 chat is keyed by the user.
        PlatformKind::Telegram | PlatformKind::Wecom => Some(user_id.to_owned()),
        PlatformKind::Feishu => None,
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

/// A bot's sending budget, enforced across replicas by the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendLimits {
    /// Messages per minute to one chat (Telegram groups, DingTalk and WeCom robots: 20).
    pub per_chat_per_minute: u32,
    /// Messages per second across all chats of the bot (Telegram: 30).
    pub per_bot_per_second: u32,
    /// Messages per minute across all chats of the bot, for platforms that count per minute
    /// (a DingTalk robot: 20, and it is blocked for 10 minutes beyond that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_bot_per_minute: Option<u32>,
}

impl SendLimits {
    /// Telegram's published limits, also a safe default for platforms without numbers.
    pub const TELEGRAM: Self = Self {
        per_chat_per_minute: 20,
        per_bot_per_second: 30,
        per_bot_per_minute: None,
    };
    /// Effectively unlimited (the sim platform's default).
    pub const UNLIMITED: Self = Self {
        per_chat_per_minute: 1_000_000,
        per_bot_per_second: 1_000_000,
        per_bot_per_minute: None,
    };
}

/// `platform:bot:user_id`: an account, as keys and stored sets name it.
pub fn identity_key(platform: PlatformKind, bot: &str, user_id: &str) -> String {
    [platform.as_str(), ":", bot, ":", user_id].concat()
}

/// Who said something, and where: the plain inputs of a chat command as services take them,
/// so that services never see a platform's event (and seeding or tests need not fake one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The chat it was said in.
    pub chat: ChatRef,
    /// Group or private.
    pub chat_kind: ChatKind,
    /// The sender's platform id.
    pub user_id: String,
    /// The sender's display name, when the platform gives one.
    pub name: Option<String>,
}

impl Sender {
    /// The sender's account key (see [`identity_key`]).
    pub fn account(&self) -> String {
        identity_key(self.chat.platform, &self.chat.bot, &self.user_id)
    }

    /// Whether this was said in a one-to-one chat.
    pub fn in_private(&self) -> bool {
        self.chat_kind == ChatKind::Private
    }

    /// The private chat with the sender on the same bot, where the platform lets a bot start
    /// one.
    pub fn private_chat(&self) -> Option<ChatRef> {
        private_chat_id(self.chat.platform, &self.user_id).map(|chat_id| ChatRef {
            chat_id,
            ..self.chat.clone()
        })
    }
}
