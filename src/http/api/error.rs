//! The admin API's error: every failure becomes a problem document; internals are logged,
//! never returned.

use axum::response::{IntoResponse, Response};

use crate::{http::problem::Problem, service::ServiceError, store::StoreError};

/// An admin API failure.
#[derive(Debug)]
pub struct ApiError(pub Problem);

impl ApiError {
    /// 422 naming the field.
    pub fn invalid(field: &str, message: &str) -> Self {
        Self(Problem::invalid(field, message))
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self(match e {
            ServiceError::Invalid(i) => Problem::invalid(i.field, i.message),
            ServiceError::BranchNotFound => Problem::not_found("no such branch"),
            ServiceError::MemberNotFound(name) => {
                Problem::not_found(format!("no member named {name}"))
            }
            ServiceError::NotCommittee => Problem::forbidden(e.to_string()),
            ServiceError::RequestKeyReused => Problem::invalid(
                "Idempotency-Key",
                "already used for a different request; send a new key for a new request",
            ),
            ServiceError::MeetingNotFound(_) => Problem::not_found(e.to_string()),
            ServiceError::MeetingClosed(_)
            | ServiceError::MeetingStarted(_)
            | ServiceError::NoLeave(_) => Problem::conflict(e.to_string()),
            ServiceError::NoRequest(_) | ServiceError::NoAccounts(_) => {
                Problem::not_found(e.to_string())
            }
            ServiceError::AlreadyMember(_)
            | ServiceError::ChatBoundElsewhere
            | ServiceError::ChatAlreadyBound
            | ServiceError::CodeKindMismatch { .. }
            | ServiceError::MemberChatNotCommittee
            | ServiceError::CommitteeChatNotMember
            | ServiceError::JoinRequestsFull
            | ServiceError::PickOutOfRange { .. }
            | ServiceError::ListFirst(_)
            | ServiceError::ListChanged(_)
            | ServiceError::OwnAccount
            | ServiceError::AccountLinked(_)
            | ServiceError::NoPrivateChat
            | ServiceError::TooManyWrongCodes { .. } => Problem::conflict(e.to_string()),
            ServiceError::BindCodeUnknown
            | ServiceError::BindCodeUsed
            | ServiceError::BindCodeExpired => Problem::conflict(e.to_string()),
            ServiceError::Store(StoreError::Unavailable(inner)) => {
                tracing::warn!(error.cause_chain = %crate::error::Chain(&inner), "admin API: store unavailable");
                metrics::counter!(crate::metrics::REDIS_ERRORS).increment(1);
                Problem::unavailable()
            }
            ServiceError::Store(StoreError::Contention(what)) => {
                Problem::conflict(format!("too many concurrent changes to the {what}; retry"))
            }
            ServiceError::Store(other) => {
                tracing::error!(error.cause_chain = %crate::error::Chain(&other), "admin API failed");
                Problem::internal()
            }
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ServiceError::Store(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}
