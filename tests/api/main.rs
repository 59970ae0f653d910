//! Integration tests over real HTTP against a real redis-server; one binary for all of them.

// Test helpers are not #[test] functions, so the lint config for tests does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Test helpers are `pub` for the sibling modules of this one test crate.
#![allow(unreachable_pub)]

mod adapter_hardening;
mod bad_input;
mod bot_names;
mod bounds;
mod cross_platform;
mod dedup;
mod delivery;
mod dingtalk;
mod error_chains;
mod feishu;
mod first_flow;
mod guest_costs;
mod help;
mod helpers;
mod inert_text;
mod limits;
mod meetings;
mod onebot;
mod outbox;
mod permissions;
mod privacy_sweep;
mod private_chats;
mod problems;
mod quick_start;
mod records;
mod redis_down;
mod replicas;
mod retry;
mod round_trips;
mod safe_defaults;
mod scheduler;
mod telegram;
mod tokens;
mod trust;
mod wecom;
mod workers;
