//! Exponential backoff with full jitter, shared by the scheduler's retries and the outbox.

use std::time::Duration;

use rand::Rng;

/// The wait before attempt `attempt + 1` (attempt counts from 1): a random time up to
/// `base * 2^(attempt-1)`, capped, and never under `base / 2`, so that many replicas
/// retrying the same failure spread out instead of stampeding.
pub fn delay(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let ceiling = exp.min(cap);
    let floor = (base / 2).min(ceiling);
    let span = ceiling.saturating_sub(floor);
    floor + span.mul_f64(rand::rng().random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_within_their_bounds() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(60);
        for attempt in 1..40 {
            let d = delay(attempt, base, cap);
            assert!(d >= Duration::from_millis(500), "{attempt}: {d:?}");
            assert!(d <= cap, "{attempt}: {d:?}");
            let ceiling = base.saturating_mul(1 << (attempt - 1).min(20)).min(cap);
            assert!(d <= ceiling, "{attempt}: {d:?}");
        }
    }
}
