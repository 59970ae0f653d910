//! Optimistic transactions within one hash slot: read, decide in Rust, then commit with the
//! values read as expectations (scripts/txn.lua). A conflict writes nothing and the caller
//! retries; this works on multiplexed connections and on Redis Cluster, where WATCH does not.

use std::{sync::LazyLock, time::Duration};

use redis::Script;

use super::{Conn, Result, StoreError, keys::hash_tag};

static TXN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/txn.lua")));

/// How many times a service retries a conflicting transaction before giving up.
pub const MAX_ATTEMPTS: usize = 16;

/// The pause before retry `attempt` of a conflicting transaction: short and jittered, so that
/// writers that collided do not collide again in lockstep.
pub fn conflict_pause(attempt: usize) -> std::time::Duration {
    let ceiling = 2u64.saturating_mul(attempt as u64 + 1).min(40);
    std::time::Duration::from_millis(rand::random_range(1..=ceiling))
}

/// A batch of checks and writes applied atomically, or not at all.
#[derive(Debug, Default)]
pub struct Txn {
    keys: Vec<String>,
    args: Vec<String>,
}

impl Txn {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, op: &str, key: &str, a: &str, b: &str) -> &mut Self {
        let index = match self.keys.iter().position(|k| k == key) {
            Some(i) => i + 1,
            None => {
                self.keys.push(key.to_owned());
                self.keys.len()
            }
        };
        self.args
            .extend([op.to_owned(), index.to_string(), a.to_owned(), b.to_owned()]);
        self
    }

    /// Requires hash field `key[field]` to hold `expected` (or to be absent for `None`).
    pub fn expect_field(&mut self, key: &str, field: &str, expected: Option<&str>) -> &mut Self {
        match expected {
            Some(v) => self.push("eqh", key, field, v),
            None => self.push("nxh", key, field, ""),
        }
    }

    /// Requires string `key` to hold `expected` (or to be absent for `None`).
    pub fn expect_value(&mut self, key: &str, expected: Option<&str>) -> &mut Self {
        match expected {
            Some(v) => self.push("eqk", key, "", v),
            None => self.push("nxk", key, "", ""),
        }
    }

    /// Requires `member` to be in the set `key` (`present`) or not to be.
    pub fn expect_set_member(&mut self, key: &str, member: &str, present: bool) -> &mut Self {
        self.push(if present { "ins" } else { "nins" }, key, member, "")
    }

    /// Sets a hash field.
    pub fn hset(&mut self, key: &str, field: &str, value: &str) -> &mut Self {
        self.push("hset", key, field, value)
    }

    /// Deletes a hash field.
    pub fn hdel(&mut self, key: &str, field: &str) -> &mut Self {
        self.push("hdel", key, field, "")
    }

    /// Sets a string, with a lifetime if given.
    pub fn set(&mut self, key: &str, value: &str, ttl: Option<Duration>) -> &mut Self {
        // Lua reads '0' as "no expiry", so a positive lifetime never rounds down to it.
        let ms = ttl.map_or(0, |d| d.as_millis().clamp(1, i64::MAX as u128));
        self.push("set", key, value, &ms.to_string())
    }

    /// Increments a counter.
    pub fn incr(&mut self, key: &str) -> &mut Self {
        self.push("incr", key, "", "")
    }

    /// Gives a key a lifetime (from the moment of the commit).
    pub fn pexpire(&mut self, key: &str, ttl: Duration) -> &mut Self {
        let ms = ttl.as_millis().clamp(1, i64::MAX as u128);
        self.push("pexpire", key, &ms.to_string(), "")
    }

    /// Deletes a key.
    pub fn del(&mut self, key: &str) -> &mut Self {
        self.push("del", key, "", "")
    }

    /// Adds a set member.
    pub fn sadd(&mut self, key: &str, member: &str) -> &mut Self {
        self.push("sadd", key, member, "")
    }

    /// Removes a set member.
    pub fn srem(&mut self, key: &str, member: &str) -> &mut Self {
        self.push("srem", key, member, "")
    }

    /// Adds a sorted-set member with a score (or moves it to that score).
    pub fn zadd(&mut self, key: &str, member: &str, score: i64) -> &mut Self {
        self.push("zadd", key, member, &score.to_string())
    }

    /// Removes a sorted-set member.
    pub fn zrem(&mut self, key: &str, member: &str) -> &mut Self {
        self.push("zrem", key, member, "")
    }

    /// Removes the sorted-set members scored below `score`.
    pub fn zrem_below(&mut self, key: &str, score: i64) -> &mut Self {
        self.push("zrembelow", key, &score.to_string(), "")
    }

    /// Applies the transaction: `Ok(true)` when applied, `Ok(false)` on a conflict.
    pub async fn commit(&self, conn: &mut Conn) -> Result<bool> {
        if let Some(first) = self.keys.first() {
            let tag = hash_tag(first);
            if let Some(other) = self.keys.iter().find(|k| hash_tag(k) != tag) {
                return Err(StoreError::CrossSlot(
                    tag.to_owned(),
                    hash_tag(other).to_owned(),
                ));
            }
        } else {
            return Ok(true);
        }
        let mut invocation = TXN.prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        for arg in &self.args {
            invocation.arg(arg);
        }
        let failed: i64 = invocation.invoke_async(conn).await?;
        Ok(failed == 0)
    }
}
