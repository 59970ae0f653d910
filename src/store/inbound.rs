//! The first step of a command in a bound chat, in one round trip (`inbound.lua`): the branch
//! record, the sender's roster entry, the inbound limits and the message's dedup claim; and
//! for `签到` the whole check-in, with its outcome stored as the message's reply.

use std::{sync::LazyLock, time::Duration};

use redis::Script;
use serde::{Deserialize, Serialize};

use super::{
    Result, Store, StoreError, decode,
    dedup::{CLAIM_TTL, Claim, ClaimToken},
    limits::{CommandVerdict, LimitScope},
};
use crate::domain::{
    Branch, BranchId, Language, Member,
    chat::{ChatRef, Sender},
    meeting::MeetingKind,
};

static INBOUND: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/inbound.lua")));

/// The sender limit of a member below 支委 (see `Services::command_limits`): the script
/// learns the sender's standing and counts only them. Guests are counted on the chat's own
/// counters (`Store::count_command`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberLimit {
    /// The limit (`None`: not counted).
    pub sender: Option<u32>,
    /// The window it counts over.
    pub window: Duration,
}

/// Who is speaking in a bound chat, and what became of the message.
// One per request, moved once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Entry {
    /// The chat's branch record is gone.
    Unbound,
    /// The branch came from this replica's copy of the chat index, and the branch's own keys
    /// do not count the chat as theirs: nothing was read or written.
    Stale,
    /// The branch, the sender's entry (if any) and the verdict on the message.
    Bound {
        /// The branch.
        branch: Branch,
        /// The sender's roster entry.
        member: Option<Member>,
        /// Counted against a member's limit: allowed or refused; `None` for a guest, who
        /// is counted on the chat's guest counters instead.
        verdict: Option<CommandVerdict>,
        /// The dedup claim, for a member's allowed command that takes one.
        claim: Option<Claim>,
    },
}

/// What the check-in script did.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FastCheckin {
    /// The full service path must handle it; nothing was written.
    Fallback {
        /// Because the branch's meeting indexes are not built yet (the caller builds them,
        /// so that the next check-in takes the script's path).
        no_index: bool,
    },
    /// The branch record is gone.
    Unbound,
    /// See [`Entry::Stale`].
    Stale,
    /// A verdict before any check-in: a duplicate, one in flight, or a refusal by the limits.
    Entry(Entry),
    /// Checked (recorded, acknowledged or refused) and stored for a retry.
    Done {
        /// What happened.
        outcome: CheckinOutcome,
        /// This check-in is the first of its bucket to go to the chat's digest: schedule the
        /// bucket's digest job.
        schedule_digest: bool,
    },
}

/// The outcome of a `签到`, with what its reply needs (stored as the message's reply, so that
/// a retry answers the same even if the branch or the roster changed meanwhile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinOutcome {
    /// The branch's language at the time.
    pub lang: Language,
    /// The branch's time zone at the time.
    pub tz: chrono_tz::Tz,
    /// The member's roster name.
    pub name: String,
    /// The meeting (typed or found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no: Option<u64>,
    /// Its kind, when checked in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MeetingKind>,
    /// What happened.
    pub r: CheckinResult,
    /// Late (recorded after the start).
    #[serde(default)]
    pub late: bool,
    /// The open meetings, when several are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nos: Vec<u64>,
    /// When the window opens (ms), if still ahead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens: Option<i64>,
    /// How long until the member may try a code again (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u64>,
    /// Acknowledged in the chat's next digest rather than by a reply.
    #[serde(default)]
    pub digest: bool,
    /// The digest bucket it went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<i64>,
}

/// What a `签到` came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckinResult {
    /// Recorded now.
    Recorded,
    /// Recorded before: acknowledged, not counted again.
    Already,
    /// No meeting has that number.
    NotFound,
    /// The meeting was cancelled or has ended.
    MeetingClosed,
    /// Its window opens later (`opens`).
    NotOpen,
    /// Its window has closed.
    Closed,
    /// No window is open in the branch.
    NoneOpen,
    /// Several are (`nos`).
    Several,
    /// The code is wrong.
    WrongCode,
    /// The window needs a code and none was given (no guess: nothing is counted).
    CodeNeeded,
    /// Too many wrong codes (`wait`).
    TooMany,
}

/// What the check-in needs besides the message.
#[derive(Debug, Clone)]
pub struct CheckinArgs<'a> {
    /// The `#n` typed.
    pub no: Option<u64>,
    /// The code typed (trimmed; empty is none).
    pub code: Option<&'a str>,
    /// Now.
    pub now: chrono::DateTime<chrono::Utc>,
    /// The default window around the start (`timing`; the branch's overrides win in the
    /// script).
    pub opens_before: Duration,
    /// See `opens_before`.
    pub closes_after: Duration,
    /// Wrong-code policy.
    pub wrong_per_person: u32,
    /// See `wrong_per_person`.
    pub wrong_per_object: u32,
    /// See `wrong_per_person`.
    pub wrong_cooldown: Duration,
    /// Digest settings: window, threshold, bucket length.
    pub digest_window: Duration,
    /// See `digest_window`.
    pub digest_threshold: u32,
    /// See `digest_window`.
    pub digest_every: Duration,
    /// How long the stored outcome answers retries.
    pub dedup_ttl: Duration,
}

/// The branch a message was found in, and whether the branch's script must first check that
/// the chat is the branch's own: true when the branch came from this replica's copy of the
/// chat index (`Store::chat_branch_cached`), false when Redis's index just said so or the
/// chat is private.
#[derive(Debug, Clone, Copy)]
pub struct Located<'a> {
    /// The branch.
    pub branch: &'a BranchId,
    /// Check the chat against the branch's `chats` set and committee chat.
    pub check: bool,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn claim_value() -> String {
    format!("P:{:016x}", rand::random::<u64>())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt {
        key: what.to_owned(),
        source: serde::de::Error::custom("inbound.lua answered in an unexpected shape"),
    }
}

/// The digest bucket `now` falls in, and when it ends (ms).
pub fn digest_bucket(now: chrono::DateTime<chrono::Utc>, every: Duration) -> (i64, i64) {
    let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
    let bucket = now.timestamp_millis().div_euclid(every);
    (bucket, (bucket + 1).saturating_mul(every))
}

impl Store {
    #[allow(clippy::too_many_arguments)]
    fn inbound_invocation(
        &self,
        mode: &str,
        at: Located<'_>,
        sender: &Sender,
        message_id: &str,
        limits: Option<MemberLimit>,
        claims: bool,
        claim: &str,
    ) -> redis::ScriptInvocation<'static> {
        let keys = self.keys();
        let branch = at.branch;
        let mut inv = INBOUND.prepare_invoke();
        inv.key(keys.branch(branch))
            .key(keys.identities(branch))
            .key(keys.members(branch))
            .key(keys.branch_sender_command_count(branch, &sender.chat, &sender.user_id))
            .key(keys.dedup(branch, &sender.chat, message_id))
            .key(keys.chats(branch));
        let limits = limits.unwrap_or(MemberLimit {
            sender: None,
            window: Duration::from_secs(1),
        });
        inv.arg(mode)
            .arg(sender.account())
            .arg(limits.sender.unwrap_or(0))
            .arg(ms(limits.window))
            .arg(if claims { "1" } else { "0" })
            .arg(claim)
            .arg(ms(CLAIM_TTL));
        if at.check {
            inv.arg(sender.chat.key());
        } else {
            inv.arg("");
        }
        inv
    }

    /// The branch and the sender's entry, reads only (mode `context`): `Unbound`, `Stale`,
    /// or `Bound` with neither verdict nor claim.
    pub async fn branch_context(&self, at: Located<'_>, sender: &Sender) -> Result<Entry> {
        let inv = self.inbound_invocation("context", at, sender, "", None, false, "");
        let mut conn = self.conn().await?;
        let reply: Vec<Option<String>> = inv.invoke_async(&mut conn).await?;
        self.entry(at.branch, &sender.chat, "", reply)
    }

    /// Resolves the sender, counts the command against the limits of their standing and, for
    /// a member's command that takes one (`claims`), claims the message: one round trip.
    pub async fn enter(
        &self,
        at: Located<'_>,
        sender: &Sender,
        message_id: &str,
        limits: MemberLimit,
        claims: bool,
    ) -> Result<Entry> {
        let claim = claim_value();
        let branch = at.branch;
        let inv = self.inbound_invocation(
            "enter",
            at,
            sender,
            message_id,
            Some(limits),
            claims,
            &claim,
        );
        let mut conn = self.conn().await?;
        let reply: Vec<Option<String>> = inv.invoke_async(&mut conn).await?;
        let mut entry = self.entry(branch, &sender.chat, message_id, reply)?;
        if let Entry::Bound {
            claim: Some(Claim::Owned(token)),
            ..
        } = &mut entry
        {
            *token = ClaimToken::new(self.keys().dedup(branch, &sender.chat, message_id), claim);
        }
        Ok(entry)
    }

    fn entry(
        &self,
        branch_id: &BranchId,
        chat: &ChatRef,
        message_id: &str,
        reply: Vec<Option<String>>,
    ) -> Result<Entry> {
        let mut parts = reply.into_iter();
        let state = parts.next().flatten().unwrap_or_default();
        match state.as_str() {
            "unbound" => return Ok(Entry::Unbound),
            "stale" => return Ok(Entry::Stale),
            _ => {}
        }
        let branch_key = self.keys().branch(branch_id);
        let branch: Branch = match parts.next().flatten() {
            Some(raw) => decode(&branch_key, &raw)?,
            None => return Err(corrupt(&branch_key)),
        };
        let members_key = self.keys().members(branch_id);
        let member: Option<Member> = parts
            .next()
            .flatten()
            .map(|raw| decode(&members_key, &raw))
            .transpose()?;
        let mut rest = parts.map(Option::unwrap_or_default);
        let (a, b, c) = (rest.next(), rest.next(), rest.next());
        let (verdict, claim) = match state.as_str() {
            "guest" => (None, None),
            "free" => (Some(CommandVerdict::Allowed), None),
            "owned" => (
                Some(CommandVerdict::Allowed),
                // The token is filled in by `enter`, which knows the value it wrote.
                Some(Claim::Owned(ClaimToken::new(String::new(), String::new()))),
            ),
            "inflight" => (Some(CommandVerdict::Allowed), Some(Claim::InFlight)),
            "done" => (
                Some(CommandVerdict::Allowed),
                Some(Claim::Done(a.unwrap_or_default())),
            ),
            "limited" => {
                let num = |v: Option<String>| v.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
                let scope = if num(a) == 1 {
                    LimitScope::Chat
                } else {
                    LimitScope::Sender
                };
                let (over, ttl) = (num(b), num(c));
                (
                    Some(CommandVerdict::Refused {
                        scope,
                        first: over == 1,
                        retry_after: Duration::from_millis(u64::try_from(ttl).unwrap_or(0)),
                    }),
                    None,
                )
            }
            _ => return Err(corrupt(&self.keys().dedup(branch_id, chat, message_id))),
        };
        Ok(Entry::Bound {
            branch,
            member,
            verdict,
            claim,
        })
    }

    /// `签到` in one round trip: see `inbound.lua`.
    pub async fn fast_checkin(
        &self,
        at: Located<'_>,
        sender: &Sender,
        message_id: &str,
        limits: MemberLimit,
        args: &CheckinArgs<'_>,
    ) -> Result<FastCheckin> {
        let keys = self.keys();
        let branch = at.branch;
        let (bucket, bucket_end) = digest_bucket(args.now, args.digest_every);
        let now_ms = args.now.timestamp_millis();
        let now_json = serde_json::to_value(args.now)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| args.now.to_rfc3339());
        let mut inv =
            self.inbound_invocation("checkin", at, sender, message_id, Some(limits), true, "");
        inv.key(keys.numbers(branch))
            .key(keys.agenda(branch))
            .key(keys.agenda_ends(branch))
            .key(keys.meeting_index_version(branch))
            .key(keys.checkin_rate(branch, &sender.chat))
            .key(keys.checkin_digest(branch, &sender.chat))
            .key(keys.checkin_digest_job(branch, &sender.chat, bucket));
        let marker_ttl = u64::try_from(bucket_end - now_ms).unwrap_or(0) + ms(args.digest_every);
        inv.arg(now_ms)
            .arg(now_json)
            .arg(args.no.map(|n| n.to_string()).unwrap_or_default())
            .arg(args.code.unwrap_or_default())
            .arg(ms(args.opens_before))
            .arg(ms(args.closes_after))
            .arg(keys.branch_base(branch))
            .arg(args.wrong_per_person)
            .arg(args.wrong_per_object)
            .arg(ms(args.wrong_cooldown))
            .arg(ms(args.digest_window))
            .arg(args.digest_threshold)
            .arg(super::meetings::DIGEST_CAP)
            .arg(ms(super::meetings::DIGEST_TTL))
            .arg(marker_ttl.max(1))
            .arg(ms(args.dedup_ttl))
            .arg(bucket);
        let mut conn = self.conn().await?;
        let reply: Vec<Option<String>> = inv.invoke_async(&mut conn).await?;
        match reply.first().cloned().flatten().as_deref() {
            Some("fallback") => Ok(FastCheckin::Fallback {
                no_index: reply.get(1).cloned().flatten().as_deref() == Some("index"),
            }),
            Some("unbound") => Ok(FastCheckin::Unbound),
            Some("stale") => Ok(FastCheckin::Stale),
            Some("checkin") => {
                let dedup_key = keys.dedup(branch, &sender.chat, message_id);
                let raw = reply.get(1).cloned().flatten().unwrap_or_default();
                let outcome = decode(&dedup_key, &raw)?;
                let schedule_digest = reply.get(2).cloned().flatten().as_deref() == Some("1");
                Ok(FastCheckin::Done {
                    outcome,
                    schedule_digest,
                })
            }
            _ => Ok(FastCheckin::Entry(self.entry(
                branch,
                &sender.chat,
                message_id,
                reply,
            )?)),
        }
    }
}

/// A stored reply: the replies themselves (`R:`), or a check-in's outcome (`C:`) that the
/// caller renders again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The replies as JSON.
    Replies(String),
    /// A check-in's outcome.
    Checkin(CheckinOutcome),
}

/// Reads a stored reply (`Claim::Done` holds the value without its `R:` prefix when it comes
/// from `claim_message`, and with its prefix when it comes from the inbound script).
pub fn stored(value: &str) -> Result<Stored> {
    if let Some(outcome) = value.strip_prefix("C:") {
        return Ok(Stored::Checkin(decode("dedup", outcome)?));
    }
    Ok(Stored::Replies(
        value.strip_prefix("R:").unwrap_or(value).to_owned(),
    ))
}
