//! Time expressions typed by a branch secretary in a group chat.
//!
//! This module owns the grammar of the accepted forms (`2026-12-05 19:30`,
//! `12月5日晚上7点半`, `12.18 19:00`, `明天 19:30`, `今晚8点`, `下周三 20:00`, ...), the
//! rules that settle ambiguous input, and the conversion from the branch's local time
//! zone to a UTC instant. It never reads the system clock: "now" is always passed in.
//!
//! Errors carry what was typed and, where one can be built, a corrected version of
//! it (`下周五晚上` → `下周五晚上 19:00`), so that a reply can show the fix in the
//! sender's own words.
//!
//! Input is normalised first: full-width ASCII (digits, `：`, `／`, `－`) becomes
//! ASCII and every kind of whitespace (including the full-width space) becomes
//! a plain space.
//!
//! # Grammar
//! `[date] [period] time`, with optional spaces between the parts:
//! - date: `2026-12-05`, `2026/12/05`, `2026.12.05` (optionally followed by `T`),
//!   `12-05`, `12/05`, `12.05` (with a dot only for a real month and day, so that
//!   `19.30` is not a date), `[2026年]12月5日` (or `号`), `今天`, `明天`, `后天`,
//!   `大后天`, `今晚`, `明晚`, `今早`, `明早`, `[本|这|下]周五` (also `星期`, `礼拜`;
//!   `日`/`天` is Sunday); `昨天`, `前天`, `昨晚` are read too, only to be refused as
//!   past;
//! - period: `凌晨`, `早`, `早上`, `上午`, `中午`, `下午`, `傍晚`, `晚`, `晚上`;
//! - time: `19:30` (`:00` seconds allowed), `7点`, `7点半`, `7点一刻`, `7点三刻`,
//!   `7点15分`, `7点15`, `19时30分`; hours, months, days and minutes before
//!   `分` may also be Chinese numerals (`八点二十分`, `十二月五日`).
//!
//! # Rules for ambiguous input
//! - `X点` with no period word: `0点` and 7–23 are taken as written (7–12 are
//!   morning/noon), 1–6 are [`TimeError::Ambiguous`] (with both readings as
//!   fixes). `HH:MM` is a 24-hour clock and is never ambiguous.
//! - Period words: 凌晨 accepts 0–5; 早/早上/上午 accept 0–12 as written;
//!   中午 accepts 11–14, with 1 and 2 meaning 13 and 14; 下午 adds 12 to 1–11
//!   and takes 12–23 as written; 傍晚/晚/晚上 add 12 to 5–11 and take 17–23 as
//!   written, while 12, 0 and 1–4 are Ambiguous (they may mean after midnight,
//!   so `晚上12点` is refused). An hour that contradicts its period (`上午15点`) is
//!   [`TimeError::Impossible`].
//! - A date with no time of day (`明天`, `今晚`) and a time with no date (`19:30`)
//!   are [`TimeError::Incomplete`], with the missing part filled in as an example.
//! - A month-day without a year means this year's if it is still ahead. If it
//!   passed less than three months ago it is [`TimeError::Past`] (a date just gone
//!   is a slip, not a meeting a year away); otherwise it is next year's, if that
//!   falls within the coming 12 months. If there is none (`2月30日`, or `2月29日`
//!   when no 29 February falls in the coming 12 months) it is
//!   [`TimeError::Impossible`].
//! - `周五` is the coming Friday: today if today is Friday and the time is still
//!   ahead, otherwise next week's. `本周五`/`这周五` is the Friday of this
//!   calendar week and may be [`TimeError::Past`]; `下周五` is the Friday of the
//!   next calendar week. Weeks start on Monday. `下下周` is not supported.
//! - Relative days (`今天`, `今晚`, `明天`, ...) count from the local date of "now",
//!   so at 00:30 `今晚8点` is 20:00 of the day that has just begun.
//! - Explicit dates and relative days never roll forward: a passed time is
//!   [`TimeError::Past`]. Anything more than 10 years ahead is
//!   [`TimeError::OutOfRange`].
//! - Local times that fall in a DST gap are [`TimeError::Impossible`]; in a DST
//!   fold the earlier instant is taken.

use chrono::{
    DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;

/// Why a time expression could not be turned into an instant. `typed` is the time
/// expression as read (full-width forms folded, spaces unified), without what followed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The input was empty or only whitespace.
    #[error("empty time expression")]
    Empty,
    /// The input is no accepted form; carries the text from where reading
    /// stopped.
    #[error("unrecognised time expression: {0:?}")]
    Unrecognised(String),
    /// A well-formed expression naming a date or time that does not exist.
    #[error("impossible date or time {typed:?}: {detail}")]
    Impossible { typed: String, detail: String },
    /// The expression names an instant before "now"; `at` is that instant.
    #[error("time {typed:?} is in the past")]
    Past { typed: String, at: DateTime<Utc> },
    /// The date or the hour (or both) is missing; `fix` is `typed` completed with a
    /// date or an hour that reads as a time ahead.
    #[error("time {typed:?} lacks {}", missing(*no_date, *no_hour))]
    Incomplete {
        typed: String,
        fix: String,
        no_date: bool,
        no_hour: bool,
    },
    /// The hour could mean more than one instant; `fixes` are the readings written
    /// unambiguously (none when no reading is a safe guess).
    #[error("ambiguous hour in {typed:?}")]
    Ambiguous { typed: String, fixes: Vec<String> },
    /// The expression names an instant more than 10 years after "now".
    #[error("time {typed:?} is more than 10 years ahead")]
    OutOfRange { typed: String },
}

fn missing(no_date: bool, no_hour: bool) -> &'static str {
    match (no_date, no_hour) {
        (true, true) => "a date and an hour",
        (true, false) => "a date",
        _ => "an hour",
    }
}

/// What the evaluation of a parsed expression found wrong, before it is told with
/// the typed text.
#[derive(Debug)]
enum Fault {
    Impossible(String),
    Past(DateTime<Utc>),
    Incomplete,
    AmbiguousHour,
    AmbiguousEvening,
    OutOfRange,
}

const MAX_YEARS_AHEAD: u32 = 10;

/// Parses a whole time expression into a UTC instant, reading it in `tz` and
/// relative to `now`. See the module documentation for the rules.
pub fn parse_time(input: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, TimeError> {
    parse_leading(&normalise(input), now, tz, true).map(|(at, _)| at)
}

/// Splits the leading time expression off a command argument string and
/// returns the instant and the rest of `args` with leading whitespace removed.
///
/// The time is read greedily, so it may be glued to the text after it
/// (`今晚8点学习`); a space before the topic avoids surprises such as
/// `8点半年总结` being read as 8:30. If no time is found, the error of the
/// attempt is returned (for example [`TimeError::Past`] for `今天 8:00 学习`
/// at 10:00, or [`TimeError::Incomplete`] for `明天 学习`); [`after_typed`] finds
/// the rest of `args` after the expression the error names.
pub fn split_time_prefix(
    args: &str,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<(DateTime<Utc>, &str), TimeError> {
    let (at, end) = parse_leading(&normalise(args), now, tz, false)?;
    // Normalisation maps one char to one char, so char positions carry over.
    let byte = args.char_indices().nth(end).map_or(args.len(), |(i, _)| i);
    Ok((at, args.get(byte..).unwrap_or("").trim_start()))
}

/// What follows a time expression `typed` (from an error of [`split_time_prefix`]) in
/// the `args` it was read from, with leading whitespace removed.
pub fn after_typed<'a>(args: &'a str, typed: &str) -> &'a str {
    // Normalisation maps one char to one char, and `typed` starts where the
    // leading whitespace ends.
    let args = args.trim_start();
    let n = typed.chars().count();
    let byte = args.char_indices().nth(n).map_or(args.len(), |(i, _)| i);
    args.get(byte..).unwrap_or("").trim_start()
}

/// Evaluates the expression at the start of `chars` and returns it with the
/// char position where it ends; with `whole`, only trailing spaces may follow.
fn parse_leading(
    chars: &[char],
    now: DateTime<Utc>,
    tz: Tz,
    whole: bool,
) -> Result<(DateTime<Utc>, usize), TimeError> {
    let mut c = Cursor { s: chars, pos: 0 };
    c.skip_ws();
    if c.at_end() {
        return Err(TimeError::Empty);
    }
    let start = c.pos;
    let expr = parse_expr(&mut c)?;
    let end = c.pos;
    c.skip_ws();
    if whole && !c.at_end() {
        return Err(TimeError::Unrecognised(c.rest()));
    }
    let text =
        |from: usize, to: usize| -> String { chars.get(from..to).unwrap_or(&[]).iter().collect() };
    let typed = text(start, end);
    let fault = match evaluate(&expr, now, tz) {
        Ok(at) => return Ok((at, end)),
        Err(fault) => fault,
    };
    Err(match fault {
        Fault::Impossible(detail) => TimeError::Impossible { typed, detail },
        Fault::Past(at) => TimeError::Past { typed, at },
        Fault::OutOfRange => TimeError::OutOfRange { typed },
        Fault::Incomplete => {
            let (no_date, no_hour) = (expr.date.is_none(), expr.clock.is_none());
            let complete = |hour: &str| {
                let date = if no_date { "明天 " } else { "" };
                let hour = if no_hour {
                    format!(" {hour}")
                } else {
                    String::new()
                };
                format!("{date}{typed}{hour}")
            };
            let hours = sample_hours(expr.period);
            let fix = hours
                .iter()
                .map(|h| complete(h))
                .find(|fix| resolves(fix, now, tz))
                .unwrap_or_else(|| complete(hours.first().copied().unwrap_or("19:00")));
            TimeError::Incomplete {
                typed,
                fix,
                no_date,
                no_hour,
            }
        }
        Fault::AmbiguousHour => {
            let before = text(start, expr.clock_at);
            let before = before.trim_end();
            let fixes = expr
                .clock
                .map_or_else(Vec::new, |Clock { hour, minute, .. }| {
                    [hour, hour + 12]
                        .iter()
                        .map(|h| format!("{before} {h}:{minute:02}").trim_start().to_owned())
                        .collect()
                });
            TimeError::Ambiguous { typed, fixes }
        }
        Fault::AmbiguousEvening => TimeError::Ambiguous {
            typed,
            fixes: Vec::new(),
        },
    })
}

/// Hours to complete an expression that lacks one, fitting its period word, most
/// likely first.
fn sample_hours(period: Option<Period>) -> &'static [&'static str] {
    match period {
        None | Some(Period::Evening) => &["19:00", "20:00", "21:00", "22:00"],
        Some(Period::Afternoon) => &["15:00", "16:00", "17:00"],
        Some(Period::Noon) => &["12:00", "13:00"],
        Some(Period::Morning) => &["9:00", "10:00", "11:00"],
        Some(Period::Dawn) => &["5:00"],
    }
}

/// Whether a suggested fix reads as a time ahead (checked without building errors,
/// so that making a suggestion never recurses).
fn resolves(text: &str, now: DateTime<Utc>, tz: Tz) -> bool {
    let chars = normalise(text);
    let mut c = Cursor { s: &chars, pos: 0 };
    c.skip_ws();
    let Ok(expr) = parse_expr(&mut c) else {
        return false;
    };
    c.skip_ws();
    c.at_end() && evaluate(&expr, now, tz).is_ok()
}

fn normalise(input: &str) -> Vec<char> {
    input
        .chars()
        .map(|ch| match ch {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(ch) - 0xFEE0).unwrap_or(ch),
            ch if ch.is_whitespace() => ' ',
            ch => ch,
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Dawn,
    Morning,
    Noon,
    Afternoon,
    Evening,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Week {
    Coming,
    This,
    Next,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateSpec {
    Full { y: u32, m: u32, d: u32 },
    MonthDay { m: u32, d: u32 },
    // Negative for 昨天 and the like, which are always past.
    DaysAhead(i64),
    // `day` counts from Monday = 0.
    Weekday { week: Week, day: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Clock {
    hour: u32,
    minute: u32,
    colon: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expr {
    date: Option<DateSpec>,
    period: Option<Period>,
    clock: Option<Clock>,
    // Where the clock starts (or would have), for a fix that rewrites it.
    clock_at: usize,
}

const RELATIVE: &[(&str, i64, Option<Period>)] = &[
    ("大后天", 3, None),
    ("后天", 2, None),
    ("今天", 0, None),
    ("今日", 0, None),
    ("明天", 1, None),
    ("明日", 1, None),
    ("今晚上", 0, Some(Period::Evening)),
    ("今晚", 0, Some(Period::Evening)),
    ("今早上", 0, Some(Period::Morning)),
    ("今早", 0, Some(Period::Morning)),
    ("明晚上", 1, Some(Period::Evening)),
    ("明晚", 1, Some(Period::Evening)),
    ("明早上", 1, Some(Period::Morning)),
    ("明早", 1, Some(Period::Morning)),
    ("大前天", -3, None),
    ("前天", -2, None),
    ("昨天", -1, None),
    ("昨日", -1, None),
    ("昨晚上", -1, Some(Period::Evening)),
    ("昨晚", -1, Some(Period::Evening)),
    ("昨早上", -1, Some(Period::Morning)),
    ("昨早", -1, Some(Period::Morning)),
];

// Longer words first so that 早上 wins over 早.
const PERIODS: &[(&str, Period)] = &[
    ("凌晨", Period::Dawn),
    ("早上", Period::Morning),
    ("早晨", Period::Morning),
    ("上午", Period::Morning),
    ("中午", Period::Noon),
    ("下午", Period::Afternoon),
    ("傍晚", Period::Evening),
    ("晚上", Period::Evening),
    ("早", Period::Morning),
    ("晚", Period::Evening),
];

struct Cursor<'a> {
    s: &'a [char],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn peek_digit_at(&self, k: usize) -> bool {
        self.s.get(self.pos + k).is_some_and(char::is_ascii_digit)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn rest(&self) -> String {
        self.s.get(self.pos..).unwrap_or(&[]).iter().collect()
    }

    fn skip_ws(&mut self) {
        while self.peek() == Some(' ') {
            self.pos += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        let mut i = self.pos;
        for w in word.chars() {
            if self.s.get(i) != Some(&w) {
                return false;
            }
            i += 1;
        }
        self.pos = i;
        true
    }

    fn eat_one_of(&mut self, set: &str) -> Option<char> {
        let ch = self.peek().filter(|ch| set.contains(*ch))?;
        self.pos += 1;
        Some(ch)
    }

    /// ASCII digits as a saturating value, with how many digits there were.
    fn digits(&mut self) -> Option<(u32, usize)> {
        let start = self.pos;
        let mut value: u32 = 0;
        while let Some(d) = self.peek().and_then(|ch| ch.to_digit(10)) {
            value = value.saturating_mul(10).saturating_add(d);
            self.pos += 1;
        }
        (self.pos > start).then_some((value, self.pos - start))
    }

    /// Chinese numerals from 0 to 99: 七, 两, 十, 十二, 二十, 二十三.
    fn cn_number(&mut self) -> Option<u32> {
        let start = self.pos;
        let first = self.peek().and_then(cn_digit);
        if first.is_some() {
            self.pos += 1;
        }
        if self.eat("十") {
            let ones = self.peek().and_then(cn_digit);
            if ones.is_some() {
                self.pos += 1;
            }
            return Some(first.unwrap_or(1) * 10 + ones.unwrap_or(0));
        }
        if first.is_none() {
            self.pos = start;
        }
        first
    }

    /// A number in digits or Chinese numerals followed by one of `terms`,
    /// which is consumed.
    fn number_before(&mut self, terms: &str) -> Option<u32> {
        attempt(self, |c| {
            let n = c.digits().map(|(n, _)| n).or_else(|| c.cn_number())?;
            c.eat_one_of(terms).map(|_| n)
        })
    }
}

fn cn_digit(ch: char) -> Option<u32> {
    if ch == '两' {
        return Some(2);
    }
    "零一二三四五六七八九"
        .chars()
        .zip(0..)
        .find(|(d, _)| *d == ch)
        .map(|(_, v)| v)
}

/// Runs `f` and rewinds the cursor if it finds nothing.
fn attempt<'a, T>(c: &mut Cursor<'a>, f: impl FnOnce(&mut Cursor<'a>) -> Option<T>) -> Option<T> {
    let start = c.pos;
    let found = f(c);
    if found.is_none() {
        c.pos = start;
    }
    found
}

/// `[date] [period] [clock]`, with optional spaces between the parts.
fn parse_expr(c: &mut Cursor<'_>) -> Result<Expr, TimeError> {
    let start = c.pos;
    let (date, mut period) = match parse_date(c)? {
        Some((d, p)) => (Some(d), p),
        None => (None, None),
    };
    if period.is_none() {
        period = attempt(c, |c| {
            c.skip_ws();
            PERIODS.iter().find(|(w, _)| c.eat(w)).map(|&(_, p)| p)
        });
    }
    let clock_at = {
        let before = c.pos;
        c.skip_ws();
        std::mem::replace(&mut c.pos, before)
    };
    let clock = attempt(c, |c| {
        c.skip_ws();
        parse_clock(c)
    });
    if date.is_none() && period.is_none() && clock.is_none() {
        c.pos = start;
        return Err(TimeError::Unrecognised(c.rest()));
    }
    Ok(Expr {
        date,
        period,
        clock,
        clock_at,
    })
}

fn parse_date(c: &mut Cursor<'_>) -> Result<Option<(DateSpec, Option<Period>)>, TimeError> {
    if c.s.get(c.pos..c.pos + 2) == Some(&['下', '下']) {
        return Err(TimeError::Unrecognised(c.rest()));
    }
    if let Some(spec) = attempt(c, parse_weekday) {
        return Ok(Some((spec, None)));
    }
    if let Some(&(_, days, period)) = RELATIVE.iter().find(|(w, _, _)| c.eat(w)) {
        return Ok(Some((DateSpec::DaysAhead(days), period)));
    }
    Ok(parse_numeric_date(c).map(|d| (d, None)))
}

fn parse_weekday(c: &mut Cursor<'_>) -> Option<DateSpec> {
    let week = if c.eat("下个") || c.eat("下") {
        Week::Next
    } else if c.eat("本") || c.eat("这个") || c.eat("这") {
        Week::This
    } else {
        Week::Coming
    };
    if !(c.eat("周") || c.eat("星期") || c.eat("礼拜")) {
        return None;
    }
    let ch = c.peek()?;
    let day = match ch {
        '天' | '日' | '7' => 6,
        '1'..='6' => ch.to_digit(10)? - 1,
        _ => cn_digit(ch).filter(|d| (1..=6).contains(d))? - 1,
    };
    c.pos += 1;
    Some(DateSpec::Weekday { week, day })
}

fn parse_numeric_date(c: &mut Cursor<'_>) -> Option<DateSpec> {
    let month_day = |c: &mut Cursor<'_>| {
        let m = c.number_before("月")?;
        let d = c
            .number_before("日号")
            .or_else(|| c.digits().map(|(d, _)| d))?;
        Some((m, d))
    };
    let with_year = attempt(c, |c| {
        let (y, n) = c.digits()?;
        if n < 4 || !c.eat("年") {
            return None;
        }
        month_day(c).map(|(m, d)| DateSpec::Full { y, m, d })
    });
    with_year
        .or_else(|| {
            attempt(c, |c| {
                month_day(c).map(|(m, d)| DateSpec::MonthDay { m, d })
            })
        })
        .or_else(|| attempt(c, parse_dashed_date))
}

/// `2026-12-05`, `2026/12/05`, `2026.12.05`, `12-05`, `12/05`, `12.05`, optionally
/// followed by `T`.
fn parse_dashed_date(c: &mut Cursor<'_>) -> Option<DateSpec> {
    let (a, na) = c.digits()?;
    let sep = c.eat_one_of("-/.")?;
    let (b, _) = c.digits()?;
    // A dot also writes decimals and `19.30` for 19:30: it makes a date only of a
    // real month and day.
    let plausible = |m: u32, d: u32| sep != '.' || ((1..=12).contains(&m) && (1..=31).contains(&d));
    let spec = if c.peek() == Some(sep) && c.peek_digit_at(1) {
        c.pos += 1;
        let (d, _) = c.digits()?;
        (na >= 4 && plausible(b, d)).then_some(DateSpec::Full { y: a, m: b, d })?
    } else {
        (na <= 2 && plausible(a, b)).then_some(DateSpec::MonthDay { m: a, d: b })?
    };
    if matches!(c.peek(), Some('T' | 't')) && c.peek_digit_at(1) {
        c.pos += 1;
    }
    Some(spec)
}

/// `19:30`, `7点`, `7点半`, `7点一刻`, `7点三刻`, `7点15分`, `7点15`, `七点`.
fn parse_clock(c: &mut Cursor<'_>) -> Option<Clock> {
    let colon = attempt(c, |c| {
        let (hour, nh) = c.digits()?;
        if nh > 2 || !c.eat(":") {
            return None;
        }
        let (minute, nm) = c.digits()?;
        // Timestamps copied from other systems carry `:00` seconds.
        let before_seconds = c.pos;
        if !c.eat(":00") || c.peek_digit_at(0) {
            c.pos = before_seconds;
        }
        (nm == 2).then_some(Clock {
            hour,
            minute,
            colon: true,
        })
    });
    colon.or_else(|| {
        let hour = c.number_before("点时")?;
        let minute = if c.eat("半") {
            30
        } else if c.eat("一刻") {
            15
        } else if c.eat("三刻") {
            45
        } else if let Some(m) = attempt(c, |c| {
            c.eat("零");
            c.number_before("分")
        }) {
            m
        } else if let Some((m, _)) = c.digits() {
            c.eat("分");
            m
        } else {
            let _ = c.eat("整") || c.eat("钟");
            0
        };
        Some(Clock {
            hour,
            minute,
            colon: false,
        })
    })
}

fn evaluate(e: &Expr, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, Fault> {
    // `naive_local` panics at the edge of chrono's range; a far-off "now" is
    // still no reason to panic.
    let offset = now.with_timezone(&tz).offset().fix();
    let local_now = now
        .naive_utc()
        .checked_add_offset(offset)
        .ok_or(Fault::OutOfRange)?;
    let today = local_now.date();
    let Some(date) = e.date else {
        return Err(Fault::Incomplete);
    };
    // Checked before the time of day so that `99999-01-01` reads as out of range.
    let max_year = i64::from(today.year()) + i64::from(MAX_YEARS_AHEAD);
    if matches!(date, DateSpec::Full { y, .. } if i64::from(y) > max_year) {
        return Err(Fault::OutOfRange);
    }
    let Some(clock) = e.clock else {
        return Err(Fault::Incomplete);
    };
    let time = resolve_time(e.period, clock)?;
    let day_after = |d: NaiveDate, n: u32| {
        let day = d.checked_add_days(Days::new(n.into()));
        day.map(|d| d.and_time(time)).ok_or(Fault::OutOfRange)
    };
    let at = match date {
        DateSpec::Full { y, m, d } => {
            let year = i32::try_from(y).map_err(|_| Fault::OutOfRange)?;
            let date = NaiveDate::from_ymd_opt(year, m, d)
                .ok_or_else(|| Fault::Impossible(format!("{y:04}-{m:02}-{d:02} does not exist")))?;
            not_past(localise(date.and_time(time), tz)?, now)?
        }
        DateSpec::MonthDay { m, d } => next_month_day(m, d, time, local_now, now, tz)?,
        DateSpec::DaysAhead(n) => {
            let days = Days::new(n.unsigned_abs());
            let date = if n < 0 {
                today.checked_sub_days(days)
            } else {
                today.checked_add_days(days)
            };
            let date = date.ok_or(Fault::OutOfRange)?;
            not_past(localise(date.and_time(time), tz)?, now)?
        }
        DateSpec::Weekday { week, day } => {
            let cur = today.weekday().num_days_from_monday();
            let monday = today
                .checked_sub_days(Days::new(cur.into()))
                .ok_or(Fault::OutOfRange)?;
            match week {
                Week::This => not_past(localise(day_after(monday, day)?, tz)?, now)?,
                Week::Next => localise(day_after(monday, day + 7)?, tz)?,
                Week::Coming => {
                    let mut naive = day_after(today, (day + 7 - cur) % 7)?;
                    if naive < local_now {
                        naive = day_after(naive.date(), 7)?;
                    }
                    localise(naive, tz)?
                }
            }
        }
    };
    match now.checked_add_months(Months::new(12 * MAX_YEARS_AHEAD)) {
        Some(limit) if at > limit => Err(Fault::OutOfRange),
        _ => Ok(at),
    }
}

/// A month-day: this year's if still ahead, past if it went by within the last three
/// months, else next year's within the coming 12 months.
fn next_month_day(
    m: u32,
    d: u32,
    time: NaiveTime,
    local_now: NaiveDateTime,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<DateTime<Utc>, Fault> {
    let latest = local_now.checked_add_months(Months::new(12));
    let recent = local_now.checked_sub_months(Months::new(3));
    let year = local_now.date().year();
    for y in [year, year + 1] {
        let Some(naive) = NaiveDate::from_ymd_opt(y, m, d).map(|d| d.and_time(time)) else {
            continue;
        };
        if naive < local_now {
            if recent.is_some_and(|r| naive >= r) {
                return Err(Fault::Past(localise(naive, tz)?));
            }
            continue;
        }
        if latest.is_some_and(|l| naive > l) {
            break;
        }
        let at = localise(naive, tz)?;
        if at >= now {
            return Ok(at);
        }
    }
    Err(Fault::Impossible(format!(
        "month {m} day {d} does not occur within the next 12 months"
    )))
}

/// Turns an hour written with an optional period word into a 24-hour time.
fn resolve_time(period: Option<Period>, clock: Clock) -> Result<NaiveTime, Fault> {
    let Clock {
        hour: h,
        minute: m,
        colon,
    } = clock;
    let invalid = || Fault::Impossible(format!("{h}:{m:02} is not a time of day"));
    if h > 23 || m > 59 {
        return Err(invalid());
    }
    let h24 = match period {
        None if colon || h == 0 || h >= 7 => h,
        // Hours 1-6 could be morning or afternoon.
        None => return Err(Fault::AmbiguousHour),
        Some(Period::Dawn) if h <= 5 => h,
        Some(Period::Morning) if h <= 12 => h,
        Some(Period::Noon) if (11..=14).contains(&h) => h,
        Some(Period::Noon) if (1..=2).contains(&h) => h + 12,
        Some(Period::Afternoon) if (1..=11).contains(&h) => h + 12,
        Some(Period::Afternoon) if h >= 12 => h,
        Some(Period::Evening) if (5..=11).contains(&h) => h + 12,
        Some(Period::Evening) if h >= 17 => h,
        // An evening hour of 12 or 0-4 could mean after midnight.
        Some(Period::Evening) if h <= 4 || h == 12 => return Err(Fault::AmbiguousEvening),
        Some(p) => {
            return Err(Fault::Impossible(format!("hour {h} contradicts {p:?}")));
        }
    };
    NaiveTime::from_hms_opt(h24, m, 0).ok_or_else(invalid)
}

fn localise(naive: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, Fault> {
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| Fault::Impossible(format!("{naive} does not exist in {tz} (DST gap)")))
}

fn not_past(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, Fault> {
    if at < now {
        Err(Fault::Past(at))
    } else {
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York as NY;
    use chrono_tz::Asia::Shanghai as SH;
    use chrono_tz::Europe::Berlin as BER;

    /// Tuesday.
    const N: &str = "2026-12-01 10:00";
    /// Monday, the last week of the year.
    const YE: &str = "2026-12-28 10:00";

    fn at(local: &str, tz: Tz) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").expect("test time");
        localise(naive, tz).expect("test time exists")
    }

    /// Ok as local `%Y-%m-%d %H:%M`, or `UTC ...`, or `Err:Variant`.
    fn show(r: &Result<DateTime<Utc>, TimeError>, tz: Tz, utc: bool) -> String {
        match r {
            Ok(t) if utc => t.format("UTC %Y-%m-%d %H:%M").to_string(),
            Ok(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
            Err(e) => format!(
                "Err:{}",
                format!("{e:?}").split(['(', ' ']).next().unwrap_or("")
            ),
        }
    }

    #[rustfmt::skip]
    const CASES: &[(&str, &str, Tz, &str)] = &[
        // Numeric dates.
        ("2026-12-05 19:30", N, SH, "2026-12-05 19:30"),
        ("2026/12/05 19:30", N, SH, "2026-12-05 19:30"),
        ("2026-12-05T19:30", N, SH, "2026-12-05 19:30"),
        ("12-05 19:30", N, SH, "2026-12-05 19:30"),
        ("12/05 19:30", N, SH, "2026-12-05 19:30"),
        ("12-01 09:00", N, SH, "Err:Past"),
        ("11-30 19:00", N, SH, "Err:Past"),
        ("9-01 19:00", N, SH, "Err:Past"),
        ("8-31 19:00", N, SH, "2027-08-31 19:00"),
        ("12.18 19:00", N, SH, "2026-12-18 19:00"),
        ("12/18 19:00", N, SH, "2026-12-18 19:00"),
        ("12.18晚上7点", N, SH, "2026-12-18 19:00"),
        ("2026.12.18 19:00", N, SH, "2026-12-18 19:00"),
        ("１２．１８　１９：００", N, SH, "2026-12-18 19:00"),
        ("19.30", N, SH, "Err:Unrecognised"),
        ("13.01 19:00", N, SH, "Err:Unrecognised"),
        ("12.32 19:00", N, SH, "Err:Unrecognised"),
        ("2026-11-30 19:30", N, SH, "Err:Past"),
        ("2026-12-01 09:59", N, SH, "Err:Past"),
        // Chinese dates and hours.
        ("12月5日 19:30", N, SH, "2026-12-05 19:30"),
        ("12月5号 19:30", N, SH, "2026-12-05 19:30"),
        ("2026年12月5日 19:30", N, SH, "2026-12-05 19:30"),
        ("12月5日19:30", N, SH, "2026-12-05 19:30"),
        ("12月5日晚上7点半", N, SH, "2026-12-05 19:30"),
        ("12月5日 晚上 7点半", N, SH, "2026-12-05 19:30"),
        ("12月5日下午3点", N, SH, "2026-12-05 15:00"),
        ("12月5日上午9点15分", N, SH, "2026-12-05 09:15"),
        ("12月5日 19点", N, SH, "2026-12-05 19:00"),
        ("12月5日 7点", N, SH, "2026-12-05 07:00"),
        ("12月5日 12点", N, SH, "2026-12-05 12:00"),
        ("12月5日 0点", N, SH, "2026-12-05 00:00"),
        ("12月5日 5点", N, SH, "Err:Ambiguous"),
        ("12月5日 5:00", N, SH, "2026-12-05 05:00"),
        ("十二月五日 下午三点", N, SH, "2026-12-05 15:00"),
        ("12月5日 19时30分", N, SH, "2026-12-05 19:30"),
        ("2026-12-05 19:30:00", N, SH, "2026-12-05 19:30"),
        ("2026-12-05 19:30:15", N, SH, "Err:Unrecognised"),
        // Relative days.
        ("明天 19:30", N, SH, "2026-12-02 19:30"),
        ("后天 9:00", N, SH, "2026-12-03 09:00"),
        ("今天 20:00", N, SH, "2026-12-01 20:00"),
        ("今晚8点", N, SH, "2026-12-01 20:00"),
        ("今晚八点", N, SH, "2026-12-01 20:00"),
        ("明晚7点半", N, SH, "2026-12-02 19:30"),
        ("明早9点", N, SH, "2026-12-02 09:00"),
        ("明天早上8点", N, SH, "2026-12-02 08:00"),
        ("今天 8:00", N, SH, "Err:Past"),
        ("今晚8点", "2026-12-06 00:30", SH, "2026-12-06 20:00"),
        ("昨天 19:00", N, SH, "Err:Past"),
        ("昨晚8点", N, SH, "Err:Past"),
        ("前天 9:00", N, SH, "Err:Past"),
        ("大前天 9:00", N, SH, "Err:Past"),
        // Weekdays (N is a Tuesday).
        ("周五 19:30", N, SH, "2026-12-04 19:30"),
        ("星期五 19:30", N, SH, "2026-12-04 19:30"),
        ("礼拜五 19:30", N, SH, "2026-12-04 19:30"),
        ("周二 11:00", N, SH, "2026-12-01 11:00"),
        ("周二 9:00", N, SH, "2026-12-08 09:00"),
        ("周日 10:00", N, SH, "2026-12-06 10:00"),
        ("礼拜天 10:00", N, SH, "2026-12-06 10:00"),
        ("下周三 20:00", N, SH, "2026-12-09 20:00"),
        ("下周一 20:00", N, SH, "2026-12-07 20:00"),
        ("本周五 19:30", N, SH, "2026-12-04 19:30"),
        ("这周五 19:30", N, SH, "2026-12-04 19:30"),
        ("本周一 9:00", N, SH, "Err:Past"),
        ("下周三 20:00", YE, SH, "2027-01-06 20:00"),
        ("1月3日 10:00", YE, SH, "2027-01-03 10:00"),
        ("12-28 09:00", YE, SH, "Err:Past"),
        ("12-29 09:00", YE, SH, "2026-12-29 09:00"),
        // Period words and minute forms.
        ("明天凌晨3点", N, SH, "2026-12-02 03:00"),
        ("明天中午12点", N, SH, "2026-12-02 12:00"),
        ("明天中午1点", N, SH, "2026-12-02 13:00"),
        ("明天傍晚6点", N, SH, "2026-12-02 18:00"),
        ("明天下午3:00", N, SH, "2026-12-02 15:00"),
        ("明天7点一刻", N, SH, "2026-12-02 07:15"),
        ("明天晚上7点三刻", N, SH, "2026-12-02 19:45"),
        ("明天晚上7点30", N, SH, "2026-12-02 19:30"),
        ("明天晚上7点05分", N, SH, "2026-12-02 19:05"),
        ("明天晚上12点", N, SH, "Err:Ambiguous"),
        ("明天晚上1点", N, SH, "Err:Ambiguous"),
        ("明天上午15点", N, SH, "Err:Impossible"),
        // Month ends and leap days.
        ("12月31日 23:59", N, SH, "2026-12-31 23:59"),
        ("1月31日 10:00", N, SH, "2027-01-31 10:00"),
        ("4月31日 10:00", N, SH, "Err:Impossible"),
        ("2月30日 10:00", N, SH, "Err:Impossible"),
        ("2027-02-29 10:00", N, SH, "Err:Impossible"),
        ("2028-02-29 10:00", N, SH, "2028-02-29 10:00"),
        ("2月29日 10:00", N, SH, "Err:Impossible"),
        ("2月29日 10:00", "2027-12-01 10:00", SH, "2028-02-29 10:00"),
        ("2月29日 10:00", "2028-03-01 10:00", SH, "Err:Past"),
        ("2月29日 10:00", "2027-01-15 10:00", SH, "Err:Impossible"),
        ("13月1日 10:00", N, SH, "Err:Impossible"),
        ("明天 25:00", N, SH, "Err:Impossible"),
        ("明天 19:60", N, SH, "Err:Impossible"),
        // Full-width input.
        ("１２月５日　１９：３０", N, SH, "2026-12-05 19:30"),
        ("２０２６－１２－０５　１９：３０", N, SH, "2026-12-05 19:30"),
        ("　明天 ８点", N, SH, "2026-12-02 08:00"),
        // Incomplete, unsupported and garbage input.
        ("明天", N, SH, "Err:Incomplete"),
        ("今晚", N, SH, "Err:Incomplete"),
        ("下周五晚上", N, SH, "Err:Incomplete"),
        ("19:30", N, SH, "Err:Incomplete"),
        ("下下周三 20:00", N, SH, "Err:Unrecognised"),
        ("下下周", N, SH, "Err:Unrecognised"),
        ("下周", N, SH, "Err:Unrecognised"),
        ("明天 19:30 开会", N, SH, "Err:Unrecognised"),
        ("hello", N, SH, "Err:Unrecognised"),
        ("", N, SH, "Err:Empty"),
        ("  　", N, SH, "Err:Empty"),
        // Range.
        ("2036-12-01 09:00", N, SH, "2036-12-01 09:00"),
        ("2036-12-01 11:00", N, SH, "Err:OutOfRange"),
        ("9999-12-31 10:00", N, SH, "Err:OutOfRange"),
        ("99999-01-01", N, SH, "Err:OutOfRange"),
        ("99999999999999999999-02-30 10:00", N, SH, "Err:OutOfRange"),
        ("明天 99999999999点", N, SH, "Err:Impossible"),
        // Other zones, DST gap and fold.
        ("2027-03-28 02:30", N, BER, "Err:Impossible"),
        ("2027-10-31 02:30", N, BER, "UTC 2027-10-31 00:30"),
        ("明天 19:30", N, NY, "2026-12-02 19:30"),
    ];

    #[test]
    fn table() {
        assert!(CASES.len() >= 50);
        let mut failures = Vec::new();
        for &(input, now, tz, want) in CASES {
            let got = show(
                &parse_time(input, at(now, tz), tz),
                tz,
                want.starts_with("UTC"),
            );
            if got != want {
                failures.push(format!(
                    "{input:?} at {now} in {tz}: want {want}, got {got}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn split() {
        // (input, local time or error kind, rest)
        let cases: &[(&str, &str, &str)] = &[
            (
                "12月5日 19:30 学习二十大精神",
                "2026-12-05 19:30",
                "学习二十大精神",
            ),
            ("12月5日19:30 学习", "2026-12-05 19:30", "学习"),
            ("今晚8点学习", "2026-12-01 20:00", "学习"),
            ("明天 晚上 7点半  支部大会", "2026-12-02 19:30", "支部大会"),
            ("１２月５日　１９：３０　学习", "2026-12-05 19:30", "学习"),
            ("周五 19:30 3楼会议室", "2026-12-04 19:30", "3楼会议室"),
            ("下周三 20:00", "2026-12-09 20:00", ""),
            ("明天 学习", "Err:Incomplete", ""),
            ("今天 8:00 学习", "Err:Past", ""),
            ("2月30日 10:00 学习", "Err:Impossible", ""),
            ("学习 明天 19:30", "Err:Unrecognised", ""),
            ("", "Err:Empty", ""),
        ];
        for &(input, want, want_rest) in cases {
            let got = split_time_prefix(input, at(N, SH), SH);
            let rest = got.as_ref().map_or("", |(_, rest)| *rest);
            let shown = show(&got.map(|(t, _)| t), SH, false);
            assert_eq!((shown.as_str(), rest), (want, want_rest), "{input:?}");
        }
    }

    #[test]
    fn extreme_now_does_not_panic() {
        for now in [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
            for input in [
                "明天 10:00",
                "12月5日 10:00",
                "下周三 20:00",
                "2026-12-05 10:00",
            ] {
                let _ = parse_time(input, now, SH);
            }
        }
    }

    #[test]
    fn error_messages_are_english() {
        let typed = "昨天 19:00".to_owned();
        let past = TimeError::Past {
            typed,
            at: at(N, SH),
        };
        assert_eq!(past.to_string(), "time \"昨天 19:00\" is in the past");
        let far = TimeError::OutOfRange {
            typed: "2040-01-01 10:00".to_owned(),
        };
        assert_eq!(
            far.to_string(),
            "time \"2040-01-01 10:00\" is more than 10 years ahead"
        );
    }

    fn incomplete(typed: &str, fix: &str, no_date: bool, no_hour: bool) -> TimeError {
        TimeError::Incomplete {
            typed: typed.to_owned(),
            fix: fix.to_owned(),
            no_date,
            no_hour,
        }
    }

    #[test]
    fn a_missing_part_is_filled_in_with_what_was_typed() {
        let now = at(N, SH);
        let cases = [
            (
                "下周五晚上",
                incomplete("下周五晚上", "下周五晚上 19:00", false, true),
            ),
            (
                "下周五下午",
                incomplete("下周五下午", "下周五下午 15:00", false, true),
            ),
            ("明早", incomplete("明早", "明早 9:00", false, true)),
            (
                "12月18日",
                incomplete("12月18日", "12月18日 19:00", false, true),
            ),
            ("12.18", incomplete("12.18", "12.18 19:00", false, true)),
            ("19:30", incomplete("19:30", "明天 19:30", true, false)),
            (
                "晚上7点",
                incomplete("晚上7点", "明天 晚上7点", true, false),
            ),
            ("晚上", incomplete("晚上", "明天 晚上 19:00", true, true)),
            (
                "　下周五　晚上　",
                incomplete("下周五 晚上", "下周五 晚上 19:00", false, true),
            ),
        ];
        for (input, want) in cases {
            let got = parse_time(input, now, SH);
            assert_eq!(got, Err(want.clone()), "{input:?}");
            if let TimeError::Incomplete { fix, .. } = want {
                assert!(parse_time(&fix, now, SH).is_ok(), "the fix reads: {fix:?}");
            }
        }
        // Late in the evening the hour offered for today is one still ahead.
        let late = at("2026-12-01 21:30", SH);
        assert_eq!(
            parse_time("今天", late, SH),
            Err(incomplete("今天", "今天 22:00", false, true))
        );
    }

    #[test]
    fn inside_a_command_the_error_names_the_time_and_what_follows_it() {
        let args = "12月18日 党史学习 90分钟";
        let err = split_time_prefix(args, at(N, SH), SH).err();
        assert_eq!(
            err,
            Some(incomplete("12月18日", "12月18日 19:00", false, true))
        );
        assert_eq!(after_typed(args, "12月18日"), "党史学习 90分钟");
        let args = "　下周五晚上党史学习";
        let Err(TimeError::Incomplete { typed, fix, .. }) = split_time_prefix(args, at(N, SH), SH)
        else {
            panic!("incomplete expected");
        };
        assert_eq!(
            (typed.as_str(), fix.as_str()),
            ("下周五晚上", "下周五晚上 19:00")
        );
        assert_eq!(after_typed(args, &typed), "党史学习");
        assert_eq!(after_typed("明天", "明天"), "");
        assert_eq!(after_typed("", "明天"), "");
    }

    #[test]
    fn a_past_time_carries_the_instant_it_names() {
        let now = at(N, SH);
        for (input, local) in [
            ("昨天 19:00", "2026-11-30 19:00"),
            ("昨晚8点", "2026-11-30 20:00"),
            ("今天 8:00", "2026-12-01 08:00"),
            ("11.30 19:00", "2026-11-30 19:00"),
            ("本周一 9:00", "2026-11-30 09:00"),
        ] {
            assert_eq!(
                parse_time(input, now, SH),
                Err(TimeError::Past {
                    typed: input.to_owned(),
                    at: at(local, SH)
                }),
                "{input:?}"
            );
        }
        let got = split_time_prefix("昨天 19:00 党史学习", now, SH);
        assert_eq!(
            got,
            Err(TimeError::Past {
                typed: "昨天 19:00".to_owned(),
                at: at("2026-11-30 19:00", SH)
            })
        );
    }

    #[test]
    fn an_ambiguous_hour_offers_both_readings_in_24_hours() {
        let now = at(N, SH);
        let ambiguous = |typed: &str, fixes: &[&str]| {
            Err(TimeError::Ambiguous {
                typed: typed.to_owned(),
                fixes: fixes.iter().map(|f| (*f).to_owned()).collect(),
            })
        };
        assert_eq!(
            parse_time("明天 5点", now, SH),
            ambiguous("明天 5点", &["明天 5:00", "明天 17:00"])
        );
        assert_eq!(
            parse_time("12月5日3点半", now, SH),
            ambiguous("12月5日3点半", &["12月5日 3:30", "12月5日 15:30"])
        );
        // After midnight or at noon: no reading is a safe guess.
        assert_eq!(
            parse_time("明天晚上12点", now, SH),
            ambiguous("明天晚上12点", &[])
        );
    }

    #[test]
    fn fuzz_never_panics() {
        let alphabet: Vec<char> = "0123456789０１９月日号点半分刻:：-/.T 　周下今明后昨前晚上午早凌晨中傍年星期礼拜一三五七十两天😀🎉"
            .chars()
            .collect();
        // Whole fragments make the loop reach the deeper paths, not just the
        // first rejection.
        let fragments = [
            "12月5日",
            "明天",
            "今晚",
            "下周三",
            "19:30",
            "7点半",
            "2026-12-05",
            "晚上",
            "12.18",
            "昨天",
        ];
        let len = alphabet.len() as u64;
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        let now = at(N, SH);
        let mut parsed = 0;
        for _ in 0..5000 {
            let mut s = String::new();
            for _ in 0..next() % 12 {
                let r = next();
                match fragments.get((r % 24) as usize) {
                    Some(f) => s.push_str(f),
                    None => s.extend(alphabet.get((r % len) as usize)),
                }
            }
            for tz in [SH, BER] {
                parsed += usize::from(parse_time(&s, now, tz).is_ok());
                match split_time_prefix(&s, now, tz) {
                    Ok((_, rest)) => assert!(s.ends_with(rest), "{s:?} -> {rest:?}"),
                    Err(
                        TimeError::Past { typed, .. }
                        | TimeError::Incomplete { typed, .. }
                        | TimeError::Impossible { typed, .. }
                        | TimeError::Ambiguous { typed, .. }
                        | TimeError::OutOfRange { typed },
                    ) => {
                        // `typed` is where the input starts, and the rest follows it.
                        let read: String = normalise(s.trim_start()).into_iter().collect();
                        assert!(read.starts_with(&typed), "{s:?} -> {typed:?}");
                        assert!(s.ends_with(after_typed(&s, &typed)), "{s:?}");
                    }
                    Err(_) => {}
                }
            }
        }
        assert!(parsed > 0);
    }
}
