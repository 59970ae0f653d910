//! Timing defaults for branches (SPEC section 12's `[timing]`): how long before a meeting
//! reminders go out, when check-in opens and closes, how long codes and message ids live. A
//! value type that configuration fills and a branch can override, so it lives below both.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[timing]`: defaults for every branch (SPEC section 12).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimingSettings {
    /// Reminders before a meeting starts.
    #[serde(with = "humantime_list")]
    pub meeting_reminders: Vec<Duration>,
    /// Check-in opens this long before a meeting.
    #[serde(with = "humantime_serde")]
    pub checkin_opens_before: Duration,
    /// Check-in closes this long after a meeting starts.
    #[serde(with = "humantime_serde")]
    pub checkin_closes_after: Duration,
    /// Reminders before a volunteer activity.
    #[serde(with = "humantime_list")]
    pub volunteer_reminders: Vec<Duration>,
    /// Default study deadline of a lesson.
    #[serde(with = "humantime_serde")]
    pub lesson_deadline: Duration,
    /// How long before an occasion care reminders go out.
    #[serde(with = "humantime_serde")]
    pub care_lead: Duration,
    /// How often an overdue care visit is repeated.
    #[serde(with = "humantime_serde")]
    pub care_overdue_repeat: Duration,
    /// How long a bind code stays valid.
    #[serde(with = "humantime_serde")]
    pub bind_code_ttl: Duration,
    /// How long a processed message id is remembered.
    #[serde(with = "humantime_serde")]
    pub dedup_ttl: Duration,
    /// A member with no attendance at organisational life this long is named privately to
    /// the secretary (SPEC §6 early warning).
    #[serde(with = "humantime_serde")]
    pub inactivity_warning: Duration,
}

/// Serde for a list of humantime durations (`["1d", "1h"]`).
pub(crate) mod humantime_list {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    pub(crate) fn serialize<S>(value: &[Duration], serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
    {
        let mut seq = serializer.serialize_seq(Some(value.len()))?;
        for d in value {
            seq.serialize_element(&humantime::format_duration(*d).to_string())?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, D>(deserializer: D) -> Result<Vec<Duration>, D::Error>
    where
        D: Deserializer<'de>,
    {
        let raw = Vec::<String>::deserialize(deserializer)?;
        raw.iter()
            .map(|s| {
                humantime::parse_duration(s)
                    .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
            })
            .collect()
    }
}
