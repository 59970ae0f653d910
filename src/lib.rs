//! mobile-branch: runs a party branch's group life inside the chat apps its members use.

/// Chat: command parsing, time expressions, dispatch by role, reply texts.
pub mod chat;
/// The time source (system, or moved by hand in tests).
pub mod clock;
/// Settings and how they are loaded and checked.
pub mod config;
/// Pure types and rules of branch life.
pub mod domain;
/// HTTP: webhooks, admin API, health, metrics.
pub mod http;
/// Prometheus metrics.
pub mod metrics;
/// Platform adapters (one per chat platform) and the common event.
pub mod platform;
/// Operations shared by chat and API.
pub mod service;
/// Building and running the application.
pub mod startup;
/// Shared handler state.
pub mod state;
/// Redis: connection, keys, scripts, repositories.
pub mod store;
/// Logging.
pub mod telemetry;
