//! Inbound limits as policy: who counts against which command limit, and the wrong-code
//! limiter that check-in codes (and bind codes) go through. The counters are in
//! `store::limits`; the numbers in `[limits]`.

use std::time::Duration;

use super::{Result, Services, branches::ChatContext};
use crate::{
    domain::Role,
    platform::SendLimits,
    store::limits::{Attempt, AttemptPolicy, CommandLimits, Gate},
};

/// Which limit a command ran into, for the reply that says so.
pub use crate::store::limits::LimitScope;

impl Services {
    /// The limits one command counts against, from what the chat context says of the
    /// sender. 支委 and 书记 count against none: they are accountable and act in bulk (approving
    /// a whole roster). Everyone below counts against their own limit in the chat. Guests,
    /// and everyone in an unbound chat, also count against the chat's, except with `加入`
    /// (`is_join`): joining is what a guest is there to do, and its cost is bounded by the
    /// sender's limit, one entry per account and the branch's cap on pending joins.
    pub fn command_limits(&self, ctx: &ChatContext, is_join: bool) -> CommandLimits {
        self.limits_for(ctx.role(), ctx.branch.is_some(), is_join)
    }

    /// [`Services::command_limits`] for a sender of `role` in a chat that is `bound` or not.
    pub fn limits_for(&self, role: Role, bound: bool, is_join: bool) -> CommandLimits {
        let limits = &self.settings.limits;
        let guest = !bound || role == Role::Guest;
        CommandLimits {
            chat: (guest && !is_join).then_some(limits.chat_guest_commands),
            sender: (role < Role::Committee).then_some(limits.sender_commands),
            window: limits.window,
        }
    }

    /// How many replies through the outbox a bot may send per `limits.window` to guests and in
    /// unbound chats: `limits.guest_replies`, but never more than half of what the bot may send
    /// in a window (at least one), so that people nobody vouched for can never take a bot's
    /// whole send budget from its members (a DingTalk robot sends 20 a minute in all).
    pub fn guest_reply_budget(&self, send: SendLimits) -> u32 {
        let limits = &self.settings.limits;
        guest_reply_budget(limits.guest_replies, limits.window, send)
    }

    /// Takes one reply of a bot's guest budget (see [`Services::guest_reply_budget`]); false
    /// when the window's budget is spent and the reply is to be dropped.
    pub async fn take_guest_reply(&self, bot: &str, send: SendLimits) -> Result<bool> {
        let budget = self.guest_reply_budget(send);
        if budget == 0 {
            return Ok(false);
        }
        Ok(self
            .store
            .take_guest_reply(bot, budget, self.settings.limits.window)
            .await?)
    }

    /// The wrong-code policy of `[limits]`.
    pub fn wrong_code_policy(&self) -> AttemptPolicy {
        let limits = &self.settings.limits;
        AttemptPolicy {
            per_person: limits.wrong_codes_per_person,
            per_object: limits.wrong_codes_per_object,
            cooldown: limits.wrong_code_cooldown,
        }
    }

    /// Whether `attempt`'s person may try a code now. Call before comparing the code: a
    /// refused try must not be checked at all, or a cooldown would not slow guessing.
    pub async fn code_gate(&self, attempt: &Attempt) -> Result<Gate> {
        Ok(self
            .store
            .attempt_gate(attempt, self.wrong_code_policy())
            .await?)
    }

    /// Records a wrong code; the answer says whether the person may still try, or how long
    /// they wait. A right code records nothing.
    pub async fn wrong_code(&self, attempt: &Attempt) -> Result<Gate> {
        Ok(self
            .store
            .record_wrong_attempt(attempt, self.wrong_code_policy())
            .await?)
    }
}

/// `configured` replies per `window`, capped at half (at least one) of what a bot with `send`
/// limits may send in that window. See [`Services::guest_reply_budget`].
pub fn guest_reply_budget(configured: u32, window: Duration, send: SendLimits) -> u32 {
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    let per_window = match send.per_bot_per_minute {
        Some(per_minute) => u64::from(per_minute).saturating_mul(window_ms) / 60_000,
        None => u64::from(send.per_bot_per_second).saturating_mul(window_ms) / 1000,
    };
    let half = u32::try_from(per_window / 2).unwrap_or(u32::MAX).max(1);
    configured.min(half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_never_get_more_than_half_of_a_bot_s_sends() {
        let minute = Duration::from_secs(60);
        let dingtalk = crate::platform::dingtalk::DINGTALK_LIMITS;
        assert_eq!(guest_reply_budget(30, minute, dingtalk), 10);
        assert_eq!(guest_reply_budget(4, minute, dingtalk), 4);
        // Over ten seconds a DingTalk robot sends 3: guests get one.
        assert_eq!(guest_reply_budget(30, Duration::from_secs(10), dingtalk), 1);
        assert_eq!(guest_reply_budget(30, minute, SendLimits::TELEGRAM), 30);
        assert_eq!(guest_reply_budget(0, minute, SendLimits::TELEGRAM), 0);
        assert_eq!(
            guest_reply_budget(u32::MAX, minute, SendLimits::UNLIMITED),
            30_000_000
        );
    }
}
