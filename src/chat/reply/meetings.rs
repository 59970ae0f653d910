//! Meeting texts, proactive (announcements, reminders) and replies. Leave reasons and the
//! names of absentees appear only in texts meant for the committee or the secretary.

use crate::{
    domain::{
        Branch, Language,
        meeting::{Meeting, MeetingKind, Summary},
    },
    service::meetings::{CheckinOutcome, CheckinResult},
};

use crate::texts::{announcement, title, title_of, when, when_in};

/// Reply: created (the group was told separately).
pub fn created(branch: &Branch, m: &Meeting) -> String {
    let (t, at, no) = (title(branch, m), when(branch, m.starts_at), m.no);
    match branch.language {
        Language::Zh => format!(
            "已创建{t}，{at}，已通知各群。改期发送「改期 #{no} <时间>」，取消发送「取消会议 #{no}」。"
        ),
        Language::En => format!(
            "Created {t}, {at}; every chat was told. \"reschedule #{no} <time>\" or \"cancel-meeting #{no}\" to change it."
        ),
    }
}

/// Reply: upcoming meetings.
pub fn list(branch: &Branch, meetings: &[Meeting]) -> String {
    if meetings.is_empty() {
        return match branch.language {
            Language::Zh => {
                "暂无安排的会议。书记、支委可发送「新建会议 <类型> <时间> <主题>」。".to_owned()
            }
            Language::En => {
                "No meetings planned. The committee can send \"new-meeting <kind> <time> <topic>\"."
                    .to_owned()
            }
        };
    }
    let mut lines = vec![match branch.language {
        Language::Zh => "近期会议：".to_owned(),
        Language::En => "Coming meetings:".to_owned(),
    }];
    for m in meetings.iter().take(10) {
        lines.push(format!(
            "#{} {} {} {}",
            m.no,
            m.kind.label(branch.language),
            when(branch, m.starts_at),
            m.topic
        ));
    }
    lines.push(match branch.language {
        Language::Zh => "发送「会议 #编号」查看详情。".to_owned(),
        Language::En => "Send \"meetings #<no>\" for one.".to_owned(),
    });
    lines.join("\n")
}

/// Reply: one meeting with its counts (counts only: no names in a group).
pub fn show(branch: &Branch, m: &Meeting, rsvps: usize, leaves: usize, waiting: usize) -> String {
    let mut text = announcement(branch, m);
    text.push('\n');
    text.push_str(&match branch.language {
        Language::Zh => format!("报名 {rsvps} 人，请假 {leaves} 人，未回复 {waiting} 人。"),
        Language::En => format!("{rsvps} attending, {leaves} on leave, {waiting} not answered."),
    });
    text
}

/// Reply: RSVP recorded.
pub fn rsvp_ok(branch: &Branch, m: &Meeting) -> String {
    let (t, at) = (title(branch, m), when(branch, m.starts_at));
    match branch.language {
        Language::Zh => format!("已报名{t}，{at}。"),
        Language::En => format!("You are down for {t}, {at}."),
    }
}

/// Reply: leave asked (the reason is not repeated in the group).
pub fn leave_ok(branch: &Branch, m: &Meeting) -> String {
    let t = title(branch, m);
    match branch.language {
        Language::Zh => format!("已提交{t}的请假，书记会收到通知。"),
        Language::En => format!("Leave for {t} asked; the secretary is told."),
    }
}

/// Reply: leave refused (without naming whom, in case this is a group).
pub fn refused_ok(branch: &Branch, m: &Meeting) -> String {
    let t = title(branch, m);
    match branch.language {
        Language::Zh => format!("已驳回{t}的该项请假，并已私下告知本人。"),
        Language::En => format!("That leave for {t} is refused; the member was told privately."),
    }
}

/// Reply: moved or cancelled (the group was told).
pub fn changed_ok(branch: &Branch, m: &Meeting) -> String {
    let t = title(branch, m);
    match branch.language {
        Language::Zh => format!("{t}已更新，各群已通知。"),
        Language::En => format!("{t} updated; every chat was told."),
    }
}

/// The code in examples of a check-in with a code (never the meeting's own: see
/// [`checkin_opened`]).
const CODE_EXAMPLE: &str = "6666";

/// Reply: `开始签到` done. The code is never repeated: this may be read in a group while the
/// code is to be told in the room, so an example that happens to be the code is swapped.
pub fn checkin_opened(branch: &Branch, no: u64, until: &str, code: Option<&str>) -> String {
    let example = if code == Some(CODE_EXAMPLE) {
        "1234"
    } else {
        CODE_EXAMPLE
    };
    match (branch.language, code.is_some()) {
        (Language::Zh, true) => format!(
            "会议 #{no} 签到已开放，至 {until}。\n本次签到需要签到码（现场公布），例如：签到 {example}"
        ),
        (Language::Zh, false) => {
            format!("会议 #{no} 签到已开放，至 {until}。成员发送「签到」即可。")
        }
        (Language::En, true) => format!(
            "Check-in for meeting #{no} is open until {until}.\nIt needs the code announced in the room, e.g. checkin {example}"
        ),
        (Language::En, false) => {
            format!("Check-in for meeting #{no} is open until {until}. Members send \"checkin\".")
        }
    }
}

/// Reply: a check-in, from its outcome (recorded, acknowledged, or refused and why); empty
/// when the acknowledgement waits for the chat's next digest. Rendered from the outcome alone,
/// so that a retried message, answered from the stored outcome, reads the same.
pub fn checkin(o: &CheckinOutcome) -> String {
    let lang = o.lang;
    let no = o.no.unwrap_or_default();
    let name = &o.name;
    let t = || title_of(lang, no, o.kind.unwrap_or(MeetingKind::Other));
    match o.r {
        CheckinResult::Recorded if o.digest => String::new(),
        CheckinResult::Recorded => match (lang, o.late) {
            (Language::Zh, false) => format!("{name} 签到成功：{}。", t()),
            (Language::Zh, true) => format!("{name} 已签到（迟到）：{}。", t()),
            (Language::En, false) => format!("{name} checked in: {}.", t()),
            (Language::En, true) => format!("{name} checked in (late): {}.", t()),
        },
        CheckinResult::Already => match lang {
            Language::Zh => format!("{name} 已签到过{}，不重复计。", t()),
            Language::En => format!("{name} had checked in to {} already.", t()),
        },
        CheckinResult::NotFound => {
            super::service_error(lang, &crate::service::ServiceError::MeetingNotFound(no))
        }
        CheckinResult::MeetingClosed => {
            super::service_error(lang, &crate::service::ServiceError::MeetingClosed(no))
        }
        CheckinResult::NoneOpen => match lang {
            Language::Zh => {
                "当前没有开放签到的会议。签到在会前 15 分钟开放；发送「会议」查看安排。".to_owned()
            }
            Language::En => {
                "No meeting is open for check-in now. Send \"meetings\" for the schedule."
                    .to_owned()
            }
        },
        CheckinResult::Several => {
            let list = o
                .nos
                .iter()
                .map(|n| format!("#{n}"))
                .collect::<Vec<_>>()
                .join("、");
            match lang {
                Language::Zh => format!("有多个会议正在签到：{list}。请发送「签到 #编号」。"),
                Language::En => {
                    format!("Several meetings are open: {list}. Send \"checkin #<no>\".")
                }
            }
        }
        CheckinResult::NotOpen => {
            let at = o
                .opens
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|at| when_in(lang, o.tz, at))
                .unwrap_or_default();
            match lang {
                Language::Zh => format!("会议 #{no} 的签到将于 {at} 开放。"),
                Language::En => format!("Check-in for meeting #{no} opens {at}."),
            }
        }
        CheckinResult::Closed => match lang {
            Language::Zh => format!("会议 #{no} 的签到已结束。"),
            Language::En => format!("Check-in for meeting #{no} has closed."),
        },
        CheckinResult::WrongCode => match lang {
            Language::Zh => format!(
                "签到码不对：会议 #{no} 未签到。请核对现场公布的签到码后重发，例如：签到 {CODE_EXAMPLE}"
            ),
            Language::En => format!(
                "Wrong check-in code: not checked in to meeting #{no}. Check the code announced in the room and send it again, e.g. checkin {CODE_EXAMPLE}"
            ),
        },
        CheckinResult::CodeNeeded => match lang {
            Language::Zh => format!(
                "会议 #{no} 本次签到需要签到码（现场公布）。请发送：签到 签到码，例如：签到 {CODE_EXAMPLE}"
            ),
            Language::En => format!(
                "Check-in for meeting #{no} needs the code announced in the room. Send it after \"checkin\", e.g. checkin {CODE_EXAMPLE}"
            ),
        },
        CheckinResult::TooMany => {
            let wait = crate::texts::retry_wait(
                lang,
                std::time::Duration::from_millis(o.wait.unwrap_or_default()),
            );
            match lang {
                Language::Zh => format!(
                    "会议 #{no} 的签到码输错次数过多，请 {wait}后再试：「签到 #{no} 签到码」。"
                ),
                Language::En => format!(
                    "Too many wrong codes for meeting #{no}. Try again in {wait}: \"checkin #{no}\" and the code."
                ),
            }
        }
    }
}

/// Reply (to the group): the counts and the quorum, never names.
pub fn ended(branch: &Branch, m: &Meeting, s: &Summary) -> String {
    let t = title(branch, m);
    let (expected, attended, late, excused, absent) =
        (s.expected, s.attended(), s.late, s.excused, s.absent);
    let mut text = match branch.language {
        Language::Zh => format!(
            "{t}已结束：应到 {expected} 人，实到 {attended} 人（其中迟到 {late} 人），请假 {excused} 人，缺席 {absent} 人。"
        ),
        Language::En => format!(
            "{t} ended: {expected} expected, {attended} attended ({late} late), {excused} on leave, {absent} absent."
        ),
    };
    if let Some(q) = s.quorum {
        let (yes, of) = (q.attending, q.voters);
        text.push_str(&match (branch.language, q.met()) {
            (Language::Zh, true) => format!("\n法定人数：已达到（{yes}/{of}）。"),
            (Language::Zh, false) => {
                format!("\n法定人数：未达到（{yes}/{of}），会议决定需另行确认。")
            }
            (Language::En, true) => format!("\nQuorum: met ({yes}/{of})."),
            (Language::En, false) => {
                format!("\nQuorum: not met ({yes}/{of}); decisions need confirming.")
            }
        });
    }
    text
}

/// Reply: minutes appended.
pub fn minutes_ok(branch: &Branch, m: &Meeting) -> String {
    let (t, n) = (title(branch, m), m.minutes.len());
    match branch.language {
        Language::Zh => format!("已记入{t}的会议记录（共 {n} 条）。"),
        Language::En => format!("Added to the minutes of {t} ({n} entries)."),
    }
}

/// `台账`: the period's ledger as counts and statuses (no names: it may be read in a group).
pub fn ledger_summary(branch: &Branch, ledger: &crate::domain::ledger::Ledger) -> String {
    use crate::domain::ledger::UnitStatus;
    let english = |s: UnitStatus| match s {
        UnitStatus::Met => "met",
        UnitStatus::Missed => "missed",
        UnitStatus::Due => "due",
        UnitStatus::AtRisk => "at risk",
        UnitStatus::Upcoming => "upcoming",
    };
    let mut lines = vec![match branch.language {
        Language::Zh => format!("{}「三会一课」台账：", ledger.period.label_zh()),
        Language::En => format!("Ledger for {}:", ledger.period.label()),
    }];
    for rule in &ledger.rules {
        let units: Vec<String> = rule
            .units
            .iter()
            .map(|u| match branch.language {
                Language::Zh => format!("{} {}", u.unit.label_zh(), u.status.label_zh()),
                Language::En => format!("{} {}", u.unit.label(), english(u.status)),
            })
            .collect();
        let (kind, min) = (rule.kind.label(branch.language), rule.min);
        lines.push(match branch.language {
            Language::Zh => format!(
                "· {kind}（{}≥{min}次）：{}",
                rule.cadence.label_zh(),
                units.join("；")
            ),
            Language::En => format!(
                "· {kind} (≥{min} per {:?}): {}",
                rule.cadence,
                units.join("; ")
            ),
        });
    }
    let held = ledger.meetings.len();
    let rates: Vec<f64> = ledger.meetings.iter().filter_map(|m| m.rate).collect();
    let average = if rates.is_empty() {
        0.0
    } else {
        rates.iter().sum::<f64>() / rates.len() as f64 * 100.0
    };
    lines.push(match branch.language {
        Language::Zh => format!("本期已开会议 {held} 次，平均出勤率 {average:.0}%。明细可由管理员导出（CSV / XLSX）。"),
        Language::En => format!("{held} meetings held, average attendance {average:.0}%. Admins can export the detail (CSV / XLSX)."),
    });
    lines.join("\n")
}

/// One line of `签到状态`: the sender's own record at a meeting.
pub fn own_record(
    branch: &Branch,
    m: &Meeting,
    record: &crate::domain::meeting::Attendance,
) -> String {
    let (no, kind, at) = (
        m.no,
        m.kind.label(branch.language),
        when(branch, m.starts_at),
    );
    let status = match (branch.language, record.checked_in_at) {
        (Language::Zh, Some(t)) if t <= m.starts_at => "已签到（准时）".to_owned(),
        (Language::Zh, Some(_)) => "已签到（迟到）".to_owned(),
        (Language::En, Some(t)) if t <= m.starts_at => "checked in (on time)".to_owned(),
        (Language::En, Some(_)) => "checked in (late)".to_owned(),
        (lang, None) => match (lang, record.excused(), record.rsvp) {
            (Language::Zh, true, _) => "已请假".to_owned(),
            (Language::Zh, false, true) => "已报名，未签到".to_owned(),
            (Language::Zh, false, false) => "未回复".to_owned(),
            (Language::En, true, _) => "on leave".to_owned(),
            (Language::En, false, true) => "attending, not checked in".to_owned(),
            (Language::En, false, false) => "not answered".to_owned(),
        },
    };
    let colon = if branch.language == Language::Zh {
        "："
    } else {
        ": "
    };
    format!("#{no} {kind} {at}{colon}{status}")
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::{BranchId, TimingOverrides};

    fn branch(language: Language) -> Branch {
        Branch {
            id: BranchId::parse("xg-01").unwrap_or_else(BranchId::generate),
            name: "星光支部".to_owned(),
            timezone: chrono_tz::Asia::Shanghai,
            language,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            timing: TimingOverrides::default(),
            committee_chat: None,
            calendar_token: None,
        }
    }

    #[test]
    fn an_opened_check_in_asks_for_a_code_without_telling_it() {
        for lang in [Language::Zh, Language::En] {
            for code in ["7788", "6666"] {
                let text = checkin_opened(&branch(lang), 3, "19:45", Some(code));
                assert!(!text.contains(code), "{text}");
                assert!(text.contains("#3") && !text.contains('<'), "{text}");
            }
        }
        let text = checkin_opened(&branch(Language::Zh), 3, "19:45", Some("7788"));
        assert!(
            text.contains("本次签到需要签到码（现场公布），例如：签到 6666"),
            "{text}"
        );
        let text = checkin_opened(&branch(Language::Zh), 3, "19:45", None);
        assert!(
            text.contains("签到已开放") && !text.contains("签到码"),
            "{text}"
        );
    }

    #[test]
    fn a_check_in_without_the_code_is_told_a_code_is_needed() {
        let mut outcome = CheckinOutcome {
            lang: Language::Zh,
            tz: chrono_tz::Asia::Shanghai,
            name: "张三".to_owned(),
            no: Some(3),
            kind: None,
            r: CheckinResult::CodeNeeded,
            late: false,
            nos: Vec::new(),
            opens: None,
            wait: None,
            digest: false,
            bucket: None,
        };
        let text = checkin(&outcome);
        assert!(
            text.contains("需要签到码")
                && text.contains("例如：签到 6666")
                && !text.contains("不对"),
            "{text}"
        );
        outcome.r = CheckinResult::WrongCode;
        assert!(checkin(&outcome).starts_with("签到码不对"));
        outcome.lang = Language::En;
        for r in [
            CheckinResult::WrongCode,
            CheckinResult::CodeNeeded,
            CheckinResult::TooMany,
        ] {
            outcome.r = r;
            let text = checkin(&outcome);
            assert!(!text.contains('<'), "{text}");
        }
    }
}
