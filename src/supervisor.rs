//! Supervision of the background workers (the scheduler and the outbox). Each runs in a task
//! of its own under a supervisor that watches it: a worker that panics, or returns while no
//! stop was asked for, is logged, counted in [`WORKER_RESTARTS`], shown by `/readyz`, and
//! started again after a backoff.
//!
//! Restart rather than exit: a worker keeps nothing in memory that matters (jobs and messages
//! wait in Redis, and what it held comes back when its leases expire), so a fresh one picks up
//! where the dead one stopped, while the replica goes on answering webhooks. Taking the process
//! down would cut every chat's commands off for what may be one bad job. A worker that keeps
//! dying is restarted ever more slowly (up to a minute apart) and stays visible in `/readyz`
//! and the counter.

use std::{
    any::Any,
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use serde::Serialize;
use tokio::{sync::Notify, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::backoff;

/// Counter: workers restarted after they died, by `worker`.
pub const WORKER_RESTARTS: &str = "mb_worker_restarts_total";

/// What a worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Running.
    Running,
    /// Died; waiting out the backoff before it starts again.
    Restarting,
    /// Stopped by shutdown.
    Stopped,
}

/// A worker's health, as `/readyz` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerHealth {
    /// What it is doing.
    pub state: WorkerState,
    /// Times it died and was started again since the process started.
    pub restarts: u64,
    /// Why it last died.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
}

struct Slot {
    health: WorkerHealth,
    fault: Arc<Notify>,
}

/// The health of this replica's supervised workers; cheap to clone.
#[derive(Clone, Default)]
pub struct Workers {
    slots: Arc<Mutex<BTreeMap<&'static str, Slot>>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.snapshot()).finish()
    }
}

impl Workers {
    /// Every supervised worker's health, by name.
    pub fn snapshot(&self) -> BTreeMap<&'static str, WorkerHealth> {
        self.with(|slots| {
            slots
                .iter()
                .map(|(name, slot)| (*name, slot.health.clone()))
                .collect()
        })
    }

    /// The workers not running (restarting after a failure), by name.
    pub fn down(&self) -> Vec<&'static str> {
        self.with(|slots| {
            slots
                .iter()
                .filter(|(_, s)| s.health.state == WorkerState::Restarting)
                .map(|(name, _)| *name)
                .collect()
        })
    }

    /// Makes the running worker `name` panic, as a bug in it would, so that tests can watch
    /// the supervisor react. Reachable only from Rust code in this process, never over HTTP.
    /// False if no such worker is supervised. Compiled only into test builds (the
    /// `fault-injection` feature), like the store's fault seam.
    #[cfg(any(test, feature = "fault-injection"))]
    #[doc(hidden)]
    pub fn inject_panic(&self, name: &str) -> bool {
        let fault = self.with(|slots| slots.get(name).map(|s| s.fault.clone()));
        fault.is_some_and(|f| {
            f.notify_one();
            true
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<&'static str, Slot>) -> T) -> T {
        // A panic while holding this lock cannot leave a slot half-written (each update is
        // one assignment), so a poisoned lock is still good to use.
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut slots)
    }

    fn register(&self, name: &'static str) -> Arc<Notify> {
        self.with(|slots| {
            slots
                .entry(name)
                .or_insert_with(|| Slot {
                    health: WorkerHealth {
                        state: WorkerState::Running,
                        restarts: 0,
                        last_failure: None,
                    },
                    fault: Arc::new(Notify::new()),
                })
                .fault
                .clone()
        })
    }

    fn set(&self, name: &'static str, state: WorkerState, failure: Option<String>) {
        self.with(|slots| {
            if let Some(slot) = slots.get_mut(name) {
                slot.health.state = state;
                if let Some(reason) = failure {
                    slot.health.restarts += 1;
                    slot.health.last_failure = Some(reason);
                }
            }
        });
    }
}

/// How a dead worker is started again.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    /// The first wait (jittered; see [`backoff::delay`]).
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
    /// A worker that ran this long before dying starts again from the first wait.
    pub stable: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            stable: Duration::from_secs(60),
        }
    }
}

/// Runs the worker `start` makes under supervision until `stop`: whenever it dies without
/// being asked to stop, it is recorded in `workers` and started again after a backoff.
pub async fn supervise<F, Fut>(
    name: &'static str,
    workers: Workers,
    policy: RestartPolicy,
    stop: CancellationToken,
    mut start: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let fault = workers.register(name);
    let mut failures: u32 = 0;
    loop {
        workers.set(name, WorkerState::Running, None);
        let started = Instant::now();
        let work = start();
        let fault = fault.clone();
        let outcome = tokio::spawn(async move {
            tokio::select! {
                () = work => {}
                () = fault.notified() => panic!("fault injected into the {name} worker"),
            }
        })
        .await;
        let reason = match outcome {
            Ok(()) if stop.is_cancelled() => None,
            Ok(()) => Some("returned without being asked to stop".to_owned()),
            Err(e) if e.is_panic() => Some(format!("panicked: {}", panic_text(e.into_panic()))),
            Err(e) => Some(format!("was cancelled: {e}")),
        };
        let Some(reason) = reason else {
            workers.set(name, WorkerState::Stopped, None);
            return;
        };
        if stop.is_cancelled() {
            tracing::error!(worker = name, %reason, "worker died while stopping");
            workers.set(name, WorkerState::Stopped, Some(reason));
            return;
        }
        if started.elapsed() >= policy.stable {
            failures = 0;
        }
        failures = failures.saturating_add(1);
        let wait = backoff::delay(failures, policy.base, policy.cap);
        tracing::error!(worker = name, %reason, ?wait, "worker died; restarting it");
        metrics::counter!(WORKER_RESTARTS, "worker" => name).increment(1);
        workers.set(name, WorkerState::Restarting, Some(reason));
        tokio::select! {
            () = stop.cancelled() => {
                workers.set(name, WorkerState::Stopped, None);
                return;
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn panic_text(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const QUICK: RestartPolicy = RestartPolicy {
        base: Duration::from_millis(10),
        cap: Duration::from_millis(20),
        stable: Duration::from_secs(60),
    };

    async fn until(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_worker_that_returns_or_panics_is_started_again_and_a_stop_ends_it() {
        let workers = Workers::default();
        let stop = CancellationToken::new();
        let starts = Arc::new(AtomicU32::new(0));
        let counted = starts.clone();
        let worker_stop = stop.clone();
        let supervisor = tokio::spawn(supervise(
            "test",
            workers.clone(),
            QUICK,
            stop.clone(),
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                let stop = worker_stop.clone();
                async move {
                    // The first run returns at once, as a worker with a bug in its loop would;
                    // later ones run until stopped.
                    if n > 0 {
                        stop.cancelled().await;
                    }
                }
            },
        ));
        until("a restart", || starts.load(Ordering::SeqCst) == 2).await;
        until("running again", || workers.down().is_empty()).await;
        let health = &workers.snapshot()["test"];
        assert_eq!(health.restarts, 1);
        assert_eq!(
            health.last_failure.as_deref(),
            Some("returned without being asked to stop")
        );

        assert!(workers.inject_panic("test"));
        until("the panic to be seen", || {
            workers.snapshot()["test"].restarts == 2
        })
        .await;
        let failure = workers.snapshot()["test"].last_failure.clone();
        assert!(
            failure
                .as_deref()
                .is_some_and(|f| f.starts_with("panicked: fault injected")),
            "{failure:?}"
        );
        until("a third start", || starts.load(Ordering::SeqCst) == 3).await;

        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), supervisor)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(workers.snapshot()["test"].state, WorkerState::Stopped);
        assert_eq!(
            starts.load(Ordering::SeqCst),
            3,
            "not started after the stop"
        );
        assert!(!workers.inject_panic("nobody"));
    }
}
