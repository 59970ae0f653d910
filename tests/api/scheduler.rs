//! The scheduler: exactly once across replicas, leases of dead replicas, misfire grace.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::Utc;
use mobile_branch::{
    clock::{Clock, ManualClock},
    platform::BoxFuture,
    scheduler::{Job, JobError, JobHandler, Scheduler},
    store::{Store, jobs::RecordList},
};
use reqwest::Method;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::helpers::{REDIS, Who, spawn_app, test_settings};

/// Counts runs per job key.
#[derive(Default)]
struct Counting {
    runs: Mutex<HashMap<String, u32>>,
}

impl JobHandler for Counting {
    fn kind(&self) -> &'static str {
        "count"
    }
    fn grace(&self) -> Duration {
        Duration::from_secs(60)
    }
    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            *self
                .runs
                .lock()
                .unwrap()
                .entry(job.key.clone())
                .or_default() += 1;
            Ok(())
        })
    }
}

fn job(key: String, due: chrono::DateTime<Utc>) -> Job {
    Job {
        key,
        kind: "count".to_owned(),
        due,
        payload: json!({}),
        recurrence: None,
        attempts: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_jobs_due_in_one_second_fire_exactly_once_across_three_replicas() {
    let settings = test_settings(&REDIS.url(), "");
    let store = Store::new(&settings.redis).unwrap();
    let start = Utc::now();
    let clock = ManualClock::new(start);
    let handler = Arc::new(Counting::default());
    for i in 0..1000 {
        let due = start + chrono::Duration::milliseconds(i % 1000);
        store
            .schedule_job(&job(format!("count:{i}"), due))
            .await
            .unwrap();
    }

    let stop = CancellationToken::new();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let mut s = Scheduler::new(
            store.clone(),
            Arc::new(clock.clone()),
            settings.scheduler.clone(),
        );
        s.register(handler.clone());
        replicas.push(tokio::spawn(Arc::new(s).run(stop.clone())));
    }
    clock.advance(chrono::Duration::seconds(1));

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while handler.runs.lock().unwrap().len() < 1000 {
        assert!(std::time::Instant::now() < deadline, "not all jobs ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the replicas look again: nothing may run a second time.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    for r in replicas {
        r.await.unwrap();
    }
    let runs = handler.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 1000);
    assert!(runs.values().all(|n| *n == 1), "some job ran twice");
    assert_eq!(
        store.job_counts().await.unwrap(),
        (0, 0),
        "due and leased sets are empty"
    );
}

#[tokio::test]
async fn a_dead_replicas_leases_expire_and_another_replica_runs_its_jobs() {
    let settings = test_settings(&REDIS.url(), "");
    let store = Store::new(&settings.redis).unwrap();
    let now = Utc::now();
    let clock = ManualClock::new(now);
    for i in 0..50 {
        store
            .schedule_job(&job(format!("count:{i}"), now))
            .await
            .unwrap();
    }
    // A replica claims everything and dies before completing anything.
    let claimed = store
        .claim_jobs(now, Duration::from_secs(30), "dead-replica", 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 50);

    let handler = Arc::new(Counting::default());
    let mut survivor = Scheduler::new(
        store.clone(),
        Arc::new(clock.clone()),
        settings.scheduler.clone(),
    );
    survivor.register(handler.clone());
    assert_eq!(
        survivor.tick().await.unwrap().claimed,
        0,
        "leased jobs are not run twice"
    );
    clock.advance(chrono::Duration::seconds(31));
    let outcome = survivor.tick().await.unwrap();
    assert_eq!((outcome.claimed, outcome.ran), (50, 50));
    assert!(handler.runs.lock().unwrap().values().all(|n| *n == 1));

    // The dead replica's late completion changes nothing.
    let late = store
        .complete_job(
            &claimed[0],
            "dead-replica",
            mobile_branch::store::jobs::Completion::Drop,
            None,
        )
        .await
        .unwrap();
    assert!(!late);
}

#[tokio::test]
async fn notices_fire_on_time_move_when_rescheduled_and_skip_when_missed_beyond_grace() {
    let app = spawn_app().await;
    let (id, code) = app.create_branch("通知支部").await;
    app.say1(
        Who {
            chat: "g1",
            user: "u-sec",
            name: "王书记",
        },
        &format!("绑定 {code}"),
    )
    .await;
    let now = app.clock.now();

    // A notice now goes out at once.
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/notices"),
            Some(json!({"text": "今晚学习"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["scheduled"], false);
    app.eventually(5, "immediate notice", || async {
        app.mailbox("demo", "g1").await == ["今晚学习"]
    })
    .await;

    // Two scheduled notices: one is cancelled, one fires when its time comes.
    let at = (now + chrono::Duration::minutes(10)).to_rfc3339();
    let (_, kept) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/notices"),
            Some(json!({"text": "十分钟后", "at": at})),
        )
        .await;
    let (_, dropped) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/notices"),
            Some(json!({"text": "取消的", "at": at})),
        )
        .await;
    assert_eq!(kept["scheduled"], true, "{kept}");
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/branches/{id}/notices/{}", dropped["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/branches/{id}/notices/nonesuch"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.mailbox("demo", "g1").await.len(), 1, "not due yet");
    app.clock.advance(chrono::Duration::minutes(10));
    app.eventually(5, "scheduled notice", || async {
        app.mailbox("demo", "g1").await.len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.mailbox("demo", "g1").await,
        ["今晚学习", "十分钟后"],
        "the cancelled one never went"
    );

    // A notice whose time passed while no replica ran, beyond the 1 h grace, is skipped.
    let at = (app.clock.now() + chrono::Duration::minutes(5)).to_rfc3339();
    let (_, late) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/notices"),
            Some(json!({"text": "过期的", "at": at})),
        )
        .await;
    app.clock.advance(chrono::Duration::hours(2));
    app.eventually(5, "skip recorded", || async {
        app.store
            .job_records(RecordList::Skipped, 10)
            .await
            .unwrap()
            .len()
            == 1
    })
    .await;
    let (status, skipped) = app.api(Method::GET, "/jobs/skipped", None).await;
    assert_eq!(status, 200);
    assert!(
        skipped["items"][0]["key"]
            .as_str()
            .unwrap()
            .ends_with(late["id"].as_str().unwrap()),
        "{skipped}"
    );
    assert_eq!(
        app.mailbox("demo", "g1").await.len(),
        2,
        "a skipped notice is not sent late"
    );

    // Bad input changes nothing.
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/notices"),
            Some(json!({"text": ""})),
        )
        .await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("text")),
        "{body}"
    );
    let past = (app.clock.now() - chrono::Duration::hours(1)).to_rfc3339();
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/notices"),
            Some(json!({"text": "x", "at": past})),
        )
        .await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("at")),
        "{body}"
    );
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/notices"),
            Some(json!({"text": "x", "at": "明天"})),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_job_rescheduled_while_it_runs_never_runs_twice_at_once_and_unknown_kinds_wait() {
    let settings = test_settings(&REDIS.url(), "");
    let store = Store::new(&settings.redis).unwrap();
    let now = Utc::now();
    store
        .schedule_job(&job("count:moving".to_owned(), now))
        .await
        .unwrap();
    let running = store
        .claim_jobs(now, Duration::from_secs(30), "replica-a", 10)
        .await
        .unwrap();
    assert_eq!(running.len(), 1);

    // Rescheduled to a time already due while replica A runs it: B must not start it too.
    let moved = Job {
        payload: json!({"moved": true}),
        ..job("count:moving".to_owned(), now)
    };
    store.schedule_job(&moved).await.unwrap();
    assert!(
        store
            .claim_jobs(now, Duration::from_secs(30), "replica-b", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A completes its (old) run; the new version stands and is claimable.
    let done = store
        .complete_job(
            &running[0],
            "replica-a",
            mobile_branch::store::jobs::Completion::Drop,
            None,
        )
        .await
        .unwrap();
    assert!(done);
    let again = store
        .claim_jobs(now, Duration::from_secs(30), "replica-b", 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].job.payload, json!({"moved": true}));

    // A kind this replica does not know is left for another, not dropped.
    let clock = ManualClock::new(now);
    let unknown = Job {
        kind: "future-kind".to_owned(),
        ..job("future:1".to_owned(), now)
    };
    store.schedule_job(&unknown).await.unwrap();
    let s = Scheduler::new(
        store.clone(),
        Arc::new(clock.clone()),
        settings.scheduler.clone(),
    );
    let outcome = s.tick().await.unwrap();
    assert_eq!((outcome.retried, outcome.failed), (1, 0));
    assert!(
        store
            .job_records(RecordList::Failed, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
