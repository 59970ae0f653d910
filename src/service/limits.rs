//! Inbound limits as policy: who counts against which command limit, and the wrong-code
//! limiter that check-in codes (and bind codes) go through. The counters are in
//! `store::limits`; the numbers in `[limits]`.

use super::{Result, Services, branches::ChatContext};
use crate::{
    domain::Role,
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
        let limits = &self.settings.limits;
        let role = ctx.role();
        let guest = ctx.branch.is_none() || role == Role::Guest;
        CommandLimits {
            chat: (guest && !is_join).then_some(limits.chat_guest_commands),
            sender: (role < Role::Committee).then_some(limits.sender_commands),
            window: limits.window,
        }
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
