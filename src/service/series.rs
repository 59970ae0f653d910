//! Recurring meetings (e.g. 主题党日 every month on the 5th at 19:30): each occurrence is
//! planned one cycle ahead, moved to the next working day when its day is not one, and
//! announced like any meeting.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;

use super::{Result, ServiceError, Services, meetings::NewMeeting};
use crate::{
    domain::{
        Branch, BranchId, Invalid,
        meeting::{Meeting, MeetingKind, Series},
        workdays,
    },
    platform::BoxFuture,
    scheduler::{Job, JobError, JobHandler, Recurrence, Rule, job::local_to_utc},
};

/// The job kind that plans a series' next meeting.
pub const SERIES_JOB: &str = "meeting.series";

/// The series' rule in the branch's time zone.
fn recurrence(series: &Series, branch: &Branch) -> Recurrence {
    Recurrence {
        rule: Rule::Month {
            day: series.day,
            at: series.at,
        },
        timezone: branch.timezone,
    }
}

/// What creating a series needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSeries {
    /// Kind.
    pub kind: MeetingKind,
    /// Topic of every occurrence.
    pub topic: String,
    /// Day of the month, 1..=31 (a month without it uses its last day).
    pub day: u32,
    /// Local time, `HH:MM`.
    pub at: String,
    /// Length.
    #[serde(default, with = "humantime_serde::option")]
    pub duration: Option<Duration>,
    /// Online link.
    #[serde(default)]
    pub link: Option<String>,
}

fn series_key(branch: &BranchId, id: &str) -> String {
    format!("series:{branch}:{id}")
}

impl Services {
    /// Creates a series and plans its first meeting. With an `origin` (an API request's
    /// `Idempotency-Key`), the series id derives from it, so that a retry after a failure at
    /// any step finds the series, its first meeting and its job instead of making new ones.
    pub async fn create_series(
        &self,
        branch: &Branch,
        creator: &str,
        input: NewSeries,
        origin: Option<&str>,
    ) -> Result<(Series, Meeting)> {
        if !(1..=31).contains(&input.day) {
            return Err(Invalid::new("day", "1 to 31").into());
        }
        let at = NaiveTime::parse_from_str(input.at.trim(), "%H:%M")
            .map_err(|_| Invalid::new("at", "a local time as HH:MM, e.g. 19:30"))?;
        // Checked before anything is stored, so a refusal leaves nothing behind.
        let topic = super::meetings::parse_topic(&input.topic)?;
        let link = super::meetings::parse_link(input.link.as_deref())?;
        if input
            .duration
            .is_some_and(|d| d < Duration::from_secs(60) || d > Duration::from_secs(24 * 3600))
        {
            return Err(Invalid::new("duration", "between 1m and 24h").into());
        }
        let id = match origin {
            Some(origin) => crate::service::tokens::token_hash(origin)[..10].to_owned(),
            None => format!("{:010x}", rand::random::<u64>() & 0xff_ffff_ffff),
        };
        let series = Series {
            id,
            branch: branch.id.clone(),
            kind: input.kind,
            topic,
            day: input.day,
            at,
            duration: input.duration,
            link,
            created_by: creator.to_owned(),
            planned_through: None,
        };
        let series = if self.store.insert_series(&series).await? {
            series
        } else {
            // Stored by the first attempt of this request.
            self.store
                .series(&branch.id, &series.id)
                .await?
                .map_or(series, |(s, _)| s)
        };
        let rule_due = recurrence(&series, branch)
            .next_after(self.clock.now())
            .ok_or_else(|| Invalid::new("day", "no next occurrence"))?;
        let rule_date = rule_due.with_timezone(&branch.timezone).date_naive();
        let planned = if series.planned_through.is_some_and(|d| d >= rule_date) {
            // The first attempt claimed the date: its meeting is found by its origin.
            Some(self.occurrence(branch, &series, rule_date).await?)
        } else {
            self.plan_occurrence(branch, &series.id, rule_due).await?
        };
        let Some(meeting) = planned else {
            return Err(ServiceError::Store(crate::store::StoreError::Contention(
                "series".to_owned(),
            )));
        };
        let job = Job {
            key: series_key(&branch.id, &series.id),
            kind: SERIES_JOB.to_owned(),
            due: rule_due,
            payload: serde_json::json!({ "branch": branch.id, "series": series.id }),
            recurrence: Some(recurrence(&series, branch)),
            attempts: 0,
        };
        self.store.schedule_job(&job).await?;
        let series = self
            .store
            .series(&branch.id, &series.id)
            .await?
            .map_or(series, |(s, _)| s);
        Ok((series, meeting))
    }

    /// Plans the occurrence whose rule time is `rule_at`, once: moved to the next working day,
    /// announced like any meeting. `None` if the series is gone.
    async fn plan_occurrence(
        &self,
        branch: &Branch,
        id: &str,
        rule_at: DateTime<Utc>,
    ) -> Result<Option<Meeting>> {
        let rule_date = rule_at.with_timezone(&branch.timezone).date_naive();
        // Claim the date first (compare-and-set on the stored series): a retried job plans once.
        let (series, previous) = loop {
            let Some((mut series, raw)) = self.store.series(&branch.id, id).await? else {
                return Ok(None);
            };
            let previous = series.planned_through;
            if previous.is_some_and(|d| d >= rule_date) {
                return Ok(None);
            }
            series.planned_through = Some(rule_date);
            if self.store.update_series(&series, &raw).await? {
                break (series, previous);
            }
        };
        match self.occurrence(branch, &series, rule_date).await {
            Ok(meeting) => Ok(Some(meeting)),
            Err(e) => {
                // Give the month back so the job's retry plans it.
                self.unmark_planned(&branch.id, id, rule_date, previous)
                    .await;
                Err(e)
            }
        }
    }

    /// The meeting of a series' occurrence (rule date `rule_date`), created once: its origin
    /// is the series and the date, so a retried job or request finds the same number.
    async fn occurrence(
        &self,
        branch: &Branch,
        series: &Series,
        rule_date: NaiveDate,
    ) -> Result<Meeting> {
        let day = workdays::next_working_day(rule_date);
        let starts_at = local_to_utc(branch.timezone, day, series.at)
            .ok_or_else(|| Invalid::new("at", "no such local time"))?;
        let input = NewMeeting {
            kind: series.kind,
            starts_at,
            topic: series.topic.clone(),
            duration: series.duration,
            link: series.link.clone(),
        };
        let origin = format!("series:{}:{rule_date}", series.id);
        self.create_meeting(branch, &series.created_by, input, Some(&origin))
            .await
    }

    async fn unmark_planned(
        &self,
        branch: &BranchId,
        id: &str,
        date: NaiveDate,
        previous: Option<NaiveDate>,
    ) {
        let result: Result<()> = async {
            if let Some((mut series, raw)) = self.store.series(branch, id).await?
                && series.planned_through == Some(date)
            {
                series.planned_through = previous;
                self.store.update_series(&series, &raw).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error.cause_chain = %crate::error::Chain(&e), series = id, "could not give back a series month; plan it by hand");
        }
    }

    /// Stops a series; meetings already planned stay (cancel them one by one).
    pub async fn cancel_series(&self, branch: &BranchId, id: &str) -> Result<bool> {
        let removed = self.store.delete_series(branch, id).await?;
        self.store.cancel_job(&series_key(branch, id)).await?;
        Ok(removed)
    }
}

/// When a series' rule time comes, plans the following occurrence.
#[derive(Debug)]
pub struct SeriesHandler {
    services: Services,
}

impl SeriesHandler {
    /// A handler over the services.
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

impl JobHandler for SeriesHandler {
    fn kind(&self) -> &'static str {
        SERIES_JOB
    }

    fn grace(&self) -> Duration {
        // The meeting it plans is a month away: planning it weeks late still gives notice.
        Duration::from_secs(20 * 24 * 3600)
    }

    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, std::result::Result<(), JobError>> {
        Box::pin(async move {
            let branch_id = job.payload["branch"].as_str().and_then(BranchId::parse);
            let id = job.payload["series"].as_str();
            let (Some(branch_id), Some(id), Some(rule)) = (branch_id, id, &job.recurrence) else {
                return Err(JobError::fail("bad series payload"));
            };
            let next = rule
                .next_after(job.due)
                .ok_or_else(|| JobError::fail("no next occurrence"))?;
            let result = async {
                let branch = self.services.branch(&branch_id).await?;
                self.services.plan_occurrence(&branch, id, next).await
            };
            match result.await {
                Ok(_) => Ok(()),
                Err(ServiceError::Store(e)) => Err(JobError::retry(e)),
                Err(e) => Err(JobError::fail(e)),
            }
        })
    }
}
