//! Reply texts in both languages. Replies are short (a phone screen), name what they act on,
//! and say what the sender can do next; errors say what was wrong and the right form.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::command::{COMMANDS, CommandKey, CommandSpec};
use crate::{
    domain::{Branch, Language, Member, MemberStatus, Role},
    service::{
        ServiceError,
        branches::BindOutcome,
        members::{Approval, JoinOutcome},
    },
    store::limits::LimitScope,
};

/// Picks the text of the branch's language; both arms may use `format!` captures.
macro_rules! t {
    ($lang:expr, $zh:literal, $en:literal) => {
        match $lang {
            Language::Zh => format!($zh),
            Language::En => format!($en),
        }
    };
}

pub mod meetings;

fn usage(spec: &CommandSpec, lang: Language) -> &'static str {
    match lang {
        Language::Zh => spec.usage_zh,
        Language::En => spec.usage_en,
    }
}

/// The help list for a role.
pub fn help(lang: Language, role: Role, bound: bool) -> String {
    let mut lines = vec![match lang {
        Language::Zh => format!("可用命令（你的身份：{}）：", role.label(lang)),
        Language::En => format!("Commands you may use (you are: {}):", role.label(lang)),
    }];
    // In a bound chat `绑定` has nothing left to do; the committee chat is bound by the
    // committee, so only they are shown that command.
    let shown = |s: &CommandSpec| match s.key {
        CommandKey::Bind => !bound,
        CommandKey::BindCommittee => !bound || role >= Role::Committee,
        _ => role >= s.min_role && (bound || s.unbound_ok),
    };
    for spec in COMMANDS.iter().filter(|s| shown(s)) {
        let help = match lang {
            Language::Zh => spec.help_zh,
            Language::En => spec.help_en,
        };
        lines.push(format!("· {} — {help}", usage(spec, lang)));
    }
    if !bound {
        lines.push(t!(
            lang,
            "本群尚未绑定支部：书记发送「绑定 <绑定码>」即可开始。",
            "This chat is not bound to a branch yet: the secretary sends \"bind <code>\" to start."
        ));
    }
    lines.join("\n")
}

/// Help for one command.
pub fn help_one(lang: Language, spec: &CommandSpec) -> String {
    let (help, who) = match lang {
        Language::Zh => (spec.help_zh, spec.min_role.label(lang)),
        Language::En => (spec.help_en, spec.min_role.label(lang)),
    };
    let usage = usage(spec, lang);
    match spec.min_role {
        Role::Guest => t!(lang, "「{usage}」：{help}。", "\"{usage}\": {help}."),
        _ => t!(
            lang,
            "「{usage}」：{help}。需要身份：{who}及以上。",
            "\"{usage}\": {help}. For: {who} and above."
        ),
    }
}

/// A help topic that names no command.
pub fn help_unknown(lang: Language, word: &str) -> String {
    t!(
        lang,
        "没有「{word}」这个命令。发送「帮助」查看可用命令。",
        "There is no command \"{word}\". Send \"help\" for the list."
    )
}

/// An unknown word after `/` or an @-mention.
pub fn unknown_command(lang: Language, word: &str) -> String {
    t!(
        lang,
        "未知命令「{word}」，发送「帮助」查看可用命令。",
        "Unknown command \"{word}\"; send \"help\" for the list."
    )
}

/// A command-like message that is too long.
pub fn too_long(lang: Language, max: usize) -> String {
    t!(
        lang,
        "消息太长（最多 {max} 字），请精简后重发。",
        "That message is too long (at most {max} characters)."
    )
}

/// The one reply to the first command over a limit; later ones in the window get none.
pub fn rate_limited(lang: Language, scope: LimitScope, retry_after: Duration) -> String {
    let wait = crate::texts::retry_wait(lang, retry_after);
    match scope {
        LimitScope::Sender => t!(
            lang,
            "操作太频繁，请 {wait}后再试。",
            "Too many commands; try again in {wait}."
        ),
        LimitScope::Chat => t!(
            lang,
            "本群命令太多，请 {wait}后再试。",
            "Too many commands in this chat; try again in {wait}."
        ),
    }
}

/// Wrong or missing arguments.
pub fn usage_error(lang: Language, spec: &CommandSpec) -> String {
    let usage = usage(spec, lang);
    t!(
        lang,
        "格式不对。正确格式：{usage}",
        "Wrong form. Use: {usage}"
    )
}

/// The sender's role is too low.
pub fn forbidden(lang: Language, spec: &CommandSpec) -> String {
    let who = spec.min_role.label(lang);
    let usage = usage(spec, lang);
    t!(
        lang,
        "「{usage}」仅限{who}及以上使用。",
        "\"{usage}\" is for {who} and above."
    )
}

/// A command that needs a bound chat, in an unbound one.
pub fn not_bound(lang: Language) -> String {
    t!(
        lang,
        "本群尚未绑定支部。请书记发送「绑定 <绑定码>」。",
        "This chat is not bound to a branch. The secretary sends \"bind <code>\"."
    )
}

/// A branch command in a private chat by someone on no roster.
pub fn no_branch_private(lang: Language) -> String {
    t!(
        lang,
        "你还不是任何支部的成员。请在支部群里发送「加入 <姓名>」。",
        "You are not on any branch's roster yet. Send \"join <name>\" in your branch's group."
    )
}

/// `绑定` done.
pub fn bound(outcome: &BindOutcome) -> String {
    let lang = outcome.branch.language;
    let branch = &outcome.branch.name;
    if outcome.committee {
        return t!(
            lang,
            "已将本群设为「{branch}」的支委群，敏感通知将发到这里。",
            "This chat is now the committee chat of \"{branch}\"; sensitive notices come here."
        );
    }
    match (&outcome.member_name, outcome.became_secretary) {
        (Some(name), true) => t!(
            lang,
            "本群已绑定「{branch}」。{name}，你已成为书记。\n下一步：请成员发送「加入 <姓名>」；发送「帮助」查看全部命令。",
            "This chat is bound to \"{branch}\". {name}, you are now the secretary.\nNext: members send \"join <name>\"; send \"help\" for all commands."
        ),
        _ => t!(
            lang,
            "本群已绑定「{branch}」。成员请发送「加入 <姓名>」。",
            "This chat is bound to \"{branch}\". Members: send \"join <name>\"."
        ),
    }
}

/// `加入` done.
pub fn joined(lang: Language, outcome: &JoinOutcome) -> String {
    match outcome {
        JoinOutcome::Linked { name, role } => {
            let role = role.label(lang);
            t!(
                lang,
                "欢迎，{name}！已与名册关联，身份：{role}。发送「我的」查看记录。",
                "Welcome, {name}! Linked to the roster as {role}. Send \"me\" to see your record."
            )
        }
        JoinOutcome::LinkRequested { name } => t!(
            lang,
            "「{name}」已关联其他平台的账号。关联本账号的申请已提交，等待书记确认（书记发送「批准 {name}」）。",
            "\"{name}\" is linked to an account on another platform. Your request to link this one waits for the secretary (\"approve {name}\")."
        ),
        JoinOutcome::Pending { name } => t!(
            lang,
            "已收到 {name} 的加入申请，等待书记批准（书记发送「批准 {name}」）。",
            "Request to join as {name} received; waiting for the secretary (\"approve {name}\")."
        ),
    }
}

/// `批准` done.
pub fn approved(lang: Language, approval: &Approval) -> String {
    match approval {
        Approval::Admitted(member) => {
            let name = &member.name;
            let role = member.role.label(lang);
            t!(
                lang,
                "已批准 {name} 加入，身份：{role}。",
                "{name} is admitted as {role}."
            )
        }
        Approval::Linked(member) => {
            let name = &member.name;
            let count = member.identities.len();
            t!(
                lang,
                "已确认 {name} 的新账号，现共关联 {count} 个账号。",
                "{name}'s new account is linked ({count} accounts now)."
            )
        }
    }
}

/// The roster: names and roles only, never phone numbers.
pub fn roster(lang: Language, branch: &Branch, members: &[Member]) -> String {
    let active: Vec<&Member> = members
        .iter()
        .filter(|m| m.status == MemberStatus::Active)
        .collect();
    let pending: Vec<&Member> = members
        .iter()
        .filter(|m| m.status == MemberStatus::Pending)
        .collect();
    let name = &branch.name;
    let count = active.len();
    let mut lines = vec![t!(
        lang,
        "「{name}」名册（{count} 人）：",
        "Roster of \"{name}\" ({count}):"
    )];
    for role in Role::ROSTER {
        let names: Vec<&str> = active
            .iter()
            .filter(|m| m.role == role)
            .map(|m| m.name.as_str())
            .collect();
        if !names.is_empty() {
            let sep = if lang == Language::Zh { "、" } else { ", " };
            lines.push(format!("{}：{}", role.label(lang), names.join(sep)));
        }
    }
    if !pending.is_empty() {
        let names: Vec<&str> = pending.iter().map(|m| m.name.as_str()).collect();
        let list = names.join(if lang == Language::Zh { "、" } else { ", " });
        lines.push(t!(
            lang,
            "待批准：{list}（发送「批准 <姓名>」）",
            "Pending: {list} (send \"approve <name>\")"
        ));
    }
    lines.join("\n")
}

/// `我的`: the sender's own record, without phone or notes (it may be read in a group).
pub fn me(lang: Language, branch: &Branch, member: Option<&Member>, now: DateTime<Utc>) -> String {
    let Some(m) = member else {
        return t!(
            lang,
            "你还不在名册上。发送「加入 <姓名>」加入本支部。",
            "You are not on the roster. Send \"join <name>\" to join."
        );
    };
    let name = &m.name;
    let branch_name = &branch.name;
    let role = m.role.label(lang);
    let mut lines = vec![t!(
        lang,
        "{name}（{branch_name}）",
        "{name} ({branch_name})"
    )];
    match m.status {
        MemberStatus::Pending => lines.push(t!(
            lang,
            "状态：待书记批准",
            "Status: waiting for the secretary's approval"
        )),
        MemberStatus::MovedOut => lines.push(t!(lang, "状态：已转出", "Status: moved out")),
        MemberStatus::Active => lines.push(t!(lang, "身份：{role}", "Role: {role}")),
    }
    let today = now.with_timezone::<Tz>(&branch.timezone).date_naive();
    if let (Some(joined), Some(years)) = (m.joined_party_on, m.party_years(today)) {
        lines.push(t!(
            lang,
            "入党日期：{joined}（党龄 {years} 年）",
            "Joined the Party: {joined} ({years} years)"
        ));
    }
    let accounts = m.identities.len();
    lines.push(t!(
        lang,
        "已关联账号：{accounts} 个",
        "Linked chat accounts: {accounts}"
    ));
    lines.join("\n")
}

/// A refused operation, in words the sender can act on.
pub fn service_error(lang: Language, error: &ServiceError) -> String {
    match error {
        ServiceError::Invalid(invalid) => {
            let msg = &invalid.message;
            let field = invalid.field;
            match (lang, &invalid.message_zh) {
                (Language::Zh, Some(zh)) => zh.clone(),
                _ => t!(lang, "输入有误（{field}）：{msg}", "Invalid {field}: {msg}"),
            }
        }
        ServiceError::MeetingNotFound(no) => t!(
            lang,
            "没有会议 #{no}。发送「会议」查看近期安排。",
            "There is no meeting #{no}. Send \"meetings\" for the schedule."
        ),
        ServiceError::MeetingClosed(no) => t!(
            lang,
            "会议 #{no} 已取消或已结束。",
            "Meeting #{no} is cancelled or over."
        ),
        ServiceError::MeetingStarted(no) => t!(
            lang,
            "会议 #{no} 已开始，不能再请假；如有情况请联系书记。",
            "Meeting #{no} has started; leave is asked before the start. Talk to the secretary."
        ),
        ServiceError::NoLeave(name) => t!(
            lang,
            "{name} 没有待处理的请假。",
            "{name} has no leave to refuse."
        ),
        ServiceError::NotCommittee => t!(
            lang,
            "仅限书记、支委操作。请让书记或支委发送。",
            "Only the secretary or a committee member may do this."
        ),
        ServiceError::BranchNotFound => t!(lang, "找不到该支部。", "No such branch."),
        ServiceError::BindCodeUnknown => t!(
            lang,
            "绑定码无效。请核对后重发「绑定 <绑定码>」，或向管理员索取新码。",
            "Unknown bind code. Check it and send \"bind <code>\" again, or ask the operator for a new one."
        ),
        ServiceError::BindCodeUsed => t!(
            lang,
            "该绑定码已被使用（每个码只能用一次）。请向管理员索取新码。",
            "That bind code was used already (each code works once). Ask the operator for a new one."
        ),
        ServiceError::BindCodeExpired => t!(
            lang,
            "该绑定码已过期。请向管理员索取新码。",
            "That bind code has expired. Ask the operator for a new one."
        ),
        ServiceError::ChatBoundElsewhere => t!(
            lang,
            "本群已绑定其他支部，不能再绑定。",
            "This chat is bound to another branch already."
        ),
        ServiceError::ChatAlreadyBound => t!(
            lang,
            "本群已绑定该支部，无需重复绑定；绑定码未被使用。",
            "This chat is bound to that branch already; the code was not used."
        ),
        ServiceError::MemberNotFound(name) => t!(
            lang,
            "名册上没有「{name}」。发送「成员」查看名册。",
            "No \"{name}\" on the roster. Send \"members\" to see it."
        ),
        ServiceError::NameTaken(name) => t!(
            lang,
            "「{name}」已关联其他账号。如确是本人，请联系书记处理。",
            "\"{name}\" is linked to another account. If it is you, ask the secretary."
        ),
        ServiceError::AlreadyMember(name) => t!(
            lang,
            "你已在名册上，姓名：{name}。发送「我的」查看记录。",
            "You are on the roster already as {name}. Send \"me\" to see your record."
        ),
        ServiceError::NotPending(name) => t!(
            lang,
            "{name} 不是待批准状态，无需批准。",
            "{name} is not waiting for approval."
        ),
        ServiceError::Store(_) => t!(
            lang,
            "服务暂时不可用，请稍后再试。",
            "The service is unavailable for a moment; please try again."
        ),
    }
}
