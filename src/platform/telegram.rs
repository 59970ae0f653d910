//! The `telegram` platform: Bot API `Update` JSON in (proved by the secret-token header), the
//! first reply inline as a `sendMessage` method in the webhook response, and proactive messages
//! through `POST {api_base}/bot<token>/sendMessage`. A bot without a configured `username`
//! learns it once at startup (`getMe`, cached in Redis; see `UsernameLookup`), so that
//! `@botname` in a group is recognised.
//!
//! A message whose sender cannot be told is [`Inbound::Unattributed`], never a command:
//! `sender_chat` set (an anonymous admin posts as the group, others as a channel), `from` one
//! of Telegram's shared service accounts ([`SERVICE_SENDERS`]), a bot, or an automatic
//! forward. Every anonymous admin of every group is the same `from.id`, so binding one would
//! make them all the secretary.
//!
//! Telegram counts text offsets and lengths in UTF-16 code units; every offset that comes from
//! the wire is checked against the text before it is used, so no input can make this panic.
//!
//! Text rule: messages go as plain text (no `parse_mode`), so nothing is markup; but Telegram
//! itself finds `@username` in plain text and makes it a mention that notifies that user. So
//! every `@` of the text gets a zero-width space after it, which no username can start with,
//! and the bot's own mentions (from mention tokens) go as `text_mention` entities over
//! `@name`, naming the user by id. Telegram also makes plain URLs, `#hashtags` and `/commands`
//! clickable; they show exactly what they do, notify no one, and are left as written.

use std::{
    ops::Range,
    sync::{Arc, Mutex, OnceLock, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    BoxFuture, ChatKind, ChatRef, Inbound, InboundEvent, InboundRequest, OutboundMessage, Platform,
    PlatformError, PlatformKind, Rendered, Reply, SendError, SendLimits, SettingError,
    render::{self, Limit},
    token,
};
use crate::{
    config::{Secret, TelegramBot},
    error::Cause,
    store::Store,
};

/// Header carrying the `secret_token` given to `setWebhook`.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Longest message text Telegram accepts, in UTF-16 code units.
const MAX_TEXT_UNITS: usize = 4096;
/// Longest wait we honour from a 429; a longer one is more likely a bug than a real ban.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// The wait when a 429 carries no `retry_after`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Longest display name kept (Telegram allows 64 + 64 characters).
const MAX_NAME_CHARS: usize = 129;
/// Longest platform description copied into a send error.
const MAX_DESCRIPTION_CHARS: usize = 300;
/// How long a lookup of the bot's own username may take (Redis, then `getMe`): the startup
/// waits this long at most, then serves without it.
const USERNAME_LOOKUP_BUDGET: Duration = Duration::from_secs(3);
/// While the username is unknown, a group message starts another lookup in the background at
/// most this often.
const USERNAME_RETRY_EVERY: Duration = Duration::from_secs(60);
/// Longest username Telegram gives a bot.
const MAX_USERNAME_CHARS: usize = 32;
/// Service accounts Telegram puts in `from` for messages no single person is known to have
/// sent: `GroupAnonymousBot` (every anonymous group admin), `Channel_Bot` (every post "as a
/// channel") and `Telegram` (777000, automatic forwards from a linked channel).
///
/// <https://core.telegram.org/bots/api#message> (`from`, `sender_chat`)
pub const SERVICE_SENDERS: [i64; 3] = [1_087_968_824, 136_817_688, 777_000];

/// A configured Telegram bot.
#[derive(Debug)]
pub struct TelegramAdapter {
    bot: String,
    token: Secret,
    secret_token: Secret,
    /// The bot's @username without `@`, when configured.
    username: Option<String>,
    /// Otherwise, where it is learned from `getMe` (cached in Redis).
    lookup: Option<Arc<UsernameLookup>>,
    /// The bot's own user id: the digits before `:` in its token.
    bot_user_id: Option<i64>,
    api_base: String,
    limits: SendLimits,
    client: reqwest::Client,
}

impl TelegramAdapter {
    /// Builds the adapter from its `[bots.<name>]` table; sends go through `client` (shared by
    /// every HTTP adapter, so connections are pooled).
    pub fn new(
        bot: &str,
        settings: &TelegramBot,
        client: reqwest::Client,
        store: Store,
    ) -> Result<Self, SettingError> {
        let missing = |key| SettingError {
            problem: "required and must not be empty",
            bot: bot.to_owned(),
            key,
        };
        let token = settings
            .token
            .clone()
            .filter(|t| !t.expose().is_empty())
            .ok_or_else(|| missing("token"))?;
        // An empty secret_token would match a request that sends an empty header.
        let secret_token = settings
            .secret_token
            .clone()
            .filter(|t| !t.expose().is_empty())
            .ok_or_else(|| missing("secret_token"))?;
        // Operators paste the name as BotFather shows it, with or without the `@`.
        let username = settings
            .username
            .as_deref()
            .map(|u| u.trim().trim_start_matches('@').to_owned())
            .filter(|u| !u.is_empty());
        // A token reads `<bot user id>:<secret>`, so the id needs no `getMe` round trip.
        // https://core.telegram.org/bots/api#authorizing-your-bot
        let bot_user_id = token
            .expose()
            .split_once(':')
            .and_then(|(id, _)| id.parse::<i64>().ok());
        let api_base = settings.api_base.trim_end_matches('/').to_owned();
        let lookup = username.is_none().then(|| {
            Arc::new(UsernameLookup {
                bot: bot.to_owned(),
                token: token.clone(),
                bot_user_id,
                api_base: api_base.clone(),
                client: client.clone(),
                store,
                name: OnceLock::new(),
                last_try: Mutex::new(None),
            })
        });
        Ok(Self {
            bot: bot.to_owned(),
            token,
            secret_token,
            username,
            lookup,
            bot_user_id,
            api_base,
            limits: settings.limits.unwrap_or(SendLimits::TELEGRAM),
            client,
        })
    }

    /// The bot's @username without `@`: configured, or learned from `getMe`.
    fn username(&self) -> Option<&str> {
        self.username
            .as_deref()
            .or_else(|| self.lookup.as_ref()?.name.get().map(String::as_str))
    }

    /// Whether `user` is this bot, by username (case-insensitive, as Telegram treats them) or
    /// by the id in the token.
    fn is_me(&self, user: &User) -> bool {
        let by_name = matches!(
            (self.username(), &user.username),
            (Some(mine), Some(theirs)) if mine.eq_ignore_ascii_case(theirs)
        );
        by_name || self.bot_user_id.is_some_and(|id| id == user.id)
    }

    /// Replaces the token wherever it might have slipped into a message.
    fn redact(&self, text: &str) -> String {
        let token = self.token.expose();
        if token.is_empty() {
            text.to_owned()
        } else {
            text.replace(token, "<token>")
        }
    }

    /// Calls `sendMessage` and classifies the outcome for the outbox.
    ///
    /// <https://core.telegram.org/bots/api#sendmessage>
    async fn send_message(&self, chat_id: &str, text: &str) -> Result<(), SendError> {
        let Some(body) = send_message_body(chat_id, text) else {
            // Telegram answers 400 "message text is empty"; no need to ask.
            return Err(SendError::permanent("the message text is empty"));
        };
        let url = format!("{}/bot{}/sendMessage", self.api_base, self.token.expose());
        let response = self
            .client
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.request_error(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.request_error(e))?;
        classify_response(status, &bytes).map_err(|e| e.redact(|m| self.redact(&m)))
    }

    /// Turns a transport error into a send error. reqwest puts the URL, and so the token, into
    /// its errors; it is removed before anything is formatted.
    fn request_error(&self, error: reqwest::Error) -> SendError {
        super::transport_error("the request to Telegram failed", error, |text| {
            self.redact(&text)
        })
    }
}

/// `Update`: only the fields we read; serde ignores the rest.
///
/// <https://core.telegram.org/bots/api#update>
#[derive(Debug, Deserialize)]
struct Update {
    update_id: i64,
    #[serde(default)]
    message: Option<Message>,
}

/// <https://core.telegram.org/bots/api#message>
#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    from: Option<User>,
    /// Set when the message was sent on behalf of a chat (an anonymous admin: the group
    /// itself; a channel; a linked channel's automatic forward).
    #[serde(default)]
    sender_chat: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    is_automatic_forward: Option<bool>,
    #[serde(default)]
    date: Option<i64>,
    chat: Chat,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    entities: Option<Vec<Entity>>,
    #[serde(default)]
    reply_to_message: Option<RepliedTo>,
}

/// The part of `reply_to_message` that tells whether the reply is to the bot.
#[derive(Debug, Deserialize)]
struct RepliedTo {
    #[serde(default)]
    from: Option<User>,
}

/// <https://core.telegram.org/bots/api#user>
#[derive(Debug, Deserialize)]
struct User {
    id: i64,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

/// <https://core.telegram.org/bots/api#chat>
#[derive(Debug, Deserialize)]
struct Chat {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
}

/// <https://core.telegram.org/bots/api#messageentity>
#[derive(Debug, Deserialize)]
struct Entity {
    #[serde(rename = "type")]
    kind: String,
    // Signed and wide so that a nonsense value is ignored rather than refused.
    offset: i64,
    length: i64,
    #[serde(default)]
    user: Option<User>,
}

/// The Bot API's answer to a method call.
///
/// <https://core.telegram.org/bots/api#making-requests>
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ApiResponse {
    ok: bool,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<ResponseParameters>,
}

/// <https://core.telegram.org/bots/api#responseparameters>
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResponseParameters {
    retry_after: Option<i64>,
    migrate_to_chat_id: Option<i64>,
}

/// The answer to updates we do not act on: 200, so Telegram does not redeliver them.
fn acknowledge() -> Response {
    (StatusCode::OK, Json(json!({}))).into_response()
}

/// A chat id as the Bot API wants it: a number, or a string for `@channelusername`.
fn chat_id_value(chat_id: &str) -> Value {
    chat_id
        .parse::<i64>()
        .map_or_else(|_| Value::String(chat_id.to_owned()), Value::from)
}

/// Telegram's escape for plain text: a zero-width space after every `@`, so that no
/// `@username` in it is found and made a mention.
fn escape(text: &str) -> String {
    render::break_after(text, |c| c == '@')
}

/// A message's text and entities: the text escaped and cut to 4096 UTF-16 units, each mention
/// token as `@name` under a `text_mention` entity for the user's numeric id (a token with
/// another id stays inert text).
///
/// <https://core.telegram.org/bots/api#messageentity>
pub(super) fn render_text(text: &str) -> (String, Vec<Value>) {
    let pieces = render::render(text, Limit::utf16(MAX_TEXT_UNITS), escape, |_, name| {
        format!("@{}{}", render::ZWSP, escape(name))
    });
    let mut out = String::new();
    let mut entities = Vec::new();
    let mut offset = 0;
    for piece in pieces {
        let units = piece.text.encode_utf16().count();
        let user = piece
            .mentions
            .as_deref()
            .and_then(|id| id.parse::<i64>().ok())
            .filter(|id| *id > 0);
        if let Some(id) = user {
            let user = json!({ "id": id });
            let kind = "text_mention";
            entities.push(json!({"type": kind, "offset": offset, "length": units, "user": user}));
        }
        offset += units;
        out.push_str(&piece.text);
    }
    (out, entities)
}

/// The `sendMessage` parameters for a text, or `None` when it renders to nothing.
fn send_message_body(chat_id: &str, text: &str) -> Option<serde_json::Map<String, Value>> {
    let (text, entities) = render_text(text);
    if text.trim().is_empty() {
        return None;
    }
    let mut body = serde_json::Map::new();
    body.insert("chat_id".to_owned(), chat_id_value(chat_id));
    body.insert("text".to_owned(), Value::String(text));
    if !entities.is_empty() {
        body.insert("entities".to_owned(), Value::Array(entities));
    }
    Some(body)
}

/// `first_name last_name`, trimmed and bounded; `None` when blank.
fn display_name(user: &User) -> Option<String> {
    let full = match user.last_name.as_deref().map(str::trim) {
        Some(last) if !last.is_empty() => format!("{} {last}", user.first_name.trim()),
        _ => user.first_name.trim().to_owned(),
    };
    let full: String = full
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    (!full.is_empty()).then_some(full)
}

/// Maps UTF-16 offsets of a text to byte offsets, for the offsets that fall on a character
/// boundary.
struct Utf16Index {
    /// `(utf16 offset, byte offset)` of every character start, then of the end.
    bounds: Vec<(usize, usize)>,
}

impl Utf16Index {
    fn new(text: &str) -> Self {
        let mut bounds = Vec::with_capacity(text.len() + 1);
        let mut units = 0;
        for (byte, c) in text.char_indices() {
            bounds.push((units, byte));
            units += c.len_utf16();
        }
        bounds.push((units, text.len()));
        Self { bounds }
    }

    fn byte(&self, units: usize) -> Option<usize> {
        let at = self.bounds.binary_search_by_key(&units, |&(u, _)| u).ok()?;
        self.bounds.get(at).map(|&(_, b)| b)
    }

    /// The byte range of an entity, if it lies inside the text on character boundaries and is
    /// not empty.
    fn range(&self, offset: i64, length: i64) -> Option<Range<usize>> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(length).ok()?)?;
        let range = self.byte(start)?..self.byte(end)?;
        (range.start < range.end).then_some(range)
    }
}

/// A message text with the bot's mentions taken out.
#[derive(Debug, PartialEq, Eq)]
struct Addressed {
    text: String,
    /// The bot was @-mentioned or given a `/cmd@bot`.
    mentioned: bool,
    /// The message opens with a command for another bot.
    for_another_bot: bool,
}

impl TelegramAdapter {
    /// Removes `@bot` mentions and the `@bot` of `/cmd@bot`, using the message's entities.
    ///
    /// <https://core.telegram.org/bots/api#messageentity>
    fn address(&self, text: &str, entities: &[Entity]) -> Addressed {
        let index = Utf16Index::new(text);
        let mut cuts: Vec<Range<usize>> = Vec::new();
        let mut mentioned = false;
        let mut for_another_bot = false;
        for entity in entities {
            let Some(range) = index.range(entity.offset, entity.length) else {
                continue;
            };
            let Some(slice) = text.get(range.clone()) else {
                continue;
            };
            let is_my_name = |name: &str| {
                self.username()
                    .is_some_and(|mine| mine.eq_ignore_ascii_case(name))
            };
            match entity.kind.as_str() {
                "mention" if is_my_name(slice.strip_prefix('@').unwrap_or(slice)) => {
                    cuts.push(range);
                    mentioned = true;
                }
                "text_mention" if entity.user.as_ref().is_some_and(|u| self.is_me(u)) => {
                    cuts.push(range);
                    mentioned = true;
                }
                "bot_command" => {
                    let Some((command, target)) = slice.split_once('@') else {
                        continue;
                    };
                    // The `@target` part, which is what gets cut.
                    let at = range.start + command.len();
                    match self.username() {
                        Some(mine) if mine.eq_ignore_ascii_case(target) => {
                            cuts.push(at..range.end);
                            mentioned = true;
                        }
                        // Commands in a group with several bots name their bot; one that
                        // opens the message and names another bot is not for us.
                        Some(_) => for_another_bot |= range.start == 0,
                        // Without a configured username we cannot tell; assume it is us so
                        // that the command still works.
                        None => cuts.push(at..range.end),
                    }
                }
                _ => {}
            }
        }
        cuts.sort_by_key(|r| r.start);
        let mut out = String::with_capacity(text.len());
        let mut from = 0;
        for cut in cuts {
            // Entities may overlap in hostile input; a cut already covered is skipped.
            if cut.start < from {
                continue;
            }
            out.push_str(text.get(from..cut.start).unwrap_or_default());
            from = cut.end;
        }
        out.push_str(text.get(from..).unwrap_or_default());
        Addressed {
            text: out.trim().to_owned(),
            mentioned,
            for_another_bot,
        }
    }
}

/// Where a bot without a configured `username` learns it: Redis (what a replica learned
/// within a day), else `getMe`. Tried once at startup ([`Platform::prepare`]), and again in
/// the background, at most once per [`USERNAME_RETRY_EVERY`], when a group message arrives
/// while it is still unknown; until then `@mentions` of the bot are not recognised (commands
/// typed without one work as always).
#[derive(Debug)]
struct UsernameLookup {
    bot: String,
    token: Secret,
    bot_user_id: Option<i64>,
    api_base: String,
    client: reqwest::Client,
    store: Store,
    /// The name, once learned.
    name: OnceLock<String>,
    /// When the last lookup started.
    last_try: Mutex<Option<Instant>>,
}

/// Why the bot's username could not be learned.
#[derive(Debug, thiserror::Error)]
enum UsernameError {
    /// The request did not get an answer (the text is redacted of the token).
    #[error("getMe failed")]
    Request(#[source] SendError),
    /// Telegram answered, but not with a usable name.
    #[error("getMe answered HTTP {status} without a usable username")]
    Unusable { status: u16 },
    /// The answer was about another bot than the token's.
    #[error("getMe answered for bot {0}, not the one the token names")]
    OtherBot(i64),
    /// The lookup took longer than its budget.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// `getMe`'s `result`: only the fields we read.
///
/// <https://core.telegram.org/bots/api#getme>
#[derive(Debug, Deserialize)]
struct Me {
    id: i64,
    username: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GetMeAnswer {
    ok: bool,
    result: Option<Me>,
}

/// A bot username as Telegram issues them: letters, digits and `_`, at most 32.
fn usable_username(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_USERNAME_CHARS
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl UsernameLookup {
    /// Records that a lookup starts now; false when one started within
    /// [`USERNAME_RETRY_EVERY`].
    fn mark_tried_unless_recent(&self, now: Instant) -> bool {
        let mut last = self.last_try.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| now.saturating_duration_since(t) < USERNAME_RETRY_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }

    fn mark_tried(&self) {
        *self.last_try.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    /// Starts a lookup in the background unless one started recently (or there is no
    /// runtime to run it on, as in a unit test).
    fn retry_in_background(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.mark_tried_unless_recent(Instant::now()) {
            let lookup = Arc::clone(self);
            runtime.spawn(async move { lookup.attempt().await });
        }
    }

    /// One bounded lookup; the outcome is logged, never returned.
    async fn attempt(&self) {
        let outcome = tokio::time::timeout(USERNAME_LOOKUP_BUDGET, self.learn())
            .await
            .unwrap_or(Err(UsernameError::Timeout(USERNAME_LOOKUP_BUDGET)));
        match outcome {
            Ok(name) => {
                tracing::info!(bot = %self.bot, username = %name, "learned the bot's username")
            }
            Err(e) => tracing::warn!(
                bot = %self.bot,
                error.cause_chain = %crate::error::Chain(&e),
                "could not learn the bot's username; @mentions of it in groups are not recognised \
                 until a later try (set username in its [bots.*] table to skip the lookup)"
            ),
        }
    }

    /// Redis first, then `getMe`; what `getMe` says is cached for every replica.
    async fn learn(&self) -> Result<String, UsernameError> {
        if let Some(name) = self.name.get() {
            return Ok(name.clone());
        }
        match token::cached_bot_username(&self.store, &self.bot).await {
            Ok(Some(name)) if usable_username(&name) => {
                return Ok(self.name.get_or_init(|| name).clone());
            }
            Ok(_) => {}
            // Redis is only a cache here; Telegram can still answer.
            Err(e) => {
                tracing::warn!(bot = %self.bot, error.cause_chain = %crate::error::Chain(&e), "bot username cache unavailable")
            }
        }
        let name = self.get_me().await?;
        if let Err(e) = token::cache_bot_username(&self.store, &self.bot, &name).await {
            tracing::warn!(bot = %self.bot, error.cause_chain = %crate::error::Chain(&e), "could not cache the bot's username");
        }
        Ok(self.name.get_or_init(|| name).clone())
    }

    /// `GET /bot<token>/getMe`.
    ///
    /// <https://core.telegram.org/bots/api#getme>
    async fn get_me(&self) -> Result<String, UsernameError> {
        let redact = |text: String| text.replace(self.token.expose(), "<token>");
        let request_error = |e| {
            UsernameError::Request(super::transport_error(
                "the request to Telegram failed",
                e,
                redact,
            ))
        };
        let response = self
            .client
            .get(format!(
                "{}/bot{}/getMe",
                self.api_base,
                self.token.expose()
            ))
            .send()
            .await
            .map_err(request_error)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(request_error)?;
        let unusable = || UsernameError::Unusable {
            status: status.as_u16(),
        };
        let answer: GetMeAnswer = serde_json::from_slice(&bytes).map_err(|_| unusable())?;
        let me = answer
            .result
            .filter(|_| answer.ok && status.is_success())
            .ok_or_else(unusable)?;
        if self.bot_user_id.is_some_and(|id| id != me.id) {
            return Err(UsernameError::OtherBot(me.id));
        }
        me.username
            .filter(|n| usable_username(n))
            .ok_or_else(unusable)
    }
}

/// Reads a Bot API answer: `ok` is success, 429 a wait, 5xx worth a retry, 4xx final.
///
/// <https://core.telegram.org/bots/api#making-requests>
fn classify_response(status: StatusCode, body: &[u8]) -> Result<(), SendError> {
    let (answer, undecodable) = match serde_json::from_slice::<ApiResponse>(body) {
        Ok(answer) => (answer, None),
        Err(e) => (ApiResponse::default(), Some(e)),
    };
    if status.is_success() && answer.ok {
        return Ok(());
    }
    let params = answer.parameters.unwrap_or_default();
    if status == StatusCode::TOO_MANY_REQUESTS || answer.error_code == Some(429) {
        let retry_after = params
            .retry_after
            .and_then(|s| u64::try_from(s).ok())
            .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs)
            .clamp(DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER);
        return Err(SendError::RateLimited { retry_after });
    }
    let mut detail = format!("HTTP {}", status.as_u16());
    if let Some(description) = answer.description {
        detail.push_str(": ");
        detail.extend(description.chars().take(MAX_DESCRIPTION_CHARS));
    }
    if let Some(new_id) = params.migrate_to_chat_id {
        // The group became a supergroup; the old id is dead for good.
        detail.push_str(&format!(" (chat migrated to {new_id})"));
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        Err(SendError::transient("Telegram could not take the message").answered(detail))
    } else if status.is_client_error() {
        // 400 chat not found, 401 bad token, 403 bot blocked or kicked, 404 unknown token.
        Err(SendError::permanent("Telegram refused the message").answered(detail))
    } else {
        // A 2xx without `ok`, or a redirect we do not follow: not what the Bot API answers,
        // most likely a proxy in between; retrying is the cautious choice. Why the body was
        // not an answer (not JSON, a field of the wrong type) is kept under the status.
        let cause = match undecodable {
            Some(e) => Cause::wrap(detail, Cause::of(&e)),
            None => Cause::new(detail),
        };
        Err(SendError::transient("Telegram's answer is not a Bot API answer").because(cause))
    }
}

impl Platform for TelegramAdapter {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Telegram
    }

    fn bot(&self) -> &str {
        &self.bot
    }

    /// <https://core.telegram.org/bots/api#setwebhook> (`secret_token`)
    fn verify(&self, request: InboundRequest<'_>) -> Result<(), PlatformError> {
        super::check_secret_header(request, SECRET_HEADER, self.secret_token.expose())
    }

    /// <https://core.telegram.org/bots/api#update>
    fn parse(&self, request: InboundRequest<'_>) -> Result<Inbound, PlatformError> {
        let update: Update = super::parse_json(request.body)?;

        // Edits, callback queries, channel posts, member updates: nothing to answer.
        let Some(message) = update.message else {
            return Ok(Inbound::Immediate(acknowledge()));
        };
        let chat_kind = match message.chat.kind.as_str() {
            "group" | "supergroup" => ChatKind::Group,
            "private" => ChatKind::Private,
            _ => return Ok(Inbound::Immediate(acknowledge())),
        };
        // Service messages (joins, migrations) and media carry no text.
        let (Some(text), Some(from)) = (message.text, message.from) else {
            return Ok(Inbound::Immediate(acknowledge()));
        };
        // Who really sent it is unknown: a service account shared by many (every anonymous
        // admin is one user id), a chat, or a bot. Bound to nobody, so never run.
        let unattributed = message.sender_chat.is_some()
            || message.is_automatic_forward == Some(true)
            || from.is_bot
            || SERVICE_SENDERS.contains(&from.id);
        if chat_kind == ChatKind::Group
            && self.username().is_none()
            && let Some(lookup) = &self.lookup
        {
            // This message is read without the name; later ones may have it.
            lookup.retry_in_background();
        }
        let addressed = self.address(&text, message.entities.as_deref().unwrap_or_default());
        if addressed.for_another_bot {
            return Ok(Inbound::Immediate(acknowledge()));
        }
        let replied_to_me = message
            .reply_to_message
            .and_then(|r| r.from)
            .is_some_and(|u| self.is_me(&u));
        let event = InboundEvent {
            chat: ChatRef {
                platform: PlatformKind::Telegram,
                bot: self.bot.clone(),
                chat_id: message.chat.id.to_string(),
            },
            chat_kind,
            sender_id: from.id.to_string(),
            sender_name: display_name(&from),
            // `update_id` is what Telegram redelivers unchanged; `message_id` is only unique
            // per chat.
            message_id: update.update_id.to_string(),
            text: addressed.text,
            mentioned: addressed.mentioned || replied_to_me,
            sent_at: message
                .date
                .filter(|d| *d > 0)
                .and_then(|d| DateTime::<Utc>::from_timestamp(d, 0)),
            context: None,
        };
        Ok(if unattributed {
            Inbound::Unattributed(event)
        } else {
            Inbound::Event(event)
        })
    }

    /// Telegram takes one method call in the webhook response, so the first reply to the
    /// event's chat goes there and the rest are deferred to the outbox.
    ///
    /// <https://core.telegram.org/bots/faq#how-can-i-make-requests-in-response-to-updates>
    fn render_replies(&self, event: &InboundEvent, replies: &[Reply]) -> Rendered {
        let mut inline = None;
        let mut deferred = Vec::new();
        for reply in replies {
            let body = send_message_body(&reply.chat_id, &reply.text);
            let Some(mut body) = body else {
                // Telegram refuses empty text on every route; sending it would only fail later.
                tracing::warn!(chat_id = %reply.chat_id, "dropping an empty reply");
                continue;
            };
            if inline.is_none() && reply.chat_id == event.chat.chat_id {
                body.insert("method".to_owned(), Value::from("sendMessage"));
                inline = Some(body);
            } else {
                deferred.push(reply.clone());
            }
        }
        let response = match inline {
            Some(body) => (StatusCode::OK, Json(Value::Object(body))).into_response(),
            None => acknowledge(),
        };
        Rendered { response, deferred }
    }

    fn send<'a>(&'a self, message: &'a OutboundMessage) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(self.send_message(&message.chat_id, &message.text))
    }

    /// <https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this>
    fn prepare(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            if let Some(lookup) = &self.lookup {
                lookup.mark_tried();
                lookup.attempt().await;
            }
        })
    }

    fn limits(&self) -> SendLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use axum::{
        body::{Bytes, to_bytes},
        http::{HeaderMap, HeaderValue},
    };

    use super::*;
    use crate::config::{Settings, Sources};
    use crate::error::chain;

    const TOKEN: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";

    /// The store is lazy (these tests never reach Redis) but must be made inside a runtime.
    static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> =
        std::sync::LazyLock::new(|| tokio::runtime::Runtime::new().unwrap());

    fn store() -> Store {
        let settings = Settings::load(&Sources::default()).unwrap();
        let _inside = RUNTIME.enter();
        Store::new(&settings.redis).unwrap()
    }

    fn new_adapter(settings: &TelegramBot) -> Result<TelegramAdapter, SettingError> {
        TelegramAdapter::new("tg", settings, reqwest::Client::new(), store())
    }
    const SECRET: &str = "s3cret-Token_1";

    fn settings(username: Option<&str>) -> TelegramBot {
        TelegramBot {
            token: Some(Secret::new(TOKEN)),
            secret_token: Some(Secret::new(SECRET)),
            username: username.map(str::to_owned),
            api_base: "http://127.0.0.1:9".to_owned(),
            names: Vec::new(),
            limits: None,
        }
    }

    fn adapter() -> TelegramAdapter {
        new_adapter(&settings(Some("mybot"))).unwrap()
    }

    #[test]
    fn only_names_telegram_could_issue_are_taken_from_get_me() {
        for (name, ok) in [
            ("branch_helper_bot", true),
            ("Bot5", true),
            ("", false),
            ("with space", false),
            ("@mybot", false),
            ("名字bot", false),
            (&"a".repeat(33), false),
        ] {
            assert_eq!(usable_username(name), ok, "{name:?}");
        }
    }

    #[test]
    fn a_lookup_is_retried_at_most_once_a_minute() {
        let a = new_adapter(&settings(None)).unwrap();
        let lookup = a.lookup.as_ref().unwrap();
        let start = Instant::now();
        assert!(lookup.mark_tried_unless_recent(start));
        assert!(!lookup.mark_tried_unless_recent(start + Duration::from_secs(59)));
        assert!(lookup.mark_tried_unless_recent(start + USERNAME_RETRY_EVERY));
        // A configured name needs no lookup at all.
        assert!(
            new_adapter(&settings(Some("mybot")))
                .unwrap()
                .lookup
                .is_none()
        );
    }

    fn headers(secret: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(s) = secret {
            h.insert(SECRET_HEADER, HeaderValue::from_str(s).unwrap());
        }
        h
    }

    fn parse_with(a: &TelegramAdapter, body: &[u8]) -> Result<Inbound, PlatformError> {
        let headers = HeaderMap::new();
        let body = Bytes::copy_from_slice(body);
        a.parse(InboundRequest::post(&headers, &body))
    }

    fn event(body: &Value) -> InboundEvent {
        match parse_with(&adapter(), body.to_string().as_bytes()) {
            Ok(Inbound::Event(e)) => e,
            other => panic!("expected an event from {body}: {other:?}"),
        }
    }

    /// A group text message as Telegram sends it.
    fn group_update(update_id: i64, text: &str, entities: Value) -> Value {
        json!({
            "update_id": update_id,
            "message": {
                "message_id": 77,
                "from": {"id": 42, "is_bot": false, "first_name": "三", "last_name": "张",
                         "username": "zhang", "language_code": "zh-hans"},
                "chat": {"id": -1001234567890_i64, "title": "支部群", "type": "supergroup"},
                "date": 1_767_225_600,
                "text": text,
                "entities": entities,
            }
        })
    }

    async fn body_json(response: Response) -> (StatusCode, Option<String>, Value) {
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (
            status,
            content_type,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[test]
    fn an_empty_token_or_secret_token_is_refused_at_construction() {
        for key in ["token", "secret_token"] {
            let mut s = settings(None);
            if key == "token" {
                s.token = Some(Secret::new(""));
            } else {
                s.secret_token = Some(Secret::new(""));
            }
            let e = new_adapter(&s).unwrap_err();
            assert_eq!(e.key, key);
        }
    }

    #[test]
    fn verify_needs_the_exact_secret_header() {
        let a = adapter();
        let body = Bytes::new();
        let check = |h: &HeaderMap| a.verify(InboundRequest::post(h, &body));
        for missing in [None, Some("")] {
            assert!(matches!(
                check(&headers(missing)),
                Err(PlatformError::Unauthenticated("missing_secret"))
            ));
        }
        for wrong in ["wrong", "s3cret-Token_", "s3cret-Token_12"] {
            assert!(
                matches!(
                    check(&headers(Some(wrong))),
                    Err(PlatformError::Unauthenticated("bad_secret"))
                ),
                "{wrong}"
            );
        }
        assert!(check(&headers(Some(SECRET))).is_ok());
    }

    #[test]
    fn a_group_mention_is_stripped_and_marks_the_event_mentioned() {
        let e = event(&group_update(
            9001,
            "@mybot 帮助",
            json!([{"type": "mention", "offset": 0, "length": 6}]),
        ));
        assert_eq!(e.text, "帮助");
        assert!(e.mentioned);
        assert_eq!(e.chat.chat_id, "-1001234567890");
        assert_eq!(e.chat.platform, PlatformKind::Telegram);
        assert_eq!(e.chat.bot, "tg");
        assert_eq!(e.chat_kind, ChatKind::Group);
        assert_eq!(e.sender_id, "42");
        assert_eq!(e.sender_name.as_deref(), Some("三 张"));
        assert_eq!(e.message_id, "9001");
        assert_eq!(e.sent_at, DateTime::<Utc>::from_timestamp(1_767_225_600, 0));
    }

    #[test]
    fn parse_table() {
        struct Case {
            what: &'static str,
            update: Value,
            text: &'static str,
            mentioned: bool,
        }
        let cases = [
            Case {
                what: "command to this bot loses its @suffix",
                update: group_update(
                    1,
                    "/帮助@mybot",
                    json!([{"type": "bot_command", "offset": 0, "length": 9}]),
                ),
                text: "/帮助",
                mentioned: true,
            },
            Case {
                what: "a command later in the text loses only its @suffix",
                update: group_update(
                    16,
                    "请 /帮助@mybot 会议",
                    json!([{"type": "bot_command", "offset": 2, "length": 9}]),
                ),
                text: "请 /帮助 会议",
                mentioned: true,
            },
            Case {
                what: "usernames compare case-insensitively",
                update: group_update(
                    2,
                    "签到 @MyBot",
                    json!([{"type": "mention", "offset": 3, "length": 6}]),
                ),
                text: "签到",
                mentioned: true,
            },
            Case {
                what: "a mention of someone else stays",
                update: group_update(
                    3,
                    "@other 帮助",
                    json!([{"type": "mention", "offset": 0, "length": 6}]),
                ),
                text: "@other 帮助",
                mentioned: false,
            },
            Case {
                what: "plain text, no entities",
                update: json!({"update_id": 4, "message": {
                    "message_id": 1, "date": 1, "text": "  我的 ",
                    "from": {"id": 5, "first_name": "Li"},
                    "chat": {"id": -5, "type": "group"}}}),
                text: "我的",
                mentioned: false,
            },
            Case {
                // 👍 is two UTF-16 units: the mention starts at unit 3, byte 5.
                what: "emoji before the mention",
                update: group_update(
                    5,
                    "👍 @mybot 签到",
                    json!([{"type": "mention", "offset": 3, "length": 6}]),
                ),
                text: "👍  签到",
                mentioned: true,
            },
            Case {
                what: "a text_mention of the bot's id",
                update: group_update(
                    6,
                    "Bot 帮助",
                    json!([{"type": "text_mention", "offset": 0, "length": 3,
                            "user": {"id": 123456, "is_bot": true, "first_name": "Bot"}}]),
                ),
                text: "帮助",
                mentioned: true,
            },
            Case {
                what: "offsets out of range are ignored",
                update: group_update(
                    7,
                    "@mybot 帮助",
                    json!([
                        {"type": "mention", "offset": 5, "length": 100},
                        {"type": "mention", "offset": -1, "length": 6},
                        {"type": "mention", "offset": 9_223_372_036_854_775_807_i64, "length": 9_223_372_036_854_775_807_i64},
                        {"type": "mention", "offset": 0, "length": -6},
                    ]),
                ),
                text: "@mybot 帮助",
                mentioned: false,
            },
            Case {
                // Unit 1 is the middle of 👍's surrogate pair.
                what: "an offset inside a surrogate pair is ignored",
                update: group_update(
                    8,
                    "👍@mybot",
                    json!([{"type": "mention", "offset": 1, "length": 7}]),
                ),
                text: "👍@mybot",
                mentioned: false,
            },
            Case {
                what: "overlapping entities cut once",
                update: group_update(
                    9,
                    "@mybot 帮助",
                    json!([{"type": "mention", "offset": 0, "length": 6},
                           {"type": "mention", "offset": 0, "length": 6}]),
                ),
                text: "帮助",
                mentioned: true,
            },
        ];
        for case in cases {
            let e = event(&case.update);
            assert_eq!(e.text, case.text, "{}", case.what);
            assert_eq!(e.mentioned, case.mentioned, "{}", case.what);
        }
    }

    #[test]
    fn a_private_chat_is_private_and_keyed_by_the_user() {
        let e = event(&json!({"update_id": 10, "message": {
            "message_id": 3, "date": 1_767_225_600, "text": "我的",
            "from": {"id": 987654321, "first_name": "Alice", "last_name": " "},
            "chat": {"id": 987654321, "first_name": "Alice", "type": "private"}}}));
        assert_eq!(e.chat_kind, ChatKind::Private);
        assert_eq!(e.chat.chat_id, "987654321");
        assert_eq!(e.sender_name.as_deref(), Some("Alice"));
        assert!(!e.mentioned);
    }

    #[test]
    fn senders_that_cannot_be_told_apart_are_unattributed() {
        let bind = "/绑定@mybot ABCD2345";
        let command = json!([{"type": "bot_command", "offset": 0, "length": 9}]);
        let group = json!({"id": -1001234567890_i64, "title": "支部群", "type": "supergroup"});
        let channel = json!({"id": -100777, "title": "频道", "type": "channel"});
        // (what, from, sender_chat, is_automatic_forward): each mark alone is enough.
        let cases = [
            (
                "anonymous admin",
                json!({"id": 1_087_968_824, "is_bot": true, "first_name": "Group",
                       "username": "GroupAnonymousBot"}),
                group.clone(),
                Value::Null,
            ),
            (
                "post as a channel",
                json!({"id": 136_817_688, "is_bot": true, "first_name": "Channel",
                       "username": "Channel_Bot"}),
                channel.clone(),
                Value::Null,
            ),
            (
                "a bot",
                json!({"id": 5005, "is_bot": true, "first_name": "B"}),
                Value::Null,
                Value::Null,
            ),
            (
                "automatic forward",
                json!({"id": 777_000, "is_bot": false, "first_name": "Telegram"}),
                channel,
                json!(true),
            ),
            (
                "sender_chat alone",
                json!({"id": 42, "first_name": "三"}),
                group,
                Value::Null,
            ),
            (
                "service id alone",
                json!({"id": 1_087_968_824, "first_name": "Group"}),
                Value::Null,
                Value::Null,
            ),
            (
                "forward flag alone",
                json!({"id": 42, "first_name": "三"}),
                Value::Null,
                json!(true),
            ),
        ];
        for (what, from, sender_chat, forward) in cases {
            let mut update = group_update(40, bind, command.clone());
            update["message"]["from"] = from;
            update["message"]["sender_chat"] = sender_chat;
            update["message"]["is_automatic_forward"] = forward;
            match parse_with(&adapter(), update.to_string().as_bytes()) {
                Ok(Inbound::Unattributed(e)) => {
                    assert_eq!(e.text, "/绑定 ABCD2345", "{what}");
                    assert_eq!(e.chat.chat_id, "-1001234567890", "{what}");
                }
                other => panic!("{what}: expected an unattributed event: {other:?}"),
            }
        }
        // A person posting as themselves, even replying to a bot, is an event.
        let mut update = group_update(41, bind, command);
        update["message"]["sender_chat"] = Value::Null;
        update["message"]["is_automatic_forward"] = json!(false);
        update["message"]["reply_to_message"] =
            json!({"from": {"id": 5005, "is_bot": true, "first_name": "B"}});
        assert!(matches!(
            parse_with(&adapter(), update.to_string().as_bytes()),
            Ok(Inbound::Event(_))
        ));
    }

    #[test]
    fn a_reply_to_the_bot_counts_as_a_mention() {
        for from in [
            json!({"id": 1, "is_bot": true, "first_name": "Bot", "username": "mybot"}),
            json!({"id": 123456, "is_bot": true, "first_name": "Bot"}),
        ] {
            let mut update = group_update(11, "签到", json!([]));
            update["message"]["reply_to_message"] = json!({
                "message_id": 70, "date": 1, "chat": {"id": -1001234567890_i64, "type": "supergroup"},
                "from": from, "text": "会议 #3 …"});
            assert!(event(&update).mentioned, "{update}");
        }
        let mut update = group_update(12, "签到", json!([]));
        update["message"]["reply_to_message"] =
            json!({"from": {"id": 9, "first_name": "X", "username": "someone"}});
        assert!(!event(&update).mentioned);
    }

    #[test]
    fn a_command_for_another_bot_is_acknowledged_and_ignored() {
        let update = group_update(
            13,
            "/help@otherbot",
            json!([{"type": "bot_command", "offset": 0, "length": 14}]),
        );
        assert!(matches!(
            parse_with(&adapter(), update.to_string().as_bytes()),
            Ok(Inbound::Immediate(_))
        ));
    }

    #[test]
    fn without_a_username_commands_lose_any_suffix_and_replies_match_the_token_id() {
        let a = new_adapter(&settings(None)).unwrap();
        let mut update = group_update(
            14,
            "/帮助@whoever @mybot",
            json!([{"type": "bot_command", "offset": 0, "length": 11},
                   {"type": "mention", "offset": 12, "length": 6}]),
        );
        update["message"]["reply_to_message"] = json!({"from": {"id": 123456, "first_name": "B"}});
        let Ok(Inbound::Event(e)) = parse_with(&a, update.to_string().as_bytes()) else {
            panic!("expected an event")
        };
        assert_eq!(e.text, "/帮助 @mybot");
        assert!(e.mentioned);

        let update = group_update(
            15,
            "签到 /帮助@whoever",
            json!([{"type": "bot_command", "offset": 3, "length": 11}]),
        );
        let Ok(Inbound::Event(e)) = parse_with(&a, update.to_string().as_bytes()) else {
            panic!("expected an event")
        };
        assert_eq!(e.text, "签到 /帮助");
    }

    #[tokio::test]
    async fn updates_without_a_text_message_get_200_and_an_empty_object() {
        let chat = json!({"id": -1001234567890_i64, "type": "supergroup"});
        let from = json!({"id": 42, "first_name": "张"});
        for (what, update) in [
            (
                "sticker",
                json!({"update_id": 20, "message": {"message_id": 1, "date": 1, "chat": chat,
                    "from": from, "sticker": {"file_id": "x", "width": 1, "height": 1}}}),
            ),
            (
                "join",
                json!({"update_id": 21, "message": {"message_id": 2, "date": 1, "chat": chat,
                    "from": from, "new_chat_members": [from]}}),
            ),
            (
                "migration",
                json!({"update_id": 22, "message": {"message_id": 3, "date": 1,
                    "chat": {"id": -5, "type": "group"}, "from": from,
                    "migrate_to_chat_id": -1001234567890_i64}}),
            ),
            (
                "callback query",
                json!({"update_id": 23, "callback_query": {"id": "1", "from": from,
                    "chat_instance": "c", "data": "x"}}),
            ),
            (
                "channel post",
                json!({"update_id": 24, "channel_post": {"message_id": 4, "date": 1,
                    "chat": {"id": -100999, "type": "channel"}, "text": "帮助"}}),
            ),
            (
                "channel chat in message",
                json!({"update_id": 25, "message": {"message_id": 4, "date": 1,
                    "chat": {"id": -100999, "type": "channel"}, "text": "帮助"}}),
            ),
            (
                "edited message",
                json!({"update_id": 26, "edited_message": {"message_id": 4, "date": 1,
                    "edit_date": 2, "chat": chat, "from": from, "text": "帮助"}}),
            ),
            (
                "caption only",
                json!({"update_id": 27, "message": {"message_id": 5, "date": 1, "chat": chat,
                    "from": from, "photo": [], "caption": "帮助"}}),
            ),
        ] {
            let Ok(Inbound::Immediate(response)) =
                parse_with(&adapter(), update.to_string().as_bytes())
            else {
                panic!("{what}: expected an immediate answer")
            };
            let (status, content_type, body) = body_json(response).await;
            assert_eq!(status, StatusCode::OK, "{what}");
            assert_eq!(content_type.as_deref(), Some("application/json"), "{what}");
            assert_eq!(body, json!({}), "{what}");
        }
    }

    #[test]
    fn malformed_bodies_name_the_problem() {
        for (body, needle) in [
            (&b"{\"update_id\": "[..], "EOF"),
            (b"[1,2]", "invalid type"),
            (b"{}", "update_id"),
            (br#"{"update_id": "x"}"#, "update_id"),
            (
                br#"{"update_id": 1, "message": {"chat": {"id": "x", "type": "group"}}}"#,
                "message.chat.id",
            ),
            (b"{\"update_id\": 1, \"message\": {\"chat\": {\"id\": 1, \"type\": \"group\"}, \"text\": \"\xff\xfe\"}}", "unicode"),
            (br#"{"update_id": 1} xx"#, "trailing"),
            (b"", "EOF"),
        ] {
            match parse_with(&adapter(), body) {
                Err(PlatformError::Malformed(m)) => assert!(m.contains(needle), "{m} / {needle}"),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }

    fn replies(chats: &[(&str, &str)]) -> Vec<Reply> {
        chats
            .iter()
            .map(|(c, t)| Reply {
                chat_id: (*c).to_owned(),
                text: (*t).to_owned(),
            })
            .collect()
    }

    #[tokio::test]
    async fn the_first_reply_to_the_chat_goes_inline_and_the_rest_is_deferred() {
        let a = adapter();
        let e = event(&group_update(30, "帮助", json!([])));

        let rendered = a.render_replies(
            &e,
            &replies(&[
                ("987654321", "私聊内容"),
                ("-1001234567890", "第一条"),
                ("-1001234567890", "第二条"),
            ]),
        );
        let (status, content_type, body) = body_json(rendered.response).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        assert_eq!(
            body,
            json!({"method": "sendMessage", "chat_id": -1001234567890_i64, "text": "第一条"})
        );
        assert_eq!(
            rendered.deferred,
            replies(&[("987654321", "私聊内容"), ("-1001234567890", "第二条")])
        );

        let rendered = a.render_replies(&e, &[]);
        assert!(rendered.deferred.is_empty());
        assert_eq!(body_json(rendered.response).await.2, json!({}));
    }

    #[tokio::test]
    async fn a_chat_id_that_is_not_a_number_stays_a_string() {
        let a = adapter();
        let mut e = event(&group_update(31, "帮助", json!([])));
        e.chat.chat_id = "@channel".to_owned();
        let rendered = a.render_replies(&e, &replies(&[("@channel", "hi")]));
        assert_eq!(
            body_json(rendered.response).await.2,
            json!({"method": "sendMessage", "chat_id": "@channel", "text": "hi"})
        );
    }

    #[test]
    fn long_texts_are_cut_to_4096_utf16_units() {
        let fit = |t: &str| render_text(t).0;
        assert_eq!(fit("短"), "短");
        let exact = "a".repeat(4096);
        assert_eq!(fit(&exact), exact);
        let cut = fit(&"a".repeat(5000));
        assert_eq!(cut.encode_utf16().count(), 4096);
        assert!(cut.ends_with("a…"));
        // Emoji are two units each: never split, never over the limit.
        let cut = fit(&"😀".repeat(3000));
        assert!(cut.encode_utf16().count() <= 4096);
        assert_eq!(cut.chars().filter(|c| *c == '😀').count(), 2047);
    }

    #[test]
    fn api_answers_are_classified_for_the_outbox() {
        let ok = br#"{"ok":true,"result":{"message_id":1}}"#;
        assert_eq!(classify_response(StatusCode::OK, ok), Ok(()));
        let limited = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}"#;
        assert_eq!(
            classify_response(StatusCode::TOO_MANY_REQUESTS, limited),
            Err(SendError::RateLimited {
                retry_after: Duration::from_secs(3)
            })
        );
        // error_code alone is enough, the wait has a floor and a cap.
        for (body, secs) in [
            (&br#"{"ok":false,"error_code":429}"#[..], 1),
            (
                br#"{"ok":false,"error_code":429,"parameters":{"retry_after":0}}"#,
                1,
            ),
            (
                br#"{"ok":false,"error_code":429,"parameters":{"retry_after":-5}}"#,
                1,
            ),
            (
                br#"{"ok":false,"error_code":429,"parameters":{"retry_after":99999}}"#,
                3600,
            ),
        ] {
            assert_eq!(
                classify_response(StatusCode::BAD_REQUEST, body),
                Err(SendError::RateLimited {
                    retry_after: Duration::from_secs(secs)
                })
            );
        }
        assert!(matches!(
            classify_response(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>"),
            Err(e @ SendError::Transient { .. }) if chain(&e).ends_with("HTTP 502")
        ));
        for (status, description) in [
            (StatusCode::BAD_REQUEST, "Bad Request: chat not found"),
            (
                StatusCode::FORBIDDEN,
                "Forbidden: bot was blocked by the user",
            ),
            (StatusCode::UNAUTHORIZED, "Unauthorized"),
            (StatusCode::NOT_FOUND, "Not Found"),
        ] {
            let body =
                json!({"ok": false, "error_code": status.as_u16(), "description": description});
            assert_eq!(
                classify_response(status, body.to_string().as_bytes()),
                Err(SendError::Permanent {
                    what: "Telegram refused the message",
                    cause: Some(Cause::new(format!(
                        "HTTP {}: {description}",
                        status.as_u16()
                    )))
                })
            );
        }
        let migrated = br#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234567890}}"#;
        assert!(matches!(
            classify_response(StatusCode::BAD_REQUEST, migrated),
            Err(e @ SendError::Permanent { .. }) if chain(&e).contains("-1001234567890")
        ));
        // A body that is no answer at all keeps why it is not, under the status.
        let garbage = classify_response(StatusCode::OK, b"not json");
        assert!(
            matches!(garbage, Err(SendError::Transient { .. })),
            "{garbage:?}"
        );
        assert_eq!(
            garbage.as_ref().map_err(|e| chain(e)),
            Err(
                "transient: Telegram's answer is not a Bot API answer: HTTP 200: \
                 expected ident at line 1 column 2"
                    .to_owned()
            )
        );
    }

    #[test]
    fn the_token_never_reaches_an_error_text() {
        let a = adapter();
        assert_eq!(
            a.redact(&format!("GET http://x/bot{TOKEN}/sendMessage")),
            "GET http://x/bot<token>/sendMessage"
        );
    }

    /// A small deterministic generator, so that a failure reproduces.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
        }
    }

    #[test]
    fn no_bytes_make_parse_or_render_panic() {
        let a = adapter();
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let seeds: Vec<Vec<u8>> = [
            group_update(
                1,
                "👍 @mybot /帮助@mybot 签到",
                json!([{"type": "mention", "offset": 3, "length": 6},
                       {"type": "bot_command", "offset": 10, "length": 9}]),
            ),
            json!({"update_id": 2, "message": {"message_id": 1, "date": 1,
                "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "first_name": "A"},
                "text": "x", "reply_to_message": {"from": {"id": 123456, "first_name": "B"}}}}),
            json!({"update_id": 3, "callback_query": {"id": "1"}}),
        ]
        .iter()
        .map(|v| v.to_string().into_bytes())
        .collect();
        let texts = ["", "@mybot", "👍👍", "a\u{0}b", "𝒜@mybot𝒜", "/x@mybot", "é"];
        let kinds = ["mention", "bot_command", "text_mention", "bold"];

        let check = |bytes: &[u8]| {
            if let Ok(Inbound::Event(e)) = parse_with(&a, bytes) {
                let reply = Reply {
                    chat_id: e.chat.chat_id.clone(),
                    text: e.text.clone(),
                };
                let _ = a.render_replies(&e, &[reply.clone(), reply]);
            }
        };

        for _ in 0..3000 {
            // Random bytes.
            let len = rng.below(64);
            let bytes: Vec<u8> = (0..len).map(|_| (rng.next() & 0xff) as u8).collect();
            check(&bytes);

            // A valid update with a few bytes flipped, inserted or cut.
            let mut bytes = seeds[rng.below(seeds.len())].clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len());
                match rng.below(3) {
                    0 => {
                        if let Some(b) = bytes.get_mut(at) {
                            *b = (rng.next() & 0xff) as u8;
                        }
                    }
                    1 => bytes.insert(at, (rng.next() & 0xff) as u8),
                    _ => bytes.truncate(at),
                }
            }
            check(&bytes);

            // Well-formed JSON with hostile entities.
            let entities: Vec<Value> = (0..rng.below(5))
                .map(|_| {
                    let edge = [0_i64, 1, 2, 3, 6, 7, -1, i64::MAX, i64::MIN];
                    let pick = |r: &mut XorShift| {
                        if r.below(2) == 0 {
                            edge[r.below(edge.len())]
                        } else {
                            i64::try_from(r.below(24)).unwrap_or(0)
                        }
                    };
                    json!({"type": kinds[rng.below(kinds.len())], "offset": pick(&mut rng),
                           "length": pick(&mut rng), "user": {"id": 123456, "first_name": "B"}})
                })
                .collect();
            let text = texts[rng.below(texts.len())];
            check(
                group_update(4, text, Value::Array(entities))
                    .to_string()
                    .as_bytes(),
            );
        }
    }
    /// The shared hostile inputs (`platform::fuzz`): every variant of a group update with
    /// entities over emoji and of a private reply, with the genuine secret header so each
    /// one reaches `parse`; and hostile bytes at every offset of the secret header. Nothing
    /// panics and every refusal is a clean `PlatformError`.
    #[test]
    fn hostile_inputs_never_panic_and_fail_cleanly() {
        use crate::platform::fuzz::{self, Tally};

        let started = std::time::Instant::now();
        let a = adapter();
        let run = |h: &HeaderMap, label: &str, body: &[u8], tally: &mut Tally| {
            let bytes = Bytes::copy_from_slice(body);
            let request = InboundRequest::post(h, &bytes);
            let verified = fuzz::survive(label, body, || a.verify(request)).is_some();
            let parsed = verified
                .then(|| fuzz::survive(label, body, || a.parse(request)))
                .flatten();
            if let Some(Inbound::Event(e)) = tally.count(verified, parsed) {
                fuzz::survive(label, body, || {
                    // The fuzzed text as a mention too: names are user-made as well.
                    let reply = Reply {
                        chat_id: e.chat.chat_id.clone(),
                        text: format!(
                            "{}{}",
                            crate::platform::mention_token(&e.sender_id, &e.text),
                            e.text
                        ),
                    };
                    let _ = a.render_replies(&e, &[reply]);
                    Ok(())
                });
            }
        };

        let good = headers(Some(SECRET));
        let mut bodies = Tally::default();
        for seed in [
            group_update(
                1,
                "👍 @mybot /帮助@mybot 签到",
                json!([{"type": "mention", "offset": 3, "length": 6},
                       {"type": "bot_command", "offset": 10, "length": 9}]),
            ),
            json!({"update_id": 2, "message": {"message_id": 1, "date": 1,
                "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "first_name": "A"},
                "text": "签到", "reply_to_message": {"from": {"id": 123456, "first_name": "B"}}}}),
        ] {
            let mut inputs = fuzz::spliced(seed.to_string().as_bytes());
            inputs.extend(fuzz::hostile_json(&seed));
            for input in &inputs {
                run(&good, "body", input, &mut bodies);
            }
        }
        let mut secrets = Tally::default();
        let body = group_update(3, "帮助", json!([])).to_string();
        for input in fuzz::spliced(SECRET.as_bytes()) {
            if let Ok(v) = HeaderValue::from_bytes(&input) {
                let mut h = HeaderMap::new();
                h.insert(SECRET_HEADER, v);
                run(&h, "secret header", body.as_bytes(), &mut secrets);
            }
        }

        assert!(bodies.malformed > 0 && bodies.parsed > 0, "{bodies:?}");
        assert!(secrets.unauthenticated > 0, "{secrets:?}");
        eprintln!(
            "telegram hostile inputs: bodies {bodies:?}, headers {secrets:?}, {:?}",
            started.elapsed()
        );
    }
}
