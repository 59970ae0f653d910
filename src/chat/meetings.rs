//! The meeting commands: argument parsing (`#n`, Chinese times, lengths, links) and replies.

use std::time::Duration;

use super::{
    command::{CommandKey, CommandSpec, number},
    reply::{self, meetings as texts},
    time::{self, ACCEPTED_FORMS_EN, ACCEPTED_FORMS_ZH, TimeError},
};
use crate::{
    domain::{
        Branch, Language, Member,
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

fn time_error(lang: Language, input: &str, e: &TimeError) -> String {
    let what = match (lang, e) {
        (Language::Zh, TimeError::Past) => format!("时间「{input}」已经过去"),
        (Language::Zh, TimeError::Impossible(_)) => format!("时间「{input}」不存在"),
        (Language::Zh, TimeError::Ambiguous(_)) => {
            format!("时间「{input}」有歧义（请写明日期和上午/下午）")
        }
        (Language::Zh, _) => format!("无法识别时间「{input}」"),
        (Language::En, TimeError::Past) => format!("\"{input}\" is in the past"),
        (Language::En, TimeError::Impossible(_)) => format!("\"{input}\" does not exist"),
        (Language::En, TimeError::Ambiguous(_)) => format!("\"{input}\" is ambiguous"),
        (Language::En, _) => format!("\"{input}\" is not a time I can read"),
    };
    match lang {
        Language::Zh => format!("{what}。{ACCEPTED_FORMS_ZH}"),
        Language::En => format!("{what}. {ACCEPTED_FORMS_EN}"),
    }
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
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    Ok(match spec.key {
        CommandKey::NewMeeting => {
            let Some(kind) = words.next().and_then(MeetingKind::parse) else {
                let kinds: Vec<&str> = MeetingKind::ALL.iter().map(|k| k.label(lang)).collect();
                return Ok(format!("{}\n{}", usage(), kinds.join("、")));
            };
            let rest = args.split_once(' ').map_or("", |(_, r)| r).trim();
            let (starts_at, rest) = match time::split_time_prefix(rest, now, branch.timezone) {
                Ok(found) => found,
                Err(e) => {
                    return Ok(time_error(
                        lang,
                        rest.split(' ')
                            .take(2)
                            .collect::<Vec<_>>()
                            .join(" ")
                            .as_str(),
                        &e,
                    ));
                }
            };
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
                return Ok(usage());
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
                return Ok(usage());
            };
            texts::rsvp_ok(branch, &services.rsvp(&branch.id, no, member).await?)
        }
        CommandKey::Leave => {
            let Some(no) = words.next().and_then(number) else {
                return Ok(usage());
            };
            let reason = words.collect::<Vec<_>>().join(" ");
            if reason.is_empty() {
                return Ok(usage());
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
                return Ok(usage());
            };
            let name = words.collect::<Vec<_>>().join(" ");
            if name.is_empty() {
                return Ok(usage());
            }
            let origin = event.origin();
            let (m, _) = services.refuse_leave(branch, no, &name, &origin).await?;
            texts::refused_ok(branch, &m)
        }
        CommandKey::Reschedule => {
            let Some(no) = words.next().and_then(number) else {
                return Ok(usage());
            };
            let when = words.collect::<Vec<_>>().join(" ");
            let starts_at = match time::parse_time(&when, now, branch.timezone) {
                Ok(t) => t,
                Err(e) => return Ok(time_error(lang, &when, &e)),
            };
            texts::changed_ok(branch, &services.reschedule(branch, no, starts_at).await?)
        }
        CommandKey::CancelMeeting => {
            let Some(no) = words.next().and_then(number) else {
                return Ok(usage());
            };
            let origin = event.origin();
            texts::changed_ok(
                branch,
                &services.cancel_meeting(branch, no, Some(&origin)).await?,
            )
        }
        CommandKey::OpenCheckin => {
            let Some(no) = words.next().and_then(number) else {
                return Ok(usage());
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
                return Ok(usage());
            }
            let m = services.open_checkin(branch, no, minutes, code).await?;
            let until = m
                .checkin
                .as_ref()
                .map_or_else(String::new, |w| crate::texts::when(branch, w.closes_at));
            texts::checkin_opened(branch, no, &until, code)
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
                return Ok(usage());
            };
            let origin = event.origin();
            let (m, summary) = services.end_meeting(branch, no, Some(&origin)).await?;
            texts::ended(branch, &m, &summary)
        }
        CommandKey::Minutes => {
            let Some(no) = words.next().and_then(number) else {
                return Ok(usage());
            };
            let text = words.collect::<Vec<_>>().join(" ");
            if text.is_empty() {
                return Ok(usage());
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
            let lines: Vec<String> = services
                .checkin_status(&branch.id, member)
                .await?
                .iter()
                .map(|(m, record)| texts::own_record(branch, m, record))
                .collect();
            if lines.is_empty() {
                match lang {
                    Language::Zh => "近期没有你需要参加的会议。".to_owned(),
                    Language::En => "No recent meetings for you.".to_owned(),
                }
            } else {
                lines.join("\n")
            }
        }
        CommandKey::Ledger => {
            let period = match words.next() {
                Some(p) => match crate::domain::ledger::Period::parse(p) {
                    Ok(p) => p,
                    Err(_) => return Ok(usage()),
                },
                None => crate::domain::ledger::Period::current(
                    crate::domain::ledger::Cadence::Quarterly,
                    now,
                    branch.timezone,
                ),
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
