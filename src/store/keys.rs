//! Every Redis key the server uses is built here, and only here (listed in docs/redis-keys.md).
//!
//! Keys of one branch share the hash tag `{b:<id>}` so that a script touching several of them
//! runs on Redis Cluster. Global lookup keys (chat → branch, bind code → branch, dedup) are
//! single-key and carry no tag.

use crate::domain::{BranchId, chat::ChatRef};

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
        self.branch_key_of(branch, &[&[suffix]])
    }

    /// A branch key whose suffix is the pieces of `groups` joined, built at its exact length:
    /// the check-in path builds a dozen keys per `签到`, and through `format!` (the formatting
    /// machinery and the regrowth of its buffer) they cost 7% of its CPU.
    fn branch_key_of(&self, branch: &BranchId, groups: &[&[&str]]) -> String {
        let head: &[&str] = &[self.prefix.as_str(), ":{b:", branch.as_str(), "}:"];
        let pieces = || {
            std::iter::once(head)
                .chain(groups.iter().copied())
                .flatten()
        };
        let mut key = String::with_capacity(pieces().map(|p| p.len()).sum());
        pieces().for_each(|p| key.push_str(p));
        key
    }

    /// A branch key about one chat: `<kind>:<platform>:<bot>:<chat_id>` then `tail`.
    fn branch_chat_key(
        &self,
        branch: &BranchId,
        kind: &str,
        chat: &ChatRef,
        tail: &[&str],
    ) -> String {
        self.branch_key_of(branch, &[&[kind, ":"], &chat.key_pieces(), tail])
    }

    /// [`Keys::branch_key`] with a suffix written by the formatting machinery, for keys off
    /// the hot path.
    fn branch_key_fmt(&self, branch: &BranchId, suffix: std::fmt::Arguments<'_>) -> String {
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
        self.branch_key_fmt(branch, format_args!("bindcode:{code}"))
    }

    /// Hash `platform:bot:user_id` → join request JSON: accounts waiting for the secretary.
    /// At most `JOIN_REQUEST_CAP` fields; the hash expires `JOIN_REQUEST_TTL` after its last
    /// write, and older entries are dropped at each write.
    pub fn join_requests(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "join_requests")
    }

    /// String (JSON list of `platform:bot:user_id`): the accounts a numbered list showed one
    /// secretary (`批准` / `拒绝`: `req`; `解除关联`: `acct`), so that `<n>` in the next
    /// command counts in what they read. TTL [`PICK_LIST_TTL`](super::roster::PICK_LIST_TTL).
    pub fn pick_list(&self, branch: &BranchId, actor: &str, what: &str, name: &str) -> String {
        self.branch_key_fmt(branch, format_args!("pick:{what}:{actor}:{name}"))
    }

    /// String: the account a chat message's roster change (`批准`, `解除关联`) was about,
    /// written in the change's own transaction so that a retry of the message finishes it
    /// instead of repeating it. TTL `timing.dedup_ttl`.
    pub fn effect(&self, branch: &BranchId, origin: &str) -> String {
        self.branch_key_fmt(branch, format_args!("effect:{origin}"))
    }

    /// String (TTL `timing.dedup_ttl`): the fingerprint of the admin API request that first
    /// used an `Idempotency-Key`, so that the key reused with another request is refused.
    pub fn request_key(&self, branch: &BranchId, origin: &str) -> String {
        self.branch_key_fmt(branch, format_args!("reqkey:{origin}"))
    }

    /// String: the bind code issued in answer to one chat message (`绑定码`), so that a retried
    /// message finds the same code instead of issuing a second. Lives as long as the code.
    pub fn bind_code_origin(&self, branch: &BranchId, origin: &str) -> String {
        self.branch_key_fmt(branch, format_args!("bindcode_for:{origin}"))
    }

    /// String counter: the branch's short numbers (`#n`), one sequence for every kind of
    /// object people type about.
    pub fn sequence(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "seq")
    }

    /// Hash meeting number → meeting JSON.
    pub fn meetings(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "meetings")
    }

    /// Hash short number → `<kind>:<id>` (`meeting:3`): what `#n` names, of any kind, in one
    /// read. One field per numbered object, written with the object.
    pub fn numbers(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "nos")
    }

    /// Hash meeting number → the check-in facts of a scheduled meeting (JSON: kind, start,
    /// end and any window opened by hand, times in ms). Only scheduled meetings: ending or
    /// cancelling one removes its field.
    pub fn agenda(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "agenda")
    }

    /// Sorted set meeting number → its planned end (ms), for scheduled meetings: a plain `签到`
    /// and `会议` read only the meetings not yet over, never the branch's history.
    pub fn agenda_ends(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "agenda_ends")
    }

    /// Sorted set meeting number → its start (ms), for ended meetings whose start is within
    /// [`RECENT_ENDED`](super::meetings::RECENT_ENDED) of the latest end (older ones are
    /// dropped at each end): what `签到状态` shows besides the scheduled ones.
    pub fn recently_ended(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "ended")
    }

    /// String: the version of the meeting indexes above, set once they hold every meeting of
    /// the branch (built from `meetings` on first use after an upgrade).
    pub fn meeting_index_version(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "mtg_index")
    }

    /// The common start of the branch's keys, for the one script that completes keys whose
    /// name depends on what it reads (`inbound.lua`: a meeting's attendance and its
    /// check-in code attempts). `branch_base(b) + "mtg:<no>:att"` is [`Keys::attendance`];
    /// the unit tests below keep the two in step.
    pub fn branch_base(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "")
    }

    /// String counter (TTL `checkin.digest_window`): check-ins in one chat in the window.
    pub fn checkin_rate(&self, branch: &BranchId, chat: &ChatRef) -> String {
        self.branch_chat_key(branch, "ckrate", chat, &[])
    }

    /// List: names checked in since a chat's last digest. Capped at
    /// [`DIGEST_CAP`](super::meetings::DIGEST_CAP) names, and expires
    /// [`DIGEST_TTL`](super::meetings::DIGEST_TTL) after its last push.
    pub fn checkin_digest(&self, branch: &BranchId, chat: &ChatRef) -> String {
        self.branch_chat_key(branch, "ckdigest", chat, &[])
    }

    /// String (TTL: to the end of the next bucket): set by the first check-in that goes to a
    /// chat's digest in one `checkin.digest_every` bucket, so that only that one schedules
    /// the bucket's digest job.
    pub fn checkin_digest_job(&self, branch: &BranchId, chat: &ChatRef, bucket: i64) -> String {
        self.branch_chat_key(branch, "ckdigest", chat, &[":job:", &bucket.to_string()])
    }

    /// Hash series id → recurring meeting series JSON.
    pub fn meeting_series(&self, branch: &BranchId) -> String {
        self.branch_key(branch, "series")
    }

    /// Hash member id → attendance JSON, for one meeting.
    pub fn attendance(&self, branch: &BranchId, meeting: u64) -> String {
        self.branch_key_fmt(branch, format_args!("mtg:{meeting}:att"))
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
        format!("{}:chat:{chat}", self.prefix)
    }

    /// Set: chat account (`platform:bot:user_id`) → the ids of the branches it is linked in,
    /// for private chats (a string of one id in data written before it was a set).
    pub fn identity_branch(&self, identity_key: &str) -> String {
        format!("{}:ident:{identity_key}", self.prefix)
    }

    /// String: the branch an account linked in several branches chose for its private chat
    /// (`支部 <n>`).
    pub fn branch_choice(&self, identity_key: &str) -> String {
        format!("{}:choice:{identity_key}", self.prefix)
    }

    /// String: a webhook message's dedup claim and stored reply, under the branch of the chat
    /// (only members' messages claim, and a member's chat has a branch), so that the claim,
    /// the limit counters and the command's own effect run in one script. The chat is part of
    /// the key because sim clients choose message ids, and platform ids need only be unique
    /// per chat.
    pub fn dedup(&self, branch: &BranchId, chat: &ChatRef, message_id: &str) -> String {
        self.branch_chat_key(branch, "dedup", chat, &[":", message_id])
    }

    fn limit_key(&self, chat: &ChatRef, suffix: &str) -> String {
        // One tag per chat, so that one script counts the chat and a sender in it together.
        format!("{}:{{lim:{chat}}}:{suffix}", self.prefix)
    }

    /// String counter (TTL `limits.window`): commands counted against a chat's guest limit.
    pub fn chat_command_count(&self, chat: &ChatRef) -> String {
        self.limit_key(chat, "chat")
    }

    /// String counter (TTL `limits.window`): one guest's commands in a chat (anyone's in an
    /// unbound chat).
    pub fn sender_command_count(&self, chat: &ChatRef, sender_id: &str) -> String {
        self.limit_key(chat, &format!("s:{sender_id}"))
    }

    /// String counter (TTL `limits.window`): the commands of one member below 支委 in a bound
    /// chat. Under the branch's tag, so that the script that resolves the sender counts them
    /// and claims the message in the same step (guests count on the chat's `{lim:…}` keys).
    pub fn branch_sender_command_count(
        &self,
        branch: &BranchId,
        chat: &ChatRef,
        sender_id: &str,
    ) -> String {
        self.branch_chat_key(branch, "lim", chat, &[":s:", sender_id])
    }

    /// String counter (TTL `limits.window`): commands in a chat whose sender cannot be told
    /// (a Telegram anonymous admin, a channel, a bot), so that the chat hears why once per
    /// window.
    pub fn unattributed_count(&self, chat: &ChatRef) -> String {
        self.limit_key(chat, "anon")
    }

    /// String counter (TTL `limits.window`): deferred replies (through the outbox) to guests
    /// and in unbound chats, per bot, against `limits.guest_replies`.
    pub fn guest_reply_count(&self, bot: &str) -> String {
        format!("{}:guest_replies:{bot}", self.prefix)
    }

    fn attempt_key(&self, branch: Option<&BranchId>, object: &str, suffix: &str) -> String {
        match branch {
            // An object of a branch (a meeting's check-in code) counts under the branch's tag,
            // so that the check-in script gates and records the tries itself.
            Some(branch) => self.branch_key_fmt(branch, format_args!("wa:{object}:{suffix}")),
            // One tag per guessed object, so that one script sees its count and a person's.
            None => format!("{}:{{wa:{object}}}:{suffix}", self.prefix),
        }
    }

    /// String counter (TTL `limits.wrong_code_cooldown`): wrong tries at one object
    /// (`mtg:<no>` under its branch for a meeting's check-in code, `bind:<chat>` for a chat's
    /// bind codes).
    pub fn object_wrong_attempts(&self, branch: Option<&BranchId>, object: &str) -> String {
        self.attempt_key(branch, object, "n")
    }

    /// String counter (TTL `limits.wrong_code_cooldown`): one person's wrong tries at an object.
    pub fn person_wrong_attempts(
        &self,
        branch: Option<&BranchId>,
        object: &str,
        person: &str,
    ) -> String {
        self.attempt_key(branch, object, &format!("p:{person}"))
    }

    fn sim(&self, bot: &str, suffix: &str) -> String {
        // One tag per sim bot: a push touches a mailbox and the bot's index of mailboxes.
        format!("{}:{{sim:{bot}}}:{suffix}", self.prefix)
    }

    /// List: a sim chat's mailbox of proactive messages, newest last. Capped at
    /// [`MAILBOX_CAPACITY`](super::mailbox::MAILBOX_CAPACITY) messages, TTL
    /// [`MAILBOX_TTL`](super::mailbox::MAILBOX_TTL) after its last message.
    pub fn sim_mailbox(&self, bot: &str, chat_id: &str) -> String {
        self.sim(bot, &format!("mailbox:{chat_id}"))
    }

    /// Sorted set chat id → last delivery (ms): a sim bot's mailboxes, at most
    /// [`MAILBOXES_PER_BOT`](super::mailbox::MAILBOXES_PER_BOT) (the least recently written go).
    pub fn sim_mailboxes(&self, bot: &str) -> String {
        self.sim(bot, "mailboxes")
    }

    fn sched(&self, suffix: &str) -> String {
        // One tag for the scheduler: its scripts touch these keys together.
        format!("{}:{{sched}}:{suffix}", self.prefix)
    }

    /// Hash job key → job JSON.
    pub fn jobs(&self) -> String {
        self.sched("jobs")
    }

    /// Sorted set job key → due time (ms).
    pub fn jobs_due(&self) -> String {
        self.sched("due")
    }

    /// Sorted set job key → lease expiry (ms) of a running job.
    pub fn job_leases(&self) -> String {
        self.sched("leases")
    }

    /// Hash job key → token of the replica holding its lease.
    pub fn job_owners(&self) -> String {
        self.sched("owners")
    }

    /// List (newest first, capped): jobs skipped because they were missed beyond their grace.
    pub fn jobs_skipped(&self) -> String {
        self.sched("skipped")
    }

    /// List (newest first, capped): jobs that failed for good.
    pub fn jobs_failed(&self) -> String {
        self.sched("failed")
    }

    fn outbox(&self, suffix: &str) -> String {
        // One tag for the outbox: its scripts touch a chat's queue, the ready set and the
        // buckets together.
        format!("{}:{{outbox}}:{suffix}", self.prefix)
    }

    /// Hash message id → queued message JSON.
    pub fn outbox_messages(&self) -> String {
        self.outbox("msg")
    }

    /// String (TTL `outbox.idempotency_ttl`): an intent key → the message id it queued.
    pub fn outbox_intent(&self, intent: &str) -> String {
        self.outbox(&format!("intent:{intent}"))
    }

    /// List: one chat's queue of message ids, oldest first. `chat` is `<bot>:<chat_id>`.
    pub fn outbox_queue(&self, chat: &str) -> String {
        self.outbox(&format!("q:{chat}"))
    }

    /// Sorted set chat → when it may send next (ms).
    pub fn outbox_ready(&self) -> String {
        self.outbox("ready")
    }

    /// Sorted set chat → lease expiry (ms) while a replica sends for it.
    pub fn outbox_leases(&self) -> String {
        self.outbox("leases")
    }

    /// Hash chat → token of the replica holding its lease.
    pub fn outbox_owners(&self) -> String {
        self.outbox("owners")
    }

    /// Hash message id → dead-lettered message JSON. Capped at `outbox.dead_letter_cap`
    /// entries, each dropped `outbox.dead_letter_ttl` after it was dead-lettered.
    pub fn outbox_dead(&self) -> String {
        self.outbox("dead")
    }

    /// Sorted set message id → when it was dead-lettered (ms): the age index of `dead`.
    pub fn outbox_dead_at(&self) -> String {
        self.outbox("dead_at")
    }

    /// Hash (tokens, ts): a chat's send budget.
    pub fn outbox_chat_bucket(&self, chat: &str) -> String {
        self.outbox(&format!("tb:chat:{chat}"))
    }

    /// Hash (tokens, ts): a bot's send budget across its chats.
    pub fn outbox_bot_bucket(&self, bot: &str) -> String {
        self.outbox(&format!("tb:bot:{bot}"))
    }

    /// String (TTL: the token's life less a margin): a bot's platform access token.
    pub fn platform_token(&self, bot: &str) -> String {
        format!("{}:token:{bot}", self.prefix)
    }

    /// String (TTL 15 s): held by the one replica refreshing a bot's access token.
    pub fn platform_token_lock(&self, bot: &str) -> String {
        format!("{}:token:{bot}:lock", self.prefix)
    }

    /// String (TTL 7 d): a user's display name as the platform API gave it, written only
    /// once a `绑定` or `加入` put the user on a roster.
    pub fn display_name(&self, bot: &str, user_id: &str) -> String {
        format!("{}:name:{bot}:{user_id}", self.prefix)
    }

    /// String (TTL 1 d): a bot's own username as the platform reported it (Telegram's
    /// `getMe`), for bots whose configuration does not name it. One per configured bot.
    pub fn bot_username(&self, bot: &str) -> String {
        format!("{}:botname:{bot}", self.prefix)
    }

    /// Hash sha256(token) → API token JSON (tokens are stored hashed, never in clear).
    pub fn api_tokens(&self) -> String {
        format!("{}:{{tokens}}:by_hash", self.prefix)
    }

    /// Hash token id → sha256(token), to revoke by id.
    pub fn api_token_ids(&self) -> String {
        format!("{}:{{tokens}}:by_id", self.prefix)
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
    fn keys_built_from_pieces_read_as_documented() {
        let keys = Keys::new("mb");
        let b = BranchId::parse("abc123").unwrap();
        let chat = ChatRef {
            platform: crate::domain::chat::PlatformKind::Onebot,
            bot: "qq".to_owned(),
            chat_id: "100".to_owned(),
        };
        assert_eq!(chat.key(), chat.to_string());
        assert_eq!(
            keys.dedup(&b, &chat, "m1"),
            "mb:{b:abc123}:dedup:onebot:qq:100:m1"
        );
        assert_eq!(
            keys.checkin_rate(&b, &chat),
            "mb:{b:abc123}:ckrate:onebot:qq:100"
        );
        assert_eq!(
            keys.checkin_digest(&b, &chat),
            "mb:{b:abc123}:ckdigest:onebot:qq:100"
        );
        assert_eq!(
            keys.checkin_digest_job(&b, &chat, 42),
            "mb:{b:abc123}:ckdigest:onebot:qq:100:job:42"
        );
        assert_eq!(
            keys.branch_sender_command_count(&b, &chat, "u1"),
            "mb:{b:abc123}:lim:onebot:qq:100:s:u1"
        );
        assert_eq!(keys.branch_base(&b), "mb:{b:abc123}:");
    }

    #[test]
    fn counters_checked_together_share_one_hash_tag() {
        let keys = Keys::new("mb");
        // Ids are the platform's: even braces in them must not split a pair of keys.
        for chat_id in ["g1", "a}b", "{x}", "-100123"] {
            let chat = ChatRef {
                platform: crate::domain::chat::PlatformKind::Sim,
                bot: "demo".to_owned(),
                chat_id: chat_id.to_owned(),
            };
            assert_eq!(
                hash_tag(&keys.chat_command_count(&chat)),
                hash_tag(&keys.sender_command_count(&chat, "u}1")),
                "{chat_id}"
            );
        }
        assert_eq!(
            hash_tag(&keys.object_wrong_attempts(None, "bind:sim:demo:g1")),
            hash_tag(&keys.person_wrong_attempts(None, "bind:sim:demo:g1", "m{x}")),
        );
        // The sim's chat ids are the caller's: braces in them must not split a mailbox from
        // its bot's index.
        for chat_id in ["g1", "a}b", "{x}"] {
            assert_eq!(
                hash_tag(&keys.sim_mailbox("demo", chat_id)),
                hash_tag(&keys.sim_mailboxes("demo"))
            );
        }
    }

    #[test]
    fn keys_the_inbound_script_completes_match_their_builders() {
        // inbound.lua appends these suffixes to `branch_base`; a change on either side must
        // show here.
        let keys = Keys::new("mb");
        let b = BranchId::parse("abc123").unwrap();
        let base = keys.branch_base(&b);
        assert_eq!(format!("{base}mtg:7:att"), keys.attendance(&b, 7));
        let object = format!("mtg:{}", 7);
        assert_eq!(
            format!("{base}wa:mtg:7:n"),
            keys.object_wrong_attempts(Some(&b), &object)
        );
        assert_eq!(
            format!("{base}wa:mtg:7:p:m1"),
            keys.person_wrong_attempts(Some(&b), &object, "m1")
        );
        let chat = ChatRef {
            platform: crate::domain::chat::PlatformKind::Sim,
            bot: "demo".to_owned(),
            chat_id: "g{1}".to_owned(),
        };
        // Everything the script touches shares the branch's tag.
        for key in [
            keys.dedup(&b, &chat, "m{1}"),
            keys.branch_sender_command_count(&b, &chat, "u}1"),
            keys.checkin_digest_job(&b, &chat, 3),
            keys.agenda(&b),
            keys.numbers(&b),
        ] {
            assert_eq!(hash_tag(&key), "b:abc123", "{key}");
        }
    }

    #[test]
    fn hash_tag_follows_redis_rules() {
        assert_eq!(hash_tag("a{x}b"), "x");
        assert_eq!(hash_tag("a{}b"), "a{}b");
        assert_eq!(hash_tag("plain"), "plain");
    }
}
