//! Timed work: jobs stored in Redis fire once each, at most a few seconds late, whatever the
//! number of replicas. A replica claims due jobs under a lease (a Lua script over a sorted
//! set); if it dies, the lease expires and another replica runs them. Handlers are registered
//! by kind at startup, so the scheduler knows no feature and features never import it back.
//!
//! Misfires: a job found later than its kind's grace (after a downtime) is recorded as
//! skipped, not run late; recurring jobs then move on to their next occurrence.

/// Jobs and their recurrence rules are pure values, kept in the domain so the store can
/// persist them without importing the scheduler.
pub use crate::domain::job;

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use tokio_util::sync::CancellationToken;

pub use job::{Job, Recurrence, Rule};

use crate::{
    backoff,
    clock::Clock,
    config::SchedulerSettings,
    error::{self, Chain},
    platform::BoxFuture,
    store::{
        Store, StoreError,
        jobs::{ClaimedJob, Completion, JobRecord, RecordList},
    },
};

/// Counter: jobs by `kind` and `outcome` (ran, retried, failed, skipped, lost).
pub const JOBS: &str = "mb_jobs_total";
/// Histogram: seconds from due to start.
pub const LAG_SECONDS: &str = "mb_scheduler_lag_seconds";

/// A job's cause of failure, whatever its type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a handler did not finish its job. The cause is kept whole: the scheduler logs its
/// chain and stores it in the failed job's record.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (Redis down, a platform hiccup).
    #[error("job failed; worth a retry")]
    Retry(#[source] BoxError),
    /// Hopeless (bad payload, the object is gone).
    #[error("job failed for good")]
    Fail(#[source] BoxError),
}

impl JobError {
    /// Worth another attempt, because of `cause` (an error, or a text).
    pub fn retry(cause: impl Into<BoxError>) -> Self {
        Self::Retry(cause.into())
    }

    /// Hopeless, because of `cause` (an error, or a text).
    pub fn fail(cause: impl Into<BoxError>) -> Self {
        Self::Fail(cause.into())
    }

    /// The cause: what the record of a failed job says.
    pub fn cause(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            Self::Retry(cause) | Self::Fail(cause) => cause.as_ref(),
        }
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        Self::retry(e)
    }
}

/// Runs the jobs of one kind. Handlers are idempotent by job key: a job may run twice (a
/// replica dying after the effect, before completing), and must then have one effect.
pub trait JobHandler: Send + Sync {
    /// The kind this handler runs.
    fn kind(&self) -> &'static str;
    /// How late a job of this kind may still run; later ones are skipped.
    fn grace(&self) -> Duration;
    /// Runs one job.
    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), JobError>>;
}

/// What one tick did, for tests and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickOutcome {
    /// Jobs claimed.
    pub claimed: usize,
    /// Run successfully.
    pub ran: usize,
    /// Rescheduled after a retryable failure.
    pub retried: usize,
    /// Failed for good.
    pub failed: usize,
    /// Skipped: missed beyond grace.
    pub skipped: usize,
}

/// The scheduler of one replica.
pub struct Scheduler {
    store: Store,
    clock: Arc<dyn Clock>,
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
    owner: String,
    settings: SchedulerSettings,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("owner", &self.owner)
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

enum Outcome {
    Ran,
    Retried,
    Failed,
    Skipped,
}

impl Scheduler {
    /// A scheduler with no handlers yet; `owner` names this replica in leases.
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: SchedulerSettings) -> Self {
        let owner = format!("sched-{:016x}", rand::random::<u64>());
        Self {
            store,
            clock,
            handlers: HashMap::new(),
            owner,
            settings,
        }
    }

    /// Registers the handler of a kind.
    pub fn register(&mut self, handler: Arc<dyn JobHandler>) {
        self.handlers.insert(handler.kind(), handler);
    }

    /// Claims one batch of due jobs and runs them.
    pub async fn tick(&self) -> Result<TickOutcome, StoreError> {
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_jobs(now, self.settings.lease, &self.owner, self.settings.batch)
            .await?;
        let mut outcome = TickOutcome {
            claimed: claimed.len(),
            ..TickOutcome::default()
        };
        let results: Vec<Result<Outcome, StoreError>> = stream::iter(claimed)
            .map(|c| async move { self.run_one(c).await })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        for r in results {
            match r? {
                Outcome::Ran => outcome.ran += 1,
                Outcome::Retried => outcome.retried += 1,
                Outcome::Failed => outcome.failed += 1,
                Outcome::Skipped => outcome.skipped += 1,
            }
        }
        Ok(outcome)
    }

    async fn run_one(&self, claimed: ClaimedJob) -> Result<Outcome, StoreError> {
        let job = &claimed.job;
        let now = self.clock.now();
        let late = (now - job.due).to_std().unwrap_or_default();
        let record = |reason: String| JobRecord {
            key: job.key.clone(),
            kind: job.kind.clone(),
            due: job.due,
            at: now,
            reason,
        };
        let Some(handler) = self.handlers.get(job.kind.as_str()).cloned() else {
            // During a rolling upgrade an older replica may meet a newer kind: leave the job
            // for a replica that knows it, and give up only if none shows up.
            if job.attempts + 1 < self.settings.max_attempts {
                tracing::warn!(job = %job.key, kind = %job.kind, "no handler here; left for another replica");
                let later = Job {
                    attempts: job.attempts + 1,
                    due: now + chrono::Duration::seconds(60),
                    ..job.clone()
                };
                self.finish(&claimed, Completion::Reschedule(later), None)
                    .await?;
                return Ok(Outcome::Retried);
            }
            let r = record(format!("no handler for kind {:?}", job.kind));
            self.finish(
                &claimed,
                self.next_occurrence(job, now),
                Some((RecordList::Failed, &r)),
            )
            .await?;
            return Ok(Outcome::Failed);
        };
        if late > handler.grace() {
            tracing::warn!(job = %job.key, kind = %job.kind, ?late, "job missed beyond its grace; skipped");
            let r = record(format!(
                "missed by {}s (grace {}s)",
                late.as_secs(),
                handler.grace().as_secs()
            ));
            self.finish(
                &claimed,
                self.next_occurrence(job, now),
                Some((RecordList::Skipped, &r)),
            )
            .await?;
            return Ok(Outcome::Skipped);
        }
        metrics::histogram!(LAG_SECONDS).record(late.as_secs_f64());
        match handler.run(job).await {
            Ok(()) => {
                self.finish(&claimed, self.next_occurrence(job, now), None)
                    .await?;
                Ok(Outcome::Ran)
            }
            Err(e @ JobError::Retry(_)) if job.attempts + 1 < self.settings.max_attempts => {
                let attempts = job.attempts + 1;
                let wait =
                    backoff::delay(attempts, self.settings.retry_base, self.settings.retry_cap);
                tracing::warn!(job = %job.key, attempts, ?wait, error.cause_chain = %Chain(e.cause()), "job failed; will retry");
                let retry = Job {
                    attempts,
                    due: crate::clock::later(now, wait),
                    ..job.clone()
                };
                // The retry keeps the original due time's lateness budget from mattering:
                // a retry is due when we say, and must not be skipped as "missed".
                self.finish(&claimed, Completion::Reschedule(retry), None)
                    .await?;
                Ok(Outcome::Retried)
            }
            Err(e) => {
                let reason = error::chain(e.cause());
                tracing::error!(job = %job.key, error.cause_chain = %reason, "job failed for good");
                let r = record(reason);
                self.finish(
                    &claimed,
                    self.next_occurrence(job, now),
                    Some((RecordList::Failed, &r)),
                )
                .await?;
                Ok(Outcome::Failed)
            }
        }
    }

    fn next_occurrence(&self, job: &Job, now: DateTime<Utc>) -> Completion {
        let Some(rule) = &job.recurrence else {
            return Completion::Drop;
        };
        // From the later of due and now: a recurring job skipped after downtime resumes at its
        // next future occurrence rather than replaying every missed one.
        match rule.next_after(job.due.max(now)) {
            Some(due) => Completion::Reschedule(Job {
                due,
                attempts: 0,
                ..job.clone()
            }),
            None => Completion::Drop,
        }
    }

    async fn finish(
        &self,
        claimed: &ClaimedJob,
        completion: Completion,
        record: Option<(RecordList, &JobRecord)>,
    ) -> Result<(), StoreError> {
        let outcome = match (&record, &completion) {
            (Some((RecordList::Skipped, _)), _) => "skipped",
            (Some((RecordList::Failed, _)), _) => "failed",
            (None, Completion::Reschedule(j)) if j.attempts > 0 => "retried",
            (None, _) => "ran",
        };
        let kind = claimed.job.kind.clone();
        if self
            .store
            .complete_job(claimed, &self.owner, completion, record)
            .await?
        {
            metrics::counter!(JOBS, "kind" => kind, "outcome" => outcome).increment(1);
        } else {
            // Our lease expired while the handler ran and another replica took over; the
            // handler's idempotency keeps the effect single.
            tracing::warn!(job = %claimed.job.key, "lease lost before completion");
            metrics::counter!(JOBS, "kind" => kind, "outcome" => "lost").increment(1);
        }
        Ok(())
    }

    /// Ticks until `stop`, sleeping between empty ticks; a full batch is followed at once by
    /// another, so a burst of due jobs drains at Redis speed.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        tracing::info!(owner = %self.owner, kinds = ?self.handlers.keys().collect::<Vec<_>>(), "scheduler running");
        loop {
            let busy = match self.tick().await {
                Ok(o) => o.claimed >= self.settings.batch,
                Err(e) => {
                    tracing::warn!(error.cause_chain = %Chain(&e), "scheduler tick failed; retrying");
                    false
                }
            };
            if busy && !stop.is_cancelled() {
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
        tracing::info!(owner = %self.owner, "scheduler stopped");
    }
}
