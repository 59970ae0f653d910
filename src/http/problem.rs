//! `application/problem+json` (RFC 9457) errors with a stable `type`, used by every route.

use axum::{
    body::to_bytes,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// Longest `detail` taken from a plain-text error answer, in characters: axum's rejections
/// quote the request (a query value, a path segment).
const MAX_DETAIL_CHARS: usize = 300;

/// One field-level validation error.
#[derive(Debug, Clone, Serialize)]
pub struct FieldError {
    /// The field (dotted path for nested ones).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// A problem document.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// Stable type URI, e.g. `/problems/not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, stable summary of the type.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// What happened this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Field errors of a validation problem.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// A problem of a type.
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: format!("/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: Some(detail.into()),
            errors: Vec::new(),
        }
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 400 for a body that is not what the route takes.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            "Malformed request",
            detail,
        )
    }

    /// 422 naming the field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Validation failed",
            format!("{field}: {message}"),
        );
        p.errors.push(FieldError { field, message });
        p
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 409.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// 503: try again later.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            "storage is unreachable; retry later",
        )
    }

    /// 500 with no internals; the cause is logged by the caller.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "see the server log",
        )
    }
}

/// Makes every error answer a problem document. Handlers answer problems themselves; this
/// catches what answers before or around them in plain text or with no body at all: axum's
/// rejections of a query string or a path (400), a method a route does not take (405, its
/// `Allow` header kept), the body limit (413), and the timeout layer (503). An error answer
/// that already has a JSON body (problems, `/readyz`) passes as it is.
pub async fn problems_only(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if !plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Rejection texts are short; a longer body is not one of ours to rewrite, so its detail
    // falls back to the status's own words.
    let text = to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut out = Problem::for_status(status, &text).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            out.headers_mut().insert(name, value.clone());
        }
    }
    out
}

impl Problem {
    /// The problem for a status answered in plain text (`text`, possibly empty) by a layer
    /// or an extractor rather than by a handler.
    pub fn for_status(status: StatusCode, text: &str) -> Self {
        let said = plain_detail(text);
        match status {
            StatusCode::BAD_REQUEST => {
                Self::bad_request(said.unwrap_or_else(|| "the request is malformed".to_owned()))
            }
            StatusCode::NOT_FOUND => {
                Self::not_found(said.unwrap_or_else(|| "no such route".to_owned()))
            }
            StatusCode::METHOD_NOT_ALLOWED => Self::new(
                status,
                "method-not-allowed",
                "Method not allowed",
                "this route does not take that method; the Allow header lists those it takes",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                status,
                "too-large",
                "Payload too large",
                "the request body is larger than this route takes",
            ),
            StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE if said.is_none() => {
                Self::new(
                    status,
                    "timeout",
                    "Request timed out",
                    "the request took longer than server.request_timeout; retry later",
                )
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                status,
                "unsupported-media-type",
                "Unsupported media type",
                said.unwrap_or_else(|| "send Content-Type: application/json".to_owned()),
            ),
            s if s.is_server_error() => {
                tracing::error!(
                    status = s.as_u16(),
                    detail = said.as_deref().unwrap_or(""),
                    "error answered outside a handler"
                );
                Self {
                    status: s.as_u16(),
                    ..Self::internal()
                }
            }
            s => Self::new(
                s,
                "http",
                "Request refused",
                said.unwrap_or_else(|| s.canonical_reason().unwrap_or("refused").to_owned()),
            ),
        }
    }
}

/// An extractor's plain-text rejection as a detail: one line, control characters replaced,
/// cut to [`MAX_DETAIL_CHARS`], with axum's wording made plain (`Failed to deserialize query
/// string: ` becomes `query string: `) and the `?` a field path shows where it lost track
/// left out. `None` for an empty text.
fn plain_detail(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let text = text
        .replacen("Failed to deserialize query string: ", "query string: ", 1)
        .replacen("Failed to deserialize form: ", "form: ", 1)
        .replacen("Failed to buffer the request body: ", "request body: ", 1)
        .replace(": ?: ", ": ")
        .replace(".?: ", ": ");
    let text = text.strip_prefix("?: ").unwrap_or(&text);
    let mut out: String = text
        .chars()
        .take(MAX_DETAIL_CHARS)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if text.chars().nth(MAX_DETAIL_CHARS).is_some() {
        out.pop();
        out.push('…');
    }
    Some(out)
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_rejection_becomes_a_one_line_detail_without_axums_wording_or_a_stray_path() {
        assert_eq!(
            plain_detail("Failed to deserialize query string: ?: invalid digit found in string"),
            Some("query string: invalid digit found in string".to_owned())
        );
        assert_eq!(
            plain_detail("Failed to deserialize query string: page: invalid digit"),
            Some("query string: page: invalid digit".to_owned())
        );
        assert_eq!(
            plain_detail("?: expected a string"),
            Some("expected a string".to_owned())
        );
        assert_eq!(plain_detail("  "), None);
        let long = plain_detail(&format!("a\nb{}", "界".repeat(400))).unwrap();
        assert!(long.starts_with("a\u{fffd}b"), "{long}");
        assert_eq!(long.chars().count(), MAX_DETAIL_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn each_status_answered_outside_a_handler_gets_a_stable_type() {
        for (status, text, kind) in [
            (
                StatusCode::BAD_REQUEST,
                "Invalid URL",
                "/problems/malformed",
            ),
            (StatusCode::NOT_FOUND, "", "/problems/not-found"),
            (
                StatusCode::METHOD_NOT_ALLOWED,
                "",
                "/problems/method-not-allowed",
            ),
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Failed to buffer the request body: length limit exceeded",
                "/problems/too-large",
            ),
            (StatusCode::SERVICE_UNAVAILABLE, "", "/problems/timeout"),
            (StatusCode::REQUEST_TIMEOUT, "", "/problems/timeout"),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "",
                "/problems/unsupported-media-type",
            ),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "boom",
                "/problems/internal",
            ),
            (StatusCode::IM_A_TEAPOT, "", "/problems/http"),
        ] {
            let p = Problem::for_status(status, text);
            assert_eq!(p.kind, kind, "{status}");
            assert_eq!(p.status, status.as_u16());
            assert!(p.detail.is_some_and(|d| !d.is_empty()), "{status}");
        }
        // A 5xx never repeats what it was told.
        let p = Problem::for_status(StatusCode::BAD_GATEWAY, "internal secret");
        assert!(!p.detail.unwrap_or_default().contains("secret"));
    }
}
