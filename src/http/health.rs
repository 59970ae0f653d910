//! `/healthz` (the process is up), `/readyz` (Redis answers), `/metrics` (Prometheus).

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

/// Readiness: Redis must answer a PING in time.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.services.redis_ready().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "redis": "up"})),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error.cause_chain = %crate::error::Chain(&e), "readiness check failed");
            metrics::counter!(crate::metrics::REDIS_ERRORS).increment(1);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "redis": "down"})),
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
