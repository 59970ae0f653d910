//! Texts the server sends on its own (announcements, reminders, notices to the committee), in
//! both languages. Chat replies live in `chat::reply`; both use these, and services need only
//! this module, never the chat layer.

use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::{
    domain::chat::PlatformKind,
    domain::{
        Branch, Language,
        meeting::{Meeting, QuorumCount},
    },
};

/// A time in the branch's zone: `12月5日（周六）19:30` / `Sat 5 Dec 19:30`.
pub fn when(branch: &Branch, at: DateTime<Utc>) -> String {
    when_in(branch.language, branch.timezone, at)
}

/// [`when`] for a language and a time zone (a stored check-in outcome carries the two).
pub fn when_in(lang: Language, timezone: chrono_tz::Tz, at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&timezone);
    let (month, day, hour, minute) = (local.month(), local.day(), local.hour(), local.minute());
    match lang {
        Language::Zh => {
            let weekday = ["一", "二", "三", "四", "五", "六", "日"]
                [local.weekday().num_days_from_monday() as usize];
            format!("{month}月{day}日（周{weekday}）{hour:02}:{minute:02}")
        }
        Language::En => local.format("%a %-d %b %H:%M").to_string(),
    }
}

/// User-made text cut to at most `max` characters, never inside one; a cut text ends with `…`.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().nth(max).is_none() {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn span(lang: Language, d: Duration) -> String {
    let minutes = d.as_secs() / 60;
    match (lang, minutes) {
        (Language::Zh, m) if m >= 60 && m % 60 == 0 => format!("{} 小时", m / 60),
        (Language::Zh, m) => format!("{m} 分钟"),
        (Language::En, m) if m >= 60 && m % 60 == 0 => format!("{} h", m / 60),
        (Language::En, m) => format!("{m} min"),
    }
}

/// How long to wait before trying again, rounded up so that trying at the time named works:
/// `3 分钟` / `3 min`, or seconds under a minute.
pub fn retry_wait(lang: Language, d: Duration) -> String {
    let secs = d.as_millis().div_ceil(1000).max(1);
    match (lang, secs) {
        (Language::Zh, s) if s < 60 => format!("{s} 秒"),
        (Language::Zh, s) => format!("{} 分钟", s.div_ceil(60)),
        (Language::En, s) if s < 60 => format!("{s} s"),
        (Language::En, s) => format!("{} min", s.div_ceil(60)),
    }
}

pub fn title(branch: &Branch, m: &Meeting) -> String {
    title_of(branch.language, m.no, m.kind)
}

/// [`title`] from a meeting's number and kind.
pub fn title_of(lang: Language, no: u64, kind: crate::domain::meeting::MeetingKind) -> String {
    let kind = kind.label(lang);
    match lang {
        Language::Zh => format!("会议 #{no}（{kind}）"),
        Language::En => format!("Meeting #{no} ({kind})"),
    }
}

/// The announcement in every member chat.
pub fn announcement(branch: &Branch, m: &Meeting) -> String {
    let (no, kind, topic, at, length) = (
        m.no,
        m.kind.label(branch.language),
        &m.topic,
        when(branch, m.starts_at),
        span(branch.language, m.duration),
    );
    let mut lines = vec![match branch.language {
        Language::Zh => format!("【会议通知 #{no}】{kind}\n主题：{topic}\n时间：{at}，约 {length}"),
        Language::En => {
            format!("[Meeting #{no}] {kind}\nTopic: {topic}\nWhen: {at}, about {length}")
        }
    }];
    if let Some(link) = &m.link {
        lines.push(match branch.language {
            Language::Zh => format!("线上链接：{link}"),
            Language::En => format!("Online: {link}"),
        });
    }
    lines.push(match branch.language {
        Language::Zh => format!(
            "回复「参加 #{no}」报名；不能参加请私聊我「请假 #{no} 理由」（理由只给书记看）。"
        ),
        Language::En => format!(
            "Reply \"rsvp #{no}\" to attend; if you cannot, message me privately \"leave #{no}\" and your reason (only the secretary sees it)."
        ),
    });
    lines.join("\n")
}

/// A reminder before the start, naming who has not answered (mentions rendered per platform).
pub fn reminder(branch: &Branch, m: &Meeting, before: Duration, waiting: &[String]) -> String {
    let (no, at, left) = (
        m.no,
        when(branch, m.starts_at),
        span(branch.language, before),
    );
    let mut lines = vec![match branch.language {
        Language::Zh => format!(
            "【会议提醒 #{no}】{}将于 {at} 开始（还有 {left}）。主题：{}",
            m.kind.label(branch.language),
            m.topic
        ),
        Language::En => format!(
            "[Reminder #{no}] {} starts {at} (in {left}). Topic: {}",
            m.kind.label(branch.language),
            m.topic
        ),
    }];
    if let Some(link) = &m.link {
        lines.push(match branch.language {
            Language::Zh => format!("线上链接：{link}"),
            Language::En => format!("Online: {link}"),
        });
    }
    if !waiting.is_empty() {
        let names = waiting.join(" ");
        lines.push(match branch.language {
            Language::Zh => {
                format!("尚未回复：{names}——请回复「参加 #{no}」，或私聊我「请假 #{no} 理由」。")
            }
            Language::En => format!(
                "Not answered yet: {names} — reply \"rsvp #{no}\", or message me privately \"leave #{no}\" and your reason."
            ),
        });
    }
    lines.join("\n")
}

/// To the committee: a member asked for leave (the reason is for them only).
pub fn leave_notice(branch: &Branch, m: &Meeting, name: &str, reason: &str) -> String {
    let (t, at, no) = (title(branch, m), when(branch, m.starts_at), m.no);
    match branch.language {
        Language::Zh => format!(
            "【请假】{name} 请假：{t}，{at}。理由：{reason}\n如需驳回，发送「驳回请假 #{no} {name}」。"
        ),
        Language::En => format!(
            "[Leave] {name} asks leave for {t}, {at}. Reason: {reason}\nTo refuse: \"refuse-leave #{no} {name}\"."
        ),
    }
}

/// To the member, privately: their leave was refused.
pub fn leave_refused(branch: &Branch, m: &Meeting) -> String {
    let (t, at) = (title(branch, m), when(branch, m.starts_at));
    match branch.language {
        Language::Zh => format!("你对{t}（{at}）的请假未获批准，请按时参加；如有困难请联系书记。"),
        Language::En => format!(
            "Your leave for {t} ({at}) was not approved; please attend, or talk to the secretary."
        ),
    }
}

/// To the group: the meeting moved.
pub fn rescheduled(branch: &Branch, m: &Meeting) -> String {
    let (t, at) = (title(branch, m), when(branch, m.starts_at));
    match branch.language {
        Language::Zh => format!("【改期】{t}「{}」改到 {at}。", m.topic),
        Language::En => format!("[Moved] {t} \"{}\" is now {at}.", m.topic),
    }
}

/// To the group: the meeting is off.
pub fn cancelled(branch: &Branch, m: &Meeting) -> String {
    let (t, at) = (title(branch, m), when(branch, m.starts_at));
    match branch.language {
        Language::Zh => format!("【取消】{t}「{}」（原定 {at}）已取消。", m.topic),
        Language::En => format!("[Cancelled] {t} \"{}\" ({at}) is cancelled.", m.topic),
    }
}

/// To the committee: who was absent (a prompt to talk with them, never for the group).
pub fn absentees(branch: &Branch, m: &Meeting, names: &[&str]) -> String {
    let t = title(branch, m);
    match branch.language {
        Language::Zh => format!("{t} 缺席：{}。建议会后逐一谈心了解情况。", names.join("、")),
        Language::En => format!(
            "{t} absent: {}. Consider a word with each.",
            names.join(", ")
        ),
    }
}

/// To the committee: the quorum looks unlikely.
pub fn quorum_warning(branch: &Branch, m: &Meeting, forecast: QuorumCount) -> String {
    let (t, at, yes, of) = (
        title(branch, m),
        when(branch, m.starts_at),
        forecast.attending,
        forecast.voters,
    );
    match branch.language {
        Language::Zh => format!(
            "【法定人数提醒】{t}（{at}）目前确认参加的有表决权人员 {yes}/{of}，未过半数，会议可能无法有效召开。"
        ),
        Language::En => format!(
            "[Quorum] {t} ({at}): {yes} of {of} voters confirmed, not more than half; the meeting may not be quorate."
        ),
    }
}

/// To the group, when a sensitive notice has nowhere private to go: only that it exists.
pub fn sensitive_pointer(branch: &Branch) -> String {
    match branch.language {
        Language::Zh => "有一条需书记处理的通知，但本支部尚未绑定支委群。请书记私聊我发送「绑定码 支委群」，用它绑定支委群后查看。".to_owned(),
        Language::En => "A notice for the secretary is waiting, but no committee chat is bound. The secretary can message me \"bind-code committee\" privately and bind one with that code.".to_owned(),
    }
}

/// To the committee: members with no attendance for a while (a prompt, not a ranking).
pub fn inactivity_warning(branch: &Branch, names: &[&str], days: u64) -> String {
    match branch.language {
        Language::Zh => format!(
            "【谈心提示】以下同志近 {days} 天未参加组织生活：{}。建议书记、支委分别谈心谈话，了解困难。",
            names.join("、")
        ),
        Language::En => format!(
            "[A word with them] No organisational life attended in {days} days: {}. Consider talking with each.",
            names.join(", ")
        ),
    }
}

/// The platform as people call it.
pub fn platform_label(lang: Language, platform: PlatformKind) -> &'static str {
    match (platform, lang) {
        (PlatformKind::Onebot, _) => "QQ",
        (PlatformKind::Wecom, Language::Zh) => "企业微信",
        (PlatformKind::Wecom, Language::En) => "WeCom",
        (PlatformKind::Dingtalk, Language::Zh) => "钉钉",
        (PlatformKind::Dingtalk, Language::En) => "DingTalk",
        (PlatformKind::Feishu, Language::Zh) => "飞书",
        (PlatformKind::Feishu, Language::En) => "Feishu",
        (PlatformKind::Telegram, _) => "Telegram",
        (PlatformKind::Sim, Language::Zh) => "模拟平台",
        (PlatformKind::Sim, Language::En) => "sim",
    }
}

/// To the committee: an account linked itself to a roster entry with `加入`.
pub fn linked_notice(lang: Language, name: &str, platform: PlatformKind, shown: &str) -> String {
    let p = platform_label(lang, platform);
    match lang {
        Language::Zh => format!(
            "【关联】{p} 账号「{shown}」已关联到名册上的 {name}。如不是本人，书记发送「解除关联 {name}」撤销。"
        ),
        Language::En => format!(
            "[Linked] The {p} account \"{shown}\" is now linked to {name} on the roster. If it is not them, the secretary sends \"unlink {name}\"."
        ),
    }
}

/// To the committee: an account asks to join under a name (or to link to a roster entry).
pub fn join_requested_notice(
    lang: Language,
    name: &str,
    platform: PlatformKind,
    shown: &str,
) -> String {
    let p = platform_label(lang, platform);
    let shown = clip(shown, 30);
    match lang {
        Language::Zh => format!(
            "【加入申请】{p} 账号「{shown}」申请以「{name}」加入。\n确是本人的话，回复「批准 {name}」同意，「拒绝 {name}」拒绝；发送「成员」查看全部申请。"
        ),
        Language::En => format!(
            "[Join request] The {p} account \"{shown}\" asks to join as {name}.\nIf it is them, reply \"approve {name}\" to admit, \"reject {name}\" to turn down; \"members\" lists every request."
        ),
    }
}

/// To the approved (or directly linked) person, privately: the welcome, with the three
/// commands they will use most. It is only ever sent in a private chat, so the line about
/// asking leave here always holds.
pub fn join_approved(branch: &Branch, member: &crate::domain::Member) -> String {
    let (name, b) = (&member.name, &branch.name);
    let role = member.role.label(branch.language);
    match branch.language {
        Language::Zh => format!(
            "你的加入申请已通过：欢迎！你在「{b}」的名册上是 {name}（{role}）。\n\
             最常用的三个命令：\n\
             · 签到 — 开会时签到（会前 15 分钟开放）\n\
             · 请假 #3 出差在外地 — 会前请假，理由只给书记看\n\
             · 会议 — 查看近期会议和编号\n\
             请假可以直接在这里私聊我发送「请假 #编号 理由」。发送「帮助」查看更多命令。"
        ),
        Language::En => format!(
            "Your request went through: welcome! You are {name} ({role}) on the roster of \"{b}\".\n\
             The three commands you will use most:\n\
             · checkin — check in at a meeting (opens 15 minutes before)\n\
             · leave #3 away on business — ask leave before a meeting; only the secretary sees the reason\n\
             · meetings — the coming meetings and their numbers\n\
             You can ask leave right here, privately: \"leave #no reason\". Send \"help\" for more."
        ),
    }
}

/// To the account whose request was turned down, privately.
pub fn join_rejected(branch: &Branch, name: &str) -> String {
    let b = &branch.name;
    match branch.language {
        Language::Zh => {
            format!("你以「{name}」加入「{b}」的申请未获通过。如有疑问，请直接联系书记。")
        }
        Language::En => format!(
            "Your request to join \"{b}\" as {name} did not go through. Please talk to the secretary."
        ),
    }
}

/// To a busy chat: who checked in since the last digest.
pub fn checkin_digest(branch: &Branch, names: &[String]) -> String {
    let count = names.len();
    match branch.language {
        Language::Zh => format!(
            "新签到 {count} 人：{}。（发送「签到状态」可查看本人记录）",
            names.join("、")
        ),
        Language::En => format!(
            "{count} newly checked in: {}. (Send \"checkin-status\" for your own record.)",
            names.join(", ")
        ),
    }
}

/// The answer to a command whose sender cannot be told: an anonymous group admin, a post as a
/// channel, a bot, an automatic forward. Said once per chat and window.
pub fn unattributed(lang: Language) -> String {
    match lang {
        Language::Zh => {
            "无法确认这条命令是谁发的（匿名管理员、以频道身份发送、机器人或自动转发），\
                         所以没有执行。请以本人身份发送。"
                .to_owned()
        }
        Language::En => "I cannot tell who sent this command (an anonymous admin, a post as a \
                         channel, a bot or an automatic forward), so it was not run. Please \
                         post as yourself."
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_between_characters_with_an_ellipsis() {
        assert_eq!(clip("出差在外地", 5), "出差在外地");
        assert_eq!(clip("出差在外地，下周回", 5), "出差在外…");
        assert_eq!(clip("😀😀😀", 2), "😀…");
        assert_eq!(clip("", 3), "");
    }

    #[test]
    fn a_join_request_carries_the_commands_to_answer_it() {
        let text = join_requested_notice(Language::Zh, "李明", PlatformKind::Sim, "小李");
        assert!(
            text.starts_with("【加入申请】")
                && text.contains("回复「批准 李明」同意，「拒绝 李明」拒绝"),
            "{text}"
        );
        let text = join_requested_notice(Language::En, "Li Ming", PlatformKind::Sim, "li");
        assert!(
            text.contains("\"approve Li Ming\"") && text.contains("\"reject Li Ming\""),
            "{text}"
        );
        let long = "名".repeat(100);
        let text = join_requested_notice(Language::Zh, "李明", PlatformKind::Sim, &long);
        assert!(
            text.contains(&format!("「{}…」", "名".repeat(29))),
            "{text}"
        );
    }

    #[test]
    fn a_retry_wait_rounds_up_so_that_trying_then_works() {
        assert_eq!(retry_wait(Language::Zh, Duration::from_millis(1)), "1 秒");
        assert_eq!(
            retry_wait(Language::Zh, Duration::from_millis(59_001)),
            "1 分钟"
        );
        assert_eq!(
            retry_wait(Language::Zh, Duration::from_secs(600)),
            "10 分钟"
        );
        assert_eq!(
            retry_wait(Language::Zh, Duration::from_secs(601)),
            "11 分钟"
        );
        assert_eq!(retry_wait(Language::En, Duration::from_secs(30)), "30 s");
        assert_eq!(retry_wait(Language::En, Duration::ZERO), "1 s");
    }
}
