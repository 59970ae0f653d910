//! Admin API tokens: issued with a scope (the region, or one branch) and an optional expiry,
//! shown once, stored hashed, revocable.

use std::time::Duration;

use rand::Rng;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Result, ServiceError, Services};
use crate::{
    domain::{BranchId, Invalid},
    store::tokens::{ApiToken, TokenScope},
};

/// What issuing a token needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// `region` or `branch`.
    pub scope: String,
    /// The branch, for `branch` scope.
    #[serde(default)]
    pub branch_id: Option<String>,
    /// Lifetime, e.g. `30d`; none means until revoked.
    #[serde(default, with = "humantime_serde::option")]
    pub expires_in: Option<Duration>,
}

/// The SHA-256 of a token, in hex: what is stored and looked up.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Services {
    /// Issues a token; the clear token is returned once and never stored.
    pub async fn issue_token(&self, input: NewToken) -> Result<(ApiToken, String)> {
        let scope = match (input.scope.as_str(), input.branch_id.as_deref()) {
            ("region", None) => TokenScope::Region,
            ("branch", Some(id)) => {
                let branch_id = BranchId::parse(id)
                    .ok_or_else(|| Invalid::new("branch_id", "no such branch"))?;
                self.branch(&branch_id).await.map_err(|e| match e {
                    ServiceError::BranchNotFound => {
                        Invalid::new("branch_id", "no such branch").into()
                    }
                    other => other,
                })?;
                TokenScope::Branch { branch_id }
            }
            ("region", Some(_)) => {
                return Err(Invalid::new("branch_id", "a region token names no branch").into());
            }
            ("branch", None) => {
                return Err(Invalid::new("branch_id", "required for scope branch").into());
            }
            _ => return Err(Invalid::new("scope", "region or branch").into()),
        };
        if input.expires_in.is_some_and(|d| {
            d < Duration::from_secs(60) || d > Duration::from_secs(5 * 366 * 24 * 3600)
        }) {
            return Err(Invalid::new("expires_in", "between 1m and 5 years").into());
        }
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        // The thread-local generator must not live across an await (it is not Send).
        let secret: String = {
            let mut rng = rand::rng();
            (0..40)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect()
        };
        let clear = format!("mbt_{secret}");
        let now = self.clock.now();
        let token = ApiToken {
            id: format!("tok_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff),
            scope,
            created_at: now,
            expires_at: input
                .expires_in
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| now + d),
        };
        if !self
            .store
            .insert_api_token(&token_hash(&clear), &token)
            .await?
        {
            return Err(crate::store::StoreError::Contention("token id".to_owned()).into());
        }
        Ok((token, clear))
    }

    /// The live token a bearer presented, if any (unknown, revoked and expired ones are not).
    pub async fn authenticate(&self, presented: &str) -> Result<Option<ApiToken>> {
        if !presented.starts_with("mbt_") || presented.len() > 100 {
            return Ok(None);
        }
        let token = self.store.api_token(&token_hash(presented)).await?;
        Ok(token.filter(|t| t.expires_at.is_none_or(|at| at > self.clock.now())))
    }

    /// The live tokens (neither revoked nor expired), without their secrets.
    pub async fn live_tokens(&self) -> Result<Vec<ApiToken>> {
        let now = self.clock.now();
        let mut tokens = self.store.api_tokens().await?;
        tokens.retain(|t| t.expires_at.is_none_or(|at| at > now));
        Ok(tokens)
    }

    /// Revokes a token; false if there was none.
    pub async fn revoke_token(&self, id: &str) -> Result<bool> {
        if id.len() > 64 {
            return Ok(false);
        }
        Ok(self.store.revoke_api_token(id).await?)
    }
}
