//! A seam for tests only: make the Nth Redis request of one store fail, as a dropped
//! connection would, so that a test can break a command at each of its steps in turn and
//! check that the retry converges to one effect.
//!
//! It exists only when the crate is built with the `fault-injection` feature, which only the
//! crate's own dev-dependency on itself turns on (`cargo test`). A release build has no such
//! code, and no setting or input reaches it.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use redis::RedisError;

/// How the chosen request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// The request never reaches Redis.
    Refuse,
    /// Redis runs it, and the answer is lost on the way back (the nastier case: the effect
    /// happened, and the caller cannot know).
    LoseReply,
}

/// Counts a store's Redis requests and fails one of them on demand. Shared by every clone of
/// the store and every connection handle it gives out.
#[derive(Debug, Default)]
pub struct Faults {
    calls: AtomicU64,
    /// 1-based index of the request to fail; 0 for none.
    fail_at: AtomicU64,
    mode: AtomicU8,
}

impl Faults {
    /// Starts counting from zero, failing nothing.
    pub fn count(&self) {
        self.fail_at.store(0, Ordering::SeqCst);
        self.calls.store(0, Ordering::SeqCst);
    }

    /// Starts counting from zero; request `n` (1-based) fails in `mode`, once.
    pub fn fail_call(&self, n: u64, mode: FaultMode) {
        self.mode.store(
            match mode {
                FaultMode::Refuse => 0,
                FaultMode::LoseReply => 1,
            },
            Ordering::SeqCst,
        );
        self.calls.store(0, Ordering::SeqCst);
        self.fail_at.store(n, Ordering::SeqCst);
    }

    /// Requests made since [`Faults::count`] or [`Faults::fail_call`].
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Whether the armed fault has fired (or none was armed).
    pub fn fired(&self) -> bool {
        self.fail_at.load(Ordering::SeqCst) == 0
    }

    /// Counts one request; `Some` if it is the one to fail (the fault then disarms).
    pub(crate) fn next(&self) -> Option<FaultMode> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let target = self.fail_at.load(Ordering::SeqCst);
        if target == 0 || n != target {
            return None;
        }
        self.fail_at
            .compare_exchange(target, 0, Ordering::SeqCst, Ordering::SeqCst)
            .ok()?;
        Some(match self.mode.load(Ordering::SeqCst) {
            0 => FaultMode::Refuse,
            _ => FaultMode::LoseReply,
        })
    }
}

/// The error an injected fault gives: a reset connection, which the store reports as
/// [`super::StoreError::Unavailable`].
pub(crate) fn injected() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "injected fault",
    ))
}
