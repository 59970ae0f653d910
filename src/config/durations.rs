//! The range every configured duration must fall in. A humantime value parses up to hundreds
//! of billions of years, and the code that reads these settings adds them to clocks, doubles
//! them for backoff and turns them into Redis TTLs; bounding each one here, at load time, is
//! what lets that code do plain arithmetic. An out-of-range value is a configuration error
//! that names the key, the value and the allowed range.
//!
//! A new duration key gets its row in the section's function below, and its range in
//! `docs/configuration.md`.

use std::time::Duration;

use super::{
    CheckinSettings, LimitSettings, OutboxSettings, RedisSettings, SchedulerSettings,
    ServerSettings, TimingSettings,
};

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The shortest and longest timing default: the same range a branch's own overrides get
/// (`TimingOverrides::validate`), so that no default is something a branch could not set.
const TIMING: (Duration, Duration) = (SECOND, Duration::from_secs(366 * 24 * 3600));

/// Reminders in one list, as for a branch's override.
const MAX_REMINDERS: usize = 10;

/// Pushes an error unless `value` is within `min..=max`. The value is shown as humantime
/// reads it back; the bounds in the largest whole unit, as the docs write them.
fn within(key: &str, value: Duration, (min, max): (Duration, Duration), errors: &mut Vec<String>) {
    if !(min..=max).contains(&value) {
        errors.push(format!(
            "{key}: {} is out of range (allowed: {} to {})",
            humantime::format_duration(value),
            bound(min),
            bound(max),
        ));
    }
}

/// `90d`, not humantime's `2months 29days 2h 52m 48s` (its month is 30.44 days).
fn bound(d: Duration) -> String {
    for (unit, name) in [
        (DAY, "d"),
        (HOUR, "h"),
        (MINUTE, "m"),
        (SECOND, "s"),
        (MS, "ms"),
    ] {
        if !d.is_zero() && d.as_nanos().is_multiple_of(unit.as_nanos()) {
            return format!("{}{name}", d.as_nanos() / unit.as_nanos());
        }
    }
    humantime::format_duration(d).to_string()
}

/// `[server]`: deadlines a client or a shutdown may take.
pub(super) fn server(s: &ServerSettings, errors: &mut Vec<String>) {
    // Platforms give up on a webhook after seconds; minutes are already generous.
    within(
        "server.request_timeout",
        s.request_timeout,
        (SECOND, 5 * MINUTE),
        errors,
    );
    // Orchestrators kill a process long before this; zero is allowed (no grace).
    within(
        "server.shutdown_grace",
        s.shutdown_grace,
        (Duration::ZERO, 10 * MINUTE),
        errors,
    );
    within(
        "server.header_read_timeout",
        s.header_read_timeout,
        (100 * MS, 5 * MINUTE),
        errors,
    );
}

/// `[redis]`: every request waits at most this long, so a stuck Redis is noticed.
pub(super) fn redis(r: &RedisSettings, errors: &mut Vec<String>) {
    within(
        "redis.connect_timeout",
        r.connect_timeout,
        (10 * MS, MINUTE),
        errors,
    );
    within(
        "redis.response_timeout",
        r.response_timeout,
        (10 * MS, MINUTE),
        errors,
    );
}

/// `[timing]`: the defaults every branch starts from.
pub(super) fn timing(t: &TimingSettings, errors: &mut Vec<String>) {
    for (key, list) in [
        ("timing.meeting_reminders", &t.meeting_reminders),
        ("timing.volunteer_reminders", &t.volunteer_reminders),
    ] {
        if list.len() > MAX_REMINDERS {
            errors.push(format!("{key}: at most {MAX_REMINDERS} reminders"));
        }
        for (i, d) in list.iter().enumerate() {
            within(&format!("{key}[{i}]"), *d, TIMING, errors);
        }
    }
    for (key, value) in [
        ("timing.checkin_opens_before", t.checkin_opens_before),
        ("timing.checkin_closes_after", t.checkin_closes_after),
        ("timing.lesson_deadline", t.lesson_deadline),
        ("timing.care_lead", t.care_lead),
        ("timing.care_overdue_repeat", t.care_overdue_repeat),
        ("timing.bind_code_ttl", t.bind_code_ttl),
        ("timing.inactivity_warning", t.inactivity_warning),
    ] {
        within(key, value, TIMING, errors);
    }
    // Platforms retry a webhook for hours, so a processed message id must outlive that; past
    // a month the keys only cost memory (one per message).
    within("timing.dedup_ttl", t.dedup_ttl, (DAY, 30 * DAY), errors);
}

/// The keys `[scheduler]` and `[outbox]` share: polling, the lease and the retry backoff.
fn worker(
    section: &str,
    poll_interval: Duration,
    lease: Duration,
    retry_base: Duration,
    retry_cap: Duration,
    errors: &mut Vec<String>,
) {
    within(
        &format!("{section}.poll_interval"),
        poll_interval,
        (MS, MINUTE),
        errors,
    );
    within(&format!("{section}.lease"), lease, (SECOND, HOUR), errors);
    within(
        &format!("{section}.retry_base"),
        retry_base,
        (MS, HOUR),
        errors,
    );
    // The cap is what a failing job or message waits at most between tries; a day already
    // outlives any platform outage worth retrying through.
    within(
        &format!("{section}.retry_cap"),
        retry_cap,
        (MS, DAY),
        errors,
    );
    if retry_cap < retry_base {
        errors.push(format!(
            "{section}.retry_cap: {} is below {section}.retry_base ({})",
            humantime::format_duration(retry_cap),
            humantime::format_duration(retry_base),
        ));
    }
}

/// `[scheduler]`.
pub(super) fn scheduler(s: &SchedulerSettings, errors: &mut Vec<String>) {
    worker(
        "scheduler",
        s.poll_interval,
        s.lease,
        s.retry_base,
        s.retry_cap,
        errors,
    );
}

/// `[outbox]`.
pub(super) fn outbox(o: &OutboxSettings, errors: &mut Vec<String>) {
    worker(
        "outbox",
        o.poll_interval,
        o.lease,
        o.retry_base,
        o.retry_cap,
        errors,
    );
    within(
        "outbox.idempotency_ttl",
        o.idempotency_ttl,
        (HOUR, 90 * DAY),
        errors,
    );
    within(
        "outbox.dead_letter_ttl",
        o.dead_letter_ttl,
        (HOUR, TIMING.1),
        errors,
    );
}

/// `[checkin]`: the digest window and cadence are TTLs of per-chat keys.
pub(super) fn checkin(c: &CheckinSettings, errors: &mut Vec<String>) {
    within(
        "checkin.digest_window",
        c.digest_window,
        (SECOND, HOUR),
        errors,
    );
    within(
        "checkin.digest_every",
        c.digest_every,
        (SECOND, HOUR),
        errors,
    );
}

/// `[limits]`: every counter lives for the window or the cooldown, so both stay short.
pub(super) fn limits(l: &LimitSettings, errors: &mut Vec<String>) {
    within("limits.window", l.window, (SECOND, HOUR), errors);
    within(
        "limits.wrong_code_cooldown",
        l.wrong_code_cooldown,
        (SECOND, DAY),
        errors,
    );
}

#[cfg(test)]
mod tests {
    use crate::config::{Settings, Sources};

    fn load_errors(overlay: &str) -> String {
        match Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        }) {
            Ok(_) => String::new(),
            Err(e) => e.0.join("\n"),
        }
    }

    #[test]
    fn an_absurd_retry_cap_is_refused_naming_key_value_and_range() {
        let err = load_errors("[scheduler]\nretry_cap = \"1000000years\"\n");
        assert!(
            err.contains("scheduler.retry_cap: 1000000years is out of range (allowed: 1ms to 1d)"),
            "{err}"
        );
    }

    #[test]
    fn every_duration_key_has_an_upper_bound() {
        // One absurd value per key, all at once: each is named, none is accepted.
        let huge = "\"100000years\"";
        let keys: &[(&str, &[&str])] = &[
            (
                "server",
                &["request_timeout", "shutdown_grace", "header_read_timeout"],
            ),
            ("redis", &["connect_timeout", "response_timeout"]),
            (
                "timing",
                &[
                    "checkin_opens_before",
                    "checkin_closes_after",
                    "lesson_deadline",
                    "care_lead",
                    "care_overdue_repeat",
                    "bind_code_ttl",
                    "dedup_ttl",
                    "inactivity_warning",
                ],
            ),
            (
                "scheduler",
                &["poll_interval", "lease", "retry_base", "retry_cap"],
            ),
            (
                "outbox",
                &[
                    "poll_interval",
                    "lease",
                    "retry_base",
                    "retry_cap",
                    "idempotency_ttl",
                    "dead_letter_ttl",
                ],
            ),
            ("checkin", &["digest_window", "digest_every"]),
            ("limits", &["window", "wrong_code_cooldown"]),
        ];
        let mut overlay = String::new();
        for (section, names) in keys {
            overlay.push_str(&format!("[{section}]\n"));
            for name in *names {
                overlay.push_str(&format!("{name} = {huge}\n"));
            }
        }
        let overlay = overlay.replace(
            "[timing]\n",
            "[timing]\nmeeting_reminders = [\"1h\", \"100000years\"]\n",
        );
        let err = load_errors(&overlay);
        for (section, names) in keys {
            for name in *names {
                let key = format!("{section}.{name}: 100000years is out of range");
                assert!(err.contains(&key), "{key}: {err}");
            }
        }
        assert!(
            err.contains("timing.meeting_reminders[1]: 100000years is out of range"),
            "{err}"
        );
    }

    #[test]
    fn lower_bounds_and_the_retry_order_are_checked() {
        let err = load_errors(
            "[server]\nheader_read_timeout = \"10ms\"\nrequest_timeout = \"0s\"\n\
             [timing]\nbind_code_ttl = \"0s\"\ndedup_ttl = \"30m\"\n\
             [outbox]\nretry_base = \"10m\"\nretry_cap = \"1m\"\nlease = \"0s\"\n\
             [checkin]\ndigest_every = \"0s\"\n",
        );
        for key in [
            "server.header_read_timeout: 10ms is out of range (allowed: 100ms to 5m)",
            "server.request_timeout: 0s is out of range",
            "timing.bind_code_ttl: 0s is out of range",
            "timing.dedup_ttl: 30m is out of range (allowed: 1d to 30d)",
            "outbox.retry_cap: 1m is below outbox.retry_base (10m)",
            "outbox.lease: 0s is out of range",
            "checkin.digest_every: 0s is out of range",
        ] {
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn the_defaults_and_the_test_harness_values_are_within_range() {
        assert_eq!(load_errors(""), "");
        // What tests/api/helpers.rs and the outbox benchmark use.
        assert_eq!(
            load_errors(
                "[redis]\nconnect_timeout = \"300ms\"\nresponse_timeout = \"500ms\"\n\
                 [scheduler]\npoll_interval = \"10ms\"\nretry_base = \"50ms\"\n\
                 [outbox]\npoll_interval = \"10ms\"\nretry_base = \"50ms\"\nretry_cap = \"1s\"\n"
            ),
            ""
        );
    }
}
