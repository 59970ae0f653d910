//! Meetings and their attendance in Redis, under the branch's hash tag. Changes are optimistic
//! (`Txn` with the raw value read as the expectation), so concurrent check-ins of different
//! members never conflict: each member's attendance is its own hash field.

use std::collections::HashMap;

use super::{Result, Store, decode, encode, txn::Txn};
use crate::{
    domain::chat::ChatRef,
    domain::{
        BranchId,
        meeting::{Attendance, Meeting, Series},
    },
};

impl Store {
    /// Counts a check-in in a chat's window (the window starts with its first check-in).
    pub async fn count_checkin(
        &self,
        branch: &BranchId,
        chat: &ChatRef,
        window: std::time::Duration,
    ) -> Result<u64> {
        let key = self.keys().checkin_rate(branch, chat);
        let mut conn = self.conn().await?;
        // One transaction, so the counter never outlives its window.
        let (_, count): (Option<String>, u64) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&key)
            .arg(0)
            .arg("PX")
            .arg(window.as_millis().max(1) as u64)
            .arg("NX")
            .incr(&key, 1)
            .query_async(&mut conn)
            .await?;
        Ok(count)
    }

    /// Adds a name to a chat's next check-in digest.
    pub async fn push_checkin_digest(
        &self,
        branch: &BranchId,
        chat: &ChatRef,
        name: &str,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        let _: i64 = redis::cmd("RPUSH")
            .arg(self.keys().checkin_digest(branch, chat))
            .arg(name)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Takes the names waiting for a chat's digest, atomically.
    pub async fn take_checkin_digest(
        &self,
        branch: &BranchId,
        chat: &ChatRef,
    ) -> Result<Vec<String>> {
        let key = self.keys().checkin_digest(branch, chat);
        let mut conn = self.conn().await?;
        let (names, _): (Vec<String>, i64) = redis::pipe()
            .atomic()
            .lrange(&key, 0, -1)
            .del(&key)
            .query_async(&mut conn)
            .await?;
        Ok(names)
    }

    /// The next short number of the branch.
    pub async fn next_number(&self, branch: &BranchId) -> Result<u64> {
        let mut conn = self.conn().await?;
        Ok(redis::cmd("INCR")
            .arg(self.keys().sequence(branch))
            .query_async(&mut conn)
            .await?)
    }

    /// Stores a new meeting; false if its number is taken: by the first attempt of a retried
    /// create (numbers come from INCR, once per origin).
    pub async fn insert_meeting(&self, meeting: &Meeting) -> Result<bool> {
        let key = self.keys().meetings(&meeting.branch);
        let mut txn = Txn::new();
        let field = meeting.no.to_string();
        txn.expect_field(&key, &field, None);
        txn.hset(&key, &field, &encode(&key, meeting)?);
        let mut conn = self.conn().await?;
        txn.commit(&mut conn).await
    }

    /// A meeting and its raw stored form (for an optimistic update).
    pub async fn meeting(&self, branch: &BranchId, no: u64) -> Result<Option<(Meeting, String)>> {
        let key = self.keys().meetings(branch);
        let mut conn = self.conn().await?;
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg(no.to_string())
            .query_async(&mut conn)
            .await?;
        raw.map(|r| Ok((decode(&key, &r)?, r))).transpose()
    }

    /// Replaces a meeting if it still reads `expected_raw`; false on a conflict.
    pub async fn update_meeting(&self, meeting: &Meeting, expected_raw: &str) -> Result<bool> {
        let key = self.keys().meetings(&meeting.branch);
        let field = meeting.no.to_string();
        let mut txn = Txn::new();
        txn.expect_field(&key, &field, Some(expected_raw));
        txn.hset(&key, &field, &encode(&key, meeting)?);
        let mut conn = self.conn().await?;
        txn.commit(&mut conn).await
    }

    /// Every meeting of a branch, by number.
    pub async fn meetings(&self, branch: &BranchId) -> Result<Vec<Meeting>> {
        let key = self.keys().meetings(branch);
        let mut conn = self.conn().await?;
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        let mut meetings = raw
            .values()
            .map(|r| decode::<Meeting>(&key, r))
            .collect::<Result<Vec<_>>>()?;
        meetings.sort_by_key(|m| m.no);
        Ok(meetings)
    }

    /// Everyone's attendance at one meeting, by member id.
    pub async fn attendance(
        &self,
        branch: &BranchId,
        no: u64,
    ) -> Result<HashMap<String, Attendance>> {
        let key = self.keys().attendance(branch, no);
        let mut conn = self.conn().await?;
        let raw: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        raw.into_iter()
            .map(|(id, r)| Ok((id, decode(&key, &r)?)))
            .collect()
    }

    /// One member's attendance and its raw stored form.
    pub async fn member_attendance(
        &self,
        branch: &BranchId,
        no: u64,
        member: &str,
    ) -> Result<(Attendance, Option<String>)> {
        let key = self.keys().attendance(branch, no);
        let mut conn = self.conn().await?;
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg(member)
            .query_async(&mut conn)
            .await?;
        match raw {
            Some(r) => Ok((decode(&key, &r)?, Some(r))),
            None => Ok((Attendance::default(), None)),
        }
    }

    /// Stores one member's attendance if it still reads `expected_raw`; false on a conflict.
    pub async fn put_attendance(
        &self,
        branch: &BranchId,
        no: u64,
        member: &str,
        attendance: &Attendance,
        expected_raw: Option<&str>,
    ) -> Result<bool> {
        let key = self.keys().attendance(branch, no);
        let mut txn = Txn::new();
        txn.expect_field(&key, member, expected_raw);
        txn.hset(&key, member, &encode(&key, attendance)?);
        let mut conn = self.conn().await?;
        txn.commit(&mut conn).await
    }

    /// Stores a new recurring series; false if one with its id is stored already (a retried
    /// create, whose id derives from its request).
    pub async fn insert_series(&self, series: &Series) -> Result<bool> {
        let key = self.keys().meeting_series(&series.branch);
        let mut conn = self.conn().await?;
        let stored: i64 = redis::cmd("HSETNX")
            .arg(&key)
            .arg(&series.id)
            .arg(encode(&key, series)?)
            .query_async(&mut conn)
            .await?;
        Ok(stored == 1)
    }

    /// A series and its raw stored form (for an optimistic update).
    pub async fn series(&self, branch: &BranchId, id: &str) -> Result<Option<(Series, String)>> {
        let key = self.keys().meeting_series(branch);
        let mut conn = self.conn().await?;
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg(id)
            .query_async(&mut conn)
            .await?;
        raw.map(|r| Ok((decode(&key, &r)?, r))).transpose()
    }

    /// Replaces a series if it still reads `expected_raw`; false on a conflict.
    pub async fn update_series(&self, series: &Series, expected_raw: &str) -> Result<bool> {
        let key = self.keys().meeting_series(&series.branch);
        let mut txn = Txn::new();
        txn.expect_field(&key, &series.id, Some(expected_raw));
        txn.hset(&key, &series.id, &encode(&key, series)?);
        let mut conn = self.conn().await?;
        txn.commit(&mut conn).await
    }

    /// Removes a series; true if it existed.
    pub async fn delete_series(&self, branch: &BranchId, id: &str) -> Result<bool> {
        let mut conn = self.conn().await?;
        let removed: i64 = redis::cmd("HDEL")
            .arg(self.keys().meeting_series(branch))
            .arg(id)
            .query_async(&mut conn)
            .await?;
        Ok(removed == 1)
    }
}
