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
    /// 支部 [序号或名称]: a private chat's branch, for someone in several.
    Branch,
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
    /// A filled-in example, Chinese (what help shows, never a `<…>` placeholder).
    pub example_zh: &'static str,
    /// A filled-in example, English.
    pub example_en: &'static str,
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
        example_zh: "帮助 请假",
        example_en: "help leave",
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
        example_zh: "加入 张三",
        example_en: "join Zhang San",
    },
    CommandSpec {
        key: CommandKey::Me,
        zh: &["我的", "我的信息", "我的记录", "个人信息"],
        en: &["me"],
        min_role: Role::Guest,
        unbound_ok: false,
        args: Args::None,
        usage_zh: "我的",
        usage_en: "me",
        help_zh: "查看自己的记录",
        help_en: "show your own record",
        example_zh: "我的",
        example_en: "me",
    },
    CommandSpec {
        key: CommandKey::Meetings,
        zh: &["会议", "会议列表", "近期会议"],
        en: &["meetings"],
        min_role: Role::Activist,
        unbound_ok: false,
        args: Args::Optional,
        usage_zh: "会议 [#编号]",
        usage_en: "meetings [#no]",
        help_zh: "查看近期会议，或一个会议的详情",
        help_en: "list coming meetings, or show one",
        example_zh: "会议 #3",
        example_en: "meetings #3",
    },
    CommandSpec {
        key: CommandKey::Rsvp,
        zh: &["参加", "报名参加", "报名"],
        en: &["rsvp"],
        min_role: Role::Activist,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "参加 #编号",
        usage_en: "rsvp #no",
        help_zh: "报名参加会议",
        help_en: "say you will attend a meeting",
        example_zh: "参加 #3",
        example_en: "rsvp #3",
    },
    CommandSpec {
        key: CommandKey::Leave,
        zh: &["请假", "请个假"],
        en: &["leave"],
        min_role: Role::Activist,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "请假 #编号 <理由>",
        usage_en: "leave #no <reason>",
        help_zh: "会前请假（理由只给书记看）",
        help_en: "ask leave before a meeting (the reason goes to the secretary only)",
        example_zh: "请假 #3 出差在外地",
        example_en: "leave #3 away on business",
    },
    CommandSpec {
        key: CommandKey::CheckIn,
        zh: &["签到", "打卡", "签个到", "签到码"],
        en: &["checkin", "check-in"],
        min_role: Role::Activist,
        unbound_ok: false,
        args: Args::Optional,
        usage_zh: "签到 [#编号] [签到码]",
        usage_en: "checkin [#no] [code]",
        help_zh: "会议签到（会前 15 分钟开放）",
        help_en: "check in to a meeting (opens 15 minutes before)",
        example_zh: "签到 6666",
        example_en: "checkin 6666",
    },
    CommandSpec {
        key: CommandKey::CheckinStatus,
        zh: &["签到状态", "签到记录", "我的签到"],
        en: &["checkin-status"],
        min_role: Role::Activist,
        unbound_ok: false,
        args: Args::None,
        usage_zh: "签到状态",
        usage_en: "checkin-status",
        help_zh: "查看本人近期会议的报名、请假和签到记录",
        help_en: "your own RSVP, leave and check-in record for recent meetings",
        example_zh: "签到状态",
        example_en: "checkin-status",
    },
    CommandSpec {
        key: CommandKey::Branch,
        zh: &["支部", "选择支部", "切换支部"],
        en: &["branch"],
        min_role: Role::Activist,
        unbound_ok: false,
        args: Args::Optional,
        usage_zh: "支部 [序号或名称]",
        usage_en: "branch [no or name]",
        help_zh: "在多个支部时，私聊中选择命令在哪个支部办理",
        help_en: "if you are in several branches, choose which one your private commands go to",
        example_zh: "支部 2",
        example_en: "branch 2",
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
        example_zh: "新建会议 党课 12月18日 19:00 党史学习",
        example_en: "new-meeting lesson 12-18 19:00 Party history",
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
        example_zh: "改期 #3 12月20日 19:30",
        example_en: "reschedule #3 12-20 19:30",
    },
    CommandSpec {
        key: CommandKey::CancelMeeting,
        zh: &["取消会议", "取消"],
        en: &["cancel-meeting"],
        min_role: Role::Committee,
        unbound_ok: false,
        args: Args::Required,
        usage_zh: "取消会议 #编号",
        usage_en: "cancel-meeting #no",
        help_zh: "取消会议并通知各群",
        help_en: "cancel a meeting and tell every chat",
        example_zh: "取消会议 #3",
        example_en: "cancel-meeting #3",
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
        example_zh: "开始签到 #3 30 6666",
        example_en: "open-checkin #3 30 6666",
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
        example_zh: "结束会议 #3",
        example_en: "end-meeting #3",
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
        example_zh: "会议记录 #3 通过了年度学习计划",
        example_en: "minutes #3 the yearly study plan was adopted",
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
        example_zh: "台账 2026-Q4",
        example_en: "ledger 2026-Q4",
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
        example_zh: "驳回请假 #3 张三",
        example_en: "refuse-leave #3 Zhang San",
    },
    CommandSpec {
        key: CommandKey::Members,
        zh: &["成员", "名册", "花名册", "成员名单"],
        en: &["members", "roster"],
        min_role: Role::Committee,
        unbound_ok: false,
        args: Args::None,
        usage_zh: "成员",
        usage_en: "members",
        help_zh: "查看支部名册（姓名与身份）",
        help_en: "list the roster (names and roles)",
        example_zh: "成员",
        example_en: "members",
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
        example_zh: "批准 张三 预备党员",
        example_en: "approve Zhang San probationary",
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
        example_zh: "拒绝 张三",
        example_en: "reject Zhang San",
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
        example_zh: "解除关联 张三",
        example_en: "unlink Zhang San",
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
        example_zh: "绑定码 支委群",
        example_en: "bind-code committee",
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
        example_zh: "绑定 ABCD-EFGH",
        example_en: "bind ABCD-EFGH",
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
        example_zh: "绑定支委群 ABCD-EFGH",
        example_en: "bind-committee ABCD-EFGH",
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
    fold(text, true)
}

/// [`normalize`] without the full-width fold: only white space is folded, so free text keeps
/// its `，` and `！`. Char for char it lines up with [`normalize`] of the same text.
pub fn normalize_spaces(text: &str) -> String {
    fold(text, false)
}

fn fold(text: &str, full_width: bool) -> String {
    let mapped = text.chars().map(|c| match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' if full_width => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
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

/// Names people address the bot by when the platform does not mark the mention (`@机器人 会议`
/// typed as text). A configured bot name is added by the caller.
pub const BOT_NAMES: &[&str] = &["机器人", "小助手", "助手", "党建助手", "党建小助手", "bot"];

/// Reads a message (see [`parse_addressed`]), knowing only the generic bot names.
pub fn parse(text: &str, mentioned: bool) -> Parsed {
    parse_addressed::<&str>(text, mentioned, &[])
}

/// Reads a message. A command is its first word (`签到`, `加入 张三`) or, glued to its
/// argument, a word followed by something shaped like that argument (`签到4`, `加入李明`,
/// `请假#2 出差`); a short question or wish about a command (`怎么请假`, `我要请假`) asks for
/// its help. Everything else in a group is chatter. Addressed to the bot (a leading `/`, an
/// @-mention the platform marked, or a leading `@name` of the bot in `names` or
/// [`BOT_NAMES`]), any word may run into its argument and an unknown word earns a hint.
pub fn parse_addressed<S: AsRef<str>>(text: &str, mentioned: bool, names: &[S]) -> Parsed {
    let normalized = normalize(text);
    let (mut explicit, mut body) = (mentioned, normalized.as_str());
    if let Some(rest) = body.strip_prefix('/') {
        (explicit, body) = (true, rest.trim_start());
    } else if let Some(rest) = strip_bot_mention(body, names) {
        (explicit, body) = (true, rest);
    }
    let body = shed_closing(body);
    if body.is_empty() {
        return Parsed::NotCommand;
    }
    let too_long = normalized.chars().count() > MAX_COMMAND_CHARS;
    if !too_long && let Some(spec) = question(body) {
        return Parsed::Command {
            spec: help_spec(),
            args: spec.zh[0].to_owned(),
        };
    }
    let (head, rest) = body.split_once(' ').unwrap_or((body, ""));
    if let Some(spec) = lookup(head) {
        let canonical = spec.zh[0] == head || spec.en.iter().any(|e| head.eq_ignore_ascii_case(e));
        let args = arguments(spec, rest);
        if !explicit && !fits(spec, &args, canonical, false) {
            return Parsed::NotCommand;
        }
        return command(spec, keep_typed(spec, args, text, &normalized), too_long);
    }
    // A Chinese word running into its argument: the longest word the message starts with.
    if let Some((spec, word)) = lookup_prefix(body) {
        let rest = body.get(word.len()..).unwrap_or_default();
        let args = arguments(spec, rest);
        if explicit || fits(spec, &args, spec.zh[0] == word, true) {
            return command(spec, keep_typed(spec, args, text, &normalized), too_long);
        }
        return Parsed::NotCommand;
    }
    if !explicit {
        return Parsed::NotCommand;
    }
    Parsed::Unknown(crate::texts::clip(head, 20))
}

/// A message without the closing marks people end a command with (`签到。`, `打卡！`).
fn shed_closing(text: &str) -> &str {
    text.trim_end_matches(['。', '.', '!', '~', '～', '…'])
        .trim_end()
}

/// Free text (a leave reason, minutes, a new meeting's topic) as it was typed: the parser
/// reads the folded form, but what people wrote keeps its full-width `，` `！` `（`, and the
/// closing mark the command word sheds. The folded number before it stays folded (`＃２`
/// reads as `#2`). The two forms line up char for char ([`normalize_spaces`]), so the free
/// text is the same span of the typed one.
fn keep_typed(spec: &CommandSpec, args: String, text: &str, normalized: &str) -> String {
    let (head, free) = match spec.key {
        CommandKey::Leave | CommandKey::Minutes => match args.split_once(' ') {
            Some((head, free)) => (Some(head), free),
            None => return args,
        },
        CommandKey::NewMeeting => (None, args.as_str()),
        _ => return args,
    };
    let before = shed_closing(normalized);
    if free.is_empty() || !before.ends_with(free) {
        return args;
    }
    let start = before.chars().count() - free.chars().count();
    let typed: String = normalize_spaces(text).chars().skip(start).collect();
    // Only ever the same characters unfolded; anything else keeps the folded form.
    if !normalize(&typed).starts_with(free) {
        return args;
    }
    match head {
        Some(head) => format!("{head} {typed}"),
        None => typed,
    }
}

fn command(spec: &'static CommandSpec, args: String, too_long: bool) -> Parsed {
    if too_long {
        return Parsed::TooLong;
    }
    Parsed::Command { spec, args }
}

fn help_spec() -> &'static CommandSpec {
    &COMMANDS[0]
}

/// The text after a leading `@name ` that names the bot.
fn strip_bot_mention<'a, S: AsRef<str>>(body: &'a str, names: &[S]) -> Option<&'a str> {
    let rest = body.strip_prefix('@')?;
    let (name, after) = rest.split_once(' ')?;
    let known = names
        .iter()
        .map(AsRef::as_ref)
        .chain(BOT_NAMES.iter().copied())
        .any(|n| n.eq_ignore_ascii_case(name));
    known.then_some(after.trim_start())
}

/// Words that open a question or a wish about doing something (`怎么请假`, `我要请假`).
const ASKING: &[&str] = &[
    "请问怎么",
    "请问如何",
    "怎么样",
    "怎么",
    "如何",
    "怎样",
    "咋",
    "我要",
    "我想要",
    "我想",
    "想要",
];
/// Verbs that may sit between the asking word and the command (`怎么查会议`).
const ASKING_VERBS: &[&str] = &[
    "查看", "查", "看", "用", "弄", "办理", "进行", "操作", "申请",
];
/// Endings of a question after the command word (`请假怎么弄`, `怎么报名参加`).
const ASKING_TAILS: &[&str] = &[
    "怎么弄",
    "怎么办",
    "怎么用",
    "怎么操作",
    "怎么搞",
    "怎么做",
    "怎么填",
    "参加",
    "支部",
    "呢",
    "啊",
    "吗",
    "一下",
    "?",
];
/// Whole messages that ask how to use the bot at all.
const ASKING_HELP: &[&str] = &[
    "怎么用",
    "这个怎么用",
    "机器人怎么用",
    "有什么命令",
    "有哪些命令",
    "怎么使用",
    "如何使用",
];
/// Longest message read as a question; a longer one that contains a command word is a
/// sentence about something else (`我明天请假去医院看看老人`).
const MAX_QUESTION_CHARS: usize = 12;

/// The command a short question or wish is about.
fn question(body: &str) -> Option<&'static CommandSpec> {
    if body.chars().count() > MAX_QUESTION_CHARS {
        return None;
    }
    let body = body.trim_end_matches(['?', '？']);
    if ASKING_HELP.contains(&body) {
        return Some(help_spec());
    }
    // "<asking word> [verb] <command word> [tail]" or "<command word> <tail>".
    let (asked, rest) = match ASKING.iter().find_map(|a| body.strip_prefix(a)) {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let rest = ASKING_VERBS
        .iter()
        .find_map(|v| rest.strip_prefix(v).filter(|r| lookup_prefix(r).is_some()))
        .unwrap_or(rest);
    let (spec, word) = lookup_prefix(rest)?;
    let tail = rest.get(word.len()..).unwrap_or_default();
    let tail_ok = tail.is_empty() || ASKING_TAILS.contains(&tail);
    // Without an asking word, only a tail that asks (`请假怎么弄`) makes it a question.
    let asks = asked || (!tail.is_empty() && tail_ok && tail.starts_with('怎'));
    (asks && tail_ok && spec.key != CommandKey::Help).then_some(spec)
}

/// The command whose Chinese word opens `text` (the longest such word).
fn lookup_prefix(text: &str) -> Option<(&'static CommandSpec, &'static str)> {
    COMMANDS
        .iter()
        .flat_map(|s| s.zh.iter().map(move |w| (s, *w)))
        .filter(|(_, w)| text.starts_with(w))
        .max_by_key(|(_, w)| w.len())
}

/// A command's argument text as the command reads it: `# 4` closed up to `#4`, a number glued
/// to the text after it split off (`#2出差` → `#2 出差`), `签到码` and its colon dropped from a
/// check-in, and a two-character name typed with a space inside (`孙 伟`) joined.
fn arguments(spec: &CommandSpec, rest: &str) -> String {
    let mut rest = rest.trim().trim_start_matches(':').trim_start().to_owned();
    if let Some(after) = rest.strip_prefix('#') {
        rest = format!("#{}", after.trim_start());
    }
    let digits_end = rest
        .char_indices()
        .skip(usize::from(rest.starts_with('#')))
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(rest.len(), |(i, _)| i);
    let has_number = digits_end > usize::from(rest.starts_with('#'));
    if has_number
        && takes_meeting_no(spec.key)
        && digits_end < rest.len()
        && !rest[digits_end..].starts_with(' ')
    {
        rest = format!("{} {}", &rest[..digits_end], &rest[digits_end..]);
    }
    match spec.key {
        CommandKey::CheckIn => rest
            .split(' ')
            .filter(|t| {
                !t.is_empty() && *t != "签到码" && *t != ":" && !t.eq_ignore_ascii_case("code")
            })
            .map(|t| t.trim_start_matches("签到码").trim_start_matches(':'))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        CommandKey::Join | CommandKey::Approve | CommandKey::Reject | CommandKey::Unlink => {
            join_spaced_name(&rest)
        }
        _ => rest,
    }
}

/// `#3`, `＃3` (normalised earlier) or `3`.
pub fn number(token: &str) -> Option<u64> {
    let digits = token.strip_prefix('#').unwrap_or(token);
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether a command's first argument is a meeting's `#n`.
fn takes_meeting_no(key: CommandKey) -> bool {
    use CommandKey as K;
    matches!(
        key,
        K::Meetings
            | K::Rsvp
            | K::Leave
            | K::RefuseLeave
            | K::Reschedule
            | K::CancelMeeting
            | K::OpenCheckin
            | K::CheckIn
            | K::EndMeeting
            | K::Minutes
    )
}

/// `孙 伟 预备党员` → `孙伟 预备党员`: single Chinese characters in a row, as people space out a
/// two-character name to line it up with three-character ones, are one name.
fn join_spaced_name(args: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut joining = false;
    for token in args.split(' ').filter(|t| !t.is_empty()) {
        let single = token.chars().count() == 1 && token.chars().all(is_cjk);
        match out.last_mut() {
            Some(last) if single && joining => last.push_str(token),
            _ => out.push(token.to_owned()),
        }
        joining = single;
    }
    out.join(" ")
}

fn is_cjk(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c) || ('\u{3400}'..='\u{4DBF}').contains(&c)
}

/// Whether the arguments are shaped as the command's, for a message not addressed to the bot.
/// A glued argument must always fit (`签到4` yes, `签到了吗` no); after a space, the canonical
/// word of a command that needs free text takes anything (its usage error shows the fix), but
/// a synonym or an optional-argument command must fit (`会议 开得很成功` is chatter).
fn fits(spec: &CommandSpec, args: &str, canonical: bool, glued: bool) -> bool {
    if spec.args == Args::None {
        return args.is_empty();
    }
    if glued && args.is_empty() {
        return false;
    }
    if !glued && canonical && spec.args == Args::Required {
        return true;
    }
    if args.is_empty() {
        return spec.args == Args::Optional;
    }
    let first = args.split(' ').next().unwrap_or_default();
    let meeting_no = |t: &str| number(t).is_some();
    match spec.key {
        CommandKey::Help => lookup(args).is_some() || matches!(args, "全部" | "all"),
        CommandKey::Meetings => meeting_no(args),
        CommandKey::CheckIn => args.split(' ').all(|t| {
            meeting_no(t) || (t.len() <= 12 && t.chars().all(|c| c.is_ascii_alphanumeric()))
        }),
        CommandKey::Ledger => is_period(args),
        // A number, or a branch's name as people write it (`支部 乙支部`); any other text after
        // `支部` is chatter about the branch.
        CommandKey::Branch => {
            meeting_no(args)
                || (!args.contains(' ') && args.ends_with("支部") && args.chars().count() <= 40)
        }
        CommandKey::Join | CommandKey::Approve | CommandKey::Reject | CommandKey::Unlink => {
            looks_like_name(first)
        }
        CommandKey::Bind | CommandKey::BindCommittee => looks_like_code(first),
        CommandKey::BindCode => matches!(args, "支委群" | "支委" | "普通群" | "群"),
        CommandKey::NewMeeting => MEETING_KINDS.iter().any(|k| args.starts_with(k)),
        _ => meeting_no(first),
    }
}

/// Meeting kinds a glued `新建会议` may start with.
const MEETING_KINDS: &[&str] = &[
    "支委会",
    "党员大会",
    "党小组会",
    "党课",
    "主题党日",
    "组织生活会",
];

/// A ledger period as people type it (whatever [`Period::parse_spoken`] reads: `2026-Q4`,
/// `12月`, `本月`, `第四季度`, `今年`), or something shaped like one that it cannot read
/// (`13月`, `第五季度`), which is answered with the forms rather than ignored.
fn is_period(args: &str) -> bool {
    // Whether a form reads does not depend on the day, only which period it names.
    crate::domain::ledger::Period::parse_spoken(args, chrono::NaiveDate::default()).is_some()
        || (!args.is_empty()
            && args
                .chars()
                .all(|c| c.is_ascii_digit() || "-Qq年月季度第一二三四".contains(c))
            && args
                .chars()
                .any(|c| c.is_ascii_digit() || "一二三四".contains(c)))
}

/// A bind code: eight letters and digits, maybe split by a dash.
fn looks_like_code(token: &str) -> bool {
    let chars: Vec<char> = token.chars().filter(|c| *c != '-').collect();
    chars.len() == 8 && chars.iter().all(|c| c.is_ascii_alphanumeric())
}

/// Common Chinese surnames; a glued `加入李明` is a name only when it starts with one.
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝";
/// Compound surnames.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "慕容", "令狐", "公孙", "夏侯", "尉迟", "长孙",
    "宇文", "司徒", "端木", "南宫", "独孤", "西门",
];
/// Words that follow a surname-like character in chatter (`加入党组织`, `加入我们`).
const NOT_NAMES: &[&str] = &[
    "组织", "支部", "我们", "你们", "他们", "大家", "群", "公司", "单位", "活动",
];

/// Two to four Chinese characters that start with a surname.
fn looks_like_name(token: &str) -> bool {
    let n = token.chars().count();
    let surname = COMPOUND_SURNAMES.iter().any(|s| token.starts_with(s))
        || token.chars().next().is_some_and(|c| SURNAMES.contains(c));
    (2..=4).contains(&n)
        && token.chars().all(is_cjk)
        && surname
        && !NOT_NAMES.iter().any(|w| token.contains(w))
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

    /// What a line of `tests/data/phrasings.tsv` says the parser must make of a message.
    fn interpretation(text: &str) -> String {
        match parse_addressed(text, false, &["机器人", "党建小助手"]) {
            Parsed::NotCommand => "-".to_owned(),
            Parsed::Command { spec, args } if spec.key == CommandKey::Help && text_asks(text) => {
                format!("?{args}")
            }
            Parsed::Command { spec, args } if args.is_empty() => spec.zh[0].to_owned(),
            Parsed::Command { spec, args } => format!("{} {args}", spec.zh[0]),
            Parsed::Unknown(w) => format!("unknown {w}"),
            Parsed::TooLong => "too long".to_owned(),
        }
    }

    /// Whether a message is a question rather than a typed `帮助 <命令>`.
    fn text_asks(text: &str) -> bool {
        let body = normalize(text);
        !body.starts_with("帮助")
            && !body.starts_with("/帮助")
            && !body.starts_with("菜单")
            && !body.to_lowercase().starts_with("help")
            && !body.starts_with("@机器人 帮助")
    }

    #[test]
    fn phrasings_from_group_chats_are_read_as_meant() {
        let data = include_str!("../../tests/data/phrasings.tsv");
        let mut failures = Vec::new();
        let mut count = 0;
        for line in data
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (text, want) = line.split_once('\t').unwrap_or((line, "<missing>"));
            count += 1;
            let got = interpretation(text);
            if got != want {
                failures.push(format!("{text:?}: want {want:?}, got {got:?}"));
            }
        }
        assert!(count >= 150, "the table holds {count} phrasings");
        assert!(
            failures.is_empty(),
            "{} misread:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn ordinary_group_messages_get_no_reply() {
        let data = include_str!("../../tests/data/chatter.txt");
        let lines: Vec<&str> = data
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .collect();
        assert!(
            lines.len() >= 300,
            "the corpus holds {} messages",
            lines.len()
        );
        let answered: Vec<_> = lines
            .iter()
            .filter(|l| parse(l, false) != Parsed::NotCommand)
            .collect();
        // At most 1% may be read as commands; list them so a change that adds one is seen.
        assert!(
            answered.len() * 100 <= lines.len(),
            "{} of {} answered: {answered:?}",
            answered.len(),
            lines.len()
        );
    }

    #[test]
    fn free_text_keeps_its_full_width_punctuation() {
        let cases = [
            (
                "请假 #2 家里有事，晚点到！",
                CommandKey::Leave,
                "#2 家里有事，晚点到！",
            ),
            (
                "请假＃２　出差（外地）",
                CommandKey::Leave,
                "#2 出差（外地）",
            ),
            ("请假#2出差：外地", CommandKey::Leave, "#2 出差：外地"),
            (
                "会议记录 ＃3 通过了计划；下次：12月",
                CommandKey::Minutes,
                "#3 通过了计划；下次：12月",
            ),
            (
                "新建会议 党课 明天 19：00 党史学习（第一讲）",
                CommandKey::NewMeeting,
                "党课 明天 19：00 党史学习（第一讲）",
            ),
            // Shapes are still read folded.
            ("签到 ＃２", CommandKey::CheckIn, "#2"),
            ("参加＃４", CommandKey::Rsvp, "#4"),
        ];
        for (text, want_key, want_args) in cases {
            assert_eq!(
                key(text, false),
                Some((want_key, want_args.to_owned())),
                "{text}"
            );
        }
    }

    #[test]
    fn a_check_in_code_is_read_with_or_without_its_name() {
        for text in [
            "签到 6666",
            "签到码6666",
            "签到码 6666",
            "签到 签到码 6666",
            "签到 签到码：６６６６",
            "签到码:6666",
        ] {
            assert_eq!(
                key(text, false),
                Some((CommandKey::CheckIn, "6666".to_owned())),
                "{text}"
            );
        }
        assert_eq!(
            key("签到 #3 签到码 6666", false),
            Some((CommandKey::CheckIn, "#3 6666".to_owned()))
        );
    }

    #[test]
    fn an_unknown_word_is_cut_with_an_ellipsis() {
        let long = "开".repeat(30);
        assert_eq!(
            parse(&format!("/{long}"), false),
            Parsed::Unknown(format!("{}…", "开".repeat(19)))
        );
    }

    #[test]
    fn examples_are_filled_in_and_usable() {
        for spec in COMMANDS {
            for example in [spec.example_zh, spec.example_en] {
                assert!(!example.contains('<'), "{example}");
                match parse(example, true) {
                    Parsed::Command { spec: got, .. } => assert_eq!(got.key, spec.key, "{example}"),
                    other => panic!("{example}: {other:?}"),
                }
            }
        }
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
