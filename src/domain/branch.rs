//! A branch (党支部 or 党小组): its identity, time zone, language and timing overrides.

use std::{fmt, time::Duration};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::Invalid;
use super::{chat::ChatRef, timing::TimingSettings};

/// A branch's id: short, lowercase, safe inside a Redis hash tag and a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BranchId(String);

impl BranchId {
    /// Accepts 1..=32 characters of `a-z 0-9 -`.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= 32
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        ok.then(|| Self(raw.to_owned()))
    }

    /// A fresh random id.
    pub fn generate() -> Self {
        use rand::Rng;
        const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
        let mut rng = rand::rng();
        Self(
            (0..10)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect(),
        )
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BranchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The language of a branch's chat replies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// 中文 (default).
    #[default]
    Zh,
    /// English.
    En,
}

/// Per-branch overrides of `[timing]`; absent keys fall back to the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingOverrides {
    /// See [`TimingSettings::meeting_reminders`].
    #[serde(
        default,
        with = "opt_humantime_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub meeting_reminders: Option<Vec<Duration>>,
    /// See [`TimingSettings::checkin_opens_before`].
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub checkin_opens_before: Option<Duration>,
    /// See [`TimingSettings::checkin_closes_after`].
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub checkin_closes_after: Option<Duration>,
    /// See [`TimingSettings::volunteer_reminders`].
    #[serde(
        default,
        with = "opt_humantime_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub volunteer_reminders: Option<Vec<Duration>>,
    /// See [`TimingSettings::lesson_deadline`].
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub lesson_deadline: Option<Duration>,
    /// See [`TimingSettings::care_lead`].
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub care_lead: Option<Duration>,
    /// See [`TimingSettings::care_overdue_repeat`].
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub care_overdue_repeat: Option<Duration>,
    /// See [`TimingSettings::bind_code_ttl`].
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub bind_code_ttl: Option<Duration>,
    /// See [`TimingSettings::dedup_ttl`]; accepted for symmetry, but dedup is per deployment.
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub dedup_ttl: Option<Duration>,
    /// See [`TimingSettings::inactivity_warning`].
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub inactivity_warning: Option<Duration>,
}

/// The shortest timing a branch may set.
const MIN_TIMING: Duration = Duration::from_secs(1);
/// The longest timing a branch may set: a year covers every cadence the product has.
const MAX_TIMING: Duration = Duration::from_secs(366 * 24 * 3600);

impl TimingOverrides {
    /// Refuses zero and absurd durations, naming the field.
    pub fn validate(&self) -> Result<(), Invalid> {
        for (field, list) in [
            ("timing.meeting_reminders", &self.meeting_reminders),
            ("timing.volunteer_reminders", &self.volunteer_reminders),
        ] {
            if let Some(list) = list
                && (list.is_empty()
                    || list.len() > 10
                    || list.iter().any(|d| *d < MIN_TIMING || *d > MAX_TIMING))
            {
                return Err(Invalid::new(
                    field,
                    "1 to 10 reminders, each between 1s and 366d",
                ));
            }
        }
        if self.dedup_ttl.is_some() {
            return Err(Invalid::new(
                "timing.dedup_ttl",
                "is set per deployment, not per branch",
            ));
        }
        for (field, value) in [
            ("timing.checkin_opens_before", self.checkin_opens_before),
            ("timing.checkin_closes_after", self.checkin_closes_after),
            ("timing.lesson_deadline", self.lesson_deadline),
            ("timing.care_lead", self.care_lead),
            ("timing.care_overdue_repeat", self.care_overdue_repeat),
            ("timing.bind_code_ttl", self.bind_code_ttl),
            ("timing.inactivity_warning", self.inactivity_warning),
        ] {
            if value.is_some_and(|d| d < MIN_TIMING || d > MAX_TIMING) {
                return Err(Invalid::new(field, "must be between 1s and 366d"));
            }
        }
        Ok(())
    }

    /// The configuration's timing with this branch's overrides applied.
    pub fn apply(&self, defaults: &TimingSettings) -> TimingSettings {
        TimingSettings {
            meeting_reminders: self
                .meeting_reminders
                .clone()
                .unwrap_or_else(|| defaults.meeting_reminders.clone()),
            checkin_opens_before: self
                .checkin_opens_before
                .unwrap_or(defaults.checkin_opens_before),
            checkin_closes_after: self
                .checkin_closes_after
                .unwrap_or(defaults.checkin_closes_after),
            volunteer_reminders: self
                .volunteer_reminders
                .clone()
                .unwrap_or_else(|| defaults.volunteer_reminders.clone()),
            lesson_deadline: self.lesson_deadline.unwrap_or(defaults.lesson_deadline),
            care_lead: self.care_lead.unwrap_or(defaults.care_lead),
            care_overdue_repeat: self
                .care_overdue_repeat
                .unwrap_or(defaults.care_overdue_repeat),
            bind_code_ttl: self.bind_code_ttl.unwrap_or(defaults.bind_code_ttl),
            dedup_ttl: self.dedup_ttl.unwrap_or(defaults.dedup_ttl),
            inactivity_warning: self
                .inactivity_warning
                .unwrap_or(defaults.inactivity_warning),
        }
    }

    /// Takes every key that `other` sets.
    pub fn merge(&mut self, other: Self) {
        macro_rules! take {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f; } )* };
        }
        take!(
            meeting_reminders,
            checkin_opens_before,
            checkin_closes_after,
            volunteer_reminders,
            lesson_deadline,
            care_lead,
            care_overdue_repeat,
            bind_code_ttl,
            dedup_ttl,
            inactivity_warning
        );
    }
}

/// A branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    /// Id.
    pub id: BranchId,
    /// Display name, e.g. 星光商务楼联合党支部.
    pub name: String,
    /// Time zone in which times are read and shown.
    pub timezone: Tz,
    /// Reply language.
    #[serde(default)]
    pub language: Language,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Timing overrides.
    #[serde(default)]
    pub timing: TimingOverrides,
    /// The committee chat, once bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committee_chat: Option<ChatRef>,
    /// The secret in the branch's iCalendar feed URL; rotating it revokes old subscriptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_token: Option<String>,
}

mod opt_humantime_list {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    pub(super) fn serialize<S>(
        value: &Option<Vec<Duration>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
    {
        let list = value.as_deref().unwrap_or_default();
        let mut seq = serializer.serialize_seq(Some(list.len()))?;
        for d in list {
            seq.serialize_element(&humantime::format_duration(*d).to_string())?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D>(deserializer: D) -> Result<Option<Vec<Duration>>, D::Error>
    where
        D: Deserializer<'de>,
    {
        let raw = Option::<Vec<String>>::deserialize(deserializer)?;
        raw.map(|list| {
            list.iter()
                .map(|s| {
                    humantime::parse_duration(s)
                        .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
                })
                .collect()
        })
        .transpose()
    }
}
