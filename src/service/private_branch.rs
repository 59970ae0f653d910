//! The branch of a private chat. A group chat names its branch; a private chat names only the
//! account, and one account may be linked in several branches (a member of two). Such a person
//! chooses once (`支部 <n>`) and the choice is remembered; the choice only ever picks among the
//! branches whose rosters really hold the account, so nobody reaches a branch, an identity or a
//! role through it that the branch's secretary did not give them.

use std::time::Duration;

use super::{Result, Services};
use crate::{
    domain::{
        Branch, BranchId,
        chat::{ChatKind, Sender},
    },
    store::inbound::{Entry, Located},
};

/// How long a private chat's chosen branch is remembered after its last use: long enough that
/// someone who uses the bot privately now and then is not asked again.
pub const BRANCH_CHOICE_TTL: Duration = Duration::from_secs(180 * 24 * 3600);

/// Where a message belongs.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageBranch {
    /// The group's branch, or the private sender's only (or chosen) one.
    Found(BranchId),
    /// No branch: an unbound group, or a sender on no roster.
    Unbound,
    /// A private sender linked in several branches who has not chosen one: the branches, in
    /// the order their numbers count.
    Choose(Vec<Branch>),
}

impl MessageBranch {
    /// The branch, if the message has exactly one.
    pub fn found(self) -> Option<BranchId> {
        match self {
            Self::Found(id) => Some(id),
            Self::Unbound | Self::Choose(_) => None,
        }
    }
}

/// What `支部 [序号或名称]` did.
#[derive(Debug, Clone, PartialEq)]
pub enum BranchChoice {
    /// The branch is now the private chat's.
    Chosen {
        /// The chosen branch.
        branch: Branch,
        /// Every branch the account is linked in, numbered from 1.
        branches: Vec<Branch>,
    },
    /// Asked without an argument: the branches and the current choice, if any.
    Current {
        /// The branch private commands go to now.
        current: Option<BranchId>,
        /// Every branch the account is linked in, numbered from 1.
        branches: Vec<Branch>,
    },
    /// The argument names none of the branches.
    NoSuch {
        /// What was asked for.
        asked: String,
        /// Every branch the account is linked in, numbered from 1.
        branches: Vec<Branch>,
    },
    /// The account is linked in one branch only: nothing to choose.
    Only(Branch),
    /// The account is on no roster.
    Nowhere,
    /// Asked in a group chat, whose branch is the chat's: a person's branches are not listed
    /// where others read.
    InGroup,
}

impl Services {
    /// Where a message belongs: the chat's branch (a group) or the sender's (a private chat).
    /// A private sender linked in one branch is in it; one linked in several is in the branch
    /// they chose, or asked to choose. No read for a group this replica knows (one if not),
    /// one for a private sender of one branch, two for one of several who has chosen.
    pub async fn resolve_branch(&self, sender: &Sender) -> Result<MessageBranch> {
        let found = |id: Option<BranchId>| id.map_or(MessageBranch::Unbound, MessageBranch::Found);
        if sender.chat_kind == ChatKind::Group {
            // The replica's copy, which the branch's script checks (see `store::chat_index`).
            return Ok(found(self.store.chat_branch_cached(&sender.chat).await?));
        }
        let ident = sender.account();
        let ids = self.store.identity_branches(&ident).await?;
        if ids.len() < 2 {
            return Ok(found(ids.into_iter().next()));
        }
        if let Some(chosen) = self.store.branch_choice(&ident, BRANCH_CHOICE_TTL).await?
            && ids.contains(&chosen)
        {
            return Ok(MessageBranch::Found(chosen));
        }
        let mut linked = self.linked_branches(sender, &ids).await?;
        Ok(match linked.len() {
            0 | 1 => found(linked.pop().map(|b| b.id)),
            _ => MessageBranch::Choose(linked),
        })
    }

    /// `支部 [序号或名称]` in a private chat: chooses the branch its commands go to, among the
    /// branches whose rosters hold the account (read from each branch's own roster, not from
    /// the global index alone), or shows them. A number counts in the list the question
    /// showed (branches by id); a name matches exactly, or as the one name containing it.
    pub async fn choose_branch(&self, sender: &Sender, raw: &str) -> Result<BranchChoice> {
        if sender.chat_kind != ChatKind::Private {
            return Ok(BranchChoice::InGroup);
        }
        let ident = sender.account();
        let ids = self.store.identity_branches(&ident).await?;
        let mut branches = self.linked_branches(sender, &ids).await?;
        if branches.len() < 2 {
            return Ok(branches
                .pop()
                .map_or(BranchChoice::Nowhere, BranchChoice::Only));
        }
        let asked = raw.trim();
        if asked.is_empty() {
            let current = self
                .store
                .branch_choice(&ident, BRANCH_CHOICE_TTL)
                .await?
                .filter(|id| branches.iter().any(|b| b.id == *id));
            return Ok(BranchChoice::Current { current, branches });
        }
        let Some(index) = pick(&branches, asked) else {
            return Ok(BranchChoice::NoSuch {
                asked: asked.to_owned(),
                branches,
            });
        };
        let branch = branches[index].clone();
        self.store
            .set_branch_choice(&ident, &branch.id, BRANCH_CHOICE_TTL)
            .await?;
        Ok(BranchChoice::Chosen { branch, branches })
    }

    /// Of the branches the index names for the sender's account, those whose rosters hold it
    /// (an index entry that outlived its link is not trusted), in the order given.
    async fn linked_branches(&self, sender: &Sender, ids: &[BranchId]) -> Result<Vec<Branch>> {
        let mut linked = Vec::with_capacity(ids.len());
        for id in ids {
            // A private sender's branch comes from Redis's own index: nothing to check.
            let at = Located {
                branch: id,
                check: false,
            };
            if let Entry::Bound {
                branch,
                member: Some(_),
                ..
            } = self.store.branch_context(at, sender).await?
            {
                linked.push(branch);
            }
        }
        Ok(linked)
    }
}

/// The index of the branch `asked` names: its number in the list (from 1, `#` allowed), its
/// name (case aside), or the one name that contains it.
fn pick(branches: &[Branch], asked: &str) -> Option<usize> {
    let digits = asked.trim_start_matches('#').trim();
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let n: usize = digits.parse().ok()?;
        return (1..=branches.len()).contains(&n).then(|| n - 1);
    }
    let lower = asked.to_lowercase();
    if let Some(i) = branches.iter().position(|b| b.name.to_lowercase() == lower) {
        return Some(i);
    }
    let mut containing = branches
        .iter()
        .enumerate()
        .filter(|(_, b)| b.name.to_lowercase().contains(&lower));
    match (containing.next(), containing.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branches(names: &[&str]) -> Vec<Branch> {
        names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                Some(Branch {
                    id: BranchId::parse(&format!("b{i}"))?,
                    name: (*name).to_owned(),
                    timezone: chrono_tz::Asia::Shanghai,
                    language: crate::domain::Language::Zh,
                    created_at: chrono::Utc::now(),
                    timing: Default::default(),
                    committee_chat: None,
                    calendar_token: None,
                })
            })
            .collect()
    }

    #[test]
    fn a_choice_is_read_as_a_number_a_name_or_part_of_one_name() {
        let list = branches(&["第一党支部", "第二党支部", "Tech branch"]);
        assert_eq!(pick(&list, "1"), Some(0));
        assert_eq!(pick(&list, "#2"), Some(1));
        assert_eq!(pick(&list, "3"), Some(2));
        assert_eq!(pick(&list, "第二党支部"), Some(1));
        assert_eq!(pick(&list, "tech BRANCH"), Some(2));
        assert_eq!(pick(&list, "第一"), Some(0));
        // Out of the list, or a part that two names share: nothing is picked.
        assert_eq!(pick(&list, "0"), None);
        assert_eq!(pick(&list, "4"), None);
        assert_eq!(pick(&list, "99999999999999999999999"), None);
        assert_eq!(pick(&list, "党支部"), None);
        assert_eq!(pick(&list, "乙支部"), None);
    }
}
