//! The early warning (SPEC §6): once a month, members with no organisational-life attendance
//! for `timing.inactivity_warning` are named privately to the secretary, as a prompt to talk
//! with them. Never in a group, never as a ranking.

use std::time::Duration;

use chrono::NaiveTime;

use super::{Result, ServiceError, Services};
use crate::{
    domain::{Member, meeting},
    platform::BoxFuture,
    scheduler::{Job, JobError, JobHandler, Recurrence, Rule},
};

/// The job kind, and the key of the one monthly job for every branch.
pub const WARNING_JOB: &str = "early_warning";

impl Services {
    /// Makes sure the monthly early-warning job exists (1st of the month, 09:00 China time).
    pub async fn ensure_warning_job(&self) -> Result<()> {
        let Some(at) = NaiveTime::from_hms_opt(9, 0, 0) else {
            return Ok(());
        };
        let recurrence = Recurrence {
            rule: Rule::Month { day: 1, at },
            timezone: chrono_tz::Asia::Shanghai,
        };
        let Some(due) = recurrence.next_after(self.clock.now()) else {
            return Ok(());
        };
        let job = Job {
            key: WARNING_JOB.to_owned(),
            kind: WARNING_JOB.to_owned(),
            due,
            payload: serde_json::Value::Null,
            recurrence: Some(recurrence),
            attempts: 0,
        };
        // Atomic "if absent": replicas starting together create it once.
        self.store.schedule_job_if_absent(&job).await?;
        Ok(())
    }

    /// Sends every branch's warning for this month; returns how many branches had one.
    pub async fn send_inactivity_warnings(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut sent = 0;
        for id in self.store.branch_ids().await? {
            let Some(branch) = self.store.branch(&id).await? else {
                continue;
            };
            let window = branch
                .timing
                .apply(&self.settings.timing)
                .inactivity_warning;
            let since = crate::clock::earlier(now, window);
            let roster = self.store.roster(&id).await?;
            let members: Vec<Member> = roster.members.into_values().collect();
            let mut held = Vec::new();
            for m in self.store.meetings(&id).await? {
                if m.status == meeting::MeetingStatus::Ended && m.starts_at >= since {
                    let attendance = self.store.attendance(&id, m.no).await?;
                    held.push((m, attendance));
                }
            }
            let inactive = meeting::inactive_since(&members, &held, since);
            if inactive.is_empty() {
                continue;
            }
            let names: Vec<&str> = inactive.iter().map(|m| m.name.as_str()).collect();
            let days = window.as_secs() / 86_400;
            let text = crate::texts::inactivity_warning(&branch, &names, days);
            let month = now.with_timezone(&branch.timezone).format("%Y-%m");
            self.tell_committee(&branch, &text, &format!("early-warning:{id}:{month}"))
                .await?;
            sent += 1;
        }
        Ok(sent)
    }
}

/// Runs the monthly warning.
#[derive(Debug)]
pub struct WarningHandler {
    services: Services,
}

impl WarningHandler {
    /// A handler over the services.
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

impl JobHandler for WarningHandler {
    fn kind(&self) -> &'static str {
        WARNING_JOB
    }

    fn grace(&self) -> Duration {
        // A monthly prompt is still useful days late.
        Duration::from_secs(7 * 24 * 3600)
    }

    fn run<'a>(&'a self, _job: &'a Job) -> BoxFuture<'a, std::result::Result<(), JobError>> {
        Box::pin(async move {
            match self.services.send_inactivity_warnings().await {
                Ok(_) => Ok(()),
                Err(ServiceError::Store(e)) => Err(JobError::retry(e)),
                Err(e) => Err(JobError::fail(e)),
            }
        })
    }
}
