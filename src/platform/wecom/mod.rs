//! The `wecom` platform (企业微信), in one of two modes per bot:
//!
//! - `aibot` (智能机器人, API mode): the only WeCom surface that receives group messages (the
//!   bot is @'d in a group, or spoken to 1:1). The callback is `{"encrypt": …}` JSON; replies
//!   go back as a passive encrypted `stream` reply in the response, and a reply that does not
//!   fit goes once through the message's `response_url` (valid one hour).
//! - `app` (自建应用): a self-built app receives 1:1 text as encrypted XML; replies go back as
//!   a passive encrypted XML reply, and proactive messages through `message/send` with an
//!   access token shared through Redis.
//!
//! Both prove origin with `msg_signature` (SHA-1 over the sorted token, timestamp, nonce and
//! ciphertext) and encrypt with AES-256-CBC (see [`crypto`]). URL verification is a GET whose
//! decrypted `echostr` is answered as the bare body. In either mode a 群机器人 (消息推送)
//! webhook can carry pushes to the one group it sits in (`push_webhook_key` + `push_chat_id`).
//!
//! Every wire value is checked before use; no input can make this panic.
//!
//! Text rule: the AI bot's stream reply, its `response_url` and the push robot take markdown,
//! where WeCom reads `<@userid>` (a mention that notifies), `<font …>` tags, `[text](url)`
//! links, `` `code` ``, `**bold**`, `#` headings and `>` quotes (and the AI bot's stream
//! more of common markdown). `escape_markdown` writes the characters that open inline
//! markup in their full-width forms (`＜ ＞ ［ ］ ｀ ＊ ～ ＿`), which read the same to a Chinese
//! reader and open nothing, and starts a line that could open a block (heading, quote, list)
//! with a zero-width space, whatever platform the text was typed on; the bot's own mentions
//! (mention tokens) are the only `<@userid>`. An app's text messages read `<a href>` tags, so
//! there `<` and `>` become full-width, and a mention is the name (1:1 chats have nobody else
//! to notify). Plain URLs stay as written (WeCom makes them clickable, showing where they go).

mod api;
pub mod crypto;

use super::SettingError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::{
    http::{Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use self::crypto::{CryptoError, MsgCrypt};
use super::{
    BoxFuture, ChatKind, ChatRef, Inbound, InboundEvent, InboundRequest, OutboundMessage, Platform,
    PlatformError, PlatformKind, Rendered, Reply, SendError, SendLimits,
    render::{self, Limit},
};
use crate::{
    config::{Secret, WecomBot, WecomMode},
    store::Store,
};

/// Requests whose `timestamp` is further than this from our clock are refused. WeCom
/// documents no window; this one equals the default dedup memory (24 h), so a captured
/// request can be neither replayed while it is remembered nor after it is forgotten, while
/// every real retry (seconds) and any plausible clock skew still passes.
const MAX_SKEW: Duration = Duration::from_secs(24 * 3600);
/// How long a `response_url` may be used (platforms.md §4: once, within one hour). A little
/// is kept in hand for the request itself.
const RESPONSE_URL_LIFE: Duration = Duration::from_secs(3600 - 60);
/// Markdown content cap of the group robot and `response_url` (4096 bytes of UTF-8); also
/// used for the passive stream reply, whose own cap is not documented in platforms.md.
const MAX_MARKDOWN_BYTES: usize = 4096;
/// Text content cap of `message/send` and of the app's passive reply (2048 bytes).
const MAX_TEXT_BYTES: usize = 2048;
/// Longest display name kept.
const MAX_NAME_CHARS: usize = 64;
/// Longest id accepted for chats, users and messages.
const MAX_ID_CHARS: usize = 128;
/// How replies to one chat are joined into one message.
const JOINER: &str = "\n\n";

/// WeCom's published limits: 20 messages a minute per group robot (and at most 30 a minute
/// to one member from an app). No per-app rate across chats is published; 20/s keeps well
/// inside the API's frequency control.
pub const LIMITS: SendLimits = SendLimits {
    per_chat_per_minute: 20,
    per_bot_per_second: 20,
    per_bot_per_minute: None,
};

/// The app credentials used for `message/send` and `user/get`.
#[derive(Debug)]
struct AppCredentials {
    corp_id: String,
    corp_secret: Secret,
    agent_id: i64,
}

/// A configured WeCom bot.
#[derive(Debug)]
pub struct WecomAdapter {
    bot: String,
    mode: WecomMode,
    token: Secret,
    crypt: MsgCrypt,
    /// The app (required in app mode; optional in aibot mode, for private sends and names).
    app: Option<AppCredentials>,
    push_webhook_key: Option<Secret>,
    push_chat_id: Option<String>,
    bot_name: Option<String>,
    api_base: String,
    limits: SendLimits,
    client: reqwest::Client,
    store: Store,
}

impl WecomAdapter {
    /// Builds the adapter from its `[bots.<name>]` table; API calls go through `client` and
    /// access tokens are shared through `store`.
    pub fn new(
        bot: &str,
        settings: &WecomBot,
        client: reqwest::Client,
        store: Store,
    ) -> Result<Self, SettingError> {
        let error = |key, problem| SettingError {
            bot: bot.to_owned(),
            key,
            problem,
        };
        // An empty token leaves the signature computable by anyone.
        let token = settings
            .token
            .clone()
            .filter(|t| !t.expose().is_empty())
            .ok_or_else(|| error("token", "required and must not be empty"))?;
        let aes_key = settings
            .encoding_aes_key
            .as_ref()
            .ok_or_else(|| error("encoding_aes_key", "required"))?;
        let corp_id = settings
            .corp_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let corp_secret = settings
            .corp_secret
            .as_ref()
            .filter(|s| !s.expose().is_empty());
        let app = match (corp_id, corp_secret, settings.agent_id) {
            (Some(corp_id), Some(corp_secret), Some(agent_id)) => Some(AppCredentials {
                corp_id: corp_id.to_owned(),
                corp_secret: corp_secret.clone(),
                agent_id,
            }),
            _ if settings.mode == WecomMode::App => {
                return Err(error(
                    "corp_id",
                    "app mode needs corp_id, corp_secret and agent_id",
                ));
            }
            _ => None,
        };
        // The receive id inside every ciphertext: the corp id for the app, "" for the AI bot
        // (platforms.md pitfall 5).
        let receive_id = match settings.mode {
            WecomMode::App => corp_id.unwrap_or_default(),
            WecomMode::Aibot => "",
        };
        let crypt = MsgCrypt::new(aes_key.expose(), receive_id).map_err(|_| {
            error(
                "encoding_aes_key",
                "must be the 43-character EncodingAESKey from the console",
            )
        })?;
        let push_chat_id = settings
            .push_chat_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        if settings.push_webhook_key.is_some() && push_chat_id.is_none() {
            tracing::warn!(
                bot,
                "wecom push_webhook_key is set without push_chat_id; the push robot stays unused"
            );
        }
        Ok(Self {
            bot: bot.to_owned(),
            mode: settings.mode,
            token,
            crypt,
            app,
            push_webhook_key: settings
                .push_webhook_key
                .clone()
                .filter(|k| !k.expose().is_empty()),
            push_chat_id,
            bot_name: settings
                .bot_name
                .as_deref()
                .map(|n| n.trim().trim_start_matches('@').to_owned())
                .filter(|n| !n.is_empty()),
            api_base: settings.api_base.trim_end_matches('/').to_owned(),
            limits: settings.limits.unwrap_or(LIMITS),
            client,
            store,
        })
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The three signed query parameters.
struct Signed {
    signature: String,
    timestamp: String,
    nonce: String,
}

fn signed(request: &InboundRequest<'_>) -> Result<Signed, PlatformError> {
    let get = |name| {
        request
            .query_param(name)
            .filter(|v| !v.is_empty() && v.len() <= 128)
    };
    match (get("msg_signature"), get("timestamp"), get("nonce")) {
        (Some(signature), Some(timestamp), Some(nonce)) => Ok(Signed {
            signature,
            timestamp,
            nonce,
        }),
        _ => Err(PlatformError::Unauthenticated("missing_signature")),
    }
}

/// The outer `{"encrypt": …}` of an AI bot callback.
#[derive(Debug, Deserialize)]
struct JsonEnvelope {
    encrypt: String,
}

/// The outer `<xml><ToUserName/><AgentID/><Encrypt/></xml>` of an app callback.
#[derive(Debug, Deserialize)]
struct XmlEnvelope {
    #[serde(rename = "Encrypt")]
    encrypt: String,
}

/// Refuses XML that declares anything: a DTD could define entities, and entities are how
/// XXE and billion-laughs attacks work. WeCom never sends a declaration, and quick-xml would
/// not expand one, so refusing outright costs nothing. CDATA sections are allowed.
fn reject_declarations(xml: &str) -> Result<(), PlatformError> {
    let mut rest = xml;
    while let Some(at) = rest.find("<!") {
        let tail = rest.get(at..).unwrap_or_default();
        if !tail.starts_with("<![CDATA[") {
            return Err(PlatformError::Malformed(
                "XML declarations (DOCTYPE, ENTITY, comments) are not accepted".to_owned(),
            ));
        }
        rest = tail.get(2..).unwrap_or_default();
    }
    Ok(())
}

fn parse_xml<T: serde::de::DeserializeOwned>(xml: &str) -> Result<T, PlatformError> {
    reject_declarations(xml)?;
    // quick-xml's messages quote tag names from the request; `malformed` cuts them on a
    // character boundary (a byte-index cut here once let a non-ASCII tag name panic).
    quick_xml::de::from_str(xml).map_err(|e| PlatformError::malformed(format!("XML: {e}")))
}

fn crypto_rejection(error: &CryptoError) -> PlatformError {
    PlatformError::Unauthenticated(match error {
        CryptoError::ReceiveId => "receive_id",
        CryptoError::IllegalAesKey | CryptoError::Decrypt | CryptoError::IllegalBuffer => "decrypt",
    })
}

/// The decrypted AI bot callback (path/100719): only the fields we read.
#[derive(Debug, Deserialize)]
struct AibotMessage {
    #[serde(default)]
    msgid: Option<String>,
    #[serde(default)]
    chatid: Option<String>,
    #[serde(default)]
    chattype: Option<String>,
    #[serde(default)]
    from: Option<AibotFrom>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    msgtype: Option<String>,
    #[serde(default)]
    text: Option<AibotText>,
}

#[derive(Debug, Deserialize)]
struct AibotFrom {
    #[serde(default)]
    userid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AibotText {
    #[serde(default)]
    content: Option<String>,
}

/// The decrypted app callback (path/90239 text message): only the fields we read.
#[derive(Debug, Deserialize)]
struct AppMessage {
    #[serde(rename = "FromUserName", default)]
    from: Option<String>,
    #[serde(rename = "CreateTime", default)]
    create_time: Option<String>,
    #[serde(rename = "MsgType", default)]
    msg_type: Option<String>,
    #[serde(rename = "Content", default)]
    content: Option<String>,
    #[serde(rename = "MsgId", default)]
    msg_id: Option<String>,
}

/// Reply routing carried by an AI bot event to its deferred replies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
struct Context {
    /// The chat the `response_url` answers into.
    chat_id: String,
    /// The one-shot reply URL.
    response_url: String,
    /// Unix seconds after which it is no longer tried.
    expires_at: i64,
}

/// An empty 200: "received, nothing to say" for both modes (WeCom accepts an empty body).
fn acknowledge() -> Response {
    StatusCode::OK.into_response()
}

/// A string id from the wire: non-empty, bounded, no control characters.
fn wire_id(field: &str, value: Option<&str>) -> Result<String, PlatformError> {
    let value = value.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(PlatformError::Malformed(format!("{field} is missing")));
    }
    if value.chars().count() > MAX_ID_CHARS || value.chars().any(char::is_control) {
        return Err(PlatformError::Malformed(format!(
            "{field} is not a plausible id"
        )));
    }
    Ok(value.to_owned())
}

/// Characters WeCom and WeChat put after an @-mention, besides ordinary spaces.
fn is_mention_gap(c: char) -> bool {
    c.is_whitespace() || c == '\u{2005}' || c == '\u{3000}'
}

impl WecomAdapter {
    /// The AI bot's content with its own @-mention removed. The payload has no mention list
    /// (pitfall 7), so the name is matched in the text: `@bot_name` anywhere when the name is
    /// configured, otherwise a leading `@word`.
    fn strip_mention(&self, content: &str) -> String {
        let content = content.trim_matches(is_mention_gap);
        let stripped = match &self.bot_name {
            Some(name) => content.replace(&format!("@{name}"), " "),
            None => match content.strip_prefix('@') {
                Some(rest) => rest
                    .find(is_mention_gap)
                    .and_then(|at| rest.get(at..))
                    .unwrap_or_default()
                    .to_owned(),
                None => content.to_owned(),
            },
        };
        stripped.trim_matches(is_mention_gap).to_owned()
    }

    fn chat(&self, chat_id: String) -> ChatRef {
        ChatRef {
            platform: PlatformKind::Wecom,
            bot: self.bot.clone(),
            chat_id,
        }
    }

    /// The callback's ciphertext: `echostr` for GET, the body's `encrypt` for POST.
    fn ciphertext(&self, request: &InboundRequest<'_>) -> Result<String, PlatformError> {
        if *request.method == Method::GET {
            return request
                .query_param("echostr")
                .filter(|e| !e.is_empty())
                .ok_or_else(|| PlatformError::Malformed("echostr is missing".to_owned()));
        }
        let body = std::str::from_utf8(request.body)
            .map_err(|_| PlatformError::Malformed("the body is not UTF-8".to_owned()))?;
        let encrypt = match self.mode {
            WecomMode::Aibot => {
                serde_json::from_str::<JsonEnvelope>(body)
                    .map_err(|e| PlatformError::malformed(format!("JSON: {e}")))?
                    .encrypt
            }
            WecomMode::App => parse_xml::<XmlEnvelope>(body)?.encrypt,
        };
        if encrypt.is_empty() {
            return Err(PlatformError::Malformed("encrypt is empty".to_owned()));
        }
        Ok(encrypt)
    }

    /// [`Platform::verify`] against a given clock, so the official vectors (from 2014) can be
    /// checked.
    fn verify_at(&self, request: InboundRequest<'_>, now: i64) -> Result<(), PlatformError> {
        let signed = signed(&request)?;
        let timestamp: i64 = signed
            .timestamp
            .parse()
            .map_err(|_| PlatformError::Unauthenticated("bad_timestamp"))?;
        let skew = now.saturating_sub(timestamp).unsigned_abs();
        if skew > MAX_SKEW.as_secs() {
            return Err(PlatformError::Unauthenticated("stale_timestamp"));
        }
        let ciphertext = self
            .ciphertext(&request)
            .map_err(|_| PlatformError::Unauthenticated("no_ciphertext"))?;
        if crypto::signature_matches(
            self.token.expose(),
            &signed.timestamp,
            &signed.nonce,
            &ciphertext,
            &signed.signature,
        ) {
            Ok(())
        } else {
            Err(PlatformError::Unauthenticated("signature"))
        }
    }

    /// An AI bot callback, decrypted.
    ///
    /// <https://developer.work.weixin.qq.com/document/path/100719>
    fn parse_aibot(&self, plain: &str) -> Result<Inbound, PlatformError> {
        let message: AibotMessage = serde_json::from_str(plain)
            .map_err(|e| PlatformError::malformed(format!("decrypted JSON: {e}")))?;
        // Images, mixed messages, stream refreshes and events are acknowledged and ignored.
        if message.msgtype.as_deref() != Some("text") {
            return Ok(Inbound::Immediate(acknowledge()));
        }
        let message_id = wire_id("msgid", message.msgid.as_deref())?;
        let sender_id = wire_id(
            "from.userid",
            message.from.as_ref().and_then(|f| f.userid.as_deref()),
        )?;
        let (chat_kind, chat_id) = match message.chattype.as_deref() {
            Some("group") => (
                ChatKind::Group,
                wire_id("chatid", message.chatid.as_deref())?,
            ),
            // A 1:1 chat has no chatid: the user is the chat.
            Some("single") => (ChatKind::Private, sender_id.clone()),
            _ => return Ok(Inbound::Immediate(acknowledge())),
        };
        let content = message.text.and_then(|t| t.content).unwrap_or_default();
        let context = message
            .response_url
            .filter(|u| !u.is_empty() && u.len() <= 2048)
            .map(|response_url| {
                json!(Context {
                    chat_id: chat_id.clone(),
                    response_url,
                    expires_at: now_secs()
                        + i64::try_from(RESPONSE_URL_LIFE.as_secs()).unwrap_or(0),
                })
            });
        Ok(Inbound::Event(InboundEvent {
            chat: self.chat(chat_id),
            chat_kind,
            sender_id,
            // The AI bot gives no names; the pipeline looks them up (app credentials needed).
            sender_name: None,
            message_id,
            text: self.strip_mention(&content),
            // Group callbacks arrive only when the bot is @'d; a 1:1 chat is always addressed.
            mentioned: true,
            sent_at: None,
            context,
        }))
    }

    /// An app callback, decrypted.
    ///
    /// <https://developer.work.weixin.qq.com/document/path/90239>
    fn parse_app(&self, plain: &str) -> Result<Inbound, PlatformError> {
        let message: AppMessage = parse_xml(plain)?;
        if message.msg_type.as_deref() != Some("text") {
            return Ok(Inbound::Immediate(acknowledge()));
        }
        let sender_id = wire_id("FromUserName", message.from.as_deref())?;
        let message_id = wire_id("MsgId", message.msg_id.as_deref())?;
        let sent_at = message
            .create_time
            .as_deref()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0));
        Ok(Inbound::Event(InboundEvent {
            chat: self.chat(sender_id.clone()),
            // Apps cannot be added to groups (pitfall 6): every message is 1:1.
            chat_kind: ChatKind::Private,
            sender_id,
            sender_name: None,
            message_id,
            text: message.content.unwrap_or_default().trim().to_owned(),
            mentioned: true,
            sent_at,
            context: None,
        }))
    }

    /// Seals a passive reply: the AI bot's `stream` JSON, or the app's text XML. `content` is
    /// already rendered for the mode (see [`WecomAdapter::render_inline`]).
    fn passive_reply(&self, event: &InboundEvent, content: &str) -> Response {
        let timestamp = now_secs().to_string();
        let nonce = format!("{}", rand::random::<u32>() % 900_000_000 + 100_000_000);
        match self.mode {
            // https://developer.work.weixin.qq.com/document/path/101031
            WecomMode::Aibot => {
                let plain = json!({
                    "msgtype": "stream",
                    "stream": {
                        "id": stream_id(&event.message_id),
                        "finish": true,
                        "content": content,
                    }
                });
                let encrypt = self.crypt.encrypt(plain.to_string().as_bytes());
                let signature =
                    crypto::signature(self.token.expose(), &timestamp, &nonce, &encrypt);
                // The official WXBizJsonMsgCrypt sends every field as a string; note
                // `msgsignature` has no underscore.
                let body = json!({
                    "encrypt": encrypt,
                    "msgsignature": signature,
                    "timestamp": timestamp,
                    "nonce": nonce,
                });
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
                    .into_response()
            }
            // https://developer.work.weixin.qq.com/document/path/90241
            WecomMode::App => {
                let corp_id = self.app.as_ref().map_or("", |a| a.corp_id.as_str());
                let plain = format!(
                    "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
                     <CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
                     <Content>{}</Content></xml>",
                    cdata(&event.sender_id),
                    cdata(corp_id),
                    cdata(content),
                );
                let encrypt = self.crypt.encrypt(plain.as_bytes());
                let signature =
                    crypto::signature(self.token.expose(), &timestamp, &nonce, &encrypt);
                let body = format!(
                    "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature>\
                     <TimeStamp>{timestamp}</TimeStamp><Nonce>{}</Nonce></xml>",
                    cdata(&encrypt),
                    cdata(&signature),
                    cdata(&nonce),
                );
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
                    body,
                )
                    .into_response()
            }
        }
    }

    /// The most that fits inline, in bytes of the mode's content field.
    fn inline_budget(&self) -> usize {
        match self.mode {
            WecomMode::Aibot => MAX_MARKDOWN_BYTES,
            WecomMode::App => MAX_TEXT_BYTES,
        }
    }

    /// A reply rendered for the mode's passive reply: markdown for the AI bot's stream, text
    /// for the app.
    fn render_inline(&self, text: &str) -> String {
        match self.mode {
            WecomMode::Aibot => render_markdown(text),
            WecomMode::App => render_plain(text),
        }
    }
}

/// A stable stream id per message, so a retried webhook gets the same reply.
fn stream_id(message_id: &str) -> String {
    crypto::signature("stream", message_id, "", "")
        .chars()
        .take(16)
        .collect()
}

/// `<![CDATA[…]]>`, splitting any `]]>` in the text so it cannot close the section.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// Whether `user_id` can be written as a WeCom markdown mention `<@user_id>`: a userid's
/// characters only, and never `all` (the bot never means to notify everyone).
fn mentionable(user_id: &str) -> bool {
    !user_id.is_empty()
        && user_id.len() <= 64
        && !user_id.eq_ignore_ascii_case("all")
        && user_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
}

/// WeCom's escape for markdown. The characters that open inline markup (`<@id>`, `<font>`,
/// autolinks, `[links]`, code, emphasis, strikethrough) become their full-width forms (`_`
/// only where it could open emphasis, so that `a_b` in a URL stays), an `&` that opens a
/// character reference gets a zero-width space after it, and a line that could open a block
/// (a `#` heading, a list, a rule, a table, indented code) starts with a zero-width space,
/// which makes it a plain paragraph. The AI bot's stream takes "common markdown", the push robot a
/// documented subset; this covers both. Whether WeCom honours backslash escapes is not
/// documented, so none are relied on.
///
/// <https://developer.work.weixin.qq.com/document/path/91770#markdown类型>
fn escape_markdown(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut line_start = true;
    for (i, &c) in chars.iter().enumerate() {
        if line_start {
            let rest = chars.get(i..).unwrap_or_default();
            let indent = rest.iter().take_while(|c| matches!(c, ' ' | '\t')).count();
            // What opens a block in common markdown: a heading, a list item or rule, a
            // setext underline, a table, an ordered list, indented code. (`>` quotes, `*`
            // and fences are made full-width below.)
            let opens_block = indent >= 4
                || rest.first() == Some(&'\t')
                || rest.get(indent).is_some_and(|f| {
                    matches!(f, '#' | '-' | '+' | '=' | '|') || f.is_ascii_digit()
                });
            if opens_block {
                out.push(render::ZWSP);
            }
        }
        let between_words = || {
            let before = i.checked_sub(1).and_then(|b| chars.get(b));
            before.is_some_and(|b| b.is_alphanumeric())
                && chars.get(i + 1).is_some_and(|a| a.is_alphanumeric())
        };
        match c {
            '<' => out.push('＜'),
            '>' => out.push('＞'),
            '[' => out.push('［'),
            ']' => out.push('］'),
            '`' => out.push('｀'),
            '*' => out.push('＊'),
            '~' => out.push('～'),
            '_' if !between_words() => out.push('＿'),
            other => out.push(other),
        }
        line_start = matches!(c, '\n' | '\r');
    }
    render::break_entities(&out)
}

/// WeCom's escape for an app's text messages, which render `<a href>` tags: `<` and `>`
/// become full-width.
fn escape_text(text: &str) -> String {
    text.replace('<', "＜").replace('>', "＞")
}

/// Outgoing text as markdown (AI bot stream and `response_url`, push robot): escaped,
/// mentions as `<@userid>`, cut to 4096 bytes.
pub(super) fn render_markdown(text: &str) -> String {
    render::render_string(
        text,
        Limit::bytes(MAX_MARKDOWN_BYTES),
        escape_markdown,
        |user_id, name| {
            if mentionable(user_id) {
                format!("<@{user_id}>")
            } else {
                format!("@{}", escape_markdown(name))
            }
        },
    )
}

/// Outgoing text as an app's text message: escaped, mentions as names, cut to 2048 bytes.
pub(super) fn render_plain(text: &str) -> String {
    render::render_string(
        text,
        Limit::bytes(MAX_TEXT_BYTES),
        escape_text,
        |_, name| format!("@{}", escape_text(name)),
    )
}

impl WecomAdapter {
    /// Picks the route that can reach `message.chat_id`: the event's `response_url`, the
    /// push robot's one group, or the app (see `api.rs` for each call).
    async fn deliver(&self, message: &OutboundMessage) -> Result<(), SendError> {
        let text = message.text.trim();
        if text.is_empty() {
            return Err(SendError::permanent("the message text is empty"));
        }
        // 1. The event's own response_url, for a reply to the chat it came from.
        let context: Option<Context> = message
            .context
            .clone()
            .and_then(|c| serde_json::from_value(c).ok());
        let mut refused = None;
        if let Some(ctx) = context
            && ctx.chat_id == message.chat_id
            && ctx.expires_at > now_secs()
        {
            match self.response_url_send(&ctx.response_url, text).await {
                Ok(()) => return Ok(()),
                // Used or expired: another route may still reach the chat.
                Err(e @ SendError::Permanent { .. }) => refused = Some(e),
                Err(other) => return Err(other),
            }
        }
        // 2. The push robot, for the one group it sits in.
        if let (Some(key), Some(chat)) = (&self.push_webhook_key, &self.push_chat_id)
            && *chat == message.chat_id
        {
            return self.robot_send(key, text).await;
        }
        // 3. The app, to a member (app mode, or an AI bot with app credentials).
        if let Some(app) = &self.app {
            return self.app_send(app, &message.chat_id, text).await;
        }
        Err(refused.unwrap_or_else(|| {
            SendError::permanent(
                "no route to this chat: an AI bot answers through response_url within an hour; \
                 configure push_webhook_key with push_chat_id, or app credentials",
            )
        }))
    }
}

impl Platform for WecomAdapter {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Wecom
    }

    fn bot(&self) -> &str {
        &self.bot
    }

    fn verify(&self, request: InboundRequest<'_>) -> Result<(), PlatformError> {
        self.verify_at(request, now_secs())
    }

    fn parse(&self, request: InboundRequest<'_>) -> Result<Inbound, PlatformError> {
        let ciphertext = self.ciphertext(&request)?;
        let plain = self
            .crypt
            .decrypt(&ciphertext)
            .map_err(|e| crypto_rejection(&e))?;
        if *request.method == Method::GET {
            // URL verification: the plaintext as the bare body, no quotes, no newline
            // (pitfall 4).
            return Ok(Inbound::Immediate(
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    plain,
                )
                    .into_response(),
            ));
        }
        let plain = String::from_utf8(plain).map_err(|_| {
            PlatformError::Malformed("the decrypted message is not UTF-8".to_owned())
        })?;
        match self.mode {
            WecomMode::Aibot => self.parse_aibot(&plain),
            WecomMode::App => self.parse_app(&plain),
        }
    }

    /// Every reply to the event's chat is joined into the one passive reply while it fits;
    /// what does not fit, and replies to other chats, are deferred.
    fn render_replies(&self, event: &InboundEvent, replies: &[Reply]) -> Rendered {
        let budget = self.inline_budget();
        let mut inline = String::new();
        let mut deferred = Vec::new();
        for reply in replies {
            if reply.chat_id != event.chat.chat_id {
                deferred.push(reply.clone());
                continue;
            }
            // Each reply is rendered on its own: it opens a line, as it will when joined.
            let rendered = self.render_inline(&reply.text);
            let fits = inline.is_empty() || inline.len() + JOINER.len() + rendered.len() <= budget;
            if fits {
                if !inline.is_empty() {
                    inline.push_str(JOINER);
                }
                inline.push_str(&rendered);
            } else {
                deferred.push(reply.clone());
            }
        }
        if inline.trim().is_empty() {
            return Rendered {
                response: acknowledge(),
                deferred,
            };
        }
        Rendered {
            response: self.passive_reply(event, &inline),
            deferred,
        }
    }

    fn accepts_get(&self) -> bool {
        true
    }

    fn send<'a>(&'a self, message: &'a OutboundMessage) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(self.deliver(message))
    }

    fn limits(&self) -> SendLimits {
        self.limits
    }

    fn fetch_display_name<'a>(
        &'a self,
        _chat_id: &'a str,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, SendError>> {
        Box::pin(self.lookup_name(user_id))
    }
}

#[cfg(test)]
mod tests;
