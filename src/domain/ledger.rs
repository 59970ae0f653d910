//! The 三会一课 compliance ledger (台账): which required meetings a branch held in a month,
//! quarter or year against a rule table, and how well members attended. Pure: the caller
//! passes the meetings, their summaries, the roster and the current time.
//!
//! Periods are civil dates in the branch's time zone; meetings are stored in UTC. A meeting
//! belongs to the period that contains its *local* start date, so a meeting at 23:30 on
//! 31 December in Asia/Shanghai (15:30 UTC) counts for December, Q4 and that year.

use std::{collections::HashMap, fmt, str::FromStr, time::Duration};

use chrono::{DateTime, Datelike, LocalResult, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    Invalid, Member, MemberStatus,
    meeting::{Meeting, MeetingKind, MeetingStatus, Outcome, Summary},
};

/// The years a period may name: four digits, which every export format can show.
const YEARS: std::ops::RangeInclusive<i32> = 1000..=9999;

/// How often a rule wants a meeting; also the granularity of a [`Period`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cadence {
    /// Every calendar month.
    Monthly,
    /// Every calendar quarter (Jan–Mar, Apr–Jun, Jul–Sep, Oct–Dec).
    Quarterly,
    /// Every calendar year.
    Yearly,
}

impl Cadence {
    /// 每月 / 每季度 / 每年.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Monthly => "每月",
            Self::Quarterly => "每季度",
            Self::Yearly => "每年",
        }
    }

    fn months(self) -> u32 {
        match self {
            Self::Monthly => 1,
            Self::Quarterly => 3,
            Self::Yearly => 12,
        }
    }
}

/// A month, quarter or year of local civil dates.
///
/// [`Period::parse`] and [`Period::of`] only produce valid periods. A hand-built one with an
/// out-of-range value is clamped (month to 1–12, quarter to 1–4, year to 1000–9999) by every
/// method, so that no input can make the ledger panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// Year and month (1–12).
    Month(i32, u32),
    /// Year and quarter (1–4).
    Quarter(i32, u32),
    /// A calendar year.
    Year(i32),
}

impl Period {
    /// Reads `2026-12`, `2026-Q4` (or `2026-q4`) and `2026`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid::new("period", "expected YYYY, YYYY-MM or YYYY-Qn, e.g. 2026-Q4")
                .zh("期间格式应为 2026、2026-12 或 2026-Q4")
        };
        let raw = raw.trim();
        let (year, rest) = raw
            .split_once('-')
            .map_or((raw, None), |(y, r)| (y, Some(r)));
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        if !YEARS.contains(&year) {
            return Err(bad());
        }
        let digits = |s: &str| {
            (!s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        match rest {
            None => Ok(Self::Year(year)),
            Some(q) if q.starts_with(['Q', 'q']) => match digits(&q[1..]) {
                Some(n @ 1..=4) => Ok(Self::Quarter(year, n)),
                _ => Err(bad()),
            },
            Some(m) => match digits(m) {
                Some(n @ 1..=12) => Ok(Self::Month(year, n)),
                _ => Err(bad()),
            },
        }
    }

    /// Reads a period as people type it in chat, on the local date `today`: `本月`, `上月`,
    /// `本季度`, `上季度`, `今年` (`全年`), `去年`; a month (`12月`, `十二月`) or a quarter (`第四季度`,
    /// `第4季度`, `四季度`, `Q4`) with or without a year before it (`2026年12月`, `2026-12`,
    /// `2026/12`, `2026年第四季度`, `2026Q4`, `2026-Q4`); a year (`2026`, `2026年`). Full-width
    /// characters and spaces are allowed. `None` when it is none of these (or empty).
    ///
    /// A month or quarter without a year is the latest one that has begun: `12月` read on
    /// 5 December 2026 is 2026-12, `11月` read in January 2027 is 2026-11, because a ledger is
    /// asked about what has happened, not about a month still ahead.
    pub fn parse_spoken(raw: &str, today: NaiveDate) -> Option<Self> {
        let s: String = raw
            .chars()
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
                c => c,
            })
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let this_month = Self::of(Cadence::Monthly, today);
        let this_quarter = Self::of(Cadence::Quarterly, today);
        let this_year = today.year();
        match s.as_str() {
            "本月" | "本月份" | "这个月" | "当月" | "thismonth" | "this-month" => {
                return Some(this_month);
            }
            "上月" | "上个月" | "上月份" | "lastmonth" | "last-month" => {
                return Some(this_month.previous());
            }
            "本季度" | "本季" | "这个季度" | "当季" | "thisquarter" | "this-quarter" => {
                return Some(this_quarter);
            }
            "上季度" | "上个季度" | "上季" | "lastquarter" | "last-quarter" => {
                return Some(this_quarter.previous());
            }
            "今年" | "本年" | "本年度" | "全年" | "thisyear" | "this-year" => {
                return Some(Self::Year(this_year));
            }
            "去年" | "上年" | "上一年" | "lastyear" | "last-year" => {
                return Some(Self::Year(this_year - 1)).filter(|p| YEARS.contains(&p.year()));
            }
            _ => {}
        }

        let leading_digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let (year, rest) = match leading_digits {
            4 => (Some(s[..4].parse::<i32>().ok()?), &s[4..]),
            _ => (None, s.as_str()),
        };
        // A month written without a year or a separator needs its 月: a bare `12` could as
        // well be a meeting number typed in the wrong place.
        let (rest, month_needs_suffix) = match year {
            Some(y) if !YEARS.contains(&y) => return None,
            Some(y) if matches!(rest, "" | "年" | "年度") => return Some(Self::Year(y)),
            Some(_) => match rest
                .strip_prefix('年')
                .or_else(|| rest.strip_prefix(['-', '/', '.']))
            {
                Some(r) => (r, false),
                None => (rest, true),
            },
            None => (rest, true),
        };
        let (cadence, n) = spoken_unit(rest, month_needs_suffix)?;
        let year = match year {
            Some(y) => y,
            None => {
                let begun = match cadence {
                    Cadence::Monthly => n <= today.month(),
                    _ => n <= this_quarter.number(),
                };
                if begun { this_year } else { this_year - 1 }
            }
        };
        if !YEARS.contains(&year) {
            return None;
        }
        Some(match cadence {
            Cadence::Monthly => Self::Month(year, n),
            _ => Self::Quarter(year, n),
        })
    }

    /// The year, after clamping.
    pub fn year(self) -> i32 {
        self.normalized().0
    }

    /// The month (1–12) or quarter (1–4) within the year; 1 for a year.
    fn number(self) -> u32 {
        let (_, month) = self.normalized();
        match self {
            Self::Month(..) => month,
            Self::Quarter(..) => (month - 1) / 3 + 1,
            Self::Year(_) => 1,
        }
    }

    /// The unit of `cadence` that contains a local date (e.g. the quarter of today).
    pub fn of(cadence: Cadence, date: NaiveDate) -> Self {
        let (year, month) = (date.year(), date.month());
        match cadence {
            Cadence::Monthly => Self::Month(year, month),
            Cadence::Quarterly => Self::Quarter(year, (month - 1) / 3 + 1),
            Cadence::Yearly => Self::Year(year),
        }
    }

    /// The unit of `cadence` running at an instant in a time zone.
    pub fn current(cadence: Cadence, now: DateTime<Utc>, tz: Tz) -> Self {
        Self::of(cadence, now.with_timezone(&tz).date_naive())
    }

    /// The period's granularity.
    pub fn cadence(self) -> Cadence {
        match self {
            Self::Month(..) => Cadence::Monthly,
            Self::Quarter(..) => Cadence::Quarterly,
            Self::Year(_) => Cadence::Yearly,
        }
    }

    /// Year and first month after clamping.
    fn normalized(self) -> (i32, u32) {
        let clamp_year = |y: i32| y.clamp(*YEARS.start(), *YEARS.end());
        match self {
            Self::Month(y, m) => (clamp_year(y), m.clamp(1, 12)),
            Self::Quarter(y, q) => (clamp_year(y), (q.clamp(1, 4) - 1) * 3 + 1),
            Self::Year(y) => (clamp_year(y), 1),
        }
    }

    /// The first local date.
    pub fn first_day(self) -> NaiveDate {
        let (year, month) = self.normalized();
        // Always Some after clamping; the default only keeps this total.
        NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default()
    }

    /// The local date after the last one.
    fn end_day(self) -> NaiveDate {
        let first = self.first_day();
        first
            .checked_add_months(Months::new(self.cadence().months()))
            .unwrap_or(first)
    }

    /// The last local date.
    pub fn last_day(self) -> NaiveDate {
        let end = self.end_day();
        end.pred_opt().unwrap_or(end)
    }

    /// Whether a local date falls in the period.
    pub fn contains(self, date: NaiveDate) -> bool {
        self.first_day() <= date && date < self.end_day()
    }

    /// Whether an instant falls in the period as seen in a time zone.
    pub fn contains_instant(self, at: DateTime<Utc>, tz: Tz) -> bool {
        self.contains(at.with_timezone(&tz).date_naive())
    }

    /// The first instant: local midnight of the first day.
    pub fn start(self, tz: Tz) -> DateTime<Utc> {
        local_day_start(self.first_day(), tz)
    }

    /// The end (exclusive): local midnight of the day after the last day.
    pub fn end(self, tz: Tz) -> DateTime<Utc> {
        local_day_start(self.end_day(), tz)
    }

    /// The period that follows.
    pub fn next(self) -> Self {
        let next = self.end_day();
        Self::of(self.cadence(), next)
    }

    /// The period before (of the same granularity); itself at the first supported year.
    pub fn previous(self) -> Self {
        match self.first_day().pred_opt() {
            Some(day) if YEARS.contains(&day.year()) => Self::of(self.cadence(), day),
            _ => self,
        }
    }

    /// The units of `cadence` that overlap this period, in order: the three months of a
    /// quarter for a monthly rule, or the one year around a month for a yearly rule.
    pub fn units(self, cadence: Cadence) -> Vec<Self> {
        let last = self.last_day();
        let mut unit = Self::of(cadence, self.first_day());
        let mut units = Vec::new();
        // At most 12 units (months of a year); the bound guards against a non-advancing
        // `next` at the end of the supported years.
        while unit.first_day() <= last && units.len() < 12 {
            units.push(unit);
            let next = unit.next();
            if next == unit {
                break;
            }
            unit = next;
        }
        units
    }

    /// The canonical form, the same that [`Period::parse`] reads: `2026-12`, `2026-Q4`, `2026`.
    pub fn label(self) -> String {
        let (year, month) = self.normalized();
        match self {
            Self::Month(..) => format!("{year}-{month:02}"),
            Self::Quarter(..) => format!("{year}-Q{}", (month - 1) / 3 + 1),
            Self::Year(_) => format!("{year}"),
        }
    }

    /// The Chinese form for exports: 2026年12月, 2026年第4季度, 2026年.
    pub fn label_zh(self) -> String {
        let (year, month) = self.normalized();
        match self {
            Self::Month(..) => format!("{year}年{month}月"),
            Self::Quarter(..) => format!("{year}年第{}季度", (month - 1) / 3 + 1),
            Self::Year(_) => format!("{year}年"),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl FromStr for Period {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// As its label in JSON, so that the API reads and writes the same `2026-Q4` as query strings.
impl Serialize for Period {
    fn serialize<S>(&self, serializer: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
    {
        serializer.serialize_str(&self.label())
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D>(deserializer: D) -> Result<Self, D::Error>
    where
        D: Deserializer<'de>,
    {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The month or quarter part of a spoken period: `q4`, `第四季度`, `4季度`, `四季`, `12月`,
/// `十二月份`, or `12` where `month_needs_suffix` is false (after `2026-` or `2026年`).
fn spoken_unit(s: &str, month_needs_suffix: bool) -> Option<(Cadence, u32)> {
    let number = |s: &str| -> Option<u32> {
        if (1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().ok();
        }
        const CN: [&str; 12] = [
            "一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二",
        ];
        CN.iter().position(|c| *c == s).map(|i| i as u32 + 1)
    };
    if let Some(digits) = s.strip_prefix('q') {
        return number(digits)
            .filter(|n| (1..=4).contains(n) && digits.bytes().all(|b| b.is_ascii_digit()))
            .map(|n| (Cadence::Quarterly, n));
    }
    let ordinal = s.strip_prefix('第');
    if let Some(n) = ordinal
        .unwrap_or(s)
        .strip_suffix("季度")
        .or_else(|| ordinal.unwrap_or(s).strip_suffix('季'))
    {
        return number(n)
            .filter(|n| (1..=4).contains(n))
            .map(|n| (Cadence::Quarterly, n));
    }
    if ordinal.is_some() {
        return None;
    }
    let (n, suffixed) = match s.strip_suffix("月份").or_else(|| s.strip_suffix('月')) {
        Some(n) => (n, true),
        None => (s, false),
    };
    if month_needs_suffix && !suffixed {
        return None;
    }
    number(n)
        .filter(|n| (1..=12).contains(n))
        .map(|n| (Cadence::Monthly, n))
}

/// The first instant of a local date. Where a daylight-saving change skips midnight (some
/// zones switch at 00:00) the day starts at its first local time that exists.
fn local_day_start(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    let mut local = midnight;
    // Gaps are at most a few hours; 15-minute steps over a day find any real one.
    for _ in 0..96 {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                return t.with_timezone(&Utc);
            }
            LocalResult::None => local += chrono::TimeDelta::minutes(15),
        }
    }
    midnight.and_utc()
}

/// One line of the rule table: a kind of meeting must be held at least `min` times in every
/// unit of `cadence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The kind of meeting.
    pub kind: MeetingKind,
    /// How often.
    pub cadence: Cadence,
    /// At least this many per cadence unit.
    #[serde(default = "one")]
    pub min: u32,
}

fn one() -> u32 {
    1
}

/// The 三会一课 rule table, as configuration. Absent keys take the defaults:
///
/// | kind | cadence | min |
/// |---|---|---|
/// | 支部党员大会 | quarterly | 1 |
/// | 支委会 | monthly | 1 |
/// | 党小组会 | monthly | 1 |
/// | 党课 | quarterly | 1 |
/// | 主题党日 | monthly | 1 |
/// | 组织生活会 | yearly | 1 |
/// | 民主评议党员 | yearly | 1 |
///
/// and `at_risk_within = "7d"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerRules {
    /// The rules, in the order the ledger lists them.
    pub rules: Vec<Rule>,
    /// A running unit not yet met is *at risk* when less than this is left of it. Seven days
    /// by default: about the notice a branch needs to call a meeting.
    #[serde(with = "humantime_serde")]
    pub at_risk_within: Duration,
}

impl Default for LedgerRules {
    fn default() -> Self {
        let rule = |kind, cadence| Rule {
            kind,
            cadence,
            min: 1,
        };
        Self {
            rules: vec![
                rule(MeetingKind::GeneralAssembly, Cadence::Quarterly),
                rule(MeetingKind::Committee, Cadence::Monthly),
                rule(MeetingKind::Group, Cadence::Monthly),
                rule(MeetingKind::Lesson, Cadence::Quarterly),
                rule(MeetingKind::ThemeDay, Cadence::Monthly),
                rule(MeetingKind::LifeMeeting, Cadence::Yearly),
                rule(MeetingKind::Appraisal, Cadence::Yearly),
            ],
            at_risk_within: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl LedgerRules {
    /// Refuses a zero minimum, a kind listed twice with one cadence, and a threshold longer
    /// than a year.
    pub fn validate(&self) -> Result<(), Invalid> {
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.min == 0 {
                return Err(Invalid::new("ledger.rules.min", "must be at least 1"));
            }
            if self.rules[..i]
                .iter()
                .any(|r| r.kind == rule.kind && r.cadence == rule.cadence)
            {
                return Err(Invalid::new(
                    "ledger.rules",
                    "each kind may have one rule per cadence",
                ));
            }
        }
        if self.at_risk_within > Duration::from_secs(366 * 24 * 3600) {
            return Err(Invalid::new(
                "ledger.at_risk_within",
                "must be at most 366d",
            ));
        }
        Ok(())
    }

    /// The period whose meetings [`ledger`] needs for `period`: wider than `period` when a
    /// rule's unit is (a yearly rule in a quarter's ledger needs the whole year).
    pub fn covering(&self, period: Period) -> Period {
        let widest = self
            .rules
            .iter()
            .map(|r| r.cadence)
            .fold(period.cadence(), Ord::max);
        Period::of(widest, period.first_day())
    }
}

/// Where one cadence unit of a rule stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitStatus {
    /// Enough meetings were held.
    Met,
    /// The unit is over without enough.
    Missed,
    /// Running, not yet met, with time left.
    Due,
    /// Running, not yet met, with less than [`LedgerRules::at_risk_within`] left.
    AtRisk,
    /// Not begun yet.
    Upcoming,
    /// Over before the branch existed, so nothing was due in it (see [`Ledger::since`]).
    BeforeBranch,
}

impl UnitStatus {
    /// The label inspectors read: 已完成, 未完成, 进行中, 有风险, 未开始, 支部尚未成立.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Met => "已完成",
            Self::Missed => "未完成",
            Self::Due => "进行中",
            Self::AtRisk => "有风险",
            Self::Upcoming => "未开始",
            Self::BeforeBranch => "支部尚未成立",
        }
    }
}

/// One cadence unit of one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitLedger {
    /// The unit (a month, quarter or year).
    pub unit: Period,
    /// Its first instant.
    pub starts_at: DateTime<Utc>,
    /// Its end (exclusive).
    pub ends_at: DateTime<Utc>,
    /// Numbers of the ended meetings of the rule's kind held in it, in order.
    pub held: Vec<u64>,
    /// Numbers of those scheduled in it and not yet ended (they do not count yet).
    pub planned: Vec<u64>,
    /// Where it stands.
    pub status: UnitStatus,
}

/// One rule and its units within the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleLedger {
    /// The kind of meeting.
    pub kind: MeetingKind,
    /// How often.
    pub cadence: Cadence,
    /// At least this many per unit.
    pub min: u32,
    /// The units overlapping the period.
    pub units: Vec<UnitLedger>,
}

/// One ended meeting in the period with its counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeetingRow {
    /// The meeting's number.
    pub no: u64,
    /// Kind.
    pub kind: MeetingKind,
    /// Topic.
    pub topic: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// Expected members (应到).
    pub expected: usize,
    /// Present on time.
    pub present: usize,
    /// Late.
    pub late: usize,
    /// On leave (请假).
    pub excused: usize,
    /// Absent.
    pub absent: usize,
    /// Present + late (实到).
    pub attended: usize,
    /// Attended / expected; `None` when nobody was expected.
    pub rate: Option<f64>,
    /// For 党员大会 and 支委会, whether more than half of the voters attended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum_met: Option<bool>,
}

/// One member's attendance over the period's ended meetings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberRow {
    /// Member id.
    pub id: String,
    /// Roster name (the id for someone no longer on the roster).
    pub name: String,
    /// Meetings they were counted at.
    pub expected: usize,
    /// Of them, attended (present or late).
    pub attended: usize,
    /// On leave.
    pub excused: usize,
    /// Absent.
    pub absent: usize,
    /// Attended / expected; `None` when nothing was expected of them.
    pub rate: Option<f64>,
}

/// A branch's ledger for one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ledger {
    /// The period.
    pub period: Period,
    /// The branch's time zone, in which periods and exported times are read.
    pub timezone: Tz,
    /// When it was computed.
    pub generated_at: DateTime<Utc>,
    /// The at-risk threshold used.
    #[serde(with = "humantime_serde")]
    pub at_risk_within: Duration,
    /// Each rule with its units.
    pub rules: Vec<RuleLedger>,
    /// Ended meetings in the period, by start.
    pub meetings: Vec<MeetingRow>,
    /// Members: the active roster, then anyone else counted at a meeting.
    pub members: Vec<MemberRow>,
    /// When the branch began, if given (see [`Ledger::since`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_since: Option<DateTime<Utc>>,
}

impl Ledger {
    /// Judges the branch only from `since`, when it began: a unit over by then and not met
    /// becomes [`UnitStatus::BeforeBranch`] instead of missed, since a branch cannot have
    /// failed a month it did not exist in. The unit in which it began is judged as usual.
    #[must_use]
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        for unit in self.rules.iter_mut().flat_map(|r| &mut r.units) {
            if unit.status == UnitStatus::Missed && unit.ends_at <= since {
                unit.status = UnitStatus::BeforeBranch;
            }
        }
        self.branch_since = Some(since);
        self
    }

    /// How many units have a status (e.g. the missed and at-risk counts for a region board).
    pub fn count(&self, status: UnitStatus) -> usize {
        self.rules
            .iter()
            .flat_map(|r| &r.units)
            .filter(|u| u.status == status)
            .count()
    }
}

/// Attended / expected, capped at 1: a guest who sits in (列席) counts as attending without
/// being expected, and a rate above 100 % would read as an error in an inspection.
fn rate(attended: usize, expected: usize) -> Option<f64> {
    (expected > 0).then(|| attended.min(expected) as f64 / expected as f64)
}

/// Builds the ledger of `period`.
///
/// `meetings` should hold every meeting that starts in [`LedgerRules::covering`]`(period)`
/// with its [`Summary`]; only ended ones count (a cancelled or still scheduled meeting does
/// not). A unit is [`UnitStatus::Met`] as soon as enough were held, [`UnitStatus::Missed`]
/// once it is over without, [`UnitStatus::AtRisk`] while running with less than
/// `rules.at_risk_within` left, [`UnitStatus::Due`] while running otherwise and
/// [`UnitStatus::Upcoming`] before it begins. `roster` gives member names.
pub fn ledger(
    rules: &LedgerRules,
    period: Period,
    tz: Tz,
    meetings: &[(Meeting, Summary)],
    roster: &[Member],
    now: DateTime<Utc>,
) -> Ledger {
    let local_day = |m: &Meeting| m.starts_at.with_timezone(&tz).date_naive();
    let mut by_start: Vec<&(Meeting, Summary)> = meetings.iter().collect();
    by_start.sort_by_key(|(m, _)| (m.starts_at, m.no));

    let at_risk_within =
        chrono::TimeDelta::from_std(rules.at_risk_within).unwrap_or(chrono::TimeDelta::MAX);
    let rule_rows = rules
        .rules
        .iter()
        .map(|rule| {
            let units = period
                .units(rule.cadence)
                .into_iter()
                .map(|unit| {
                    let of_kind = by_start
                        .iter()
                        .map(|(m, _)| m)
                        .filter(|m| m.kind == rule.kind && unit.contains(local_day(m)));
                    let held: Vec<u64> = of_kind
                        .clone()
                        .filter(|m| m.status == MeetingStatus::Ended)
                        .map(|m| m.no)
                        .collect();
                    let planned = of_kind
                        .filter(|m| m.status == MeetingStatus::Scheduled)
                        .map(|m| m.no)
                        .collect();
                    let (starts_at, ends_at) = (unit.start(tz), unit.end(tz));
                    let status = if held.len() >= rule.min as usize {
                        UnitStatus::Met
                    } else if now >= ends_at {
                        UnitStatus::Missed
                    } else if now < starts_at {
                        UnitStatus::Upcoming
                    } else if ends_at - now < at_risk_within {
                        UnitStatus::AtRisk
                    } else {
                        UnitStatus::Due
                    };
                    UnitLedger {
                        unit,
                        starts_at,
                        ends_at,
                        held,
                        planned,
                        status,
                    }
                })
                .collect();
            RuleLedger {
                kind: rule.kind,
                cadence: rule.cadence,
                min: rule.min,
                units,
            }
        })
        .collect();

    let ended_in_period: Vec<&(Meeting, Summary)> = by_start
        .into_iter()
        .filter(|(m, _)| m.status == MeetingStatus::Ended && period.contains(local_day(m)))
        .collect();

    let meeting_rows = ended_in_period
        .iter()
        .map(|(m, s)| MeetingRow {
            no: m.no,
            kind: m.kind,
            topic: m.topic.clone(),
            starts_at: m.starts_at,
            expected: s.expected,
            present: s.present,
            late: s.late,
            excused: s.excused,
            absent: s.absent,
            attended: s.attended(),
            rate: rate(s.attended(), s.expected),
            quorum_met: s.quorum.map(|q| q.met()),
        })
        .collect();

    Ledger {
        period,
        timezone: tz,
        generated_at: now,
        at_risk_within: rules.at_risk_within,
        rules: rule_rows,
        meetings: meeting_rows,
        members: member_rows(&ended_in_period, roster),
        branch_since: None,
    }
}

/// Per member: a member is counted at a meeting when its summary has an outcome for them,
/// i.e. they were expected, or came anyway.
fn member_rows(meetings: &[&(Meeting, Summary)], roster: &[Member]) -> Vec<MemberRow> {
    #[derive(Default)]
    struct Tally {
        expected: usize,
        attended: usize,
        excused: usize,
        absent: usize,
    }
    let mut tallies: HashMap<&str, Tally> = HashMap::new();
    for (_, summary) in meetings {
        for (id, outcome) in &summary.outcomes {
            let t = tallies.entry(id.as_str()).or_default();
            t.expected += 1;
            match outcome {
                Outcome::Present | Outcome::Late => t.attended += 1,
                Outcome::Excused => t.excused += 1,
                Outcome::Absent => t.absent += 1,
            }
        }
    }
    let row = |id: &str, name: &str, t: Option<&Tally>| {
        let t = t.map_or((0, 0, 0, 0), |t| {
            (t.expected, t.attended, t.excused, t.absent)
        });
        MemberRow {
            id: id.to_owned(),
            name: name.to_owned(),
            expected: t.0,
            attended: t.1,
            excused: t.2,
            absent: t.3,
            rate: rate(t.1, t.0),
        }
    };
    let mut rows: Vec<MemberRow> = roster
        .iter()
        .filter(|m| m.status == MemberStatus::Active || tallies.contains_key(m.id.as_str()))
        .map(|m| row(&m.id, &m.name, tallies.get(m.id.as_str())))
        .collect();
    // Counted at a meeting but gone from the roster: keep them, under their id, so the
    // totals still add up.
    let mut strays: Vec<&str> = tallies
        .keys()
        .copied()
        .filter(|id| !roster.iter().any(|m| m.id == *id))
        .collect();
    strays.sort_unstable();
    rows.extend(strays.into_iter().map(|id| row(id, id, tallies.get(id))));
    rows
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{BranchId, Role};

    pub(crate) const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    pub(crate) fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        SHANGHAI
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    pub(crate) fn member(id: &str, name: &str) -> Member {
        Member {
            id: id.to_owned(),
            name: name.to_owned(),
            role: Role::Member,
            status: MemberStatus::Active,
            identities: Vec::new(),
            joined_party_on: None,
            birthday: None,
            phone: None,
            employer: None,
            care_flags: Vec::new(),
            notes: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    pub(crate) fn meeting(
        no: u64,
        kind: MeetingKind,
        starts_at: DateTime<Utc>,
        status: MeetingStatus,
    ) -> Meeting {
        Meeting {
            no,
            branch: BranchId::parse("b1").unwrap(),
            kind,
            topic: format!("议题{no}"),
            starts_at,
            duration: Duration::from_secs(5400),
            link: None,
            status,
            created_by: "sec".to_owned(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            ended_at: None,
            minutes: Vec::new(),
            checkin: None,
        }
    }

    /// A summary with these outcomes (member id, outcome), all of them expected.
    pub(crate) fn summary(outcomes: &[(&str, Outcome)]) -> Summary {
        let mut s = Summary::default();
        for (id, o) in outcomes {
            s.expected += 1;
            match o {
                Outcome::Present => s.present += 1,
                Outcome::Late => s.late += 1,
                Outcome::Excused => s.excused += 1,
                Outcome::Absent => s.absent += 1,
            }
            s.outcomes.insert((*id).to_owned(), *o);
        }
        s
    }

    fn ended(no: u64, kind: MeetingKind, at: DateTime<Utc>) -> (Meeting, Summary) {
        (
            meeting(no, kind, at, MeetingStatus::Ended),
            summary(&[("a", Outcome::Present)]),
        )
    }

    fn only(kind: MeetingKind, cadence: Cadence) -> LedgerRules {
        LedgerRules {
            rules: vec![Rule {
                kind,
                cadence,
                min: 1,
            }],
            ..LedgerRules::default()
        }
    }

    fn statuses(l: &Ledger, rule: usize) -> Vec<(String, UnitStatus)> {
        l.rules[rule]
            .units
            .iter()
            .map(|u| (u.unit.label(), u.status))
            .collect()
    }

    #[test]
    fn periods_parse_and_print_their_canonical_forms() {
        for (raw, period, label) in [
            ("2026-12", Period::Month(2026, 12), "2026-12"),
            ("2026-3", Period::Month(2026, 3), "2026-03"),
            ("2026-Q4", Period::Quarter(2026, 4), "2026-Q4"),
            (" 2026-q1 ", Period::Quarter(2026, 1), "2026-Q1"),
            ("2026", Period::Year(2026), "2026"),
        ] {
            assert_eq!(Period::parse(raw).unwrap(), period, "{raw}");
            assert_eq!(period.label(), label);
            assert_eq!(label.parse::<Period>().unwrap(), period);
        }
        for bad in [
            "",
            "26",
            "2026-13",
            "2026-00",
            "2026-Q5",
            "2026-Q",
            "2026-12-01",
            "abcd",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Period::Quarter(2026, 4).label_zh(), "2026年第4季度");
        assert_eq!(
            serde_json::to_string(&Period::Quarter(2026, 4)).unwrap(),
            "\"2026-Q4\""
        );
        assert_eq!(
            serde_json::from_str::<Period>("\"2026-11\"").unwrap(),
            Period::Month(2026, 11)
        );
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn spoken_periods_read_as_people_type_them() {
        let dec5 = day(2026, 12, 5);
        for (raw, period) in [
            ("12月", Period::Month(2026, 12)),
            ("十二月", Period::Month(2026, 12)),
            ("12月份", Period::Month(2026, 12)),
            ("本月", Period::Month(2026, 12)),
            ("上月", Period::Month(2026, 11)),
            ("上个月", Period::Month(2026, 11)),
            ("第四季度", Period::Quarter(2026, 4)),
            ("第4季度", Period::Quarter(2026, 4)),
            ("四季度", Period::Quarter(2026, 4)),
            ("Q4", Period::Quarter(2026, 4)),
            ("q4", Period::Quarter(2026, 4)),
            ("本季度", Period::Quarter(2026, 4)),
            ("上季度", Period::Quarter(2026, 3)),
            ("2026Q4", Period::Quarter(2026, 4)),
            ("2026-Q4", Period::Quarter(2026, 4)),
            ("2026年第四季度", Period::Quarter(2026, 4)),
            ("2026年 第四季度", Period::Quarter(2026, 4)),
            ("2026年Q1", Period::Quarter(2026, 1)),
            ("今年", Period::Year(2026)),
            ("全年", Period::Year(2026)),
            ("去年", Period::Year(2025)),
            ("2026", Period::Year(2026)),
            ("2026年", Period::Year(2026)),
            ("2026年度", Period::Year(2026)),
            ("2026-12", Period::Month(2026, 12)),
            ("2026/3", Period::Month(2026, 3)),
            ("2026年12月", Period::Month(2026, 12)),
            ("2026年3", Period::Month(2026, 3)),
            // Full-width, as a Chinese keyboard types them.
            ("２０２６年１２月", Period::Month(2026, 12)),
            ("Ｑ４", Period::Quarter(2026, 4)),
            (" 2026 - 12 ", Period::Month(2026, 12)),
            ("this-month", Period::Month(2026, 12)),
            // A month not yet begun this year is last year's.
            ("1月", Period::Month(2026, 1)),
        ] {
            assert_eq!(Period::parse_spoken(raw, dec5), Some(period), "{raw}");
        }
        // Across the year boundary: in January 2027, the latest November is 2026's, and the
        // last month and quarter are in 2026.
        let jan = day(2027, 1, 10);
        for (raw, period) in [
            ("11月", Period::Month(2026, 11)),
            ("12月", Period::Month(2026, 12)),
            ("1月", Period::Month(2027, 1)),
            ("上月", Period::Month(2026, 12)),
            ("第四季度", Period::Quarter(2026, 4)),
            ("Q1", Period::Quarter(2027, 1)),
            ("上季度", Period::Quarter(2026, 4)),
            ("本季度", Period::Quarter(2027, 1)),
            ("去年", Period::Year(2026)),
            ("今年", Period::Year(2027)),
        ] {
            assert_eq!(Period::parse_spoken(raw, jan), Some(period), "{raw}");
        }
        // A quarter's first day: the quarter has begun.
        assert_eq!(
            Period::parse_spoken("第二季度", day(2026, 4, 1)),
            Some(Period::Quarter(2026, 2))
        );
        assert_eq!(
            Period::parse_spoken("第三季度", day(2026, 6, 30)),
            Some(Period::Quarter(2025, 3))
        );
        for bad in [
            "",
            "12",
            "13月",
            "0月",
            "第五季度",
            "第12月",
            "Q0",
            "Q5",
            "Q12",
            "2026-13",
            "2026年12月5日",
            "202612",
            "2026-",
            "0999",
            "下月",
            "月",
            "abc",
            "十三月",
        ] {
            assert_eq!(Period::parse_spoken(bad, dec5), None, "{bad:?}");
        }
        // Every canonical form reads the same both ways.
        for p in [
            Period::Month(2026, 3),
            Period::Quarter(2026, 4),
            Period::Year(2026),
        ] {
            assert_eq!(Period::parse_spoken(&p.label(), dec5), Some(p));
            assert_eq!(Period::parse_spoken(&p.label_zh(), dec5), Some(p));
        }
    }

    #[test]
    fn a_year_view_leaves_the_months_before_the_branch_out_of_the_missed() {
        // The branch began on 15 May 2026 (local); seen in December.
        let since = local(2026, 5, 15, 10, 0);
        let meetings = [
            ended(1, MeetingKind::Committee, local(2026, 6, 3, 19, 0)),
            ended(2, MeetingKind::LifeMeeting, local(2026, 11, 3, 19, 0)),
        ];
        let rules = LedgerRules {
            rules: vec![
                Rule {
                    kind: MeetingKind::Committee,
                    cadence: Cadence::Monthly,
                    min: 1,
                },
                Rule {
                    kind: MeetingKind::Lesson,
                    cadence: Cadence::Quarterly,
                    min: 1,
                },
                Rule {
                    kind: MeetingKind::LifeMeeting,
                    cadence: Cadence::Yearly,
                    min: 1,
                },
            ],
            ..LedgerRules::default()
        };
        let year = ledger(
            &rules,
            Period::Year(2026),
            SHANGHAI,
            &meetings,
            &[],
            local(2026, 12, 10, 9, 0),
        )
        .since(since);
        let months = statuses(&year, 0);
        assert_eq!(months.len(), 12);
        for (label, status) in &months[..4] {
            assert_eq!(*status, UnitStatus::BeforeBranch, "{label}");
        }
        // May, when it began, is judged like any month.
        assert_eq!(months[4], ("2026-05".to_owned(), UnitStatus::Missed));
        assert_eq!(months[5], ("2026-06".to_owned(), UnitStatus::Met));
        assert_eq!(months[10], ("2026-11".to_owned(), UnitStatus::Missed));
        assert_eq!(months[11].1, UnitStatus::Due);
        assert_eq!(
            statuses(&year, 1),
            [
                ("2026-Q1".to_owned(), UnitStatus::BeforeBranch),
                ("2026-Q2".to_owned(), UnitStatus::Missed),
                ("2026-Q3".to_owned(), UnitStatus::Missed),
                ("2026-Q4".to_owned(), UnitStatus::Due),
            ]
        );
        assert_eq!(year.rules[2].units[0].status, UnitStatus::Met);
        // May and July to November, and the second and third quarters.
        assert_eq!(year.count(UnitStatus::Missed), 8);
        assert_eq!(year.count(UnitStatus::BeforeBranch), 5);
        assert_eq!(year.branch_since, Some(since));
        assert_eq!(UnitStatus::BeforeBranch.label_zh(), "支部尚未成立");
        let json = serde_json::to_value(&year).unwrap();
        assert_eq!(json["rules"][0]["units"][0]["status"], "before_branch");
        assert_eq!(json["branch_since"], "2026-05-15T02:00:00Z");

        // A quarter wholly before the branch: every unit, none missed.
        let q1 = ledger(
            &rules,
            Period::Quarter(2026, 1),
            SHANGHAI,
            &meetings,
            &[],
            local(2026, 12, 10, 9, 0),
        )
        .since(since);
        assert_eq!(q1.count(UnitStatus::Missed), 0);
        // The yearly rule's unit is the whole year, which the branch was part of.
        assert_eq!(q1.rules[2].units[0].status, UnitStatus::Met);
        assert_eq!(q1.count(UnitStatus::BeforeBranch), 4);
    }

    #[test]
    fn periods_know_their_days_units_and_neighbours() {
        let q4 = Period::Quarter(2026, 4);
        assert_eq!(
            q4.first_day(),
            NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
        );
        assert_eq!(
            q4.last_day(),
            NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()
        );
        assert_eq!(
            q4.units(Cadence::Monthly),
            [
                Period::Month(2026, 10),
                Period::Month(2026, 11),
                Period::Month(2026, 12)
            ]
        );
        assert_eq!(q4.units(Cadence::Yearly), [Period::Year(2026)]);
        assert_eq!(Period::Year(2026).units(Cadence::Quarterly).len(), 4);
        assert_eq!(q4.next(), Period::Quarter(2027, 1));
        assert_eq!(Period::Month(2026, 12).next(), Period::Month(2027, 1));
        assert_eq!(Period::Month(2027, 1).previous(), Period::Month(2026, 12));
        assert_eq!(
            Period::Quarter(2027, 1).previous(),
            Period::Quarter(2026, 4)
        );
        assert_eq!(Period::Year(1000).previous(), Period::Year(1000));
        assert_eq!(
            Period::of(
                Cadence::Quarterly,
                NaiveDate::from_ymd_opt(2026, 8, 9).unwrap()
            ),
            Period::Quarter(2026, 3)
        );
        // Hand-built nonsense is clamped, not a panic.
        assert_eq!(Period::Month(2026, 0).label(), "2026-01");
        assert_eq!(Period::Quarter(99_999, 9).label(), "9999-Q4");
    }

    #[test]
    fn a_late_evening_on_new_years_eve_in_shanghai_belongs_to_december() {
        let tz = SHANGHAI;
        let at = local(2026, 12, 31, 23, 30);
        assert_eq!(at.to_rfc3339(), "2026-12-31T15:30:00+00:00");
        assert!(Period::Month(2026, 12).contains_instant(at, tz));
        assert!(Period::Quarter(2026, 4).contains_instant(at, tz));
        assert!(Period::Year(2026).contains_instant(at, tz));
        // 00:30 on 1 January local is still 31 December in UTC, but belongs to January.
        let after = local(2027, 1, 1, 0, 30);
        assert!(!Period::Year(2026).contains_instant(after, tz));
        assert!(Period::Month(2027, 1).contains_instant(after, tz));
        // Bounds are local midnights.
        assert_eq!(
            Period::Quarter(2026, 4).start(tz).to_rfc3339(),
            "2026-09-30T16:00:00+00:00"
        );
        assert_eq!(
            Period::Quarter(2026, 4).end(tz).to_rfc3339(),
            "2026-12-31T16:00:00+00:00"
        );

        let meetings = [ended(9, MeetingKind::ThemeDay, at)];
        let l = ledger(
            &only(MeetingKind::ThemeDay, Cadence::Monthly),
            Period::Quarter(2026, 4),
            tz,
            &meetings,
            &[],
            local(2027, 1, 5, 9, 0),
        );
        assert_eq!(l.rules[0].units[2].held, [9]);
        assert_eq!(l.rules[0].units[2].status, UnitStatus::Met);
        assert_eq!(l.meetings.len(), 1);
    }

    #[test]
    fn a_quarter_of_monthly_rules_shows_missed_met_and_at_risk_months() {
        let meetings = [
            // October: nothing. November: one committee meeting. December: planned only.
            ended(1, MeetingKind::Committee, local(2026, 11, 10, 19, 0)),
            (
                meeting(
                    2,
                    MeetingKind::Committee,
                    local(2026, 12, 30, 19, 0),
                    MeetingStatus::Scheduled,
                ),
                Summary::default(),
            ),
        ];
        let rules = only(MeetingKind::Committee, Cadence::Monthly);
        let q4 = Period::Quarter(2026, 4);
        let at_risk = ledger(
            &rules,
            q4,
            SHANGHAI,
            &meetings,
            &[],
            local(2026, 12, 26, 12, 0),
        );
        assert_eq!(
            statuses(&at_risk, 0),
            [
                ("2026-10".to_owned(), UnitStatus::Missed),
                ("2026-11".to_owned(), UnitStatus::Met),
                ("2026-12".to_owned(), UnitStatus::AtRisk),
            ]
        );
        assert_eq!(at_risk.rules[0].units[2].planned, [2]);
        assert_eq!(at_risk.count(UnitStatus::Missed), 1);

        // Earlier in December there is still time: due, not at risk.
        let due = ledger(
            &rules,
            q4,
            SHANGHAI,
            &meetings,
            &[],
            local(2026, 12, 20, 12, 0),
        );
        assert_eq!(due.rules[0].units[2].status, UnitStatus::Due);
        // Seen from October, November has not begun.
        let early = ledger(
            &rules,
            q4,
            SHANGHAI,
            &meetings,
            &[],
            local(2026, 10, 3, 12, 0),
        );
        assert_eq!(early.rules[0].units[0].status, UnitStatus::Due);
        assert_eq!(early.rules[0].units[2].status, UnitStatus::Upcoming);
    }

    #[test]
    fn quarterly_and_yearly_rules_count_over_their_whole_unit() {
        let rules = LedgerRules::default();
        let q4 = Period::Quarter(2026, 4);
        assert_eq!(rules.covering(q4), Period::Year(2026));
        assert_eq!(rules.covering(Period::Month(2026, 3)), Period::Year(2026));
        let meetings = [
            ended(1, MeetingKind::GeneralAssembly, local(2026, 11, 2, 9, 0)),
            // A yearly 组织生活会 held in March counts for Q4's view of the year.
            ended(2, MeetingKind::LifeMeeting, local(2026, 3, 15, 14, 0)),
            // A 党课 in Q3 does not count for Q4.
            ended(3, MeetingKind::Lesson, local(2026, 9, 30, 20, 0)),
        ];
        let l = ledger(
            &rules,
            q4,
            SHANGHAI,
            &meetings,
            &[],
            local(2027, 1, 2, 8, 0),
        );
        let rule = |kind| l.rules.iter().find(|r| r.kind == kind).unwrap();
        let assembly = rule(MeetingKind::GeneralAssembly);
        assert_eq!(assembly.units.len(), 1);
        assert_eq!(assembly.units[0].unit, q4);
        assert_eq!(assembly.units[0].status, UnitStatus::Met);
        assert_eq!(
            rule(MeetingKind::Lesson).units[0].status,
            UnitStatus::Missed
        );
        let life = rule(MeetingKind::LifeMeeting);
        assert_eq!(life.units[0].unit, Period::Year(2026));
        assert_eq!(life.units[0].held, [2]);
        assert_eq!(life.units[0].status, UnitStatus::Met);
        assert_eq!(
            rule(MeetingKind::Appraisal).units[0].status,
            UnitStatus::Missed
        );
        assert_eq!(rule(MeetingKind::Committee).units.len(), 3);
        // The meeting table holds only meetings in the quarter itself.
        assert_eq!(l.meetings.iter().map(|m| m.no).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn cancelled_and_scheduled_meetings_do_not_count() {
        let meetings = [
            (
                meeting(
                    1,
                    MeetingKind::ThemeDay,
                    local(2026, 5, 5, 19, 30),
                    MeetingStatus::Cancelled,
                ),
                summary(&[("a", Outcome::Present)]),
            ),
            (
                meeting(
                    2,
                    MeetingKind::ThemeDay,
                    local(2026, 5, 20, 19, 30),
                    MeetingStatus::Scheduled,
                ),
                Summary::default(),
            ),
        ];
        let l = ledger(
            &only(MeetingKind::ThemeDay, Cadence::Monthly),
            Period::Month(2026, 5),
            SHANGHAI,
            &meetings,
            &[member("a", "张三")],
            local(2026, 6, 1, 9, 0),
        );
        let unit = &l.rules[0].units[0];
        assert!(unit.held.is_empty());
        assert_eq!(unit.status, UnitStatus::Missed);
        assert!(l.meetings.is_empty());
        assert_eq!(l.members[0].expected, 0);
        assert_eq!(l.members[0].rate, None);
    }

    #[test]
    fn members_get_rates_over_the_period_and_meetings_their_counts() {
        let mut moved = member("old", "李四");
        moved.status = MemberStatus::MovedOut;
        let roster = [member("a", "张三"), member("b", "王五"), moved, {
            let mut m = member("idle", "赵六");
            m.status = MemberStatus::MovedOut;
            m
        }];
        let m1 = (
            meeting(
                1,
                MeetingKind::Group,
                local(2026, 4, 8, 19, 0),
                MeetingStatus::Ended,
            ),
            summary(&[
                ("a", Outcome::Present),
                ("b", Outcome::Excused),
                ("old", Outcome::Absent),
                ("ghost", Outcome::Late),
            ]),
        );
        let m2 = (
            meeting(
                2,
                MeetingKind::Group,
                local(2026, 5, 8, 19, 0),
                MeetingStatus::Ended,
            ),
            summary(&[("a", Outcome::Late), ("b", Outcome::Present)]),
        );
        let l = ledger(
            &LedgerRules::default(),
            Period::Quarter(2026, 2),
            SHANGHAI,
            &[m2, m1],
            &roster,
            local(2026, 7, 1, 9, 0),
        );
        let rows: Vec<(&str, usize, usize, Option<f64>)> = l
            .members
            .iter()
            .map(|m| (m.name.as_str(), m.expected, m.attended, m.rate))
            .collect();
        assert_eq!(
            rows,
            [
                ("张三", 2, 2, Some(1.0)),
                ("王五", 2, 1, Some(0.5)),
                ("李四", 1, 0, Some(0.0)),
                ("ghost", 1, 1, Some(1.0)),
            ],
            "moved-out members stay when counted; strays keep their id"
        );
        assert_eq!(l.members[1].excused, 1);
        // Meetings come by start time, with their counts and rates.
        let first = &l.meetings[0];
        assert_eq!(first.no, 1);
        assert_eq!(
            (
                first.expected,
                first.present,
                first.late,
                first.excused,
                first.absent
            ),
            (4, 1, 1, 1, 1)
        );
        assert_eq!(first.attended, 2);
        assert_eq!(first.rate, Some(0.5));
        assert_eq!(l.meetings[1].rate, Some(1.0));
    }

    #[test]
    fn rules_deserialize_from_configuration_with_defaults() {
        let rules: LedgerRules = toml::from_str(
            r#"
            at_risk_within = "10d"
            [[rules]]
            kind = "theme_day"
            cadence = "monthly"
            [[rules]]
            kind = "lesson"
            cadence = "quarterly"
            min = 2
            "#,
        )
        .unwrap();
        assert_eq!(rules.at_risk_within, Duration::from_secs(10 * 24 * 3600));
        assert_eq!(rules.rules[0].min, 1);
        assert_eq!(rules.rules[1].min, 2);
        rules.validate().unwrap();

        let defaults: LedgerRules = toml::from_str("").unwrap();
        assert_eq!(defaults, LedgerRules::default());
        assert_eq!(defaults.rules.len(), 7);
        defaults.validate().unwrap();

        assert!(toml::from_str::<LedgerRules>("bogus = 1").is_err());
        let zero = LedgerRules {
            rules: vec![Rule {
                kind: MeetingKind::Group,
                cadence: Cadence::Monthly,
                min: 0,
            }],
            ..LedgerRules::default()
        };
        assert_eq!(zero.validate().unwrap_err().field, "ledger.rules.min");
    }

    #[test]
    fn the_ledger_serializes_for_the_json_api() {
        let l = ledger(
            &only(MeetingKind::Committee, Cadence::Monthly),
            Period::Month(2026, 12),
            SHANGHAI,
            &[ended(1, MeetingKind::Committee, local(2026, 12, 1, 9, 0))],
            &[member("a", "张三")],
            local(2026, 12, 2, 9, 0),
        );
        let json = serde_json::to_value(&l).unwrap();
        assert_eq!(json["period"], "2026-12");
        assert_eq!(json["timezone"], "Asia/Shanghai");
        assert_eq!(json["at_risk_within"], "7days");
        assert_eq!(json["rules"][0]["kind"], "committee");
        assert_eq!(json["rules"][0]["cadence"], "monthly");
        assert_eq!(json["rules"][0]["units"][0]["status"], "met");
        assert_eq!(json["rules"][0]["units"][0]["unit"], "2026-12");
        assert_eq!(json["meetings"][0]["rate"], 1.0);
        assert_eq!(json["members"][0]["name"], "张三");
    }
}
