//! Meetings and their attendance in Redis, under the branch's hash tag. Changes are optimistic
//! (`Txn` with the raw value read as the expectation), so concurrent check-ins of different
//! members never conflict: each member's attendance is its own hash field.

use std::{collections::HashMap, sync::LazyLock, time::Duration};

use redis::Script;
use serde::Serialize;

use super::{Result, Store, StoreError, decode, encode, txn::Txn};
use crate::{
    domain::chat::ChatRef,
    domain::{
        BranchId,
        meeting::{Attendance, Meeting, MeetingKind, MeetingStatus, Series},
    },
};

static INDEX_READ: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/meeting_index_read.lua")));

/// How long a chat's digest list outlives its last push: a digest job that never ran (its
/// replica died before scheduling it) leaves no list behind for longer.
pub const DIGEST_TTL: Duration = Duration::from_secs(24 * 3600);

/// The most names one chat's digest list holds (the largest groups have about 3,000
/// people); older names beyond it are dropped.
pub const DIGEST_CAP: u32 = 3000;

/// How far back `签到状态` shows ended meetings (by their start), and so how long they stay in
/// the `ended` index. A quarter: enough for the ten meetings it shows at the pace of the
/// 三会一课 (three or four a month), while the index stays a few dozen entries.
pub const RECENT_ENDED: Duration = Duration::from_secs(90 * 24 * 3600);

/// The version of the meeting indexes (`numbers`, `agenda`, `agenda_ends`, `ended`).
const INDEX_VERSION: &str = "1";

/// What the check-in script needs of a scheduled meeting, kept in `agenda` (times in ms).
#[derive(Debug, Serialize)]
struct AgendaFacts<'a> {
    k: MeetingKind,
    s: i64,
    e: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    o: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    c: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
}

fn ends_at(meeting: &Meeting) -> chrono::DateTime<chrono::Utc> {
    meeting.starts_at + chrono::Duration::from_std(meeting.duration).unwrap_or_default()
}

fn recent_ms() -> i64 {
    i64::try_from(RECENT_ENDED.as_millis()).unwrap_or(i64::MAX)
}

/// Which meetings an index read returns.
#[derive(Debug, Clone, Copy)]
pub enum MeetingSelection {
    /// Scheduled meetings whose planned end is after this instant.
    EndingAfter(chrono::DateTime<chrono::Utc>),
    /// Every scheduled meeting, and the ended ones that started at or after this instant.
    Current(chrono::DateTime<chrono::Utc>),
}

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

    /// Adds a name to a chat's next check-in digest (capped, and expiring; see
    /// [`Keys::checkin_digest`](super::Keys::checkin_digest)).
    pub async fn push_checkin_digest(
        &self,
        branch: &BranchId,
        chat: &ChatRef,
        name: &str,
    ) -> Result<()> {
        let key = self.keys().checkin_digest(branch, chat);
        let cap = isize::try_from(DIGEST_CAP).unwrap_or(isize::MAX);
        let mut conn = self.conn().await?;
        let _: () = redis::pipe()
            .atomic()
            .rpush(&key, name)
            .ignore()
            .ltrim(&key, -cap, -1)
            .ignore()
            .pexpire(
                &key,
                i64::try_from(DIGEST_TTL.as_millis()).unwrap_or(i64::MAX),
            )
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Adds a meeting's entries to the indexes in `txn`: its number, and while it is
    /// scheduled its check-in facts and its end; once ended, its start among the recently
    /// ended. Written with every change of the meeting, in the same transaction.
    pub(super) fn index_meeting(&self, txn: &mut Txn, meeting: &Meeting) -> Result<()> {
        let keys = self.keys();
        let branch = &meeting.branch;
        let field = meeting.no.to_string();
        txn.hset(
            &keys.numbers(branch),
            &field,
            &format!("meeting:{}", meeting.no),
        );
        let (agenda, ends, ended) = (
            keys.agenda(branch),
            keys.agenda_ends(branch),
            keys.recently_ended(branch),
        );
        match meeting.status {
            MeetingStatus::Scheduled => {
                let window = meeting.checkin.as_ref();
                let facts = AgendaFacts {
                    k: meeting.kind,
                    s: meeting.starts_at.timestamp_millis(),
                    e: ends_at(meeting).timestamp_millis(),
                    o: window.map(|w| w.opens_at.timestamp_millis()),
                    c: window.map(|w| w.closes_at.timestamp_millis()),
                    code: window.and_then(|w| w.code.as_deref()),
                };
                txn.hset(&agenda, &field, &encode(&agenda, &facts)?);
                txn.zadd(&ends, &field, facts.e);
                txn.zrem(&ended, &field);
            }
            MeetingStatus::Ended => {
                txn.hdel(&agenda, &field);
                txn.zrem(&ends, &field);
                txn.zadd(&ended, &field, meeting.starts_at.timestamp_millis());
                let at = meeting.ended_at.unwrap_or(meeting.starts_at);
                txn.zrem_below(&ended, at.timestamp_millis().saturating_sub(recent_ms()));
            }
            MeetingStatus::Cancelled => {
                txn.hdel(&agenda, &field);
                txn.zrem(&ends, &field);
                txn.zrem(&ended, &field);
            }
        }
        Ok(())
    }

    /// Builds the meeting indexes of a branch from its meetings, once (after an upgrade, or
    /// for a branch that never had a meeting). Later changes keep them by themselves.
    pub async fn ensure_meeting_index(&self, branch: &BranchId) -> Result<()> {
        let keys = self.keys();
        let version_key = keys.meeting_index_version(branch);
        let meetings_key = keys.meetings(branch);
        let mut conn = self.conn().await?;
        let built: bool = redis::cmd("EXISTS")
            .arg(&version_key)
            .query_async(&mut conn)
            .await?;
        if built {
            return Ok(());
        }
        for attempt in 0..super::txn::MAX_ATTEMPTS {
            let (version, raw): (Option<String>, HashMap<String, String>) = redis::pipe()
                .atomic()
                .get(&version_key)
                .hgetall(&meetings_key)
                .query_async(&mut conn)
                .await?;
            if version.is_some() {
                return Ok(());
            }
            let mut txn = Txn::new();
            txn.expect_value(&version_key, None);
            for (field, value) in &raw {
                txn.expect_field(&meetings_key, field, Some(value));
                let meeting: Meeting = decode(&meetings_key, value)?;
                self.index_meeting(&mut txn, &meeting)?;
            }
            txn.set(&version_key, INDEX_VERSION, None);
            if txn.commit(&mut conn).await? {
                return Ok(());
            }
            tokio::time::sleep(super::txn::conflict_pause(attempt)).await;
        }
        Err(StoreError::Contention("meeting index".to_owned()))
    }

    /// Meetings through the indexes (never every meeting of the branch), by number.
    pub async fn select_meetings(
        &self,
        branch: &BranchId,
        selection: MeetingSelection,
    ) -> Result<Vec<Meeting>> {
        let keys = self.keys();
        let meetings_key = keys.meetings(branch);
        let (mode, bound) = match selection {
            MeetingSelection::EndingAfter(t) => ("upcoming", t.timestamp_millis()),
            MeetingSelection::Current(t) => ("current", t.timestamp_millis()),
        };
        for _ in 0..2 {
            let mut conn = self.conn().await?;
            let raw: Option<Vec<Option<String>>> = INDEX_READ
                .key(keys.meeting_index_version(branch))
                .key(keys.agenda_ends(branch))
                .key(keys.recently_ended(branch))
                .key(&meetings_key)
                .arg(mode)
                .arg(bound)
                .invoke_async(&mut conn)
                .await?;
            let Some(raw) = raw else {
                self.ensure_meeting_index(branch).await?;
                continue;
            };
            let mut meetings = raw
                .iter()
                .flatten()
                .map(|r| decode::<Meeting>(&meetings_key, r))
                .collect::<Result<Vec<_>>>()?;
            meetings.sort_by_key(|m| m.no);
            meetings.dedup_by_key(|m| m.no);
            return Ok(meetings);
        }
        Err(StoreError::Contention("meeting index".to_owned()))
    }

    /// One member's attendance at each of `nos`, in one round trip.
    pub async fn member_attendances(
        &self,
        branch: &BranchId,
        nos: &[u64],
        member: &str,
    ) -> Result<Vec<Attendance>> {
        if nos.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for no in nos {
            pipe.hget(self.keys().attendance(branch, *no), member);
        }
        let mut conn = self.conn().await?;
        let raw: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
        nos.iter()
            .zip(raw)
            .map(|(no, r)| match r {
                Some(r) => decode(&self.keys().attendance(branch, *no), &r),
                None => Ok(Attendance::default()),
            })
            .collect()
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
        self.index_meeting(&mut txn, meeting)?;
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
        // One writer of a changed meeting, so its indexes can never be left behind.
        self.update_meeting_marked(meeting, expected_raw, None)
            .await
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
