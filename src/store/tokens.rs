//! Admin API tokens, stored by the SHA-256 of the token so that a leaked Redis dump holds no
//! usable token; both keys share the `{tokens}` tag so issuing and revoking are atomic.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Result, Store, decode, encode, txn::Txn};
use crate::domain::BranchId;

/// What a token may touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum TokenScope {
    /// Every branch (区域党委).
    Region,
    /// One branch.
    Branch {
        /// The branch.
        branch_id: BranchId,
    },
}

/// An issued token, without the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Id, for listing and revoking.
    pub id: String,
    /// Scope.
    #[serde(flatten)]
    pub scope: TokenScope,
    /// When issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Stores a token under its hash.
    pub async fn insert_api_token(&self, hash: &str, token: &ApiToken) -> Result<bool> {
        let keys = self.keys();
        let mut txn = Txn::new();
        txn.expect_field(&keys.api_tokens(), hash, None);
        txn.expect_field(&keys.api_token_ids(), &token.id, None);
        txn.hset(
            &keys.api_tokens(),
            hash,
            &encode(&keys.api_tokens(), token)?,
        );
        txn.hset(&keys.api_token_ids(), &token.id, hash);
        let mut conn = self.conn().await?;
        txn.commit(&mut conn).await
    }

    /// The token with that hash.
    pub async fn api_token(&self, hash: &str) -> Result<Option<ApiToken>> {
        let key = self.keys().api_tokens();
        let mut conn = self.conn().await?;
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg(hash)
            .query_async(&mut conn)
            .await?;
        raw.map(|r| decode(&key, &r)).transpose()
    }

    /// Revokes a token by id; false if there was none.
    pub async fn revoke_api_token(&self, id: &str) -> Result<bool> {
        let keys = self.keys();
        let mut conn = self.conn().await?;
        let hash: Option<String> = redis::cmd("HGET")
            .arg(keys.api_token_ids())
            .arg(id)
            .query_async(&mut conn)
            .await?;
        let Some(hash) = hash else { return Ok(false) };
        let mut txn = Txn::new();
        txn.expect_field(&keys.api_token_ids(), id, Some(&hash));
        txn.hdel(&keys.api_token_ids(), id);
        txn.hdel(&keys.api_tokens(), &hash);
        txn.commit(&mut conn).await
    }

    /// Every live token (without the tokens).
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        let key = self.keys().api_tokens();
        let mut conn = self.conn().await?;
        let raw: Vec<String> = redis::cmd("HVALS").arg(&key).query_async(&mut conn).await?;
        let mut tokens = raw
            .iter()
            .map(|r| decode::<ApiToken>(&key, r))
            .collect::<Result<Vec<_>>>()?;
        tokens.sort_by_key(|t| t.created_at);
        Ok(tokens)
    }
}
