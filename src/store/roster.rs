//! Branches, bind codes, chats and rosters in Redis.
//!
//! Roster changes are optimistic: a snapshot carries the roster revision it was read at, and
//! [`RosterSnapshot::txn`] starts a transaction that applies only if nobody changed the roster
//! since. Rosters are small (a branch has at most a few dozen members), so reading all of it
//! is cheap and keeps every rule in Rust.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Result, Store, decode, encode, txn::Txn};
use crate::{
    domain::chat::ChatRef,
    domain::{Branch, BranchId, JoinRequest, Member, member::sort_requests},
};

static DELETE_IF_EQUAL: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("scripts/delete_if_equal.lua")));

static IDENT_INDEX: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("scripts/ident_index.lua")));

/// How long a numbered list shown to a secretary stays the list `<n>` counts in.
pub const PICK_LIST_TTL: Duration = Duration::from_secs(3600);

/// How long a join request waits for the secretary before it lapses (the person can ask again).
pub const JOIN_REQUEST_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Bind codes outlive their expiry by this much, so that "expired" can be told from "unknown"
/// and a retried bind of the same chat stays idempotent.
pub const BIND_CODE_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A bind code's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindCodeRecord {
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// The chat (`platform:bot:chat_id`) that used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<String>,
    /// Bind the committee chat rather than a member chat.
    #[serde(default)]
    pub committee: bool,
}

/// The roster of one branch as read at one revision.
#[derive(Debug, Clone)]
pub struct RosterSnapshot {
    /// The branch.
    pub branch: BranchId,
    rev: Option<String>,
    /// Members by id.
    pub members: HashMap<String, Member>,
    raw: HashMap<String, String>,
    /// Join requests by account (`platform:bot:user_id`), lapsed ones included (see
    /// [`RosterSnapshot::live_requests`]).
    pub requests: HashMap<String, JoinRequest>,
    raw_requests: HashMap<String, String>,
}

impl RosterSnapshot {
    /// The member with that name.
    pub fn by_name(&self, name: &str) -> Option<&Member> {
        self.members.values().find(|m| m.name == name)
    }

    /// The member linked to that chat account.
    pub fn by_identity(&self, identity_key: &str) -> Option<&Member> {
        self.members
            .values()
            .find(|m| m.identities.iter().any(|i| i.key() == identity_key))
    }

    /// Every request that has not lapsed at `now`, oldest first.
    pub fn live_requests(&self, now: DateTime<Utc>) -> Vec<JoinRequest> {
        let mut live: Vec<JoinRequest> = self
            .requests
            .values()
            .filter(|r| !lapsed(r, now))
            .cloned()
            .collect();
        sort_requests(&mut live);
        live
    }

    /// The live requests waiting for `name`, oldest first (the order `批准 <姓名> <n>` counts).
    pub fn requests_for(&self, name: &str, now: DateTime<Utc>) -> Vec<JoinRequest> {
        let mut found = self.live_requests(now);
        found.retain(|r| r.name == name);
        found
    }

    /// The live request of account `identity_key`.
    pub fn request_of(&self, identity_key: &str, now: DateTime<Utc>) -> Option<&JoinRequest> {
        self.requests.get(identity_key).filter(|r| !lapsed(r, now))
    }

    /// Adds the writes that store (or replace) the request of `request.identity`, checking the
    /// account's request was not changed since the snapshot. The hash lives on for
    /// [`JOIN_REQUEST_TTL`] after this write, and lapsed entries are dropped with it.
    pub fn put_request(
        &self,
        store: &Store,
        txn: &mut Txn,
        request: &JoinRequest,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let key = store.keys().join_requests(&self.branch);
        let field = request.identity.key();
        txn.expect_field(
            &key,
            &field,
            self.raw_requests.get(&field).map(String::as_str),
        );
        txn.hset(&key, &field, &encode(&key, request)?);
        for (other, old) in &self.requests {
            if *other != field && lapsed(old, now) {
                // Lapsed: drop it while we are writing anyway, so the hash never grows with
                // requests nobody answered.
                let raw = self.raw_requests.get(other).map(String::as_str);
                txn.expect_field(&key, other, raw);
                txn.hdel(&key, other);
            }
        }
        txn.pexpire(&key, JOIN_REQUEST_TTL);
        Ok(())
    }

    /// Adds the writes that remove the request of account `identity_key`.
    pub fn remove_request(&self, store: &Store, txn: &mut Txn, identity_key: &str) {
        let key = store.keys().join_requests(&self.branch);
        if let Some(raw) = self.raw_requests.get(identity_key) {
            txn.expect_field(&key, identity_key, Some(raw));
            txn.hdel(&key, identity_key);
        }
    }

    /// Members sorted by role (most powerful first), then name.
    pub fn sorted(&self) -> Vec<&Member> {
        let mut all: Vec<&Member> = self.members.values().collect();
        all.sort_by(|a, b| b.role.cmp(&a.role).then_with(|| a.name.cmp(&b.name)));
        all
    }

    /// A transaction for changes whose checks are per key (this member's record, the name
    /// and account indexes, all added by [`RosterSnapshot::put_member`]). It bumps the roster
    /// revision, so whole-roster decisions made meanwhile see the change.
    pub fn txn(&self, store: &Store) -> Txn {
        let mut txn = Txn::new();
        txn.incr(&store.keys().roster_rev(&self.branch));
        txn
    }

    /// A transaction for a decision that depends on the whole roster (whether the branch has a
    /// secretary): it applies only if no roster change happened since this snapshot.
    pub fn txn_whole(&self, store: &Store) -> Txn {
        let rev_key = store.keys().roster_rev(&self.branch);
        let mut txn = Txn::new();
        txn.expect_value(&rev_key, self.rev.as_deref());
        txn.incr(&rev_key);
        txn
    }

    /// Adds the writes that store `member` (new or changed) and keep the name and identity
    /// indexes in step, checking that the member was not changed since the snapshot.
    pub fn put_member(&self, store: &Store, txn: &mut Txn, member: &Member) -> Result<()> {
        let keys = store.keys();
        let members_key = keys.members(&self.branch);
        let names_key = keys.member_names(&self.branch);
        let idents_key = keys.identities(&self.branch);
        let old = self.members.get(&member.id);
        txn.expect_field(
            &members_key,
            &member.id,
            self.raw.get(&member.id).map(String::as_str),
        );
        txn.hset(&members_key, &member.id, &encode(&members_key, member)?);
        if old.map(|o| o.name.as_str()) != Some(member.name.as_str()) {
            if let Some(o) = old {
                txn.hdel(&names_key, &o.name);
            }
            txn.expect_field(&names_key, &member.name, None);
            txn.hset(&names_key, &member.name, &member.id);
        }
        let old_idents: Vec<String> = old
            .map(|o| o.identities.iter().map(|i| i.key()).collect())
            .unwrap_or_default();
        for ident in &member.identities {
            let k = ident.key();
            if !old_idents.contains(&k) {
                txn.expect_field(&idents_key, &k, None);
                txn.hset(&idents_key, &k, &member.id);
            }
        }
        for k in old_idents {
            if !member.identities.iter().any(|i| i.key() == k) {
                txn.hdel(&idents_key, &k);
            }
        }
        Ok(())
    }
}

impl Store {
    /// Stores a new branch, with its first bind code if given. `Ok(false)` if the id is taken.
    pub async fn insert_branch(
        &self,
        branch: &Branch,
        code: Option<(&str, &BindCodeRecord)>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let keys = self.keys();
        let branch_key = keys.branch(&branch.id);
        let mut txn = Txn::new();
        txn.expect_value(&branch_key, None);
        txn.set(&branch_key, &encode(&branch_key, branch)?, None);
        if let Some((code, record)) = code {
            let code_key = keys.bind_code(&branch.id, code);
            txn.expect_value(&code_key, None);
            txn.set(
                &code_key,
                &encode(&code_key, record)?,
                Some(code_ttl(record, now)),
            );
        }
        let mut conn = self.conn().await?;
        if !txn.commit(&mut conn).await? {
            return Ok(false);
        }
        // The index entries come last: a branch is listed only once it is whole. Separate
        // commands, not a pipeline: these keys live in different cluster slots.
        if let Some((code, record)) = code {
            self.index_bind_code(&branch.id, code, record, now).await?;
        }
        let _: () = redis::cmd("SADD")
            .arg(keys.branch_index())
            .arg(branch.id.as_str())
            .query_async(&mut conn)
            .await?;
        Ok(true)
    }

    /// Adds a bind code to an existing branch, recording `origin` (the request that asked for
    /// it) when given. `Ok(false)` if that code exists already.
    pub async fn insert_bind_code(
        &self,
        branch: &BranchId,
        code: &str,
        record: &BindCodeRecord,
        origin: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let keys = self.keys();
        let code_key = keys.bind_code(branch, code);
        let ttl = code_ttl(record, now);
        let mut txn = Txn::new();
        txn.expect_value(&code_key, None);
        txn.set(&code_key, &encode(&code_key, record)?, Some(ttl));
        if let Some(origin) = origin {
            let origin_key = keys.bind_code_origin(branch, origin);
            txn.expect_value(&origin_key, None);
            txn.set(&origin_key, code, Some(ttl));
        }
        let mut conn = self.conn().await?;
        if !txn.commit(&mut conn).await? {
            return Ok(false);
        }
        self.index_bind_code(branch, code, record, now).await?;
        Ok(true)
    }

    /// Writes the global code → branch lookup (after the code itself; rewriting is harmless).
    pub async fn index_bind_code(
        &self,
        branch: &BranchId,
        code: &str,
        record: &BindCodeRecord,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        let _: () = redis::cmd("SET")
            .arg(self.keys().bind_code_index(code))
            .arg(branch.as_str())
            .arg("EX")
            .arg(code_ttl(record, now).as_secs().max(1))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// The code issued in answer to request `origin`, if any.
    pub async fn bind_code_for(&self, branch: &BranchId, origin: &str) -> Result<Option<String>> {
        let mut conn = self.conn().await?;
        let code: Option<String> = redis::cmd("GET")
            .arg(self.keys().bind_code_origin(branch, origin))
            .query_async(&mut conn)
            .await?;
        Ok(code)
    }

    /// The branch a bind code belongs to.
    pub async fn bind_code_branch(&self, code: &str) -> Result<Option<BranchId>> {
        let mut conn = self.conn().await?;
        let id: Option<String> = redis::cmd("GET")
            .arg(self.keys().bind_code_index(code))
            .query_async(&mut conn)
            .await?;
        Ok(id.and_then(|i| BranchId::parse(&i)))
    }

    /// A bind code's record and its raw stored form (for an optimistic commit).
    pub async fn bind_code(
        &self,
        branch: &BranchId,
        code: &str,
    ) -> Result<Option<(BindCodeRecord, String)>> {
        let key = self.keys().bind_code(branch, code);
        let mut conn = self.conn().await?;
        let raw: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
        raw.map(|r| Ok((decode(&key, &r)?, r))).transpose()
    }

    /// A branch record.
    pub async fn branch(&self, id: &BranchId) -> Result<Option<Branch>> {
        Ok(self.branch_raw(id).await?.map(|(b, _)| b))
    }

    /// A branch record with its raw stored form (for an optimistic update).
    pub async fn branch_raw(&self, id: &BranchId) -> Result<Option<(Branch, String)>> {
        let key = self.keys().branch(id);
        let mut conn = self.conn().await?;
        let raw: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
        raw.map(|r| Ok((decode(&key, &r)?, r))).transpose()
    }

    /// Replaces a branch record if it still reads `expected_raw`. `Ok(false)` on a conflict.
    pub async fn update_branch(&self, branch: &Branch, expected_raw: &str) -> Result<bool> {
        let key = self.keys().branch(&branch.id);
        let mut txn = Txn::new();
        txn.expect_value(&key, Some(expected_raw));
        txn.set(&key, &encode(&key, branch)?, None);
        let mut conn = self.conn().await?;
        txn.commit(&mut conn).await
    }

    /// Every branch id, sorted.
    pub async fn branch_ids(&self) -> Result<Vec<BranchId>> {
        let mut conn = self.conn().await?;
        let raw: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys().branch_index())
            .query_async(&mut conn)
            .await?;
        let mut ids: Vec<BranchId> = raw.iter().filter_map(|r| BranchId::parse(r)).collect();
        ids.sort();
        Ok(ids)
    }

    /// The branch a chat is bound to, from this replica's copy of the index when it has one
    /// (a copy the branch's `inbound.lua` checks: see [`super::chat_index`]); what Redis says
    /// otherwise, remembered.
    pub async fn chat_branch_cached(&self, chat: &ChatRef) -> Result<Option<BranchId>> {
        if let Some(branch) = self.inner.chat_index.get(chat) {
            return Ok(Some(branch));
        }
        let found = self.chat_branch(chat).await?;
        if let Some(branch) = &found {
            self.inner.chat_index.put(chat, branch);
        }
        Ok(found)
    }

    /// Drops this replica's copy of a chat's branch, which the branch's script found stale,
    /// and reads the index again. The answer is remembered only if it differs from the stale
    /// one: an index that disagrees with the branch's own keys is read every time.
    pub async fn chat_branch_again(
        &self,
        chat: &ChatRef,
        stale: &BranchId,
    ) -> Result<Option<BranchId>> {
        self.inner.chat_index.forget(chat);
        let found = self.chat_branch(chat).await?;
        if let Some(branch) = found.as_ref().filter(|b| *b != stale) {
            self.inner.chat_index.put(chat, branch);
        }
        Ok(found)
    }

    /// The branch a chat is bound to, as the global index says now.
    pub async fn chat_branch(&self, chat: &ChatRef) -> Result<Option<BranchId>> {
        let mut conn = self.conn().await?;
        let id: Option<String> = redis::cmd("GET")
            .arg(self.keys().chat_branch(chat))
            .query_async(&mut conn)
            .await?;
        Ok(id.and_then(|i| BranchId::parse(&i)))
    }

    /// The branches a chat account is linked in (for private chats), sorted by id so that a
    /// numbered list of them reads the same every time.
    pub async fn identity_branches(&self, identity_key: &str) -> Result<Vec<BranchId>> {
        let mut conn = self.conn().await?;
        let raw: Vec<String> = IDENT_INDEX
            .key(self.keys().identity_branch(identity_key))
            .arg("read")
            .invoke_async(&mut conn)
            .await?;
        let mut ids: Vec<BranchId> = raw.iter().filter_map(|r| BranchId::parse(r)).collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The branch an account linked in several branches chose for its private chat, its life
    /// renewed by the reading (someone who uses the bot privately is not asked again).
    pub async fn branch_choice(
        &self,
        identity_key: &str,
        ttl: Duration,
    ) -> Result<Option<BranchId>> {
        let mut conn = self.conn().await?;
        let id: Option<String> = redis::cmd("GETEX")
            .arg(self.keys().branch_choice(identity_key))
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async(&mut conn)
            .await?;
        Ok(id.and_then(|i| BranchId::parse(&i)))
    }

    /// Remembers the branch an account chose for its private chat.
    pub async fn set_branch_choice(
        &self,
        identity_key: &str,
        branch: &BranchId,
        ttl: Duration,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        let _: () = redis::cmd("SET")
            .arg(self.keys().branch_choice(identity_key))
            .arg(branch.as_str())
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Records the global lookups chat → branch and account → branches. These are derived from
    /// the branch's own keys and written after them; rewriting them is harmless.
    pub async fn index_chat_and_identity(
        &self,
        branch: &BranchId,
        chat: Option<&ChatRef>,
        identity_key: Option<&str>,
    ) -> Result<()> {
        let keys = self.keys();
        let mut conn = self.conn().await?;
        // Separate commands, not a pipeline: these keys live in different cluster slots.
        if let Some(chat) = chat {
            let _: () = redis::cmd("SET")
                .arg(keys.chat_branch(chat))
                .arg(branch.as_str())
                .query_async(&mut conn)
                .await?;
        }
        if let Some(ident) = identity_key {
            let _: i64 = IDENT_INDEX
                .key(keys.identity_branch(ident))
                .arg("add")
                .arg(branch.as_str())
                .invoke_async(&mut conn)
                .await?;
        }
        Ok(())
    }

    /// Removes this branch from the account → branches lookup of an unlinked account (an
    /// account on two branches' rosters keeps the other).
    pub async fn unindex_identity(&self, branch: &BranchId, identity_key: &str) -> Result<()> {
        let mut conn = self.conn().await?;
        let _: i64 = IDENT_INDEX
            .key(self.keys().identity_branch(identity_key))
            .arg("remove")
            .arg(branch.as_str())
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Removes a chat → branch lookup if it still names this branch (a committee chat that
    /// another one replaced).
    pub async fn unindex_chat(&self, branch: &BranchId, chat: &ChatRef) -> Result<()> {
        let key = self.keys().chat_branch(chat);
        self.delete_if_equal(&key, branch.as_str()).await
    }

    async fn delete_if_equal(&self, key: &str, value: &str) -> Result<()> {
        let mut conn = self.conn().await?;
        let _: i64 = DELETE_IF_EQUAL
            .key(key)
            .arg(value)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// The chats bound to a branch.
    pub async fn branch_chats(&self, branch: &BranchId) -> Result<Vec<ChatRef>> {
        let mut conn = self.conn().await?;
        let raw: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys().chats(branch))
            .query_async(&mut conn)
            .await?;
        let mut chats: Vec<ChatRef> = raw.iter().filter_map(|r| ChatRef::parse_key(r)).collect();
        chats.sort_by_key(ChatRef::key);
        Ok(chats)
    }

    /// Whether a chat is one of the branch's member chats.
    pub async fn is_branch_chat(&self, branch: &BranchId, chat: &ChatRef) -> Result<bool> {
        let mut conn = self.conn().await?;
        let member: bool = redis::cmd("SISMEMBER")
            .arg(self.keys().chats(branch))
            .arg(chat.key())
            .query_async(&mut conn)
            .await?;
        Ok(member)
    }

    /// Reads a branch's roster and its join requests at one revision.
    pub async fn roster(&self, branch: &BranchId) -> Result<RosterSnapshot> {
        let keys = self.keys();
        let members_key = keys.members(branch);
        let requests_key = keys.join_requests(branch);
        let mut conn = self.conn().await?;
        // MULTI/EXEC so that the revision, the members and the requests are read at one instant.
        let (rev, raw, raw_requests): (
            Option<String>,
            HashMap<String, String>,
            HashMap<String, String>,
        ) = redis::pipe()
            .atomic()
            .get(keys.roster_rev(branch))
            .hgetall(&members_key)
            .hgetall(&requests_key)
            .query_async(&mut conn)
            .await?;
        let mut members = HashMap::with_capacity(raw.len());
        for (id, json) in &raw {
            members.insert(id.clone(), decode::<Member>(&members_key, json)?);
        }
        let mut requests = HashMap::with_capacity(raw_requests.len());
        for (ident, json) in &raw_requests {
            requests.insert(ident.clone(), decode::<JoinRequest>(&requests_key, json)?);
        }
        Ok(RosterSnapshot {
            branch: branch.clone(),
            rev,
            members,
            raw,
            requests,
            raw_requests,
        })
    }

    /// Remembers the accounts a numbered list showed `actor`, in order.
    pub async fn save_pick_list(
        &self,
        branch: &BranchId,
        actor: &str,
        what: &str,
        name: &str,
        accounts: &[String],
    ) -> Result<()> {
        let key = self.keys().pick_list(branch, actor, what, name);
        let value = encode(&key, &accounts)?;
        let mut conn = self.conn().await?;
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .arg("EX")
            .arg(PICK_LIST_TTL.as_secs())
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// The accounts the last numbered list showed `actor`, if it has not lapsed.
    pub async fn pick_list(
        &self,
        branch: &BranchId,
        actor: &str,
        what: &str,
        name: &str,
    ) -> Result<Option<Vec<String>>> {
        let key = self.keys().pick_list(branch, actor, what, name);
        let mut conn = self.conn().await?;
        let raw: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
        raw.map(|r| decode(&key, &r)).transpose()
    }

    /// The account a chat message's roster change was about, if it was made.
    pub async fn effect(&self, branch: &BranchId, origin: &str) -> Result<Option<String>> {
        let mut conn = self.conn().await?;
        let done: Option<String> = redis::cmd("GET")
            .arg(self.keys().effect(branch, origin))
            .query_async(&mut conn)
            .await?;
        Ok(done)
    }

    /// The join request of one account, without reading the whole roster (`我的` of a guest).
    pub async fn join_request(
        &self,
        branch: &BranchId,
        identity_key: &str,
    ) -> Result<Option<JoinRequest>> {
        let key = self.keys().join_requests(branch);
        let mut conn = self.conn().await?;
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg(identity_key)
            .query_async(&mut conn)
            .await?;
        raw.map(|r| decode(&key, &r)).transpose()
    }

    /// The member linked to a chat account, without reading the whole roster.
    pub async fn member_by_identity(
        &self,
        branch: &BranchId,
        identity_key: &str,
    ) -> Result<Option<Member>> {
        let keys = self.keys();
        let mut conn = self.conn().await?;
        let id: Option<String> = redis::cmd("HGET")
            .arg(keys.identities(branch))
            .arg(identity_key)
            .query_async(&mut conn)
            .await?;
        let Some(id) = id else { return Ok(None) };
        let members_key = keys.members(branch);
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&members_key)
            .arg(&id)
            .query_async(&mut conn)
            .await?;
        raw.map(|r| decode(&members_key, &r)).transpose()
    }

    /// Appends an entry to a branch's audit log (or the region's, for `None`).
    pub async fn audit(
        &self,
        branch: Option<&BranchId>,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<()> {
        let key = match branch {
            Some(b) => self.keys().audit(b),
            None => self.keys().region_audit(),
        };
        let mut conn = self.conn().await?;
        let _: String = redis::cmd("XADD")
            .arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(100_000)
            .arg("*")
            .arg("actor")
            .arg(actor)
            .arg("action")
            .arg(action)
            .arg("detail")
            .arg(detail)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}

/// Whether a join request is older than [`JOIN_REQUEST_TTL`] at `now`.
pub fn lapsed(request: &JoinRequest, now: DateTime<Utc>) -> bool {
    let ttl = chrono::Duration::from_std(JOIN_REQUEST_TTL).unwrap_or(chrono::Duration::MAX);
    request.at + ttl <= now
}

/// How long a bind code's keys live: until it expires, plus the retention.
pub fn code_ttl(record: &BindCodeRecord, now: DateTime<Utc>) -> Duration {
    let until_expiry = (record.expires_at - now).to_std().unwrap_or_default();
    until_expiry + BIND_CODE_RETENTION
}
