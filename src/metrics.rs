//! Prometheus metrics: names in one place, and one process-wide recorder (the `metrics`
//! facade is global, so several app instances in one test process share it).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Counter: webhooks by `platform` and `outcome`.
pub const WEBHOOKS: &str = "mb_webhooks_total";
/// Counter: refused webhooks by `platform` and `reason` (bad_signature, expired, malformed…).
pub const REJECTIONS: &str = "mb_webhook_rejections_total";
/// Histogram: command latency in seconds by `command`.
pub const COMMAND_SECONDS: &str = "mb_command_duration_seconds";
/// Counter: replies to guests or in unbound chats that would have gone through the outbox and
/// were dropped instead, by `platform` and `reason` (`unbound`, `budget`).
pub const GUEST_REPLIES_DROPPED: &str = "mb_guest_replies_dropped_total";
/// Counter: Redis failures seen by request handlers.
pub const REDIS_ERRORS: &str = "mb_redis_errors_total";
/// Counter: request handlers that panicked and were answered 500 by the router's
/// panic-catching layer (`http::catch_panics`). Any increase is a bug to report.
pub const HTTP_PANICS: &str = "mb_http_panics_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Renders the current metrics.
#[derive(Clone)]
pub struct Metrics {
    handle: Option<PrometheusHandle>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Installs the recorder on first use; later calls share it. If another recorder was
    /// installed first (an embedding program's), metrics render empty rather than fail.
    pub fn install() -> Self {
        let handle = HANDLE.get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(COMMAND_SECONDS.to_owned()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
                )
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full(crate::scheduler::LAG_SECONDS.to_owned()),
                    &[
                        0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    ],
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => {
                    metrics::describe_counter!(
                        WEBHOOKS,
                        "Webhook requests by platform and outcome"
                    );
                    metrics::describe_histogram!(COMMAND_SECONDS, "Chat command latency (seconds)");
                    metrics::describe_counter!(REDIS_ERRORS, "Redis failures seen while serving");
                    metrics::describe_counter!(
                        HTTP_PANICS,
                        "Request handlers that panicked (answered 500)"
                    );
                    metrics::describe_counter!(
                        REJECTIONS,
                        "Refused webhooks by platform and reason"
                    );
                    metrics::describe_counter!(
                        GUEST_REPLIES_DROPPED,
                        "Replies to guests or in unbound chats dropped instead of queued"
                    );
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error.cause_chain = %crate::error::Chain(&e), "metrics recorder not installed");
                    None
                }
            }
        });
        Self {
            handle: handle.clone(),
        }
    }

    /// Prometheus text format.
    pub fn render(&self) -> String {
        self.handle
            .as_ref()
            .map(PrometheusHandle::render)
            .unwrap_or_default()
    }
}
