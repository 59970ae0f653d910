//! The Feishu Open API calls the adapter makes: the tenant access token, sending and replying
//! to text messages, and the display-name lookups. Every answer is classified for the outbox:
//! rate limits wait, 5xx and transport failures retry, other refusals are final, and an
//! invalid-token answer refreshes the shared token once.

use std::time::Duration;

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{FeishuAdapter, clean_name, crypto::hex, render_text};
use crate::{
    error::Cause,
    platform::{OutboundMessage, SendError, token::access_token},
};

/// Feishu's "frequency limit" code.
const RATE_LIMITED: i64 = 99_991_400;
/// Codes that mean the access token was refused (missing, invalid, expired): the token is
/// refreshed once and the call repeated.
///
/// <https://open.feishu.cn/document/server-docs/api-call-guide/generic-error-code>
const INVALID_TOKEN: &[i64] = &[
    99_991_661, 99_991_663, 99_991_664, 99_991_665, 99_991_668, 99_991_677,
];
/// Header with the seconds until the rate limit resets.
const RATE_LIMIT_RESET: &str = "x-ogw-ratelimit-reset";
/// The wait when a rate limit names none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Longest wait honoured from the header.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Longest token life Feishu grants, and the floor we accept.
const MAX_TOKEN_LIFE: u64 = 7200;
const MIN_TOKEN_LIFE: u64 = 60;
/// Feishu caps a text message at 150 KB of content; the text is cut well inside it (JSON
/// escaping can double the size of some characters).
pub(super) const MAX_TEXT_BYTES: usize = 60_000;
/// `uuid` may hold at most 50 characters; 32 hex digits of a SHA-256 are plenty.
const UUID_HEX_CHARS: usize = 32;
/// Longest platform message copied into a send error.
const MAX_MSG_CHARS: usize = 300;
/// Pages of chat members read when looking for one name (100 members each).
const MAX_MEMBER_PAGES: usize = 5;

/// The common answer shape: `code` 0 is success.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
struct Answer {
    code: Option<i64>,
    msg: Option<String>,
    data: Option<Value>,
    /// Only in the token endpoint's answer.
    tenant_access_token: Option<String>,
    /// Seconds; only in the token endpoint's answer.
    expire: Option<i64>,
}

/// Why a call failed: for the outbox, or an invalid token worth one refresh.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    Send(SendError),
    InvalidToken(String),
}

impl From<SendError> for Failure {
    fn from(e: SendError) -> Self {
        Self::Send(e)
    }
}

/// `HTTP 400: code 230002: msg`, bounded.
fn detail(status: StatusCode, answer: &Answer) -> String {
    let mut text = format!("HTTP {}", status.as_u16());
    if let Some(code) = answer.code {
        text.push_str(&format!(": code {code}"));
    }
    if let Some(msg) = answer.msg.as_deref().filter(|m| !m.is_empty()) {
        text.push_str(": ");
        text.extend(msg.chars().take(MAX_MSG_CHARS));
    }
    text
}

/// Reads an Open API answer.
///
/// <https://open.feishu.cn/document/server-docs/api-call-guide/generic-error-code>
/// <https://open.feishu.cn/document/server-docs/api-call-guide/frequency-control>
fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Result<Answer, Failure> {
    let (answer, undecodable) = match serde_json::from_slice::<Answer>(body) {
        Ok(answer) => (answer, None),
        Err(e) => (Answer::default(), Some(e)),
    };
    if status.is_success() && answer.code == Some(0) {
        return Ok(answer);
    }
    if status == StatusCode::TOO_MANY_REQUESTS || answer.code == Some(RATE_LIMITED) {
        let retry_after = headers
            .get(RATE_LIMIT_RESET)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs)
            .clamp(DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER);
        return Err(SendError::RateLimited { retry_after }.into());
    }
    let text = detail(status, &answer);
    let invalid_token = answer.code.is_some_and(|c| INVALID_TOKEN.contains(&c))
        || (status == StatusCode::UNAUTHORIZED && answer.code.is_none());
    if invalid_token {
        return Err(Failure::InvalidToken(text));
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return Err(SendError::transient("Feishu could not take the call")
            .answered(text)
            .into());
    }
    if status.is_client_error() || (status.is_success() && answer.code.is_some()) {
        // Unknown chat, bot not in the chat, no permission, content refused.
        return Err(SendError::permanent("Feishu refused the call")
            .answered(text)
            .into());
    }
    // A 2xx that is not an Open API answer, or a redirect we do not follow: most likely a
    // proxy in between; retrying is the cautious choice. Why the body is no answer (not
    // JSON, or JSON without a code) is kept under the status.
    let cause = match undecodable {
        Some(e) => Cause::wrap(text, Cause::of(&e)),
        None => Cause::wrap(text, Cause::new("no code in the answer")),
    };
    Err(
        SendError::transient("Feishu's answer is not an Open API answer")
            .because(cause)
            .into(),
    )
}

/// The `uuid` Feishu deduplicates sends by: derived from the idempotency key, so that the
/// outbox's retries of one message are one message.
pub(super) fn send_uuid(idempotency_key: &str) -> String {
    let digest = hex(&Sha256::digest(idempotency_key.as_bytes()));
    digest.chars().take(UUID_HEX_CHARS).collect()
}

/// An id safe to put in a URL path as is (Feishu's are `om_…`, `oc_…`, `ou_…`).
pub(super) fn path_safe(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// The message to reply to: the context's message id, when the reply goes to the chat the
/// message was said in (a reply elsewhere, e.g. a private follow-up, is a new message).
fn reply_target(message: &OutboundMessage) -> Option<&str> {
    let context = message.context.as_ref()?;
    let chat = context.get("chat_id")?.as_str()?;
    let id = context.get("message_id")?.as_str()?;
    (chat == message.chat_id && path_safe(id)).then_some(id)
}

impl FeishuAdapter {
    /// Turns a transport error into a send error, without the URL reqwest puts in it and,
    /// should it ever slip in, without the app secret.
    fn request_error(&self, error: reqwest::Error) -> SendError {
        let secret = self.app_secret.expose();
        crate::platform::transport_error("the request to Feishu failed", error, |text| {
            if secret.is_empty() {
                text
            } else {
                text.replace(secret, "<secret>")
            }
        })
    }

    /// Asks for a tenant access token.
    ///
    /// <https://open.feishu.cn/document/server-docs/authentication-management/access-token/tenant_access_token_internal>
    async fn fetch_token(&self) -> Result<(String, Duration), SendError> {
        let url = format!(
            "{}/open-apis/auth/v3/tenant_access_token/internal",
            self.api_base
        );
        let body = json!({"app_id": self.app_id, "app_secret": self.app_secret.expose()});
        let response = self
            .client
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.request_error(e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| self.request_error(e))?;
        let fetch_failed = "the tenant access token could not be fetched";
        let answer = classify(status, &headers, &bytes).map_err(|f| match f {
            Failure::Send(e) => e.within(fetch_failed),
            // A token endpoint that calls our credentials an invalid token: nothing to
            // refresh, the app id or secret is wrong.
            Failure::InvalidToken(t) => {
                SendError::permanent("Feishu refused the app id or secret for a tenant token")
                    .answered(t)
            }
        })?;
        let token = answer
            .tenant_access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SendError::transient("Feishu's tenant token answer has no token"))?;
        let life = answer
            .expire
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(MAX_TOKEN_LIFE)
            .clamp(MIN_TOKEN_LIFE, MAX_TOKEN_LIFE);
        Ok((token, Duration::from_secs(life)))
    }

    /// One call with one token.
    async fn call_with(
        &self,
        token: &str,
        method: &Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, Failure> {
        let mut request = self.client.request(method.clone(), url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.request_error(e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| self.request_error(e))?;
        classify(status, &headers, &bytes)
    }

    /// Calls the Open API with the shared tenant token, refreshing it once if refused.
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, SendError> {
        let token = access_token(&self.store, &self.bot, None, || self.fetch_token()).await?;
        match self.call_with(&token, &method, url, body).await {
            Ok(answer) => Ok(answer),
            Err(Failure::Send(e)) => Err(e),
            Err(Failure::InvalidToken(_)) => {
                let fresh =
                    access_token(&self.store, &self.bot, Some(&token), || self.fetch_token())
                        .await?;
                match self.call_with(&fresh, &method, url, body).await {
                    Ok(answer) => Ok(answer),
                    Err(Failure::Send(e)) => Err(e),
                    // A fresh token refused too: the app lost access; no retry will help.
                    Err(Failure::InvalidToken(t)) => {
                        Err(SendError::permanent("Feishu refused a fresh access token").answered(t))
                    }
                }
            }
        }
    }

    /// Replies to the message in the context when there is one in this chat, otherwise sends
    /// a new message to the chat.
    ///
    /// <https://open.feishu.cn/document/server-docs/im-v1/message/reply>
    /// <https://open.feishu.cn/document/server-docs/im-v1/message/create>
    pub(super) async fn send_message(&self, message: &OutboundMessage) -> Result<(), SendError> {
        let text = render_text(&message.text);
        if text.trim().is_empty() {
            return Err(SendError::permanent("the message text is empty"));
        }
        if message.chat_id.is_empty() {
            return Err(SendError::permanent("the message has no chat id"));
        }
        let content = json!({ "text": text }).to_string();
        let uuid = send_uuid(&message.idempotency_key);
        if let Some(message_id) = reply_target(message) {
            let url = format!(
                "{}/open-apis/im/v1/messages/{message_id}/reply",
                self.api_base
            );
            let body = json!({"msg_type": "text", "content": content, "reply_in_thread": false,
                              "uuid": uuid});
            match self.call(Method::POST, &url, Some(&body)).await {
                // The message may have been recalled or deleted before the outbox got to it;
                // the answer still belongs in the chat. Any other final refusal (bot removed,
                // content refused) fails the same way below, at the cost of one call.
                Err(e @ SendError::Permanent { .. }) => {
                    tracing::info!(error.cause_chain = %crate::error::Chain(&e), "reply refused; sending to the chat instead");
                }
                other => return other.map(|_| ()),
            }
        }
        let url = format!(
            "{}/open-apis/im/v1/messages?receive_id_type=chat_id",
            self.api_base
        );
        let body = json!({"receive_id": message.chat_id, "msg_type": "text", "content": content,
                          "uuid": uuid});
        self.call(Method::POST, &url, Some(&body)).await.map(|_| ())
    }

    /// The user's name from the contact API, or else from the chat's member list (apps often
    /// have the chat permission but not the contact one).
    ///
    /// <https://open.feishu.cn/document/server-docs/contact-v3/user/get>
    /// <https://open.feishu.cn/document/server-docs/group/chat-member/get>
    pub(super) async fn display_name(
        &self,
        chat_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, SendError> {
        if !path_safe(user_id) {
            return Ok(None);
        }
        let url = format!(
            "{}/open-apis/contact/v3/users/{user_id}?user_id_type=open_id",
            self.api_base
        );
        match self.call(Method::GET, &url, None).await {
            Ok(answer) => {
                let name = answer
                    .data
                    .as_ref()
                    .and_then(|d| d.pointer("/user/name"))
                    .and_then(Value::as_str)
                    .and_then(clean_name);
                if name.is_some() {
                    return Ok(name);
                }
            }
            // No contact permission, or a user outside the contact scope: try the chat.
            Err(e @ SendError::Permanent { .. }) => {
                tracing::debug!(error.cause_chain = %crate::error::Chain(&e), "contact lookup refused; trying the chat members");
            }
            Err(e) => return Err(e),
        }
        if !path_safe(chat_id) {
            return Ok(None);
        }
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_MEMBER_PAGES {
            let mut url = format!(
                "{}/open-apis/im/v1/chats/{chat_id}/members?member_id_type=open_id&page_size=100",
                self.api_base
            );
            if let Some(page) = &page_token {
                url.push_str("&page_token=");
                url.extend(form_urlencoded::byte_serialize(page.as_bytes()));
            }
            let data = self.call(Method::GET, &url, None).await?.data;
            let data = data.unwrap_or_default();
            let found = data
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|m| m.get("member_id").and_then(Value::as_str) == Some(user_id))
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .and_then(clean_name);
            if found.is_some() {
                return Ok(found);
            }
            let more = data.get("has_more").and_then(Value::as_bool) == Some(true);
            page_token = data
                .get("page_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if !more || page_token.is_none() {
                break;
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(reset: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(r) = reset {
            h.insert(RATE_LIMIT_RESET, HeaderValue::from_str(r).unwrap());
        }
        h
    }

    #[test]
    fn answers_are_classified_for_the_outbox() {
        let none = headers(None);
        assert!(
            classify(
                StatusCode::OK,
                &none,
                br#"{"code":0,"msg":"success","data":{}}"#
            )
            .is_ok()
        );
        for (status, reset, body, secs) in [
            (
                429,
                Some("7"),
                &br#"{"code":99991400,"msg":"request trigger frequency limit"}"#[..],
                7,
            ),
            (
                400,
                Some("2"),
                br#"{"code":99991400,"msg":"frequency limit"}"#,
                2,
            ),
            (429, None, b"", 1),
            (429, Some("0"), b"{}", 1),
            (429, Some("x"), b"{}", 1),
            (429, Some("99999"), b"{}", 3600),
        ] {
            assert_eq!(
                classify(StatusCode::from_u16(status).unwrap(), &headers(reset), body),
                Err(Failure::Send(SendError::RateLimited {
                    retry_after: Duration::from_secs(secs)
                })),
                "{status} {reset:?}"
            );
        }
        for code in INVALID_TOKEN {
            let body = json!({"code": code, "msg": "Invalid access token for authorization"});
            assert!(matches!(
                classify(StatusCode::BAD_REQUEST, &none, body.to_string().as_bytes()),
                Err(Failure::InvalidToken(_))
            ));
        }
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, &none, b"unauthorized"),
            Err(Failure::InvalidToken(_))
        ));
        assert_eq!(
            classify(StatusCode::BAD_GATEWAY, &none, b"<html>bad gateway</html>"),
            Err(Failure::Send(
                SendError::transient("Feishu could not take the call").answered("HTTP 502")
            ))
        );
        assert_eq!(
            classify(
                StatusCode::BAD_REQUEST,
                &none,
                br#"{"code":230002,"msg":"Bot/User can NOT be out of the chat."}"#
            ),
            Err(Failure::Send(
                SendError::permanent("Feishu refused the call")
                    .answered("HTTP 400: code 230002: Bot/User can NOT be out of the chat.")
            ))
        );
        // A 200 with a non-zero code is a refusal too.
        assert!(matches!(
            classify(
                StatusCode::OK,
                &none,
                br#"{"code":230001,"msg":"invalid receive_id"}"#
            ),
            Err(Failure::Send(SendError::Permanent { .. }))
        ));
        // Not an answer: why is kept under the status (the decoding error, or no code).
        for (body, why) in [
            (
                &b"<html>portal</html>"[..],
                "expected value at line 1 column 1",
            ),
            (b"{}", "no code in the answer"),
        ] {
            let Err(Failure::Send(e @ SendError::Transient { .. })) =
                classify(StatusCode::OK, &none, body)
            else {
                panic!("not transient: {body:?}");
            };
            assert_eq!(
                crate::error::chain(&e),
                format!("transient: Feishu's answer is not an Open API answer: HTTP 200: {why}")
            );
        }
    }

    #[test]
    fn the_uuid_is_a_stable_digest_within_feishus_length_limit() {
        // Expected value computed once with Python:
        //   hashlib.sha256(b"meeting:b1:3:reminder:24h:chat:oc_x").hexdigest()[:32]
        let uuid = send_uuid("meeting:b1:3:reminder:24h:chat:oc_x");
        assert_eq!(uuid, "fc25c21083c5c0dd82433eb624aa0870");
        assert!(uuid.len() <= 50);
        assert_ne!(send_uuid("a"), send_uuid("b"));
    }

    #[test]
    fn replies_thread_only_to_a_safe_message_of_the_same_chat() {
        let message = |chat: &str, context: Option<Value>| OutboundMessage {
            chat_id: chat.to_owned(),
            text: "x".to_owned(),
            idempotency_key: "k".to_owned(),
            context,
        };
        let ctx = json!({"message_id": "om_abc-1_2", "chat_id": "oc_1"});
        assert_eq!(
            reply_target(&message("oc_1", Some(ctx.clone()))),
            Some("om_abc-1_2")
        );
        assert_eq!(reply_target(&message("oc_2", Some(ctx))), None);
        assert_eq!(reply_target(&message("oc_1", None)), None);
        for bad in ["om_1/../x", "om_1?x=1", "", "om 1"] {
            let ctx = json!({"message_id": bad, "chat_id": "oc_1"});
            assert_eq!(reply_target(&message("oc_1", Some(ctx))), None, "{bad}");
        }
        assert_eq!(
            reply_target(&message(
                "oc_1",
                Some(json!({"message_id": 5, "chat_id": "oc_1"}))
            )),
            None
        );
    }

    #[test]
    fn long_texts_are_cut_on_a_character_boundary() {
        assert_eq!(render_text("短"), "短");
        let cut = render_text(&"党".repeat(30_000));
        assert!(cut.len() <= MAX_TEXT_BYTES, "{}", cut.len());
        assert!(cut.ends_with("党…"));
    }
}
