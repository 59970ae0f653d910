//! Every operation written once, called by both chat commands and the admin API.

pub mod audience;
pub mod branches;
pub mod checkin_digest;
pub mod demo;
pub mod inbound;
pub mod ledger;
pub mod limits;
pub mod meetings;
pub mod members;
pub mod notices;
pub mod ops;
pub mod private_branch;
pub mod series;
pub mod tokens;
pub mod warnings;

use std::sync::Arc;

use crate::{
    clock::Clock,
    config::Settings,
    domain::Invalid,
    store::{Store, StoreError},
};

/// The services' shared handles: cheap to clone.
#[derive(Debug, Clone)]
pub struct Services {
    /// Redis: private, so that chat and http reach it only through service functions.
    store: Store,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Configuration.
    pub settings: Arc<Settings>,
}

impl Services {
    /// The services over one Redis handle, clock and configuration.
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: Arc<Settings>) -> Self {
        Self {
            store,
            clock,
            settings,
        }
    }
}

/// Why an operation did not happen. Each variant maps to a chat reply and an API problem.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// An argument or field is not acceptable.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No such branch.
    #[error("branch not found")]
    BranchNotFound,
    /// The bind code was never issued (or is long gone).
    #[error("bind code unknown")]
    BindCodeUnknown,
    /// The bind code was used by another chat.
    #[error("bind code already used")]
    BindCodeUsed,
    /// The bind code's time ran out.
    #[error("bind code expired")]
    BindCodeExpired,
    /// The chat is bound to another branch already.
    #[error("chat is bound to another branch")]
    ChatBoundElsewhere,
    /// The chat is bound to this branch already.
    #[error("chat is bound to this branch already")]
    ChatAlreadyBound,
    /// No member of that name.
    #[error("member {0:?} not found")]
    MemberNotFound(String),
    /// A bind code of the other kind: a member-chat code used to bind the committee chat, or
    /// a committee code used to bind a member chat.
    #[error("this bind code is for {}", if *.committee { "the committee chat" } else { "a member chat" })]
    CodeKindMismatch {
        /// Whether the code was issued for the committee chat.
        committee: bool,
    },
    /// The chat is a member chat of the branch, so it cannot be its committee chat.
    #[error("a member chat cannot be the committee chat")]
    MemberChatNotCommittee,
    /// The chat is the branch's committee chat, so it cannot be a member chat.
    #[error("the committee chat cannot be a member chat")]
    CommitteeChatNotMember,
    /// The branch has as many waiting join requests as it keeps.
    #[error("too many join requests are waiting")]
    JoinRequestsFull,
    /// `批准 <姓名> <n>` or `解除关联 <姓名> <n>` with an n outside the list.
    #[error("{name} has {count} entries to choose from")]
    PickOutOfRange {
        /// The name.
        name: String,
        /// How many there are.
        count: usize,
    },
    /// `<n>` with several to choose from, but no list was shown (or it lapsed).
    #[error("list the choices for {0:?} first")]
    ListFirst(String),
    /// The entry `<n>` names is no longer what the list showed.
    #[error("the list for {0:?} has changed")]
    ListChanged(String),
    /// The member has no linked account to undo.
    #[error("{0} has no linked account")]
    NoAccounts(String),
    /// The secretary tried to unlink the account they are using.
    #[error("the account in use cannot be unlinked")]
    OwnAccount,
    /// The account that asked is meanwhile linked to a roster entry.
    #[error("the account is linked to {0:?} already")]
    AccountLinked(String),
    /// Too many wrong bind codes from this person or in this chat: wait before trying again.
    #[error("too many wrong codes; retry in {retry_after:?}")]
    TooManyWrongCodes {
        /// How long to wait.
        retry_after: std::time::Duration,
    },
    /// The platform offers no private chat the bot could start.
    #[error("no private chat on this platform")]
    NoPrivateChat,
    /// The sender is on the roster already.
    #[error("already a member as {0:?}")]
    AlreadyMember(String),
    /// Only the secretary or a committee member may do this.
    #[error("only the secretary or a committee member may do this")]
    NotCommittee,
    /// No meeting with that number.
    #[error("meeting #{0} not found")]
    MeetingNotFound(u64),
    /// The meeting was cancelled or has ended.
    #[error("meeting #{0} is cancelled or over")]
    MeetingClosed(u64),
    /// The meeting has begun (leave is asked before the start).
    #[error("meeting #{0} has started")]
    MeetingStarted(u64),
    /// The member has no leave to refuse.
    #[error("{0} has no leave request")]
    NoLeave(String),
    /// Nobody waits for approval under that name.
    #[error("no join request for {0:?}")]
    NoRequest(String),
    /// An admin API `Idempotency-Key` came back with a different request than it was first
    /// used for.
    #[error("this Idempotency-Key was used for a different request")]
    RequestKeyReused,
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// Whether the store was unreachable (so the caller answers 503 and the sender retries).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Store(StoreError::Unavailable(_)))
    }
}

/// `Result` of service operations.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Runs an optimistic read-decide-commit step until it commits, or gives up after
/// [`crate::store::txn::MAX_ATTEMPTS`] conflicts.
macro_rules! retry_on_conflict {
    ($what:expr, $body:expr) => {{
        let mut outcome = None;
        for attempt in 0..$crate::store::txn::MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep($crate::store::txn::conflict_pause(attempt)).await;
            }
            if let Some(done) = $body {
                outcome = Some(done);
                break;
            }
        }
        match outcome {
            Some(done) => done,
            None => {
                return Err($crate::service::ServiceError::Store(
                    $crate::store::StoreError::Contention($what.to_owned()),
                ));
            }
        }
    }};
}
pub(crate) use retry_on_conflict;
