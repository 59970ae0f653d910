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

use axum::Router;
use serde::{Deserialize, Serialize};

use crate::state::AppState;

/// Every admin route: each resource's router, merged.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(branches::router())
        .merge(members::router())
        .merge(notices::router())
        .merge(meetings::router())
        .merge(tokens::router())
        .merge(ops::router())
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
