//! The admin API under `/api/v1`: bearer tokens with a scope, JSON in and out,
//! `application/problem+json` errors, paginated lists, and an audit entry per change.

pub mod auth;
pub mod branches;
pub mod error;
pub mod idempotency;
pub mod json;
pub mod meetings;
pub mod members;
pub mod notices;
pub mod ops;
pub mod tokens;

use axum::{
    Router,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};

use crate::state::AppState;

/// Every admin route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/branches",
            post(branches::create_branch).get(branches::list_branches),
        )
        .route(
            "/branches/{id}",
            get(branches::get_branch).patch(branches::update_branch),
        )
        .route(
            "/branches/{id}/bind-codes",
            post(branches::create_bind_code),
        )
        .route(
            "/branches/{id}/members",
            get(members::list_members).post(members::create_member),
        )
        .route(
            "/branches/{id}/join-requests",
            get(members::list_join_requests).delete(members::clear_join_requests),
        )
        .route("/branches/{id}/notices", post(notices::create_notice))
        .route(
            "/branches/{id}/meetings",
            post(meetings::create_meeting).get(meetings::list_meetings),
        )
        .route(
            "/branches/{id}/meetings/{no}",
            get(meetings::get_meeting).patch(meetings::reschedule_meeting),
        )
        .route(
            "/branches/{id}/meetings/{no}/cancel",
            post(meetings::cancel_meeting),
        )
        .route(
            "/branches/{id}/meetings/{no}/end",
            post(meetings::end_meeting),
        )
        .route(
            "/branches/{id}/meetings/{no}/minutes",
            post(meetings::add_minutes),
        )
        .route("/ledger/board", get(meetings::region_board))
        .route("/branches/{id}/ledger", get(meetings::get_ledger))
        .route(
            "/branches/{id}/recurring-meetings",
            post(meetings::create_series),
        )
        .route(
            "/branches/{id}/recurring-meetings/{series}",
            axum::routing::delete(meetings::cancel_series),
        )
        .route(
            "/branches/{id}/calendar-feed",
            post(meetings::rotate_calendar_feed),
        )
        .route(
            "/branches/{id}/notices/{notice}",
            axum::routing::delete(notices::cancel_notice),
        )
        .route(
            "/tokens",
            post(tokens::create_token).get(tokens::list_tokens),
        )
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke_token))
        .route("/outbox/dead", get(ops::list_dead))
        .route("/outbox/dead/{id}/retry", post(ops::retry_dead))
        .route("/jobs/skipped", get(ops::list_skipped))
        .route("/jobs/failed", get(ops::list_failed))
}

/// `?page=&per_page=` of a list.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct PageQuery {
    /// 1-based page.
    #[serde(default = "first_page")]
    pub page: usize,
    /// Items per page, 1..=200.
    #[serde(default = "default_per_page")]
    pub per_page: usize,
}

fn first_page() -> usize {
    1
}
fn default_per_page() -> usize {
    50
}

impl PageQuery {
    /// Offset and limit, or the field at fault.
    pub fn bounds(self) -> Result<(usize, usize), error::ApiError> {
        if self.page == 0 {
            return Err(error::ApiError::invalid("page", "pages start at 1"));
        }
        if !(1..=200).contains(&self.per_page) {
            return Err(error::ApiError::invalid("per_page", "must be 1 to 200"));
        }
        Ok(((self.page - 1).saturating_mul(self.per_page), self.per_page))
    }

    /// The page this query asks for out of a whole list.
    pub fn page_of<T>(self, all: Vec<T>) -> Result<Page<T>, error::ApiError> {
        let (offset, limit) = self.bounds()?;
        let total = all.len();
        Ok(Page {
            items: all.into_iter().skip(offset).take(limit).collect(),
            page: self.page,
            per_page: self.per_page,
            total,
        })
    }
}

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// This page.
    pub page: usize,
    /// Page size.
    pub per_page: usize,
    /// Items in all pages.
    pub total: usize,
}
