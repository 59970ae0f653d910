//! Branches: creation, settings, bind codes, and binding chats to a branch.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Result, ServiceError, Services, retry_on_conflict};
use crate::{
    domain::{
        Branch, BranchId, Invalid, Language, Member, MemberStatus, Role, TimingOverrides,
        chat::{ChatRef, Sender},
        member::Identity,
        validate_name,
    },
    store::{
        effects::EffectMark,
        inbound::{Entry, Located},
        limits::Attempt,
        roster::BindCodeRecord,
        txn::Txn,
    },
};

/// Letters a person can read aloud and type without confusing 0/O or 1/I/L.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Length of a bind code.
const CODE_LEN: usize = 8;
/// Longest branch name.
pub const MAX_BRANCH_NAME: usize = 60;

/// What creating a branch needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBranch {
    /// Name.
    pub name: String,
    /// IANA time zone; default Asia/Shanghai.
    #[serde(default)]
    pub timezone: Option<String>,
    /// zh | en; default zh.
    #[serde(default)]
    pub language: Option<Language>,
}

/// A partial update of a branch.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New time zone.
    #[serde(default)]
    pub timezone: Option<String>,
    /// New language.
    #[serde(default)]
    pub language: Option<Language>,
    /// Timing overrides to merge in.
    #[serde(default)]
    pub timing: Option<TimingOverrides>,
}

/// A freshly issued bind code.
#[derive(Debug, Clone)]
pub struct IssuedCode {
    /// The code to type.
    pub code: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// What `绑定` achieved.
#[derive(Debug, Clone)]
pub struct BindOutcome {
    /// The branch the chat now belongs to.
    pub branch: Branch,
    /// Whether the sender became the branch's secretary.
    pub became_secretary: bool,
    /// The sender's roster name, if they are on the roster.
    pub member_name: Option<String>,
    /// Whether this bound the committee chat.
    pub committee: bool,
}

/// What a bind did, kept as its effect marker for the message's retry.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BindEffect {
    became_secretary: bool,
    member_name: Option<String>,
    committee: bool,
    /// The committee chat this one replaced.
    replaced: Option<ChatRef>,
}

impl BindEffect {
    fn outcome(self, branch: Branch) -> BindOutcome {
        BindOutcome {
            branch,
            became_secretary: self.became_secretary,
            member_name: self.member_name,
            committee: self.committee,
        }
    }
}

/// Who is speaking, and in which branch.
#[derive(Debug, Clone)]
pub struct ChatContext {
    /// The branch of the chat (or, in a private chat, of the sender).
    pub branch: Option<Branch>,
    /// The sender's roster entry.
    pub member: Option<Member>,
}

impl ChatContext {
    /// The sender's role for permission checks.
    pub fn role(&self) -> Role {
        self.member
            .as_ref()
            .map_or(Role::Guest, Member::effective_role)
    }
}

/// Reads a time zone name.
pub fn parse_timezone(raw: &str) -> Result<Tz, Invalid> {
    raw.trim().parse::<Tz>().map_err(|_| {
        Invalid::new(
            "timezone",
            "must be an IANA time zone such as Asia/Shanghai",
        )
    })
}

/// Normalises a typed bind code: case and separators do not matter.
pub fn normalize_code(raw: &str) -> Result<String, Invalid> {
    let code: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if code.len() != CODE_LEN || !code.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
        return Err(Invalid::new(
            "code",
            format!("a bind code is {CODE_LEN} letters and digits"),
        )
        .zh(format!(
            "绑定码是 {CODE_LEN} 位字母和数字，请核对后重发「绑定 <绑定码>」"
        )));
    }
    Ok(code)
}

fn generate_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

impl Services {
    /// Creates a branch and its first bind code.
    pub async fn create_branch(&self, input: NewBranch) -> Result<(Branch, IssuedCode)> {
        let name = validate_name("name", &input.name, MAX_BRANCH_NAME)?;
        let timezone = match input.timezone.as_deref() {
            Some(tz) => parse_timezone(tz)?,
            None => chrono_tz::Asia::Shanghai,
        };
        let now = self.clock.now();
        let expires_at = crate::clock::later(now, self.settings.timing.bind_code_ttl);
        // Random ids and codes collide rarely; a few attempts make it certain.
        for _ in 0..5 {
            let branch = Branch {
                id: BranchId::generate(),
                name: name.clone(),
                timezone,
                language: input.language.unwrap_or_default(),
                created_at: now,
                timing: TimingOverrides::default(),
                committee_chat: None,
                calendar_token: None,
            };
            let code = generate_code();
            if self.store.bind_code_branch(&code).await?.is_some() {
                continue;
            }
            let record = BindCodeRecord {
                expires_at,
                used_by: None,
                committee: false,
            };
            if self
                .store
                .insert_branch(&branch, Some((&code, &record)), now)
                .await?
            {
                return Ok((branch, IssuedCode { code, expires_at }));
            }
        }
        Err(ServiceError::Store(crate::store::StoreError::Contention(
            "branch id".to_owned(),
        )))
    }

    /// Creates a branch with a fixed id (the demo) if it does not exist; returns it either way.
    pub async fn ensure_branch(&self, id: &BranchId, name: &str) -> Result<Branch> {
        if let Some(b) = self.store.branch(id).await? {
            return Ok(b);
        }
        let branch = Branch {
            id: id.clone(),
            name: validate_name("name", name, MAX_BRANCH_NAME)?,
            timezone: chrono_tz::Asia::Shanghai,
            language: Language::Zh,
            created_at: self.clock.now(),
            timing: TimingOverrides::default(),
            committee_chat: None,
            calendar_token: None,
        };
        self.store
            .insert_branch(&branch, None, self.clock.now())
            .await?;
        Ok(self.store.branch(id).await?.unwrap_or(branch))
    }

    /// A branch by id.
    pub async fn branch(&self, id: &BranchId) -> Result<Branch> {
        self.store
            .branch(id)
            .await?
            .ok_or(ServiceError::BranchNotFound)
    }

    /// Branches, sorted by id, one page at a time; also the total count.
    pub async fn list_branches(&self, offset: usize, limit: usize) -> Result<(Vec<Branch>, usize)> {
        let ids = self.store.branch_ids().await?;
        let total = ids.len();
        let mut page = Vec::new();
        for id in ids.iter().skip(offset).take(limit) {
            if let Some(b) = self.store.branch(id).await? {
                page.push(b);
            }
        }
        Ok((page, total))
    }

    /// Applies a partial update.
    pub async fn update_branch(&self, id: &BranchId, patch: BranchPatch) -> Result<Branch> {
        let name = patch
            .name
            .as_deref()
            .map(|n| validate_name("name", n, MAX_BRANCH_NAME))
            .transpose()?;
        let timezone = patch.timezone.as_deref().map(parse_timezone).transpose()?;
        if let Some(t) = &patch.timing {
            t.validate()?;
        }
        let updated = retry_on_conflict!("branch", {
            let (mut branch, raw) = self
                .store
                .branch_raw(id)
                .await?
                .ok_or(ServiceError::BranchNotFound)?;
            if let Some(n) = &name {
                branch.name.clone_from(n);
            }
            if let Some(tz) = timezone {
                branch.timezone = tz;
            }
            if let Some(lang) = patch.language {
                branch.language = lang;
            }
            if let Some(t) = patch.timing.clone() {
                branch.timing.merge(t);
            }
            self.store
                .update_branch(&branch, &raw)
                .await?
                .then_some(branch)
        });
        Ok(updated)
    }

    /// Issues a new single-use bind code for another chat (or the committee chat).
    pub async fn issue_bind_code(&self, id: &BranchId, committee: bool) -> Result<IssuedCode> {
        self.issue_bind_code_for(id, committee, None).await
    }

    /// Like [`Services::issue_bind_code`], for a request that may be retried (`绑定码` in chat):
    /// `origin` names the request (chat and message id), and a retry of the same request finds
    /// the code issued the first time instead of issuing a second.
    pub async fn issue_bind_code_for(
        &self,
        id: &BranchId,
        committee: bool,
        origin: Option<&str>,
    ) -> Result<IssuedCode> {
        let branch = self.branch(id).await?;
        let now = self.clock.now();
        if let Some(origin) = origin
            && let Some(code) = self.store.bind_code_for(id, origin).await?
            && let Some((record, _)) = self.store.bind_code(id, &code).await?
        {
            // Written last the first time; a retry after a failure in between repairs it.
            self.store.index_bind_code(id, &code, &record, now).await?;
            return Ok(IssuedCode {
                code,
                expires_at: record.expires_at,
            });
        }
        let ttl = branch.timing.apply(&self.settings.timing).bind_code_ttl;
        let expires_at = crate::clock::later(now, ttl);
        for _ in 0..5 {
            let code = generate_code();
            if self.store.bind_code_branch(&code).await?.is_some() {
                continue;
            }
            let record = BindCodeRecord {
                expires_at,
                used_by: None,
                committee,
            };
            if self
                .store
                .insert_bind_code(id, &code, &record, origin, now)
                .await?
            {
                return Ok(IssuedCode { code, expires_at });
            }
        }
        Err(ServiceError::Store(crate::store::StoreError::Contention(
            "bind code".to_owned(),
        )))
    }

    /// The branch's bound member chats.
    pub async fn branch_chats(&self, branch: &BranchId) -> Result<Vec<ChatRef>> {
        Ok(self.store.branch_chats(branch).await?)
    }

    /// Who is speaking in this chat, and in which branch: the chat's (or, in a private
    /// chat, the sender's) branch from its global index, then the branch record and the
    /// sender's entry in one script (two round trips).
    pub async fn chat_context(&self, sender: &Sender) -> Result<ChatContext> {
        let none = ChatContext {
            branch: None,
            member: None,
        };
        let Some(branch_id) = self.message_branch(sender).await? else {
            return Ok(none);
        };
        let at = Self::located(&branch_id, sender);
        let mut entry = self.store.branch_context(at, sender).await?;
        if matches!(entry, Entry::Stale | Entry::Unbound) && at.check {
            entry = match self.located_again(sender, &branch_id).await? {
                Some(again) => {
                    let at = Located {
                        branch: &again,
                        check: false,
                    };
                    self.store.branch_context(at, sender).await?
                }
                None => Entry::Unbound,
            };
        }
        Ok(match entry {
            Entry::Bound { branch, member, .. } => ChatContext {
                branch: Some(branch),
                member,
            },
            Entry::Unbound | Entry::Stale => none,
        })
    }

    /// `绑定 <code>` (or `绑定支委群 <code>`): binds the chat to the code's branch as a member
    /// chat (or as its committee chat). A code binds only the kind of chat it was issued for,
    /// once: the chat that used it hears "already bound" on a repeat, any other chat "used".
    /// A member chat is never the committee chat, nor the reverse. The first binder of a
    /// branch with no secretary becomes its secretary (the operator's code is the act that
    /// appoints them).
    ///
    /// `origin` names the message (chat and message id): the bind's effect marker is written
    /// with it, so that the platform's retry after a failure past the commit answers as the
    /// first delivery would have (the sender is a member by then, and the chat bound).
    pub async fn bind_chat(
        &self,
        raw_code: &str,
        sender: &Sender,
        committee: bool,
        origin: Option<&str>,
    ) -> Result<BindOutcome> {
        if sender.in_private() {
            return Err(Invalid::new("chat", "bind a group chat, not a private one")
                .zh("请在要绑定的群里发送，而不是私聊")
                .into());
        }
        let chat_key = sender.chat.key();
        let ident = sender.account();
        // Codes are long enough that guessing is hopeless; the limit keeps it so, per person
        // and per chat, and is asked before the code is looked at (SPEC §10).
        let attempt = Attempt::new(format!("bind:{chat_key}"), ident.clone());
        if let Some(retry_after) = self.code_gate(&attempt).await?.wait() {
            return Err(ServiceError::TooManyWrongCodes { retry_after });
        }
        let code = normalize_code(raw_code)?;
        let Some(branch_id) = self.store.bind_code_branch(&code).await? else {
            let after = self.wrong_code(&attempt).await?;
            return Err(after
                .wait()
                .map_or(ServiceError::BindCodeUnknown, |retry_after| {
                    ServiceError::TooManyWrongCodes { retry_after }
                }));
        };
        if let Some(origin) = origin
            && let Some(raw) = self.store.effect(&branch_id, origin).await?
        {
            // This very message bound the chat before: finish what followed the commit.
            let done: BindEffect = crate::store::decode("bind effect", &raw)?;
            let branch = self
                .store
                .branch(&branch_id)
                .await?
                .ok_or(ServiceError::BranchNotFound)?;
            let replaced = done.replaced.clone();
            return self
                .finish_bind(&branch_id, sender, done.outcome(branch), replaced)
                .await;
        }
        let now = self.clock.now();
        let keys = self.store.keys().clone();

        let outcome = retry_on_conflict!("roster", {
            let (record, raw) = self
                .store
                .bind_code(&branch_id, &code)
                .await?
                .ok_or(ServiceError::BindCodeUnknown)?;
            let (branch, branch_raw) = self
                .store
                .branch_raw(&branch_id)
                .await?
                .ok_or(ServiceError::BranchNotFound)?;
            if record.committee != committee {
                return Err(ServiceError::CodeKindMismatch {
                    committee: record.committee,
                });
            }
            match &record.used_by {
                Some(chat) if *chat == chat_key => {
                    // A repeat (or the platform's retry after a failure that came after the
                    // commit): no second effect, but the lookup written last is repaired.
                    self.store
                        .index_chat_and_identity(&branch_id, Some(&sender.chat), None)
                        .await?;
                    return Err(ServiceError::ChatAlreadyBound);
                }
                Some(_) => return Err(ServiceError::BindCodeUsed),
                None if record.expires_at <= now => return Err(ServiceError::BindCodeExpired),
                None => {}
            }
            // Decided on the branch's own keys (checked again at commit), not on the global
            // chat lookup, which is written after the commit.
            if branch.committee_chat.as_ref() == Some(&sender.chat) {
                return Err(if committee {
                    ServiceError::ChatAlreadyBound
                } else {
                    ServiceError::CommitteeChatNotMember
                });
            }
            if self.store.is_branch_chat(&branch_id, &sender.chat).await? {
                return Err(if committee {
                    ServiceError::MemberChatNotCommittee
                } else {
                    ServiceError::ChatAlreadyBound
                });
            }
            if let Some(other) = self.store.chat_branch(&sender.chat).await?
                && other != branch_id
            {
                return Err(ServiceError::ChatBoundElsewhere);
            }
            let roster = self.store.roster(&branch_id).await?;
            let entry = roster.by_identity(&ident).cloned();
            // "Does the branch have a secretary?" reads the whole roster.
            let mut txn = roster.txn_whole(&self.store);
            let code_key = keys.bind_code(&branch_id, &code);
            txn.expect_value(&code_key, Some(&raw));
            let used = BindCodeRecord {
                used_by: Some(chat_key.clone()),
                ..record.clone()
            };
            txn.set(
                &code_key,
                &crate::store::encode(&code_key, &used)?,
                Some(crate::store::roster::code_ttl(&record, now)),
            );
            // The member chats and the committee chat are decided together, so that a chat
            // can never become both.
            let branch_key = keys.branch(&branch_id);
            txn.expect_value(&branch_key, Some(&branch_raw));
            let chats_key = keys.chats(&branch_id);
            txn.expect_set_member(&chats_key, &chat_key, false);
            if committee {
                match &entry {
                    Some(m) if m.effective_role() >= Role::Committee => {}
                    _ => return Err(ServiceError::NotCommittee),
                }
                let mut b = branch.clone();
                b.committee_chat = Some(sender.chat.clone());
                txn.set(&branch_key, &crate::store::encode(&branch_key, &b)?, None);
                let done = BindEffect {
                    became_secretary: false,
                    member_name: entry.map(|m| m.name),
                    committee: true,
                    replaced: branch.committee_chat.clone(),
                };
                self.commit_bind(&mut txn, &branch_id, b, done, origin)
                    .await?
            } else {
                txn.sadd(&chats_key, &chat_key);
                // A secretary entry nobody holds (an imported roster) cannot act, so it does
                // not count; the binder holds it, as the operator's code says they should.
                let acting_secretary = roster.members.values().any(|m| {
                    m.role == Role::Secretary
                        && m.status == MemberStatus::Active
                        && !m.identities.is_empty()
                });
                let vacant: Vec<&Member> = roster
                    .members
                    .values()
                    .filter(|m| {
                        m.role == Role::Secretary
                            && m.status == MemberStatus::Active
                            && m.identities.is_empty()
                    })
                    .collect();
                let mut became_secretary = false;
                let mut member_name = entry.as_ref().map(|m| m.name.clone());
                if !acting_secretary {
                    let secretary = match (entry, vacant.as_slice()) {
                        (Some(mut m), _) => {
                            m.role = Role::Secretary;
                            m.status = MemberStatus::Active;
                            m
                        }
                        (None, [entry]) => {
                            let mut m = (*entry).clone();
                            m.identities.push(identity_of(sender, now));
                            m
                        }
                        (None, _) => new_linked_member(
                            &roster,
                            sender,
                            now,
                            Role::Secretary,
                            MemberStatus::Active,
                        ),
                    };
                    roster.put_member(&self.store, &mut txn, &secretary)?;
                    became_secretary = true;
                    member_name = Some(secretary.name.clone());
                }
                let done = BindEffect {
                    became_secretary,
                    member_name,
                    committee: false,
                    replaced: None,
                };
                self.commit_bind(&mut txn, &branch_id, branch.clone(), done, origin)
                    .await?
            }
        });
        let (outcome, replaced) = outcome;
        self.finish_bind(&branch_id, sender, outcome, replaced)
            .await
    }

    /// What follows a bind's commit, also on its retry: the global lookups of the chat (and
    /// of the sender, if on the roster) and the committee chat it replaced unindexed.
    async fn finish_bind(
        &self,
        branch_id: &BranchId,
        sender: &Sender,
        outcome: BindOutcome,
        replaced: Option<ChatRef>,
    ) -> Result<BindOutcome> {
        // The committee chat resolves commands like any bound chat; it is just not in the set
        // of member chats that announcements go to.
        let ident = sender.account();
        let linked = outcome.member_name.is_some().then_some(ident.as_str());
        self.store
            .index_chat_and_identity(branch_id, Some(&sender.chat), linked)
            .await?;
        if let Some(old) = replaced.filter(|old| *old != sender.chat) {
            // The chat it replaces is no longer the branch's in any way.
            self.store.unindex_chat(branch_id, &old).await?;
        }
        Ok(outcome)
    }

    /// Commits a bind with its effect marker (when the message is known); `None` on a
    /// conflict.
    async fn commit_bind(
        &self,
        txn: &mut Txn,
        branch_id: &BranchId,
        branch: Branch,
        done: BindEffect,
        origin: Option<&str>,
    ) -> Result<Option<(BindOutcome, Option<ChatRef>)>> {
        if let Some(origin) = origin {
            let value = crate::store::encode("bind effect", &done)?;
            let mark = EffectMark {
                origin,
                value: &value,
                ttl: self.effect_ttl(),
            };
            self.store.mark_in(txn, branch_id, &mark);
        }
        let mut conn = self.store.conn().await?;
        if !txn.commit(&mut conn).await? {
            return Ok(None);
        }
        tracing::info!(
            branch = %branch_id,
            committee = done.committee,
            became_secretary = done.became_secretary,
            "chat bound"
        );
        let replaced = done.replaced.clone();
        Ok(Some((done.outcome(branch), replaced)))
    }
}

/// A new roster entry for the sender, named after their display name; a name already taken
/// gets a short suffix from the account id so that names stay unique.
pub(crate) fn new_linked_member(
    roster: &crate::store::roster::RosterSnapshot,
    sender: &Sender,
    now: DateTime<Utc>,
    role: Role,
    status: MemberStatus,
) -> Member {
    let base = sender
        .name
        .as_deref()
        .and_then(|n| validate_name("name", n, 20).ok())
        .unwrap_or_else(|| "书记".to_owned());
    let name = if roster.by_name(&base).is_some() {
        let tail: String = sender
            .user_id
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{base}-{tail}")
    } else {
        base
    };
    Member {
        status,
        ..Member::new(name, role, vec![identity_of(sender, now)], now)
    }
}

/// The sender's chat account as an identity.
pub(crate) fn identity_of(sender: &Sender, now: DateTime<Utc>) -> Identity {
    Identity {
        platform: sender.chat.platform,
        bot: sender.chat.bot.clone(),
        user_id: sender.user_id.clone(),
        display_name: sender.name.clone(),
        linked_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_normalise_case_and_separators() {
        assert_eq!(normalize_code("abcd-efgh").unwrap(), "ABCDEFGH");
        assert!(normalize_code("ABCD").is_err());
        assert!(
            normalize_code("ABCDEFG0").is_err(),
            "0 is not in the alphabet"
        );
    }

    #[test]
    fn generated_codes_normalise_to_themselves() {
        for _ in 0..100 {
            let c = generate_code();
            assert_eq!(normalize_code(&c).unwrap(), c);
        }
    }
}
