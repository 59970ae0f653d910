//! The time source: the system clock in production, a hand-moved one in tests, so that tests
//! move time instead of sleeping.

use std::{
    fmt,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Duration, Utc};

/// Tells the time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        // A poisoned lock only means another test thread panicked; the time is still valid.
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `at + d`, saturating at the latest time chrono can hold instead of panicking. Configured
/// durations are bounded at load and branch overrides when set, so this never saturates in
/// practice; it keeps time arithmetic on a duration from anywhere panic-free all the same.
pub fn later(at: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `at - d`, saturating at the earliest time chrono can hold (see [`later`]).
pub fn earlier(at: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_on_absurd_durations_saturates_instead_of_panicking() {
        let now = Utc::now();
        let hour = std::time::Duration::from_secs(3600);
        assert_eq!(later(now, hour), now + Duration::hours(1));
        assert_eq!(earlier(now, hour), now - Duration::hours(1));
        assert_eq!(
            later(now, std::time::Duration::MAX),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(
            earlier(now, std::time::Duration::MAX),
            DateTime::<Utc>::MIN_UTC
        );
        // Within chrono's range as a duration, past it as a date.
        let ten_million_years = std::time::Duration::from_secs(10_000_000 * 366 * 24 * 3600);
        assert_eq!(later(now, ten_million_years), DateTime::<Utc>::MAX_UTC);
    }
}
