//! The `sim` platform: plain JSON in, replies inline, proactive messages in a Redis mailbox.
//! It is the embedded default a newcomer talks to before any real chat account exists.
//!
//! Text rule: the sim has no markup and notifies no one, so text is shown exactly as written
//! and a mention token becomes `@name`; nothing can come alive here. (What a user typed that
//! reads `@所有人` stays those characters; the sim gives them no meaning.)

use axum::{Json, http::StatusCode, response::IntoResponse};
use serde::{Deserialize, Serialize};

use super::{
    BoxFuture, ChatKind, ChatRef, Inbound, InboundEvent, InboundRequest, OutboundMessage, Platform,
    PlatformError, PlatformKind, Rendered, Reply, SendError, SendLimits,
};
use crate::{
    config::{Secret, SimBot},
    error::Cause,
    store::{Store, StoreError, mailbox::MailboxMessage},
};

/// Header carrying the shared secret of a secured sim bot.
pub const SECRET_HEADER: &str = "x-sim-secret";

/// Longest id accepted for chats, users and messages.
const MAX_ID_LEN: usize = 128;
/// Longest display name accepted.
const MAX_NAME_LEN: usize = 64;

/// The body of `POST /webhook/sim/{bot}`.
#[derive(Debug, Deserialize)]
struct SimMessage {
    chat_id: Option<String>,
    #[serde(default)]
    chat_type: Option<ChatKind>,
    user_id: String,
    user_name: Option<String>,
    message_id: String,
    text: String,
}

/// The body of the answer.
#[derive(Debug, Serialize)]
struct SimReplies<'a> {
    replies: &'a [Reply],
}

/// A configured sim bot.
#[derive(Debug)]
pub struct SimAdapter {
    bot: String,
    secret: Option<Secret>,
    limits: SendLimits,
    store: Store,
}

impl SimAdapter {
    /// Builds the adapter from its `[bots.<name>]` table; proactive messages go to `store`.
    pub fn new(bot: &str, settings: &SimBot, store: Store) -> Self {
        Self {
            bot: bot.to_owned(),
            secret: settings.secret.clone(),
            limits: settings.limits.unwrap_or(SendLimits::UNLIMITED),
            store,
        }
    }
}

/// The private chat id of user `user_id` on sim.
pub fn private_chat_id(user_id: &str) -> String {
    format!("dm:{user_id}")
}

/// The sim's rendering: text as written, a mention as `@name`.
pub(super) fn render_text(text: &str) -> String {
    super::render::plain_text(text)
}

fn check_id(field: &str, value: &str, max: usize) -> Result<(), PlatformError> {
    if value.trim().is_empty() {
        return Err(PlatformError::Malformed(format!(
            "{field} must not be empty"
        )));
    }
    if value.chars().count() > max {
        return Err(PlatformError::Malformed(format!(
            "{field} is longer than {max} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(PlatformError::Malformed(format!(
            "{field} holds control characters"
        )));
    }
    Ok(())
}

fn no_colon(field: &str, value: &str) -> Result<(), PlatformError> {
    if value.contains(':') {
        return Err(PlatformError::Malformed(format!(
            "{field} must not contain ':'"
        )));
    }
    Ok(())
}

impl Platform for SimAdapter {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Sim
    }

    fn bot(&self) -> &str {
        &self.bot
    }

    fn verify(&self, request: InboundRequest<'_>) -> Result<(), PlatformError> {
        let Some(secret) = &self.secret else {
            // Startup refuses a sim bot with neither a secret nor `insecure = true`.
            return Ok(());
        };
        super::check_secret_header(request, SECRET_HEADER, secret.expose())
    }

    fn parse(&self, request: InboundRequest<'_>) -> Result<Inbound, PlatformError> {
        let msg: SimMessage = super::parse_json(request.body)?;

        let chat_kind = msg.chat_type.unwrap_or(ChatKind::Group);
        check_id("user_id", &msg.user_id, MAX_ID_LEN)?;
        check_id("message_id", &msg.message_id, MAX_ID_LEN)?;
        // Keys join the chat, the sender and the message with `:` (`dedup:<platform>:<bot>:
        // <chat_id>:<message_id>`), and a private chat is `dm:<user_id>`: ids a caller picks
        // must not hold one, or two messages could share a key.
        no_colon("user_id", &msg.user_id)?;
        no_colon("message_id", &msg.message_id)?;
        let chat_id = match (chat_kind, msg.chat_id) {
            (ChatKind::Group, Some(id)) => {
                no_colon("chat_id", &id)?;
                id
            }
            (_, Some(id)) => id,
            (ChatKind::Private, None) => private_chat_id(&msg.user_id),
            (ChatKind::Group, None) => {
                return Err(PlatformError::Malformed("chat_id is required".to_owned()));
            }
        };
        check_id("chat_id", &chat_id, MAX_ID_LEN)?;
        if chat_kind == ChatKind::Private && chat_id != private_chat_id(&msg.user_id) {
            return Err(PlatformError::Malformed(
                "a private chat_id must be \"dm:<user_id>\"".to_owned(),
            ));
        }
        let sender_name = match msg.user_name {
            Some(name) if !name.trim().is_empty() => {
                check_id("user_name", &name, MAX_NAME_LEN)?;
                Some(name.trim().to_owned())
            }
            _ => None,
        };
        Ok(Inbound::Event(InboundEvent {
            chat: ChatRef {
                platform: PlatformKind::Sim,
                bot: self.bot.clone(),
                chat_id,
            },
            chat_kind,
            sender_id: msg.user_id,
            sender_name,
            message_id: msg.message_id,
            text: msg.text,
            mentioned: false,
            sent_at: None,
            context: None,
        }))
    }

    fn render_replies(&self, _event: &InboundEvent, replies: &[Reply]) -> Rendered {
        let replies: Vec<Reply> = replies
            .iter()
            .map(|r| Reply {
                chat_id: r.chat_id.clone(),
                text: render_text(&r.text),
            })
            .collect();
        Rendered::inline((StatusCode::OK, Json(SimReplies { replies: &replies })).into_response())
    }

    fn send<'a>(&'a self, message: &'a OutboundMessage) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let delivered = MailboxMessage {
                chat_id: message.chat_id.clone(),
                text: render_text(&message.text),
                at: chrono::Utc::now(),
            };
            self.store
                .push_mailbox(&self.bot, &delivered)
                .await
                .map_err(|e| {
                    let failure = match e {
                        StoreError::Unavailable(_) => SendError::transient,
                        _ => SendError::permanent,
                    };
                    failure("the sim mailbox could not take the message").because(Cause::of(&e))
                })
        })
    }

    fn limits(&self) -> SendLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use axum::{body::Bytes, http::HeaderMap};

    use super::*;

    fn adapter(secret: Option<&str>) -> SimAdapter {
        let settings = crate::config::Settings::load(&Default::default()).unwrap();
        SimAdapter {
            bot: "demo".to_owned(),
            secret: secret.map(Secret::new),
            limits: SendLimits::UNLIMITED,
            store: Store::new(&settings.redis).unwrap(),
        }
    }

    #[tokio::test]
    async fn a_secured_sim_bot_never_matches_an_empty_header_or_an_empty_configured_secret() {
        let body = Bytes::new();
        let with = |value: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(v) = value {
                h.insert(SECRET_HEADER, v.parse().unwrap());
            }
            h
        };
        // Config validation refuses an empty secret; the adapter refuses to match one anyway.
        let empty = adapter(Some(""));
        for header in [None, Some("")] {
            assert!(matches!(
                empty.verify(InboundRequest::post(&with(header), &body)),
                Err(PlatformError::Unauthenticated(_))
            ));
        }
        let secured = adapter(Some("sim-secret-0123456789"));
        for header in [None, Some(""), Some("sim-secret")] {
            assert!(
                secured
                    .verify(InboundRequest::post(&with(header), &body))
                    .is_err(),
                "{header:?}"
            );
        }
        assert!(
            secured
                .verify(InboundRequest::post(
                    &with(Some("sim-secret-0123456789")),
                    &body
                ))
                .is_ok()
        );
    }

    fn parse(body: &str) -> Result<Inbound, PlatformError> {
        let headers = HeaderMap::new();
        let body = Bytes::from(body.to_owned());
        adapter(None).parse(InboundRequest::post(&headers, &body))
    }

    #[tokio::test]
    async fn a_group_message_becomes_an_event_with_defaults() {
        let Inbound::Event(e) = parse(
            r#"{"chat_id":"g1","user_id":"u1","user_name":"张三","message_id":"m1","text":"签到"}"#,
        )
        .unwrap() else {
            panic!("expected an event")
        };
        assert_eq!(e.chat.chat_id, "g1");
        assert_eq!(e.chat_kind, ChatKind::Group);
        assert_eq!(e.sender_name.as_deref(), Some("张三"));
    }

    #[tokio::test]
    async fn a_private_message_defaults_to_the_dm_chat() {
        let Inbound::Event(e) =
            parse(r#"{"chat_type":"private","user_id":"u1","message_id":"m1","text":"我的"}"#)
                .unwrap()
        else {
            panic!("expected an event")
        };
        assert_eq!(e.chat.chat_id, "dm:u1");
    }

    #[tokio::test]
    async fn bad_bodies_are_malformed_and_name_the_field() {
        for (body, needle) in [
            (
                r#"{"chat_id":"g1","user_id":"u1","text":"x"}"#,
                "message_id",
            ),
            (
                r#"{"chat_id":"g1","user_id":"","message_id":"m","text":"x"}"#,
                "user_id",
            ),
            (r#"{"user_id":"u1","message_id":"m","text":"x"}"#, "chat_id"),
            (
                r#"{"chat_id":"dm:u1","user_id":"u2","message_id":"m","text":"x"}"#,
                "chat_id must not contain ':'",
            ),
            (
                r#"{"chat_id":"g1","user_id":"u:1","message_id":"m","text":"x"}"#,
                "user_id must not contain ':'",
            ),
            (
                r#"{"chat_id":"g1","user_id":"u1","message_id":"a:b","text":"x"}"#,
                "message_id must not contain ':'",
            ),
            (
                r#"{"chat_id":"g1","chat_type":"private","user_id":"u1","message_id":"m","text":"x"}"#,
                "dm:",
            ),
            (
                r#"{"chat_id":"g1","user_id":"u1","message_id":"m","text":5}"#,
                "text",
            ),
            ("not json", "expected"),
        ] {
            match parse(body) {
                Err(PlatformError::Malformed(m)) => assert!(m.contains(needle), "{m} / {needle}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_secured_bot_checks_the_header() {
        let a = adapter(Some("s3cret"));
        let body = Bytes::new();
        let mut headers = HeaderMap::new();
        assert!(a.verify(InboundRequest::post(&headers, &body)).is_err());
        headers.insert(SECRET_HEADER, "wrong".parse().unwrap());
        assert!(a.verify(InboundRequest::post(&headers, &body)).is_err());
        headers.insert(SECRET_HEADER, "s3cret".parse().unwrap());
        assert!(a.verify(InboundRequest::post(&headers, &body)).is_ok());
    }
    /// The shared hostile inputs (`platform::fuzz`) on an insecure and a secured bot: every
    /// variant of a group and a private message, and hostile bytes at every offset of the
    /// secret header. Nothing panics and every refusal is a clean `PlatformError`.
    #[tokio::test]
    async fn hostile_inputs_never_panic_and_fail_cleanly() {
        use axum::http::HeaderValue;

        use crate::platform::fuzz::{self, Tally};

        let started = std::time::Instant::now();
        let (open, locked) = (adapter(None), adapter(Some("sim-secret")));
        let run = |a: &SimAdapter, h: &HeaderMap, label: &str, body: &[u8], tally: &mut Tally| {
            let bytes = Bytes::copy_from_slice(body);
            let request = InboundRequest::post(h, &bytes);
            let verified = fuzz::survive(label, body, || a.verify(request)).is_some();
            let parsed = verified
                .then(|| fuzz::survive(label, body, || a.parse(request)))
                .flatten();
            if let Some(Inbound::Event(e)) = tally.count(verified, parsed) {
                fuzz::survive(label, body, || {
                    let reply = Reply {
                        chat_id: e.chat.chat_id.clone(),
                        text: format!(
                            "{} {}",
                            crate::platform::mention_token(&e.sender_id, &e.text),
                            e.text
                        ),
                    };
                    let _ = a.render_replies(&e, &[reply]);
                    Ok(())
                });
            }
        };

        let mut good = HeaderMap::new();
        good.insert(SECRET_HEADER, HeaderValue::from_static("sim-secret"));
        let mut bodies = Tally::default();
        for seed in [
            serde_json::json!({"chat_id": "g1", "user_id": "u1", "user_name": "张三",
                               "message_id": "m1", "text": "签到"}),
            serde_json::json!({"chat_type": "private", "user_id": "u1", "message_id": "m2",
                               "text": "我的"}),
        ] {
            let mut inputs = fuzz::spliced(seed.to_string().as_bytes());
            inputs.extend(fuzz::hostile_json(&seed));
            for input in &inputs {
                run(&open, &HeaderMap::new(), "body", input, &mut bodies);
                run(&locked, &good, "body", input, &mut bodies);
            }
        }
        let mut secrets = Tally::default();
        let body = r#"{"chat_id":"g1","user_id":"u1","message_id":"m3","text":"签到"}"#.as_bytes();
        for input in fuzz::spliced(b"sim-secret") {
            if let Ok(v) = HeaderValue::from_bytes(&input) {
                let mut h = HeaderMap::new();
                h.insert(SECRET_HEADER, v);
                run(&locked, &h, "secret header", body, &mut secrets);
            }
        }

        assert!(bodies.malformed > 0 && bodies.parsed > 0, "{bodies:?}");
        assert_eq!(bodies.unauthenticated, 0, "{bodies:?}");
        assert!(secrets.unauthenticated > 0, "{secrets:?}");
        eprintln!(
            "sim hostile inputs: bodies {bodies:?}, headers {secrets:?}, {:?}",
            started.elapsed()
        );
    }
}
