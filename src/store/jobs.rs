//! The scheduler's Redis side: jobs by key, a due set, leases with owners, and capped lists of
//! skipped and failed jobs. Every multi-key step is one Lua script over the `{sched}` slot.

use std::{sync::LazyLock, time::Duration};

use chrono::{DateTime, Utc};
use redis::Script;
use serde::{Deserialize, Serialize};

use super::{Result, Store, decode, encode};
use crate::domain::job::Job;

static SCHEDULE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/job_schedule.lua")));
static CANCEL: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/job_cancel.lua")));
static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/job_claim.lua")));
static COMPLETE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/job_complete.lua")));

/// Entries kept in each record list.
pub const RECORD_CAP: usize = 1000;

/// A job handed to this replica, with the exact JSON it was claimed as.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The job.
    pub job: Job,
    raw: String,
}

/// What became of a claimed job.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// Run (or given up): remove it.
    Drop,
    /// Run again at this time with this state (next occurrence, or a retry).
    Reschedule(Job),
}

/// A skipped or failed job, for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Job key.
    pub key: String,
    /// Handler kind.
    pub kind: String,
    /// When it was due.
    pub due: DateTime<Utc>,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: String,
}

/// Which list a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordList {
    /// Missed beyond grace.
    Skipped,
    /// Failed for good.
    Failed,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Store {
    /// Creates or replaces a job.
    pub async fn schedule_job(&self, job: &Job) -> Result<()> {
        self.put_job(job, false).await.map(|_| ())
    }

    /// Creates a job unless one with its key exists (a job that must not keep being pushed
    /// back by repeated scheduling). True if created.
    pub async fn schedule_job_if_absent(&self, job: &Job) -> Result<bool> {
        self.put_job(job, true).await
    }

    async fn put_job(&self, job: &Job, only_if_absent: bool) -> Result<bool> {
        let keys = self.keys();
        let raw = encode(&keys.jobs(), job)?;
        let mut conn = self.conn().await?;
        let stored: i64 = SCHEDULE
            .key(keys.jobs())
            .key(keys.jobs_due())
            .arg(&job.key)
            .arg(raw)
            .arg(ms(job.due))
            .arg(if only_if_absent { "nx" } else { "" })
            .invoke_async(&mut conn)
            .await?;
        Ok(stored == 1)
    }

    /// Removes a job; true if it existed.
    pub async fn cancel_job(&self, key: &str) -> Result<bool> {
        let keys = self.keys();
        let mut conn = self.conn().await?;
        let n: i64 = CANCEL
            .key(keys.jobs())
            .key(keys.jobs_due())
            .arg(key)
            .invoke_async(&mut conn)
            .await?;
        Ok(n == 1)
    }

    /// A job by key.
    pub async fn job(&self, key: &str) -> Result<Option<Job>> {
        let jobs = self.keys().jobs();
        let mut conn = self.conn().await?;
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&jobs)
            .arg(key)
            .query_async(&mut conn)
            .await?;
        raw.map(|r| decode(&jobs, &r)).transpose()
    }

    /// Claims up to `batch` due jobs for `lease`, as `owner`.
    pub async fn claim_jobs(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        owner: &str,
        batch: usize,
    ) -> Result<Vec<ClaimedJob>> {
        let keys = self.keys();
        let mut conn = self.conn().await?;
        let flat: Vec<String> = CLAIM
            .key(keys.jobs())
            .key(keys.jobs_due())
            .key(keys.job_leases())
            .key(keys.job_owners())
            .arg(ms(now))
            .arg(lease.as_millis() as u64)
            .arg(owner)
            .arg(batch)
            .invoke_async(&mut conn)
            .await?;
        let mut claimed = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks_exact(2) {
            match decode::<Job>(&keys.jobs(), &pair[1]) {
                Ok(job) => claimed.push(ClaimedJob {
                    job,
                    raw: pair[1].clone(),
                }),
                // A job that no longer decodes cannot run; its lease expires and it would come
                // back forever, so it is dropped and recorded as failed.
                Err(e) => {
                    tracing::error!(job = %pair[0], error.cause_chain = %crate::error::Chain(&e), "undecodable job dropped");
                    let record = JobRecord {
                        key: pair[0].clone(),
                        kind: "unknown".to_owned(),
                        due: now,
                        at: now,
                        reason: crate::error::chain(&e),
                    };
                    let raw = pair[1].clone();
                    self.finish_raw(
                        &pair[0],
                        owner,
                        &raw,
                        None,
                        Some((RecordList::Failed, &record)),
                    )
                    .await?;
                }
            }
        }
        Ok(claimed)
    }

    /// Finishes a claimed job. Returns false if this replica no longer held its lease.
    pub async fn complete_job(
        &self,
        claimed: &ClaimedJob,
        owner: &str,
        completion: Completion,
        record: Option<(RecordList, &JobRecord)>,
    ) -> Result<bool> {
        let next = match completion {
            Completion::Drop => None,
            Completion::Reschedule(job) => Some(job),
        };
        self.finish_raw(&claimed.job.key, owner, &claimed.raw, next.as_ref(), record)
            .await
    }

    async fn finish_raw(
        &self,
        key: &str,
        owner: &str,
        raw: &str,
        next: Option<&Job>,
        record: Option<(RecordList, &JobRecord)>,
    ) -> Result<bool> {
        let keys = self.keys();
        let (next_json, next_due) = match next {
            Some(job) => (encode(&keys.jobs(), job)?, ms(job.due)),
            None => (String::new(), 0),
        };
        let (list, record_json) = match record {
            Some((RecordList::Skipped, r)) => {
                (keys.jobs_skipped(), encode(&keys.jobs_skipped(), r)?)
            }
            Some((RecordList::Failed, r)) => (keys.jobs_failed(), encode(&keys.jobs_failed(), r)?),
            None => (keys.jobs_failed(), String::new()),
        };
        let mut conn = self.conn().await?;
        let applied: i64 = COMPLETE
            .key(keys.jobs())
            .key(keys.jobs_due())
            .key(keys.job_leases())
            .key(keys.job_owners())
            .key(list)
            .arg(key)
            .arg(owner)
            .arg(raw)
            .arg(next_json)
            .arg(next_due)
            .arg(record_json)
            .arg(RECORD_CAP)
            .invoke_async(&mut conn)
            .await?;
        Ok(applied != 0)
    }

    /// The newest records of a list.
    pub async fn job_records(&self, list: RecordList, limit: usize) -> Result<Vec<JobRecord>> {
        let key = match list {
            RecordList::Skipped => self.keys().jobs_skipped(),
            RecordList::Failed => self.keys().jobs_failed(),
        };
        let mut conn = self.conn().await?;
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(&key)
            .arg(0)
            .arg(limit.saturating_sub(1))
            .query_async(&mut conn)
            .await?;
        raw.iter().map(|r| decode(&key, r)).collect()
    }

    /// How many jobs wait to be due and how many run under a lease.
    pub async fn job_counts(&self) -> Result<(u64, u64)> {
        let keys = self.keys();
        let mut conn = self.conn().await?;
        let due: u64 = redis::cmd("ZCARD")
            .arg(keys.jobs_due())
            .query_async(&mut conn)
            .await?;
        let leased: u64 = redis::cmd("ZCARD")
            .arg(keys.job_leases())
            .query_async(&mut conn)
            .await?;
        Ok((due, leased))
    }
}
