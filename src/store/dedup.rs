//! Webhook deduplication: a claim per (platform, bot, message id), and the reply stored with
//! it, so that a platform's retry from any replica gets the same answer and no second effect.

use std::{sync::LazyLock, time::Duration};

use redis::Script;

use super::{Result, Store};
use crate::domain::{BranchId, chat::ChatRef};

static FINISH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/dedup_finish.lua")));

/// How long an unfinished claim blocks others before it is presumed dead.
pub const CLAIM_TTL: Duration = Duration::from_secs(30);

/// The state of a message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller now owns the message and must finish or release it.
    Owned(ClaimToken),
    /// Processed before: the stored value, `R:<replies json>` or `C:<check-in outcome json>`
    /// (read it with [`super::inbound::stored`]).
    Done(String),
    /// Another request is processing it right now.
    InFlight,
}

/// Proof of ownership of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken {
    key: String,
    value: String,
}

impl ClaimToken {
    pub(super) fn new(key: String, value: String) -> Self {
        Self { key, value }
    }
}

impl Store {
    /// Claims a message id, or reports what became of it.
    pub async fn claim_message(
        &self,
        branch: &BranchId,
        chat: &ChatRef,
        message_id: &str,
    ) -> Result<Claim> {
        let key = self.keys().dedup(branch, chat, message_id);
        let value = format!("P:{:016x}", rand::random::<u64>());
        let mut conn = self.conn().await?;
        // Two rounds cover a claim that expires between our SET and GET.
        for _ in 0..2 {
            let set: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(&value)
                .arg("NX")
                .arg("PX")
                .arg(CLAIM_TTL.as_millis() as u64)
                .query_async(&mut conn)
                .await?;
            if set.is_some() {
                return Ok(Claim::Owned(ClaimToken { key, value }));
            }
            let current: Option<String> =
                redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
            match current {
                Some(v) if v.starts_with("R:") || v.starts_with("C:") => {
                    return Ok(Claim::Done(v));
                }
                Some(_) => return Ok(Claim::InFlight),
                None => continue,
            }
        }
        Ok(Claim::InFlight)
    }

    /// Stores the reply of a message that ran without a claim (a guest's join or bind that
    /// made them a member), unless a claim or a reply is there already; true if stored.
    pub async fn remember_reply(
        &self,
        branch: &BranchId,
        chat: &ChatRef,
        message_id: &str,
        reply: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let key = self.keys().dedup(branch, chat, message_id);
        let mut conn = self.conn().await?;
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(format!("R:{reply}"))
            .arg("NX")
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
            .query_async(&mut conn)
            .await?;
        Ok(set.is_some())
    }

    /// Stores the reply of an owned claim for `ttl`; false if the claim was lost meanwhile.
    pub async fn finish_message(
        &self,
        token: &ClaimToken,
        reply: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let mut conn = self.conn().await?;
        let stored: i64 = FINISH
            .key(&token.key)
            .arg(&token.value)
            .arg(format!("R:{reply}"))
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        Ok(stored == 1)
    }

    /// Gives a claim back after a failure, so that the platform's retry runs it afresh.
    pub async fn release_message(&self, token: &ClaimToken) -> Result<()> {
        let mut conn = self.conn().await?;
        let _: i64 = FINISH
            .key(&token.key)
            .arg(&token.value)
            .arg("")
            .arg(0)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }
}
