//! What the webhook asks of Redis, as service calls: where a message belongs, who sent it,
//! its limits and dedup claim (one script for a bound chat), the one-round-trip `签到`, the
//! stored replies of retried messages, and the small caches of the inbound path (display
//! names, the unattributed-sender notice, the sim mailbox). The webhook reaches Redis only
//! through these.

use super::{Result, Services, branches::ChatContext};
use crate::{
    domain::chat::{ChatKind, Sender},
    domain::{BranchId, Role, chat::ChatRef},
    store::{
        dedup::{Claim, ClaimToken},
        inbound::{CheckinArgs, Entry, FastCheckin, Located, MemberLimit},
        limits::CommandVerdict,
        mailbox::MailboxMessage,
    },
};

impl Services {
    /// The branch a message belongs to: the chat's (a group) or the sender's (a private
    /// chat; none while a member of several branches has not chosen one, see
    /// [`Services::resolve_branch`]). A group's comes from this replica's copy of the chat
    /// index when it has one (no round trip), which the branch's script then checks (see
    /// `store::chat_index`); so pass it only to [`Services::enter`],
    /// [`Services::fast_checkin`] and [`Services::chat_context`], which read the index again
    /// when the copy was stale.
    pub async fn message_branch(&self, sender: &Sender) -> Result<Option<BranchId>> {
        Ok(self.resolve_branch(sender).await?.found())
    }

    /// A group's branch, for the branch's script to check (see [`Services::message_branch`]).
    pub(super) fn located<'a>(branch: &'a BranchId, sender: &Sender) -> Located<'a> {
        Located {
            branch,
            check: sender.chat_kind == ChatKind::Group,
        }
    }

    /// The chat's branch read again from Redis after the script found this replica's copy
    /// stale (or its branch gone); `None`: the chat is not bound (any more).
    pub(super) async fn located_again(
        &self,
        sender: &Sender,
        stale: &BranchId,
    ) -> Result<Option<BranchId>> {
        if sender.chat_kind != ChatKind::Group {
            return Ok(None);
        }
        Ok(self.store.chat_branch_again(&sender.chat, stale).await?)
    }

    /// The sender limit of a member below 支委 (see [`Services::command_limits`]).
    pub fn member_limit(&self) -> MemberLimit {
        let limits = self.limits_for(Role::Activist, true, false);
        MemberLimit {
            sender: limits.sender,
            window: limits.window,
        }
    }

    /// A message in a bound chat: who sent it, its count against the limits of their
    /// standing and, for a member's command (`claims`), its dedup claim; one round trip.
    /// `None` if the branch record is gone.
    pub async fn enter(
        &self,
        branch: &BranchId,
        sender: &Sender,
        message_id: &str,
        is_join: bool,
        claims: bool,
    ) -> Result<Option<(ChatContext, CommandVerdict, Option<Claim>)>> {
        let limit = self.member_limit();
        let mut entry = self
            .store
            .enter(
                Self::located(branch, sender),
                sender,
                message_id,
                limit,
                claims,
            )
            .await?;
        if matches!(entry, Entry::Stale | Entry::Unbound) && sender.chat_kind == ChatKind::Group {
            entry = match self.located_again(sender, branch).await? {
                Some(again) => {
                    let at = Located {
                        branch: &again,
                        check: false,
                    };
                    self.store
                        .enter(at, sender, message_id, limit, claims)
                        .await?
                }
                None => Entry::Unbound,
            };
        }
        Ok(match entry {
            Entry::Unbound | Entry::Stale => None,
            Entry::Bound {
                branch,
                member,
                verdict,
                claim,
            } => {
                let ctx = ChatContext {
                    branch: Some(branch),
                    member,
                };
                let verdict = match verdict {
                    Some(verdict) => verdict,
                    None => self.count_guest(&ctx, sender, is_join).await?,
                };
                Some((ctx, verdict, claim))
            }
        })
    }

    /// Counts a guest's command in a bound chat on the chat's own counters: one chat limit
    /// for guests, whether the chat was bound before or after they began.
    pub async fn count_guest(
        &self,
        ctx: &ChatContext,
        sender: &Sender,
        is_join: bool,
    ) -> Result<CommandVerdict> {
        let limits = self.command_limits(ctx, is_join);
        Ok(self
            .store
            .count_command(&sender.chat, &sender.user_id, limits)
            .await?)
    }

    /// Counts a command in an unbound chat (everyone there is a guest).
    pub async fn count_unbound(&self, sender: &Sender, is_join: bool) -> Result<CommandVerdict> {
        let limits = self.limits_for(Role::Guest, false, is_join);
        Ok(self
            .store
            .count_command(&sender.chat, &sender.user_id, limits)
            .await?)
    }

    /// `签到` from a group chat in one round trip (`inbound.lua`): the sender, the limits,
    /// the dedup check, the meeting, the code, the record, the digest count and the stored
    /// outcome. A check-in that is the first of its digest bucket also schedules the
    /// bucket's digest job (a second round trip, once per chat and `checkin.digest_every`).
    pub async fn fast_checkin(
        &self,
        branch: &BranchId,
        sender: &Sender,
        message_id: &str,
        no: Option<u64>,
        code: Option<&str>,
    ) -> Result<FastCheckin> {
        let settings = &self.settings;
        let policy = self.wrong_code_policy();
        let limit = self.member_limit();
        let args = CheckinArgs {
            no,
            code,
            now: self.clock.now(),
            opens_before: settings.timing.checkin_opens_before,
            closes_after: settings.timing.checkin_closes_after,
            wrong_per_person: policy.per_person,
            wrong_per_object: policy.per_object,
            wrong_cooldown: policy.cooldown,
            digest_window: settings.checkin.digest_window,
            digest_threshold: settings.checkin.digest_threshold,
            digest_every: settings.checkin.digest_every,
            dedup_ttl: settings.timing.dedup_ttl,
        };
        let at = Self::located(branch, sender);
        let mut outcome = self
            .store
            .fast_checkin(at, sender, message_id, limit, &args)
            .await?;
        let again;
        let mut branch = branch;
        if matches!(outcome, FastCheckin::Stale | FastCheckin::Unbound) && at.check {
            again = self.located_again(sender, branch).await?;
            outcome = match &again {
                Some(found) => {
                    branch = found;
                    let at = Located {
                        branch,
                        check: false,
                    };
                    self.store
                        .fast_checkin(at, sender, message_id, limit, &args)
                        .await?
                }
                None => FastCheckin::Unbound,
            };
        }
        if let FastCheckin::Fallback { no_index: true } = outcome {
            // A branch from before the indexes, or one that never had a meeting: build them
            // once, so that the next check-in takes the script's path. A guest's fallback
            // costs no such read.
            self.store.ensure_meeting_index(branch).await?;
        }
        if let FastCheckin::Done {
            outcome,
            schedule_digest: true,
        } = &outcome
            && let Some(bucket) = outcome.bucket
        {
            self.schedule_digest_job(branch, &sender.chat, bucket)
                .await?;
        }
        Ok(outcome)
    }

    /// A retried check-in whose outcome went to a digest: its bucket's job is scheduled again
    /// if absent (the first delivery may have failed between its record and its job).
    pub async fn ensure_digest_job(
        &self,
        branch: &BranchId,
        chat: &ChatRef,
        bucket: i64,
    ) -> Result<()> {
        self.schedule_digest_job(branch, chat, bucket).await
    }

    /// Claims a message of a bound chat again (a duplicate waiting for the first delivery).
    pub async fn claim_message(
        &self,
        branch: &BranchId,
        sender: &Sender,
        message_id: &str,
    ) -> Result<Claim> {
        Ok(self
            .store
            .claim_message(branch, &sender.chat, message_id)
            .await?)
    }

    /// Stores the replies of a claimed message for `timing.dedup_ttl`; false if the claim was
    /// lost meanwhile.
    pub async fn finish_message(&self, token: &ClaimToken, replies_json: &str) -> Result<bool> {
        Ok(self
            .store
            .finish_message(token, replies_json, self.settings.timing.dedup_ttl)
            .await?)
    }

    /// Gives a claim back after a failure, so that the platform's retry runs it afresh.
    pub async fn release_message(&self, token: &ClaimToken) -> Result<()> {
        Ok(self.store.release_message(token).await?)
    }

    /// Stores the reply of a message that ran without a claim (a guest's `绑定` or `加入` that
    /// made them a member), for its retry, which now takes the member's path.
    pub async fn remember_reply(
        &self,
        branch: &BranchId,
        sender: &Sender,
        message_id: &str,
        replies_json: &str,
    ) -> Result<bool> {
        Ok(self
            .store
            .remember_reply(
                branch,
                &sender.chat,
                message_id,
                replies_json,
                self.settings.timing.dedup_ttl,
            )
            .await?)
    }

    /// Whether this is the first command in the chat within `limits.window` from a sender who
    /// cannot be told.
    pub async fn first_unattributed(&self, chat: &ChatRef) -> Result<bool> {
        Ok(self
            .store
            .first_unattributed(chat, self.settings.limits.window)
            .await?)
    }

    /// A display name cached for a bot's user.
    pub async fn cached_name(&self, bot: &str, user_id: &str) -> Result<Option<String>> {
        Ok(crate::platform::token::cached_name(&self.store, bot, user_id).await?)
    }

    /// Caches a member's looked-up display name.
    pub async fn cache_name(&self, bot: &str, user_id: &str, name: &str) -> Result<()> {
        Ok(crate::platform::token::cache_name(&self.store, bot, user_id, name).await?)
    }

    /// What was sent proactively to a sim chat.
    pub async fn sim_mailbox(&self, bot: &str, chat_id: &str) -> Result<Vec<MailboxMessage>> {
        Ok(self.store.read_mailbox(bot, chat_id).await?)
    }
}
