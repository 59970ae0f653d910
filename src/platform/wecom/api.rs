//! The WeCom HTTP API calls the adapter makes: the app's access token (`gettoken`, shared
//! through Redis), `message/send` to a member, the push robot's `webhook/send`, the one-shot
//! `response_url`, and the `user/get` name lookup. Every answer is classified for the outbox:
//! frequency limits wait, `errcode` −1 and 5xx retry, other refusals are final, and an
//! invalid or expired token is replaced once.

use std::time::Duration;

use serde_json::{Value, json};

use super::{AppCredentials, MAX_NAME_CHARS, WecomAdapter, render_markdown, render_plain};
use crate::{
    config::Secret,
    error::Cause,
    platform::{SendError, token},
};

/// The group robot's limit is 20 messages a minute; it throttles for that minute.
const ROBOT_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Wait after an API frequency answer (45009/45033), which carries no wait of its own.
const API_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Longest platform message copied into a send error.
const MAX_ERRMSG_CHARS: usize = 200;

/// What a WeCom API answer means for the outbox.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ApiOutcome {
    Ok(Value),
    /// 40014 (invalid) / 42001 (expired): refresh the token once.
    InvalidToken,
    Failed(SendError),
}

/// Reads a WeCom API answer: `errcode` 0 is success; −1 (busy) and 5xx are worth a retry;
/// 45009/45033 are frequency limits; 40014/42001 ask for a new token; anything else is final.
///
/// <https://developer.work.weixin.qq.com/document/path/90313>
pub(super) fn classify(
    status: reqwest::StatusCode,
    body: &[u8],
    rate_wait: Duration,
) -> ApiOutcome {
    let http = format!("HTTP {}", status.as_u16());
    let refused = SendError::permanent("WeCom refused the call");
    if status.is_server_error() {
        return ApiOutcome::Failed(
            SendError::transient("WeCom could not take the call").answered(http),
        );
    }
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return ApiOutcome::Failed(SendError::RateLimited {
            retry_after: rate_wait,
        });
    }
    let parsed = serde_json::from_slice::<Value>(body);
    let Some(value) = parsed.as_ref().ok().filter(|v| v.is_object()).cloned() else {
        return ApiOutcome::Failed(if status.is_success() {
            // A proxy's page or a cut body: the message may not have gone; try again. Why the
            // body is no answer is kept under the status.
            let why = match &parsed {
                Err(e) => Cause::of(e),
                Ok(_) => Cause::new("not a JSON object"),
            };
            SendError::transient("WeCom's answer is not a WeCom answer")
                .because(Cause::wrap(http, why))
        } else {
            refused.answered(http)
        });
    };
    let errcode = value.get("errcode").and_then(Value::as_i64).unwrap_or(0);
    let errmsg: String = value
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(MAX_ERRMSG_CHARS)
        .collect();
    match errcode {
        0 if status.is_success() => ApiOutcome::Ok(value),
        0 => ApiOutcome::Failed(refused.answered(http)),
        40014 | 42001 => ApiOutcome::InvalidToken,
        45009 | 45033 => ApiOutcome::Failed(SendError::RateLimited {
            retry_after: rate_wait,
        }),
        -1 => ApiOutcome::Failed(
            SendError::transient("WeCom is busy").answered(format!("errcode -1: {errmsg}")),
        ),
        code => ApiOutcome::Failed(refused.answered(format!("errcode {code}: {errmsg}"))),
    }
}

impl WecomAdapter {
    /// Replaces every secret wherever it might have slipped into a message.
    pub(super) fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        let secrets = [
            self.app.as_ref().map(|a| a.corp_secret.expose()),
            self.push_webhook_key.as_ref().map(Secret::expose),
            Some(self.token.expose()),
        ];
        for secret in secrets.into_iter().flatten() {
            if !secret.is_empty() {
                text = text.replace(secret, "<secret>");
            }
        }
        text
    }

    /// A transport error, without its URL (which carries keys and tokens).
    fn request_error(&self, error: reqwest::Error) -> SendError {
        crate::platform::transport_error("the request to WeCom failed", error, |text| {
            self.redact(&text)
        })
    }

    async fn call(&self, request: reqwest::RequestBuilder, rate_wait: Duration) -> ApiOutcome {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return ApiOutcome::Failed(self.request_error(e)),
        };
        let status = response.status();
        match response.bytes().await {
            Ok(bytes) => match classify(status, &bytes, rate_wait) {
                ApiOutcome::Failed(e) => ApiOutcome::Failed(e.redact(|m| self.redact(&m))),
                other => other,
            },
            Err(e) => ApiOutcome::Failed(self.request_error(e)),
        }
    }

    /// `GET /cgi-bin/gettoken?corpid&corpsecret`.
    ///
    /// <https://developer.work.weixin.qq.com/document/path/91039>
    async fn fetch_token(&self, app: &AppCredentials) -> Result<(String, Duration), SendError> {
        let request = self
            .client
            .get(format!("{}/cgi-bin/gettoken", self.api_base))
            .query(&[
                ("corpid", app.corp_id.as_str()),
                ("corpsecret", app.corp_secret.expose()),
            ]);
        match self.call(request, API_RETRY_AFTER).await {
            ApiOutcome::Ok(value) => {
                let token = value
                    .get("access_token")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        SendError::transient("WeCom's gettoken answer has no access_token")
                    })?;
                let life = value
                    .get("expires_in")
                    .and_then(Value::as_u64)
                    .filter(|s| *s > 0)
                    .unwrap_or(7200);
                Ok((token.to_owned(), Duration::from_secs(life)))
            }
            ApiOutcome::InvalidToken => Err(SendError::permanent(
                "WeCom's gettoken refused the corp credentials",
            )),
            ApiOutcome::Failed(e) => Err(e.within("the WeCom access token could not be fetched")),
        }
    }

    /// Runs an app API call with the shared token, refreshing it once when WeCom calls it
    /// invalid or expired.
    async fn with_token<F, Fut>(&self, app: &AppCredentials, call: F) -> Result<Value, SendError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = ApiOutcome>,
    {
        let mut stale: Option<String> = None;
        for _ in 0..2 {
            let token = token::access_token(&self.store, &self.bot, stale.as_deref(), || {
                self.fetch_token(app)
            })
            .await?;
            match call(token.clone()).await {
                ApiOutcome::Ok(value) => return Ok(value),
                ApiOutcome::InvalidToken => stale = Some(token),
                ApiOutcome::Failed(e) => return Err(e),
            }
        }
        Err(SendError::transient("WeCom refused the access token twice"))
    }

    /// `POST /cgi-bin/message/send` to one member.
    ///
    /// <https://developer.work.weixin.qq.com/document/path/90236>
    pub(super) async fn app_send(
        &self,
        app: &AppCredentials,
        touser: &str,
        text: &str,
    ) -> Result<(), SendError> {
        let body = json!({
            "touser": touser,
            "msgtype": "text",
            "agentid": app.agent_id,
            "text": {"content": render_plain(text)},
            "safe": 0,
        });
        self.with_token(app, |token| {
            let request = self
                .client
                .post(format!("{}/cgi-bin/message/send", self.api_base))
                .query(&[("access_token", token.as_str())])
                .json(&body);
            self.call(request, API_RETRY_AFTER)
        })
        .await
        .map(drop)
    }

    /// `POST /cgi-bin/webhook/send?key=` of the push robot (消息推送).
    ///
    /// <https://developer.work.weixin.qq.com/document/path/91770>
    pub(super) async fn robot_send(&self, key: &Secret, text: &str) -> Result<(), SendError> {
        let request = self
            .client
            .post(format!("{}/cgi-bin/webhook/send", self.api_base))
            .query(&[("key", key.expose())])
            .json(&markdown_body(text));
        match self.call(request, ROBOT_RETRY_AFTER).await {
            ApiOutcome::Ok(_) => Ok(()),
            ApiOutcome::InvalidToken => Err(SendError::permanent("the push robot refused its key")),
            ApiOutcome::Failed(e) => Err(e),
        }
    }

    /// `POST <response_url>` once, within its hour. The URL's path and query are sent to
    /// `api_base`, so a message can never point us at another host, and a private
    /// deployment's proxy (or a test's fake) is honoured.
    ///
    /// <https://developer.work.weixin.qq.com/document/path/101138>
    pub(super) async fn response_url_send(
        &self,
        response_url: &str,
        text: &str,
    ) -> Result<(), SendError> {
        let url = reqwest::Url::parse(response_url)
            // Its text stays out of the error: the URL is a capability.
            .map_err(|_| SendError::permanent("the response_url is not a URL"))?;
        let target = match url.query() {
            Some(q) => format!("{}{}?{q}", self.api_base, url.path()),
            None => format!("{}{}", self.api_base, url.path()),
        };
        let request = self.client.post(target).json(&markdown_body(text));
        match self.call(request, API_RETRY_AFTER).await {
            ApiOutcome::Ok(_) => Ok(()),
            ApiOutcome::InvalidToken => Err(SendError::permanent("the response_url was refused")),
            ApiOutcome::Failed(e) => Err(e),
        }
    }

    /// `GET /cgi-bin/user/get?userid=`: the member's name (newer apps may get the userid).
    ///
    /// <https://developer.work.weixin.qq.com/document/path/90196>
    pub(super) async fn lookup_name(&self, user_id: &str) -> Result<Option<String>, SendError> {
        let Some(app) = &self.app else {
            return Ok(None);
        };
        let value = self
            .with_token(app, |token| {
                let request = self
                    .client
                    .get(format!("{}/cgi-bin/user/get", self.api_base))
                    .query(&[("access_token", token.as_str()), ("userid", user_id)]);
                self.call(request, API_RETRY_AFTER)
            })
            .await?;
        let name: String = value
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME_CHARS)
            .collect();
        Ok((!name.is_empty()).then_some(name))
    }
}

fn markdown_body(text: &str) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": {"content": render_markdown(text)},
    })
}
