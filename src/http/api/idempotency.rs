//! The `Idempotency-Key` request header of the admin API's creating calls: a client that
//! retries a request it got no answer to (a timeout, a 503) sends the same key, and the retry
//! converges to the first attempt's effect (one meeting, one number, one announcement, one
//! notice, one roster entry, one code) instead of adding a second one.
//!
//! The key is not a replay cache: nothing stores the first answer. The service derives the
//! keys of its effects from the key (see `store::effects`), so a retry finds what the first
//! attempt did, finishes what it did not, and answers with the same object. Keys are scoped
//! to the caller (the token) and the kind of call, and remembered for `timing.dedup_ttl`,
//! each with the fingerprint of the request that first used it: the same key sent with a
//! different request (another body, another meeting) is refused with 422, never answered
//! with the first request's object.

use axum::{extract::FromRequestParts, http::request::Parts};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::{domain::BranchId, service::Services};

/// The header's name.
pub const HEADER: &str = "idempotency-key";
/// Longest key accepted.
pub const MAX_LEN: usize = 100;

/// The request's `Idempotency-Key`, if it sent one.
#[derive(Debug, Clone, Default)]
pub struct IdempotencyKey(Option<String>);

impl IdempotencyKey {
    /// The origin of the request's effects: `api:<actor>:<what>:<key>`, or none without a
    /// key (each request is then new).
    pub fn origin(&self, actor: &str, what: &str) -> Option<String> {
        self.0
            .as_ref()
            .map(|key| format!("api:{actor}:{what}:{key}"))
    }
}

impl IdempotencyKey {
    /// [`Self::origin`], once the key is bound to this request (`request`: the path's and
    /// body's parsed values): a key first used for another request is refused.
    pub async fn origin_for(
        &self,
        services: &Services,
        branch: &BranchId,
        actor: &str,
        what: &str,
        request: &impl std::fmt::Debug,
    ) -> Result<Option<String>, ApiError> {
        let Some(origin) = self.origin(actor, what) else {
            return Ok(None);
        };
        let digest = Sha256::digest(format!("{request:?}").as_bytes());
        let fingerprint: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        services
            .bind_request_key(branch, &origin, &fingerprint)
            .await?;
        Ok(Some(origin))
    }
}

/// Letters, digits and `-_.:` (UUIDs, ULIDs and the like): the key becomes part of Redis key
/// names.
fn acceptable(key: &str) -> bool {
    (1..=MAX_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(HEADER) else {
            return Ok(Self(None));
        };
        match value.to_str().map(str::trim) {
            Ok(key) if acceptable(key) => Ok(Self(Some(key.to_owned()))),
            _ => Err(ApiError::invalid(
                "Idempotency-Key",
                "1 to 100 letters, digits and - _ . :",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_and_plain() {
        assert!(acceptable("3f2b9c1e-5d4a-4e8f-9a7b-1c2d3e4f5a6b"));
        assert!(acceptable("01HZX:retry.1_a"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("{x}"));
        assert!(!acceptable(&"k".repeat(MAX_LEN + 1)));
    }

    #[test]
    fn origins_are_scoped_to_caller_and_call() {
        let key = IdempotencyKey(Some("k1".to_owned()));
        assert_eq!(
            key.origin("tok_1", "meeting.create").as_deref(),
            Some("api:tok_1:meeting.create:k1")
        );
        assert_eq!(IdempotencyKey::default().origin("tok_1", "x"), None);
    }
}
