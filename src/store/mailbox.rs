//! The `sim` platform's mailboxes: where proactive messages to a sim chat land, readable over
//! HTTP. Sim chat ids are whatever a caller sends, so every dimension is bounded: messages
//! per mailbox, how long a mailbox outlives its last message, and mailboxes per bot.

use std::{sync::LazyLock, time::Duration};

use chrono::{DateTime, Utc};
use redis::Script;
use serde::{Deserialize, Serialize};

use super::{Result, Store, decode, encode};

static PUSH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/sim_mailbox_push.lua")));

/// Messages kept per sim chat; older ones are dropped as new ones come.
pub const MAILBOX_CAPACITY: usize = 500;
/// A mailbox (and a bot's index of them) expires this long after its last message.
pub const MAILBOX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Mailboxes kept per sim bot: past it, the least recently written mailbox is deleted.
pub const MAILBOXES_PER_BOT: usize = 1000;

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
    /// Appends a message to a sim chat's mailbox, within the bounds above.
    pub async fn push_mailbox(&self, bot: &str, message: &MailboxMessage) -> Result<()> {
        let keys = self.keys();
        let key = keys.sim_mailbox(bot, &message.chat_id);
        let raw = encode(&key, message)?;
        let mut conn = self.conn().await?;
        let evicted: Vec<String> = PUSH
            .key(&key)
            .key(keys.sim_mailboxes(bot))
            .arg(raw)
            .arg(&message.chat_id)
            .arg(message.at.timestamp_millis())
            .arg(MAILBOX_CAPACITY)
            .arg(MAILBOX_TTL.as_millis() as u64)
            .arg(MAILBOXES_PER_BOT)
            .invoke_async(&mut conn)
            .await?;
        if !evicted.is_empty() {
            let stale: Vec<String> = evicted
                .iter()
                .map(|chat| keys.sim_mailbox(bot, chat))
                .collect();
            let _: () = redis::cmd("DEL").arg(&stale).query_async(&mut conn).await?;
        }
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
