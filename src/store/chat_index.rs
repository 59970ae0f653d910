//! A replica-local copy of the global chat → branch index (`chat:<chat>`), so that a command
//! in a bound group costs no round trip before the branch's own script.
//!
//! The global index lives in another cluster slot than the branch's keys, so no script can
//! read both; without this copy every command pays one `GET` first. A copy may go stale (a
//! replaced committee chat is unindexed, then bound elsewhere), so it is never trusted: the
//! branch's script checks the chat against the branch's own `chats` set and committee chat
//! (`inbound.lua`, the `stale` answer), and a stale entry is dropped and read again from
//! Redis. Only positive answers are kept: an unbound chat is read every time, so binding it
//! takes effect at once on every replica.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::domain::{BranchId, chat::ChatRef};

/// How many chats a replica remembers; past it the copy starts afresh (a burst of `GET`s,
/// never a wrong answer).
const CAPACITY: usize = 50_000;

/// How long an entry is used before it is read again (bounds the cost of a stale entry's
/// extra round trips, and lets a deleted branch's chats fall out).
const LIFETIME: Duration = Duration::from_secs(300);

/// The copy: chat key → (branch, when read).
#[derive(Debug, Default)]
pub struct ChatIndex {
    entries: Mutex<HashMap<ChatRef, (BranchId, Instant)>>,
}

impl ChatIndex {
    /// The branch remembered for a chat, if read within [`LIFETIME`].
    pub fn get(&self, chat: &ChatRef) -> Option<BranchId> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (branch, at) = entries.get(chat)?;
        (at.elapsed() < LIFETIME).then(|| branch.clone())
    }

    /// Remembers what the global index said.
    pub fn put(&self, chat: &ChatRef, branch: &BranchId) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(chat.clone(), (branch.clone(), Instant::now()));
    }

    /// Forgets a chat whose entry the branch's script found stale.
    pub fn forget(&self, chat: &ChatRef) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(chat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chat::PlatformKind;

    fn chat(id: &str) -> ChatRef {
        ChatRef {
            platform: PlatformKind::Sim,
            bot: "demo".into(),
            chat_id: id.into(),
        }
    }

    #[test]
    fn remembers_forgets_and_stays_bounded() {
        let index = ChatIndex::default();
        let a = BranchId::parse("a").expect("a valid id");
        assert_eq!(index.get(&chat("g1")), None);
        index.put(&chat("g1"), &a);
        assert_eq!(index.get(&chat("g1")), Some(a.clone()));
        assert_eq!(index.get(&chat("g2")), None);
        index.forget(&chat("g1"));
        assert_eq!(index.get(&chat("g1")), None);
        for i in 0..CAPACITY + 10 {
            index.put(&chat(&format!("c{i}")), &a);
        }
        let len = index.entries.lock().map(|e| e.len()).unwrap_or(0);
        assert!(len <= CAPACITY, "{len} entries");
    }
}
