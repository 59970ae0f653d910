//! Proactive delivery: every message to a chat that is not an inline webhook reply goes
//! through here. Messages wait in Redis until the platform accepted them, so a crash or a
//! restart loses none; an intent key makes queuing the same message twice queue it once.
//!
//! A replica sends for one chat at a time under a lease, which keeps each chat's order. Send
//! budgets are token buckets in Redis shared by all replicas: per chat (sized so that no
//! sliding minute exceeds the platform's per-chat limit) and per bot. When the budget covers
//! fewer messages than a chat has waiting, they go out as one digest instead of queueing one
//! by one. A 429 holds back only that chat, for at least the time the platform asked.
//!
//! A turn renews its lease after every send and during a long one, and every step of the
//! turn is fenced by a token fresh to the claim: a turn whose lease lapsed anyway cannot take
//! tokens, record a delivery, settle, or start another send, so two replicas never send for
//! one chat at once.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use tokio_util::sync::CancellationToken;

use crate::{
    backoff,
    clock::Clock,
    config::OutboxSettings,
    platform::{OutboundMessage, Platform, Platforms, SendError, SendLimits},
    store::{
        Store, StoreError,
        outbox::{Bucket, DeadLetterLimits, Grant, QueuedMessage, Settlement, split_chat_member},
    },
};

/// Counter: messages by `platform` and `outcome` (sent, digested, retried, rate_limited, dead).
pub const MESSAGES: &str = "mb_outbox_messages_total";
/// Gauge: messages waiting.
pub const DEPTH: &str = "mb_outbox_depth";
/// Counter: dead letters dropped for age or past the cap.
pub const DEAD_DROPPED: &str = "mb_outbox_dead_dropped_total";

/// Counter: turns that found their chat's lease lost (and stopped sending for it).
pub const LEASES_LOST: &str = "mb_outbox_leases_lost_total";

/// Messages of one chat looked at per turn.
const PER_TURN: usize = 20;
/// Separates the notices of a digest.
const DIGEST_SEPARATOR: &str = "\n\n——————\n\n";

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxTick {
    /// Chats claimed.
    pub chats: usize,
    /// Messages the platforms accepted (a digest counts each notice in it).
    pub delivered: usize,
    /// Sends that failed and will be retried (or waited out).
    pub deferred: usize,
    /// Messages dead-lettered.
    pub dead: usize,
}

/// The outbox worker of one replica.
pub struct Outbox {
    store: Store,
    platforms: Arc<Platforms>,
    clock: Arc<dyn Clock>,
    settings: OutboxSettings,
    owner: String,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// The per-chat bucket: capacity plus a minute's refill never exceeds the per-minute limit,
/// because some platforms punish a burst harshly (DingTalk blocks a robot for 10 minutes).
pub fn chat_bucket(limits: SendLimits) -> Bucket {
    per_minute_bucket(limits.per_chat_per_minute)
}

/// A bucket that never allows more than `limit` sends in any sliding minute.
fn per_minute_bucket(limit: u32) -> Bucket {
    let per_minute = f64::from(limit.max(1));
    let capacity = (per_minute / 4.0).floor().max(1.0);
    let rate_per_ms = if per_minute > capacity {
        (per_minute - capacity) / 60_000.0
    } else {
        // A limit of one a minute: a token every two minutes keeps any minute to one.
        per_minute / 120_000.0
    };
    Bucket {
        rate_per_ms,
        capacity,
    }
}

/// The per-bot bucket: a second's worth of burst, refilled at the per-second limit; or, for
/// platforms that count a bot's messages per minute, sized like the per-chat bucket.
pub fn bot_bucket(limits: SendLimits) -> Bucket {
    if let Some(per_minute) = limits.per_bot_per_minute {
        return per_minute_bucket(per_minute);
    }
    let per_second = f64::from(limits.per_bot_per_second.max(1));
    Bucket {
        rate_per_ms: per_second / 1000.0,
        capacity: per_second,
    }
}

impl Outbox {
    /// A worker for this replica.
    pub fn new(
        store: Store,
        platforms: Arc<Platforms>,
        clock: Arc<dyn Clock>,
        settings: OutboxSettings,
    ) -> Self {
        let owner = format!("outbox-{:016x}", rand::random::<u64>());
        Self {
            store,
            platforms,
            clock,
            settings,
            owner,
        }
    }

    /// Claims chats that may send now and sends for them.
    pub async fn tick(&self) -> Result<OutboxTick, StoreError> {
        let now = self.clock.now();
        // A fresh token per claim fences each turn: if this turn's lease lapses (a stalled
        // replica, Redis out of reach) and the chat is claimed again, even by this replica,
        // the stale turn can neither take tokens, nor record progress, nor settle.
        let token = format!("{}:{:016x}", self.owner, rand::random::<u64>());
        let chats = self
            .store
            .claim_chats(now, self.settings.lease, &token, self.settings.batch)
            .await?;
        let mut total = OutboxTick {
            chats: chats.len(),
            ..OutboxTick::default()
        };
        let token = token.as_str();
        let results: Vec<Result<OutboxTick, StoreError>> = stream::iter(chats)
            .map(|chat| async move { self.serve_chat(&chat, token).await })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        for r in results {
            let t = r?;
            total.delivered += t.delivered;
            total.deferred += t.deferred;
            total.dead += t.dead;
        }
        Ok(total)
    }

    /// When a lease taken or renewed now runs out.
    fn lease_until(&self) -> DateTime<Utc> {
        crate::clock::later(self.clock.now(), self.settings.lease)
    }

    /// One turn for a chat: up to [`PER_TURN`] messages, in order, while `token` holds it.
    async fn serve_chat(&self, chat: &str, token: &str) -> Result<OutboxTick, StoreError> {
        let mut tick = OutboxTick::default();
        // A round claims more chats than it serves at once, so a turn may start late: renew
        // the lease first, and give the chat up if another turn has taken it meanwhile.
        if !self
            .store
            .hold_chat(chat, token, self.lease_until(), &[])
            .await?
        {
            return Ok(tick);
        }
        let now = self.clock.now();
        let pending = self.store.chat_messages(chat, PER_TURN).await?;
        let Some(first) = pending.first() else {
            self.settle(
                chat,
                token,
                Settlement {
                    next_at: now,
                    ..Settlement::default()
                },
            )
            .await?;
            return Ok(tick);
        };
        let adapter = match split_chat_member(chat).and_then(|(bot, _)| self.platforms.get(bot)) {
            Some(a) => a.clone(),
            None => {
                // The bot left the configuration: nothing can deliver this, so it is kept
                // where an operator can see it and retry it after fixing the configuration.
                let dead = QueuedMessage {
                    last_error: Some("bot is not configured".to_owned()),
                    ..first.clone()
                };
                metrics::counter!(MESSAGES, "platform" => "unknown", "outcome" => "dead")
                    .increment(1);
                tick.dead = 1;
                self.settle(
                    chat,
                    token,
                    Settlement {
                        dead: Some(dead),
                        next_at: now,
                        ..Settlement::default()
                    },
                )
                .await?;
                return Ok(tick);
            }
        };
        let limits = adapter.limits();
        let want = u32::try_from(pending.len()).unwrap_or(u32::MAX);
        let grant = self
            .store
            .take_tokens(
                chat,
                token,
                chat_bucket(limits),
                bot_bucket(limits),
                want,
                now,
            )
            .await?;
        let batch: Vec<(OutboundMessage, Vec<&QueuedMessage>)> = match grant {
            Grant::Lost => {
                lease_lost(chat, "before sending");
                return Ok(tick);
            }
            Grant::Wait(wait) => {
                tick.deferred = 1;
                self.settle(
                    chat,
                    token,
                    Settlement {
                        next_at: crate::clock::later(now, wait),
                        ..Settlement::default()
                    },
                )
                .await?;
                return Ok(tick);
            }
            Grant::Send(n) if n as usize >= pending.len() => {
                pending.iter().map(|m| (outbound(m), vec![m])).collect()
            }
            Grant::Send(_) => vec![self.digest(&pending)],
        };
        let platform = adapter.kind().as_str();
        for (message, covers) in batch {
            // The text goes as features wrote it, mention tokens and all: only the adapter
            // knows the route it takes and so the format to escape for (platform::render).
            let Some(sent) = self
                .send_holding(adapter.as_ref(), &message, chat, token)
                .await
            else {
                lease_lost(chat, "during a send; it was abandoned");
                return Ok(tick);
            };
            match sent {
                Ok(()) => {
                    let outcome = if covers.len() > 1 { "digested" } else { "sent" };
                    metrics::counter!(MESSAGES, "platform" => platform, "outcome" => outcome)
                        .increment(covers.len() as u64);
                    tick.delivered += covers.len();
                    // Progress is recorded after every send, not once per turn: should the
                    // lease be lost later, whoever takes the chat over starts after this
                    // message instead of sending it again.
                    let ids: Vec<String> = covers.iter().map(|m| m.id.clone()).collect();
                    if !self
                        .store
                        .hold_chat(chat, token, self.lease_until(), &ids)
                        .await?
                    {
                        lease_lost(chat, "after a send; that message may go out twice");
                        return Ok(tick);
                    }
                }
                Err(error) => {
                    let lead = covers.first().copied().unwrap_or(first);
                    // Waits count from the failure, not from the start of the turn: "retry after
                    // 2 s" means 2 s after the platform said it.
                    let failed_at = self.clock.now();
                    let settlement = self.after_failure(adapter.as_ref(), lead, &error, failed_at);
                    if settlement.dead.is_some() {
                        tick.dead = 1;
                    } else {
                        tick.deferred = 1;
                    }
                    self.settle(chat, token, settlement).await?;
                    return Ok(tick);
                }
            }
        }
        self.settle(
            chat,
            token,
            Settlement {
                next_at: now,
                ..Settlement::default()
            },
        )
        .await?;
        Ok(tick)
    }

    /// Sends one message, renewing the chat's lease every third of it while the platform
    /// takes its time. `None` if the lease was lost meanwhile: the send is dropped (it may
    /// still have reached the platform) and nothing more may be sent for the chat.
    async fn send_holding(
        &self,
        adapter: &dyn Platform,
        message: &OutboundMessage,
        chat: &str,
        token: &str,
    ) -> Option<Result<(), SendError>> {
        let every = (self.settings.lease / 3).max(Duration::from_millis(10));
        let send = adapter.send(message);
        tokio::pin!(send);
        loop {
            tokio::select! {
                sent = &mut send => return Some(sent),
                () = tokio::time::sleep(every) => {
                    match self.store.hold_chat(chat, token, self.lease_until(), &[]).await {
                        Ok(true) => {}
                        Ok(false) => return None,
                        // Unknown, not lost: the send ends within its own timeout, and the
                        // hold after it decides whether the turn goes on.
                        Err(e) => tracing::warn!(chat, error.cause_chain = %crate::error::Chain(&e), "could not renew an outbox lease"),
                    }
                }
            }
        }
    }

    /// As many waiting notices as fit one message, oldest first.
    fn digest<'a>(
        &self,
        pending: &'a [QueuedMessage],
    ) -> (OutboundMessage, Vec<&'a QueuedMessage>) {
        let mut covers: Vec<&QueuedMessage> = Vec::new();
        let mut length = 0;
        for m in pending {
            let added = m.text.chars().count()
                + if covers.is_empty() {
                    0
                } else {
                    DIGEST_SEPARATOR.chars().count()
                };
            if !covers.is_empty() && length + added > self.settings.digest_max_chars {
                break;
            }
            length += added;
            covers.push(m);
        }
        let text = covers
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>()
            .join(DIGEST_SEPARATOR);
        let (first, last) = (covers.first(), covers.last());
        let key = format!(
            "digest:{}..{}",
            first.map_or("", |m| m.intent.as_str()),
            last.map_or("", |m| m.intent.as_str())
        );
        let chat_id = first.map(|m| m.chat_id.clone()).unwrap_or_default();
        (
            OutboundMessage {
                chat_id,
                text,
                idempotency_key: key,
                context: first.and_then(|m| m.context.clone()),
            },
            covers,
        )
    }

    fn after_failure(
        &self,
        adapter: &dyn Platform,
        lead: &QueuedMessage,
        error: &SendError,
        now: DateTime<Utc>,
    ) -> Settlement {
        let platform = adapter.kind().as_str();
        let mut settlement = Settlement {
            next_at: now,
            ..Settlement::default()
        };
        match error {
            SendError::RateLimited { retry_after } => {
                // Not the message's fault: no attempt is counted.
                tracing::info!(chat = %lead.chat_id, ?retry_after, "platform rate-limited a chat; waiting");
                metrics::counter!(MESSAGES, "platform" => platform, "outcome" => "rate_limited")
                    .increment(1);
                settlement.next_at = crate::clock::later(now, *retry_after);
            }
            // The whole chain, redacted by the adapter: "transient: the Telegram request
            // failed: error sending request: …" says what its first part alone would not.
            SendError::Transient { .. } if lead.attempts + 1 < self.settings.max_attempts => {
                let attempts = lead.attempts + 1;
                let wait =
                    backoff::delay(attempts, self.settings.retry_base, self.settings.retry_cap);
                tracing::warn!(chat = %lead.chat_id, attempts, ?wait, error.cause_chain = %crate::error::Chain(error), "send failed; will retry");
                metrics::counter!(MESSAGES, "platform" => platform, "outcome" => "retried")
                    .increment(1);
                settlement.update = Some(QueuedMessage {
                    attempts,
                    last_error: Some(crate::error::chain(error)),
                    ..lead.clone()
                });
                settlement.next_at = crate::clock::later(now, wait);
            }
            SendError::Transient { .. } | SendError::Permanent { .. } => {
                tracing::error!(chat = %lead.chat_id, intent = %lead.intent, error.cause_chain = %crate::error::Chain(error), "message dead-lettered");
                metrics::counter!(MESSAGES, "platform" => platform, "outcome" => "dead")
                    .increment(1);
                settlement.dead = Some(QueuedMessage {
                    attempts: lead.attempts + 1,
                    last_error: Some(crate::error::chain(error)),
                    ..lead.clone()
                });
            }
        }
        settlement
    }

    async fn settle(
        &self,
        chat: &str,
        token: &str,
        settlement: Settlement,
    ) -> Result<(), StoreError> {
        if !self.store.settle_chat(chat, token, &settlement).await? {
            lease_lost(chat, "before settling");
        } else if settlement.dead.is_some()
            && let Err(e) = self.prune_dead().await
        {
            // The periodic prune in `run` catches up.
            tracing::warn!(error.cause_chain = %crate::error::Chain(&e), "could not prune dead letters");
        }
        Ok(())
    }

    /// Keeps dead letters within `outbox.dead_letter_cap` and `outbox.dead_letter_ttl`: a
    /// platform refusing everything (a revoked token, a removed bot) must not fill Redis.
    async fn prune_dead(&self) -> Result<(), StoreError> {
        let limits = DeadLetterLimits {
            cap: self.settings.dead_letter_cap,
            ttl: self.settings.dead_letter_ttl,
        };
        let dropped = self.store.prune_dead(self.clock.now(), limits).await?;
        if dropped > 0 {
            tracing::info!(dropped, "dead letters dropped (too old, or past the cap)");
            metrics::counter!(DEAD_DROPPED).increment(dropped);
        }
        Ok(())
    }

    /// Ticks until `stop`; a full batch is followed at once by another.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        tracing::info!(owner = %self.owner, "outbox running");
        let mut ticks: u64 = 0;
        loop {
            let busy = match self.tick().await {
                Ok(t) => t.chats >= self.settings.batch,
                Err(e) => {
                    tracing::warn!(error.cause_chain = %crate::error::Chain(&e), "outbox tick failed; retrying");
                    false
                }
            };
            ticks += 1;
            if ticks.is_multiple_of(20) {
                if let Ok(depth) = self.store.outbox_depth().await {
                    metrics::gauge!(DEPTH).set(depth as f64);
                }
                // Dead letters age out even when no new one comes to trigger a prune.
                if let Err(e) = self.prune_dead().await {
                    tracing::warn!(error.cause_chain = %crate::error::Chain(&e), "could not prune dead letters");
                }
            }
            if busy && !stop.is_cancelled() {
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
        tracing::info!(owner = %self.owner, "outbox stopped");
    }
}

/// A turn found its chat taken over (its lease lapsed and the chat was claimed again).
fn lease_lost(chat: &str, when: &str) {
    tracing::warn!(
        chat,
        "outbox lease lost {when}; another turn has the chat now"
    );
    metrics::counter!(LEASES_LOST).increment(1);
}

fn outbound(m: &QueuedMessage) -> OutboundMessage {
    OutboundMessage {
        chat_id: m.chat_id.clone(),
        text: m.text.clone(),
        idempotency_key: m.intent.clone(),
        context: m.context.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_per_minute_bot_limit_holds_across_all_its_chats() {
        let dingtalk = SendLimits {
            per_chat_per_minute: 20,
            per_bot_per_second: 1,
            per_bot_per_minute: Some(20),
        };
        let b = bot_bucket(dingtalk);
        assert!(
            (b.capacity + b.rate_per_ms * 60_000.0).floor() <= 20.0,
            "{b:?}"
        );
        let telegram = bot_bucket(SendLimits::TELEGRAM);
        assert!((telegram.rate_per_ms * 1000.0 - 30.0).abs() < 1e-9);
    }

    #[test]
    fn the_chat_bucket_never_allows_more_than_the_limit_in_a_minute() {
        for per_minute in [1, 5, 20, 60, 1000] {
            let b = chat_bucket(SendLimits {
                per_chat_per_minute: per_minute,
                per_bot_per_second: 30,
                per_bot_per_minute: None,
            });
            let worst_minute = b.capacity + b.rate_per_ms * 60_000.0;
            // Sends take whole tokens: what counts is the whole number available in a minute.
            assert!(
                (worst_minute + 1e-9).floor() <= f64::from(per_minute),
                "{per_minute}: {worst_minute}"
            );
            assert!(b.capacity >= 1.0);
        }
    }
}
