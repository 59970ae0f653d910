//! Reply texts in both languages. Replies are short (a phone screen), name what they act on,
//! and say what the sender can do next; errors say what was wrong and the right form.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::command::{Args, COMMANDS, CommandKey, CommandSpec};
use crate::{
    domain::{Branch, Identity, JoinRequest, Language, Member, MemberStatus, Role},
    service::{
        ServiceError,
        audience::PrivateRoute,
        branches::{BindOutcome, IssuedCode},
        limits::LimitScope,
        members::{Approval, JoinOutcome, Rejection, Unlinking},
    },
    texts,
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
pub mod private;

/// The commands a member uses most, in the order a phone shows them.
const MEMBER_TOP: [CommandKey; 6] = [
    CommandKey::CheckIn,
    CommandKey::Meetings,
    CommandKey::Leave,
    CommandKey::Rsvp,
    CommandKey::Me,
    CommandKey::CheckinStatus,
];

/// The commands the committee and the secretary use most: running meetings, not attending
/// them (join requests reach the secretary with the approval command ready to copy).
const COMMITTEE_TOP: [CommandKey; 6] = [
    CommandKey::NewMeeting,
    CommandKey::OpenCheckin,
    CommandKey::Meetings,
    CommandKey::EndMeeting,
    CommandKey::Ledger,
    CommandKey::Members,
];

/// Who asks for `帮助`, and where.
#[derive(Debug, Clone, Copy)]
pub struct HelpFor {
    /// The asker's role.
    pub role: Role,
    /// Whether the chat is bound to a branch.
    pub bound: bool,
    /// Whether the asker is linked to a roster entry (then `加入` has nothing left to do).
    pub joined: bool,
    /// `帮助 全部`: every command the role may use, not only the common ones.
    pub all: bool,
    /// Whether the bot can talk with the asker privately while they ask in a group.
    pub private_chat: bool,
}

fn example(spec: &CommandSpec, lang: Language) -> &'static str {
    match lang {
        Language::Zh => spec.example_zh,
        Language::En => spec.example_en,
    }
}

fn word(spec: &CommandSpec, lang: Language) -> &'static str {
    match lang {
        Language::Zh => spec.zh[0],
        Language::En => spec.en[0],
    }
}

/// How a command appears in a list: filled in when it needs arguments, else the bare word
/// (what people send most; `帮助 <命令>` shows the rest).
fn form(spec: &CommandSpec, lang: Language) -> &'static str {
    match spec.args {
        Args::Required => example(spec, lang),
        Args::Optional | Args::None => word(spec, lang),
    }
}

/// The help list for a role: the six commands it uses most (with a pointer to the rest), or
/// with `all` every command it may use.
pub fn help(lang: Language, who: HelpFor) -> String {
    let HelpFor {
        role,
        bound,
        joined,
        all,
        private_chat,
    } = who;
    // In a bound chat `绑定` has nothing left to do; the committee chat is bound by the
    // committee, so only they are shown that command.
    let allowed = |s: &CommandSpec| match s.key {
        CommandKey::Bind => !bound,
        CommandKey::BindCommittee => !bound || role >= Role::Committee,
        CommandKey::Join => !joined && bound,
        _ => role >= s.min_role && (bound || s.unbound_ok),
    };
    let every: Vec<&CommandSpec> = COMMANDS.iter().filter(|s| allowed(s)).collect();
    let top = match role {
        Role::Committee | Role::Secretary => Some(&COMMITTEE_TOP),
        Role::Activist | Role::Probationary | Role::Member => Some(&MEMBER_TOP),
        Role::Guest => None,
    };
    let shown: Vec<&CommandSpec> = match top {
        Some(keys) if bound && !all => keys
            .iter()
            .filter_map(|k| every.iter().find(|s| s.key == *k).copied())
            .collect(),
        _ => every.clone(),
    };
    let short = shown.len() < every.len();
    let label = role.label(lang);
    let mut lines = vec![match (lang, short) {
        (Language::Zh, true) => format!("常用命令（你的身份：{label}）："),
        (Language::Zh, false) => format!("可用命令（你的身份：{label}）："),
        (Language::En, true) => format!("Common commands (you are: {label}):"),
        (Language::En, false) => format!("Commands you may use (you are: {label}):"),
    }];
    for spec in shown {
        let help = match lang {
            Language::Zh => spec.help_zh,
            Language::En => spec.help_en,
        };
        lines.push(format!("· {} — {help}", form(spec, lang)));
    }
    if short {
        lines.push(t!(
            lang,
            "发送「帮助 全部」查看全部命令，「帮助 请假」看一个命令的用法。",
            "Send \"help all\" for every command, \"help leave\" for one."
        ));
    }
    if bound && private_chat && role >= Role::Activist {
        lines.push(t!(
            lang,
            "请假可以私聊机器人发送「请假 #编号 理由」，理由只给书记看。",
            "You can ask leave privately: message me \"leave #no reason\"; only the secretary sees the reason."
        ));
    }
    if !bound {
        lines.push(t!(
            lang,
            "本群尚未绑定支部：书记把管理员发放的绑定码发到群里即可开始，例如「绑定 ABCD-EFGH」。",
            "This chat is not bound to a branch yet: the secretary sends the code from the operator, e.g. \"bind ABCD-EFGH\"."
        ));
    }
    lines.join("\n")
}

/// Help for one command: what it does, a filled-in example (the bare word too, when its
/// arguments may be left out), and who may use it.
pub fn help_one(lang: Language, spec: &CommandSpec) -> String {
    let (help, who) = match lang {
        Language::Zh => (spec.help_zh, spec.min_role.label(lang)),
        Language::En => (spec.help_en, spec.min_role.label(lang)),
    };
    let word = word(spec, lang);
    let example = match spec.args {
        Args::Optional if example(spec, lang) != word => {
            let sep = if lang == Language::Zh { "；" } else { "; " };
            format!("{word}{sep}{}", example(spec, lang))
        }
        _ => example(spec, lang).to_owned(),
    };
    match spec.min_role {
        Role::Guest => t!(
            lang,
            "「{word}」：{help}。\n例如：{example}",
            "\"{word}\": {help}.\nFor example: {example}"
        ),
        _ => t!(
            lang,
            "「{word}」：{help}。\n例如：{example}\n需要身份：{who}及以上。",
            "\"{word}\": {help}.\nFor example: {example}\nFor: {who} and above."
        ),
    }
}

/// A command's example filled in with what the sender typed where that is safe to repeat:
/// their meeting number, their minutes or the name they gave; never a leave reason (it is for
/// the secretary only, and the reply may be read in a group).
pub fn example_from(lang: Language, spec: &CommandSpec, typed: &str) -> String {
    let example = example(spec, lang);
    let Some((word, rest)) = example.split_once(' ') else {
        return example.to_owned();
    };
    let Some((example_no, example_tail)) = rest
        .split_once(' ')
        .map_or(Some((rest, "")), Some)
        .filter(|(no, _)| no.starts_with('#'))
    else {
        return example.to_owned();
    };
    let (typed_no, typed_tail) = match typed.split_once(' ').unwrap_or((typed, "")) {
        (first, tail) if super::command::number(first).is_some() => (Some(first), tail),
        _ => (None, typed),
    };
    let no = typed_no.map_or_else(
        || example_no.to_owned(),
        |n| format!("#{}", n.trim_start_matches('#')),
    );
    let tail = match spec.key {
        CommandKey::Minutes | CommandKey::RefuseLeave if !typed_tail.is_empty() => {
            texts::clip(typed_tail, 20)
        }
        _ => example_tail.to_owned(),
    };
    if tail.is_empty() {
        format!("{word} {no}")
    } else {
        format!("{word} {no} {tail}")
    }
}

/// A help topic that names no command.
pub fn help_unknown(lang: Language, word: &str) -> String {
    let word = texts::clip(word, 20);
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

/// Wrong or missing arguments: the right form, filled in with what the sender typed.
pub fn usage_error(lang: Language, spec: &CommandSpec, typed: &str) -> String {
    let word = word(spec, lang);
    let example = example_from(lang, spec, typed);
    t!(
        lang,
        "「{word}」格式不对，例如：{example}",
        "Wrong form for \"{word}\"; for example: {example}"
    )
}

/// The sender's role is too low. A guest refused a member's command is shown how to join,
/// with their chat name when it can stand for a roster name.
pub fn forbidden(lang: Language, spec: &CommandSpec, role: Role, name: Option<&str>) -> String {
    let who = spec.min_role.label(lang);
    let word = word(spec, lang);
    // Only where joining is the fix: a committee command stays refused for a new member too.
    if role == Role::Guest && (Role::Activist..=Role::Member).contains(&spec.min_role) {
        let name = name
            .filter(|n| {
                (2..=10).contains(&n.chars().count())
                    && !n.chars().any(|c| c.is_whitespace() || c.is_control())
            })
            .map_or_else(|| example_join_name(lang), |n| texts::clip(n, 10));
        return t!(
            lang,
            "「{word}」仅限支部成员使用。还没加入的请用名册上的姓名发送「加入 {name}」；已申请的请等书记批准。",
            "\"{word}\" is for the branch's members. To join, send your roster name: \"join {name}\"; if you have asked, the secretary will approve it."
        );
    }
    t!(
        lang,
        "「{word}」仅限{who}及以上使用，请联系书记或支委。",
        "\"{word}\" is for {who} and above; ask the secretary or the committee."
    )
}

fn example_join_name(lang: Language) -> String {
    match lang {
        Language::Zh => "张三".to_owned(),
        Language::En => "Zhang San".to_owned(),
    }
}

/// A command that needs a bound chat, in an unbound one.
pub fn not_bound(lang: Language) -> String {
    t!(
        lang,
        "本群尚未绑定支部。请书记把管理员发放的绑定码发到群里，例如「绑定 ABCD-EFGH」。",
        "This chat is not bound to a branch. The secretary sends the code from the operator here, e.g. \"bind ABCD-EFGH\"."
    )
}

/// A branch command in a private chat by someone on no roster.
pub fn no_branch_private(lang: Language) -> String {
    t!(
        lang,
        "你还不是任何支部的成员。请在支部群里用名册上的姓名发送，例如「加入 张三」。",
        "You are not on any branch's roster yet. In your branch's group, send your roster name, e.g. \"join Zhang San\"."
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
            "本群已绑定「{branch}」。{name}，你已成为书记。\n下一步：请成员用名册上的姓名发送，例如「加入 张三」；发送「帮助」查看常用命令。",
            "This chat is bound to \"{branch}\". {name}, you are now the secretary.\nNext: members send their roster name, e.g. \"join Zhang San\"; send \"help\" for the common commands."
        ),
        _ => t!(
            lang,
            "本群已绑定「{branch}」。成员请用名册上的姓名发送，例如「加入 张三」。",
            "This chat is bound to \"{branch}\". Members: send your roster name, e.g. \"join Zhang San\"."
        ),
    }
}

/// `加入` done. It reads the same whether the account was linked at once or waits for the
/// secretary, so that nobody learns from it who is on the roster; the person hears which it
/// was privately.
pub fn joined(lang: Language, outcome: &JoinOutcome) -> String {
    match outcome {
        JoinOutcome::Linked { .. } | JoinOutcome::Requested => t!(
            lang,
            "已收到加入申请，结果会私信告诉你；也可以私聊我发送「我的」查看进度。",
            "Your request to join is in; you will hear the outcome privately, or message me \"me\" to see where it stands."
        ),
    }
}

/// `我的` of a member in a group: the record went to their private chat.
pub fn me_sent_privately(lang: Language, name: &str) -> String {
    t!(
        lang,
        "{name}，你的记录已私信发给你（若未收到，请私聊我发送「我的」）。",
        "{name}, your record was sent to you privately (if it does not arrive, message me \"me\")."
    )
}

/// `我的` of a member in a group on a platform where the bot cannot start a private chat.
pub fn me_ask_privately(lang: Language, name: &str) -> String {
    t!(
        lang,
        "{name}，你的记录含个人信息，不在群里显示。请私聊我发送「我的」。",
        "{name}, your record holds personal details and is not shown in a group. Message me \"me\" privately."
    )
}

/// `拒绝` done, or the choice it needs.
pub fn rejected(lang: Language, branch: &Branch, outcome: &Rejection) -> String {
    match outcome {
        Rejection::Rejected(request) => {
            let name = &request.name;
            let platform = texts::platform_label(lang, request.identity.platform);
            t!(
                lang,
                "已拒绝以「{name}」提交的一个加入申请（{platform} 账号），对方会私下收到通知。",
                "A request to join as {name} ({platform} account) is turned down; the account is told privately."
            )
        }
        Rejection::Choose { name, requests } => {
            let how = t!(
                lang,
                "发送「拒绝 {name} 1」拒绝其中一个。",
                "Send \"reject {name} 1\" to turn one down."
            );
            request_list(lang, branch, name, requests, &how)
        }
    }
}

/// An account as the secretary needs to tell it apart: platform, display name, when.
fn account_line(
    lang: Language,
    branch: &Branch,
    n: usize,
    identity: &Identity,
    at: DateTime<Utc>,
) -> String {
    let platform = texts::platform_label(lang, identity.platform);
    let shown = identity
        .display_name
        .as_deref()
        .unwrap_or(&identity.user_id);
    let when = texts::when(branch, at);
    format!("{n}. {platform} · {shown} · {when}")
}

/// The numbered list of requests waiting for one name, and how to pick one.
fn request_list(
    lang: Language,
    branch: &Branch,
    name: &str,
    requests: &[JoinRequest],
    how: &str,
) -> String {
    let count = requests.len();
    let mut lines = vec![t!(
        lang,
        "「{name}」有 {count} 个待审核申请：",
        "{count} requests wait for {name}:"
    )];
    for (i, r) in requests.iter().enumerate() {
        lines.push(account_line(lang, branch, i + 1, &r.identity, r.at));
    }
    lines.push(how.to_owned());
    lines.join("\n")
}

/// `批准` done, or the choice it needs. `private` says whether the chat may read roles and
/// the waiting accounts (a private chat or the committee chat).
pub fn approved(lang: Language, branch: &Branch, approval: &Approval, private: bool) -> String {
    match approval {
        Approval::Approved {
            member,
            identity,
            new_member,
        } => {
            let name = &member.name;
            let platform = texts::platform_label(lang, identity.platform);
            let role = member.role.label(lang);
            match (new_member, private) {
                (true, true) => t!(
                    lang,
                    "已批准「{name}」加入，身份：{role}（{platform} 账号）。",
                    "{name} is admitted as {role} ({platform} account)."
                ),
                (false, true) => {
                    let count = member.identities.len();
                    t!(
                        lang,
                        "已将 {platform} 账号关联到「{name}」（{role}），现共 {count} 个账号。",
                        "The {platform} account is linked to {name} ({role}); {count} accounts now."
                    )
                }
                (true, false) => t!(
                    lang,
                    "已批准「{name}」加入本支部。",
                    "{name} is admitted to the branch."
                ),
                (false, false) => t!(
                    lang,
                    "已将 {platform} 账号关联到「{name}」。",
                    "The {platform} account is linked to {name}."
                ),
            }
        }
        Approval::Choose { name, requests } => {
            let how = t!(
                lang,
                "发送「批准 {name} 1」批准其中一个（只批准确认是本人的那个）。",
                "Send \"approve {name} 1\" to approve one (only the one you know is them)."
            );
            request_list(lang, branch, name, requests, &how)
        }
    }
}

/// `解除关联` done, or the choice it needs.
pub fn unlinked(lang: Language, branch: &Branch, outcome: &Unlinking) -> String {
    match outcome {
        Unlinking::Unlinked { member, identity } => {
            let name = &member.name;
            let platform = texts::platform_label(lang, identity.platform);
            let left = member.identities.len();
            t!(
                lang,
                "已解除 {platform} 账号与「{name}」的关联，该账号现为访客；「{name}」还关联 {left} 个账号。",
                "The {platform} account is no longer linked to {name} and is a guest now; {name} keeps {left} accounts."
            )
        }
        Unlinking::Choose { member } => {
            let name = &member.name;
            let count = member.identities.len();
            let mut lines = vec![t!(
                lang,
                "「{name}」关联了 {count} 个账号：",
                "{name} has {count} linked accounts:"
            )];
            for (i, identity) in member.identities.iter().enumerate() {
                lines.push(account_line(
                    lang,
                    branch,
                    i + 1,
                    identity,
                    identity.linked_at,
                ));
            }
            lines.push(t!(
                lang,
                "发送「解除关联 {name} 1」解除其中一个。",
                "Send \"unlink {name} 1\" to undo one."
            ));
            lines.join("\n")
        }
    }
}

/// Where a sensitive answer went, for the chat it was asked in (never the answer itself).
pub fn sent_elsewhere(lang: Language, route: PrivateRoute, spec: &CommandSpec) -> String {
    let word = spec.zh[0];
    let en = spec.en[0];
    match route {
        PrivateRoute::CommitteeChat => t!(
            lang,
            "结果含个人信息，已发到支委群。",
            "The answer holds personal details; it went to the committee chat."
        ),
        PrivateRoute::PrivateChat => t!(
            lang,
            "结果含个人信息，已私信发给你（若未收到，请先私聊我一次再发「{word}」）。",
            "The answer holds personal details; it was sent to you privately (if it does not arrive, message me first, then send \"{en}\" again)."
        ),
        PrivateRoute::Nowhere | PrivateRoute::Inline => t!(
            lang,
            "结果含个人信息，不在群里显示。请私聊我，或在支委群发送「{word}」。",
            "The answer holds personal details and is not shown in the group. Message me privately, or send \"{en}\" in the committee chat."
        ),
    }
}

/// `绑定码` in a private chat: the code itself.
pub fn bind_code(lang: Language, branch: &Branch, code: &IssuedCode, committee: bool) -> String {
    let name = &branch.name;
    let until = texts::when(branch, code.expires_at);
    let c = &code.code;
    if committee {
        t!(
            lang,
            "「{name}」支委群绑定码：{c}\n在支委群里发送「绑定支委群 {c}」即可（只能用一次，{until} 前有效）。",
            "Committee bind code of \"{name}\": {c}\nSend \"bind-committee {c}\" in the committee chat (works once, until {until})."
        )
    } else {
        t!(
            lang,
            "「{name}」绑定码：{c}\n在要绑定的群里发送「绑定 {c}」即可（只能用一次，{until} 前有效）。",
            "Bind code of \"{name}\": {c}\nSend \"bind {c}\" in the chat to bind (works once, until {until})."
        )
    }
}

/// `绑定码` in a group: where the code went.
pub fn bind_code_sent(lang: Language, committee: bool) -> String {
    let (zh, en) = if committee {
        ("绑定码 支委群", "bind-code committee")
    } else {
        ("绑定码", "bind-code")
    };
    t!(
        lang,
        "新的绑定码已私信发给你（绑定码不在群里显示）。若未收到，请私聊我发送「{zh}」。",
        "A new bind code was sent to you privately (codes are never shown in a group). If it does not arrive, send \"{en}\" to me privately."
    )
}

/// `绑定码` in a group on a platform where the bot cannot start a private chat.
pub fn bind_code_ask_privately(lang: Language) -> String {
    t!(
        lang,
        "绑定码不在群里显示。请私聊我发送「绑定码」（或「绑定码 支委群」）。",
        "Bind codes are never shown in a group. Send \"bind-code\" (or \"bind-code committee\") to me privately."
    )
}

/// The roster with roles and the waiting requests: names only, never phone numbers. Sensitive
/// (it names 预备党员, 积极分子 and who waits): only for a private chat or the committee chat.
pub fn roster(
    lang: Language,
    branch: &Branch,
    members: &[Member],
    requests: &[JoinRequest],
) -> String {
    let active: Vec<&Member> = members
        .iter()
        .filter(|m| m.status == MemberStatus::Active)
        .collect();
    let name = &branch.name;
    let count = active.len();
    let mut lines = vec![t!(
        lang,
        "「{name}」名册（{count} 人）：",
        "Roster of \"{name}\" ({count}):"
    )];
    let sep = if lang == Language::Zh { "、" } else { ", " };
    for role in Role::ROSTER {
        let names: Vec<&str> = active
            .iter()
            .filter(|m| m.role == role)
            .map(|m| m.name.as_str())
            .collect();
        if !names.is_empty() {
            lines.push(format!("{}：{}", role.label(lang), names.join(sep)));
        }
    }
    if !requests.is_empty() {
        let mut names: Vec<&str> = requests.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let list = names.join(sep);
        let first = names.first().copied().unwrap_or_default();
        lines.push(t!(
            lang,
            "待审核申请：{list}（发送「批准 {first}」同意，「拒绝 {first}」拒绝）",
            "Waiting to join: {list} (send \"approve {first}\" to admit, \"reject {first}\" to turn down)"
        ));
    }
    lines.join("\n")
}

/// `我的`: the sender's own record, without phone or notes (it may be read in a group).
pub fn me(
    lang: Language,
    branch: &Branch,
    member: Option<&Member>,
    request: Option<&JoinRequest>,
    now: DateTime<Utc>,
) -> String {
    let Some(m) = member else {
        return match request {
            // Without the name: a group may read this, and the name waits for the secretary.
            Some(r) => {
                let at = texts::when(branch, r.at);
                t!(
                    lang,
                    "你的加入申请（{at} 提交）正在等待书记审核。",
                    "Your request to join (sent {at}) waits for the secretary."
                )
            }
            None => t!(
                lang,
                "你还不在名册上。请用名册上的姓名发送，例如「加入 张三」。",
                "You are not on the roster. Send your roster name, e.g. \"join Zhang San\"."
            ),
        };
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
            "绑定码无效。请核对后重发（8 位字母和数字，例如「绑定 ABCD-EFGH」），或请书记私聊我发送「绑定码」获取新码。",
            "Unknown bind code. Check it and send it again (8 letters and digits, e.g. \"bind ABCD-EFGH\"), or have the secretary send me \"bind-code\" privately for a new one."
        ),
        ServiceError::BindCodeUsed => t!(
            lang,
            "该绑定码已被使用（每个码只能用一次）。请书记私聊我发送「绑定码」获取新码。",
            "That bind code was used already (each code works once). The secretary can send me \"bind-code\" privately for a new one."
        ),
        ServiceError::BindCodeExpired => t!(
            lang,
            "该绑定码已过期。请书记私聊我发送「绑定码」获取新码。",
            "That bind code has expired. The secretary can send me \"bind-code\" privately for a new one."
        ),
        ServiceError::CodeKindMismatch { committee: true } => t!(
            lang,
            "这是支委群绑定码，只能在支委群里发送「绑定支委群」加这个码；普通群请书记私聊我发送「绑定码」另取。",
            "That is a committee code: send it after \"bind-committee\" in the committee chat only. For a member chat the secretary sends me \"bind-code\" privately."
        ),
        ServiceError::CodeKindMismatch { committee: false } => t!(
            lang,
            "这是普通群绑定码，不能绑定支委群。请书记私聊我发送「绑定码 支委群」获取支委群绑定码。",
            "That code binds a member chat, not the committee chat. The secretary can send me \"bind-code committee\" privately for a committee code."
        ),
        ServiceError::MemberChatNotCommittee => t!(
            lang,
            "本群是支部的普通群（可能有非党员），不能设为支委群。请在只有支委的群里发送「绑定支委群」加绑定码。",
            "This is one of the branch's member chats (non-members may read it), so it cannot be the committee chat. Send \"bind-committee\" with the code in a chat of the committee only."
        ),
        ServiceError::CommitteeChatNotMember => t!(
            lang,
            "本群是支委群，不能再绑定为普通群。请在支部群里发送「绑定」加绑定码。",
            "This is the committee chat; it cannot also be a member chat. Send \"bind\" with the code in the branch's group."
        ),
        ServiceError::JoinRequestsFull => t!(
            lang,
            "待审核的加入申请太多，暂时无法提交。请直接联系书记。",
            "Too many join requests are waiting; please contact the secretary directly."
        ),
        ServiceError::PickOutOfRange { name, count } => t!(
            lang,
            "「{name}」只有 {count} 项，请用 1 到 {count} 之间的序号，如「批准 {name} 1」。",
            "{name} has {count} to choose from; use a number from 1 to {count}, e.g. \"approve {name} 1\"."
        ),
        ServiceError::ListFirst(name) => t!(
            lang,
            "「{name}」有多项可选，请先发送「批准 {name}」（或「解除关联 {name}」）查看带序号的名单，再按序号操作。",
            "There are several for {name}: first send \"approve {name}\" (or \"unlink {name}\") for the numbered list, then pick by number."
        ),
        ServiceError::ListChanged(name) => t!(
            lang,
            "「{name}」的名单已有变化，请重新发送「批准 {name}」查看最新名单。",
            "The list for {name} has changed; send \"approve {name}\" again for the current one."
        ),
        ServiceError::NoAccounts(name) => t!(
            lang,
            "「{name}」没有关联任何账号，无需解除。",
            "{name} has no linked account to undo."
        ),
        ServiceError::OwnAccount => t!(
            lang,
            "不能解除你正在使用的账号。请用你的其他账号发送，或请管理员处理。",
            "You cannot unlink the account you are using. Send it from another of your accounts, or ask the operator."
        ),
        ServiceError::AccountLinked(name) => t!(
            lang,
            "该账号已关联到「{name}」，这个申请已作废。",
            "That account is linked to {name} already; the request is void."
        ),
        ServiceError::TooManyWrongCodes { retry_after } => {
            let wait = texts::retry_wait(lang, *retry_after);
            t!(
                lang,
                "绑定码错误次数太多，请 {wait}后再试，并核对绑定码（8 位字母和数字）。",
                "Too many wrong bind codes; try again in {wait}, and check the code (8 letters and digits)."
            )
        }
        ServiceError::NoPrivateChat => t!(
            lang,
            "本平台不能由我发起私聊。请私聊我后再发送。",
            "On this platform I cannot start a private chat. Message me privately, then send it again."
        ),
        ServiceError::ChatBoundElsewhere => t!(
            lang,
            "本群已绑定其他支部，不能再绑定。",
            "This chat is bound to another branch already."
        ),
        ServiceError::ChatAlreadyBound => t!(
            lang,
            "本群已绑定该支部，无需重复绑定。",
            "This chat is bound to that branch already."
        ),
        ServiceError::MemberNotFound(name) => t!(
            lang,
            "名册上没有「{name}」。发送「成员」查看名册。",
            "No \"{name}\" on the roster. Send \"members\" to see it."
        ),
        ServiceError::AlreadyMember(name) => t!(
            lang,
            "你已在名册上，姓名：{name}。发送「我的」查看记录。",
            "You are on the roster already as {name}. Send \"me\" to see your record."
        ),
        ServiceError::NoRequest(name) => t!(
            lang,
            "没有「{name}」的待审核申请。发送「成员」查看待审核名单。",
            "Nobody waits to join as {name}. Send \"members\" to see who waits."
        ),
        // Only the admin API sends Idempotency-Key; chat never meets this.
        ServiceError::RequestKeyReused => t!(
            lang,
            "这个请求与先前的不同，请重新发送。",
            "This request differs from an earlier one with the same key; send it again."
        ),
        ServiceError::Store(_) => t!(
            lang,
            "服务暂时不可用，请稍后再试。",
            "The service is unavailable for a moment; please try again."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::command::lookup;

    fn spec(word: &str) -> &'static CommandSpec {
        lookup(word).unwrap_or(&COMMANDS[0])
    }

    fn member(role: Role) -> HelpFor {
        HelpFor {
            role,
            bound: true,
            joined: true,
            all: false,
            private_chat: true,
        }
    }

    /// The command lines of a help list.
    fn lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.starts_with("· ")).collect()
    }

    #[test]
    fn help_shows_a_member_their_six_commands_and_where_the_rest_is() {
        let text = help(Language::Zh, member(Role::Member));
        let shown = lines(&text);
        assert_eq!(shown.len(), 6, "{text}");
        for (line, word) in
            shown
                .iter()
                .zip(["签到", "会议", "请假 #3", "参加 #3", "我的", "签到状态"])
        {
            assert!(line.starts_with(&format!("· {word}")), "{line}");
        }
        assert!(text.starts_with("常用命令（你的身份：党员）"), "{text}");
        assert!(text.contains("发送「帮助 全部」查看全部命令"), "{text}");
        assert!(
            text.contains("请假可以私聊机器人发送「请假 #编号 理由」"),
            "{text}"
        );
        assert!(!text.contains("加入"), "{text}");
    }

    #[test]
    fn help_shows_the_committee_how_to_run_meetings() {
        for role in [Role::Committee, Role::Secretary] {
            let text = help(Language::Zh, member(role));
            let words: Vec<&str> = lines(&text)
                .iter()
                .filter_map(|l| l.strip_prefix("· ")?.split([' ', '—']).next())
                .collect();
            assert_eq!(
                words,
                ["新建会议", "开始签到", "会议", "结束会议", "台账", "成员"],
                "{text}"
            );
        }
    }

    #[test]
    fn help_all_lists_every_command_of_the_role() {
        let all = |role| {
            help(
                Language::Zh,
                HelpFor {
                    all: true,
                    ..member(role)
                },
            )
        };
        let text = all(Role::Secretary);
        assert!(text.starts_with("可用命令"), "{text}");
        assert!(!text.contains("帮助 全部"), "{text}");
        for word in ["批准", "拒绝", "解除关联", "驳回请假", "会议记录", "签到"] {
            assert!(text.contains(&format!("· {word}")), "{word}: {text}");
        }
        assert!(!text.contains("· 加入"), "{text}");
        let text = all(Role::Member);
        assert!(
            !text.contains("批准") && !text.contains("新建会议"),
            "{text}"
        );
    }

    #[test]
    fn a_guest_sees_join_and_no_line_about_leave() {
        let text = help(
            Language::Zh,
            HelpFor {
                joined: false,
                ..member(Role::Guest)
            },
        );
        assert!(text.contains("· 加入 张三"), "{text}");
        assert!(
            !text.contains("请假") && !text.contains("帮助 全部"),
            "{text}"
        );
    }

    #[test]
    fn the_private_leave_line_needs_a_private_chat() {
        let text = help(
            Language::Zh,
            HelpFor {
                private_chat: false,
                ..member(Role::Member)
            },
        );
        assert!(!text.contains("私聊"), "{text}");
    }

    #[test]
    fn help_for_one_command_shows_a_filled_in_example() {
        let text = help_one(Language::Zh, spec("请假"));
        assert!(
            text.starts_with("「请假」：") && text.contains("例如：请假 #3 出差在外地"),
            "{text}"
        );
        let text = help_one(Language::Zh, spec("签到"));
        assert!(text.contains("例如：签到；签到 6666"), "{text}");
    }

    #[test]
    fn a_usage_error_is_filled_in_with_what_was_typed() {
        let cases = [
            ("请假", "#4", "「请假」格式不对，例如：请假 #4 出差在外地"),
            // The reason typed is never repeated (it is for the secretary only).
            (
                "请假",
                "家里有事",
                "「请假」格式不对，例如：请假 #3 出差在外地",
            ),
            ("参加", "三", "「参加」格式不对，例如：参加 #3"),
            (
                "会议记录",
                "#7",
                "「会议记录」格式不对，例如：会议记录 #7 通过了年度学习计划",
            ),
            (
                "会议记录",
                "通过了计划",
                "「会议记录」格式不对，例如：会议记录 #3 通过了计划",
            ),
            (
                "驳回请假",
                "李四",
                "「驳回请假」格式不对，例如：驳回请假 #3 李四",
            ),
            ("加入", "", "「加入」格式不对，例如：加入 张三"),
        ];
        for (word, typed, want) in cases {
            assert_eq!(usage_error(Language::Zh, spec(word), typed), want);
        }
        let long = "记".repeat(50);
        let text = usage_error(Language::Zh, spec("会议记录"), &long);
        assert!(text.ends_with(&format!("{}…", "记".repeat(19))), "{text}");
    }

    #[test]
    fn a_guest_refused_is_shown_how_to_join() {
        let text = forbidden(Language::Zh, spec("请假"), Role::Guest, Some("王小明"));
        assert!(text.contains("「加入 王小明」"), "{text}");
        let text = forbidden(Language::Zh, spec("请假"), Role::Guest, Some("a b"));
        assert!(text.contains("「加入 张三」"), "{text}");
        let text = forbidden(Language::Zh, spec("新建会议"), Role::Member, None);
        assert_eq!(text, "「新建会议」仅限支委及以上使用，请联系书记或支委。");
        let text = forbidden(Language::Zh, spec("成员"), Role::Guest, Some("王小明"));
        assert_eq!(text, "「成员」仅限支委及以上使用，请联系书记或支委。");
    }

    #[test]
    fn nothing_members_read_has_a_grammar_placeholder() {
        let mut texts = vec![not_bound(Language::Zh), no_branch_private(Language::Zh)];
        for lang in [Language::Zh, Language::En] {
            texts.push(not_bound(lang));
            texts.push(no_branch_private(lang));
            for role in [
                Role::Guest,
                Role::Activist,
                Role::Committee,
                Role::Secretary,
            ] {
                for (bound, all) in [(true, false), (true, true), (false, false)] {
                    texts.push(help(
                        lang,
                        HelpFor {
                            role,
                            bound,
                            joined: role > Role::Guest,
                            all,
                            private_chat: true,
                        },
                    ));
                }
            }
            for spec in COMMANDS {
                texts.push(help_one(lang, spec));
                texts.push(usage_error(lang, spec, ""));
                texts.push(usage_error(lang, spec, "#2"));
                texts.push(forbidden(lang, spec, Role::Guest, None));
                texts.push(forbidden(lang, spec, Role::Member, None));
            }
        }
        for text in texts {
            assert!(!text.contains('<') && !text.contains('>'), "{text}");
        }
    }
}
