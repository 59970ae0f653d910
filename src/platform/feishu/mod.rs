//! The `feishu` platform (Feishu / Lark custom app, event subscription schema 2.0 over a
//! webhook): `im.message.receive_v1` text messages in, replies and proactive messages out
//! through the IM API with a tenant access token shared by every replica.
//!
//! Proof of origin: with an Encrypt Key, every event is AES-256-CBC encrypted and signed with
//! `X-Lark-Signature` over the raw body; the signature is required, its timestamp must lie
//! within [`SIGNATURE_WINDOW`] of our clock, and the decrypted `header.token` must still be
//! the Verification Token. Without an Encrypt Key, the Verification Token in `header.token`
//! is the only proof (compared in constant time). The `url_verification` handshake comes
//! unsigned in both modes and is proved by its token alone.
//!
//! Feishu takes no reply in the webhook response, so every reply is deferred to the outbox;
//! the event's context carries the message id being answered, so that the reply is threaded
//! to it with the reply API.
//!
//! Events carry no sender name: [`Platform::fetch_display_name`] asks the contact API, then
//! the chat members API (whichever the app is allowed to read); the pipeline caches it.
//!
//! Text rule: messages go as `text` content, where Feishu reads `<at user_id="…">` tags
//! (`<at user_id="all">` notifies the whole group), the style tags `<b>`, `<i>`, `<u>`, `<s>`,
//! and `[text](url)` links. `escape` puts a zero-width space after every `<`, every `]` and
//! every `&` of a character reference, so no tag, link or entity can form from any text,
//! whatever platform it was typed on; the reader sees the same characters. The bot's own
//! mentions (mention tokens) are the only `<at>` tags, with an `ou_…` id (never `all`) and an
//! escaped name. Plain URLs stay as written; Feishu makes them clickable, showing exactly
//! where they go.

mod api;
pub mod crypto;

use std::time::Duration;

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use self::crypto::Cipher;
use super::{
    BoxFuture, ChatKind, ChatRef, Inbound, InboundEvent, InboundRequest, OutboundMessage, Platform,
    PlatformError, PlatformKind, Rendered, Reply, SendError, SendLimits, SettingError,
    render::{self, Limit},
};
use crate::{
    config::{FeishuBot, Secret},
    store::Store,
};

/// Header with the request signature (only when an Encrypt Key is set).
pub const SIGNATURE_HEADER: &str = "x-lark-signature";
/// Header with the signing time, in unix seconds.
pub const TIMESTAMP_HEADER: &str = "x-lark-request-timestamp";
/// Header with the signing nonce.
pub const NONCE_HEADER: &str = "x-lark-request-nonce";

/// How far a signature's timestamp may be from our clock, either way. Feishu documents no
/// window and signs each delivery (retries included) when it sends it; five minutes absorbs
/// clock skew, and a replay inside the window is absorbed by the message-id dedup.
pub const SIGNATURE_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Feishu's published sending limits: 5 QPS per group shared by all bots (300 a minute), and
/// 50 a second per app.
///
/// <https://open.feishu.cn/document/server-docs/api-call-guide/frequency-control>
pub const FEISHU_LIMITS: SendLimits = SendLimits {
    per_chat_per_minute: 300,
    per_bot_per_second: 50,
    per_bot_per_minute: None,
};

/// The event type of a received message.
const MESSAGE_RECEIVED: &str = "im.message.receive_v1";
/// Longest id accepted from the wire (`om_…`, `oc_…`, `ou_…` are about 35 characters).
const MAX_ID_CHARS: usize = 128;
/// Longest display name kept.
const MAX_NAME_CHARS: usize = 64;

/// A configured Feishu app bot.
#[derive(Debug)]
pub struct FeishuAdapter {
    bot: String,
    app_id: String,
    app_secret: Secret,
    verification_token: Secret,
    /// The Encrypt Key as configured (part of the signed string) and the AES key from it.
    encryption: Option<(Secret, Cipher)>,
    bot_open_id: Option<String>,
    api_base: String,
    limits: SendLimits,
    client: reqwest::Client,
    /// Where the tenant access token is cached for every replica.
    store: Store,
}

impl FeishuAdapter {
    /// Builds the adapter from its `[bots.<name>]` table. Sends go through `client` (shared
    /// by every HTTP adapter) and the tenant token is cached in `store`.
    pub fn new(
        bot: &str,
        settings: &FeishuBot,
        client: reqwest::Client,
        store: Store,
    ) -> Result<Self, SettingError> {
        let missing = |key| SettingError {
            problem: "required",
            bot: bot.to_owned(),
            key,
        };
        let app_id = settings
            .app_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| missing("app_id"))?;
        let app_secret = settings
            .app_secret
            .clone()
            .filter(|s| !s.expose().is_empty())
            .ok_or_else(|| missing("app_secret"))?;
        // An empty Verification Token would match a callback that carries none.
        let verification_token = settings
            .verification_token
            .clone()
            .filter(|t| !t.expose().is_empty())
            .ok_or_else(|| missing("verification_token"))?;
        // An empty encrypt_key means "not set" (the console lets you clear it).
        let encryption = settings
            .encrypt_key
            .clone()
            .filter(|k| !k.expose().is_empty())
            .map(|k| {
                let cipher = Cipher::new(k.expose());
                (k, cipher)
            });
        let bot_open_id = settings
            .bot_open_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        Ok(Self {
            bot: bot.to_owned(),
            app_id: app_id.trim().to_owned(),
            app_secret,
            verification_token,
            encryption,
            bot_open_id,
            api_base: settings.api_base.trim_end_matches('/').to_owned(),
            limits: settings.limits.unwrap_or(FEISHU_LIMITS),
            client,
            store,
        })
    }

    /// The callback's plaintext: decrypted when an Encrypt Key is set, the body otherwise.
    fn plaintext(&self, body: &[u8]) -> Result<Vec<u8>, PlatformError> {
        let Some((_, cipher)) = &self.encryption else {
            return Ok(body.to_vec());
        };
        let envelope: Encrypted = serde_json::from_slice(body)
            .map_err(|e| PlatformError::malformed(format!("expected {{\"encrypt\": …}}: {e}")))?;
        cipher
            .decrypt(&envelope.encrypt)
            .map_err(PlatformError::malformed)
    }

    /// Whether the callback carries this app's Verification Token (constant time).
    fn token_matches(&self, callback: &Callback) -> bool {
        let given = callback
            .header
            .as_ref()
            .and_then(|h| h.token.as_deref())
            .or(callback.token.as_deref())
            .unwrap_or_default();
        // No token given never matches, whatever is configured.
        !given.is_empty()
            && bool::from(
                given
                    .as_bytes()
                    .ct_eq(self.verification_token.expose().as_bytes()),
            )
    }

    /// Checks the signature headers against the raw body and the window around `now`.
    fn check_signature(
        &self,
        request: InboundRequest<'_>,
        encrypt_key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), PlatformError> {
        let header = |name| request.headers.get(name).map(|v| v.as_bytes());
        let (Some(signature), Some(timestamp), Some(nonce)) = (
            header(SIGNATURE_HEADER),
            header(TIMESTAMP_HEADER),
            header(NONCE_HEADER),
        ) else {
            return Err(PlatformError::Unauthenticated("missing_signature"));
        };
        let (Ok(timestamp), Ok(nonce)) =
            (std::str::from_utf8(timestamp), std::str::from_utf8(nonce))
        else {
            return Err(PlatformError::Unauthenticated("bad_signature"));
        };
        if !crypto::signature_matches(signature, timestamp, nonce, encrypt_key, request.body) {
            return Err(PlatformError::Unauthenticated("bad_signature"));
        }
        // Checked after the signature, so that "expired" always means "authentic but old"
        // (a clock to fix), never "forged".
        let signed_at = timestamp
            .trim()
            .parse::<i64>()
            .map_err(|_| PlatformError::Unauthenticated("bad_timestamp"))?;
        if signed_at.abs_diff(now.timestamp()) > SIGNATURE_WINDOW.as_secs() {
            return Err(PlatformError::Unauthenticated("expired"));
        }
        Ok(())
    }

    /// [`Platform::verify`] at a given time, so that the window is testable.
    fn verify_at(
        &self,
        request: InboundRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), PlatformError> {
        match &self.encryption {
            Some((key, _)) => {
                let signed = [SIGNATURE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER]
                    .iter()
                    .any(|h| request.headers.contains_key(*h));
                if signed {
                    return self.check_signature(request, key.expose(), now);
                }
                // Only the URL verification handshake comes unsigned; it must decrypt and
                // carry the Verification Token.
                let unsigned_ok = self
                    .plaintext(request.body)
                    .ok()
                    .and_then(|plain| serde_json::from_slice::<Callback>(&plain).ok())
                    .is_some_and(|c| c.is_url_verification() && self.token_matches(&c));
                if unsigned_ok {
                    Ok(())
                } else {
                    Err(PlatformError::Unauthenticated("missing_signature"))
                }
            }
            None => {
                let callback: Callback = serde_json::from_slice(request.body)
                    .map_err(|_| PlatformError::Unauthenticated("missing_token"))?;
                if callback.encrypt.is_some() {
                    // Feishu encrypts, but we hold no key: the console and config disagree.
                    return Err(PlatformError::Unauthenticated("no_encrypt_key"));
                }
                if self.token_matches(&callback) {
                    Ok(())
                } else {
                    Err(PlatformError::Unauthenticated("bad_token"))
                }
            }
        }
    }

    /// Turns a message event into the common event, or an acknowledgement for messages we do
    /// not act on.
    ///
    /// <https://open.feishu.cn/document/server-docs/im-v1/message/events/receive>
    fn message_event(&self, event: Value, header: &Header) -> Result<Inbound, PlatformError> {
        let event: MessageEvent = serde_path_to_error::deserialize(event)
            .map_err(|e| PlatformError::malformed(format!("event.{}: {}", e.path(), e.inner())))?;
        let message = event.message;
        // Messages from other apps and bots are not commands.
        if event
            .sender
            .sender_type
            .as_deref()
            .is_some_and(|t| t != "user")
        {
            return Ok(Inbound::Immediate(acknowledge()));
        }
        let chat_kind = match message.chat_type.as_str() {
            "p2p" => ChatKind::Private,
            "group" | "topic_group" => ChatKind::Group,
            _ => return Ok(Inbound::Immediate(acknowledge())),
        };
        // Images, files, rich text, stickers, cards: nothing to read.
        if message.message_type != "text" {
            return Ok(Inbound::Immediate(acknowledge()));
        }
        check_id("event.message.message_id", &message.message_id)?;
        check_id("event.message.chat_id", &message.chat_id)?;
        let sender_id = event.sender.sender_id.open_id.unwrap_or_default();
        check_id("event.sender.sender_id.open_id", &sender_id)?;
        let content: TextContent = serde_json::from_str(&message.content).map_err(|e| {
            PlatformError::malformed(format!("event.message.content: not text JSON: {e}"))
        })?;
        let addressed = address(
            &content.text,
            message.mentions.as_deref().unwrap_or_default(),
            self.bot_open_id.as_deref(),
        );
        let sent_at = message
            .create_time
            .as_deref()
            .or(header.create_time.as_deref())
            .and_then(|ms| ms.trim().parse::<i64>().ok())
            .filter(|ms| *ms > 0)
            .and_then(DateTime::<Utc>::from_timestamp_millis);
        Ok(Inbound::Event(InboundEvent {
            chat: ChatRef {
                platform: PlatformKind::Feishu,
                bot: self.bot.clone(),
                chat_id: message.chat_id.clone(),
            },
            chat_kind,
            sender_id,
            // Not in the event; the pipeline asks `fetch_display_name`.
            sender_name: None,
            // Feishu may push one message under several event ids; the message id is what
            // stays the same (platforms.md §7.10).
            message_id: message.message_id.clone(),
            text: addressed.text,
            mentioned: addressed.mentioned,
            sent_at,
            context: Some(json!({
                "message_id": message.message_id,
                "chat_id": message.chat_id,
            })),
        }))
    }
}

/// `{"encrypt": "…"}`.
#[derive(Debug, Deserialize)]
struct Encrypted {
    encrypt: String,
}

/// Any callback body once decrypted: URL verification, schema 2.0 events, schema 1.0 events.
/// Only the fields we read; serde ignores the rest.
///
/// <https://open.feishu.cn/document/server-docs/event-subscription-guide/event-subscription-configure-/request-url-configuration-case>
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Callback {
    /// `"2.0"` for v2 events.
    schema: Option<String>,
    /// `url_verification`, or `event_callback` in schema 1.0.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The Verification Token of URL verification and schema 1.0 events.
    token: Option<String>,
    challenge: Option<String>,
    header: Option<Header>,
    event: Option<Value>,
    /// Present when the body is still encrypted.
    encrypt: Option<String>,
}

impl Callback {
    fn is_url_verification(&self) -> bool {
        self.kind.as_deref() == Some("url_verification")
    }
}

/// The schema 2.0 `header`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Header {
    event_type: Option<String>,
    /// Milliseconds, as a string.
    create_time: Option<String>,
    /// The Verification Token.
    token: Option<String>,
    app_id: Option<String>,
}

/// `event` of `im.message.receive_v1`.
#[derive(Debug, Deserialize)]
struct MessageEvent {
    sender: Sender,
    message: Message,
}

#[derive(Debug, Deserialize)]
struct Sender {
    #[serde(default)]
    sender_id: UserIds,
    #[serde(default)]
    sender_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UserIds {
    open_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Message {
    message_id: String,
    chat_id: String,
    chat_type: String,
    message_type: String,
    /// A JSON document in a string: `{"text": "@_user_1 帮助"}` for text.
    #[serde(default)]
    content: String,
    #[serde(default)]
    create_time: Option<String>,
    #[serde(default)]
    mentions: Option<Vec<Mention>>,
}

/// One `@` in a message: `key` is the placeholder written in the text.
#[derive(Debug, Deserialize)]
struct Mention {
    #[serde(default)]
    key: String,
    #[serde(default)]
    id: UserIds,
    #[serde(default)]
    name: String,
}

/// The content of a text message.
#[derive(Debug, Deserialize)]
struct TextContent {
    text: String,
}

/// The answer to callbacks we do not act on: 200, so Feishu does not push them again.
fn acknowledge() -> Response {
    (StatusCode::OK, Json(json!({}))).into_response()
}

fn check_id(field: &str, value: &str) -> Result<(), PlatformError> {
    if value.is_empty() || value.chars().count() > MAX_ID_CHARS {
        return Err(PlatformError::Malformed(format!(
            "{field}: expected 1 to {MAX_ID_CHARS} characters"
        )));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(PlatformError::Malformed(format!(
            "{field}: holds spaces or control characters"
        )));
    }
    Ok(())
}

/// Feishu's escape for text content: a zero-width space after every `<` (no tag: `<at`,
/// `</at>`, `<b>`), every `]` (no `[text](url)` link) and every `&` that opens a character
/// reference (none that a renderer might decode into one of those). The text reads the same.
///
/// <https://open.feishu.cn/document/server-docs/im-v1/message-content-description/create_json#c9e08671>
pub(super) fn escape(text: &str) -> String {
    render::break_entities(&render::break_after(text, |c| matches!(c, '<' | ']')))
}

/// A mention as Feishu's text content writes it: `<at user_id="ou_…">name</at>`. An id that
/// cannot be a user's open id (and `all`, which would notify everyone) is plain `@name`.
fn mention(user_id: &str, name: &str) -> String {
    let name = escape(&clean_name(name).unwrap_or_default());
    if api::path_safe(user_id) && !user_id.eq_ignore_ascii_case("all") {
        format!("<at user_id=\"{user_id}\">{name}</at>")
    } else {
        format!("@{name}")
    }
}

/// Outgoing text as Feishu's text content: escaped, mentions as tags, cut to fit.
pub(super) fn render_text(text: &str) -> String {
    render::render_string(text, Limit::bytes(api::MAX_TEXT_BYTES), escape, mention)
}

/// A display name as we keep it: trimmed, without control characters, bounded.
fn clean_name(name: &str) -> Option<String> {
    let name: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let name = name.trim().to_owned();
    (!name.is_empty()).then_some(name)
}

/// A message text with the bot's mention placeholders taken out.
#[derive(Debug, PartialEq, Eq)]
struct Addressed {
    text: String,
    mentioned: bool,
}

/// Replaces the `@_user_N` placeholders of `text`: the bot's are removed (and make the
/// message "mentioned"), everyone else's become `@name`. With `bot_open_id`, a mention is the
/// bot's exactly when its `id.open_id` matches. Without it, the mentions that open the
/// message are taken as the bot's: with the default permission ("messages that @ the bot")
/// every group message Feishu delivers mentions the bot, and it is written first.
fn address(text: &str, mentions: &[Mention], bot_open_id: Option<&str>) -> Addressed {
    let mut out = String::with_capacity(text.len());
    let mut mentioned = false;
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let (before, from_at) = rest.split_at(at);
        out.push_str(before);
        // The longest key that matches here: `@_user_1` must not take `@_user_10`.
        let found = mentions
            .iter()
            .filter(|m| m.key.len() > 1 && from_at.starts_with(m.key.as_str()))
            .max_by_key(|m| m.key.len());
        let Some(mention) = found else {
            out.push('@');
            rest = from_at.get(1..).unwrap_or_default();
            continue;
        };
        let is_bot = match bot_open_id {
            Some(bot) => mention.id.open_id.as_deref() == Some(bot),
            None => out.trim().is_empty(),
        };
        if is_bot {
            mentioned = true;
            out.push(' ');
        } else {
            out.push('@');
            out.push_str(&clean_name(&mention.name).unwrap_or_default());
        }
        rest = from_at.get(mention.key.len()..).unwrap_or_default();
    }
    out.push_str(rest);
    Addressed {
        text: out.trim().to_owned(),
        mentioned,
    }
}

impl Platform for FeishuAdapter {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Feishu
    }

    fn bot(&self) -> &str {
        &self.bot
    }

    /// <https://open.feishu.cn/document/server-docs/event-subscription-guide/event-subscription-configure-/encrypt-key-encryption-configuration-case>
    fn verify(&self, request: InboundRequest<'_>) -> Result<(), PlatformError> {
        self.verify_at(request, Utc::now())
    }

    /// <https://open.feishu.cn/document/server-docs/event-subscription-guide/event-subscription-configure-/request-url-configuration-case>
    fn parse(&self, request: InboundRequest<'_>) -> Result<Inbound, PlatformError> {
        let plain = self.plaintext(request.body)?;
        let callback: Callback = super::parse_json(&plain)?;
        // Checked here too: with an Encrypt Key the signature proves Feishu sent it, the
        // token proves it was meant for this app.
        if !self.token_matches(&callback) {
            return Err(PlatformError::Unauthenticated("bad_token"));
        }
        if callback.is_url_verification() {
            let Some(challenge) = callback.challenge else {
                return Err(PlatformError::Malformed(
                    "url_verification without a challenge".to_owned(),
                ));
            };
            return Ok(Inbound::Immediate(
                (StatusCode::OK, Json(json!({ "challenge": challenge }))).into_response(),
            ));
        }
        let header = callback.header.unwrap_or_default();
        let is_message = callback.schema.as_deref() == Some("2.0")
            && header.event_type.as_deref() == Some(MESSAGE_RECEIVED);
        // Another app's events on a shared URL would carry another token; a matching token
        // with another app id is a misconfiguration, acknowledged and ignored.
        let other_app = header
            .app_id
            .as_deref()
            .is_some_and(|id| !id.is_empty() && id != self.app_id);
        match callback.event {
            Some(event) if is_message && !other_app => self.message_event(event, &header),
            // Schema 1.0 events, other event types, events without a body.
            _ => Ok(Inbound::Immediate(acknowledge())),
        }
    }

    /// Feishu takes no reply in the webhook response: every reply is deferred, and `send`
    /// threads it to the message it answers.
    fn render_replies(&self, _event: &InboundEvent, replies: &[Reply]) -> Rendered {
        let deferred = replies
            .iter()
            .filter(|r| {
                let keep = !r.text.trim().is_empty();
                if !keep {
                    tracing::warn!(chat_id = %r.chat_id, "dropping an empty reply");
                }
                keep
            })
            .cloned()
            .collect();
        Rendered {
            response: acknowledge(),
            deferred,
        }
    }

    fn send<'a>(&'a self, message: &'a OutboundMessage) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(self.send_message(message))
    }

    fn limits(&self) -> SendLimits {
        self.limits
    }

    fn fetch_display_name<'a>(
        &'a self,
        chat_id: &'a str,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SendError>> {
        Box::pin(self.display_name(chat_id, user_id))
    }
}

#[cfg(test)]
mod tests;
