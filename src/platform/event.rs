//! The common inbound event and outbound reply that every adapter speaks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::chat::{ChatKind, ChatRef, Sender};

/// A message as every platform delivers it, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundEvent {
    /// Where it was said.
    pub chat: ChatRef,
    /// Group or private.
    pub chat_kind: ChatKind,
    /// The sender's platform id.
    pub sender_id: String,
    /// The sender's display name, when the platform gives one.
    pub sender_name: Option<String>,
    /// The platform's stable message id (the dedup key).
    pub message_id: String,
    /// The text with the bot mention removed.
    pub text: String,
    /// Whether the bot was mentioned.
    pub mentioned: bool,
    /// When the platform says it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// Platform-specific routing for replies (DingTalk's `sessionWebhook`, a message id to
    /// reply to), opaque to everything but the adapter that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
}

impl InboundEvent {
    /// Who sent it and where, as services take it.
    pub fn sender(&self) -> Sender {
        Sender {
            chat: self.chat.clone(),
            chat_kind: self.chat_kind,
            user_id: self.sender_id.clone(),
            name: self.sender_name.clone(),
        }
    }

    /// `platform:bot:chat_id:message_id`: names this message wherever its effects are keyed,
    /// so that a platform's retry finds the effects of the first delivery.
    pub fn origin(&self) -> String {
        format!("{}:{}", self.chat.key(), self.message_id)
    }
}

/// One message the bot answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The chat to answer in: usually the event's chat, or a private chat for sensitive text.
    pub chat_id: String,
    /// The text.
    pub text: String,
}
