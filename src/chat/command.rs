//! The command table and the parser that finds a command in a chat message.
//!
//! In a group the bot must stay silent on ordinary chatter, so a message is a command only
//! when its first word is a command word (`签到`, `加入 张三`), or when it is addressed to the
//! bot (a leading `/` or an @-mention), in which case a Chinese command may run straight into
//! its argument (`/加入张三`) and an unknown word earns a one-line hint.

use crate::domain::Role;

/// Longest message the parser considers; longer ones that look like commands are refused.
pub const MAX_COMMAND_CHARS: usize = 2000;

/// The commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKey {
    /// 帮助 [命令].
    Help,
    /// 绑定 <码>.
    Bind,
    /// 绑定支委群 <码>.
    BindCommittee,
    /// 加入 <姓名>.
    Join,
    /// 批准 <姓名> [n] [角色].
    Approve,
    /// 解除关联 <姓名> [n].
    Unlink,
    /// 拒绝 <姓名> [n].
    Reject,
    /// 绑定码 [支委群].
    BindCode,
    /// 成员.
    Members,
    /// 我的.
    Me,
    /// 新建会议 <类型> <时间> <主题> [时长] [链接].
    NewMeeting,
    /// 会议 [#n].
    Meetings,
    /// 参加 #n.
    Rsvp,
    /// 请假 #n <理由>.
    Leave,
    /// 驳回请假 #n <姓名>.
    RefuseLeave,
    /// 改期 #n <时间>.
    Reschedule,
    /// 取消会议 #n.
    CancelMeeting,
    /// 开始签到 #n [分钟] [签到码].
    OpenCheckin,
    /// 签到 [#n] [签到码].
    CheckIn,
    /// 结束会议 #n.
    EndMeeting,
    /// 会议记录 #n <内容>.
    Minutes,
    /// 台账 [期间].
    Ledger,
    /// 签到状态.
    CheckinStatus,
}

/// Whether a command takes arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Args {
    /// None: trailing words make the message chatter, not a command.
    None,
    /// May have some.
    Optional,
    /// Must have some.
    Required,
}

/// One command's words, permissions and help text.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Which command.
    pub key: CommandKey,
    /// Chinese words; the first is the canonical one.
    pub zh: &'static [&'static str],
    /// English aliases (matched case-insensitively).
    pub en: &'static [&'static str],
    /// Least role that may use it.
    pub min_role: Role,
    /// Whether it works in a chat that is not bound yet.
    pub unbound_ok: bool,
    /// Arguments.
    pub args: Args,
    /// Usage, Chinese.
    pub usage_zh: &'static str,
    /// Usage, English.
    pub usage_en: &'static str,
    /// One line of help, Chinese.
    pub help_zh: &'static str,
    /// One line of help, English.
    pub help_en: &'static str,
}

/// Every command, in the order help lists them.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        key: CommandKey::Help,
        zh: &["帮助", "菜单"],
        en: &["help"],
        min_role: Role::Guest,
        unbound_ok: true,
        args: Args::Optional,
        usage_zh: "帮助 [命令]",
        usage_en: "help [command]",
        help_zh: "列出你可用的命令，或解释一个命令",
        help_en: "list the commands you may use, or explain one",
    },
    CommandSpec {
        key: CommandKey::Join,
        zh: &["加入"],
        en: &["join"],
        min_role: Role::Guest,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "加入 <姓名>",
        usage_en: "join <name>",
        help_zh: "用名册上的姓名加入本支部",
        help_en: "join this branch under your roster name",
    },
    CommandSpec {
        key: CommandKey::Me,
        zh: &["我的"],
        en: &["me"],
        min_role: Role::Guest,
        unbound_ok: false,
        args: Args::None,
        usage_zh: "我的",
        usage_en: "me",
        help_zh: "查看自己的记录",
        help_en: "show your own record",
    },
    CommandSpec {
        key: CommandKey::Meetings,
        zh: &["会议"],
        en: &["meetings"],
        min_role: Role::Activist,
        unbound_ok: false,
        args: Args::Optional,
        usage_zh: "会议 [#编号]",
        usage_en: "meetings [#no]",
        help_zh: "查看近期会议，或一个会议的详情",
        help_en: "list coming meetings, or show one",
    },
    CommandSpec {
        key: CommandKey::Rsvp,
        zh: &["参加", "报名参加"],
        en: &["rsvp"],
        min_role: Role::Activist,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "参加 #编号",
        usage_en: "rsvp #no",
        help_zh: "报名参加会议",
        help_en: "say you will attend a meeting",
    },
    CommandSpec {
        key: CommandKey::Leave,
        zh: &["请假"],
        en: &["leave"],
        min_role: Role::Activist,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "请假 #编号 <理由>",
        usage_en: "leave #no <reason>",
        help_zh: "会前请假（理由只给书记看）",
        help_en: "ask leave before a meeting (the reason goes to the secretary only)",
    },
    CommandSpec {
        key: CommandKey::CheckIn,
        zh: &["签到"],
        en: &["checkin", "check-in"],
        min_role: Role::Activist,
        unbound_ok: false,
        args: Args::Optional,
        usage_zh: "签到 [#编号] [签到码]",
        usage_en: "checkin [#no] [code]",
        help_zh: "会议签到（会前 15 分钟开放）",
        help_en: "check in to a meeting (opens 15 minutes before)",
    },
    CommandSpec {
        key: CommandKey::CheckinStatus,
        zh: &["签到状态"],
        en: &["checkin-status"],
        min_role: Role::Activist,
        unbound_ok: false,
        args: Args::None,
        usage_zh: "签到状态",
        usage_en: "checkin-status",
        help_zh: "查看本人近期会议的报名、请假和签到记录",
        help_en: "your own RSVP, leave and check-in record for recent meetings",
    },
    CommandSpec {
        key: CommandKey::NewMeeting,
        zh: &["新建会议"],
        en: &["new-meeting"],
        min_role: Role::Committee,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "新建会议 <类型> <时间> <主题> [时长] [链接]",
        usage_en: "new-meeting <kind> <time> <topic> [length] [link]",
        help_zh: "安排会议并通知各群（类型如 支委会、党员大会、主题党日）",
        help_en: "plan a meeting and tell every chat (kinds: committee, general, themeday…)",
    },
    CommandSpec {
        key: CommandKey::Reschedule,
        zh: &["改期"],
        en: &["reschedule"],
        min_role: Role::Committee,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "改期 #编号 <时间>",
        usage_en: "reschedule #no <time>",
        help_zh: "更改会议时间，提醒随之调整",
        help_en: "move a meeting; its reminders move with it",
    },
    CommandSpec {
        key: CommandKey::CancelMeeting,
        zh: &["取消会议"],
        en: &["cancel-meeting"],
        min_role: Role::Committee,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "取消会议 #编号",
        usage_en: "cancel-meeting #no",
        help_zh: "取消会议并通知各群",
        help_en: "cancel a meeting and tell every chat",
    },
    CommandSpec {
        key: CommandKey::OpenCheckin,
        zh: &["开始签到"],
        en: &["open-checkin"],
        min_role: Role::Committee,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "开始签到 #编号 [分钟] [签到码]",
        usage_en: "open-checkin #no [minutes] [code]",
        help_zh: "现在开放签到（可设时长和签到码）",
        help_en: "open check-in now (optional length and code)",
    },
    CommandSpec {
        key: CommandKey::EndMeeting,
        zh: &["结束会议"],
        en: &["end-meeting"],
        min_role: Role::Committee,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "结束会议 #编号",
        usage_en: "end-meeting #no",
        help_zh: "结束会议，统计出勤（缺席名单只发支委群）",
        help_en: "close a meeting and count attendance (absentee names go to the committee only)",
    },
    CommandSpec {
        key: CommandKey::Minutes,
        zh: &["会议记录"],
        en: &["minutes"],
        min_role: Role::Committee,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "会议记录 #编号 <内容>",
        usage_en: "minutes #no <text>",
        help_zh: "追加会议记录",
        help_en: "append to a meeting's minutes",
    },
    CommandSpec {
        key: CommandKey::Ledger,
        zh: &["台账"],
        en: &["ledger"],
        min_role: Role::Committee,
        unbound_ok: false,
        args: Args::Optional,
        usage_zh: "台账 [2026-Q4 | 2026-12 | 2026]",
        usage_en: "ledger [2026-Q4 | 2026-12 | 2026]",
        help_zh: "查看「三会一课」台账（默认本季度）",
        help_en: "the meetings ledger (this quarter by default)",
    },
    CommandSpec {
        key: CommandKey::RefuseLeave,
        zh: &["驳回请假"],
        en: &["refuse-leave"],
        min_role: Role::Committee,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "驳回请假 #编号 <姓名>",
        usage_en: "refuse-leave #no <name>",
        help_zh: "驳回某人的请假（私下告知本人）",
        help_en: "refuse someone's leave (they are told privately)",
    },
    CommandSpec {
        key: CommandKey::Members,
        zh: &["成员", "名册"],
        en: &["members", "roster"],
        min_role: Role::Committee,
        unbound_ok: false,
        args: Args::None,
        usage_zh: "成员",
        usage_en: "members",
        help_zh: "查看支部名册（姓名与身份）",
        help_en: "list the roster (names and roles)",
    },
    CommandSpec {
        key: CommandKey::Approve,
        zh: &["批准"],
        en: &["approve"],
        min_role: Role::Secretary,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "批准 <姓名> [序号] [身份]",
        usage_en: "approve <name> [no] [role]",
        help_zh: "批准加入申请（新成员身份默认党员）；同名多个申请时用序号选一个",
        help_en: "approve a join request (new members default to member); pick one by number when several wait",
    },
    CommandSpec {
        key: CommandKey::Reject,
        zh: &["拒绝", "驳回申请"],
        en: &["reject"],
        min_role: Role::Secretary,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "拒绝 <姓名> [序号]",
        usage_en: "reject <name> [no]",
        help_zh: "拒绝一个加入申请（申请人会私下收到通知）",
        help_en: "turn down a join request (the account is told privately)",
    },
    CommandSpec {
        key: CommandKey::Unlink,
        zh: &["解除关联"],
        en: &["unlink"],
        min_role: Role::Secretary,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "解除关联 <姓名> [序号]",
        usage_en: "unlink <name> [no]",
        help_zh: "撤销某人账号的关联（该账号变回访客）",
        help_en: "undo an account's link to a member (the account becomes a guest)",
    },
    CommandSpec {
        key: CommandKey::BindCode,
        zh: &["绑定码"],
        en: &["bind-code"],
        min_role: Role::Secretary,
        unbound_ok: false,
        args: Args::Optional,
        usage_zh: "绑定码 [支委群]",
        usage_en: "bind-code [committee]",
        help_zh: "私信获取新的绑定码，用于绑定另一个群（或支委群）",
        help_en: "get a new bind code privately, to bind another chat (or the committee chat)",
    },
    CommandSpec {
        key: CommandKey::Bind,
        zh: &["绑定"],
        en: &["bind"],
        min_role: Role::Guest,
        unbound_ok: true,
        args: Args::Required,
        usage_zh: "绑定 <绑定码>",
        usage_en: "bind <code>",
        help_zh: "把本群绑定到支部（绑定码由管理员发放）",
        help_en: "bind this chat to a branch (codes come from the operator)",
    },
    CommandSpec {
        key: CommandKey::BindCommittee,
        zh: &["绑定支委群"],
        en: &["bind-committee"],
        min_role: Role::Guest,
        unbound_ok: true,
        args: Args::Required,
        usage_zh: "绑定支委群 <绑定码>",
        usage_en: "bind-committee <code>",
        help_zh: "把本群设为支委群（接收敏感通知）",
        help_en: "make this chat the committee chat (gets sensitive notices)",
    },
];

/// What the parser made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Ordinary chatter: stay silent.
    NotCommand,
    /// Addressed to the bot, but no known command: hint at help.
    Unknown(String),
    /// A command-like message over [`MAX_COMMAND_CHARS`].
    TooLong,
    /// A command and its argument text (normalised, trimmed).
    Command {
        /// Which.
        spec: &'static CommandSpec,
        /// The rest of the message.
        args: String,
    },
}

/// Full-width ASCII and the ideographic space become their plain forms; runs of white space
/// fold to one space; so `／加入　张三` reads as `/加入 张三`.
pub fn normalize(text: &str) -> String {
    let mapped = text.chars().map(|c| match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        c => c,
    });
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in mapped {
        if c.is_whitespace() {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}

/// Finds a command by one of its words.
pub fn lookup(word: &str) -> Option<&'static CommandSpec> {
    let lower = word.to_lowercase();
    COMMANDS
        .iter()
        .find(|s| s.zh.contains(&word) || s.en.iter().any(|e| *e == lower))
}

/// Reads a message.
pub fn parse(text: &str, mentioned: bool) -> Parsed {
    let normalized = normalize(text);
    let (slashed, body) = match normalized.strip_prefix('/') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, normalized.as_str()),
    };
    if body.is_empty() {
        return Parsed::NotCommand;
    }
    let explicit = slashed || mentioned;
    let (head, rest) = body.split_once(' ').unwrap_or((body, ""));
    if let Some(spec) = lookup(head) {
        if spec.args == Args::None && !rest.is_empty() && !explicit {
            return Parsed::NotCommand;
        }
        return command(spec, rest, &normalized);
    }
    if !explicit {
        return Parsed::NotCommand;
    }
    // Addressed to the bot: a Chinese word may run into its argument (`/加入张三`).
    let prefixed = COMMANDS
        .iter()
        .flat_map(|s| s.zh.iter().map(move |w| (s, *w)))
        .filter(|(_, w)| body.starts_with(w))
        .max_by_key(|(_, w)| w.len());
    if let Some((spec, word)) = prefixed {
        return command(spec, &body[word.len()..], &normalized);
    }
    Parsed::Unknown(head.chars().take(20).collect())
}

fn command(spec: &'static CommandSpec, rest: &str, whole: &str) -> Parsed {
    if whole.chars().count() > MAX_COMMAND_CHARS {
        return Parsed::TooLong;
    }
    Parsed::Command {
        spec,
        args: rest.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str, mentioned: bool) -> Option<(CommandKey, String)> {
        match parse(text, mentioned) {
            Parsed::Command { spec, args } => Some((spec.key, args)),
            _ => None,
        }
    }

    #[test]
    fn commands_are_found_in_their_forms() {
        let cases = [
            ("帮助", false, Some((CommandKey::Help, ""))),
            ("/帮助", false, Some((CommandKey::Help, ""))),
            ("／帮助", false, Some((CommandKey::Help, ""))),
            ("HELP", false, Some((CommandKey::Help, ""))),
            ("帮助 加入", false, Some((CommandKey::Help, "加入"))),
            ("加入 张三", false, Some((CommandKey::Join, "张三"))),
            ("加入　张三", false, Some((CommandKey::Join, "张三"))),
            ("  加入   张三  ", false, Some((CommandKey::Join, "张三"))),
            ("/加入张三", false, Some((CommandKey::Join, "张三"))),
            ("加入张三", true, Some((CommandKey::Join, "张三"))),
            (
                "绑定 ABCD-EFGH",
                false,
                Some((CommandKey::Bind, "ABCD-EFGH")),
            ),
            (
                "绑定支委群 ABCDEFGH",
                false,
                Some((CommandKey::BindCommittee, "ABCDEFGH")),
            ),
            (
                "/绑定支委群ABCDEFGH",
                false,
                Some((CommandKey::BindCommittee, "ABCDEFGH")),
            ),
            ("join 张三", false, Some((CommandKey::Join, "张三"))),
            ("成员", false, Some((CommandKey::Members, ""))),
            (
                "批准 李四 预备党员",
                false,
                Some((CommandKey::Approve, "李四 预备党员")),
            ),
        ];
        for (text, mentioned, want) in cases {
            let want = want.map(|(k, a)| (k, a.to_owned()));
            assert_eq!(key(text, mentioned), want, "{text}");
        }
    }

    #[test]
    fn chatter_stays_silent() {
        for text in [
            "大家好",
            "加入我们吧",
            "成员们辛苦了",
            "我的天",
            "成员 都到了吗",
            "",
            "   ",
            "/",
        ] {
            assert_eq!(parse(text, false), Parsed::NotCommand, "{text}");
        }
    }

    #[test]
    fn an_unknown_word_addressed_to_the_bot_gets_a_hint() {
        assert_eq!(parse("/开会", false), Parsed::Unknown("开会".to_owned()));
        assert_eq!(parse("你好", true), Parsed::Unknown("你好".to_owned()));
    }

    #[test]
    fn overlong_commands_are_refused_and_overlong_chatter_ignored() {
        let long = "张".repeat(10_000);
        assert_eq!(parse(&format!("加入 {long}"), false), Parsed::TooLong);
        assert_eq!(parse(&long, false), Parsed::NotCommand);
    }

    #[test]
    fn every_word_is_unique() {
        let mut words: Vec<&str> = COMMANDS
            .iter()
            .flat_map(|s| s.zh.iter().chain(s.en))
            .copied()
            .collect();
        let n = words.len();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), n);
    }
}
