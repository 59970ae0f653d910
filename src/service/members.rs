//! Rosters: joining from chat, requests and their approval, undoing a link, roster entries
//! from the admin API.

use chrono::NaiveDate;
use serde::Deserialize;

use super::{
    Result, ServiceError, Services,
    audience::{Nowhere, private_chat_with},
    branches::identity_of,
    retry_on_conflict,
};
use crate::{
    domain::{
        Branch, BranchId, Identity, Invalid, JoinRequest, Member, MemberStatus, Role, chat::Sender,
        validate_name,
    },
    store::{roster::RosterSnapshot, txn::Txn},
};

/// Longest member name.
pub const MAX_MEMBER_NAME: usize = 20;

/// Starts the effect mark of an approval that made a new roster entry (an account key never
/// starts with a newline).
const NEW_MEMBER_MARK: &str = "new\n";

/// What `加入` achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Linked to an unlinked roster entry of 党员 or below; the secretary is told.
    Linked {
        /// Roster name.
        name: String,
        /// Roster role.
        role: Role,
    },
    /// A request now waits for the secretary. The guest hears the same whether the name is
    /// unknown, protected (支委/书记) or linked already, so the roster cannot be probed.
    Requested,
}

/// What `批准` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// The account is now linked to the member (a new roster entry when `new_member`).
    Approved {
        /// The member as stored.
        member: Box<Member>,
        /// The account that was approved.
        identity: Identity,
        /// Whether the approval created the roster entry.
        new_member: bool,
    },
    /// Several accounts wait for this name: the secretary picks one (`批准 <姓名> <n>`).
    Choose {
        /// The name.
        name: String,
        /// The waiting requests, in the order the numbers count.
        requests: Vec<JoinRequest>,
    },
}

/// What `解除关联` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlinking {
    /// The account is no longer linked; its owner is a guest again.
    Unlinked {
        /// The member as stored.
        member: Member,
        /// The account that was unlinked.
        identity: Identity,
    },
    /// The member has several accounts: the secretary picks one (`解除关联 <姓名> <n>`).
    Choose {
        /// The member, whose identities are listed in the order the numbers count.
        member: Member,
    },
}

/// What `拒绝` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The request is gone.
    Rejected(Box<JoinRequest>),
    /// Several accounts wait for this name: the secretary picks one (`拒绝 <姓名> <n>`).
    Choose {
        /// The name.
        name: String,
        /// The waiting requests, in the order the numbers count.
        requests: Vec<JoinRequest>,
    },
}

/// Which request a command means.
enum Picked {
    /// This account's.
    One(String),
    /// Several wait and none was picked.
    Choose(Vec<JoinRequest>),
}

/// A roster entry created through the admin API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// Name, unique in the branch.
    pub name: String,
    /// Role; default member.
    #[serde(default)]
    pub role: Option<Role>,
    /// 入党日期.
    #[serde(default)]
    pub joined_party_on: Option<NaiveDate>,
    /// Birthday.
    #[serde(default)]
    pub birthday: Option<NaiveDate>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Employer.
    #[serde(default)]
    pub employer: Option<String>,
    /// Care flags.
    #[serde(default)]
    pub care_flags: Vec<String>,
    /// Notes.
    #[serde(default)]
    pub notes: Option<String>,
}

fn validate_phone(raw: &str) -> Result<String, Invalid> {
    let phone = raw.trim();
    let ok = (5..=20).contains(&phone.len())
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '));
    if ok {
        Ok(phone.to_owned())
    } else {
        Err(Invalid::new(
            "phone",
            "5 to 20 digits, optionally with + - and spaces",
        ))
    }
}

fn validate_optional_text(
    field: &'static str,
    raw: Option<String>,
    max: usize,
) -> Result<Option<String>, Invalid> {
    match raw {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) if s.chars().count() > max => Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(s) => Ok(Some(s.trim().to_owned())),
    }
}

impl Services {
    /// The roster, most powerful first.
    pub async fn list_members(&self, branch: &BranchId) -> Result<Vec<Member>> {
        self.branch(branch).await?;
        let roster = self.store.roster(branch).await?;
        Ok(roster.sorted().into_iter().cloned().collect())
    }

    /// The roster, most powerful first, and the join requests waiting, oldest first.
    pub async fn roster_view(&self, branch: &BranchId) -> Result<(Vec<Member>, Vec<JoinRequest>)> {
        let roster = self.store.roster(branch).await?;
        let members = roster.sorted().into_iter().cloned().collect();
        Ok((members, roster.live_requests(self.clock.now())))
    }

    /// Adds an (unlinked) roster entry; the person links to it later with `加入 <姓名>`. With
    /// an `origin` (an API request's `Idempotency-Key`), a retry finds the entry the first
    /// attempt made (marked in its commit) and answers it again.
    pub async fn add_member(
        &self,
        branch: &BranchId,
        input: NewMember,
        origin: Option<&str>,
    ) -> Result<Member> {
        self.branch(branch).await?;
        if let Some(id) = self.effect_of(branch, origin).await? {
            let roster = self.store.roster(branch).await?;
            if let Some(member) = roster.members.get(&id) {
                return Ok(member.clone());
            }
        }
        let name = validate_name("name", &input.name, MAX_MEMBER_NAME)?;
        let phone = input.phone.as_deref().map(validate_phone).transpose()?;
        let employer = validate_optional_text("employer", input.employer, 100)?;
        let notes = validate_optional_text("notes", input.notes, 1000)?;
        if input.care_flags.len() > 20
            || input
                .care_flags
                .iter()
                .any(|f| f.trim().is_empty() || f.chars().count() > 20)
        {
            return Err(
                Invalid::new("care_flags", "at most 20 flags of 1 to 20 characters").into(),
            );
        }
        let now = self.clock.now();
        let member = retry_on_conflict!("roster", {
            let roster = self.store.roster(branch).await?;
            if roster.by_name(&name).is_some() {
                return Err(
                    Invalid::new("name", format!("{name} is on the roster already")).into(),
                );
            }
            let member = Member {
                id: Member::generate_id(),
                name: name.clone(),
                role: input
                    .role
                    .filter(|r| *r != Role::Guest)
                    .unwrap_or(Role::Member),
                status: MemberStatus::Active,
                identities: Vec::new(),
                joined_party_on: input.joined_party_on,
                birthday: input.birthday,
                phone: phone.clone(),
                employer: employer.clone(),
                care_flags: input
                    .care_flags
                    .iter()
                    .map(|f| f.trim().to_owned())
                    .collect(),
                notes: notes.clone(),
                created_at: now,
            };
            let mut txn = roster.txn(&self.store);
            roster.put_member(&self.store, &mut txn, &member)?;
            self.mark_effect(&mut txn, branch, origin, &member.id);
            let mut conn = self.store.conn().await?;
            txn.commit(&mut conn).await?.then_some(member)
        });
        Ok(member)
    }

    /// `加入 <姓名>`: links the sender to an unlinked roster entry of that name if its role is
    /// 党员 or below (the secretary is told, and the person hears it privately); anything else
    /// becomes a request that the secretary approves. The two read the same to the chat, so
    /// the roster cannot be probed. Repeating it is harmless and writes nothing.
    pub async fn join(
        &self,
        branch: &Branch,
        sender: &Sender,
        raw_name: &str,
    ) -> Result<JoinOutcome> {
        let name = validate_name("name", raw_name, MAX_MEMBER_NAME)?;
        let ident = sender.account();
        let now = self.clock.now();
        // A soft cap (`limits.max_pending_joins`): requests in flight at once may pass it by
        // their number, as each checks only its own account's entry at commit.
        let cap = self.settings.limits.max_pending_joins as usize;
        let (outcome, linked, roster) = retry_on_conflict!("roster", {
            let roster = self.store.roster(&branch.id).await?;
            if let Some(me) = roster.by_identity(&ident) {
                // A repeat after a failure between the roster write and what follows it lands
                // here: repair the index, and tell the secretary (queued once per link).
                self.store
                    .index_chat_and_identity(&branch.id, None, Some(&ident))
                    .await?;
                // Only for a link made within the platforms' retry window: a member who types
                // `加入` again weeks later is no news.
                let fresh = me.identities.iter().any(|i| {
                    i.key() == ident
                        && crate::clock::later(i.linked_at, self.settings.timing.dedup_ttl) > now
                });
                if me.name == name && fresh {
                    self.tell_of_link(branch, &roster, me, sender).await?;
                }
                return Err(ServiceError::AlreadyMember(me.name.clone()));
            }
            let linked = match roster.by_name(&name) {
                Some(m) if m.self_linkable() => {
                    let mut m = m.clone();
                    m.identities.push(identity_of(sender, now));
                    Some(m)
                }
                _ => None,
            };
            let asked_before = roster
                .request_of(&ident, now)
                .is_some_and(|r| r.name == name);
            if linked.is_none() && asked_before {
                // Nothing to write; the notice below is queued once per account anyway.
                Some((JoinOutcome::Requested, None, roster))
            } else {
                let mut txn = roster.txn(&self.store);
                match &linked {
                    Some(m) => {
                        roster.put_member(&self.store, &mut txn, m)?;
                        roster.remove_request(&self.store, &mut txn, &ident);
                    }
                    None => {
                        let waiting = roster.live_requests(now).len();
                        if roster.request_of(&ident, now).is_none() && waiting >= cap {
                            return Err(ServiceError::JoinRequestsFull);
                        }
                        let request = JoinRequest {
                            name: name.clone(),
                            identity: identity_of(sender, now),
                            at: now,
                        };
                        roster.put_request(&self.store, &mut txn, &request, now)?;
                    }
                }
                let mut conn = self.store.conn().await?;
                txn.commit(&mut conn).await?.then(|| {
                    let outcome = match &linked {
                        Some(m) => JoinOutcome::Linked {
                            name: m.name.clone(),
                            role: m.role,
                        },
                        None => JoinOutcome::Requested,
                    };
                    (outcome, linked, roster)
                })
            }
        });
        match &linked {
            Some(member) => {
                self.store
                    .index_chat_and_identity(&branch.id, None, Some(&ident))
                    .await?;
                self.tell_of_link(branch, &roster, member, sender).await?;
            }
            None => {
                let shown = sender.name.as_deref().unwrap_or(&sender.user_id);
                let text = crate::texts::join_requested_notice(
                    branch.language,
                    &name,
                    sender.chat.platform,
                    shown,
                );
                // One notice per account, whatever names it tries: the secretary sees the
                // latest in `成员`.
                let intent = format!("joinreq:{}:{ident}", branch.id);
                self.tell_committee_with(branch, Some(&roster), &text, &intent, Nowhere::Silence)
                    .await?;
            }
        }
        Ok(outcome)
    }

    /// After a self-link: the secretary hears of it (a roster name is not proof of who someone
    /// is, and `解除关联` undoes a wrong one), and the person hears privately that it worked.
    async fn tell_of_link(
        &self,
        branch: &Branch,
        roster: &RosterSnapshot,
        member: &Member,
        sender: &Sender,
    ) -> Result<()> {
        let ident = sender.account();
        let shown = sender.name.as_deref().unwrap_or(&sender.user_id);
        let text =
            crate::texts::linked_notice(branch.language, &member.name, sender.chat.platform, shown);
        let intent = format!("link:{}:{}:{ident}", branch.id, member.id);
        self.tell_committee_with(branch, Some(roster), &text, &intent, Nowhere::Pointer)
            .await?;
        if let Some(chat) = sender.private_chat() {
            let text = crate::texts::join_approved(branch, member);
            let intent = format!("approved:{}:{}:{ident}", branch.id, member.id);
            self.send_to_chat(&chat, &text, &intent).await?;
        }
        Ok(())
    }

    /// The waiting join request of the sender, if any (for `我的`).
    pub async fn join_request_of(
        &self,
        branch: &BranchId,
        sender: &Sender,
    ) -> Result<Option<JoinRequest>> {
        let ident = sender.account();
        let request = self.store.join_request(branch, &ident).await?;
        Ok(request.filter(|r| !crate::store::roster::lapsed(r, self.clock.now())))
    }

    /// Resolves which waiting request of `name` a command means. Without `pick`, the only one
    /// (or, with several, all of them, remembered as the list `actor` was shown).
    /// With `pick`, the `pick`-th of the list `actor` was shown: numbers count in the list the
    /// secretary read, never in one rebuilt later, which a guest could reorder by asking again.
    async fn pick_request(
        &self,
        branch: &BranchId,
        roster: &RosterSnapshot,
        name: &str,
        pick: Option<usize>,
        actor: &str,
    ) -> Result<Picked> {
        let now = self.clock.now();
        let requests = roster.requests_for(name, now);
        let Some(n) = pick else {
            return match requests.as_slice() {
                [] => Err(ServiceError::NoRequest(name.to_owned())),
                [one] => Ok(Picked::One(one.identity.key())),
                several => {
                    let keys: Vec<String> = several.iter().map(|r| r.identity.key()).collect();
                    self.store
                        .save_pick_list(branch, actor, "req", name, &keys)
                        .await?;
                    Ok(Picked::Choose(several.to_vec()))
                }
            };
        };
        let shown = match self.store.pick_list(branch, actor, "req", name).await? {
            Some(list) => list,
            // A single request needs no list: `批准 <姓名> 1` means it.
            None if requests.len() == 1 => vec![requests[0].identity.key()],
            None if requests.is_empty() => return Err(ServiceError::NoRequest(name.to_owned())),
            None => return Err(ServiceError::ListFirst(name.to_owned())),
        };
        match shown.get(n.wrapping_sub(1)) {
            Some(ident) if n >= 1 => Ok(Picked::One(ident.clone())),
            _ => Err(ServiceError::PickOutOfRange {
                name: name.to_owned(),
                count: shown.len(),
            }),
        }
    }

    /// `批准 <姓名> [n] [身份]`: approves one waiting request for that name. A request for a
    /// name on the roster links the account to that entry (whatever its role: approving is the
    /// secretary's explicit act); otherwise a new entry is made, as 党员 unless a role is given.
    /// With several requests for the name and no `n`, nothing changes and they are listed (and
    /// remembered, for `actor`, as the list `n` counts in). `origin` names the chat message it
    /// answers: a retry after a failure past the commit finds what was done and finishes it.
    pub async fn approve(
        &self,
        branch: &Branch,
        raw_name: &str,
        pick: Option<usize>,
        role: Option<Role>,
        actor: &str,
        origin: Option<&str>,
    ) -> Result<Approval> {
        let name = validate_name("name", raw_name, MAX_MEMBER_NAME)?;
        let now = self.clock.now();
        if let Some(done) = self.effect_of(&branch.id, origin).await? {
            // The mark says whether the approval made the roster entry, so that the retry
            // answers as the first attempt did.
            let (ident, new_member) = match done.strip_prefix(NEW_MEMBER_MARK) {
                Some(ident) => (ident, true),
                None => (done.as_str(), false),
            };
            let approval = self.approved_already(branch, &name, ident).await?;
            return Ok(match approval {
                Approval::Approved {
                    member, identity, ..
                } => Approval::Approved {
                    member,
                    identity,
                    new_member,
                },
                other => other,
            });
        }
        let approval = retry_on_conflict!("roster", {
            let roster = self.store.roster(&branch.id).await?;
            let ident = match self
                .pick_request(&branch.id, &roster, &name, pick, actor)
                .await?
            {
                Picked::One(ident) => ident,
                Picked::Choose(requests) => return Ok(Approval::Choose { name, requests }),
            };
            let Some(request) = roster.request_of(&ident, now).filter(|r| r.name == name) else {
                // Approved by an earlier message, or asked anew for another name since.
                return self.approved_already(branch, &name, &ident).await;
            };
            let mut txn = roster.txn(&self.store);
            roster.remove_request(&self.store, &mut txn, &ident);
            if let Some(other) = roster.by_identity(&ident) {
                self.mark_effect(&mut txn, &branch.id, origin, &ident);
                // Linked meanwhile (to this name or another): the request is moot.
                let other = other.name.clone();
                let mut conn = self.store.conn().await?;
                txn.commit(&mut conn).await?;
                return Err(ServiceError::AccountLinked(other));
            }
            let identity = Identity {
                linked_at: now,
                ..request.identity.clone()
            };
            let (member, new_member) = match roster.by_name(&name) {
                Some(m) => {
                    let mut m = m.clone();
                    m.identities.push(identity.clone());
                    (m, false)
                }
                None => (
                    Member::new(
                        name.clone(),
                        role.filter(|r| *r != Role::Guest).unwrap_or(Role::Member),
                        vec![identity.clone()],
                        now,
                    ),
                    true,
                ),
            };
            roster.put_member(&self.store, &mut txn, &member)?;
            let mark = if new_member {
                format!("{NEW_MEMBER_MARK}{ident}")
            } else {
                ident.clone()
            };
            self.mark_effect(&mut txn, &branch.id, origin, &mark);
            let mut conn = self.store.conn().await?;
            txn.commit(&mut conn).await?.then_some(Approval::Approved {
                member: Box::new(member),
                identity,
                new_member,
            })
        });
        if let Approval::Approved {
            member, identity, ..
        } = &approval
        {
            self.finish_approval(branch, member, identity).await?;
        }
        Ok(approval)
    }

    /// What follows an approval's commit, safe to repeat: the account's index entry, and the
    /// person told privately where the platform lets the bot start a chat.
    async fn finish_approval(
        &self,
        branch: &Branch,
        member: &Member,
        identity: &Identity,
    ) -> Result<()> {
        self.store
            .index_chat_and_identity(&branch.id, None, Some(&identity.key()))
            .await?;
        if let Some(chat) = private_chat_with(identity) {
            let text = crate::texts::join_approved(branch, member);
            let intent = format!("approved:{}:{}:{}", branch.id, member.id, identity.key());
            self.send_to_chat(&chat, &text, &intent).await?;
        }
        Ok(())
    }

    /// An approval found done already (a retried message, or the same account approved by an
    /// earlier one): finishes what follows the commit again and answers as the first time.
    async fn approved_already(&self, branch: &Branch, name: &str, ident: &str) -> Result<Approval> {
        let roster = self.store.roster(&branch.id).await?;
        let Some(member) = roster.by_identity(ident).filter(|m| m.name == name) else {
            return Err(ServiceError::ListChanged(name.to_owned()));
        };
        let Some(identity) = member.identities.iter().find(|i| i.key() == ident).cloned() else {
            return Err(ServiceError::ListChanged(name.to_owned()));
        };
        self.finish_approval(branch, member, &identity).await?;
        Ok(Approval::Approved {
            member: Box::new(member.clone()),
            identity,
            new_member: false,
        })
    }

    /// `拒绝 <姓名> [n]`: drops one waiting request (numbered as `批准` numbers them). The
    /// account hears privately that it did not go through. `origin` names the chat message:
    /// the drop is marked with it, so that a retry after a failure past the commit tells the
    /// account (once) instead of finding no request left.
    pub async fn reject(
        &self,
        branch: &Branch,
        raw_name: &str,
        pick: Option<usize>,
        actor: &str,
        origin: Option<&str>,
    ) -> Result<Rejection> {
        let name = validate_name("name", raw_name, MAX_MEMBER_NAME)?;
        let now = self.clock.now();
        let done = match self.effect_of(&branch.id, origin).await? {
            Some(ident) => Identity::parse_key(&ident).map(|identity| JoinRequest {
                name: name.clone(),
                identity,
                at: now,
            }),
            None => None,
        };
        let rejected = match done {
            Some(request) => request,
            None => retry_on_conflict!("roster", {
                let roster = self.store.roster(&branch.id).await?;
                let ident = match self
                    .pick_request(&branch.id, &roster, &name, pick, actor)
                    .await?
                {
                    Picked::One(ident) => ident,
                    Picked::Choose(requests) => return Ok(Rejection::Choose { name, requests }),
                };
                let Some(request) = roster.request_of(&ident, now).filter(|r| r.name == name)
                else {
                    // Gone already (rejected or approved by an earlier message): nothing to do.
                    return Err(ServiceError::ListChanged(name));
                };
                let request = request.clone();
                let mut txn = roster.txn(&self.store);
                roster.remove_request(&self.store, &mut txn, &ident);
                self.mark_effect(&mut txn, &branch.id, origin, &ident);
                let mut conn = self.store.conn().await?;
                txn.commit(&mut conn).await?.then_some(request)
            }),
        };
        let identity = &rejected.identity;
        if let Some(chat) = private_chat_with(identity) {
            let text = crate::texts::join_rejected(branch, &rejected.name);
            // By the message when there is one (its retry finds the mark, not the request);
            // else by the request, which one drop removes.
            let intent = match origin {
                Some(origin) => format!("rejected:{}:{}:{origin}", branch.id, identity.key()),
                None => format!(
                    "rejected:{}:{}:{}",
                    branch.id,
                    identity.key(),
                    rejected.at.timestamp_millis()
                ),
            };
            self.send_to_chat(&chat, &text, &intent).await?;
        }
        Ok(Rejection::Rejected(Box::new(rejected)))
    }

    /// Drops every waiting request of a branch (the admin API); returns how many there were.
    pub async fn clear_join_requests(&self, branch: &BranchId) -> Result<usize> {
        self.branch(branch).await?;
        let cleared = retry_on_conflict!("roster", {
            let roster = self.store.roster(branch).await?;
            let mut txn = roster.txn(&self.store);
            for ident in roster.requests.keys() {
                roster.remove_request(&self.store, &mut txn, ident);
            }
            let mut conn = self.store.conn().await?;
            txn.commit(&mut conn)
                .await?
                .then_some(roster.live_requests(self.clock.now()).len())
        });
        Ok(cleared)
    }

    /// `解除关联 <姓名> [n]`: undoes a link, so that account is a guest again. With several
    /// accounts and no `n`, nothing changes and they are listed (and remembered for `actor`).
    /// `actor` (the secretary's own account) cannot be unlinked this way: it would lock them
    /// out mid-command. `origin` makes a retried message finish, not repeat, its effect.
    pub async fn unlink(
        &self,
        branch: &BranchId,
        raw_name: &str,
        pick: Option<usize>,
        actor: &str,
        origin: Option<&str>,
    ) -> Result<Unlinking> {
        let name = validate_name("name", raw_name, MAX_MEMBER_NAME)?;
        if let Some(done) = self.effect_of(branch, origin).await? {
            return self.unlinked_already(branch, &name, &done).await;
        }
        let outcome = retry_on_conflict!("roster", {
            let roster = self.store.roster(branch).await?;
            let mut member = roster
                .by_name(&name)
                .cloned()
                .ok_or_else(|| ServiceError::MemberNotFound(name.clone()))?;
            if member.identities.is_empty() {
                return Err(ServiceError::NoAccounts(member.name));
            }
            member.identities.sort_by_key(|i| i.linked_at);
            let ident = match pick {
                None if member.identities.len() == 1 => member.identities[0].key(),
                None => {
                    let keys: Vec<String> = member.identities.iter().map(Identity::key).collect();
                    self.store
                        .save_pick_list(branch, actor, "acct", &name, &keys)
                        .await?;
                    return Ok(Unlinking::Choose { member });
                }
                Some(n) => {
                    let shown = match self.store.pick_list(branch, actor, "acct", &name).await? {
                        Some(list) => list,
                        None if member.identities.len() == 1 => vec![member.identities[0].key()],
                        None => return Err(ServiceError::ListFirst(name)),
                    };
                    match shown.get(n.wrapping_sub(1)) {
                        Some(ident) if n >= 1 => ident.clone(),
                        _ => {
                            return Err(ServiceError::PickOutOfRange {
                                name,
                                count: shown.len(),
                            });
                        }
                    }
                }
            };
            if ident == actor {
                return Err(ServiceError::OwnAccount);
            }
            let Some(index) = member.identities.iter().position(|i| i.key() == ident) else {
                // Unlinked by an earlier message already.
                return self.unlinked_already(branch, &name, &ident).await;
            };
            let identity = member.identities.remove(index);
            let mut txn = roster.txn(&self.store);
            self.mark_effect(&mut txn, branch, origin, &ident);
            roster.put_member(&self.store, &mut txn, &member)?;
            let mut conn = self.store.conn().await?;
            txn.commit(&mut conn)
                .await?
                .then_some(Unlinking::Unlinked { member, identity })
        });
        if let Unlinking::Unlinked { identity, .. } = &outcome {
            self.store.unindex_identity(branch, &identity.key()).await?;
        }
        Ok(outcome)
    }

    /// An unlink found done already: removes the account's index entry again and answers as
    /// the first time.
    async fn unlinked_already(
        &self,
        branch: &BranchId,
        name: &str,
        ident: &str,
    ) -> Result<Unlinking> {
        let roster = self.store.roster(branch).await?;
        let member = roster
            .by_name(name)
            .cloned()
            .ok_or_else(|| ServiceError::MemberNotFound(name.to_owned()))?;
        if member.identities.iter().any(|i| i.key() == ident) || roster.by_identity(ident).is_some()
        {
            return Err(ServiceError::ListChanged(name.to_owned()));
        }
        self.store.unindex_identity(branch, ident).await?;
        let identity =
            Identity::parse_key(ident).ok_or_else(|| ServiceError::ListChanged(name.to_owned()))?;
        Ok(Unlinking::Unlinked { member, identity })
    }

    /// The account a chat message's roster change was about, if that message changed it already.
    async fn effect_of(&self, branch: &BranchId, origin: Option<&str>) -> Result<Option<String>> {
        match origin {
            Some(origin) => Ok(self.store.effect(branch, origin).await?),
            None => Ok(None),
        }
    }

    /// Records, in the change's own transaction, which account a chat message's change was
    /// about, for as long as the platform may retry the message.
    fn mark_effect(&self, txn: &mut Txn, branch: &BranchId, origin: Option<&str>, ident: &str) {
        if let Some(origin) = origin {
            let key = self.store.keys().effect(branch, origin);
            txn.expect_value(&key, None);
            txn.set(&key, ident, Some(self.settings.timing.dedup_ttl));
        }
    }
}
