//! The meeting commands: argument parsing (`#n`, Chinese times, lengths, links) and replies.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{
    command::{CommandKey, CommandSpec, number},
    reply::{
        self,
        meetings::{self as texts, MissingText, TimeSlot, example},
    },
    time::{self, TimeError},
};
use crate::{
    domain::{
        Branch, Language, Member,
        ledger::{Cadence, Period},
        meeting::{self, MeetingKind},
    },
    platform::InboundEvent,
    service::{ServiceError, Services, meetings::NewMeeting},
};

/// `签到 [#n] [签到码]`: a `#n` picks the meeting; any other word is the code (trimmed; empty
/// is none).
pub fn checkin_args(args: &str) -> (Option<u64>, Option<&str>) {
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    let first = words.next();
    // `签到4` reads as `签到 #4`: a bare number under 1000 is a meeting's number, since check-in
    // codes have four characters or more (`开始签到` refuses shorter ones).
    let as_no = |w: &str| match w.strip_prefix('#') {
        Some(digits) => number(digits),
        None if w.len() <= 3 => number(w),
        None => None,
    };
    let (no, code) = match first.and_then(as_no) {
        Some(no) => (Some(no), words.next()),
        None => (None, first),
    };
    (no, code.map(str::trim).filter(|c| !c.is_empty()))
}

/// `90分钟`, `2小时`, `1.5小时`, `90m`, `2h`.
fn length(token: &str) -> Option<Duration> {
    // The topic before it is kept as typed, so a full-width `９０分钟` is folded here.
    let t = super::command::normalize(token).to_lowercase();
    let (num, minutes_per) = if let Some(n) = t
        .strip_suffix("分钟")
        .or_else(|| t.strip_suffix("min"))
        .or_else(|| t.strip_suffix('m'))
    {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("小时").or_else(|| t.strip_suffix('h')) {
        (n, 60.0)
    } else {
        return None;
    };
    let value: f64 = num.parse().ok()?;
    let minutes = value * minutes_per;
    (minutes.is_finite() && (1.0..=1440.0).contains(&minutes))
        .then(|| Duration::from_secs((minutes * 60.0).round() as u64))
}

/// The command word people are shown in examples, in the branch's language.
fn command_word(lang: Language, spec: &CommandSpec) -> &'static str {
    let words = match lang {
        Language::Zh => spec.zh,
        Language::En => spec.en,
    };
    words.first().copied().unwrap_or_default()
}

/// The text a time error names as typed, if it names one.
fn typed(e: &TimeError) -> Option<&str> {
    match e {
        TimeError::Impossible { typed, .. }
        | TimeError::Past { typed, .. }
        | TimeError::Incomplete { typed, .. }
        | TimeError::Ambiguous { typed, .. }
        | TimeError::OutOfRange { typed } => Some(typed),
        TimeError::Empty | TimeError::Unrecognised(_) => None,
    }
}

/// `新建会议 <kind> <rest>` whose time could not be read: the fix with the sender's words.
fn new_meeting_time_error(
    lang: Language,
    tz: Tz,
    now: DateTime<Utc>,
    before: &str,
    rest: &str,
    e: &TimeError,
) -> String {
    let words: Vec<&str> = rest.split(' ').filter(|w| !w.is_empty()).collect();
    match e {
        TimeError::Unrecognised(_) => {
            // The time typed after the topic: show it moved to its place.
            for i in 1..words.len() {
                let tail = words.get(i..).unwrap_or_default().join(" ");
                if let Ok((_, after)) = time::split_time_prefix(&tail, now, tz) {
                    let when = tail
                        .get(..tail.len().saturating_sub(after.len()))
                        .unwrap_or_default();
                    let topic = words.get(..i).unwrap_or_default().join(" ");
                    return texts::time_first(lang, &example(&[before, when, &topic, after]));
                }
            }
            let first = words.first().copied().unwrap_or_default();
            let slot = TimeSlot {
                before,
                after: rest,
            };
            texts::time_error(lang, tz, now, first, e, &slot)
        }
        TimeError::Empty => {
            let slot = TimeSlot {
                before,
                after: texts::sample_topic(lang),
            };
            texts::time_error(lang, tz, now, "", e, &slot)
        }
        _ => {
            let typed = typed(e).unwrap_or_default();
            let slot = TimeSlot {
                before,
                after: time::after_typed(rest, typed),
            };
            texts::time_error(lang, tz, now, typed, e, &slot)
        }
    }
}

/// A command with its `#n` and nothing after it: the fix with a sample of what is missing.
fn missing_text(lang: Language, word: &str, no: u64, what: MissingText) -> String {
    let fixed = example(&[word, &format!("#{no}"), texts::sample_text(lang, what)]);
    texts::missing_text(lang, what, &fixed)
}

/// Runs a meeting command for an identified member of a bound branch.
pub(super) async fn run(
    services: &Services,
    event: &InboundEvent,
    branch: &Branch,
    member: &Member,
    spec: &'static CommandSpec,
    args: &str,
) -> Result<String, ServiceError> {
    let lang = branch.language;
    let usage = || reply::usage_error(lang, spec, args);
    let now = services.clock.now();
    let tz = branch.timezone;
    let word = command_word(lang, spec);
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    // The number of the next meeting, to show in an example when the `#n` is missing.
    let missing_no = |rest: &str| {
        // A mistyped number (`#七`) is replaced, not repeated.
        let rest = match rest.split_once(' ') {
            Some((first, tail)) if first.starts_with('#') => tail.to_owned(),
            _ if rest.starts_with('#') => String::new(),
            _ => rest.to_owned(),
        };
        async move {
            let next = services.upcoming_meetings(&branch.id).await?;
            let no = next.first().map_or(1, |m| m.no);
            Ok::<_, ServiceError>(texts::missing_no(
                lang,
                &example(&[word, &format!("#{no}"), &rest]),
            ))
        }
    };
    Ok(match spec.key {
        CommandKey::NewMeeting => {
            let first = words.next().unwrap_or_default();
            let rest = args.split_once(' ').map_or("", |(_, r)| r).trim();
            let Some(kind) = MeetingKind::parse(first) else {
                // A first word that is (the start of) a time means the kind was left out.
                let time_first = match time::split_time_prefix(args, now, tz) {
                    Ok(_) => true,
                    Err(e) => typed(&e).is_some_and(|t| t.chars().count() >= first.chars().count()),
                };
                return Ok(if time_first {
                    texts::missing_kind(lang, word, args)
                } else {
                    texts::unknown_kind(lang, word, first, rest, tz, now)
                });
            };
            let before = format!("{word} {first}");
            let (starts_at, after) = match time::split_time_prefix(rest, now, tz) {
                Ok(found) => found,
                Err(e) => {
                    return Ok(new_meeting_time_error(lang, tz, now, &before, rest, &e));
                }
            };
            let when = rest
                .get(..rest.len().saturating_sub(after.len()))
                .unwrap_or_default();
            let rest = after;
            let mut topic: Vec<&str> = rest.split(' ').filter(|w| !w.is_empty()).collect();
            let mut link = None;
            let mut duration = None;
            while let Some(last) = topic.last().copied() {
                if link.is_none() && (last.starts_with("http://") || last.starts_with("https://")) {
                    link = Some(last.to_owned());
                } else if duration.is_none()
                    && let Some(d) = length(last)
                {
                    duration = Some(d);
                } else {
                    break;
                }
                topic.pop();
            }
            if topic.is_empty() {
                let fixed = example(&[&before, when, texts::sample_topic(lang), rest]);
                return Ok(texts::missing_topic(lang, &fixed));
            }
            let input = NewMeeting {
                kind,
                starts_at,
                topic: topic.join(" "),
                duration,
                link,
            };
            let origin = event.origin();
            let created = services
                .create_meeting(branch, &member.id, input, Some(&origin))
                .await?;
            texts::created(branch, &created)
        }
        CommandKey::Meetings => match words.next() {
            None => texts::list(branch, &services.upcoming_meetings(&branch.id).await?),
            Some(token) => {
                let Some(no) = number(token) else {
                    return Ok(usage());
                };
                let view = services.meeting_view(&branch.id, no).await?;
                let rsvps = view.attendance.values().filter(|a| a.rsvp).count();
                let leaves = view.attendance.values().filter(|a| a.excused()).count();
                let waiting =
                    meeting::not_yet_answered(&view.meeting, &view.members, &view.attendance).len();
                texts::show(branch, &view.meeting, rsvps, leaves, waiting)
            }
        },
        CommandKey::Rsvp => {
            let Some(no) = words.next().and_then(number) else {
                return missing_no("").await;
            };
            texts::rsvp_ok(branch, &services.rsvp(&branch.id, no, member).await?)
        }
        CommandKey::Leave => {
            let Some(no) = words.next().and_then(number) else {
                return missing_no(args).await;
            };
            let reason = words.collect::<Vec<_>>().join(" ");
            if reason.is_empty() {
                return Ok(missing_text(lang, word, no, MissingText::Reason));
            }
            let origin = event.origin();
            texts::leave_ok(
                branch,
                &services
                    .ask_leave(branch, no, member, &reason, &origin)
                    .await?,
            )
        }
        CommandKey::RefuseLeave => {
            let Some(no) = words.next().and_then(number) else {
                return missing_no(args).await;
            };
            let name = words.collect::<Vec<_>>().join(" ");
            if name.is_empty() {
                return Ok(missing_text(lang, word, no, MissingText::Name));
            }
            let origin = event.origin();
            let (m, _) = services.refuse_leave(branch, no, &name, &origin).await?;
            texts::refused_ok(branch, &m)
        }
        CommandKey::Reschedule => {
            let Some(no) = words.next().and_then(number) else {
                return missing_no(args).await;
            };
            let when = words.collect::<Vec<_>>().join(" ");
            let before = format!("{word} #{no}");
            let starts_at = match time::parse_time(&when, now, tz) {
                Ok(t) => t,
                Err(e @ TimeError::Unrecognised(_)) => {
                    // A time followed by more: show the command without the extra words.
                    if let Ok((_, extra)) = time::split_time_prefix(&when, now, tz) {
                        let at = when
                            .get(..when.len().saturating_sub(extra.len()))
                            .unwrap_or_default();
                        return Ok(texts::time_then_extra(
                            lang,
                            extra,
                            &example(&[&before, at]),
                        ));
                    }
                    let slot = TimeSlot {
                        before: &before,
                        after: "",
                    };
                    return Ok(texts::time_error(lang, tz, now, &when, &e, &slot));
                }
                Err(e) => {
                    let slot = TimeSlot {
                        before: &before,
                        after: "",
                    };
                    let typed = typed(&e).unwrap_or(&when);
                    return Ok(texts::time_error(lang, tz, now, typed, &e, &slot));
                }
            };
            texts::rescheduled_ok(branch, &services.reschedule(branch, no, starts_at).await?)
        }
        CommandKey::CancelMeeting => {
            let Some(no) = words.next().and_then(number) else {
                return missing_no("").await;
            };
            let origin = event.origin();
            texts::cancelled_ok(
                branch,
                &services.cancel_meeting(branch, no, Some(&origin)).await?,
            )
        }
        CommandKey::OpenCheckin => {
            let Some(no) = words.next().and_then(number) else {
                return missing_no(args).await;
            };
            let mut rest: Vec<&str> = words.collect();
            let minutes = match rest.first().and_then(|w| w.parse::<u32>().ok()) {
                Some(m) => {
                    rest.remove(0);
                    Some(m)
                }
                None => None,
            };
            let code = rest.first().copied();
            if rest.len() > 1 {
                return Ok(texts::open_checkin_form(lang, word, no));
            }
            let m = services.open_checkin(branch, no, minutes, code).await?;
            texts::checkin_opened(branch, &m, code)
        }
        CommandKey::CheckIn => {
            let (no, code) = checkin_args(args);
            let outcome = services
                .check_in(branch, &event.chat, member, no, code)
                .await?;
            texts::checkin(&outcome)
        }
        CommandKey::EndMeeting => {
            let Some(no) = words.next().and_then(number) else {
                return missing_no("").await;
            };
            let origin = event.origin();
            let (m, summary) = services.end_meeting(branch, no, Some(&origin)).await?;
            texts::ended(branch, &m, &summary)
        }
        CommandKey::Minutes => {
            let Some(no) = words.next().and_then(number) else {
                return missing_no(args).await;
            };
            let text = words.collect::<Vec<_>>().join(" ");
            if text.is_empty() {
                return Ok(missing_text(lang, word, no, MissingText::Minutes));
            }
            let origin = event.origin();
            texts::minutes_ok(
                branch,
                &services
                    .add_minutes(&branch.id, no, member, &text, Some(&origin))
                    .await?,
            )
        }
        CommandKey::CheckinStatus => {
            let records = services.checkin_status(&branch.id, member).await?;
            texts::own_records(branch, member, &records, now)
        }
        CommandKey::Ledger => {
            let raw = args.trim();
            let period = if raw.is_empty() {
                Period::current(Cadence::Quarterly, now, branch.timezone)
            } else {
                let today = now.with_timezone(&branch.timezone).date_naive();
                match Period::parse_spoken(raw, today) {
                    Some(p) => p,
                    None => return Ok(texts::ledger_period_unreadable(branch, raw, today)),
                }
            };
            texts::ledger_summary(branch, &services.ledger(branch, period).await?)
        }
        _ => usage(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_lengths_read_as_people_type_them() {
        assert_eq!(number("#3"), Some(3));
        assert_eq!(number("12"), Some(12));
        assert_eq!(number("#"), None);
        assert_eq!(number("#1e3"), None);
        assert_eq!(number("#9999999999"), None);
        assert_eq!(length("90分钟"), Some(Duration::from_secs(5400)));
        assert_eq!(length("1.5小时"), Some(Duration::from_secs(5400)));
        assert_eq!(length("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(length("0分钟"), None);
        assert_eq!(length("学习"), None);
    }
}
