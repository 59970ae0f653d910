//! Outbound wire formats of DingTalk and how its answers map to [`SendError`]: the
//! `sessionWebhook` (no token, valid for about 90 minutes after the message it answers), the
//! robot OpenAPI (`groupMessages/send`, `oToMessages/batchSend`) with an app access token,
//! and the token endpoint itself.
//!
//! Text rule: DingTalk robots send `text` messages, which have no markup; what comes alive
//! is an `@`: on the sessionWebhook, `@<userId>` in the content notifies that user when the
//! id is also listed in `at.atUserIds`. The bot's own mentions (mention tokens) are the only
//! ids listed, and [`escape`] puts a zero-width space after every `@` of the text, so that
//! nothing typed on any platform can write `@<userId>` (or `@所有人`) and be read as one. The
//! OpenAPI's `sampleText` cannot mention anyone; there a mention is the name. Plain URLs stay
//! as written (DingTalk makes them clickable, showing where they go).

use std::time::Duration;

use reqwest::{StatusCode, header::HeaderMap};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    error::Cause,
    platform::{
        SendError, is_token_char,
        render::{self, Limit},
    },
};

/// Longest text sent in one message, in characters. DingTalk documents no number for robot
/// text; this stays well below the 20 000 bytes the custom robot accepts.
pub const MAX_TEXT_CHARS: usize = 5000;
/// Longest platform message copied into an error.
const MAX_DETAIL_CHARS: usize = 300;
/// What a robot that sent more than 20 messages a minute waits: DingTalk blocks it for 10
/// minutes (platforms.md, custom robot limits).
pub const ROBOT_BLOCK: Duration = Duration::from_secs(600);
/// Wait when an answer says "too fast" with no number.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(2);
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Removes marker characters (see [`crate::platform::mention_token`]), control characters
/// other than newlines and tabs, and surrounding whitespace: what a user typed can never
/// carry a mention or a control code.
pub fn clean_text(text: &str) -> String {
    text.chars()
        .filter(|c| !is_token_char(*c) && (!c.is_control() || matches!(c, '\n' | '\t')))
        .collect::<String>()
        .trim()
        .to_owned()
}

/// DingTalk's escape for text content: a zero-width space after every `@`, so that no
/// `@<userId>` or `@所有人` forms from text. The reader sees the same characters.
pub fn escape(text: &str) -> String {
    render::break_after(text, |c| c == '@')
}

/// Whether `user_id` can be listed in `atUserIds` and written as `@<userId>`: a userId's
/// characters only (letters, digits, `_ - .`), so that nothing in it reads as another `@`.
fn mentionable(user_id: &str) -> bool {
    !user_id.is_empty()
        && user_id.len() <= 64
        && user_id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A mention token's name as shown: cleaned, on one line, escaped.
fn shown_name(name: &str) -> String {
    escape(&clean_text(name).replace(char::is_whitespace, " "))
}

/// An outbound text in both forms DingTalk needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// For the sessionWebhook: mentions as `@<userId>`.
    pub session_text: String,
    /// The ids to put in `at.atUserIds`, in order, without repeats.
    pub at_user_ids: Vec<String>,
    /// For the OpenAPI: mentions as `@<name>`.
    pub api_text: String,
}

impl Outgoing {
    /// Renders a text (with mention tokens) in both forms: escaped, with each mention as
    /// `@<userId>` plus an `atUserIds` entry for the sessionWebhook and as `@<name>` for the
    /// OpenAPI. An id of a private chat (`dm:<id>`) mentions the id; an id that cannot be
    /// listed mentions no one.
    pub fn render(text: &str) -> Self {
        let limit = Limit::chars(MAX_TEXT_CHARS);
        let id_of = |user_id: &str| {
            let id = user_id
                .strip_prefix(super::PRIVATE_PREFIX)
                .unwrap_or(user_id);
            mentionable(id).then(|| id.to_owned())
        };
        // A name that cannot be mentioned must not read as an `@<userId>` either.
        let pieces = render::render(text, limit, escape, |user_id, name| match id_of(user_id) {
            Some(id) => format!("@{id}"),
            None => format!("@{}{}", render::ZWSP, shown_name(name)),
        });
        // Only the mentions that made it into the text: DingTalk adds a listed id missing
        // from the text at its end.
        let mut at_user_ids: Vec<String> = Vec::new();
        for id in pieces
            .iter()
            .filter_map(|p| p.mentions.as_deref().and_then(id_of))
        {
            if !at_user_ids.contains(&id) {
                at_user_ids.push(id);
            }
        }
        let session_text: String = pieces.into_iter().map(|p| p.text).collect();
        let api_text = render::render_string(text, limit, escape, |_, name| {
            format!("@{}", shown_name(name))
        });
        Self {
            session_text,
            at_user_ids,
            api_text,
        }
    }

    /// Nothing to say.
    pub fn is_blank(&self) -> bool {
        self.api_text.trim().is_empty()
    }
}

/// The sessionWebhook body: the custom-robot text message.
///
/// <https://open.dingtalk.com/document/orgapp/robot-reply-and-send-messages>
pub fn session_body(out: &Outgoing) -> Value {
    json!({
        "msgtype": "text",
        "text": {"content": out.session_text},
        "at": {"atUserIds": out.at_user_ids, "isAtAll": false},
    })
}

/// `msgParam` of the `sampleText` template: a JSON *string* inside the JSON body
/// (platforms.md pitfall 14).
pub fn sample_text_param(out: &Outgoing) -> String {
    json!({"content": out.api_text}).to_string()
}

/// The body of `POST /v1.0/robot/groupMessages/send`.
///
/// <https://open.dingtalk.com/document/orgapp/the-robot-sends-a-group-message>
pub fn group_body(robot_code: &str, conversation_id: &str, out: &Outgoing) -> Value {
    json!({
        "robotCode": robot_code,
        "openConversationId": conversation_id,
        "msgKey": "sampleText",
        "msgParam": sample_text_param(out),
    })
}

/// The body of `POST /v1.0/robot/oToMessages/batchSend` to one user.
///
/// <https://open.dingtalk.com/document/orgapp/chatbots-send-one-on-one-chat-messages-in-batches>
pub fn private_body(robot_code: &str, user_id: &str, out: &Outgoing) -> Value {
    json!({
        "robotCode": robot_code,
        "userIds": [user_id],
        "msgKey": "sampleText",
        "msgParam": sample_text_param(out),
    })
}

/// The custom-robot style answer of the sessionWebhook.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SessionAnswer {
    errcode: Option<i64>,
    errmsg: Option<String>,
}

/// What a sessionWebhook post came to.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionOutcome {
    /// Delivered.
    Sent,
    /// The session is gone (errcode 300001 or a 404): use the OpenAPI instead.
    Expired,
    /// Anything else, for the outbox.
    Failed(SendError),
}

/// Reads a sessionWebhook answer.
pub fn classify_session(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SessionOutcome {
    let (answer, undecodable) = match serde_json::from_slice::<SessionAnswer>(body) {
        Ok(answer) => (Some(answer), None),
        Err(e) => (None, Some(e)),
    };
    let refused = SendError::permanent("the DingTalk sessionWebhook refused the message");
    let detail = |code: Option<i64>, msg: Option<&str>| {
        let mut d = format!("sessionWebhook HTTP {}", status.as_u16());
        if let Some(code) = code {
            d.push_str(&format!(" errcode {code}"));
        }
        if let Some(msg) = msg {
            d.push_str(": ");
            d.extend(msg.chars().take(MAX_DETAIL_CHARS));
        }
        d
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        return SessionOutcome::Failed(SendError::RateLimited {
            retry_after: retry_after(headers).unwrap_or(DEFAULT_RETRY_AFTER),
        });
    }
    if status == StatusCode::NOT_FOUND {
        return SessionOutcome::Expired;
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        let (code, msg) = answer.map_or((None, None), |a| (a.errcode, a.errmsg));
        return SessionOutcome::Failed(
            SendError::transient("the DingTalk sessionWebhook could not take the message")
                .answered(detail(code, msg.as_deref())),
        );
    }
    let Some(answer) = answer.filter(|_| status.is_success()) else {
        return SessionOutcome::Failed(match undecodable.filter(|_| status.is_success()) {
            // Why the body is no answer is kept under the status.
            Some(e) => SendError::transient("the DingTalk sessionWebhook answer is not JSON")
                .because(Cause::wrap(detail(None, None), Cause::of(&e))),
            None => refused.answered(detail(None, None)),
        });
    };
    match answer.errcode {
        // Some answers leave errcode out on success.
        None | Some(0) => SessionOutcome::Sent,
        // "session 不存在" / "token is not exist": the webhook expired early.
        Some(300_001) => SessionOutcome::Expired,
        // "send too fast, exceed 20 times per minute": the robot is blocked for 10 minutes.
        Some(130_101) => SessionOutcome::Failed(SendError::RateLimited {
            retry_after: ROBOT_BLOCK,
        }),
        // 系统繁忙.
        Some(-1) => SessionOutcome::Failed(
            SendError::transient("the DingTalk sessionWebhook is busy")
                .answered(detail(Some(-1), answer.errmsg.as_deref())),
        ),
        Some(code) => {
            SessionOutcome::Failed(refused.answered(detail(Some(code), answer.errmsg.as_deref())))
        }
    }
}

/// The error body of the new (`api.dingtalk.com`) OpenAPI.
///
/// <https://open.dingtalk.com/document/orgapp/error-code>
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OpenApiError {
    code: Option<String>,
    message: Option<String>,
}

/// The success body of `oToMessages/batchSend`: refused users are listed, not errors.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct BatchSendAnswer {
    invalid_staff_id_list: Vec<String>,
    flow_controlled_staff_id_list: Vec<String>,
}

/// What an OpenAPI call came to.
#[derive(Debug, PartialEq, Eq)]
pub enum ApiOutcome {
    /// Accepted.
    Sent,
    /// The access token was refused: refresh it once and try again.
    InvalidToken(String),
    /// Anything else, for the outbox.
    Failed(SendError),
}

/// Whether an error code names throttling (`Throttling`, `…QpsLimitForApi`,
/// `…QpmLimitForAppkeyAndApi`, …).
fn is_throttle_code(code: &str) -> bool {
    let lower = code.to_ascii_lowercase();
    lower.contains("throttl")
        || lower.contains("qpslimit")
        || lower.contains("qpmlimit")
        || lower.contains("flowcontrol")
        || lower.contains("toomanyrequests")
}

/// Whether an error names a bad or expired access token.
fn is_token_error(code: &str, message: &str) -> bool {
    let lower = code.to_ascii_lowercase();
    lower.contains("invalidauthentication")
        || lower.contains("invalidaccesstoken")
        || lower.contains("accesstokenexpired")
        || (message.contains("access_token")
            && (message.contains("不合法") || message.to_ascii_lowercase().contains("invalid")))
}

/// Reads an OpenAPI answer (robot sends, HTTP status first, then the error code).
pub fn classify_api(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiOutcome {
    if status.is_success() {
        // batchSend answers 200 and lists the users it refused.
        if let Ok(batch) = serde_json::from_slice::<BatchSendAnswer>(body) {
            if !batch.flow_controlled_staff_id_list.is_empty() {
                return ApiOutcome::Failed(SendError::RateLimited {
                    retry_after: DEFAULT_RETRY_AFTER,
                });
            }
            if !batch.invalid_staff_id_list.is_empty() {
                return ApiOutcome::Failed(SendError::permanent(
                    "the user cannot receive robot messages (invalidStaffIdList)",
                ));
            }
        }
        return ApiOutcome::Sent;
    }
    let error: OpenApiError = serde_json::from_slice(body).unwrap_or_default();
    let code = error.code.unwrap_or_default();
    let message = error.message.unwrap_or_default();
    let mut detail = format!("HTTP {}", status.as_u16());
    if !code.is_empty() {
        detail.push(' ');
        detail.extend(code.chars().take(MAX_DETAIL_CHARS));
    }
    if !message.is_empty() {
        detail.push_str(": ");
        detail.extend(message.chars().take(MAX_DETAIL_CHARS));
    }
    if status == StatusCode::TOO_MANY_REQUESTS || is_throttle_code(&code) {
        return ApiOutcome::Failed(SendError::RateLimited {
            retry_after: retry_after(headers).unwrap_or(DEFAULT_RETRY_AFTER),
        });
    }
    if status == StatusCode::UNAUTHORIZED || is_token_error(&code, &message) {
        return ApiOutcome::InvalidToken(detail);
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        ApiOutcome::Failed(
            SendError::transient("the DingTalk OpenAPI could not take the call").answered(detail),
        )
    } else {
        // 400 bad conversation, 403 robot not in the group or no permission, 404.
        ApiOutcome::Failed(
            SendError::permanent("the DingTalk OpenAPI refused the call").answered(detail),
        )
    }
}

/// `POST /v1.0/oauth2/accessToken` answer.
///
/// <https://open.dingtalk.com/document/orgapp/obtain-the-access_token-of-an-internal-app>
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer {
    access_token: String,
    expire_in: i64,
}

/// Reads the token endpoint's answer: the token and its lifetime.
pub fn classify_token(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Duration), SendError> {
    let no_token = SendError::transient("DingTalk's token answer has no token");
    if status.is_success() {
        return match serde_json::from_slice::<TokenAnswer>(body) {
            Ok(t) if !t.access_token.is_empty() => {
                let life = u64::try_from(t.expire_in).unwrap_or(0).clamp(60, 7200);
                Ok((t.access_token, Duration::from_secs(life)))
            }
            Ok(_) => Err(no_token.answered("the accessToken is empty")),
            Err(e) => Err(no_token.because(Cause::of(&e))),
        };
    }
    match classify_api(status, headers, body) {
        // A 401 from the token endpoint means the app key or secret is wrong.
        ApiOutcome::InvalidToken(detail) => {
            Err(SendError::permanent("DingTalk refused the app key or secret").answered(detail))
        }
        ApiOutcome::Failed(e) => Err(e.within("the DingTalk access token could not be fetched")),
        ApiOutcome::Sent => Err(no_token),
    }
}

/// A `Retry-After` header in seconds, clamped to one hour.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).clamp(Duration::from_secs(1), MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    use crate::platform::mention_token;

    #[test]
    fn mentions_render_as_user_ids_on_the_session_and_names_on_the_api() {
        let text = format!(
            "{} 请审批 {} 的申请，{}",
            mention_token("manager0001", "王书记"),
            mention_token("user02", "李 四"),
            mention_token("dm:manager0001", "王书记"),
        );
        let out = Outgoing::render(&text);
        assert_eq!(
            out.session_text,
            "@manager0001 请审批 @user02 的申请，@manager0001"
        );
        assert_eq!(out.api_text, "@王书记 请审批 @李 四 的申请，@王书记");
        assert_eq!(out.at_user_ids, ["manager0001", "user02"]);
    }

    #[test]
    fn typed_at_signs_and_broken_tokens_mention_no_one() {
        // A user-typed @id is broken for the reader's client and listed nowhere; marker
        // characters smuggled in are removed.
        let out = Outgoing::render("@manager0001 你好 @所有人 \u{FDE0}x\u{FDE1}y");
        assert!(out.at_user_ids.is_empty());
        assert_eq!(
            out.session_text,
            "@\u{200B}manager0001 你好 @\u{200B}所有人 xy"
        );
        // A token cut in half by a digest.
        let cut: String = mention_token("u1", "张三").chars().take(3).collect();
        let out = Outgoing::render(&format!("提醒 {cut}"));
        assert!(out.at_user_ids.is_empty());
        assert_eq!(out.api_text, "提醒 u1");
        // An id that cannot be listed falls back to the name.
        let out = Outgoing::render(&mention_token("a b", "张@三"));
        assert!(out.at_user_ids.is_empty());
        assert_eq!(out.session_text, "@\u{200B}张@\u{200B}三");
        assert_eq!(clean_text(" \u{FDD0}a\u{0}b\u{FDEF}\n "), "ab");
    }

    #[test]
    fn long_texts_are_cut_and_a_mention_cut_off_is_not_listed() {
        let out = Outgoing::render(&"字".repeat(MAX_TEXT_CHARS + 10));
        assert_eq!(out.api_text.chars().count(), MAX_TEXT_CHARS);
        assert!(out.api_text.ends_with('…'));
        let late = format!(
            "{}{}",
            "字".repeat(MAX_TEXT_CHARS),
            mention_token("u9", "张三")
        );
        let out = Outgoing::render(&late);
        assert!(out.at_user_ids.is_empty(), "{:?}", out.at_user_ids);
    }

    #[test]
    fn msg_param_is_a_json_string() {
        let out = Outgoing::render("含\"引号\"和\n换行");
        let body = group_body("dingrobot", "cid1==", &out);
        let param = body["msgParam"].as_str().unwrap();
        let inner: Value = serde_json::from_str(param).unwrap();
        assert_eq!(inner, json!({"content": "含\"引号\"和\n换行"}));
        assert_eq!(body["msgKey"], "sampleText");
        assert_eq!(private_body("r", "u1", &out)["userIds"], json!(["u1"]));
    }

    fn no_headers() -> HeaderMap {
        HeaderMap::new()
    }

    #[test]
    fn session_answers_are_classified() {
        let h = no_headers();
        let c = |status: u16, body: &str| {
            classify_session(StatusCode::from_u16(status).unwrap(), &h, body.as_bytes())
        };
        assert_eq!(
            c(200, r#"{"errcode":0,"errmsg":"ok"}"#),
            SessionOutcome::Sent
        );
        assert_eq!(c(200, "{}"), SessionOutcome::Sent);
        assert_eq!(
            c(200, r#"{"errcode":300001,"errmsg":"session 不存在"}"#),
            SessionOutcome::Expired
        );
        assert_eq!(
            c(
                200,
                r#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#
            ),
            SessionOutcome::Failed(SendError::RateLimited {
                retry_after: ROBOT_BLOCK
            })
        );
        assert!(matches!(
            c(200, r#"{"errcode":-1,"errmsg":"系统繁忙"}"#),
            SessionOutcome::Failed(SendError::Transient { .. })
        ));
        assert_eq!(
            c(200, r#"{"errcode":400013,"errmsg":"群已被解散"}"#),
            SessionOutcome::Failed(
                SendError::permanent("the DingTalk sessionWebhook refused the message")
                    .answered("sessionWebhook HTTP 200 errcode 400013: 群已被解散")
            )
        );
        assert!(matches!(
            c(502, "<html>"),
            SessionOutcome::Failed(SendError::Transient { .. })
        ));
        // Not JSON: the decoding error says why, under the status.
        let SessionOutcome::Failed(e @ SendError::Transient { .. }) = c(200, "<html>") else {
            panic!("not transient");
        };
        assert_eq!(
            crate::error::chain(&e),
            "transient: the DingTalk sessionWebhook answer is not JSON: sessionWebhook HTTP 200: \
             expected value at line 1 column 1"
        );
        assert!(matches!(
            c(403, ""),
            SessionOutcome::Failed(SendError::Permanent { .. })
        ));
        assert_eq!(c(404, ""), SessionOutcome::Expired);
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(
            classify_session(StatusCode::TOO_MANY_REQUESTS, &h, b""),
            SessionOutcome::Failed(SendError::RateLimited {
                retry_after: Duration::from_secs(7)
            })
        );
    }

    #[test]
    fn api_answers_are_classified() {
        let h = no_headers();
        let c = |status: u16, body: &str| {
            classify_api(StatusCode::from_u16(status).unwrap(), &h, body.as_bytes())
        };
        assert_eq!(c(200, r#"{"processQueryKey":"abc"}"#), ApiOutcome::Sent);
        assert_eq!(
            c(
                200,
                r#"{"processQueryKey":"abc","invalidStaffIdList":[],"flowControlledStaffIdList":[]}"#
            ),
            ApiOutcome::Sent
        );
        assert!(matches!(
            c(
                200,
                r#"{"processQueryKey":"a","invalidStaffIdList":["u9"]}"#
            ),
            ApiOutcome::Failed(SendError::Permanent { .. })
        ));
        assert!(matches!(
            c(
                200,
                r#"{"processQueryKey":"a","flowControlledStaffIdList":["u9"]}"#
            ),
            ApiOutcome::Failed(SendError::RateLimited { .. })
        ));
        for throttled in [
            (429, r#"{"code":"Throttling","message":"too fast"}"#),
            (
                403,
                r#"{"code":"Forbidden.AccessDenied.QpsLimitForApi","message":"qps"}"#,
            ),
            (
                403,
                r#"{"code":"Forbidden.AccessDenied.QpmLimitForAppkeyAndApi","message":"qpm"}"#,
            ),
        ] {
            assert_eq!(
                c(throttled.0, throttled.1),
                ApiOutcome::Failed(SendError::RateLimited {
                    retry_after: DEFAULT_RETRY_AFTER
                }),
                "{throttled:?}"
            );
        }
        for invalid in [
            (
                401,
                r#"{"code":"InvalidAuthentication","message":"不合法的access_token"}"#,
            ),
            (400, r#"{"code":"InvalidAccessToken","message":"x"}"#),
            (
                400,
                r#"{"code":"","message":"Invalid access_token request id: 53"}"#,
            ),
            (401, ""),
        ] {
            assert!(
                matches!(c(invalid.0, invalid.1), ApiOutcome::InvalidToken(_)),
                "{invalid:?}"
            );
        }
        assert!(matches!(
            c(500, r#"{"code":"ServiceUnavailable","message":"x"}"#),
            ApiOutcome::Failed(e) if e == SendError::transient("the DingTalk OpenAPI could not take the call")
                .answered("HTTP 500 ServiceUnavailable: x")
        ));
        assert!(matches!(
            c(400, r#"{"code":"invalidParameter.openConversationId","message":"群不存在"}"#),
            ApiOutcome::Failed(e @ SendError::Permanent { .. }) if crate::error::chain(&e).contains("群不存在")
        ));
    }

    #[test]
    fn token_answers_are_classified() {
        let h = no_headers();
        assert_eq!(
            classify_token(
                StatusCode::OK,
                &h,
                br#"{"accessToken":"t1","expireIn":7200}"#
            ),
            Ok(("t1".to_owned(), Duration::from_secs(7200)))
        );
        assert!(matches!(
            classify_token(StatusCode::OK, &h, br#"{"accessToken":"","expireIn":7200}"#),
            Err(SendError::Transient { .. })
        ));
        assert!(matches!(
            classify_token(
                StatusCode::BAD_REQUEST,
                &h,
                r#"{"code":"invalidClientIdOrSecret","message":"无效的clientId或者clientSecret"}"#
                    .as_bytes()
            ),
            Err(e @ SendError::Permanent { .. })
                if crate::error::chain(&e).starts_with(
                    "permanent: the DingTalk access token could not be fetched: \
                     the DingTalk OpenAPI refused the call: HTTP 400 invalidClientIdOrSecret"
                )
        ));
        assert!(matches!(
            classify_token(StatusCode::UNAUTHORIZED, &h, b""),
            Err(SendError::Permanent { .. })
        ));
        assert!(matches!(
            classify_token(StatusCode::SERVICE_UNAVAILABLE, &h, b""),
            Err(SendError::Transient { .. })
        ));
    }
}
