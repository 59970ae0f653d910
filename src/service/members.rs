//! Rosters: joining from chat, requests and their approval, undoing a link, roster entries
//! from the admin API.

use chrono::NaiveDate;
use serde::Deserialize;

use super::{
    Result, ServiceError, Services, audience::Nowhere, branches::identity_of, retry_on_conflict,
};
use crate::{
    domain::{
        Branch, BranchId, Identity, Invalid, JoinRequest, Member, MemberStatus, Role,
        member::identity_key, validate_name,
    },
    platform::{ChatRef, InboundEvent, private_chat_id},
};

/// Longest member name.
pub const MAX_MEMBER_NAME: usize = 20;

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

/// Picks the `pick`-th (1-based) of `count` entries, or none when there is a choice to make.
fn choose(name: &str, count: usize, pick: Option<usize>) -> Result<Option<usize>> {
    match pick {
        None if count == 1 => Ok(Some(0)),
        None => Ok(None),
        Some(n) if (1..=count).contains(&n) => Ok(Some(n - 1)),
        Some(_) => Err(ServiceError::PickOutOfRange {
            name: name.to_owned(),
            count,
        }),
    }
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

    /// Adds an (unlinked) roster entry; the person links to it later with `加入 <姓名>`.
    pub async fn add_member(&self, branch: &BranchId, input: NewMember) -> Result<Member> {
        self.branch(branch).await?;
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
            let mut conn = self.store.conn().await?;
            txn.commit(&mut conn).await?.then_some(member)
        });
        Ok(member)
    }

    /// `加入 <姓名>`: links the sender to an unlinked roster entry of that name if its role is
    /// 党员 or below (the secretary is told); anything else becomes a request that the
    /// secretary approves. Repeating it is harmless.
    pub async fn join(
        &self,
        branch: &Branch,
        event: &InboundEvent,
        raw_name: &str,
    ) -> Result<JoinOutcome> {
        let name = validate_name("name", raw_name, MAX_MEMBER_NAME)?;
        let ident = identity_key(event.chat.platform, &event.chat.bot, &event.sender_id);
        let now = self.clock.now();
        // A soft cap (`limits.max_pending_joins`): requests in flight at once may pass it by
        // their number, as each checks only its own account's entry at commit.
        let cap = self.settings.limits.max_pending_joins as usize;
        let (outcome, linked, roster) = retry_on_conflict!("roster", {
            let roster = self.store.roster(&branch.id).await?;
            if let Some(me) = roster.by_identity(&ident) {
                // A repeat after a failure between the roster write and the index write
                // lands here: repair the index before answering.
                self.store
                    .index_chat_and_identity(&branch.id, None, Some(&ident))
                    .await?;
                return Err(ServiceError::AlreadyMember(me.name.clone()));
            }
            let mut txn = roster.txn(&self.store);
            let linked = match roster.by_name(&name) {
                Some(m) if m.self_linkable() => {
                    let mut m = m.clone();
                    m.identities.push(identity_of(event, now));
                    roster.put_member(&self.store, &mut txn, &m)?;
                    roster.remove_request(&self.store, &mut txn, &ident);
                    Some(m)
                }
                _ => {
                    if roster
                        .request_of(&ident, now)
                        .is_some_and(|r| r.name == name)
                    {
                        // Asked before: nothing to write; tell the committee again below (the
                        // notice is keyed by the request, so it is queued once).
                        None
                    } else {
                        let waiting = roster.live_requests(now).len();
                        if roster.request_of(&ident, now).is_none() && waiting >= cap {
                            return Err(ServiceError::JoinRequestsFull);
                        }
                        let request = JoinRequest {
                            name: name.clone(),
                            identity: identity_of(event, now),
                            at: now,
                        };
                        roster.put_request(&self.store, &mut txn, &request, now)?;
                        None
                    }
                }
            };
            let mut conn = self.store.conn().await?;
            txn.commit(&mut conn).await?.then_some((
                match &linked {
                    Some(m) => JoinOutcome::Linked {
                        name: m.name.clone(),
                        role: m.role,
                    },
                    None => JoinOutcome::Requested,
                },
                linked,
                roster,
            ))
        });
        let platform = event.chat.platform;
        let shown = event.sender_name.as_deref().unwrap_or(&event.sender_id);
        match &linked {
            Some(member) => {
                self.store
                    .index_chat_and_identity(&branch.id, None, Some(&ident))
                    .await?;
                // The secretary hears of every link: a roster name is not proof of who
                // someone is, and `解除关联` undoes a wrong one.
                let text =
                    crate::texts::linked_notice(branch.language, &member.name, platform, shown);
                let intent = format!("link:{}:{}:{ident}", branch.id, member.id);
                self.tell_committee_with(branch, Some(&roster), &text, &intent, Nowhere::Pointer)
                    .await?;
            }
            None => {
                let text =
                    crate::texts::join_requested_notice(branch.language, &name, platform, shown);
                let intent = format!("joinreq:{}:{ident}:{name}", branch.id);
                self.tell_committee_with(branch, Some(&roster), &text, &intent, Nowhere::Silence)
                    .await?;
            }
        }
        Ok(outcome)
    }

    /// The waiting join request of the sender, if any (for `我的`).
    pub async fn join_request_of(
        &self,
        branch: &BranchId,
        event: &InboundEvent,
    ) -> Result<Option<JoinRequest>> {
        let ident = identity_key(event.chat.platform, &event.chat.bot, &event.sender_id);
        let request = self.store.join_request(branch, &ident).await?;
        Ok(request.filter(|r| !crate::store::roster::lapsed(r, self.clock.now())))
    }

    /// `批准 <姓名> [n] [身份]`: approves one waiting request for that name. A request for a
    /// name on the roster links the account to that entry (whatever its role: approving is the
    /// secretary's explicit act); otherwise a new entry is made, as 党员 unless a role is given.
    /// With several requests for the name and no `n`, nothing changes and they are listed.
    pub async fn approve(
        &self,
        branch: &Branch,
        raw_name: &str,
        pick: Option<usize>,
        role: Option<Role>,
    ) -> Result<Approval> {
        let name = validate_name("name", raw_name, MAX_MEMBER_NAME)?;
        let now = self.clock.now();
        let approval = retry_on_conflict!("roster", {
            let roster = self.store.roster(&branch.id).await?;
            let requests = roster.requests_for(&name, now);
            if requests.is_empty() {
                return Err(ServiceError::NoRequest(name));
            }
            let Some(index) = choose(&name, requests.len(), pick)? else {
                return Ok(Approval::Choose { name, requests });
            };
            let request = &requests[index];
            let ident = request.identity.key();
            let mut txn = roster.txn(&self.store);
            roster.remove_request(&self.store, &mut txn, &ident);
            if let Some(other) = roster.by_identity(&ident) {
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
                    Member {
                        id: Member::generate_id(),
                        name: name.clone(),
                        role: role.filter(|r| *r != Role::Guest).unwrap_or(Role::Member),
                        status: MemberStatus::Active,
                        identities: vec![identity.clone()],
                        joined_party_on: None,
                        birthday: None,
                        phone: None,
                        employer: None,
                        care_flags: Vec::new(),
                        notes: None,
                        created_at: now,
                    },
                    true,
                ),
            };
            roster.put_member(&self.store, &mut txn, &member)?;
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
            self.store
                .index_chat_and_identity(&branch.id, None, Some(&identity.key()))
                .await?;
            // The person learns it privately where the platform lets the bot start a chat.
            if let Some(chat_id) = private_chat_id(identity.platform, &identity.user_id) {
                let chat = ChatRef {
                    platform: identity.platform,
                    bot: identity.bot.clone(),
                    chat_id,
                };
                let text = crate::texts::join_approved(branch, member);
                let intent = format!("approved:{}:{}:{}", branch.id, member.id, identity.key());
                self.send_to_chat(&chat, &text, &intent).await?;
            }
        }
        Ok(approval)
    }

    /// `解除关联 <姓名> [n]`: undoes a link, so that account is a guest again. With several
    /// accounts and no `n`, nothing changes and they are listed. `actor` (the secretary's own
    /// account) cannot be unlinked this way: it would lock them out mid-command.
    pub async fn unlink(
        &self,
        branch: &BranchId,
        raw_name: &str,
        pick: Option<usize>,
        actor: &str,
    ) -> Result<Unlinking> {
        let name = validate_name("name", raw_name, MAX_MEMBER_NAME)?;
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
            let Some(index) = choose(&name, member.identities.len(), pick)? else {
                return Ok(Unlinking::Choose { member });
            };
            if member.identities[index].key() == actor {
                return Err(ServiceError::OwnAccount);
            }
            let identity = member.identities.remove(index);
            let mut txn = roster.txn(&self.store);
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
}
