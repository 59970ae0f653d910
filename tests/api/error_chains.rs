//! Errors keep their cause: a failed job's record says why down to the root cause, not only
//! "redis is unavailable".

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use mobile_branch::{
    clock::ManualClock,
    platform::BoxFuture,
    scheduler::{Job, JobError, JobHandler, Scheduler},
    store::{Store, jobs::RecordList},
};
use serde_json::json;

use crate::helpers::{REDIS, test_settings};

/// Fails every job the way a handler does when Redis is down (a real store error, from a
/// store pointed at a port nothing listens on), or with a bare text.
struct Failing {
    dead: Store,
}

impl JobHandler for Failing {
    fn kind(&self) -> &'static str {
        "failing"
    }
    fn grace(&self) -> Duration {
        Duration::from_secs(60)
    }
    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            if job.payload["text"] == true {
                return Err(JobError::fail("the meeting is gone"));
            }
            let e = self.dead.ping().await.expect_err("nothing listens there");
            Err(JobError::from(e))
        })
    }
}

fn job(key: &str, payload: serde_json::Value) -> Job {
    Job {
        key: key.to_owned(),
        kind: "failing".to_owned(),
        due: Utc::now(),
        payload,
        recurrence: None,
        attempts: 0,
    }
}

#[tokio::test]
async fn a_failed_jobs_record_keeps_the_whole_cause_chain() {
    let mut settings = test_settings(&REDIS.url(), "");
    settings.scheduler.max_attempts = 1;
    let store = Store::new(&settings.redis).unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("redis://{}", free.local_addr().unwrap());
    drop(free);
    let dead = Store::new(&test_settings(&dead_url, "").redis).unwrap();

    store
        .schedule_job(&job("failing:redis", json!({})))
        .await
        .unwrap();
    store
        .schedule_job(&job("failing:text", json!({"text": true})))
        .await
        .unwrap();
    let mut scheduler = Scheduler::new(
        store.clone(),
        Arc::new(ManualClock::new(Utc::now() + chrono::Duration::seconds(1))),
        settings.scheduler.clone(),
    );
    scheduler.register(Arc::new(Failing { dead }));
    let outcome = scheduler.tick().await.unwrap();
    assert_eq!(outcome.failed, 2, "{outcome:?}");

    let records = store.job_records(RecordList::Failed, 10).await.unwrap();
    let reason = |key: &str| {
        records
            .iter()
            .find(|r| r.key == key)
            .map(|r| r.reason.clone())
            .unwrap_or_else(|| panic!("no record of {key}: {records:?}"))
    };
    // The store's own words, then what Redis's client said, then the OS.
    let redis = reason("failing:redis");
    let (head, rest) = redis
        .split_once(": ")
        .unwrap_or_else(|| panic!("no cause in {redis:?}"));
    assert_eq!(head, "redis is unavailable", "{redis}");
    assert!(!rest.trim().is_empty(), "{redis}");
    assert!(
        ["refused", "timed out", "timeout", "connect"]
            .iter()
            .any(|w| rest.to_lowercase().contains(w)),
        "{redis}"
    );
    // A text cause is recorded as written.
    assert_eq!(reason("failing:text"), "the meeting is gone");
}
