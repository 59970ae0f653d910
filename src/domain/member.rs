//! A member of a branch's roster, their role and the chat identities linked to them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Language;
use super::chat::PlatformKind;

/// Roles from least to most power, so that `>=` reads as "at least".
/// The region admin is an API scope, not a roster role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Someone in the chat who is not on the roster (or not yet approved).
    Guest,
    /// 入党积极分子.
    Activist,
    /// 预备党员.
    Probationary,
    /// 党员.
    Member,
    /// 支委.
    Committee,
    /// 书记.
    Secretary,
}

impl Role {
    /// Every roster role, most powerful first.
    pub const ROSTER: [Self; 5] = [
        Self::Secretary,
        Self::Committee,
        Self::Member,
        Self::Probationary,
        Self::Activist,
    ];

    /// The role's name in the branch's language.
    pub fn label(self, lang: Language) -> &'static str {
        match (self, lang) {
            (Self::Secretary, Language::Zh) => "书记",
            (Self::Committee, Language::Zh) => "支委",
            (Self::Member, Language::Zh) => "党员",
            (Self::Probationary, Language::Zh) => "预备党员",
            (Self::Activist, Language::Zh) => "入党积极分子",
            (Self::Guest, Language::Zh) => "访客",
            (Self::Secretary, Language::En) => "secretary",
            (Self::Committee, Language::En) => "committee member",
            (Self::Member, Language::En) => "member",
            (Self::Probationary, Language::En) => "probationary member",
            (Self::Activist, Language::En) => "activist",
            (Self::Guest, Language::En) => "guest",
        }
    }

    /// Reads a role typed in chat, in either language.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim().to_lowercase().as_str() {
            "书记" | "secretary" => Self::Secretary,
            "支委" | "委员" | "committee" => Self::Committee,
            "党员" | "正式党员" | "member" => Self::Member,
            "预备党员" | "probationary" => Self::Probationary,
            "积极分子" | "入党积极分子" | "activist" => Self::Activist,
            _ => return None,
        })
    }
}

/// Where a member stands on the roster. People who asked to join and wait for the secretary
/// are not on the roster at all: they are [`JoinRequest`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// On the roster.
    Active,
    /// Transferred out; kept for the ledger.
    MovedOut,
}

/// One chat account of a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Platform.
    pub platform: PlatformKind,
    /// Bot the account was seen through (ids are per app on some platforms).
    pub bot: String,
    /// The platform's user id.
    pub user_id: String,
    /// The name the platform showed when linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// When it was linked.
    pub linked_at: DateTime<Utc>,
}

impl Identity {
    /// `platform:bot:user_id`, the form used in keys.
    pub fn key(&self) -> String {
        identity_key(self.platform, &self.bot, &self.user_id)
    }

    /// The account a [`Identity::key`] names, for one no longer on the roster (no display
    /// name, linked at the epoch).
    pub fn parse_key(key: &str) -> Option<Self> {
        let mut parts = key.splitn(3, ':');
        Some(Self {
            platform: parts.next()?.parse().ok()?,
            bot: parts.next()?.to_owned(),
            user_id: parts.next()?.to_owned(),
            display_name: None,
            linked_at: DateTime::<Utc>::UNIX_EPOCH,
        })
    }
}

pub use super::chat::identity_key;

/// A roster entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Id, unique within the branch.
    pub id: String,
    /// Name, unique within the branch.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Status.
    pub status: MemberStatus,
    /// Linked chat accounts.
    #[serde(default)]
    pub identities: Vec<Identity>,
    /// 入党日期.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_party_on: Option<NaiveDate>,
    /// Birthday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<NaiveDate>,
    /// Phone; never shown in a group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Employer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employer: Option<String>,
    /// Care flags (困难党员, 老党员, …).
    #[serde(default)]
    pub care_flags: Vec<String>,
    /// Notes for the committee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// When the entry was created.
    pub created_at: DateTime<Utc>,
}

impl Member {
    /// A fresh member id.
    pub fn generate_id() -> String {
        use rand::Rng;
        const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
        let mut rng = rand::rng();
        let tail: String = (0..10)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        format!("m{tail}")
    }

    /// A new, active roster entry with a fresh id and nothing but its name, role and accounts.
    pub fn new(
        name: String,
        role: Role,
        identities: Vec<Identity>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: Self::generate_id(),
            name,
            role,
            status: MemberStatus::Active,
            identities,
            joined_party_on: None,
            birthday: None,
            phone: None,
            employer: None,
            care_flags: Vec::new(),
            notes: None,
            created_at,
        }
    }

    /// The role that commands see: moved-out people act as guests.
    pub fn effective_role(&self) -> Role {
        match self.status {
            MemberStatus::Active => self.role,
            MemberStatus::MovedOut => Role::Guest,
        }
    }

    /// Whether a person may link their own account to this entry with `加入 <姓名>`, without the
    /// secretary: only an active entry with no account yet, and only for roles that carry no
    /// power over others (党员 and below). Everything else is a request.
    pub fn self_linkable(&self) -> bool {
        self.status == MemberStatus::Active
            && self.identities.is_empty()
            && self.role <= Role::Member
            && self.role > Role::Guest
    }

    /// Whole years of party standing on `today`, if the joining date is known.
    pub fn party_years(&self, today: NaiveDate) -> Option<u32> {
        let joined = self.joined_party_on?;
        today.years_since(joined)
    }
}

/// Someone asking to join under a name, or to link another account to a roster entry. Kept
/// apart from the roster: it gives no role and no access until the secretary approves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The name asked for (user-typed; validated, shown only to the committee).
    pub name: String,
    /// The account that asked.
    pub identity: Identity,
    /// When it asked (the latest time, if it asked again).
    pub at: DateTime<Utc>,
}

/// Orders requests for a name so that "the n-th" means the same thing in the list the
/// secretary read and in the `批准 <姓名> <n>` that follows: oldest first, ties by account.
pub fn sort_requests(requests: &mut [JoinRequest]) {
    requests.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then_with(|| a.identity.key().cmp(&b.identity.key()))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_from_guest_to_secretary() {
        assert!(Role::Secretary > Role::Committee);
        assert!(Role::Committee > Role::Member);
        assert!(Role::Member > Role::Probationary);
        assert!(Role::Activist > Role::Guest);
    }

    #[test]
    fn roles_parse_in_both_languages() {
        assert_eq!(Role::parse("支委"), Some(Role::Committee));
        assert_eq!(Role::parse("Probationary"), Some(Role::Probationary));
        assert_eq!(Role::parse("领导"), None);
    }
}
