//! Platform adapters: each proves a request authentic, turns the platform's event into the
//! common [`InboundEvent`], and renders common replies in the platform's reply form. Adapters
//! carry text only; they never call into `chat` or `service`.
//!
//! Text is data wherever it goes: every adapter renders outgoing text itself, at the last
//! moment, escaping all of it for its own format whatever platform it was typed on, and
//! writing a real mention only for a [`mention_token`] (see [`render`]).

pub mod dingtalk;
pub mod event;
pub mod feishu;
#[cfg(test)]
pub(crate) mod fuzz;
#[cfg(test)]
mod inert_tests;
pub mod onebot;
pub mod render;
pub mod sim;
pub mod telegram;
pub mod token;
pub mod wecom;

use std::{collections::HashMap, fmt, sync::Arc};

use axum::{
    body::Bytes,
    http::{HeaderMap, Method},
    response::Response,
};
use serde::{Deserialize, Serialize};

pub use event::{InboundEvent, Reply};

// The ground types every layer shares live in `domain::chat`; adapters and the layers above
// them name them through here too.
pub use crate::domain::chat::{
    ChatKind, ChatRef, PlatformKind, SendLimits, UnknownPlatform, is_token_char, mention_token,
    private_chat_id,
};

use crate::{
    config::{BotSettings, Settings},
    error::Cause,
    store::Store,
};

/// Decodes a JSON body exactly (no trailing bytes), naming the field at fault when it is not
/// what the platform sends.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, PlatformError> {
    // The path is only for the message: a body that parses (nearly all) skips the tracking,
    // which wraps every value on the way (the check-in storm's hot path).
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = field_path(e.path());
        let inner = e.into_inner();
        match path {
            None => PlatformError::malformed(inner),
            Some(path) => PlatformError::malformed(format!("{path}: {inner}")),
        }
    })?;
    de.end().map_err(PlatformError::malformed)?;
    Ok(value)
}

/// The field a deserialization error is at, as `a.b[2].c`, for a message that names it:
/// `None` at the top level. The `?` that `serde_path_to_error` shows where it lost track (a
/// value inside an untagged or internally tagged enum, a key that is not a string) is left
/// out, so a message never starts with a stray `?:`.
pub fn field_path(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Checks a shared-secret header in constant time (sim's `X-Sim-Secret`, Telegram's
/// `X-Telegram-Bot-Api-Secret-Token`). An empty configured secret proves nothing, so it
/// refuses every request rather than matching an empty header; config validation refuses
/// such a bot first, and this is the backstop.
pub fn check_secret_header(
    request: InboundRequest<'_>,
    header: &str,
    secret: &str,
) -> Result<(), PlatformError> {
    if secret.is_empty() {
        return Err(PlatformError::Unauthenticated("no_secret_configured"));
    }
    let given = request
        .headers
        .get(header)
        .filter(|v| !v.is_empty())
        .ok_or(PlatformError::Unauthenticated("missing_secret"))?;
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_bytes(),
        secret.as_bytes(),
    )) {
        Ok(())
    } else {
        Err(PlatformError::Unauthenticated("bad_secret"))
    }
}

/// A transport failure (timeout, refused connection, a bad base URL) as a send error that
/// says `what` failed, caused by reqwest's error chain without the URL reqwest attaches
/// (URLs carry tokens and keys), and with `redact` applied to every message of it for any
/// other secret the adapter knows of. A request that could not even be built is permanent;
/// everything else is worth a retry.
pub fn transport_error(
    what: &'static str,
    error: reqwest::Error,
    redact: impl Fn(String) -> String,
) -> SendError {
    let error = error.without_url();
    let failure = if error.is_builder() {
        SendError::permanent(what)
    } else {
        SendError::transient(what)
    };
    failure.because(Cause::of(&error)).redact(redact)
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

/// Longest detail a [`PlatformError::Malformed`] made by [`PlatformError::malformed`] carries,
/// in characters.
pub const MAX_DETAIL_CHARS: usize = 300;

impl PlatformError {
    /// A [`PlatformError::Malformed`] from text that may quote the request (a parser's error:
    /// serde_json and quick-xml repeat values, keys and tag names), made fit to answer and to
    /// log: control characters become `\u{fffd}`, and the text is cut to [`MAX_DETAIL_CHARS`]
    /// characters, never inside one, ending a cut text with `…`.
    pub fn malformed(detail: impl std::fmt::Display) -> Self {
        let detail = detail.to_string();
        let mut out: String = detail
            .chars()
            .take(MAX_DETAIL_CHARS)
            .map(|c| if c.is_control() { '\u{fffd}' } else { c })
            .collect();
        if detail.chars().nth(MAX_DETAIL_CHARS).is_some() {
            out.pop();
            out.push('…');
        }
        Self::Malformed(out)
    }

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
    /// A message whose sender cannot be told apart from others (a Telegram anonymous group
    /// admin, a post "as a channel", a bot, an automatic forward): its sender id names a
    /// service account shared by many people, or no person at all. Never run as a command;
    /// if it is one, in a group, the chat is told once per window to post as themselves.
    Unattributed(InboundEvent),
    /// A handshake or an event we do not act on, answered at once by the adapter.
    Immediate(Response),
}

/// The raw request as an adapter sees it: headers and the exact body bytes.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    /// GET for URL verification handshakes (WeCom), POST for events.
    pub method: &'a Method,
    /// The raw query string, without `?` (WeCom signs with query parameters).
    pub query: &'a str,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The body, byte for byte (signatures are over raw bytes).
    pub body: &'a Bytes,
}

impl<'a> InboundRequest<'a> {
    /// A POST without a query string.
    pub fn post(headers: &'a HeaderMap, body: &'a Bytes) -> Self {
        Self {
            method: &Method::POST,
            query: "",
            headers,
            body,
        }
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// The webhook response for an event's replies, and the replies that must go another way.
#[derive(Debug)]
pub struct Rendered {
    /// What the platform gets as the HTTP response.
    pub response: Response,
    /// Replies to send through the outbox.
    pub deferred: Vec<Reply>,
}

impl Rendered {
    /// Everything fit in the response.
    pub fn inline(response: Response) -> Self {
        Self {
            response,
            deferred: Vec::new(),
        }
    }
}

/// A proactive message for one chat, as the outbox hands it to an adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The platform's chat id.
    pub chat_id: String,
    /// The text as features wrote it: plain text with neutral [`mention_token`]s. The adapter
    /// renders it (escaping and mentions) for the route it takes; see [`render`].
    pub text: String,
    /// Derived from intent (e.g. `meeting:<b>:7:reminder:1h:chat:<c>`), never from a retry
    /// counter, so platforms that deduplicate sends (Feishu `uuid`) can use it as is.
    pub idempotency_key: String,
    /// The context of the event this answers, if it is a reply (see [`InboundEvent::context`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
}

/// Why a send failed, and so what the outbox does next: wait, retry with backoff, or
/// dead-letter. Its own message says in a few words fixed in the code what failed, never a
/// value and so never a secret; why is its [`source`](std::error::Error::source): the
/// platform's answer (a status, an error code and message, which no error value stands
/// behind, sometimes with the decoding error of a body that was not what the platform
/// sends), or our own error's chain (the network's, the store's). The cause is a
/// [`Cause`]: a copy that can be cloned, compared and redacted, where a kept
/// `reqwest::Error` could be none of these; every adapter takes its secrets out of it
/// ([`SendError::redact`]) before the error leaves the adapter. Logs print
/// [`crate::error::Chain`] of it, and the outbox stores [`crate::error::chain`] of it as the
/// message's `last_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The platform asked us to wait; the outbox waits at least that long for this chat.
    #[error("rate limited for {retry_after:?}")]
    RateLimited {
        /// How long to wait.
        retry_after: std::time::Duration,
    },
    /// A timeout, a 5xx, a refused connection: retried with backoff.
    #[error("transient: {what}")]
    Transient {
        /// What failed, in words fixed in the code.
        what: &'static str,
        /// Why, with secrets taken out.
        #[source]
        cause: Option<Cause>,
    },
    /// The platform refused the message for good (unknown chat, bad token): dead-lettered.
    #[error("permanent: {what}")]
    Permanent {
        /// What failed, in words fixed in the code.
        what: &'static str,
        /// Why, with secrets taken out.
        #[source]
        cause: Option<Cause>,
    },
}

impl SendError {
    /// A failure worth a retry, without a cause (yet).
    pub fn transient(what: &'static str) -> Self {
        Self::Transient { what, cause: None }
    }

    /// A failure no retry mends, without a cause (yet).
    pub fn permanent(what: &'static str) -> Self {
        Self::Permanent { what, cause: None }
    }

    /// The same failure, caused by `cause`. A rate limit has no cause and stays as it is.
    #[must_use]
    pub fn because(self, cause: Cause) -> Self {
        match self {
            Self::Transient { what, .. } => Self::Transient {
                what,
                cause: Some(cause),
            },
            Self::Permanent { what, .. } => Self::Permanent {
                what,
                cause: Some(cause),
            },
            other => other,
        }
    }

    /// The same failure, caused by the platform's answer (`HTTP 400: chat not found`).
    #[must_use]
    pub fn answered(self, answer: impl Into<String>) -> Self {
        self.because(Cause::new(answer))
    }

    /// The same failure as a step of a larger one: `what` describes it now, and what
    /// described it before becomes its first cause. `permanent: the access token could not
    /// be fetched: the token endpoint refused the app's credentials: HTTP 400 …`.
    #[must_use]
    pub fn within(self, what: &'static str) -> Self {
        let step = |inner: &'static str, cause: Option<Cause>| {
            Some(match cause {
                Some(cause) => Cause::wrap(inner, cause),
                None => Cause::new(inner),
            })
        };
        match self {
            Self::Transient { what: inner, cause } => Self::Transient {
                what,
                cause: step(inner, cause),
            },
            Self::Permanent { what: inner, cause } => Self::Permanent {
                what,
                cause: step(inner, cause),
            },
            other => other,
        }
    }

    /// The same failure with every message of its cause passed through `redact`, which
    /// takes out the secrets an adapter knows of.
    #[must_use]
    pub fn redact(self, redact: impl Fn(String) -> String) -> Self {
        match self {
            Self::Transient { what, cause } => Self::Transient {
                what,
                cause: cause.map(|c| c.map(&redact)),
            },
            Self::Permanent { what, cause } => Self::Permanent {
                what,
                cause: cause.map(|c| c.map(&redact)),
            },
            rate @ Self::RateLimited { .. } => rate,
        }
    }

    /// Whether the outbox tries again (after a wait or a backoff) rather than dead-letter
    /// the message at once.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Permanent { .. })
    }
}

/// A boxed future, so that [`Platform`] stays object-safe.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

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
    /// Renders the replies to an event as the webhook response. Reply texts are neutral like
    /// sends (see [`render`]) and are rendered the same way. Replies the platform cannot
    /// carry in the response (a second message, another chat) come back as `deferred`, and
    /// the webhook pipeline hands them to the outbox.
    fn render_replies(&self, event: &InboundEvent, replies: &[Reply]) -> Rendered;
    /// Whether the webhook answers GET (URL verification handshakes, as WeCom's echostr).
    fn accepts_get(&self) -> bool {
        false
    }
    /// Sends a proactive message through the platform's API. Returns once the platform
    /// accepted it.
    fn send<'a>(&'a self, message: &'a OutboundMessage) -> BoxFuture<'a, Result<(), SendError>>;
    /// How fast this bot may send.
    fn limits(&self) -> SendLimits;
    /// For platforms whose events carry no sender name (Feishu, WeCom): the user's display
    /// name from the platform API. The webhook pipeline caches it, so it is asked once.
    fn fetch_display_name<'a>(
        &'a self,
        _chat_id: &'a str,
        _user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SendError>> {
        Box::pin(async { Ok(None) })
    }
    /// What the bot learns once at startup, before it serves (Telegram: its own username,
    /// when not configured). It must finish within its own short budget and cannot fail
    /// the startup: a bot that could not learn something logs it and works without.
    fn prepare(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Every configured bot, by name.
#[derive(Debug, Clone, Default)]
pub struct Platforms {
    bots: HashMap<String, Arc<dyn Platform>>,
    /// Each bot's names as people type them (`BotSettings::names`).
    names: HashMap<String, Vec<String>>,
}

/// The HTTP client shared by every adapter, built on first use so that a sim-only deployment never sets up TLS; `None`
/// (logged) when it cannot be built.
fn shared_client(http: &mut Option<reqwest::Client>) -> Option<reqwest::Client> {
    if let Some(client) = http {
        return Some(client.clone());
    }
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(std::time::Duration::from_secs(10))
        .connect_timeout(std::time::Duration::from_secs(5))
        // Tokens ride in URL paths: never follow a redirect elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mobile-branch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            tracing::error!(error.cause_chain = %crate::error::Chain(&e.without_url()), "cannot build the HTTP client");
        })
        .ok()?;
    Some(http.insert(client).clone())
}

/// A `[bots.<name>]` table lacks a key its adapter needs, or has an unusable one. Config
/// validation reports these first; this is the adapters' panic-free backstop. It names keys,
/// never values.
#[derive(Debug, thiserror::Error)]
#[error("bots.{bot}.{key}: {problem}")]
pub struct SettingError {
    /// The bot's name.
    pub bot: String,
    /// The key at fault.
    pub key: &'static str,
    /// What is wrong.
    pub problem: &'static str,
}

/// Why a configured bot cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BotSetupError {
    /// Its table lacks a key or has an unusable one.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// The HTTP client for platform APIs could not be built (TLS setup).
    #[error("bots.{bot}: cannot build the HTTP client for platform APIs")]
    HttpClient {
        /// The bot's name.
        bot: String,
    },
}

impl Platforms {
    /// Builds an adapter for every configured bot, refusing any that cannot start.
    pub fn from_settings(settings: &Settings, store: &Store) -> Result<Self, BotSetupError> {
        let mut bots: HashMap<String, Arc<dyn Platform>> = HashMap::new();
        let mut names: HashMap<String, Vec<String>> = HashMap::new();
        // One client for every HTTP adapter, so connections are pooled; built on first use so
        // that a sim-only deployment never sets up TLS.
        let mut http: Option<reqwest::Client> = None;
        for (name, bot) in &settings.bots {
            let no_client = || BotSetupError::HttpClient { bot: name.clone() };
            let adapter: Arc<dyn Platform> = match bot {
                BotSettings::Sim(sim) => Arc::new(sim::SimAdapter::new(name, sim, store.clone())),
                BotSettings::Telegram(tg) => {
                    let client = shared_client(&mut http).ok_or_else(no_client)?;
                    // Config validation refuses a bot without its secrets before this runs;
                    // this is the panic-free backstop.
                    let adapter = telegram::TelegramAdapter::new(name, tg, client, store.clone())
                        .map_err(BotSetupError::Setting)?;
                    Arc::new(adapter)
                }
                BotSettings::Onebot(ob) => {
                    let client = shared_client(&mut http).ok_or_else(no_client)?;
                    let adapter = onebot::OnebotAdapter::new(name, ob, client)
                        .map_err(BotSetupError::Setting)?;
                    Arc::new(adapter)
                }
                BotSettings::Dingtalk(dt) => {
                    let client = shared_client(&mut http).ok_or_else(no_client)?;
                    // Config validation refuses a bot without its secrets before this runs;
                    // this is the panic-free backstop. DingTalk's signature window is wall
                    // time, so the adapter reads the system clock.
                    let adapter = dingtalk::DingtalkAdapter::new(
                        name,
                        dt,
                        client,
                        store.clone(),
                        Arc::new(crate::clock::SystemClock),
                    )
                    .map_err(BotSetupError::Setting)?;
                    Arc::new(adapter)
                }
                BotSettings::Wecom(wx) => {
                    let client = shared_client(&mut http).ok_or_else(no_client)?;
                    let adapter = wecom::WecomAdapter::new(name, wx, client, store.clone())
                        .map_err(BotSetupError::Setting)?;
                    Arc::new(adapter)
                }
                BotSettings::Feishu(fs) => {
                    let client = shared_client(&mut http).ok_or_else(no_client)?;
                    let adapter = feishu::FeishuAdapter::new(name, fs, client, store.clone())
                        .map_err(BotSetupError::Setting)?;
                    Arc::new(adapter)
                }
            };
            bots.insert(name.clone(), adapter);
            names.insert(name.clone(), bot.names());
        }
        Ok(Self { bots, names })
    }

    /// Runs every bot's [`Platform::prepare`] at once, so the startup waits for the slowest
    /// one only, never for their sum.
    pub async fn prepare(&self) {
        let mut set = tokio::task::JoinSet::new();
        for bot in self.bots.values() {
            let bot = bot.clone();
            set.spawn(async move { bot.prepare().await });
        }
        while set.join_next().await.is_some() {}
    }

    /// The bot of that name, if configured.
    pub fn get(&self, bot: &str) -> Option<&Arc<dyn Platform>> {
        self.bots.get(bot)
    }

    /// The names people type for the bot of that name (`@党建小助手 会议`), which the command
    /// parser reads as addressing it; empty for a bot without any configured.
    pub fn names(&self, bot: &str) -> &[String] {
        self.names.get(bot).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod field_path_tests {
    #[derive(Debug, serde::Deserialize)]
    struct Counts {
        #[allow(dead_code)]
        counts: std::collections::HashMap<u32, u32>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Outer {
        #[allow(dead_code)]
        items: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Inner {
        #[allow(dead_code)]
        id: u32,
    }

    #[test]
    fn a_field_path_names_nested_fields_and_never_shows_a_lost_track() {
        let e = super::parse_json::<Outer>(br#"{"items":[{"id":1},{"id":"x"}]}"#).unwrap_err();
        assert!(e.to_string().contains("items[1].id: invalid type"), "{e}");
        // A map key that is not a string loses serde_path_to_error's track (`counts.?`).
        let e = super::parse_json::<Counts>(br#"{"counts":{"x":1}}"#).unwrap_err();
        assert!(!e.to_string().contains('?'), "{e}");
        assert!(
            e.to_string().starts_with("malformed request: counts: "),
            "{e}"
        );
    }
}

#[cfg(test)]
mod send_error_tests {
    use std::{error::Error as _, time::Duration};

    use super::*;
    use crate::error::chain;

    #[test]
    fn a_failure_says_what_failed_and_keeps_why_as_its_cause() {
        let refused = SendError::permanent("Telegram refused the message")
            .answered("HTTP 400: Bad Request: chat not found");
        assert_eq!(
            refused.to_string(),
            "permanent: Telegram refused the message"
        );
        assert_eq!(
            chain(&refused),
            "permanent: Telegram refused the message: HTTP 400: Bad Request: chat not found"
        );
        assert!(!refused.is_retryable());

        let decoded = serde_json::from_slice::<serde_json::Value>(b"<html>").unwrap_err();
        let garbage = SendError::transient("Telegram's answer is not a Bot API answer")
            .because(Cause::wrap("HTTP 200", Cause::of(&decoded)));
        assert_eq!(
            chain(&garbage),
            "transient: Telegram's answer is not a Bot API answer: HTTP 200: expected value at \
             line 1 column 1"
        );
        assert!(garbage.is_retryable());

        let bare = SendError::transient("another replica is still refreshing the access token");
        assert!(bare.source().is_none());
        assert_eq!(
            chain(&bare),
            "transient: another replica is still refreshing the access token"
        );

        let rate = SendError::RateLimited {
            retry_after: Duration::from_secs(3),
        };
        assert!(rate.is_retryable());
        assert_eq!(chain(&rate), "rate limited for 3s");
        // A rate limit has no cause to take.
        assert_eq!(rate.clone().answered("HTTP 429"), rate);
    }

    #[test]
    fn a_failure_within_a_larger_one_keeps_its_words_as_the_first_cause() {
        let inner = SendError::permanent("WeCom refused the call")
            .answered("errcode 40001: invalid credential");
        let outer = inner.within("the WeCom access token could not be fetched");
        assert!(matches!(outer, SendError::Permanent { .. }));
        assert_eq!(
            chain(&outer),
            "permanent: the WeCom access token could not be fetched: WeCom refused the call: \
             errcode 40001: invalid credential"
        );
        let bare = SendError::transient("WeCom is busy").within("the message could not go");
        assert_eq!(
            chain(&bare),
            "transient: the message could not go: WeCom is busy"
        );
    }

    #[test]
    fn redaction_reaches_every_cause_and_keeps_the_kind() {
        let e = SendError::transient("the request to Telegram failed").because(Cause::wrap(
            "POST /bot123:SECRET/sendMessage",
            Cause::new("token SECRET refused"),
        ));
        let clean = e.redact(|m| m.replace("SECRET", "<token>"));
        assert!(clean.is_retryable());
        assert_eq!(
            chain(&clean),
            "transient: the request to Telegram failed: POST /bot123:<token>/sendMessage: token \
             <token> refused"
        );
    }

    /// reqwest names the URL in its errors, and platform URLs carry tokens (a Telegram bot
    /// token in the path, WeCom's `access_token=` and `key=`, a DingTalk session).
    #[tokio::test]
    async fn a_transport_failure_never_prints_the_url_or_its_tokens() {
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let url = format!("http://{closed}/bot123:PATHSECRET/send?access_token=QUERYSECRET");
        let error = reqwest::Client::new().post(url).send().await.unwrap_err();
        // What would leak without care.
        assert!(chain(&error).contains("QUERYSECRET"), "{}", chain(&error));

        let failure = transport_error("the request to WeCom failed", error, |m| m);
        let text = chain(&failure);
        assert!(failure.is_retryable(), "{text}");
        assert!(
            text.starts_with("transient: the request to WeCom failed: error sending request"),
            "{text}"
        );
        assert!(
            failure.source().and_then(|c| c.source()).is_some(),
            "{text}"
        );
        for secret in [
            "PATHSECRET",
            "QUERYSECRET",
            "access_token",
            &closed.to_string(),
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
            assert!(
                !format!("{failure:?}").contains(secret),
                "{secret} in {failure:?}"
            );
        }

        // A request that cannot even be built is final, and says so without the URL.
        let error = reqwest::Client::new()
            .get("http://[::1/send?access_token=QUERYSECRET")
            .send()
            .await
            .unwrap_err();
        let failure = transport_error("the request to WeCom failed", error, |m| m);
        assert!(!failure.is_retryable(), "{failure:?}");
        assert!(
            !chain(&failure).contains("QUERYSECRET"),
            "{}",
            chain(&failure)
        );
    }
}
