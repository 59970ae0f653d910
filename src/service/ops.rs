//! The machinery as operators see it: Redis reachability, dead letters, skipped and failed
//! jobs, and the audit log of admin changes.

use super::{Result, Services};
use crate::{
    domain::BranchId,
    store::{
        jobs::{JobRecord, RecordList},
        outbox::QueuedMessage,
    },
};

/// Longest dead-letter id accepted (ids are generated; anything longer names none).
const MAX_DEAD_ID: usize = 64;
/// Most job records one listing shows.
pub const JOB_RECORDS_SHOWN: usize = 200;

impl Services {
    /// Whether Redis answers (for `/readyz`).
    pub async fn redis_ready(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// One page of the messages given up on, oldest first, and how many there are in all.
    pub async fn dead_letters(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<QueuedMessage>, u64)> {
        Ok(self.store.dead_messages(offset, limit).await?)
    }

    /// Puts a dead letter back in its chat's queue with a fresh attempt count; false when no
    /// dead letter has that id.
    pub async fn revive_dead_letter(&self, id: &str) -> Result<bool> {
        if id.len() > MAX_DEAD_ID {
            return Ok(false);
        }
        Ok(self.store.revive_message(id, self.clock.now()).await?)
    }

    /// The newest records of skipped or failed jobs.
    pub async fn job_records(&self, list: RecordList) -> Result<Vec<JobRecord>> {
        Ok(self.store.job_records(list, JOB_RECORDS_SHOWN).await?)
    }

    /// Binds an admin API request's `Idempotency-Key` origin to the request's fingerprint;
    /// the key reused for another request is refused rather than silently answered with the
    /// first request's object.
    pub async fn bind_request_key(
        &self,
        branch: &BranchId,
        origin: &str,
        fingerprint: &str,
    ) -> Result<()> {
        let ttl = self.settings.timing.dedup_ttl;
        if self
            .store
            .bind_request_key(branch, origin, fingerprint, ttl)
            .await?
        {
            Ok(())
        } else {
            Err(super::ServiceError::RequestKeyReused)
        }
    }

    /// Appends an entry to a branch's audit log (or the region's, for `None`).
    pub async fn audit(
        &self,
        branch: Option<&BranchId>,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<()> {
        Ok(self.store.audit(branch, actor, action, detail).await?)
    }
}
