//! Texts of a private chat's branch: the question a member of several branches is asked before
//! their first private command, and the answers to `支部`. They list the person's own branches,
//! so they are only ever sent in that person's private chat.

use crate::{
    domain::{Branch, Language},
    service::private_branch::BranchChoice,
};

/// Longest command quoted back in the question; a longer one is "the command you sent".
const MAX_QUOTED_CHARS: usize = 60;

/// The language of a text about several branches: English only if all of them speak it.
fn language(branches: &[Branch]) -> Language {
    if !branches.is_empty() && branches.iter().all(|b| b.language == Language::En) {
        Language::En
    } else {
        Language::Zh
    }
}

/// `1. 甲支部`, one per line; `current` marked.
fn numbered(lang: Language, branches: &[Branch], current: Option<&Branch>) -> String {
    let mark = match lang {
        Language::Zh => "（当前）",
        Language::En => " (current)",
    };
    branches
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let now = if current.is_some_and(|c| c.id == b.id) {
                mark
            } else {
                ""
            };
            format!("{}. {}{now}", i + 1, b.name)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The commands that choose: `「支部 1」或「支部 2」`.
fn options(lang: Language, n: usize) -> String {
    match (lang, n) {
        (Language::Zh, 2) => "「支部 1」或「支部 2」".to_owned(),
        (Language::Zh, n) => format!("「支部 1」到「支部 {n}」中的一个"),
        (Language::En, 2) => "\"branch 1\" or \"branch 2\"".to_owned(),
        (Language::En, n) => format!("one of \"branch 1\" to \"branch {n}\""),
    }
}

fn count_zh(n: usize) -> String {
    if n == 2 {
        "两".to_owned()
    } else {
        n.to_string()
    }
}

/// The question before a private command of someone on several branches' rosters, who has not
/// chosen: the branches, how to choose, and that the command (quoted when short) is to be sent
/// again after choosing; it is not run meanwhile.
pub fn choose_first(branches: &[Branch], command: Option<&str>) -> String {
    let lang = language(branches);
    let (n, list, options) = (
        branches.len(),
        numbered(lang, branches, None),
        options(lang, branches.len()),
    );
    let command = command.filter(|c| !c.is_empty() && c.chars().count() <= MAX_QUOTED_CHARS);
    match lang {
        Language::Zh => {
            let again = command.map_or("刚才的命令".to_owned(), |c| format!("「{c}」"));
            let count = count_zh(n);
            format!(
                "请先选择支部：你在{count}个支部的名册上，私聊中的命令要在哪个支部办理？\n{list}\n请回复{options}选择（会记住，以后发送「支部」可查看或更换），然后再发一次{again}。"
            )
        }
        Language::En => {
            let again = command.map_or("the command".to_owned(), |c| format!("\"{c}\""));
            format!(
                "Choose a branch first: you are on the rosters of {n} branches. Which one do your private commands go to?\n{list}\nReply {options} (remembered; send \"branch\" any time to see or change it), then send {again} again."
            )
        }
    }
}

/// The answer to `支部 [序号或名称]`; `here` is the branch of the chat it was asked in.
pub fn choice(here: &Branch, outcome: &BranchChoice) -> String {
    match outcome {
        BranchChoice::Chosen { branch, branches } => {
            let lang = language(branches);
            let name = &branch.name;
            let other = branches
                .iter()
                .enumerate()
                .find(|(_, b)| b.id != branch.id)
                .filter(|_| branches.len() == 2);
            match (lang, other) {
                (Language::Zh, Some((i, b))) => format!(
                    "私聊支部已选定：{name}。你在私聊中的命令今后都在{name}办理；刚才没有办理的命令请再发一次。要换到{}，发送「支部 {}」。",
                    b.name,
                    i + 1
                ),
                (Language::Zh, None) => format!(
                    "私聊支部已选定：{name}。你在私聊中的命令今后都在{name}办理；刚才没有办理的命令请再发一次。发送「支部」可查看或更换。"
                ),
                (Language::En, Some((i, b))) => format!(
                    "Private chat branch chosen: {name}. Your private commands now go to {name}; send again any command that was not done. To switch to {}, send \"branch {}\".",
                    b.name,
                    i + 1
                ),
                (Language::En, None) => format!(
                    "Private chat branch chosen: {name}. Your private commands now go to {name}; send again any command that was not done. Send \"branch\" to see or change it."
                ),
            }
        }
        BranchChoice::Current { current, branches } => {
            let lang = language(branches);
            let current = current
                .as_ref()
                .and_then(|id| branches.iter().find(|b| b.id == *id));
            let list = numbered(lang, branches, current);
            let options = options(lang, branches.len());
            match (lang, current) {
                (Language::Zh, Some(c)) => format!(
                    "私聊支部：{}（你在私聊中的命令在这里办理）。\n{list}\n要更换，请回复{options}。",
                    c.name
                ),
                (Language::Zh, None) => {
                    format!("私聊支部尚未选择。\n{list}\n请回复{options}选择。")
                }
                (Language::En, Some(c)) => format!(
                    "Private chat branch: {} (your private commands go there).\n{list}\nTo change it, reply {options}.",
                    c.name
                ),
                (Language::En, None) => {
                    format!("No private chat branch chosen yet.\n{list}\nReply {options}.")
                }
            }
        }
        BranchChoice::NoSuch { asked, branches } => {
            let lang = language(branches);
            let list = numbered(lang, branches, None);
            let options = options(lang, branches.len());
            match lang {
                Language::Zh => format!(
                    "私聊支部未更改：「{asked}」不是你所在的支部。你在：\n{list}\n请回复{options}。"
                ),
                Language::En => format!(
                    "Private chat branch not changed: \"{asked}\" is not one of your branches. You are in:\n{list}\nReply {options}."
                ),
            }
        }
        BranchChoice::Only(branch) => {
            let name = &branch.name;
            match branch.language {
                Language::Zh => format!(
                    "私聊支部就是{name}：你只在{name}的名册上，私聊中的命令都在这里办理，无需选择。"
                ),
                Language::En => format!(
                    "Your private chat branch is {name}: you are on its roster only, so there is nothing to choose."
                ),
            }
        }
        BranchChoice::Nowhere => super::no_branch_private(here.language),
        BranchChoice::InGroup => {
            let name = &here.name;
            match here.language {
                Language::Zh => format!(
                    "本群属于{name}，群里的命令都在{name}办理。「支部」用于私聊：你在多个支部的名册上时，私聊我发送「支部」选择私聊命令办理的支部。"
                ),
                Language::En => format!(
                    "This chat belongs to {name}; commands here go to {name}. \"branch\" is for private chats: if you are on several branches' rosters, send it to me privately to choose where your private commands go."
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BranchId;

    fn branch(id: &str, name: &str) -> Option<Branch> {
        Some(Branch {
            id: BranchId::parse(id)?,
            name: name.to_owned(),
            timezone: chrono_tz::Asia::Shanghai,
            language: Language::Zh,
            created_at: chrono::Utc::now(),
            timing: Default::default(),
            committee_chat: None,
            calendar_token: None,
        })
    }

    #[test]
    fn the_question_lists_the_branches_and_quotes_the_command_to_send_again() {
        let list: Vec<Branch> = [branch("a", "甲支部"), branch("b", "乙支部")]
            .into_iter()
            .flatten()
            .collect();
        let text = choose_first(&list, Some("请假 #1 出差"));
        assert!(text.starts_with("请先选择支部：你在两个支部"), "{text}");
        assert!(text.contains("1. 甲支部\n2. 乙支部"), "{text}");
        assert!(text.contains("「支部 1」或「支部 2」"), "{text}");
        assert!(text.contains("再发一次「请假 #1 出差」"), "{text}");
        assert!(!text.contains('<'), "no placeholders: {text}");
        let long = "请假 #1 ".to_owned() + &"很".repeat(100);
        assert!(choose_first(&list, Some(&long)).contains("再发一次刚才的命令"));
    }

    #[test]
    fn a_choice_names_the_branch_and_how_to_switch_back() {
        let list: Vec<Branch> = [branch("a", "甲支部"), branch("b", "乙支部")]
            .into_iter()
            .flatten()
            .collect();
        let text = choice(
            &list[0],
            &BranchChoice::Chosen {
                branch: list[1].clone(),
                branches: list.clone(),
            },
        );
        assert!(text.starts_with("私聊支部已选定：乙支部。"), "{text}");
        assert!(text.contains("要换到甲支部，发送「支部 1」"), "{text}");
        let text = choice(
            &list[0],
            &BranchChoice::NoSuch {
                asked: "丙支部".to_owned(),
                branches: list.clone(),
            },
        );
        assert!(text.starts_with("私聊支部未更改：「丙支部」"), "{text}");
    }
}
