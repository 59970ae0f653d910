//! The admin API's bearer-token extractor. The bootstrap token from configuration has the
//! region scope; comparisons are constant-time over digests so neither length nor prefix leaks.

use axum::{extract::FromRequestParts, http::request::Parts};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::{domain::BranchId, http::problem::Problem, state::AppState, store::tokens::TokenScope};

/// What a token may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every branch (区域党委).
    Region,
    /// One branch.
    Branch(BranchId),
}

/// An authenticated admin caller.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The token's scope.
    pub scope: Scope,
    /// Who, for the audit log (never the token itself).
    pub actor: String,
}

impl Admin {
    /// Refuses callers whose scope does not cover `branch`. Out-of-scope branches answer 404,
    /// so that a branch token cannot probe which other branches exist.
    pub fn require_branch(&self, branch: &BranchId) -> Result<(), ApiError> {
        match &self.scope {
            Scope::Region => Ok(()),
            Scope::Branch(b) if b == branch => Ok(()),
            Scope::Branch(_) => Err(Problem::not_found("no such branch").into()),
        }
    }

    /// Refuses callers without the region scope.
    pub fn require_region(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::Region => Ok(()),
            Scope::Branch(_) => Err(Problem::forbidden("this needs a region-admin token").into()),
        }
    }
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Problem::unauthorized("send Authorization: Bearer <token>"))?;
        if let Some(bootstrap) = &state.services.settings.admin.token {
            let ok = digest(presented.as_bytes()).ct_eq(&digest(bootstrap.expose().as_bytes()));
            if bool::from(ok) {
                return Ok(Self {
                    scope: Scope::Region,
                    actor: "bootstrap-admin".to_owned(),
                });
            }
        }
        match state.services.authenticate(presented).await? {
            Some(token) => {
                let scope = match token.scope {
                    TokenScope::Region => Scope::Region,
                    TokenScope::Branch { branch_id } => Scope::Branch(branch_id),
                };
                Ok(Self {
                    scope,
                    actor: token.id,
                })
            }
            None => {
                tracing::debug!("admin API: unknown, revoked or expired bearer token");
                Err(Problem::unauthorized("unknown, revoked or expired token").into())
            }
        }
    }
}
