//! The HTTP surface: webhooks, the admin API, health and metrics, with the layers every
//! request passes (trace span, timeout, panic catching, body limits).

pub mod api;
pub mod health;
pub mod problem;
pub mod serve;
pub mod webhook;

use std::any::Any;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tower_http::{catch_panic::CatchPanicLayer, timeout::TimeoutLayer, trace::TraceLayer};

use crate::{metrics::HTTP_PANICS, state::AppState};

/// Longest panic message logged, in characters: a message may quote the text it failed on
/// (a string slicing panic quotes up to 256 bytes of it), and that text may come from a
/// request.
const MAX_PANIC_CHARS: usize = 200;

/// What [`catch_panics`] calls with a caught panic.
pub type PanicHandler = fn(Box<dyn Any + Send + 'static>) -> Response;

/// The layer that turns a panic in a handler into `500 application/problem+json`, counts it in
/// `mb_http_panics_total` and logs its message (cut to 200 characters) at error level, within
/// the request's span (method and path; never the body). No input should reach a panic, but
/// if one does, one request must not kill its connection task and leave the platform waiting
/// for an answer that never comes.
pub fn catch_panics() -> CatchPanicLayer<PanicHandler> {
    CatchPanicLayer::custom(panic_response as PanicHandler)
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    let message: String = message.chars().take(MAX_PANIC_CHARS).collect();
    metrics::counter!(HTTP_PANICS).increment(1);
    tracing::error!(panic.message = %message, "a request handler panicked; answered 500");
    problem::Problem::internal().into_response()
}

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
        // Inside the trace layer, so the panic is logged within the request's span.
        .layer(catch_panics())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        // Outside the timeout and every extractor, so that what they answer in plain text
        // (or with no body) leaves as a problem document too.
        .layer(axum::middleware::from_fn(problem::problems_only))
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

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        sync::{Arc, Mutex},
    };

    use axum::{body::Body, body::to_bytes};
    use tower::ServiceExt;

    use super::*;

    /// A log sink for one test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn panics_counted(metrics: &crate::metrics::Metrics) -> u64 {
        metrics
            .render()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{HTTP_PANICS} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// A router with the same layer as [`router`], whose `/boom` handler reads the body and
    /// panics, the way a byte-index cut inside a character would.
    fn panicking_router() -> Router {
        Router::new()
            .route(
                "/boom",
                post(|body: String| async move {
                    let text = format!("{}{body}", "é".repeat(150));
                    let mut cut = text.clone();
                    cut.truncate(201);
                    cut
                }),
            )
            .route("/fine", get(|| async { "fine" }))
            .layer(catch_panics())
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_problem_json_and_is_counted_and_logged() {
        let metrics = crate::metrics::Metrics::install();
        let log = Captured::default();
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        // Current-thread runtime: the guard covers every poll of the request below.
        let _guard = tracing::subscriber::set_default(subscriber);
        let before = panics_counted(&metrics);

        let response = panicking_router()
            .oneshot(
                Request::post("/boom")
                    .body(Body::from("secret-request-body"))
                    .unwrap(),
            )
            .await
            .unwrap();

        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body = to_bytes(response.into_body(), 4096).await.unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["type"], "/problems/internal");
        assert_eq!(problem["status"], 500);
        assert!(!String::from_utf8_lossy(&body).contains("char_boundary"));

        // Counted (other tests may count too: at least one more).
        assert!(panics_counted(&metrics) > before, "{}", metrics.render());
        // Logged at error level, with the message, without the request body.
        let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("ERROR"), "{log}");
        assert!(log.contains("a request handler panicked"), "{log}");
        assert!(log.contains("is_char_boundary"), "{log}");
        assert!(!log.contains("secret-request-body"), "{log}");

        // The same router still serves.
        let response = panicking_router()
            .oneshot(Request::get("/fine").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn a_long_panic_message_is_cut_on_a_character_boundary() {
        let response = panic_response(Box::new("界".repeat(MAX_PANIC_CHARS + 50)));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let response = panic_response(Box::new(42_u8));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
