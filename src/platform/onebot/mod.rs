//! The `onebot` platform: QQ through a OneBot v11 implementation (NapCat, Lagrange.OneBot,
//! go-cqhttp) in HTTP POST reporting mode.
//!
//! - In: each event is POSTed as JSON, proved by `X-Signature: sha1=<hex HMAC-SHA1(secret, raw
//!   body)>`. Group and private `message` events become [`InboundEvent`]s; meta events
//!   (heartbeat, lifecycle), notices, requests and messages without text get `204`.
//! - Out: with `reply = "quick"` the first reply to the event's own chat rides in the HTTP
//!   response as a quick operation (`{"reply": [...], "at_sender": false}`) and the rest go
//!   through the outbox; with `reply = "api"` (needed for Lagrange.OneBot, which ignores quick
//!   operations) every reply goes through the outbox. The outbox sends with
//!   `POST {api_base}/send_group_msg` or `/send_private_msg` and the static `access_token`.
//! - Chat ids: a group is its `group_id` in decimal; a private chat is `dm:<user_id>` (the same
//!   form the sim platform uses), because QQ group and user numbers share one number space.
//! - Text rule: text always leaves as `text` segments, taken literally, so nothing typed on
//!   any platform becomes a CQ code; the bot's own mentions (mention tokens) are the only
//!   `at` segments. See `cq`.
//!
//! <https://github.com/botuniverse/onebot-11/blob/master/communication/http-post.md>

pub(super) mod cq;

use std::time::Duration;

use axum::{
    Json,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::SettingError;
use super::{
    BoxFuture, ChatKind, ChatRef, Inbound, InboundEvent, InboundRequest, OutboundMessage, Platform,
    PlatformError, PlatformKind, Rendered, Reply, SendError, SendLimits,
};
use crate::{
    config::{OnebotBot, OnebotReply, Secret},
    error::Cause,
};

/// Header carrying `sha1=<hex HMAC-SHA1>` of the raw body.
pub const SIGNATURE_HEADER: &str = "x-signature";

/// The prefix of a private chat id: `dm:<user_id>`.
pub const PRIVATE_PREFIX: &str = "dm:";

/// OneBot and QQ publish no sending limits; QQ's anti-spam mutes or bans accounts that post
/// fast, so the default stays well under what people report as safe (about one message every
/// few seconds per group). A bot's `limits` setting overrides it.
pub const DEFAULT_LIMITS: SendLimits = SendLimits {
    per_chat_per_minute: 20,
    per_bot_per_second: 5,
    per_bot_per_minute: None,
};

/// The wait when an HTTP 429 (from a proxy in front of the implementation) names none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Longest wait we honour from a 429.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Longest display name kept (QQ group cards are at most 60 bytes, nicknames shorter).
const MAX_NAME_CHARS: usize = 64;
/// Longest message id accepted (they are int32 in the spec; some implementations use strings).
const MAX_MESSAGE_ID_CHARS: usize = 64;
/// Longest platform wording copied into a send error.
const MAX_DETAIL_CHARS: usize = 300;

type HmacSha1 = Hmac<sha1::Sha1>;

/// A configured OneBot (QQ) bot: one QQ account behind one OneBot implementation.
#[derive(Debug)]
pub struct OnebotAdapter {
    bot: String,
    secret: Secret,
    access_token: Option<Secret>,
    api_base: String,
    reply: OnebotReply,
    limits: SendLimits,
    client: reqwest::Client,
}

impl OnebotAdapter {
    /// Builds the adapter from its `[bots.<name>]` table; sends go through `client` (shared by
    /// every HTTP adapter, so connections are pooled).
    pub fn new(
        bot: &str,
        settings: &OnebotBot,
        client: reqwest::Client,
    ) -> Result<Self, SettingError> {
        // An empty HMAC key would let anyone who knows the scheme sign events.
        let secret = settings
            .secret
            .clone()
            .filter(|s| !s.expose().is_empty())
            .ok_or_else(|| SettingError {
                problem: "required and must not be empty",
                bot: bot.to_owned(),
                key: "secret",
            })?;
        Ok(Self {
            bot: bot.to_owned(),
            secret,
            access_token: settings
                .access_token
                .clone()
                .filter(|t| !t.expose().is_empty()),
            api_base: settings.api_base.trim_end_matches('/').to_owned(),
            reply: settings.reply,
            limits: settings.limits.unwrap_or(DEFAULT_LIMITS),
            client,
        })
    }

    /// HMAC-SHA1 of `body` under the bot's secret.
    fn sign(&self, body: &[u8]) -> Option<[u8; 20]> {
        // HMAC takes keys of any length, so this never fails; no panic path either way.
        let mut mac = HmacSha1::new_from_slice(self.secret.expose().as_bytes()).ok()?;
        mac.update(body);
        Some(mac.finalize().into_bytes().into())
    }

    /// Replaces the access token wherever it might have slipped into a message.
    fn redact(&self, text: &str) -> String {
        match &self.access_token {
            Some(token) => text.replace(token.expose(), "<access_token>"),
            None => text.to_owned(),
        }
    }

    /// Calls `send_group_msg` or `send_private_msg` and classifies the answer for the outbox.
    ///
    /// <https://github.com/botuniverse/onebot-11/blob/master/api/public.md#send_group_msg-发送群消息>
    async fn send_message(&self, chat_id: &str, text: &str) -> Result<(), SendError> {
        if text.trim().is_empty() {
            return Err(SendError::permanent("the message text is empty"));
        }
        let (action, body) = match chat_id.strip_prefix(PRIVATE_PREFIX) {
            Some(user) if cq::is_qq_number(user) => (
                "send_private_msg",
                json!({"user_id": number(user), "message": cq::segments(text, false)}),
            ),
            None if cq::is_qq_number(chat_id) => (
                "send_group_msg",
                json!({"group_id": number(chat_id), "message": cq::segments(text, true)}),
            ),
            _ => {
                return Err(SendError::permanent(
                    "the chat id is not a OneBot one (a group number, or dm: and a QQ number)",
                )
                .answered(format!("chat id {chat_id:?}")));
            }
        };
        let mut request = self
            .client
            .post(format!("{}/{action}", self.api_base))
            .json(&body);
        if let Some(token) = &self.access_token {
            // https://github.com/botuniverse/onebot-11/blob/master/communication/authorization.md
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.map_err(|e| self.request_error(e))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| self.request_error(e))?;
        classify_response(status, retry_after, &bytes).map_err(|e| e.redact(|m| self.redact(&m)))
    }

    /// Turns a transport error into a send error, without the URL reqwest attaches.
    fn request_error(&self, error: reqwest::Error) -> SendError {
        super::transport_error("the request to OneBot failed", error, |text| {
            self.redact(&text)
        })
    }
}

/// A QQ number as a JSON number when it fits (the spec's type), else as the string.
fn number(digits: &str) -> Value {
    digits
        .parse::<i64>()
        .map_or_else(|_| Value::String(digits.to_owned()), Value::from)
}

/// `Retry-After` in seconds, when a proxy in front of the implementation sends one.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Reads an action answer. HTTP 401/403 (token missing or wrong), 404 (no such action: a wrong
/// `api_base`) and other 4xx are final; 429 waits; 5xx and timeouts retry. A 200 carries
/// `{"status": "ok"|"async"|"failed", "retcode": …}`: `failed` with the HTTP-like retcodes
/// 1400/1401/1403/1404 is final; any other retcode is retried, bounded by the outbox's
/// `max_attempts`, because implementations use them loosely (go-cqhttp's 100 covers QQ's
/// anti-spam refusals, which pass, as well as unknown groups, which do not).
///
/// <https://github.com/botuniverse/onebot-11/blob/master/api/README.md#响应>
fn classify_response(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), SendError> {
    let (answer, undecodable) = match serde_json::from_slice::<Value>(body) {
        Ok(answer) => (answer, None),
        Err(e) => (Value::Null, Some(e)),
    };
    let wording = ["wording", "message", "msg"]
        .iter()
        .find_map(|k| {
            answer
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .map(|s| s.chars().take(MAX_DETAIL_CHARS).collect::<String>());
    let mut detail = format!("HTTP {}", status.as_u16());
    if status == StatusCode::TOO_MANY_REQUESTS {
        let wait = retry_after
            .unwrap_or(DEFAULT_RETRY_AFTER)
            .clamp(Duration::from_secs(1), MAX_RETRY_AFTER);
        return Err(SendError::RateLimited { retry_after: wait });
    }
    if !status.is_success() {
        if let Some(w) = &wording {
            detail.push_str(": ");
            detail.push_str(w);
        }
        let failure = match status {
            StatusCode::UNAUTHORIZED => SendError::permanent(
                "the OneBot implementation asks for an access token: set access_token for this bot",
            ),
            StatusCode::FORBIDDEN => SendError::permanent(
                "the OneBot implementation refused the access token: it must equal the \
                 implementation's token",
            ),
            StatusCode::NOT_FOUND => {
                SendError::permanent("the OneBot implementation has no such action: check api_base")
            }
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                SendError::transient("the OneBot implementation could not take the message")
            }
            s if s.is_client_error() => {
                SendError::permanent("the OneBot implementation refused the message")
            }
            // A redirect (not followed) or an informational code: most likely a proxy.
            _ => SendError::transient("the OneBot implementation gave an unexpected answer"),
        };
        return Err(failure.answered(detail));
    }
    let outcome = answer.get("status").and_then(Value::as_str);
    let retcode = answer.get("retcode").and_then(Value::as_i64);
    match (outcome, retcode) {
        // `async` (retcode 1) means queued by the implementation: accepted.
        (Some("ok" | "async"), _) | (None, Some(0 | 1)) => Ok(()),
        (Some(_) | None, Some(code)) => {
            detail = format!("retcode {code}");
            if let Some(w) = &wording {
                detail.push_str(": ");
                detail.push_str(w);
            }
            let failure = if matches!(code, 1400 | 1401 | 1403 | 1404) {
                SendError::permanent("the OneBot implementation refused the message")
            } else {
                SendError::transient("the OneBot implementation could not send the message")
            };
            Err(failure.answered(detail))
        }
        _ => {
            // Why the body is no answer, when it is not even JSON, is kept under the status.
            let cause = match undecodable {
                Some(e) => Cause::wrap(detail, Cause::of(&e)),
                None => Cause::new(detail),
            };
            Err(SendError::transient("the OneBot answer is not an action answer").because(cause))
        }
    }
}

/// The answer to everything we do not act on. OneBot reads 204 (or an empty body) as "no
/// quick operation"; no implementation retries a 2xx.
fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Decodes 40 hex digits, either case (older Lagrange.OneBot sent uppercase).
fn decode_hex_20(hex: &[u8]) -> Option<[u8; 20]> {
    if hex.len() != 40 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 20];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *byte = (digit(*hi)? << 4) | digit(*lo)?;
    }
    Some(out)
}

/// The part of every event that says what it is.
#[derive(Debug, Deserialize)]
struct Head {
    post_type: String,
}

/// A message event: only the fields we read; serde ignores the rest (`font`, `anonymous`, …).
///
/// <https://github.com/botuniverse/onebot-11/blob/master/event/message.md>
#[derive(Debug, Deserialize)]
struct MessageEvent {
    message_type: String,
    #[serde(default)]
    sub_type: Option<String>,
    #[serde(default)]
    time: Option<i64>,
    self_id: Id,
    message_id: Id,
    #[serde(default)]
    group_id: Option<Id>,
    user_id: Id,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    raw_message: Option<String>,
    #[serde(default)]
    sender: Option<Sender>,
}

/// `message`: a CQ-code string or a segment array, depending on the implementation's
/// `post_message_format` / `messagePostFormat`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Message {
    Text(String),
    Segments(Vec<Value>),
}

/// Numbers in the spec; some implementations send them as strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Id {
    Int(i64),
    UInt(u64),
    Text(String),
}

impl Id {
    /// The id as written, if it is sane to use in a key.
    fn text(&self) -> Option<String> {
        let text = match self {
            Self::Int(i) => i.to_string(),
            Self::UInt(u) => u.to_string(),
            Self::Text(s) => s.trim().to_owned(),
        };
        let sane = !text.is_empty()
            && text.chars().count() <= MAX_MESSAGE_ID_CHARS
            && !text.chars().any(char::is_control);
        sane.then_some(text)
    }

    /// The id as a QQ number (group or account).
    fn qq(&self) -> Option<String> {
        self.text().filter(|t| cq::is_qq_number(t))
    }
}

/// `sender`: best effort in every implementation.
#[derive(Debug, Default, Deserialize)]
struct Sender {
    #[serde(default)]
    card: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
}

/// The group card, else the nickname: trimmed, without control characters, bounded.
fn display_name(sender: Option<&Sender>) -> Option<String> {
    let sender = sender?;
    [sender.card.as_deref(), sender.nickname.as_deref()]
        .into_iter()
        .flatten()
        .map(|name| {
            let clean: String = name
                .trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_NAME_CHARS)
                .collect();
            clean.trim().to_owned()
        })
        .find(|name| !name.is_empty())
}

/// A message's text with the bot's mentions taken out.
struct Addressed {
    text: String,
    mentioned: bool,
    /// Whether there was any text at all (images, faces and files alone are not for us).
    has_text: bool,
}

/// Joins the text pieces, removes mentions of `self_id`, and writes other mentions as
/// `@name` so that "@someone 签到" does not read as a bare command.
fn address(pieces: &[cq::Piece], self_id: &str) -> Addressed {
    let mut text = String::new();
    let mut mentioned = false;
    let mut has_text = false;
    for piece in pieces {
        match piece {
            cq::Piece::Text(t) => {
                has_text |= !t.trim().is_empty();
                text.push_str(t);
            }
            cq::Piece::At { qq, .. } if qq == self_id => mentioned = true,
            // @all addresses the group, not the bot.
            cq::Piece::At { qq, .. } if qq == "all" => {}
            cq::Piece::At { qq, name } => {
                let name = name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(qq);
                text.push('@');
                text.push_str(name);
                text.push(' ');
            }
            cq::Piece::Other(_) => {}
        }
    }
    Addressed {
        text: text.trim().to_owned(),
        mentioned,
        has_text,
    }
}

impl Platform for OnebotAdapter {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Onebot
    }

    fn bot(&self) -> &str {
        &self.bot
    }

    /// `X-Signature: sha1=<hex>` over the raw body, compared in constant time; hex in either
    /// case. There is no timestamp, so replays are stopped by message-id dedup only.
    ///
    /// <https://github.com/botuniverse/onebot-11/blob/master/communication/http-post.md#签名>
    fn verify(&self, request: InboundRequest<'_>) -> Result<(), PlatformError> {
        let header = request
            .headers
            .get(SIGNATURE_HEADER)
            .ok_or(PlatformError::Unauthenticated("missing_signature"))?
            .as_bytes();
        let given = header
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case(b"sha1="))
            .and_then(|_| header.get(5..))
            .and_then(decode_hex_20)
            .ok_or(PlatformError::Unauthenticated("bad_signature"))?;
        let expected = self
            .sign(request.body)
            .ok_or(PlatformError::Unauthenticated("bad_signature"))?;
        if bool::from(given.ct_eq(&expected)) {
            Ok(())
        } else {
            Err(PlatformError::Unauthenticated("bad_signature"))
        }
    }

    /// <https://github.com/botuniverse/onebot-11/blob/master/event/message.md>
    fn parse(&self, request: InboundRequest<'_>) -> Result<Inbound, PlatformError> {
        let head: Head = super::parse_json(request.body)?;
        // meta_event (heartbeat, lifecycle), notice, request, NapCat's message_sent.
        if head.post_type != "message" {
            return Ok(Inbound::Immediate(no_content()));
        }
        let event: MessageEvent = super::parse_json(request.body)?;

        let qq = |id: &Id, field: &str| {
            id.qq()
                .ok_or_else(|| PlatformError::Malformed(format!("{field} must be a QQ number")))
        };
        let self_id = qq(&event.self_id, "self_id")?;
        let user_id = qq(&event.user_id, "user_id")?;
        let raw_message_id = event
            .message_id
            .text()
            .ok_or_else(|| PlatformError::Malformed("message_id must be a short id".to_owned()))?;
        let (chat_kind, chat_id) = match event.message_type.as_str() {
            "group" => {
                // `anonymous` senders share one placeholder user id; `notice` is QQ's own
                // system text. Neither is a member speaking.
                if !matches!(event.sub_type.as_deref(), None | Some("normal")) {
                    return Ok(Inbound::Immediate(no_content()));
                }
                let group = event
                    .group_id
                    .as_ref()
                    .ok_or_else(|| PlatformError::Malformed("group_id is required".to_owned()))?;
                (ChatKind::Group, qq(group, "group_id")?)
            }
            "private" => (ChatKind::Private, format!("{PRIVATE_PREFIX}{user_id}")),
            // Guild channels and anything newer: not QQ groups.
            _ => return Ok(Inbound::Immediate(no_content())),
        };
        // Implementations that report the account's own messages would otherwise loop.
        if user_id == self_id {
            return Ok(Inbound::Immediate(no_content()));
        }
        let pieces = match (&event.message, &event.raw_message) {
            (Some(Message::Segments(segments)), _) => cq::parse_segments(segments),
            (Some(Message::Text(text)), _) | (None, Some(text)) => cq::parse_string(text),
            (None, None) => Vec::new(),
        };
        let addressed = address(&pieces, &self_id);
        if !addressed.has_text && !addressed.mentioned {
            return Ok(Inbound::Immediate(no_content()));
        }
        let time = event.time.filter(|t| *t > 0);
        Ok(Inbound::Event(InboundEvent {
            chat: ChatRef {
                platform: PlatformKind::Onebot,
                bot: self.bot.clone(),
                chat_id,
            },
            chat_kind,
            sender_id: user_id,
            sender_name: display_name(event.sender.as_ref()),
            // message_id is only unique within one implementation instance (and int32 ids
            // wrap), so the dedup id also carries the account and the send time.
            message_id: format!("{self_id}:{raw_message_id}:{}", time.unwrap_or(0)),
            text: addressed.text,
            mentioned: addressed.mentioned,
            sent_at: time.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)),
            context: None,
        }))
    }

    /// `reply = "quick"`: the first reply to the event's chat goes in the response as a quick
    /// operation with `at_sender: false` (groups default to true); the rest are deferred.
    /// `reply = "api"`: everything is deferred and the response is 204.
    ///
    /// <https://github.com/botuniverse/onebot-11/blob/master/event/message.md#快速操作>
    fn render_replies(&self, event: &InboundEvent, replies: &[Reply]) -> Rendered {
        let mut inline = None;
        let mut deferred = Vec::new();
        for reply in replies {
            if reply.text.trim().is_empty() {
                tracing::warn!(chat_id = %reply.chat_id, "dropping an empty reply");
                continue;
            }
            if self.reply == OnebotReply::Quick
                && inline.is_none()
                && reply.chat_id == event.chat.chat_id
            {
                inline = Some(reply);
            } else {
                deferred.push(reply.clone());
            }
        }
        let response = match inline {
            Some(reply) => {
                let group = event.chat_kind == ChatKind::Group;
                (
                    StatusCode::OK,
                    Json(json!({
                        "reply": cq::segments(&reply.text, group),
                        "at_sender": false,
                    })),
                )
                    .into_response()
            }
            None => no_content(),
        };
        Rendered { response, deferred }
    }

    fn send<'a>(&'a self, message: &'a OutboundMessage) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(self.send_message(&message.chat_id, &message.text))
    }

    /// No published limits: [`DEFAULT_LIMITS`] unless the bot's `limits` overrides it.
    fn limits(&self) -> SendLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests;
