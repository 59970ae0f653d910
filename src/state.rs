//! The application state every handler extracts: cheap to clone (Arcs and handles only).

use std::sync::Arc;

use crate::{metrics::Metrics, platform::Platforms, service::Services, supervisor::Workers};

/// Shared state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Operations, with the store, clock and settings.
    pub services: Services,
    /// Configured bots.
    pub platforms: Arc<Platforms>,
    /// Metrics renderer.
    pub metrics: Metrics,
    /// Health of this replica's background workers (for `/readyz`).
    pub workers: Workers,
}
