//! `/healthz` (the process is up), `/readyz` (Redis answers; how the background workers are),
//! `/metrics` (Prometheus).

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::state::AppState;

/// Liveness: answers while the process runs.
pub async fn healthz() -> Response {
    (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
}

/// Readiness: Redis must answer a PING in time; 503 if not. The background workers' health is
/// reported too: `"status": "degraded"` (still 200) while one of them is down and waiting to
/// be restarted, with the reason it died. A dead worker does not make the replica unready,
/// because readiness steers webhook traffic, which this replica still serves; and a bug that
/// kills the workers of every replica must not take the chat commands of all of them down too.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let workers = state.workers.snapshot();
    let down = state.workers.down();
    match state.services.redis_ready().await {
        Ok(()) => {
            let status = if down.is_empty() { "ready" } else { "degraded" };
            if !down.is_empty() {
                tracing::warn!(workers = ?down, "ready, but background workers are down");
            }
            (
                StatusCode::OK,
                Json(json!({"status": status, "redis": "up", "workers": workers})),
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error.cause_chain = %crate::error::Chain(&e), "readiness check failed");
            metrics::counter!(crate::metrics::REDIS_ERRORS).increment(1);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "redis": "down", "workers": workers})),
            )
                .into_response()
        }
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
