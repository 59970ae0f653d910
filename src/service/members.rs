//! Rosters: joining from chat, approval, roster entries from the admin API.

use chrono::NaiveDate;
use serde::Deserialize;

use super::{
    Result, ServiceError, Services,
    branches::{identity_of, new_linked_member},
    retry_on_conflict,
};
use crate::{
    domain::{
        Branch, BranchId, Invalid, Member, MemberStatus, Role, member::identity_key, validate_name,
    },
    platform::InboundEvent,
};

/// Longest member name.
pub const MAX_MEMBER_NAME: usize = 20;

/// What `加入` achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Linked to an existing, unlinked roster entry.
    Linked {
        /// Roster name.
        name: String,
        /// Roster role.
        role: Role,
    },
    /// A pending entry now waits for the secretary.
    Pending {
        /// Name asked for.
        name: String,
    },
    /// The name is linked on another platform; linking this account waits for the secretary.
    LinkRequested {
        /// Roster name.
        name: String,
    },
}

/// What `批准` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// A pending member is admitted.
    Admitted(Member),
    /// Accounts that asked to be linked to an existing member now are.
    Linked(Member),
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
                pending_identities: Vec::new(),
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

    /// `加入 <姓名>`: links the sender to an unlinked roster entry of that name, or asks to
    /// join as a pending member. Repeating it is harmless.
    pub async fn join(
        &self,
        branch: &Branch,
        event: &InboundEvent,
        raw_name: &str,
    ) -> Result<JoinOutcome> {
        let name = validate_name("name", raw_name, MAX_MEMBER_NAME)?;
        let ident = identity_key(event.chat.platform, &event.chat.bot, &event.sender_id);
        let now = self.clock.now();
        let outcome = retry_on_conflict!("roster", {
            let roster = self.store.roster(&branch.id).await?;
            if let Some(me) = roster.by_identity(&ident) {
                // A repeat after a failure between the roster write and the index write
                // lands here: repair the index before answering.
                self.store
                    .index_chat_and_identity(&branch.id, None, Some(&ident))
                    .await?;
                return match me.status {
                    MemberStatus::Pending if me.name == name => Ok(JoinOutcome::Pending { name }),
                    _ => Err(ServiceError::AlreadyMember(me.name.clone())),
                };
            }
            let (member, outcome) = match roster.by_name(&name) {
                Some(m) if m.identities.is_empty() && m.status == MemberStatus::Active => {
                    let mut m = m.clone();
                    m.identities.push(identity_of(event, now));
                    let outcome = JoinOutcome::Linked {
                        name: m.name.clone(),
                        role: m.role,
                    };
                    (m, outcome)
                }
                // The same person on another platform: only someone who can vouch that two
                // accounts are one person (the secretary) may join them, so this is a request.
                Some(m)
                    if m.status == MemberStatus::Active
                        && !m.identities.iter().any(|i| {
                            i.platform == event.chat.platform && i.bot == event.chat.bot
                        }) =>
                {
                    let mut m = m.clone();
                    if !m.pending_identities.iter().any(|i| i.key() == ident) {
                        m.pending_identities.push(identity_of(event, now));
                    }
                    let outcome = JoinOutcome::LinkRequested {
                        name: m.name.clone(),
                    };
                    (m, outcome)
                }
                Some(m) => return Err(ServiceError::NameTaken(m.name.clone())),
                None => {
                    let mut m =
                        new_linked_member(&roster, event, now, Role::Member, MemberStatus::Pending);
                    m.name.clone_from(&name);
                    (m, JoinOutcome::Pending { name: name.clone() })
                }
            };
            let mut txn = roster.txn(&self.store);
            roster.put_member(&self.store, &mut txn, &member)?;
            let mut conn = self.store.conn().await?;
            txn.commit(&mut conn).await?.then_some(outcome)
        });
        match &outcome {
            JoinOutcome::LinkRequested { name } => {
                // The committee hears of it: a roster name is not proof of who someone is.
                if let Some(committee) = &branch.committee_chat {
                    let text = crate::texts::link_requested_notice(
                        branch.language,
                        name,
                        event.chat.platform,
                    );
                    let intent = format!("link:{}:{}:{ident}", branch.id, name);
                    self.send_to_chat(committee, &text, &intent).await?;
                }
            }
            _ => {
                self.store
                    .index_chat_and_identity(&branch.id, None, Some(&ident))
                    .await?;
            }
        }
        Ok(outcome)
    }

    /// `批准 <姓名> [角色]`: admits a pending member (as 党员 unless a role is given).
    pub async fn approve(
        &self,
        branch: &BranchId,
        raw_name: &str,
        role: Option<Role>,
    ) -> Result<Approval> {
        let name = validate_name("name", raw_name, MAX_MEMBER_NAME)?;
        let approval = retry_on_conflict!("roster", {
            let roster = self.store.roster(branch).await?;
            let mut m = roster
                .by_name(&name)
                .cloned()
                .ok_or_else(|| ServiceError::MemberNotFound(name.clone()))?;
            let approval = if m.status == MemberStatus::Pending {
                m.status = MemberStatus::Active;
                m.role = role.unwrap_or(Role::Member);
                m.identities.append(&mut m.pending_identities);
                Approval::Admitted(m.clone())
            } else if m.status == MemberStatus::Active && !m.pending_identities.is_empty() {
                // An account linked meanwhile to someone else stays out.
                let taken: Vec<String> = roster
                    .members
                    .values()
                    .filter(|o| o.id != m.id)
                    .flat_map(|o| o.identities.iter().map(|i| i.key()))
                    .collect();
                let pending = std::mem::take(&mut m.pending_identities);
                m.identities
                    .extend(pending.into_iter().filter(|i| !taken.contains(&i.key())));
                Approval::Linked(m.clone())
            } else {
                return Err(ServiceError::NotPending(m.name));
            };
            let mut txn = roster.txn(&self.store);
            roster.put_member(&self.store, &mut txn, &m)?;
            let mut conn = self.store.conn().await?;
            txn.commit(&mut conn).await?.then_some(approval)
        });
        let member = match &approval {
            Approval::Admitted(m) | Approval::Linked(m) => m,
        };
        for identity in &member.identities {
            self.store
                .index_chat_and_identity(branch, None, Some(&identity.key()))
                .await?;
        }
        Ok(approval)
    }
}
