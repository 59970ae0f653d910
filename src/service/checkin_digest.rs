//! Check-in acknowledgements in a busy chat: past `checkin.digest_threshold` check-ins within
//! `checkin.digest_window`, individual replies give way to one digest per chat every
//! `checkin.digest_every`, naming who was newly recorded. Everyone can still ask `签到状态`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Result, ServiceError, Services};
use crate::{
    domain::{Branch, BranchId},
    platform::{BoxFuture, ChatRef},
    scheduler::{Job, JobError, JobHandler},
    store::inbound::digest_bucket,
};

/// The job kind of a chat's digest.
pub const DIGEST_JOB: &str = "checkin.digest";

#[derive(Debug, Serialize, Deserialize)]
struct DigestPayload {
    branch: BranchId,
    chat: ChatRef,
}

impl Services {
    /// Counts a recorded check-in; true when the chat is busy and the name went to the next
    /// digest instead of an individual reply.
    pub async fn digest_checkin(
        &self,
        branch: &Branch,
        chat: &ChatRef,
        name: &str,
    ) -> Result<bool> {
        let settings = &self.settings.checkin;
        let count = self
            .store
            .count_checkin(&branch.id, chat, settings.digest_window)
            .await?;
        if count <= u64::from(settings.digest_threshold) {
            return Ok(false);
        }
        self.store
            .push_checkin_digest(&branch.id, chat, name)
            .await?;
        let (bucket, _) = digest_bucket(self.clock.now(), settings.digest_every);
        self.schedule_digest_job(&branch.id, chat, bucket).await?;
        Ok(true)
    }

    /// Schedules the digest of one `checkin.digest_every` bucket of a chat, due at the
    /// bucket's end, unless it is there already. One per bucket: a check-in that arrives
    /// while a digest is being sent falls in the next bucket and so gets a job of its own; and
    /// "only if absent", so that a stream of check-ins does not keep pushing it back.
    pub async fn schedule_digest_job(
        &self,
        branch: &BranchId,
        chat: &ChatRef,
        bucket: i64,
    ) -> Result<()> {
        let every = i64::try_from(self.settings.checkin.digest_every.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let due = chrono::DateTime::from_timestamp_millis(bucket.saturating_add(1) * every)
            .unwrap_or_else(|| self.clock.now());
        let job = Job {
            key: format!("checkin-digest:{branch}:{}:{bucket}", chat.key()),
            kind: DIGEST_JOB.to_owned(),
            due,
            payload: serde_json::to_value(DigestPayload {
                branch: branch.clone(),
                chat: chat.clone(),
            })
            .map_err(|e| crate::domain::Invalid::new("chat", e.to_string()))?,
            recurrence: None,
            attempts: 0,
        };
        self.store.schedule_job_if_absent(&job).await?;
        Ok(())
    }

    async fn send_checkin_digest(
        &self,
        payload: DigestPayload,
        due: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let names = self
            .store
            .take_checkin_digest(&payload.branch, &payload.chat)
            .await?;
        if names.is_empty() {
            return Ok(());
        }
        let branch = self.branch(&payload.branch).await?;
        let text = crate::texts::checkin_digest(&branch, &names);
        let intent = format!(
            "checkin-digest:{}:{}:{}",
            branch.id,
            payload.chat.key(),
            due.timestamp_millis()
        );
        self.send_to_chat(&payload.chat, &text, &intent).await?;
        Ok(())
    }
}

/// Sends a chat's check-in digest.
#[derive(Debug)]
pub struct DigestHandler {
    services: Services,
}

impl DigestHandler {
    /// A handler over the services.
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

impl JobHandler for DigestHandler {
    fn kind(&self) -> &'static str {
        DIGEST_JOB
    }

    fn grace(&self) -> Duration {
        Duration::from_secs(10 * 60)
    }

    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, std::result::Result<(), JobError>> {
        Box::pin(async move {
            let payload: DigestPayload = serde_json::from_value(job.payload.clone())
                .map_err(|e| JobError::fail(format!("bad digest payload: {e}")))?;
            match self.services.send_checkin_digest(payload, job.due).await {
                Ok(()) => Ok(()),
                Err(ServiceError::Store(e)) => Err(JobError::retry(e)),
                Err(e) => Err(JobError::fail(e)),
            }
        })
    }
}
