//! Every Redis key the server uses is built here, and only here (listed in docs/redis-keys.md).
//!
//! Keys of one branch share the hash tag `{b:<id>}` so that a script touching several of them
//! runs on Redis Cluster. Global lookup keys (chat → branch, bind code → branch, dedup) are
//! single-key and carry no tag.

use crate::{domain::BranchId, platform::ChatRef};

/// Builds keys under a configurable prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix:`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The prefix, for tests that clean up after themselves.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn branch_key(&self, branch: &BranchId, suffix: &str) -> String {
        format!("{}:{{b:{}}}:{suffix}", self.prefix, branch.as_str())
    }

    /// String (JSON): the branch record.
    pub fn branch(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "branch")
    }

    /// Hash member id → member JSON.
    pub fn members(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "members")
    }

    /// Hash name → member id (names are unique per branch).
    pub fn member_names(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "member_names")
    }

    /// Hash `platform:bot:user_id` → member id.
    pub fn identities(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "identities")
    }

    /// String counter: bumped by every roster change (optimistic concurrency).
    pub fn roster_rev(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "roster_rev")
    }

    /// Set of bound chats (`platform:bot:chat_id`).
    pub fn chats(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "chats")
    }

    /// String (JSON): one bind code's state.
    pub fn bind_code(&self, branch: &BranchId, code: &str) -> String {
        self.branch_key(branch, &format!("bindcode:{code}"))
    }

    /// Stream: the branch's audit log of admin changes.
    pub fn audit(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "audit")
    }

    /// Set of every branch id.
    pub fn branch_index(&self) -> String {
        format!("{}:branches", self.prefix)
    }

    /// String: bind code → branch id.
    pub fn bind_code_index(&self, code: &str) -> String {
        format!("{}:bindcode:{code}", self.prefix)
    }

    /// String: chat → branch id.
    pub fn chat_branch(&self, chat: &ChatRef) -> String {
        format!("{}:chat:{}", self.prefix, chat.key())
    }

    /// String: chat account (`platform:bot:user_id`) → branch id, for private chats.
    pub fn identity_branch(&self, identity_key: &str) -> String {
        format!("{}:ident:{identity_key}", self.prefix)
    }

    /// String: a webhook message's dedup claim and stored reply. The chat is part of the key
    /// because some platforms number messages per chat (Telegram) and sim clients choose ids.
    pub fn dedup(&self, chat: &ChatRef, message_id: &str) -> String {
        format!("{}:dedup:{}:{message_id}", self.prefix, chat.key())
    }

    /// List: a sim chat's mailbox of proactive messages, newest last.
    pub fn sim_mailbox(&self, bot: &str, chat_id: &str) -> String {
        format!("{}:sim:{bot}:mailbox:{chat_id}", self.prefix)
    }

    /// Stream: region-level audit log (branch creation, tokens).
    pub fn region_audit(&self) -> String {
        format!("{}:audit", self.prefix)
    }
}

/// The hash tag of a key (the text between the first `{` and the next `}`), as Redis Cluster
/// computes it, so that a multi-key script can refuse keys of different slots before sending.
pub fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{')
        && let Some(len) = key[open + 1..].find('}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_keys_share_one_hash_tag() {
        let keys = Keys::new("mb");
        let b = BranchId::parse("abc123").unwrap();
        assert_eq!(keys.branch(&b), "mb:{b:abc123}:branch");
        assert_eq!(hash_tag(&keys.members(&b)), "b:abc123");
        assert_eq!(
            hash_tag(&keys.bind_code(&b, "X")),
            hash_tag(&keys.chats(&b))
        );
    }

    #[test]
    fn hash_tag_follows_redis_rules() {
        assert_eq!(hash_tag("a{x}b"), "x");
        assert_eq!(hash_tag("a{}b"), "a{}b");
        assert_eq!(hash_tag("plain"), "plain");
    }
}
