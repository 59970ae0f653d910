//! Effect markers: what a chat message (or an API request with an `Idempotency-Key`) has done
//! already, written in the same atomic step as the effect itself, so that a retry after a
//! failure anywhere later finds the effect and finishes it instead of repeating it. Keyed by
//! the origin (`{b:<id>}:effect:<origin>`), with a lifetime as long as the retries may come.

use std::{sync::LazyLock, time::Duration};

use redis::Script;

use super::{Result, Store, encode, txn::Txn};
use crate::domain::{BranchId, meeting::Attendance, meeting::Meeting};

static NUMBER_FOR: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/number_for.lua")));

/// A marker to write with a change: `origin` did this, remembered as `value` for `ttl`.
#[derive(Debug, Clone, Copy)]
pub struct EffectMark<'a> {
    /// The chat message (`<platform>:<bot>:<chat_id>:<message_id>`) or API request
    /// (`api:<actor>:<what>:<key>`) the change answers.
    pub origin: &'a str,
    /// What a retry needs to find the effect (an id, a number).
    pub value: &'a str,
    /// How long retries may come.
    pub ttl: Duration,
}

impl Store {
    /// Binds an API request's `Idempotency-Key` origin to the request's fingerprint for
    /// `ttl`: true when the key is new or was used for this same request, false when it was
    /// used for another.
    pub async fn bind_request_key(
        &self,
        branch: &BranchId,
        origin: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let key = self.keys().request_key(branch, origin);
        let mut conn = self.conn().await?;
        // SET NX GET: one round trip sets the fingerprint or reads the one stored.
        let stored: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(fingerprint)
            .arg("NX")
            .arg("GET")
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
            .query_async(&mut conn)
            .await?;
        Ok(stored.is_none_or(|s| s == fingerprint))
    }

    /// Adds `mark` to a transaction on the branch's keys.
    pub fn mark_in(&self, txn: &mut Txn, branch: &BranchId, mark: &EffectMark<'_>) {
        let key = self.keys().effect(branch, mark.origin);
        txn.set(&key, mark.value, Some(mark.ttl));
    }

    /// The branch's next short number; with an origin, the one that origin took before if it
    /// did (`number_for.lua`), so that a retried create re-finds its number.
    pub async fn number_for(
        &self,
        branch: &BranchId,
        origin: Option<&str>,
        ttl: Duration,
    ) -> Result<u64> {
        let Some(origin) = origin else {
            return self.next_number(branch).await;
        };
        let mut conn = self.conn().await?;
        Ok(NUMBER_FOR
            .key(self.keys().sequence(branch))
            .key(self.keys().effect(branch, origin))
            .arg(ttl.as_millis().clamp(1, u128::from(u64::MAX)) as u64)
            .invoke_async(&mut conn)
            .await?)
    }

    /// Replaces a meeting if it still reads `expected_raw`, writing `mark` with it; false on
    /// a conflict.
    pub async fn update_meeting_marked(
        &self,
        meeting: &Meeting,
        expected_raw: &str,
        mark: Option<&EffectMark<'_>>,
    ) -> Result<bool> {
        let key = self.keys().meetings(&meeting.branch);
        let field = meeting.no.to_string();
        let mut txn = Txn::new();
        txn.expect_field(&key, &field, Some(expected_raw));
        txn.hset(&key, &field, &encode(&key, meeting)?);
        // The meeting indexes change in the same commit as the meeting, as in `update_meeting`.
        self.index_meeting(&mut txn, meeting)?;
        if let Some(mark) = mark {
            self.mark_in(&mut txn, &meeting.branch, mark);
        }
        let mut conn = self.conn().await?;
        txn.commit(&mut conn).await
    }

    /// Stores one member's attendance if it still reads `expected_raw`, writing `mark` with
    /// it; false on a conflict.
    pub async fn put_attendance_marked(
        &self,
        branch: &BranchId,
        no: u64,
        member: &str,
        attendance: &Attendance,
        expected_raw: Option<&str>,
        mark: Option<&EffectMark<'_>>,
    ) -> Result<bool> {
        let key = self.keys().attendance(branch, no);
        let mut txn = Txn::new();
        txn.expect_field(&key, member, expected_raw);
        txn.hset(&key, member, &encode(&key, attendance)?);
        if let Some(mark) = mark {
            self.mark_in(&mut txn, branch, mark);
        }
        let mut conn = self.conn().await?;
        txn.commit(&mut conn).await
    }
}
