//! The HTTP surface: webhooks, the admin API, health and metrics, with the layers every
//! request passes (trace span, timeout, body limits).

pub mod api;
pub mod health;
pub mod problem;
pub mod serve;
pub mod webhook;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::StatusCode,
    routing::{get, post},
};
use tower_http::{timeout::TimeoutLayer, trace::TraceLayer};

use crate::state::AppState;

/// The whole router.
pub fn router(state: AppState) -> Router {
    let settings = &state.services.settings.server;
    let webhooks = Router::new()
        .route(
            "/webhook/{platform}/{bot}",
            post(webhook::receive_webhook).get(webhook::receive_webhook),
        )
        .route(
            "/webhook/sim/{bot}/messages",
            get(webhook::read_sim_mailbox),
        )
        .layer(DefaultBodyLimit::max(settings.webhook_body_limit));
    let api = api::router().layer(DefaultBodyLimit::max(settings.api_body_limit));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route(
            "/calendar/{branch}/{file}",
            get(api::meetings::calendar_feed),
        )
        .merge(webhooks)
        .nest("/api/v1", api)
        .fallback(|| async { problem::Problem::not_found("no such route") })
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The calendar feed's secret is in its path: it never reaches a log.
            let path = req.uri().path();
            let path = match path.strip_prefix("/calendar/") {
                Some(rest) => format!("/calendar/{}/…", rest.split('/').next().unwrap_or_default()),
                None => path.to_owned(),
            };
            tracing::info_span!(
                "request",
                method = %req.method(),
                path = %path,
                platform = tracing::field::Empty,
                bot = tracing::field::Empty,
                chat_id = tracing::field::Empty,
                message_id = tracing::field::Empty,
            )
        }))
        .with_state(state)
}
