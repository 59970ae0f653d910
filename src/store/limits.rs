//! Inbound limits in Redis: fixed-window command counters per chat and per sender, a bot's
//! budget of deferred replies to guests, and wrong-try counters per (person, object) with a
//! cooldown. Every operation is one script, one round trip, over keys of one hash tag; every
//! key it creates expires.

use std::{sync::LazyLock, time::Duration};

use redis::Script;

use super::{Result, Store};
use crate::domain::chat::ChatRef;

static COMMAND_LIMIT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/command_limit.lua")));
static WINDOW_COUNT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/window_count.lua")));
static ATTEMPT_GATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/attempt_gate.lua")));
static ATTEMPT_RECORD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/attempt_record.lua")));

/// Which counters one command counts against. A limit of `None` means "not counted".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandLimits {
    /// The chat's limit, for commands counted against the chat.
    pub chat: Option<u32>,
    /// The sender's limit in this chat.
    pub sender: Option<u32>,
    /// The window both counters count over.
    pub window: Duration,
}

/// Which limit refused a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// The chat's (guests, unbound chats).
    Chat,
    /// The sender's in this chat.
    Sender,
}

/// What the counters say about one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandVerdict {
    /// Within every limit.
    Allowed,
    /// Over a limit.
    Refused {
        /// Which one.
        scope: LimitScope,
        /// Whether this is the first command refused in the window (it gets one short
        /// reply; later ones get silence).
        first: bool,
        /// Until the window ends.
        retry_after: Duration,
    },
}

/// One person trying codes at one object: who, and what is being guessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    branch: Option<crate::domain::BranchId>,
    object: String,
    person: String,
}

impl Attempt {
    /// A person's tries at an object. `object` names what is guessed and must be unique
    /// across kinds (`mtg:<branch>:<no>`, `bind:<chat>`); `person` a stable id of who guesses
    /// (a member id, or an account's `platform:bot:user_id`).
    pub fn new(object: impl Into<String>, person: impl Into<String>) -> Self {
        Self {
            branch: None,
            object: object.into(),
            person: person.into(),
        }
    }

    /// A member's tries at a meeting's check-in code, counted under the branch's tag (the
    /// check-in script gates and counts them in the same step; see `inbound.lua`).
    pub fn checkin_code(branch: &crate::domain::BranchId, meeting: u64, member_id: &str) -> Self {
        Self {
            branch: Some(branch.clone()),
            object: format!("mtg:{meeting}"),
            person: member_id.to_owned(),
        }
    }
}

/// How many wrong tries a person and an object take, and for how long they are remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptPolicy {
    /// Wrong tries one person may make at one object within `cooldown`.
    pub per_person: u32,
    /// Wrong tries everyone together may make at one object within `cooldown`.
    pub per_object: u32,
    /// How long tries are remembered, and how long a person who used theirs up waits.
    pub cooldown: Duration,
}

/// Whether a person may try now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Yes: check the code.
    Open,
    /// The person used up their tries at this object.
    PersonCooling {
        /// Until they may try again.
        retry_after: Duration,
    },
    /// The object took too many wrong tries from everyone: only people with no wrong try of
    /// their own on record are heard, so guessing spread over many accounts gets one try per
    /// account, while a member who types the right code first time is never held up.
    ObjectCooling {
        /// Until this person's own record expires and they are heard again.
        retry_after: Duration,
    },
}

impl Gate {
    /// Whether the code may be checked.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open)
    }

    /// How long the person waits before trying again, if they may not try now.
    pub fn wait(self) -> Option<Duration> {
        match self {
            Self::Open => None,
            Self::PersonCooling { retry_after } | Self::ObjectCooling { retry_after } => {
                Some(retry_after)
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn pttl(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Store {
    /// Counts one command in a chat: against the chat's limit first, then the sender's, in
    /// one script. A command the chat refuses creates no sender counter. Counting nothing
    /// (both limits `None`) makes no round trip.
    pub async fn count_command(
        &self,
        chat: &ChatRef,
        sender_id: &str,
        limits: CommandLimits,
    ) -> Result<CommandVerdict> {
        if limits.chat.is_none() && limits.sender.is_none() {
            return Ok(CommandVerdict::Allowed);
        }
        let keys = self.keys();
        let mut conn = self.conn().await?;
        let (scope, over, ttl): (i64, i64, i64) = COMMAND_LIMIT
            .key(keys.chat_command_count(chat))
            .key(keys.sender_command_count(chat, sender_id))
            .arg(limits.chat.unwrap_or(0))
            .arg(limits.sender.unwrap_or(0))
            .arg(millis(limits.window))
            .invoke_async(&mut conn)
            .await?;
        let scope = match scope {
            1 => LimitScope::Chat,
            2 => LimitScope::Sender,
            _ => return Ok(CommandVerdict::Allowed),
        };
        Ok(CommandVerdict::Refused {
            scope,
            first: over == 1,
            retry_after: pttl(ttl),
        })
    }

    /// Counts one event on a single counter in a fixed window; returns the count so far in
    /// this window, this one included.
    async fn count_in_window(&self, key: String, window: Duration) -> Result<u64> {
        let mut conn = self.conn().await?;
        let (n, _ttl): (u64, i64) = WINDOW_COUNT
            .key(key)
            .arg(millis(window))
            .invoke_async(&mut conn)
            .await?;
        Ok(n)
    }

    /// Takes one of a bot's `limit` deferred replies to guests (and in unbound chats) for the
    /// current window. False when they are used up: the reply is to be dropped, not queued.
    pub async fn take_guest_reply(&self, bot: &str, limit: u32, window: Duration) -> Result<bool> {
        let n = self
            .count_in_window(self.keys().guest_reply_count(bot), window)
            .await?;
        Ok(n <= u64::from(limit))
    }

    /// Whether this is the first command in `chat` within the window from a sender who cannot
    /// be told (see [`crate::platform::Inbound::Unattributed`]).
    pub async fn first_unattributed(&self, chat: &ChatRef, window: Duration) -> Result<bool> {
        let n = self
            .count_in_window(self.keys().unattributed_count(chat), window)
            .await?;
        Ok(n == 1)
    }

    /// Whether `attempt`'s person may try a code at its object now (reads only).
    pub async fn attempt_gate(&self, attempt: &Attempt, policy: AttemptPolicy) -> Result<Gate> {
        let keys = self.keys();
        let mut conn = self.conn().await?;
        let (state, ttl): (i64, i64) = ATTEMPT_GATE
            .key(keys.object_wrong_attempts(attempt.branch.as_ref(), &attempt.object))
            .key(keys.person_wrong_attempts(
                attempt.branch.as_ref(),
                &attempt.object,
                &attempt.person,
            ))
            .arg(policy.per_person)
            .arg(policy.per_object)
            .invoke_async(&mut conn)
            .await?;
        Ok(match state {
            1 => Gate::PersonCooling {
                retry_after: pttl(ttl),
            },
            2 => Gate::ObjectCooling {
                retry_after: pttl(ttl),
            },
            _ => Gate::Open,
        })
    }

    /// Records one wrong try, and says whether the person may still try (the gate as it
    /// stands after this try).
    pub async fn record_wrong_attempt(
        &self,
        attempt: &Attempt,
        policy: AttemptPolicy,
    ) -> Result<Gate> {
        let keys = self.keys();
        let mut conn = self.conn().await?;
        let (person, object, ttl): (u64, u64, i64) = ATTEMPT_RECORD
            .key(keys.object_wrong_attempts(attempt.branch.as_ref(), &attempt.object))
            .key(keys.person_wrong_attempts(
                attempt.branch.as_ref(),
                &attempt.object,
                &attempt.person,
            ))
            .arg(policy.per_person)
            .arg(policy.per_object)
            .arg(millis(policy.cooldown))
            .invoke_async(&mut conn)
            .await?;
        let retry_after = pttl(ttl);
        Ok(if person >= u64::from(policy.per_person) {
            Gate::PersonCooling { retry_after }
        } else if object >= u64::from(policy.per_object) {
            Gate::ObjectCooling { retry_after }
        } else {
            Gate::Open
        })
    }
}
