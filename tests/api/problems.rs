//! One error shape: every error the admin API and the webhooks answer is
//! `application/problem+json`, whatever answered it (a handler, an extractor, the router, the
//! body limit, the timeout layer), with a stable `type` and a clear `detail`.

use std::time::Duration;

use reqwest::{Method, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{ADMIN_TOKEN, REDIS, spawn_app, spawn_app_with, test_settings};

/// Checks the shape of a problem answer and returns its body.
async fn problem(resp: Response, status: u16, kind: &str, what: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "{what}");
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{what}"
    );
    let text = resp.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: {text}"));
    assert_eq!(body["type"], format!("/problems/{kind}"), "{what}: {body}");
    assert_eq!(body["status"], status, "{what}: {body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}: {body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(!detail.is_empty(), "{what}: no detail: {body}");
    assert!(!detail.contains("?:"), "{what}: stray `?:` in {detail:?}");
    assert!(
        !detail.starts_with("Failed to"),
        "{what}: axum's wording leaked: {detail:?}"
    );
    body
}

impl crate::helpers::TestApp {
    async fn send(&self, method: Method, path: &str) -> Response {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
    }

    async fn send_json(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn routing_errors_are_problems_and_405_says_what_the_route_takes() {
    let app = spawn_app().await;

    let resp = app.send(Method::GET, "/no/such/route").await;
    problem(resp, 404, "not-found", "unknown route").await;
    let resp = app.send(Method::GET, "/api/v1/nothing-here").await;
    problem(resp, 404, "not-found", "unknown API route").await;

    // An API route that does not take the method: axum answers 405 with no body.
    let resp = app.send(Method::DELETE, "/api/v1/branches").await;
    let allow = resp.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    problem(resp, 405, "method-not-allowed", "DELETE /branches").await;

    // A webhook that takes POST only (the handler answers this one itself).
    let resp = app.send(Method::GET, "/webhook/sim/demo").await;
    assert_eq!(resp.headers()["allow"], "POST");
    problem(resp, 405, "method-not-allowed", "GET sim webhook").await;
    let resp = app.send(Method::PUT, "/webhook/sim/demo").await;
    assert!(resp.headers().contains_key("allow"));
    problem(resp, 405, "method-not-allowed", "PUT sim webhook").await;
}

#[tokio::test]
async fn query_string_and_path_rejections_are_problems_naming_the_parameter() {
    let app = spawn_app().await;

    for (path, needle) in [
        ("/api/v1/branches?page=abc", "page"),
        ("/api/v1/branches?per_page=-3", "per_page"),
        ("/api/v1/branches?page=1&page=2", "page"),
    ] {
        let resp = app.send(Method::GET, path).await;
        let body = problem(resp, 400, "malformed", path).await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.starts_with("query string: "), "{path}: {detail}");
        assert!(detail.contains(needle), "{path}: {detail}");
    }
    // Out of range, but well-formed: the handler's own validation problem.
    let resp = app.send(Method::GET, "/api/v1/branches?per_page=0").await;
    problem(resp, 422, "validation", "per_page=0").await;

    // A path segment that is not UTF-8 once decoded.
    let resp = app.send(Method::GET, "/api/v1/branches/%FF%FE").await;
    problem(resp, 400, "malformed", "bad path segment").await;
}

#[tokio::test]
async fn json_body_errors_are_problems_with_a_clear_detail() {
    let app = spawn_app().await;
    let path = "/api/v1/branches";

    let resp = app.send_json(Method::POST, path, "text/plain", "{}").await;
    problem(resp, 415, "unsupported-media-type", "text/plain body").await;

    let resp = app
        .send_json(Method::POST, path, "application/json", "{\"name\": ")
        .await;
    let body = problem(resp, 400, "malformed", "cut JSON").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("body is not valid JSON"),
        "{body}"
    );

    for (sent, field) in [
        (json!({"name": 5}), "name"),
        (json!({}), "body"),
        (json!("a branch"), "body"),
        (json!({"name": "x", "color": "red"}), "color"),
    ] {
        let resp = app
            .send_json(Method::POST, path, "application/json", sent.to_string())
            .await;
        let body = problem(resp, 422, "validation", &sent.to_string()).await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field}: ")),
            "{body}"
        );
    }

    // A nested field is named by its path.
    let (id, _) = app.create_branch("问题支部").await;
    let resp = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/branches/{id}"),
            "application/json",
            json!({"timing": {"checkin_opens_before": "soon"}}).to_string(),
        )
        .await;
    let body = problem(resp, 422, "validation", "nested duration").await;
    assert_eq!(
        body["errors"][0]["field"], "timing.checkin_opens_before",
        "{body}"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_problems_on_the_api_and_the_webhooks() {
    let app = spawn_app().await;
    // Over the webhook limit (1 MiB) and the API's (8 MiB) both.
    let big = vec![b' '; 9 * 1024 * 1024];

    let resp = app
        .send_json(
            Method::POST,
            "/api/v1/branches",
            "application/json",
            big.clone(),
        )
        .await;
    problem(resp, 413, "too-large", "API body").await;

    let resp = app.post_raw("/webhook/sim/demo", big).await;
    problem(resp, 413, "too-large", "webhook body").await;
}

#[tokio::test]
async fn a_request_past_the_timeout_is_a_503_problem_with_retry_after() {
    let mut settings = test_settings(&REDIS.url(), "");
    settings.server.request_timeout = Duration::from_millis(300);
    let app = spawn_app_with(settings).await;

    // A webhook whose body never finishes arriving: the handler waits for it until the
    // timeout layer answers.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(
        format!(
            "POST /webhook/sim/demo HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{{"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .expect("answered within the timeout")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(
        answer.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(
        answer.contains("\"type\":\"/problems/timeout\""),
        "{answer}"
    );
    assert!(answer.contains("request_timeout"), "{answer}");
}
