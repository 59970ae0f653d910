//! Meeting texts, proactive (announcements, reminders) and replies. Leave reasons and the
//! names of absentees appear only in texts meant for the committee or the secretary.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::{
    domain::{
        Branch, Language, Member,
        meeting::{Attendance, Intent, Meeting, MeetingKind, Outcome, Standing, Summary},
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
            Language::Zh => "签到码不对，请核对后重发「签到 签到码」。".to_owned(),
            Language::En => "Wrong check-in code; send \"checkin <code>\" again.".to_owned(),
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
                    "Too many wrong codes for meeting #{no}. Try again in {wait}: \"checkin #{no} <code>\"."
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

/// `台账 <期间>` with a period it cannot read: the forms it reads, written with today's values.
pub fn ledger_period_unreadable(branch: &Branch, raw: &str, today: NaiveDate) -> String {
    // The echo is for recognition only; a pasted paragraph is not repeated in full.
    let mut shown: String = raw.chars().take(20).collect();
    if raw.chars().count() > 20 {
        shown.push('…');
    }
    let (y, m) = (today.year(), today.month());
    let q = (m - 1) / 3 + 1;
    match branch.language {
        Language::Zh => {
            let q_cn = ["一", "二", "三", "四"][(q - 1) as usize];
            format!(
                "无法识别台账期间「{shown}」。可以这样写：台账 本月、台账 上月、台账 {m}月、\
                 台账 第{q_cn}季度、台账 {y}年{m}月、台账 {y}Q{q}、台账 今年、台账 {y}。\
                 只发「台账」即本季度。"
            )
        }
        Language::En => format!(
            "Cannot read the ledger period \"{shown}\". Forms: ledger this-month, ledger \
             last-month, ledger Q{q}, ledger {y}-Q{q}, ledger {y}-{m:02}, ledger this-year, \
             ledger {y}. Plain \"ledger\" is this quarter."
        ),
    }
}

/// `台账`: the period's ledger as counts and statuses (no names: it may be read in a group).
/// Units over before the branch began are left out of each rule's line, and one note says
/// from when the branch is judged.
pub fn ledger_summary(branch: &Branch, ledger: &crate::domain::ledger::Ledger) -> String {
    use crate::domain::ledger::UnitStatus;
    let lang = branch.language;
    let english = |s: UnitStatus| match s {
        UnitStatus::Met => "met",
        UnitStatus::Missed => "missed",
        UnitStatus::Due => "due",
        UnitStatus::AtRisk => "at risk",
        UnitStatus::Upcoming => "upcoming",
        UnitStatus::BeforeBranch => "before the branch began",
    };
    let mut lines = vec![match lang {
        Language::Zh => format!("{}「三会一课」台账：", ledger.period.label_zh()),
        Language::En => format!("Ledger for {}:", ledger.period.label()),
    }];
    let before = |u: &&crate::domain::ledger::UnitLedger| u.status == UnitStatus::BeforeBranch;
    if let Some(since) = ledger.branch_since
        && ledger
            .rules
            .iter()
            .flat_map(|r| &r.units)
            .any(|u| before(&u))
    {
        let day = since.with_timezone(&ledger.timezone).date_naive();
        lines.push(match lang {
            Language::Zh => format!(
                "（支部自 {}年{}月{}日 起使用本系统，此前的月份支部尚未成立，不作要求）",
                day.year(),
                day.month(),
                day.day()
            ),
            Language::En => format!(
                "(The branch began here on {day}; earlier months are not counted as missed.)"
            ),
        });
    }
    for rule in &ledger.rules {
        let mut units: Vec<String> = rule
            .units
            .iter()
            .filter(|u| !before(u))
            .map(|u| match lang {
                Language::Zh => format!("{} {}", u.unit.label_zh(), u.status.label_zh()),
                Language::En => format!("{} {}", u.unit.label(), english(u.status)),
            })
            .collect();
        if units.is_empty() {
            units.push(match lang {
                Language::Zh => UnitStatus::BeforeBranch.label_zh().to_owned(),
                Language::En => english(UnitStatus::BeforeBranch).to_owned(),
            });
        }
        let (kind, min) = (rule.kind.label(lang), rule.min);
        lines.push(match lang {
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
    lines.push(match lang {
        Language::Zh => format!("本期已开会议 {held} 次，平均出勤率 {average:.0}%。明细可由管理员导出（CSV / XLSX）。"),
        Language::En => format!("{held} meetings held, average attendance {average:.0}%. Admins can export the detail (CSV / XLSX)."),
    });
    lines.join("\n")
}

/// `签到状态`: the sender's own record at the meetings nearest to now (from
/// [`Services::checkin_status`](crate::service::Services::checkin_status)), the first line
/// saying whose record and how many meetings; then a next step for the nearest meeting still
/// unanswered, with its number.
pub fn own_records(
    branch: &Branch,
    member: &Member,
    records: &[(Meeting, Attendance)],
    now: DateTime<Utc>,
) -> String {
    let (lang, name) = (branch.language, &member.name);
    if records.is_empty() {
        let days = crate::store::meetings::RECENT_ENDED.as_secs() / 86_400;
        return match lang {
            Language::Zh => format!(
                "{name}的签到记录：近 {days} 天和今后都没有需要你参加的会议。发送「会议」查看安排。"
            ),
            Language::En => format!(
                "{name}'s attendance: no meetings for you in the last {days} days or ahead. Send \"meetings\" for the schedule."
            ),
        };
    }
    let n = records.len();
    let mut lines = vec![match lang {
        Language::Zh => format!("{name}的签到记录（最近 {n} 场）："),
        Language::En => format!("{name}'s attendance (nearest {n} meetings):"),
    }];
    let mut unanswered = None;
    for (m, record) in records {
        let standing = Standing::of(m, record, now);
        if unanswered.is_none() && standing == Standing::Ahead(Intent::Unanswered) {
            unanswered = Some(m.no);
        }
        lines.push(own_record(branch, m, standing));
    }
    if let Some(no) = unanswered {
        lines.push(match lang {
            Language::Zh => {
                format!("会议 #{no} 尚未回复：发送「参加 #{no}」或「请假 #{no} 原因」。")
            }
            Language::En => format!(
                "Meeting #{no} is unanswered: send \"rsvp #{no}\" or \"leave #{no} reason\"."
            ),
        });
    }
    lines.join("\n")
}

/// One line of `签到状态`: a past meeting as 准时 / 迟到 / 请假 / 缺席, one under way or ahead as
/// what the member has done so far.
fn own_record(branch: &Branch, m: &Meeting, standing: Standing) -> String {
    let lang = branch.language;
    let (no, kind, at) = (m.no, m.kind.label(lang), when(branch, m.starts_at));
    let status = match (lang, standing) {
        (Language::Zh, Standing::Over(o)) => match o {
            Outcome::Present => "准时",
            Outcome::Late => "迟到",
            Outcome::Excused => "请假",
            Outcome::Absent => "缺席",
        },
        (Language::En, Standing::Over(o)) => match o {
            Outcome::Present => "on time",
            Outcome::Late => "late",
            Outcome::Excused => "on leave",
            Outcome::Absent => "absent",
        },
        (Language::Zh, Standing::UnderWay(o)) => match o {
            Some(Outcome::Present) => "进行中，已签到（准时）",
            Some(Outcome::Late) => "进行中，已签到（迟到）",
            Some(Outcome::Excused) => "进行中，已请假",
            Some(Outcome::Absent) | None => "进行中，未签到",
        },
        (Language::En, Standing::UnderWay(o)) => match o {
            Some(Outcome::Present) => "under way, checked in (on time)",
            Some(Outcome::Late) => "under way, checked in (late)",
            Some(Outcome::Excused) => "under way, on leave",
            Some(Outcome::Absent) | None => "under way, not checked in",
        },
        (Language::Zh, Standing::Ahead(i)) => match i {
            Intent::CheckedIn => "已签到（准时）",
            Intent::Excused => "已请假",
            Intent::LeaveRefused => "请假已被驳回，请参加",
            Intent::Attending => "已报名",
            Intent::Unanswered => "未回复",
        },
        (Language::En, Standing::Ahead(i)) => match i {
            Intent::CheckedIn => "checked in (on time)",
            Intent::Excused => "on leave",
            Intent::LeaveRefused => "leave refused, please attend",
            Intent::Attending => "attending",
            Intent::Unanswered => "not answered",
        },
    };
    let colon = if lang == Language::Zh { "：" } else { ": " };
    format!("#{no} {kind} {at}{colon}{status}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        BranchId, TimingOverrides,
        ledger::{
            Cadence, LedgerRules, Period, Rule, ledger,
            tests::{SHANGHAI, local, meeting, member, summary},
        },
        meeting::{Leave, MeetingStatus},
    };

    fn branch(language: Language) -> Branch {
        Branch {
            id: BranchId::parse("b1").unwrap(),
            name: "星光支部".to_owned(),
            timezone: SHANGHAI,
            language,
            created_at: local(2026, 5, 15, 10, 0),
            timing: TimingOverrides::default(),
            committee_chat: None,
            calendar_token: None,
        }
    }

    #[test]
    fn an_unreadable_period_is_answered_with_forms_in_todays_values() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        let zh = ledger_period_unreadable(&branch(Language::Zh), "下下月", today);
        assert!(zh.starts_with("无法识别台账期间「下下月」"), "{zh}");
        for form in [
            "台账 11月",
            "台账 第四季度",
            "台账 2026年11月",
            "台账 2026Q4",
            "台账 2026",
        ] {
            assert!(zh.contains(form), "{form}: {zh}");
        }
        let en = ledger_period_unreadable(&branch(Language::En), "soon", today);
        assert!(
            en.contains("ledger 2026-Q4") && en.contains("ledger 2026-11"),
            "{en}"
        );
        for text in [&zh, &en] {
            assert!(!text.contains('<'), "no placeholders: {text}");
        }
        // Every form it offers reads back.
        for form in [
            "本月",
            "上月",
            "11月",
            "第四季度",
            "2026年11月",
            "2026Q4",
            "今年",
            "2026",
        ] {
            assert!(Period::parse_spoken(form, today).is_some(), "{form}");
        }
        let long = ledger_period_unreadable(&branch(Language::Zh), &"很".repeat(100), today);
        assert!(long.contains("很很…」"), "{long}");
    }

    #[test]
    fn the_ledger_summary_leaves_out_the_months_before_the_branch() {
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
            ],
            ..LedgerRules::default()
        };
        let held = [(
            meeting(
                1,
                MeetingKind::Committee,
                local(2026, 6, 3, 19, 0),
                MeetingStatus::Ended,
            ),
            summary(&[("a", Outcome::Present)]),
        )];
        let b = branch(Language::Zh);
        let q2 = ledger(
            &rules,
            Period::Quarter(2026, 2),
            SHANGHAI,
            &held,
            &[member("a", "张三")],
            local(2026, 7, 2, 9, 0),
        )
        .since(b.created_at);
        let text = ledger_summary(&b, &q2);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "2026年第2季度「三会一课」台账：");
        assert!(lines[1].contains("2026年5月15日"), "{text}");
        assert_eq!(
            lines[2],
            "· 支委会（每月≥1次）：2026年5月 未完成；2026年6月 已完成"
        );
        assert!(!text.contains("2026年4月"), "{text}");

        let q1 = ledger(
            &rules,
            Period::Quarter(2026, 1),
            SHANGHAI,
            &held,
            &[],
            local(2026, 7, 2, 9, 0),
        )
        .since(b.created_at);
        let text = ledger_summary(&b, &q1);
        assert!(
            text.contains("· 支委会（每月≥1次）：支部尚未成立") && !text.contains("未完成；"),
            "{text}"
        );
        // Without units before the branch there is no note.
        let q3 = ledger(
            &rules,
            Period::Quarter(2026, 3),
            SHANGHAI,
            &held,
            &[],
            local(2026, 7, 2, 9, 0),
        )
        .since(b.created_at);
        assert!(!ledger_summary(&b, &q3).contains("尚未成立"));
    }

    #[test]
    fn own_records_say_whose_how_many_and_each_state() {
        let b = branch(Language::Zh);
        let now = local(2026, 12, 10, 12, 0);
        let past = |no: u64, day: u32| {
            meeting(
                no,
                MeetingKind::Group,
                local(2026, 12, day, 19, 0),
                MeetingStatus::Ended,
            )
        };
        let checked = |m: &Meeting, minutes: i64| Attendance {
            checked_in_at: Some(m.starts_at + chrono::Duration::minutes(minutes)),
            ..Attendance::default()
        };
        let (m1, m2, m3, m4) = (past(1, 1), past(2, 2), past(3, 3), past(4, 4));
        let m5 = meeting(
            5,
            MeetingKind::Group,
            local(2026, 12, 20, 19, 0),
            MeetingStatus::Scheduled,
        );
        let records = vec![
            (m1.clone(), checked(&m1, -5)),
            (m2.clone(), checked(&m2, 10)),
            (
                m3,
                Attendance {
                    leave: Some(Leave {
                        reason: "出差".to_owned(),
                        at: now,
                        refused: false,
                    }),
                    ..Attendance::default()
                },
            ),
            (m4, Attendance::default()),
            (m5, Attendance::default()),
        ];
        let text = own_records(&b, &member("a", "张三"), &records, now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "张三的签到记录（最近 5 场）：");
        for (line, state) in lines[1..6]
            .iter()
            .zip(["准时", "迟到", "请假", "缺席", "未回复"])
        {
            assert!(line.ends_with(&format!("：{state}")), "{line}");
        }
        assert_eq!(
            lines[6],
            "会议 #5 尚未回复：发送「参加 #5」或「请假 #5 原因」。"
        );
        assert!(!text.contains("出差"), "no leave reason: {text}");

        let none = own_records(&b, &member("a", "张三"), &[], now);
        assert!(none.starts_with("张三的签到记录：近 90 天"), "{none}");
        let en = own_records(&branch(Language::En), &member("a", "Zhang"), &records, now);
        assert!(
            en.starts_with("Zhang's attendance (nearest 5 meetings):") && en.contains(": absent"),
            "{en}"
        );
    }
}
