//! The outbox's Redis side: per-chat queues of messages, a ready set of chats, leases, token
//! buckets and dead letters (capped and aged out through an index by time), all in the
//! `{outbox}` slot so each step is one Lua script.

use std::{sync::LazyLock, time::Duration};

use chrono::{DateTime, Utc};
use redis::Script;
use serde::{Deserialize, Serialize};

use super::{Result, Store, decode, encode};

static ENQUEUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/outbox_enqueue.lua")));
static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/outbox_claim.lua")));
static TAKE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/outbox_take.lua")));
static SETTLE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/outbox_settle.lua")));
static HOLD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/outbox_hold.lua")));
static REVIVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/outbox_revive.lua")));
static PRUNE_DEAD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/outbox_prune_dead.lua")));

/// A message waiting in (or dead-lettered from) the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMessage {
    /// Id.
    pub id: String,
    /// The bot that sends it.
    pub bot: String,
    /// The platform's chat id.
    pub chat_id: String,
    /// The text.
    pub text: String,
    /// The intent it was queued for (`meeting:<b>:7:reminder:1h:chat:<c>`).
    pub intent: String,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// Failed attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// The last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Reply routing from the event answered (see `InboundEvent::context`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
}

impl QueuedMessage {
    /// The chat member name used by the ready set and queue keys.
    pub fn chat(&self) -> String {
        chat_member(&self.bot, &self.chat_id)
    }
}

/// `<bot>:<chat_id>`: bot names hold no `:`, so the first `:` splits it back.
pub fn chat_member(bot: &str, chat_id: &str) -> String {
    format!("{bot}:{chat_id}")
}

/// Splits [`chat_member`] output.
pub fn split_chat_member(member: &str) -> Option<(&str, &str)> {
    member.split_once(':')
}

/// A send budget as a token bucket: `rate` tokens per ms up to `capacity`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Refill per millisecond.
    pub rate_per_ms: f64,
    /// Most tokens held.
    pub capacity: f64,
}

/// How many dead letters are kept, and how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetterLimits {
    /// The newest this many are kept.
    pub cap: usize,
    /// Each is dropped this long after it was dead-lettered.
    pub ttl: Duration,
}

/// What the buckets granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// This many sends (all wanted, or 1 for a digest).
    Send(u32),
    /// Nothing now; try again after this long.
    Wait(Duration),
    /// The turn no longer holds the chat's lease: nothing was taken, nothing may be sent.
    Lost,
}

/// How a chat's turn ended.
#[derive(Debug, Clone, Default)]
pub struct Settlement {
    /// Delivered message ids.
    pub delivered: Vec<String>,
    /// A message whose attempt count or error changed.
    pub update: Option<QueuedMessage>,
    /// A message given up on; it is dead-lettered as of `next_at` (the failure's time).
    pub dead: Option<QueuedMessage>,
    /// When the chat may send again, if messages remain.
    pub next_at: DateTime<Utc>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Store {
    /// Queues a message unless its intent was queued within the intent TTL. True if queued.
    pub async fn enqueue_message(
        &self,
        message: &QueuedMessage,
        intent_ttl: Duration,
    ) -> Result<bool> {
        let keys = self.keys();
        let chat = message.chat();
        let json = encode(&keys.outbox_messages(), message)?;
        let mut conn = self.conn().await?;
        let queued: i64 = ENQUEUE
            .key(keys.outbox_messages())
            .key(keys.outbox_intent(&message.intent))
            .key(keys.outbox_queue(&chat))
            .key(keys.outbox_ready())
            .key(keys.outbox_leases())
            .arg(&message.id)
            .arg(json)
            .arg(intent_ttl.as_millis().max(1) as u64)
            .arg(&chat)
            .arg(ms(message.queued_at))
            .invoke_async(&mut conn)
            .await?;
        Ok(queued == 1)
    }

    /// Claims up to `batch` chats whose messages may be sent now, each under a lease held by
    /// `token`. The token fences the turn: take, hold and settle do nothing for a token that
    /// lost the lease, so it must be fresh for every claim (a replica that lost a chat and
    /// claimed it again must not be mistaken for the turn that lost it).
    pub async fn claim_chats(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        token: &str,
        batch: usize,
    ) -> Result<Vec<String>> {
        let keys = self.keys();
        let mut conn = self.conn().await?;
        let chats: Vec<String> = CLAIM
            .key(keys.outbox_ready())
            .key(keys.outbox_leases())
            .key(keys.outbox_owners())
            .arg(ms(now))
            .arg(lease.as_millis() as u64)
            .arg(token)
            .arg(batch)
            .invoke_async(&mut conn)
            .await?;
        Ok(chats)
    }

    /// The first `limit` messages of a chat's queue, oldest first.
    pub async fn chat_messages(&self, chat: &str, limit: usize) -> Result<Vec<QueuedMessage>> {
        let keys = self.keys();
        let mut conn = self.conn().await?;
        let ids: Vec<String> = redis::cmd("LRANGE")
            .arg(keys.outbox_queue(chat))
            .arg(0)
            .arg(limit.saturating_sub(1))
            .query_async(&mut conn)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let raw: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(keys.outbox_messages())
            .arg(&ids)
            .query_async(&mut conn)
            .await?;
        raw.into_iter()
            .flatten()
            .map(|r| decode(&keys.outbox_messages(), &r))
            .collect()
    }

    /// Takes tokens for `want` sends to `chat` (and its bot), if `token` still holds the chat.
    pub async fn take_tokens(
        &self,
        chat: &str,
        token: &str,
        chat_bucket: Bucket,
        bot_bucket: Bucket,
        want: u32,
        now: DateTime<Utc>,
    ) -> Result<Grant> {
        let keys = self.keys();
        let bot = split_chat_member(chat).map_or(chat, |(bot, _)| bot);
        let mut conn = self.conn().await?;
        let (granted, wait): (i64, u64) = TAKE
            .key(keys.outbox_chat_bucket(chat))
            .key(keys.outbox_bot_bucket(bot))
            .key(keys.outbox_owners())
            .key(keys.outbox_leases())
            .arg(ms(now))
            .arg(chat_bucket.rate_per_ms)
            .arg(chat_bucket.capacity)
            .arg(bot_bucket.rate_per_ms)
            .arg(bot_bucket.capacity)
            .arg(want.max(1))
            .arg(chat)
            .arg(token)
            .invoke_async(&mut conn)
            .await?;
        Ok(match u32::try_from(granted) {
            Err(_) => Grant::Lost,
            Ok(0) => Grant::Wait(Duration::from_millis(wait)),
            Ok(n) => Grant::Send(n),
        })
    }

    /// While `token` holds the chat: drops the `delivered` messages from its queue and
    /// extends the lease to `until`. False if the turn lost the chat (nothing written).
    pub async fn hold_chat(
        &self,
        chat: &str,
        token: &str,
        until: DateTime<Utc>,
        delivered: &[String],
    ) -> Result<bool> {
        let keys = self.keys();
        let mut invocation = HOLD.prepare_invoke();
        invocation
            .key(keys.outbox_messages())
            .key(keys.outbox_queue(chat))
            .key(keys.outbox_leases())
            .key(keys.outbox_owners())
            .arg(chat)
            .arg(token)
            .arg(ms(until));
        for id in delivered {
            invocation.arg(id);
        }
        let mut conn = self.conn().await?;
        let held: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(held == 1)
    }

    /// Ends a chat's turn. False if the turn (`token`) had lost the chat's lease.
    pub async fn settle_chat(
        &self,
        chat: &str,
        token: &str,
        settlement: &Settlement,
    ) -> Result<bool> {
        let keys = self.keys();
        let encode_msg = |m: &QueuedMessage| encode(&keys.outbox_messages(), m);
        let (update_id, update_json) = match &settlement.update {
            Some(m) => (m.id.clone(), encode_msg(m)?),
            None => (String::new(), String::new()),
        };
        let (dead_id, dead_json) = match &settlement.dead {
            Some(m) => (m.id.clone(), encode_msg(m)?),
            None => (String::new(), String::new()),
        };
        let mut invocation = SETTLE.prepare_invoke();
        invocation
            .key(keys.outbox_messages())
            .key(keys.outbox_queue(chat))
            .key(keys.outbox_ready())
            .key(keys.outbox_leases())
            .key(keys.outbox_owners())
            .key(keys.outbox_dead())
            .key(keys.outbox_dead_at())
            .arg(chat)
            .arg(token)
            .arg(ms(settlement.next_at))
            .arg(update_id)
            .arg(update_json)
            .arg(dead_id)
            .arg(dead_json);
        for id in &settlement.delivered {
            invocation.arg(id);
        }
        let mut conn = self.conn().await?;
        let applied: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(applied == 1)
    }

    /// One page of the dead letters, oldest dead-lettered first, and how many there are:
    /// `limit` from `offset` of the age index, never the whole hash.
    pub async fn dead_messages(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<QueuedMessage>, u64)> {
        let keys = self.keys();
        let (dead, index) = (keys.outbox_dead(), keys.outbox_dead_at());
        let mut conn = self.conn().await?;
        let (ids, total): (Vec<String>, u64) = redis::pipe()
            .cmd("ZRANGE")
            .arg(&index)
            .arg(offset)
            .arg(offset.saturating_add(limit).saturating_sub(1))
            .cmd("ZCARD")
            .arg(&index)
            .query_async(&mut conn)
            .await?;
        if ids.is_empty() || limit == 0 {
            return Ok((Vec::new(), total));
        }
        let raw: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&dead)
            .arg(&ids)
            .query_async(&mut conn)
            .await?;
        // An id without its letter was revived or dropped between the two reads.
        let page = raw
            .iter()
            .flatten()
            .map(|r| decode::<QueuedMessage>(&dead, r))
            .collect::<Result<Vec<_>>>()?;
        Ok((page, total))
    }

    /// Puts a dead-lettered message back in its queue with a fresh attempt count.
    pub async fn revive_message(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let keys = self.keys();
        let mut conn = self.conn().await?;
        let raw: Option<String> = redis::cmd("HGET")
            .arg(keys.outbox_dead())
            .arg(id)
            .query_async(&mut conn)
            .await?;
        let Some(raw) = raw else { return Ok(false) };
        let mut message: QueuedMessage = decode(&keys.outbox_dead(), &raw)?;
        message.attempts = 0;
        message.last_error = None;
        let chat = message.chat();
        let revived: i64 = REVIVE
            .key(keys.outbox_dead())
            .key(keys.outbox_messages())
            .key(keys.outbox_queue(&chat))
            .key(keys.outbox_ready())
            .key(keys.outbox_leases())
            .key(keys.outbox_dead_at())
            .arg(id)
            .arg(encode(&keys.outbox_messages(), &message)?)
            .arg(&chat)
            .arg(ms(now))
            .invoke_async(&mut conn)
            .await?;
        Ok(revived == 1)
    }

    /// Drops dead letters older than `limits.ttl`, then the oldest past `limits.cap`, and sets
    /// both dead-letter keys to expire with the newest left. Returns how many were dropped.
    pub async fn prune_dead(&self, now: DateTime<Utc>, limits: DeadLetterLimits) -> Result<u64> {
        let keys = self.keys();
        let mut conn = self.conn().await?;
        Ok(PRUNE_DEAD
            .key(keys.outbox_dead())
            .key(keys.outbox_dead_at())
            .arg(ms(now))
            .arg(
                u64::try_from(limits.ttl.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
            )
            .arg(limits.cap)
            .invoke_async(&mut conn)
            .await?)
    }

    /// Messages waiting (not dead), for the depth gauge.
    pub async fn outbox_depth(&self) -> Result<u64> {
        let mut conn = self.conn().await?;
        Ok(redis::cmd("HLEN")
            .arg(self.keys().outbox_messages())
            .query_async(&mut conn)
            .await?)
    }
}
