//! mobile-branch: runs a party branch's group life inside the chat apps its members use.

/// Exponential backoff with jitter.
pub mod backoff;
/// Chat: command parsing, time expressions, dispatch by role, reply texts.
pub mod chat;
/// The time source (system, or moved by hand in tests).
pub mod clock;
/// Settings and how they are loaded and checked.
pub mod config;
/// Pure types and rules of branch life.
pub mod domain;
/// Reporting errors with their whole cause chain.
pub mod error;
/// Ledger and calendar exports: CSV, XLSX, iCalendar.
pub mod export;
/// HTTP: webhooks, admin API, health, metrics.
pub mod http;
/// Prometheus metrics.
pub mod metrics;
/// Durable proactive delivery with rate limits, retries, digests and dead letters.
pub mod outbox;
/// Platform adapters (one per chat platform) and the common event.
pub mod platform;
/// Timed jobs: claimed under leases, fired once across replicas.
pub mod scheduler;
/// Operations shared by chat and API.
pub mod service;
/// Building and running the application.
pub mod startup;
/// Shared handler state.
pub mod state;
/// Redis: connection, keys, scripts, repositories.
pub mod store;
/// Background workers restarted when they die, and their health.
pub mod supervisor;
/// Logging.
pub mod telemetry;
/// Texts the server sends on its own, in both languages.
pub mod texts;
