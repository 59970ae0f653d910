//! Meeting texts, proactive (announcements, reminders) and replies. Leave reasons and the
//! names of absentees appear only in texts meant for the committee or the secretary.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;

use crate::{
    chat::time::TimeError,
    domain::{
        Branch, Language, Member,
        meeting::{Attendance, Intent, Meeting, MeetingKind, Outcome, Standing, Summary},
    },
    service::meetings::{CheckinOutcome, CheckinResult},
};

use crate::texts::{announcement, title_of, when, when_in};

/// What a meeting is, after its number: `党课「党史学习」` / `party lesson "Party history"`.
fn about(branch: &Branch, m: &Meeting) -> String {
    let (kind, topic) = (m.kind.label(branch.language), &m.topic);
    match branch.language {
        Language::Zh => format!("{kind}「{topic}」"),
        Language::En => format!("{kind} \"{topic}\""),
    }
}

/// A local time written as the time parser reads it: `12月25日 19:00` / `12-25 19:00`.
fn typed_time(lang: Language, local: NaiveDateTime) -> String {
    let (m, d, h, min) = (local.month(), local.day(), local.hour(), local.minute());
    match lang {
        Language::Zh => format!("{m}月{d}日 {h}:{min:02}"),
        Language::En => format!("{m}-{d} {h}:{min:02}"),
    }
}

/// A time to put in an example: a week after `now`, at 19:00, in the branch's zone.
pub fn sample_time(lang: Language, tz: Tz, now: DateTime<Utc>) -> String {
    let day = now.with_timezone(&tz).date_naive();
    let day = day.checked_add_days(Days::new(7)).unwrap_or(day);
    typed_time(lang, day.and_hms_opt(19, 0, 0).unwrap_or_default())
}

/// The word a kind is typed with in examples (the English label has spaces).
pub fn kind_word(lang: Language, kind: MeetingKind) -> &'static str {
    match lang {
        Language::Zh => kind.label(lang),
        Language::En => match kind {
            MeetingKind::GeneralAssembly => "general",
            MeetingKind::Committee => "committee",
            MeetingKind::Group => "group",
            MeetingKind::Lesson => "lesson",
            MeetingKind::ThemeDay => "themeday",
            MeetingKind::LifeMeeting => "life",
            MeetingKind::Appraisal => "appraisal",
            MeetingKind::Other => "other",
        },
    }
}

fn kind_list(lang: Language) -> String {
    let words: Vec<&str> = MeetingKind::ALL
        .iter()
        .map(|k| kind_word(lang, *k))
        .collect();
    match lang {
        Language::Zh => words.join("、"),
        Language::En => words.join(", "),
    }
}

/// A command to send, from its parts; empty parts leave no double space.
pub fn example(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where a time was typed in a command: the command before it and what followed it, so that
/// a fix reads as the whole command to send again.
pub struct TimeSlot<'a> {
    /// `新建会议 党课`, `改期 #7`.
    pub before: &'a str,
    /// What followed the time (the topic, length, link); empty for `改期`.
    pub after: &'a str,
}

/// A time the parser refused, with the fix written in the sender's own words.
pub fn time_error(
    lang: Language,
    tz: Tz,
    now: DateTime<Utc>,
    input: &str,
    e: &TimeError,
    slot: &TimeSlot<'_>,
) -> String {
    let with = |time: &str| example(&[slot.before, time, slot.after]);
    let sample = with(&sample_time(lang, tz, now));
    match e {
        TimeError::Empty => match lang {
            Language::Zh => format!("缺少时间，例如：{sample}"),
            Language::En => format!("The time is missing; for example: {sample}"),
        },
        TimeError::Unrecognised(_) => match lang {
            Language::Zh => format!(
                "无法识别时间「{input}」，例如：{sample}\n支持的写法如 12月18日 19:00、12.18 19:00、明天 19:30、下周五晚上7点。"
            ),
            Language::En => format!(
                "\"{input}\" is not a time I can read; for example: {sample}\nForms such as 12-18 19:00, 12.18 19:00, 明天 19:30 (tomorrow), 下周五晚上7点 (next Friday 7 pm)."
            ),
        },
        TimeError::Past { typed, at } => {
            let local = at.with_timezone(&tz);
            let this_year = now.with_timezone(&tz).year() == local.year();
            let (y, m, d) = (local.year(), local.month(), local.day());
            match (lang, this_year) {
                (Language::Zh, true) => {
                    format!("{typed}（{m}月{d}日）已经过去，请给一个将来的时间。")
                }
                (Language::Zh, false) => {
                    format!("{typed}（{y}年{m}月{d}日）已经过去，请给一个将来的时间。")
                }
                (Language::En, true) => format!(
                    "{typed} ({}) has passed; please give a time ahead.",
                    local.format("%-d %b")
                ),
                (Language::En, false) => format!(
                    "{typed} ({}) has passed; please give a time ahead.",
                    local.format("%-d %b %Y")
                ),
            }
        }
        TimeError::Incomplete {
            fix,
            no_date,
            no_hour,
            ..
        } => {
            let fixed = with(fix);
            match (lang, no_date, no_hour) {
                (Language::Zh, true, true) => format!("缺少日期和几点，例如：{fixed}"),
                (Language::Zh, true, false) => format!("缺少日期，例如：{fixed}"),
                (Language::Zh, false, _) => format!("缺少几点，例如：{fixed}"),
                (Language::En, true, true) => {
                    format!("The date and the hour are missing; for example: {fixed}")
                }
                (Language::En, true, false) => {
                    format!("The date is missing; for example: {fixed}")
                }
                (Language::En, false, _) => format!("The hour is missing; for example: {fixed}"),
            }
        }
        TimeError::Ambiguous { typed, fixes } => match fixes.as_slice() {
            [early, late, ..] => {
                let (early, late) = (with(early), with(late));
                match lang {
                    Language::Zh => format!(
                        "「{typed}」是上午还是下午？请用 24 小时制，例如：{early}，或 {late}"
                    ),
                    Language::En => format!(
                        "Is \"{typed}\" morning or afternoon? Use the 24-hour clock, for example: {early}, or {late}"
                    ),
                }
            }
            _ => match lang {
                Language::Zh => format!(
                    "「{typed}」可能指午夜之后，请用 24 小时制写明日期和钟点，例如：{sample}"
                ),
                Language::En => format!(
                    "\"{typed}\" may mean after midnight; write the date and a 24-hour time, for example: {sample}"
                ),
            },
        },
        TimeError::Impossible { typed, .. } => match lang {
            Language::Zh => format!("时间「{typed}」不存在，请核对日期和钟点，例如：{sample}"),
            Language::En => format!(
                "\"{typed}\" does not exist; check the date and the hour, for example: {sample}"
            ),
        },
        TimeError::OutOfRange { typed } => match lang {
            Language::Zh => format!("时间「{typed}」超出 10 年，太远了，例如：{sample}"),
            Language::En => {
                format!("\"{typed}\" is more than 10 years ahead; for example: {sample}")
            }
        },
    }
}

/// `新建会议` with a first word that is no meeting kind. `word` is the command word,
/// `rest` what followed the unknown kind.
pub fn unknown_kind(
    lang: Language,
    word: &str,
    kind: &str,
    rest: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> String {
    let other = kind_word(lang, MeetingKind::Other);
    // With nothing after it, the unknown word reads best as the topic of an 其他会议.
    let fixed = if rest.is_empty() {
        example(&[word, other, &sample_time(lang, tz, now), kind])
    } else {
        example(&[word, other, rest])
    };
    let kinds = kind_list(lang);
    match lang {
        Language::Zh => format!("没有「{kind}」这种会议类型。可选类型：{kinds}。\n例如：{fixed}"),
        Language::En => {
            format!("There is no meeting kind \"{kind}\". Kinds: {kinds}.\nFor example: {fixed}")
        }
    }
}

/// `新建会议` that starts with the time: the kind is missing.
pub fn missing_kind(lang: Language, word: &str, args: &str) -> String {
    let fixed = example(&[word, kind_word(lang, MeetingKind::GeneralAssembly), args]);
    let kinds = kind_list(lang);
    match lang {
        Language::Zh => format!("缺少会议类型（{kinds}），例如：{fixed}"),
        Language::En => format!("The meeting kind is missing ({kinds}); for example: {fixed}"),
    }
}

/// `新建会议` with the time after the topic.
pub fn time_first(lang: Language, fixed: &str) -> String {
    match lang {
        Language::Zh => format!("时间要写在类型后面、主题前面，例如：{fixed}"),
        Language::En => {
            format!("The time goes after the kind, before the topic; for example: {fixed}")
        }
    }
}

/// A sample topic for an example, when none was given.
pub fn sample_topic(lang: Language) -> &'static str {
    match lang {
        Language::Zh => "党史学习",
        Language::En => "Party history",
    }
}

/// `新建会议` with a time but no topic.
pub fn missing_topic(lang: Language, fixed: &str) -> String {
    match lang {
        Language::Zh => format!("缺少会议主题，例如：{fixed}"),
        Language::En => format!("The topic is missing; for example: {fixed}"),
    }
}

/// `改期 #7 明天 19:30 开会`: the time was read, and something followed it.
pub fn time_then_extra(lang: Language, extra: &str, fixed: &str) -> String {
    match lang {
        Language::Zh => format!("「{extra}」不是时间；改期只写新的时间，例如：{fixed}"),
        Language::En => format!(
            "\"{extra}\" is not part of a time; reschedule takes the new time only, for example: {fixed}"
        ),
    }
}

/// A meeting command without its `#n`. `fixed` is the command with a number put in.
pub fn missing_no(lang: Language, fixed: &str) -> String {
    match lang {
        Language::Zh => format!("缺少会议编号，例如：{fixed}（发送「会议」查看编号）"),
        Language::En => format!(
            "The meeting number is missing; for example: {fixed} (send \"meetings\" for the numbers)"
        ),
    }
}

/// A meeting command with its `#n` but without the text it needs (`what`: reason, name,
/// minutes). `fixed` is the command with a sample put in.
pub fn missing_text(lang: Language, what: MissingText, fixed: &str) -> String {
    let what = match (lang, what) {
        (Language::Zh, MissingText::Reason) => "请假理由",
        (Language::Zh, MissingText::Name) => "被驳回请假的人的姓名",
        (Language::Zh, MissingText::Minutes) => "记录内容",
        (Language::En, MissingText::Reason) => "the reason",
        (Language::En, MissingText::Name) => "whose leave it is",
        (Language::En, MissingText::Minutes) => "the text of the minutes",
    };
    match lang {
        Language::Zh => format!("缺少{what}，例如：{fixed}"),
        Language::En => format!("Missing {what}; for example: {fixed}"),
    }
}

/// What a meeting command lacks after its `#n`.
#[derive(Debug, Clone, Copy)]
pub enum MissingText {
    Reason,
    Name,
    Minutes,
}

/// A sample for [`MissingText`] in an example.
pub fn sample_text(lang: Language, what: MissingText) -> &'static str {
    match (lang, what) {
        (Language::Zh, MissingText::Reason) => "出差在外地",
        (Language::Zh, MissingText::Name) => "张三",
        (Language::Zh, MissingText::Minutes) => "学习了文件精神",
        (Language::En, MissingText::Reason) => "away on business",
        (Language::En, MissingText::Name) => "Zhang San",
        (Language::En, MissingText::Minutes) => "we read the report",
    }
}

/// `开始签到` with more than minutes and a code.
pub fn open_checkin_form(lang: Language, word: &str, no: u64) -> String {
    let fixed = example(&[word, &format!("#{no}"), "15", "7788"]);
    match lang {
        Language::Zh => format!(
            "格式不对：编号后可写分钟数和签到码，例如：{fixed}（开放 15 分钟，签到码 7788）"
        ),
        Language::En => format!(
            "Wrong form: after the number come the minutes and a code, for example: {fixed} (open 15 minutes, code 7788)"
        ),
    }
}

/// Reply: created (the group was told separately). The fixes it offers are real commands:
/// a week later at the same time, and the cancellation.
pub fn created(branch: &Branch, m: &Meeting) -> String {
    let (no, what, at) = (m.no, about(branch, m), when(branch, m.starts_at));
    let local = m.starts_at.with_timezone(&branch.timezone).naive_local();
    let later = local
        .checked_add_days(Days::new(7))
        .map(|t| typed_time(branch.language, t))
        .unwrap_or_default();
    match branch.language {
        Language::Zh => format!(
            "会议 #{no} 已创建：{what}，{at}。各群已通知。\n改期发送「改期 #{no} {later}」，取消发送「取消会议 #{no}」。"
        ),
        Language::En => format!(
            "Meeting #{no} created: {what}, {at}. Every chat was told.\nTo move it send \"reschedule #{no} {later}\"; to cancel, \"cancel-meeting #{no}\"."
        ),
    }
}

/// Reply: upcoming meetings.
pub fn list(branch: &Branch, meetings: &[Meeting]) -> String {
    if meetings.is_empty() {
        return match branch.language {
            Language::Zh => {
                "暂无安排的会议。书记、支委可发送，例如：新建会议 党课 下周五 19:00 党史学习".to_owned()
            }
            Language::En => {
                "No meetings planned. The committee can send, for example: new-meeting lesson 12-18 19:00 Party history"
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
    let (no, what, at) = (m.no, about(branch, m), when(branch, m.starts_at));
    match branch.language {
        Language::Zh => format!("会议 #{no} 已报名：{what}，{at}。"),
        Language::En => format!("Meeting #{no}: you are down to attend {what}, {at}."),
    }
}

/// Reply: leave asked (the reason is not repeated in the group).
pub fn leave_ok(branch: &Branch, m: &Meeting) -> String {
    let (no, what) = (m.no, about(branch, m));
    match branch.language {
        Language::Zh => {
            format!("会议 #{no} 的请假已提交：{what}。书记会收到通知，理由只给书记看。")
        }
        Language::En => format!(
            "Meeting #{no}: your leave is asked for {what}. The secretary is told; only they see the reason."
        ),
    }
}

/// Reply: leave refused (without naming whom, in case this is a group).
pub fn refused_ok(branch: &Branch, m: &Meeting) -> String {
    let (no, what) = (m.no, about(branch, m));
    match branch.language {
        Language::Zh => format!("会议 #{no} 的该项请假已驳回：{what}。已私下告知本人。"),
        Language::En => format!(
            "Meeting #{no}: that leave is refused for {what}. The member was told privately."
        ),
    }
}

/// Reply: moved (the group was told).
pub fn rescheduled_ok(branch: &Branch, m: &Meeting) -> String {
    let (no, what, at) = (m.no, about(branch, m), when(branch, m.starts_at));
    match branch.language {
        Language::Zh => format!("会议 #{no} 已改期至 {at}：{what}。各群已通知。"),
        Language::En => format!("Meeting #{no} moved to {at}: {what}. Every chat was told."),
    }
}

/// Reply: cancelled (the group was told).
pub fn cancelled_ok(branch: &Branch, m: &Meeting) -> String {
    let (no, what, at) = (m.no, about(branch, m), when(branch, m.starts_at));
    match branch.language {
        Language::Zh => format!("会议 #{no} 已取消：{what}（原定 {at}）。各群已通知。"),
        Language::En => {
            format!("Meeting #{no} cancelled: {what} (was {at}). Every chat was told.")
        }
    }
}

/// The code in examples of a check-in with a code (never the meeting's own: see
/// [`checkin_opened`]).
const CODE_EXAMPLE: &str = "6666";

/// Reply: `开始签到` done, naming the meeting and until when. The code is never repeated: this
/// may be read in a group while the code is to be told in the room, so an example that
/// happens to be the code is swapped.
pub fn checkin_opened(branch: &Branch, m: &Meeting, code: Option<&str>) -> String {
    let (no, what) = (m.no, about(branch, m));
    let until = m
        .checkin
        .as_ref()
        .map_or_else(String::new, |w| when(branch, w.closes_at));
    let example = if code == Some(CODE_EXAMPLE) {
        "1234"
    } else {
        CODE_EXAMPLE
    };
    match (branch.language, code.is_some()) {
        (Language::Zh, true) => format!(
            "会议 #{no} 签到已开放，至 {until}：{what}。\n本次签到需要签到码（现场公布），例如：签到 {example}"
        ),
        (Language::Zh, false) => {
            format!("会议 #{no} 签到已开放，至 {until}：{what}。\n成员发送「签到」即可。")
        }
        (Language::En, true) => format!(
            "Meeting #{no}: check-in is open until {until}: {what}.\nIt needs the code announced in the room, e.g. checkin {example}"
        ),
        (Language::En, false) => format!(
            "Meeting #{no}: check-in is open until {until}: {what}.\nMembers send \"checkin\"."
        ),
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
    let (no, what) = (m.no, about(branch, m));
    let (expected, attended, late, excused, absent) =
        (s.expected, s.attended(), s.late, s.excused, s.absent);
    let mut text = match branch.language {
        Language::Zh => format!(
            "会议 #{no} 已结束：{what}。\n应到 {expected} 人，实到 {attended} 人（其中迟到 {late} 人），请假 {excused} 人，缺席 {absent} 人。"
        ),
        Language::En => format!(
            "Meeting #{no} ended: {what}.\n{expected} expected, {attended} attended ({late} late), {excused} on leave, {absent} absent."
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
    let (no, what, n) = (m.no, about(branch, m), m.minutes.len());
    match (branch.language, n) {
        (Language::Zh, _) => format!("会议 #{no} 的会议记录已添加（共 {n} 条）：{what}。"),
        (Language::En, 1) => format!("Meeting #{no}: minutes added (1 entry): {what}."),
        (Language::En, _) => format!("Meeting #{no}: minutes added ({n} entries): {what}."),
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
    use chrono::TimeZone;
    use chrono_tz::Asia::Shanghai as SH;

    use crate::chat::time::{parse_time, split_time_prefix};

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

    /// Friday 4 December 2026, 10:00 in Shanghai.
    fn now() -> DateTime<Utc> {
        SH.with_ymd_and_hms(2026, 12, 4, 10, 0, 0)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn refused(lang: Language, input: &str, before: &str) -> String {
        let e = parse_time(input, now(), SH)
            .err()
            .unwrap_or(TimeError::Empty);
        let slot = TimeSlot { before, after: "" };
        time_error(lang, SH, now(), input, &e, &slot)
    }

    #[test]
    fn a_past_time_is_named_with_its_date() {
        assert_eq!(
            refused(Language::Zh, "昨天 19:00", "改期 #7"),
            "昨天 19:00（12月3日）已经过去，请给一个将来的时间。"
        );
        assert_eq!(
            refused(Language::En, "昨天 19:00", "reschedule #7"),
            "昨天 19:00 (3 Dec) has passed; please give a time ahead."
        );
        assert_eq!(
            refused(Language::Zh, "2025-12-03 19:00", "改期 #7"),
            "2025-12-03 19:00（2025年12月3日）已经过去，请给一个将来的时间。"
        );
    }

    #[test]
    fn a_missing_part_is_asked_for_with_the_whole_command() {
        assert_eq!(
            refused(Language::Zh, "下周五晚上", "改期 #7"),
            "缺少几点，例如：改期 #7 下周五晚上 19:00"
        );
        assert_eq!(
            refused(Language::Zh, "", "改期 #7"),
            "缺少时间，例如：改期 #7 12月11日 19:00"
        );
        assert_eq!(
            refused(Language::En, "", "reschedule #7"),
            "The time is missing; for example: reschedule #7 12-11 19:00"
        );
        assert_eq!(
            refused(Language::Zh, "明天 5点", "改期 #7"),
            "「明天 5点」是上午还是下午？请用 24 小时制，例如：改期 #7 明天 5:00，或 改期 #7 明天 17:00"
        );
        let args = "12月18日 党史学习";
        let e = split_time_prefix(args, now(), SH)
            .err()
            .unwrap_or(TimeError::Empty);
        let slot = TimeSlot {
            before: "新建会议 党课",
            after: "党史学习",
        };
        assert_eq!(
            time_error(Language::Zh, SH, now(), "12月18日", &e, &slot),
            "缺少几点，例如：新建会议 党课 12月18日 19:00 党史学习"
        );
    }

    #[test]
    fn no_reply_shows_a_grammar_placeholder() {
        for lang in [Language::Zh, Language::En] {
            for input in [
                "",
                "下个月",
                "明天晚上12点",
                "2月30日 10:00",
                "2099-01-01 10:00",
            ] {
                let text = refused(lang, input, "改期 #7");
                assert!(!text.contains('<') && !text.contains('>'), "{text}");
            }
            let text = unknown_kind(lang, "新建会议", "座谈会", "", SH, now());
            assert!(!text.contains('<'), "{text}");
        }
    }

    fn opened() -> Meeting {
        meeting(
            3,
            MeetingKind::Group,
            local(2026, 12, 4, 19, 30),
            MeetingStatus::Scheduled,
        )
    }

    #[test]
    fn an_opened_check_in_asks_for_a_code_without_telling_it() {
        for lang in [Language::Zh, Language::En] {
            for code in ["7788", "6666"] {
                let text = checkin_opened(&branch(lang), &opened(), Some(code));
                assert!(!text.contains(code), "{text}");
                assert!(text.contains("#3") && !text.contains('<'), "{text}");
            }
        }
        let text = checkin_opened(&branch(Language::Zh), &opened(), Some("7788"));
        assert!(
            text.contains("本次签到需要签到码（现场公布），例如：签到 6666"),
            "{text}"
        );
        let text = checkin_opened(&branch(Language::Zh), &opened(), None);
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

    #[test]
    fn an_empty_list_shows_a_filled_in_example() {
        for lang in [Language::Zh, Language::En] {
            let text = list(&branch(lang), &[]);
            assert!(!text.contains('<') && !text.contains('‹'), "{text}");
        }
        assert!(list(&branch(Language::Zh), &[]).contains("例如：新建会议 党课 下周五 19:00"));
    }
}
