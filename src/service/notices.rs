//! Notices: a text for every bound chat of a branch, now or at a time. The first feature on
//! the scheduler and the outbox, and the shape every reminder follows: a job keyed by intent
//! that, when due, queues one outbox message per chat, each keyed by intent too.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Result, ServiceError, Services};
use crate::{
    domain::{BranchId, Invalid},
    platform::{BoxFuture, ChatRef},
    scheduler::{Job, JobError, JobHandler},
    store::outbox::QueuedMessage,
};

/// The job kind of a scheduled notice.
pub const NOTICE_JOB: &str = "notice";
/// Longest notice.
pub const MAX_NOTICE_CHARS: usize = 2000;

/// A notice to create.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNotice {
    /// The text.
    pub text: String,
    /// When to send it; now when absent.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// A created notice.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// Id within the branch.
    pub id: String,
    /// When it goes (or went) out.
    pub at: DateTime<Utc>,
    /// Whether it waits for `at` (false: queued for delivery now).
    pub scheduled: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct NoticePayload {
    branch: BranchId,
    id: String,
    text: String,
}

fn notice_key(branch: &BranchId, id: &str) -> String {
    format!("notice:{branch}:{id}")
}

impl Services {
    /// Queues a message to one chat, once per intent (within `outbox.idempotency_ttl`). True
    /// if it was queued now.
    pub async fn send_to_chat(&self, chat: &ChatRef, text: &str, intent: &str) -> Result<bool> {
        let ttl = self.settings.outbox.idempotency_ttl;
        self.enqueue(chat, text, intent, None, ttl).await
    }

    /// Queues a webhook reply that could not ride in the response, carrying the context of
    /// the event it answers. Its intent lives as long as the dedup window (`timing.dedup_ttl`),
    /// not `outbox.idempotency_ttl`: only a retry of the same webhook repeats it, and retries
    /// end with that window, so a reply costs no key that outlives it.
    pub async fn send_reply(
        &self,
        chat: &ChatRef,
        text: &str,
        intent: &str,
        context: Option<serde_json::Value>,
    ) -> Result<bool> {
        let ttl = self.settings.timing.dedup_ttl;
        self.enqueue(chat, text, intent, context, ttl).await
    }

    async fn enqueue(
        &self,
        chat: &ChatRef,
        text: &str,
        intent: &str,
        context: Option<serde_json::Value>,
        intent_ttl: std::time::Duration,
    ) -> Result<bool> {
        let message = QueuedMessage {
            id: format!(
                "{:016x}{:08x}",
                rand::random::<u64>(),
                rand::random::<u32>()
            ),
            bot: chat.bot.clone(),
            chat_id: chat.chat_id.clone(),
            text: text.to_owned(),
            intent: intent.to_owned(),
            queued_at: self.clock.now(),
            attempts: 0,
            last_error: None,
            context,
        };
        Ok(self.store.enqueue_message(&message, intent_ttl).await?)
    }

    /// Creates a notice: queued at once, or scheduled for `at`. With an `origin` (an API
    /// request's `Idempotency-Key`) the notice id derives from it, so that a retry schedules
    /// the same job (replaced by key) or queues the same messages (once per intent).
    pub async fn create_notice(
        &self,
        branch: &BranchId,
        input: NewNotice,
        origin: Option<&str>,
    ) -> Result<Notice> {
        self.branch(branch).await?;
        let cleaned: String = input
            .text
            .chars()
            .filter(|c| !crate::platform::is_token_char(*c))
            .collect();
        let text = cleaned.trim();
        if text.is_empty() || text.chars().count() > MAX_NOTICE_CHARS {
            return Err(Invalid::new("text", format!("1 to {MAX_NOTICE_CHARS} characters")).into());
        }
        let now = self.clock.now();
        let id = match origin {
            Some(origin) => super::tokens::token_hash(origin)[..12].to_owned(),
            None => format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff),
        };
        match input.at {
            Some(at) if at < now - chrono::Duration::seconds(5) => {
                Err(Invalid::new("at", "must not be in the past").into())
            }
            Some(at) if at > now + chrono::Duration::days(366) => {
                Err(Invalid::new("at", "must be within a year").into())
            }
            Some(at) if at > now => {
                let payload = NoticePayload {
                    branch: branch.clone(),
                    id: id.clone(),
                    text: text.to_owned(),
                };
                let job = Job {
                    key: notice_key(branch, &id),
                    kind: NOTICE_JOB.to_owned(),
                    due: at,
                    payload: serde_json::to_value(&payload)
                        .map_err(|e| Invalid::new("text", e.to_string()))?,
                    recurrence: None,
                    attempts: 0,
                };
                self.store.schedule_job(&job).await?;
                Ok(Notice {
                    id,
                    at,
                    scheduled: true,
                })
            }
            _ => {
                self.deliver_notice(branch, &id, text).await?;
                Ok(Notice {
                    id,
                    at: now,
                    scheduled: false,
                })
            }
        }
    }

    /// Cancels a scheduled notice; false if there was none (or it went out already).
    pub async fn cancel_notice(&self, branch: &BranchId, id: &str) -> Result<bool> {
        Ok(self.store.cancel_job(&notice_key(branch, id)).await?)
    }

    /// Queues a notice to every bound chat of the branch; returns how many were queued now.
    pub async fn deliver_notice(&self, branch: &BranchId, id: &str, text: &str) -> Result<usize> {
        let mut queued = 0;
        for chat in self.store.branch_chats(branch).await? {
            let intent = format!("{}:chat:{}", notice_key(branch, id), chat.key());
            if self.send_to_chat(&chat, text, &intent).await? {
                queued += 1;
            }
        }
        Ok(queued)
    }
}

/// Runs scheduled notices.
#[derive(Debug)]
pub struct NoticeHandler {
    services: Services,
}

impl NoticeHandler {
    /// A handler over the services.
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

impl JobHandler for NoticeHandler {
    fn kind(&self) -> &'static str {
        NOTICE_JOB
    }

    fn grace(&self) -> std::time::Duration {
        // An announcement an hour late is still worth sending; a day late it is noise.
        std::time::Duration::from_secs(3600)
    }

    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let payload: NoticePayload = serde_json::from_value(job.payload.clone())
                .map_err(|e| JobError::fail(format!("bad notice payload: {e}")))?;
            match self
                .services
                .deliver_notice(&payload.branch, &payload.id, &payload.text)
                .await
            {
                Ok(_) => Ok(()),
                Err(ServiceError::Store(e)) => Err(JobError::retry(e)),
                Err(e) => Err(JobError::fail(e)),
            }
        })
    }
}
