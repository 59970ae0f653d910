//! The `sim` platform's mailboxes: where proactive messages to a sim chat land, readable over
//! HTTP. Bounded so that a chatty test or demo cannot grow Redis without end.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Result, Store, decode, encode};

/// Messages kept per sim chat.
pub const MAILBOX_CAPACITY: isize = 500;

/// One delivered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxMessage {
    /// The chat it was sent to.
    pub chat_id: String,
    /// The text.
    pub text: String,
    /// When it was delivered.
    pub at: DateTime<Utc>,
}

impl Store {
    /// Appends a message to a sim chat's mailbox.
    pub async fn push_mailbox(&self, bot: &str, message: &MailboxMessage) -> Result<()> {
        let key = self.keys().sim_mailbox(bot, &message.chat_id);
        let raw = encode(&key, message)?;
        let mut conn = self.conn().await?;
        let _: () = redis::pipe()
            .atomic()
            .rpush(&key, raw)
            .ignore()
            .ltrim(&key, -MAILBOX_CAPACITY, -1)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// A sim chat's mailbox, oldest first.
    pub async fn read_mailbox(&self, bot: &str, chat_id: &str) -> Result<Vec<MailboxMessage>> {
        let key = self.keys().sim_mailbox(bot, chat_id);
        let mut conn = self.conn().await?;
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await?;
        raw.iter().map(|r| decode(&key, r)).collect()
    }
}
