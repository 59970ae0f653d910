//! The `dingtalk` platform: an enterprise internal app robot (企业内部应用机器人) in HTTP
//! callback mode.
//!
//! - **In:** DingTalk POSTs the message as JSON, with `timestamp` (ms) and `sign` headers
//!   (see [`sign`]). In a group the robot only receives messages that @ it; in a 1:1 chat it
//!   receives everything. There is no URL-verification handshake.
//! - **Replies:** DingTalk documents no reply in the HTTP response, so the webhook answers
//!   `200 {}` and every reply is deferred to the outbox. The event's `context` keeps the
//!   message's `sessionWebhook` and its expiry; [`Platform::send`] posts to it while it is
//!   valid (it needs no token and can @ people) and falls back to the robot OpenAPI after.
//!   The body is not signed, so a sessionWebhook is kept only when it is exactly the
//!   configured send-by-session endpoint plus `?session=…` (see `session_of`), only for a
//!   group conversation, and only for replies to that same conversation: a private chat's
//!   replies always go through the OpenAPI to the user.
//! - **Proactive sends:** `POST {api_base}/v1.0/robot/groupMessages/send` for groups and
//!   `/v1.0/robot/oToMessages/batchSend` for private chats, with an app access token from
//!   `/v1.0/oauth2/accessToken` cached in Redis through [`token::access_token`].
//!
//! Chat ids: a group is its `conversationId` (`cid…`); a private chat is `dm:<userId>` (the
//! sender's `senderStaffId`, or `senderId` for users outside the corp), because the 1:1 send
//! API is addressed by user id, not by conversation.
//!
//! Time: the adapter reads the time from a [`Clock`] given to its constructor, so tests can
//! check the one-hour window and session expiry deterministically; production passes the
//! system clock (DingTalk's timestamps are wall-clock, so the app's test clock would be the
//! wrong reference anyway).
//!
//! <https://open.dingtalk.com/document/orgapp/receive-message>

pub mod api;
pub mod sign;

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use self::api::{ApiOutcome, Outgoing, SessionOutcome};
use super::SettingError;
use super::{
    BoxFuture, ChatKind, ChatRef, Inbound, InboundEvent, InboundRequest, OutboundMessage, Platform,
    PlatformError, PlatformKind, Rendered, Reply, SendError, SendLimits, token,
};
use crate::{
    clock::Clock,
    config::{DingtalkBot, Secret},
    store::Store,
};

/// Prefix of a private chat id: `dm:<userId>`.
pub const PRIVATE_PREFIX: &str = "dm:";
/// The header that carries the app access token on the new OpenAPI.
pub const TOKEN_HEADER: &str = "x-acs-dingtalk-access-token";
/// DingTalk's send-by-session endpoint (the default of `session_webhook_endpoint`).
pub use crate::config::DINGTALK_SESSION_ENDPOINT as SESSION_WEBHOOK_ENDPOINT;
/// Longest `session` value accepted in a sessionWebhook.
const MAX_SESSION_CHARS: usize = 256;
/// A sessionWebhook this close to its expiry is not used: the OpenAPI is safer.
const SESSION_MARGIN_MS: i64 = 30_000;
/// Longest display name kept.
const MAX_NAME_CHARS: usize = 64;
/// Longest id (message, conversation, user) accepted from the wire.
const MAX_ID_CHARS: usize = 256;

/// DingTalk's default sending budget. A robot that sends more than 20 messages a minute is
/// blocked for 10 minutes (platforms.md, pitfall 16), so one chat gets at most 20 a minute
/// (the outbox's chat bucket never bursts past its per-minute figure), and the robot as a
/// whole at most 20 a minute across its chats (`per_bot_per_minute`).
pub const DINGTALK_LIMITS: SendLimits = SendLimits {
    per_chat_per_minute: 20,
    per_bot_per_second: 1,
    per_bot_per_minute: Some(20),
};

/// A configured DingTalk robot.
#[derive(Debug)]
pub struct DingtalkAdapter {
    bot: String,
    app_key: String,
    app_secret: Secret,
    robot_code: String,
    api_base: String,
    /// The exact URL a sessionWebhook must start with (see [`session_of`]); `None` when
    /// sessionWebhooks are turned off and every reply goes through the OpenAPI.
    session_endpoint: Option<String>,
    limits: SendLimits,
    client: reqwest::Client,
    store: Store,
    clock: Arc<dyn Clock>,
}

/// Where a reply to an event can go without a token: kept in [`InboundEvent::context`] and
/// carried by the outbox into [`OutboundMessage::context`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplyContext {
    /// The chat the event came from: the webhook only reaches that chat.
    chat_id: String,
    /// `https://oapi.dingtalk.com/robot/sendBySession?session=…`.
    session_webhook: String,
    /// Milliseconds since the epoch.
    session_webhook_expired_time: i64,
}

/// The robot callback body: only the fields we read.
///
/// <https://open.dingtalk.com/document/orgapp/receive-message>
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Callback {
    #[serde(default)]
    msgtype: Option<String>,
    #[serde(default)]
    text: Option<TextContent>,
    #[serde(default)]
    msg_id: Option<String>,
    #[serde(default)]
    create_at: Option<i64>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    conversation_type: Option<StrOrNum>,
    #[serde(default)]
    sender_staff_id: Option<String>,
    #[serde(default)]
    sender_id: Option<String>,
    #[serde(default)]
    sender_nick: Option<String>,
    #[serde(default)]
    is_in_at_list: Option<bool>,
    #[serde(default)]
    chatbot_user_id: Option<String>,
    #[serde(default)]
    at_users: Option<Vec<AtUser>>,
    #[serde(default)]
    session_webhook: Option<String>,
    #[serde(default)]
    session_webhook_expired_time: Option<i64>,
    /// Set when the body is an encrypted envelope (unconfirmed for HTTP mode).
    #[serde(default)]
    encrypt: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TextContent {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AtUser {
    #[serde(default)]
    dingtalk_id: Option<String>,
}

/// `conversationType` is documented as a string (`"1"`, `"2"`); a number is read the same.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StrOrNum {
    Str(String),
    Num(i64),
}

impl StrOrNum {
    fn chat_kind(&self) -> Option<ChatKind> {
        match self {
            Self::Str(s) if s == "1" => Some(ChatKind::Private),
            Self::Str(s) if s == "2" => Some(ChatKind::Group),
            Self::Num(1) => Some(ChatKind::Private),
            Self::Num(2) => Some(ChatKind::Group),
            _ => None,
        }
    }
}

/// The answer to callbacks we do not act on, and to every event: DingTalk wants a 2xx.
fn acknowledge() -> Response {
    (StatusCode::OK, Json(json!({}))).into_response()
}

/// A required, bounded id field.
fn required_id(value: Option<String>, field: &str) -> Result<String, PlatformError> {
    let value = value.map(|v| v.trim().to_owned()).unwrap_or_default();
    if value.is_empty() {
        return Err(PlatformError::Malformed(format!("{field}: missing")));
    }
    if value.chars().count() > MAX_ID_CHARS || value.chars().any(char::is_control) {
        return Err(PlatformError::Malformed(format!("{field}: not an id")));
    }
    Ok(value)
}

/// `senderNick`, cleaned and bounded; `None` when blank.
fn display_name(nick: Option<&str>) -> Option<String> {
    let name: String = api::clean_text(nick.unwrap_or_default())
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .take(MAX_NAME_CHARS)
        .collect();
    let name = name.trim().to_owned();
    (!name.is_empty()).then_some(name)
}

/// The text with DingTalk's leftovers removed: leading spaces (DingTalk cuts the @bot out but
/// keeps the space after it), and a leading `@<bot name>` some clients leave in. The leading
/// `@word` is only taken for the bot's when the bot is the only one mentioned; with other
/// people mentioned too it may be theirs, and the text is left alone.
fn strip_mention(text: &str, bot_mentioned: bool, others_mentioned: bool) -> String {
    let text = text.trim();
    if bot_mentioned
        && !others_mentioned
        && let Some(rest) = text.strip_prefix('@')
    {
        let after = rest.find(char::is_whitespace).map_or("", |at| &rest[at..]);
        return after.trim().to_owned();
    }
    text.to_owned()
}

/// Checks the `session_webhook_endpoint` setting: an absolute URL in canonical form, with a
/// path and no user info, query or fragment; `https`, or `http` only on a loopback host (a
/// test double). Empty turns sessionWebhooks off (`None`).
fn checked_session_endpoint(raw: &str) -> Result<Option<String>, &'static str> {
    const PROBLEM: &str = "must be an https URL with a path and no query, like \
                           https://oapi.dingtalk.com/robot/sendBySession";
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let url = reqwest::Url::parse(raw).map_err(|_| PROBLEM)?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    // Canonical form, so that the prefix comparison in `session_of` and the parsed one agree.
    if !scheme_ok
        || url.as_str() != raw
        || url.path() == "/"
        || url.path().ends_with('/')
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(PROBLEM);
    }
    Ok(Some(raw.to_owned()))
}

/// The `session` value of a sessionWebhook `url` that is exactly `endpoint?session=<value>`,
/// the value made only of URL-safe characters (letters, digits, `-._~=`), or `None`.
///
/// The callback body is not signed (only its timestamp is), so `url` may come from anyone
/// holding one captured header pair: another host, another path on DingTalk's host (a robot
/// of the sender's own, `robot/send?access_token=…`), a port, user info, percent-encoding or
/// a second parameter are all refused, and the caller falls back to the OpenAPI. The string
/// comparison decides; the parsed comparison after it is a second opinion that would catch a
/// parser disagreeing with it.
fn session_of<'a>(endpoint: &str, url: &'a str) -> Option<&'a str> {
    let session = url.strip_prefix(endpoint)?.strip_prefix("?session=")?;
    let plain = !session.is_empty()
        && session.len() <= MAX_SESSION_CHARS
        && session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'='));
    if !plain {
        return None;
    }
    let (parsed, base) = (
        reqwest::Url::parse(url).ok()?,
        reqwest::Url::parse(endpoint).ok()?,
    );
    let same = parsed.scheme() == base.scheme()
        && parsed.host_str() == base.host_str()
        && parsed.port_or_known_default() == base.port_or_known_default()
        && parsed.path() == base.path()
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.fragment().is_none()
        && parsed.query() == Some(format!("session={session}").as_str());
    same.then_some(session)
}

impl DingtalkAdapter {
    /// Builds the adapter from its `[bots.<name>]` table. Sends go through `client` (shared by
    /// every HTTP adapter); tokens are cached in `store`; `clock` tells the time for the
    /// signature window and session expiry.
    pub fn new(
        bot: &str,
        settings: &DingtalkBot,
        client: reqwest::Client,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SettingError> {
        let missing = |key| SettingError {
            problem: "required",
            bot: bot.to_owned(),
            key,
        };
        let app_key = settings
            .app_key
            .clone()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| missing("app_key"))?;
        let app_secret = settings
            .app_secret
            .clone()
            .filter(|s| !s.expose().is_empty())
            .ok_or_else(|| missing("app_secret"))?;
        // The robot code of an internal app's robot is its app key unless the console says
        // otherwise.
        let robot_code = settings
            .robot_code
            .clone()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| app_key.clone());
        let session_endpoint = checked_session_endpoint(&settings.session_webhook_endpoint)
            .map_err(|problem| SettingError {
                problem,
                bot: bot.to_owned(),
                key: "session_webhook_endpoint",
            })?;
        Ok(Self {
            bot: bot.to_owned(),
            app_key: app_key.trim().to_owned(),
            app_secret,
            robot_code: robot_code.trim().to_owned(),
            api_base: settings.api_base.trim_end_matches('/').to_owned(),
            session_endpoint,
            limits: settings.limits.unwrap_or(DINGTALK_LIMITS),
            client,
            store,
            clock,
        })
    }

    /// The sessionWebhook to post to for `url`, rebuilt from the configured endpoint, or
    /// `None` when `url` is anything but that endpoint with one `session` parameter.
    fn session_webhook(&self, url: &str) -> Option<String> {
        let endpoint = self.session_endpoint.as_deref()?;
        let session = session_of(endpoint, url)?;
        Some(format!("{endpoint}?session={session}"))
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// The reply context of a group callback, when it has a usable sessionWebhook.
    ///
    /// A private chat never gets one. The body is not signed and any robot's session on the
    /// documented endpoint passes the URL check, so a forged 1:1 message "from" the secretary
    /// could name the attacker's own session and receive what is meant for the secretary
    /// alone (a bind code, the roster). Private replies go to the user through the OpenAPI.
    fn reply_context(&self, kind: ChatKind, chat_id: &str, callback: &Callback) -> Option<Value> {
        if kind != ChatKind::Group || chat_id.starts_with(PRIVATE_PREFIX) {
            return None;
        }
        let url = callback.session_webhook.as_deref()?;
        let expires = callback.session_webhook_expired_time?;
        // Turned off: nothing to use and nothing to warn about.
        self.session_endpoint.as_ref()?;
        let Some(session_webhook) = self.session_webhook(url) else {
            // The body is not signed: a replayed or forged callback could name any URL, such
            // as a robot of the sender's own. The URL itself is not logged (a real one is a
            // bearer capability).
            tracing::warn!(
                bot = %self.bot,
                "ignoring a sessionWebhook that is not the send-by-session endpoint; \
                 replies go through the OpenAPI"
            );
            return None;
        };
        serde_json::to_value(ReplyContext {
            chat_id: chat_id.to_owned(),
            session_webhook,
            session_webhook_expired_time: expires,
        })
        .ok()
    }

    /// The sessionWebhook to use for this message, if it answers the group conversation it
    /// goes to and is still valid. Never for a private chat: what goes to one person goes
    /// through the OpenAPI to that user (see `reply_context`).
    ///
    /// The context is checked again here because it comes back from Redis, where an older
    /// version (or an older `session_webhook_endpoint`) may have put it.
    fn usable_session(&self, message: &OutboundMessage) -> Option<ReplyContext> {
        if message.chat_id.starts_with(PRIVATE_PREFIX) {
            return None;
        }
        let mut context: ReplyContext = serde_json::from_value(message.context.clone()?).ok()?;
        if context.chat_id != message.chat_id
            || context.chat_id.starts_with(PRIVATE_PREFIX)
            || context
                .session_webhook_expired_time
                .saturating_sub(SESSION_MARGIN_MS)
                <= self.now_ms()
        {
            return None;
        }
        context.session_webhook = self.session_webhook(&context.session_webhook)?;
        Some(context)
    }

    /// Replaces secrets wherever they might have slipped into a message.
    fn redact(&self, text: &str) -> String {
        let secret = self.app_secret.expose();
        if secret.is_empty() {
            text.to_owned()
        } else {
            text.replace(secret, "<secret>")
        }
    }

    /// A transport error as a send error, without the URL (a sessionWebhook URL is a bearer
    /// capability) and without secrets.
    fn request_error(&self, what: &'static str, error: reqwest::Error) -> SendError {
        super::transport_error(what, error, |text| self.redact(&text))
    }

    /// Posts JSON and returns status, headers and body.
    async fn post(
        &self,
        what: &'static str,
        url: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, Vec<u8>), SendError> {
        let mut request = self.client.post(url).json(body);
        if let Some(token) = token {
            request = request.header(TOKEN_HEADER, token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.request_error(what, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.request_error(what, e))?;
        Ok((status, headers, bytes.to_vec()))
    }

    /// Fetches a new app access token.
    ///
    /// <https://open.dingtalk.com/document/orgapp/obtain-the-access_token-of-an-internal-app>
    async fn fetch_token(&self) -> Result<(String, Duration), SendError> {
        let url = format!("{}/v1.0/oauth2/accessToken", self.api_base);
        let body = json!({"appKey": self.app_key, "appSecret": self.app_secret.expose()});
        let (status, headers, bytes) = self
            .post(
                "the request to the DingTalk token endpoint failed",
                &url,
                None,
                &body,
            )
            .await?;
        api::classify_token(status, &headers, &bytes).map_err(|e| e.redact(|m| self.redact(&m)))
    }

    /// The cached token, or a fresh one when `stale` was just refused.
    async fn token(&self, stale: Option<&str>) -> Result<String, SendError> {
        token::access_token(&self.store, &self.bot, stale, || self.fetch_token()).await
    }

    /// Calls a robot OpenAPI, refreshing the token once if it is refused.
    async fn call_api(&self, path: &str, body: &Value) -> Result<(), SendError> {
        let url = format!("{}{path}", self.api_base);
        let mut token = self.token(None).await?;
        let mut refreshed = false;
        loop {
            let (status, headers, bytes) = self
                .post(
                    "the request to the DingTalk OpenAPI failed",
                    &url,
                    Some(&token),
                    body,
                )
                .await?;
            match api::classify_api(status, &headers, &bytes) {
                ApiOutcome::Sent => return Ok(()),
                ApiOutcome::Failed(e) => return Err(e.redact(|m| self.redact(&m))),
                ApiOutcome::InvalidToken(detail) if refreshed => {
                    return Err(
                        SendError::permanent("DingTalk refused a fresh access token")
                            .answered(format!("{path}: {detail}"))
                            .redact(|m| self.redact(&m)),
                    );
                }
                ApiOutcome::InvalidToken(_) => {
                    token = self.token(Some(&token)).await?;
                    refreshed = true;
                }
            }
        }
    }

    /// Posts to a sessionWebhook (no token; the URL is the credential).
    ///
    /// <https://open.dingtalk.com/document/orgapp/robot-reply-and-send-messages>
    async fn post_session(&self, session: &ReplyContext, out: &Outgoing) -> SessionOutcome {
        let body = api::session_body(out);
        match self
            .post(
                "the request to the DingTalk sessionWebhook failed",
                &session.session_webhook,
                None,
                &body,
            )
            .await
        {
            Ok((status, headers, bytes)) => api::classify_session(status, &headers, &bytes),
            Err(e) => SessionOutcome::Failed(e),
        }
    }

    /// Delivers one message: on the sessionWebhook while it lives, else on the OpenAPI.
    async fn deliver(&self, message: &OutboundMessage) -> Result<(), SendError> {
        let out = Outgoing::render(&message.text);
        if out.is_blank() {
            return Err(SendError::permanent("the message text is empty"));
        }
        if let Some(session) = self.usable_session(message) {
            match self.post_session(&session, &out).await {
                SessionOutcome::Sent => return Ok(()),
                SessionOutcome::Failed(e) => return Err(e.redact(|m| self.redact(&m))),
                SessionOutcome::Expired => {
                    tracing::debug!("sessionWebhook expired early; using the OpenAPI");
                }
            }
        }
        match message.chat_id.strip_prefix(PRIVATE_PREFIX) {
            Some(user_id) if !user_id.is_empty() => {
                // https://open.dingtalk.com/document/orgapp/chatbots-send-one-on-one-chat-messages-in-batches
                let body = api::private_body(&self.robot_code, user_id, &out);
                self.call_api("/v1.0/robot/oToMessages/batchSend", &body)
                    .await
            }
            Some(_) => Err(SendError::permanent("the private chat id names no user")),
            None => {
                // https://open.dingtalk.com/document/orgapp/the-robot-sends-a-group-message
                let body = api::group_body(&self.robot_code, &message.chat_id, &out);
                self.call_api("/v1.0/robot/groupMessages/send", &body).await
            }
        }
    }
}

impl Platform for DingtalkAdapter {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Dingtalk
    }

    fn bot(&self) -> &str {
        &self.bot
    }

    /// <https://open.dingtalk.com/document/orgapp/receive-message> (安全校验)
    fn verify(&self, request: InboundRequest<'_>) -> Result<(), PlatformError> {
        sign::check(
            self.app_secret.expose(),
            request
                .headers
                .get(sign::TIMESTAMP_HEADER)
                .map(|v| v.as_bytes()),
            request.headers.get(sign::SIGN_HEADER).map(|v| v.as_bytes()),
            self.clock.now(),
        )
    }

    /// <https://open.dingtalk.com/document/orgapp/receive-message>
    fn parse(&self, request: InboundRequest<'_>) -> Result<Inbound, PlatformError> {
        let callback: Callback = super::parse_json(request.body)?;

        if callback.encrypt.is_some() && callback.msgtype.is_none() {
            return Err(PlatformError::Malformed(
                "encrypted callbacks are not supported: turn message encryption off for this robot"
                    .to_owned(),
            ));
        }
        // Pictures, files, rich text, audio, cards: nothing to answer.
        if callback.msgtype.as_deref() != Some("text") {
            return Ok(Inbound::Immediate(acknowledge()));
        }
        let Some(chat_kind) = callback
            .conversation_type
            .as_ref()
            .and_then(StrOrNum::chat_kind)
        else {
            return Ok(Inbound::Immediate(acknowledge()));
        };
        let message_id = required_id(callback.msg_id.clone(), "msgId")?;
        let conversation_id = required_id(callback.conversation_id.clone(), "conversationId")?;
        // External and cross-corp users have an empty senderStaffId.
        let staff_id = callback
            .sender_staff_id
            .clone()
            .filter(|s| !s.trim().is_empty());
        let sender_id = required_id(
            staff_id.or_else(|| callback.sender_id.clone()),
            "senderStaffId/senderId",
        )?;
        let content = callback
            .text
            .as_ref()
            .and_then(|t| t.content.as_deref())
            .ok_or_else(|| PlatformError::Malformed("text.content: missing".to_owned()))?;

        let chat_id = match chat_kind {
            // Private chats are `dm:<userId>`: a group named like one (the body is not signed)
            // would share a private chat's id, and its replies would reach that user.
            ChatKind::Group if conversation_id.starts_with(PRIVATE_PREFIX) => {
                return Err(PlatformError::Malformed(
                    "conversationId: not a group conversation id".to_owned(),
                ));
            }
            ChatKind::Group => conversation_id,
            ChatKind::Private => format!("{PRIVATE_PREFIX}{sender_id}"),
        };
        let bot_mentioned = match chat_kind {
            // In a group the robot only hears @-mentions; trust the flag when present.
            ChatKind::Group => callback.is_in_at_list.unwrap_or(true),
            // A 1:1 message is addressed to the robot by definition.
            ChatKind::Private => true,
        };
        let others_mentioned = callback.at_users.as_deref().is_some_and(|users| {
            users.iter().any(|u| {
                u.dingtalk_id.is_some()
                    && u.dingtalk_id.as_deref() != callback.chatbot_user_id.as_deref()
            })
        });
        let text = strip_mention(&api::clean_text(content), bot_mentioned, others_mentioned);
        let context = self.reply_context(chat_kind, &chat_id, &callback);
        Ok(Inbound::Event(InboundEvent {
            chat: ChatRef {
                platform: PlatformKind::Dingtalk,
                bot: self.bot.clone(),
                chat_id,
            },
            chat_kind,
            sender_id,
            sender_name: display_name(callback.sender_nick.as_deref()),
            message_id,
            text,
            mentioned: bot_mentioned,
            sent_at: callback
                .create_at
                .filter(|t| *t > 0)
                .and_then(DateTime::<Utc>::from_timestamp_millis),
            context,
        }))
    }

    /// No reply rides in DingTalk's HTTP response (none is documented), so the answer is
    /// `200 {}` and every reply goes through the outbox to the sessionWebhook or the OpenAPI.
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
        Box::pin(self.deliver(message))
    }

    fn limits(&self) -> SendLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests;
