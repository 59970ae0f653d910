//! Jobs and recurrence rules. Pure: no Redis, no clock.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A timed action. Its key is its identity and idempotency key: scheduling the same key again
/// replaces the job (a meeting moved moves its reminders), cancelling the key removes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Idempotency key, e.g. `notice:<branch>:<id>` or `meeting:<branch>:7:reminder:1h`.
    pub key: String,
    /// Which handler runs it.
    pub kind: String,
    /// When it should run.
    pub due: DateTime<Utc>,
    /// Handler input.
    #[serde(default)]
    pub payload: serde_json::Value,
    /// For recurring jobs, how the next due time follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Recurrence>,
    /// Failed attempts of the current occurrence.
    #[serde(default)]
    pub attempts: u32,
}

/// A rule evaluated in a time zone (a branch's), so "the 5th at 19:30" stays 19:30 local.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    /// The rule.
    pub rule: Rule,
    /// The zone it is read in.
    pub timezone: Tz,
}

/// When a recurring job comes back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "every", rename_all = "lowercase")]
pub enum Rule {
    /// Every day at a local time.
    Day {
        /// Local time.
        at: NaiveTime,
    },
    /// Every week on a weekday.
    Week {
        /// Weekday.
        weekday: Weekday,
        /// Local time.
        at: NaiveTime,
    },
    /// Every month on a day; a day the month lacks (31 in April) means its last day.
    Month {
        /// Day of month, 1..=31.
        day: u32,
        /// Local time.
        at: NaiveTime,
    },
}

impl Recurrence {
    /// The first occurrence strictly after `after`, or `None` past the calendar's range.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Converting to local time overflows at the very end of chrono's range; there is no
        // next occurrence there anyway.
        after.naive_utc().checked_add_signed(Duration::days(2))?;
        let local = after.with_timezone(&self.timezone);
        let mut date = local.date_naive();
        // 400 days covers every rule; a bound keeps a bad rule from looping forever.
        for _ in 0..400 {
            if let Some(at) = self.occurrence_on(date)
                && at > after
            {
                return Some(at);
            }
            date = date.succ_opt()?;
        }
        None
    }

    fn occurrence_on(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let at = match &self.rule {
            Rule::Day { at } => *at,
            Rule::Week { weekday, at } => {
                if date.weekday() != *weekday {
                    return None;
                }
                *at
            }
            Rule::Month { day, at } => {
                let last = last_day_of_month(date)?;
                if date.day() != (*day).clamp(1, last) {
                    return None;
                }
                *at
            }
        };
        local_to_utc(self.timezone, date, at)
    }
}

fn last_day_of_month(date: NaiveDate) -> Option<u32> {
    let first_next = if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year().checked_add(1)?, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)?
    };
    Some(first_next.pred_opt()?.day())
}

/// A local wall-clock time as UTC: the earlier instant when clocks fall back, and the first
/// valid instant after a gap when they spring forward.
pub fn local_to_utc(tz: Tz, date: NaiveDate, at: NaiveTime) -> Option<DateTime<Utc>> {
    let naive = date.and_time(at);
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(early, _) => Some(early.with_timezone(&Utc)),
        chrono::LocalResult::None => {
            let later = naive.checked_add_signed(Duration::hours(1))?;
            tz.from_local_datetime(&later)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::Asia::Shanghai;

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn month(day: u32) -> Recurrence {
        Recurrence {
            rule: Rule::Month {
                day,
                at: NaiveTime::from_hms_opt(19, 30, 0).unwrap(),
            },
            timezone: Shanghai,
        }
    }

    #[test]
    fn monthly_rules_follow_local_time_and_clamp_short_months() {
        // 19:30 in Shanghai is 11:30 UTC.
        assert_eq!(
            month(5).next_after(utc("2026-12-01T00:00:00Z")),
            Some(utc("2026-12-05T11:30:00Z"))
        );
        assert_eq!(
            month(5).next_after(utc("2026-12-05T11:30:00Z")),
            Some(utc("2027-01-05T11:30:00Z"))
        );
        assert_eq!(
            month(31).next_after(utc("2027-02-01T00:00:00Z")),
            Some(utc("2027-02-28T11:30:00Z"))
        );
        assert_eq!(
            month(31).next_after(utc("2028-02-01T00:00:00Z")),
            Some(utc("2028-02-29T11:30:00Z"))
        );
        assert_eq!(
            month(31).next_after(utc("2027-04-01T00:00:00Z")),
            Some(utc("2027-04-30T11:30:00Z"))
        );
    }

    #[test]
    fn weekly_and_daily_rules() {
        let week = Recurrence {
            rule: Rule::Week {
                weekday: Weekday::Fri,
                at: NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
            },
            timezone: Shanghai,
        };
        // 2026-11-28 is a Saturday.
        assert_eq!(
            week.next_after(utc("2026-11-28T00:00:00Z")),
            Some(utc("2026-12-04T12:00:00Z"))
        );
        let day = Recurrence {
            rule: Rule::Day {
                at: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
            },
            timezone: Shanghai,
        };
        // 07:00 Shanghai is 23:00 UTC the day before.
        assert_eq!(
            day.next_after(utc("2026-11-28T23:00:00Z")),
            Some(utc("2026-11-29T23:00:00Z"))
        );
    }

    #[test]
    fn daylight_saving_gaps_and_folds_do_not_lose_occurrences() {
        let berlin = Recurrence {
            rule: Rule::Day {
                at: NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
            },
            timezone: chrono_tz::Europe::Berlin,
        };
        // 2027-03-28 02:30 does not exist in Berlin: the first valid instant is 03:30 CEST.
        assert_eq!(
            berlin.next_after(utc("2027-03-27T12:00:00Z")),
            Some(utc("2027-03-28T01:30:00Z"))
        );
        // 2027-10-31 02:30 happens twice: the earlier is 00:30 UTC.
        assert_eq!(
            berlin.next_after(utc("2027-10-30T12:00:00Z")),
            Some(utc("2027-10-31T00:30:00Z"))
        );
    }

    #[test]
    fn the_end_of_the_calendar_is_none_not_a_panic() {
        assert_eq!(month(5).next_after(DateTime::<Utc>::MAX_UTC), None);
    }
}
