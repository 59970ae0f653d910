use axum::{
    body::{Bytes, to_bytes},
    http::{HeaderMap, HeaderValue},
};

use super::*;
use crate::error::chain;

const SECRET: &str = "onebot-secret";
const SELF_ID: i64 = 10001;
const GROUP: i64 = 734_512_009;

fn settings(reply: OnebotReply) -> OnebotBot {
    OnebotBot {
        secret: Some(Secret::new(SECRET)),
        access_token: Some(Secret::new("ob-access-token")),
        api_base: "http://127.0.0.1:9/".to_owned(),
        reply,
        names: Vec::new(),
        limits: None,
    }
}

fn adapter() -> OnebotAdapter {
    OnebotAdapter::new("qq", &settings(OnebotReply::Quick), reqwest::Client::new()).unwrap()
}

fn api_adapter() -> OnebotAdapter {
    OnebotAdapter::new("qq", &settings(OnebotReply::Api), reqwest::Client::new()).unwrap()
}

fn signed(signature: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(s) = signature {
        h.insert(SIGNATURE_HEADER, HeaderValue::from_str(s).unwrap());
    }
    h
}

fn parse_with(a: &OnebotAdapter, body: &[u8]) -> Result<Inbound, PlatformError> {
    let headers = HeaderMap::new();
    let body = Bytes::copy_from_slice(body);
    a.parse(InboundRequest::post(&headers, &body))
}

fn event_of(a: &OnebotAdapter, body: &Value) -> InboundEvent {
    match parse_with(a, body.to_string().as_bytes()) {
        Ok(Inbound::Event(e)) => e,
        other => panic!("expected an event from {body}: {other:?}"),
    }
}

fn event(body: &Value) -> InboundEvent {
    event_of(&adapter(), body)
}

/// A group message as NapCat posts it (array format).
fn group_message(message_id: i64, message: Value) -> Value {
    json!({
        "self_id": SELF_ID, "user_id": 2_233_445_566_i64, "time": 1_767_225_600,
        "message_id": message_id, "message_seq": message_id, "real_id": message_id,
        "message_type": "group",
        "sender": {"user_id": 2_233_445_566_i64, "nickname": "小张", "card": "张三",
                   "role": "member"},
        "raw_message": "", "font": 14, "sub_type": "normal",
        "message": message, "message_format": "array", "post_type": "message",
        "group_id": GROUP,
    })
}

async fn response_parts(response: Response) -> (StatusCode, Option<String>, Bytes) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        status,
        content_type,
        to_bytes(response.into_body(), 1 << 20).await.unwrap(),
    )
}

// The expected signatures below were computed once, independently, with Python:
//   hmac.new(key, msg, hashlib.sha1).hexdigest()
// (Python 3 standard library), and are hard-coded here on purpose.
const PY_VECTORS: [(&[u8], &[u8], &str); 4] = [
    (
        b"onebot-secret",
        br#"{"post_type":"meta_event","meta_event_type":"heartbeat","self_id":10001,"time":1767225600}"#,
        "b43824cb284f7518cb109f7366f82b31203e6a53",
    ),
    (
        b"key",
        b"The quick brown fox jumps over the lazy dog",
        "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9",
    ),
    // An empty message under an empty key (the adapter refuses an empty secret, but the
    // primitive must still agree with Python).
    (b"", b"", "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d"),
    (
        "群密钥".as_bytes(),
        r#"{"message":"帮助"}"#.as_bytes(),
        "6a8c92e3273adcde6db5134f4d8a28b9652b520e",
    ),
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn hmac_sha1_matches_independently_computed_python_vectors() {
    for (key, msg, expected) in PY_VECTORS {
        let mut mac = HmacSha1::new_from_slice(key).unwrap();
        mac.update(msg);
        assert_eq!(hex(&mac.finalize().into_bytes()), expected);
    }
}

#[test]
fn verify_accepts_the_signature_in_either_hex_case() {
    let (_, body, lower) = PY_VECTORS[0];
    let a = adapter();
    let body = Bytes::from_static(body);
    for header in [
        format!("sha1={lower}"),
        format!("sha1={}", lower.to_uppercase()),
        format!("SHA1={lower}"),
    ] {
        let headers = signed(Some(&header));
        assert!(
            a.verify(InboundRequest::post(&headers, &body)).is_ok(),
            "{header}"
        );
    }
}

#[test]
fn verify_refuses_missing_malformed_and_wrong_signatures() {
    let (_, body, good) = PY_VECTORS[0];
    let a = adapter();
    let check = |header: Option<&str>, body: &[u8]| {
        let headers = signed(header);
        let body = Bytes::copy_from_slice(body);
        a.verify(InboundRequest::post(&headers, &body))
    };
    assert!(matches!(
        check(None, body),
        Err(PlatformError::Unauthenticated("missing_signature"))
    ));
    let flipped = format!("sha1={}0", &good[..39]);
    let bad = [
        String::new(),
        good.to_owned(),
        format!("sha256={good}"),
        format!("sha1={}", &good[..38]),
        format!("sha1={good}00"),
        format!("sha1= {good}"),
        format!("sha1={}zz", &good[..38]),
        flipped,
        // The right HMAC under another key.
        "sha1=de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9".to_owned(),
    ];
    for header in &bad {
        assert!(
            matches!(
                check(Some(header), body),
                Err(PlatformError::Unauthenticated("bad_signature"))
            ),
            "{header}"
        );
    }
    // The right signature over a body changed by one byte, or re-serialised.
    let mut tampered = body.to_vec();
    tampered[20] ^= 1;
    let good_header = format!("sha1={good}");
    assert!(check(Some(&good_header), &tampered).is_err());
    let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(body).unwrap()).unwrap();
    assert_ne!(reserialised, body);
    assert!(check(Some(&good_header), &reserialised).is_err());
}

#[test]
fn an_empty_or_missing_secret_is_refused_at_construction() {
    for secret in [None, Some(Secret::new(""))] {
        let mut s = settings(OnebotReply::Quick);
        s.secret = secret;
        let e = OnebotAdapter::new("qq", &s, reqwest::Client::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bots.qq.secret: required and must not be empty"
        );
    }
    let mut s = settings(OnebotReply::Quick);
    s.access_token = Some(Secret::new(""));
    let a = OnebotAdapter::new("qq", &s, reqwest::Client::new()).unwrap();
    assert!(a.access_token.is_none());
    assert_eq!(a.api_base, "http://127.0.0.1:9");
    assert_eq!(a.limits(), DEFAULT_LIMITS);
}

#[test]
fn group_and_private_text_messages_parse_into_events() {
    struct Case {
        what: &'static str,
        body: Value,
        chat: &'static str,
        kind: ChatKind,
        text: &'static str,
        mentioned: bool,
        name: Option<&'static str>,
    }
    let mut private = json!({
        "time": 1_767_225_601, "self_id": SELF_ID, "post_type": "message",
        "message_type": "private", "sub_type": "friend", "message_id": -2_147_000_001_i64,
        "user_id": 2_233_445_566_i64, "message": "&#91;帮助&#93;", "raw_message": "&#91;帮助&#93;",
        "font": 0, "sender": {"user_id": 2_233_445_566_i64, "nickname": "小张", "sex": "unknown"}});
    let cases = [
        Case {
            what: "array, mention first",
            body: group_message(
                101,
                json!([{"type": "at", "data": {"qq": "10001"}},
                       {"type": "text", "data": {"text": " 帮助"}}]),
            ),
            chat: "734512009",
            kind: ChatKind::Group,
            text: "帮助",
            mentioned: true,
            name: Some("张三"),
        },
        Case {
            what: "array, no mention",
            body: group_message(102, json!([{"type": "text", "data": {"text": "签到"}}])),
            chat: "734512009",
            kind: ChatKind::Group,
            text: "签到",
            mentioned: false,
            name: Some("张三"),
        },
        Case {
            what: "CQ string, reply and mention",
            body: group_message(
                103,
                json!("[CQ:reply,id=99][CQ:at,qq=10001] 加入 李&amp;四"),
            ),
            chat: "734512009",
            kind: ChatKind::Group,
            text: "加入 李&四",
            mentioned: true,
            name: Some("张三"),
        },
        Case {
            what: "mention of someone else kept as text",
            body: group_message(
                104,
                json!([{"type": "at", "data": {"qq": "555", "name": "王五"}},
                       {"type": "text", "data": {"text": "帮助"}}]),
            ),
            chat: "734512009",
            kind: ChatKind::Group,
            text: "@王五 帮助",
            mentioned: false,
            name: Some("张三"),
        },
        Case {
            what: "private, CQ string escapes",
            body: private.clone(),
            chat: "dm:2233445566",
            kind: ChatKind::Private,
            text: "[帮助]",
            mentioned: false,
            name: Some("小张"),
        },
        Case {
            what: "only the bot mentioned",
            body: group_message(105, json!([{"type": "at", "data": {"qq": 10001}}])),
            chat: "734512009",
            kind: ChatKind::Group,
            text: "",
            mentioned: true,
            name: Some("张三"),
        },
    ];
    for case in cases {
        let e = event(&case.body);
        assert_eq!(e.chat.chat_id, case.chat, "{}", case.what);
        assert_eq!(e.chat.platform, PlatformKind::Onebot);
        assert_eq!(e.chat.bot, "qq");
        assert_eq!(e.chat_kind, case.kind, "{}", case.what);
        assert_eq!(e.text, case.text, "{}", case.what);
        assert_eq!(e.mentioned, case.mentioned, "{}", case.what);
        assert_eq!(e.sender_id, "2233445566", "{}", case.what);
        assert_eq!(e.sender_name.as_deref(), case.name, "{}", case.what);
        assert!(e.context.is_none());
    }

    // Ids: account, message id and time, so that instances that restart their counters or
    // wrap int32 do not collide.
    let e = event(&private);
    assert_eq!(e.message_id, "10001:-2147000001:1767225601");
    assert_eq!(e.sent_at, DateTime::<Utc>::from_timestamp(1_767_225_601, 0));

    // `message` missing: `raw_message` is read; ids as strings are accepted.
    private["message"] = Value::Null;
    private["raw_message"] = json!("[CQ:at,qq=10001]帮助");
    private["user_id"] = json!("2233445566");
    private["message_id"] = json!("abc-1");
    let e = event(&private);
    assert_eq!((e.text.as_str(), e.mentioned), ("帮助", true));
    assert_eq!(e.message_id, "10001:abc-1:1767225601");
}

#[test]
fn the_display_name_is_the_card_then_the_nickname() {
    let mut body = group_message(110, json!("帮助"));
    for (sender, expected) in [
        (json!({"card": "张三", "nickname": "小张"}), Some("张三")),
        (json!({"card": "", "nickname": "小张"}), Some("小张")),
        (json!({"card": "  ", "nickname": " 小张 "}), Some("小张")),
        (json!({"card": null, "nickname": "小张"}), Some("小张")),
        (json!({"nickname": "a\u{0}b"}), Some("ab")),
        (json!({"card": "[CQ:at,qq=1]"}), Some("[CQ:at,qq=1]")),
        (json!({}), None),
        (Value::Null, None),
    ] {
        body["sender"] = sender.clone();
        assert_eq!(event(&body).sender_name.as_deref(), expected, "{sender}");
    }
    body["sender"] = json!({"card": "长".repeat(200)});
    assert_eq!(
        event(&body).sender_name.map(|n| n.chars().count()),
        Some(MAX_NAME_CHARS)
    );
}

#[test]
fn typed_cq_codes_are_read_verbatim_and_go_back_as_text() {
    let e = event(&group_message(
        111,
        json!([{"type": "text", "data": {"text": "加入 [CQ:at,qq=1]"}}]),
    ));
    assert_eq!(e.text, "加入 [CQ:at,qq=1]");
    let e = event(&group_message(112, json!("加入 &#91;CQ:at,qq=1&#93;")));
    assert_eq!(e.text, "加入 [CQ:at,qq=1]");
    // Quoted back in a reply, it is a text segment, never an `at`.
    assert_eq!(
        cq::segments(&e.text, true),
        vec![json!({"type": "text", "data": {"text": "加入 [CQ:at,qq=1]"}})]
    );
}

#[tokio::test]
async fn events_we_do_not_act_on_get_204() {
    let lifecycle = json!({"time": 1_767_225_600, "self_id": SELF_ID, "post_type": "meta_event",
        "meta_event_type": "lifecycle", "sub_type": "connect"});
    let heartbeat = json!({"time": 1_767_225_600, "self_id": SELF_ID, "post_type": "meta_event",
        "meta_event_type": "heartbeat", "status": {"online": true, "good": true}, "interval": 30000});
    let notice = json!({"time": 1, "self_id": SELF_ID, "post_type": "notice",
        "notice_type": "group_increase", "sub_type": "approve", "group_id": GROUP,
        "operator_id": 1, "user_id": 2});
    let request = json!({"time": 1, "self_id": SELF_ID, "post_type": "request",
        "request_type": "friend", "user_id": 2, "comment": "hi", "flag": "f"});
    let sent = json!({"time": 1, "self_id": SELF_ID, "post_type": "message_sent",
        "message_type": "group", "message_id": 1, "user_id": SELF_ID, "group_id": GROUP,
        "message": "帮助"});
    let image = group_message(
        120,
        json!([{"type": "image", "data": {"file": "a.jpg", "url": "https://x"}}]),
    );
    let face = group_message(121, json!("[CQ:face,id=178]"));
    let blank = group_message(122, json!([{"type": "text", "data": {"text": "  "}}]));
    let empty = group_message(123, json!([]));
    let mut anonymous = group_message(124, json!("帮助"));
    anonymous["sub_type"] = json!("anonymous");
    anonymous["anonymous"] = json!({"id": 1, "name": "匿名", "flag": "x"});
    let mut system = group_message(125, json!("帮助"));
    system["sub_type"] = json!("notice");
    let mut own = group_message(126, json!("帮助"));
    own["user_id"] = json!(SELF_ID);
    let mut guild = group_message(127, json!("帮助"));
    guild["message_type"] = json!("guild");
    let at_all = group_message(
        128,
        json!([{"type": "at", "data": {"qq": "all"}}, {"type": "image", "data": {}}]),
    );
    for (what, body) in [
        ("lifecycle", lifecycle),
        ("heartbeat", heartbeat),
        ("notice", notice),
        ("request", request),
        ("message_sent", sent),
        ("image only", image),
        ("face only", face),
        ("blank text", blank),
        ("empty array", empty),
        ("anonymous", anonymous),
        ("system notice", system),
        ("own message", own),
        ("guild", guild),
        ("@all and an image", at_all),
    ] {
        let Ok(Inbound::Immediate(response)) = parse_with(&adapter(), body.to_string().as_bytes())
        else {
            panic!("{what}: expected an immediate answer")
        };
        let (status, _, bytes) = response_parts(response).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{what}");
        assert!(bytes.is_empty(), "{what}");
    }
}

#[test]
fn malformed_bodies_name_the_problem() {
    let mut no_group = group_message(130, json!("帮助"));
    no_group.as_object_mut().unwrap().remove("group_id");
    let mut bad_user = group_message(131, json!("帮助"));
    bad_user["user_id"] = json!("alice");
    let mut negative_group = group_message(132, json!("帮助"));
    negative_group["group_id"] = json!(-5);
    let mut bad_message = group_message(133, json!("帮助"));
    bad_message["message"] = json!(42);
    let mut no_message_id = group_message(134, json!("帮助"));
    no_message_id.as_object_mut().unwrap().remove("message_id");
    let mut long_id = group_message(135, json!("帮助"));
    long_id["message_id"] = json!("x".repeat(65));
    for (body, needle) in [
        (b"".to_vec(), "EOF"),
        (b"{\"post_type\": ".to_vec(), "EOF"),
        (b"[1,2]".to_vec(), "invalid type"),
        (b"{}".to_vec(), "post_type"),
        (br#"{"post_type": 1}"#.to_vec(), "post_type"),
        (br#"{"post_type": "meta_event"} x"#.to_vec(), "trailing"),
        (
            br#"{"post_type": "message", "message_type": "group"}"#.to_vec(),
            "self_id",
        ),
        (no_group.to_string().into_bytes(), "group_id"),
        (bad_user.to_string().into_bytes(), "user_id"),
        (negative_group.to_string().into_bytes(), "group_id"),
        (bad_message.to_string().into_bytes(), "message"),
        (no_message_id.to_string().into_bytes(), "message_id"),
        (long_id.to_string().into_bytes(), "message_id"),
        (b"{\"post_type\": \"mess\xffage\"}".to_vec(), "unicode"),
    ] {
        match parse_with(&adapter(), &body) {
            Err(PlatformError::Malformed(m)) => assert!(m.contains(needle), "{m} / {needle}"),
            other => panic!("{}: {other:?}", String::from_utf8_lossy(&body)),
        }
    }
}

fn replies(chats: &[(&str, &str)]) -> Vec<Reply> {
    chats
        .iter()
        .map(|(c, t)| Reply {
            chat_id: (*c).to_owned(),
            text: (*t).to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn quick_mode_answers_the_first_reply_inline_without_at_sender() {
    let a = adapter();
    let e = event(&group_message(140, json!("帮助")));
    let mention = crate::platform::mention_token("2233445566", "张三");
    let rendered = a.render_replies(
        &e,
        &replies(&[
            ("dm:2233445566", "私聊内容"),
            ("734512009", ""),
            ("734512009", &format!("{mention} 第一条 [CQ:image,file=x]")),
            ("734512009", "第二条"),
        ]),
    );
    let (status, content_type, bytes) = response_parts(rendered.response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        body,
        json!({"reply": [
            {"type": "at", "data": {"qq": "2233445566"}},
            {"type": "text", "data": {"text": " 第一条 [CQ:image,file=x]"}},
        ], "at_sender": false})
    );
    assert_eq!(
        rendered.deferred,
        replies(&[("dm:2233445566", "私聊内容"), ("734512009", "第二条")])
    );

    let rendered = a.render_replies(&e, &[]);
    assert!(rendered.deferred.is_empty());
    assert_eq!(rendered.response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn api_mode_defers_every_reply_and_answers_204() {
    let a = api_adapter();
    let e = event_of(&a, &group_message(141, json!("帮助")));
    let all = replies(&[("734512009", "第一条"), ("734512009", "第二条")]);
    let rendered = a.render_replies(&e, &all);
    assert_eq!(rendered.deferred, all);
    let (status, _, bytes) = response_parts(rendered.response).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(bytes.is_empty());
}

#[test]
fn api_answers_are_classified_for_the_outbox() {
    let ok = |body: &str| classify_response(StatusCode::OK, None, body.as_bytes());
    assert_eq!(
        ok(r#"{"status":"ok","retcode":0,"data":{"message_id":123}}"#),
        Ok(())
    );
    assert_eq!(ok(r#"{"status":"async","retcode":1,"data":null}"#), Ok(()));
    assert_eq!(ok(r#"{"retcode":0}"#), Ok(()));
    let refused = "permanent: the OneBot implementation refused the message";
    let not_sent = "transient: the OneBot implementation could not send the message";
    let no_answer = "transient: the OneBot answer is not an action answer: HTTP 200";
    for (body, expected) in [
        (
            r#"{"status":"failed","retcode":1400,"wording":"参数错误"}"#,
            format!("{refused}: retcode 1400: 参数错误"),
        ),
        (
            r#"{"status":"failed","retcode":1404,"message":"不支持的Api"}"#,
            format!("{refused}: retcode 1404: 不支持的Api"),
        ),
        (
            r#"{"status":"failed","retcode":100,"msg":"SEND_MSG_API_ERROR","wording":"请参考 go-cqhttp 端输出"}"#,
            format!("{not_sent}: retcode 100: 请参考 go-cqhttp 端输出"),
        ),
        (
            r#"{"status":"failed","retcode":200,"message":"发送失败"}"#,
            format!("{not_sent}: retcode 200: 发送失败"),
        ),
        // Not JSON at all: the decoding error says why.
        (
            "not json",
            format!("{no_answer}: expected ident at line 1 column 2"),
        ),
        (r#"{"status":"failed"}"#, no_answer.to_owned()),
    ] {
        let outcome = ok(body);
        assert_eq!(
            outcome.as_ref().map_err(|e| chain(e)),
            Err(expected),
            "{body}"
        );
        // The classification is the variant: the text's prefix is its Display.
        let retried = outcome.is_err_and(|e| e.is_retryable());
        assert_eq!(retried, !body.contains("140"), "{body}");
    }
    let fails = |status: StatusCode| {
        classify_response(status, None, b"")
            .map_err(|e| chain(&e))
            .err()
            .unwrap_or_default()
    };
    assert_eq!(
        fails(StatusCode::UNAUTHORIZED),
        "permanent: the OneBot implementation asks for an access token: set access_token for \
         this bot: HTTP 401"
    );
    assert!(
        fails(StatusCode::FORBIDDEN)
            .starts_with("permanent: the OneBot implementation refused the access token"),
        "{}",
        fails(StatusCode::FORBIDDEN)
    );
    assert!(fails(StatusCode::NOT_FOUND).contains("check api_base: HTTP 404"));
    assert!(matches!(
        classify_response(StatusCode::BAD_REQUEST, None, b""),
        Err(SendError::Permanent { .. })
    ));
    for status in [
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::BAD_GATEWAY,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::PERMANENT_REDIRECT,
    ] {
        assert!(matches!(
            classify_response(status, None, b"<html/>"),
            Err(SendError::Transient { .. })
        ));
    }
    for (given, expected) in [(None, 5), (Some(0), 1), (Some(7), 7), (Some(99_999), 3600)] {
        assert_eq!(
            classify_response(
                StatusCode::TOO_MANY_REQUESTS,
                given.map(Duration::from_secs),
                b""
            ),
            Err(SendError::RateLimited {
                retry_after: Duration::from_secs(expected)
            })
        );
    }
}

#[test]
fn the_access_token_never_reaches_an_error_text() {
    let a = adapter();
    assert_eq!(
        a.redact("Bearer ob-access-token refused"),
        "Bearer <access_token> refused"
    );
}

#[tokio::test]
async fn sends_refuse_chat_ids_that_are_not_onebot_ones() {
    let a = adapter();
    for chat_id in ["oc_123", "dm:alice", "-5", "", "dm:"] {
        let message = OutboundMessage {
            chat_id: chat_id.to_owned(),
            text: "hi".to_owned(),
            idempotency_key: "k".to_owned(),
            context: None,
        };
        assert!(
            matches!(a.send(&message).await, Err(SendError::Permanent { .. })),
            "{chat_id}"
        );
    }
    let empty = OutboundMessage {
        chat_id: "734512009".to_owned(),
        text: "  ".to_owned(),
        idempotency_key: "k".to_owned(),
        context: None,
    };
    assert_eq!(
        a.send(&empty).await,
        Err(SendError::permanent("the message text is empty"))
    );
}

/// A small deterministic generator, so that a failure reproduces.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

/// Iterations of the fuzz loop; each checks three inputs.
const FUZZ_ROUNDS: usize = 4000;

#[test]
fn no_bytes_make_verify_parse_or_render_panic() {
    let quick = adapter();
    let api = api_adapter();
    let mut rng = XorShift(0x0B0B_0B11_D00D_F00D);
    let seeds: Vec<Vec<u8>> = [
        group_message(
            1,
            json!([{"type": "at", "data": {"qq": "10001"}},
                   {"type": "text", "data": {"text": " 加入 张三"}},
                   {"type": "at", "data": {"qq": 42, "name": "李"}}]),
        ),
        group_message(2, json!("[CQ:reply,id=1][CQ:at,qq=10001] 帮助 &#91;x&#93;")),
        json!({"post_type": "message", "message_type": "private", "self_id": "10001",
               "user_id": 7, "message_id": "m", "raw_message": "[CQ:at,qq=10001,name=a&#44;b]签到"}),
        json!({"post_type": "meta_event", "meta_event_type": "heartbeat", "self_id": 10001}),
    ]
    .iter()
    .map(|v| v.to_string().into_bytes())
    .collect();
    let fragments: [&str; 10] = [
        "[CQ:",
        "[CQ:at,qq=10001]",
        "]",
        "&#91;",
        "&amp;",
        ",",
        "[CQ:at,qq=",
        "😀",
        "\u{0}",
        "&#",
    ];

    let check = |bytes: &[u8], header: &str| {
        let headers = signed(HeaderValue::from_str(header).ok().map(|_| header));
        let body = Bytes::copy_from_slice(bytes);
        for a in [&quick, &api] {
            let request = InboundRequest::post(&headers, &body);
            let _ = a.verify(request);
            if let Ok(Inbound::Event(e)) = a.parse(request) {
                let mention = crate::platform::mention_token(&e.sender_id, &e.text);
                let reply = Reply {
                    chat_id: e.chat.chat_id.clone(),
                    text: format!("{mention}{}", e.text),
                };
                let rendered = a.render_replies(&e, &[reply.clone(), reply]);
                for r in rendered.deferred {
                    let _ = cq::segments(&r.text, true);
                    let _ = cq::segments(&r.text, false);
                }
            }
        }
    };

    let started = std::time::Instant::now();
    for _ in 0..FUZZ_ROUNDS {
        // Random bytes, with a random header.
        let len = rng.below(80);
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() & 0xff) as u8).collect();
        let header: String = (0..rng.below(50))
            .map(|_| char::from(b"sha1=0123456789abcdefABCDEF xz"[rng.below(30)]))
            .collect();
        check(&bytes, &header);

        // A valid event, signed, with a few bytes flipped, inserted or cut after signing.
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        let header = format!("sha1={}", hex(&quick.sign(&bytes).unwrap()));
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len());
            match rng.below(3) {
                0 => {
                    if let Some(b) = bytes.get_mut(at) {
                        *b = (rng.next() & 0xff) as u8;
                    }
                }
                1 => bytes.insert(at, (rng.next() & 0xff) as u8),
                _ => bytes.truncate(at),
            }
        }
        check(&bytes, &header);

        // Well-formed JSON with hostile message content in both forms.
        let text: String = (0..rng.below(8))
            .map(|_| fragments[rng.below(fragments.len())])
            .collect();
        let message = if rng.below(2) == 0 {
            Value::String(text.clone())
        } else {
            let kind = ["text", "at", "face"][rng.below(3)];
            json!([{"type": kind,
                    "data": {"text": text, "qq": text, "name": text}}])
        };
        check(group_message(3, message).to_string().as_bytes(), "");
    }
    let elapsed = started.elapsed();
    // Reported by `cargo test -- --nocapture`; a bound so that a slow path shows up.
    println!("onebot fuzz: {FUZZ_ROUNDS} rounds x 3 inputs x 2 adapters in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}

#[test]
fn config_validation_names_an_empty_secret() {
    use crate::config::{Settings, Sources};
    let overlay = "[bots.qq]\nplatform = \"onebot\"\nsecret = \"\"\n";
    let errors = Settings::load(&Sources {
        overlay: Some(overlay),
        ..Default::default()
    })
    .unwrap_err()
    .0
    .join("\n");
    assert!(errors.contains("bots.qq.secret: required"), "{errors}");
}

/// The shared hostile inputs (`platform::fuzz`) on both reply modes: every variant of a
/// group message (segments), a CQ-code string message and a private message, each signed
/// after it was made hostile so that it reaches `parse`, then rendered and cut into
/// segments; and hostile bytes at every offset of the signature header. Nothing panics and
/// every refusal is a clean `PlatformError`.
#[test]
fn hostile_inputs_never_panic_and_fail_cleanly() {
    use crate::platform::fuzz::{self, Tally};

    let started = std::time::Instant::now();
    let adapters = [adapter(), api_adapter()];
    let run = |a: &OnebotAdapter, h: &HeaderMap, label: &str, body: &[u8], tally: &mut Tally| {
        let bytes = Bytes::copy_from_slice(body);
        let request = InboundRequest::post(h, &bytes);
        let verified = fuzz::survive(label, body, || a.verify(request)).is_some();
        let parsed = verified
            .then(|| fuzz::survive(label, body, || a.parse(request)))
            .flatten();
        if let Some(Inbound::Event(e)) = tally.count(verified, parsed) {
            fuzz::survive(label, body, || {
                let reply = Reply {
                    chat_id: e.chat.chat_id.clone(),
                    text: format!(
                        "{}{}",
                        crate::platform::mention_token(&e.sender_id, &e.text),
                        e.text
                    ),
                };
                let rendered = a.render_replies(&e, &[reply]);
                for r in rendered.deferred {
                    let _ = cq::segments(&r.text, true);
                }
                let _ = cq::segments(&e.text, false);
                Ok(())
            });
        }
    };
    let signed_for = |a: &OnebotAdapter, body: &[u8]| {
        let header = format!("sha1={}", hex(&a.sign(body).unwrap()));
        signed(Some(&header))
    };

    let mut bodies = Tally::default();
    for seed in [
        group_message(
            1,
            json!([{"type": "at", "data": {"qq": "10001"}},
                   {"type": "text", "data": {"text": " 加入 张三"}}]),
        ),
        group_message(2, json!("[CQ:at,qq=10001] 帮助 &#91;x&#93;")),
        json!({"post_type": "message", "message_type": "private", "self_id": 10001,
               "user_id": 7, "message_id": 3, "message": "签到", "raw_message": "签到"}),
    ] {
        // The two modes parse alike and differ in rendering: the every-offset splices go to
        // one, the value variants (which parse more often) to both.
        for input in &fuzz::spliced(seed.to_string().as_bytes()) {
            let a = &adapters[0];
            run(a, &signed_for(a, input), "body", input, &mut bodies);
        }
        for input in &fuzz::hostile_json(&seed) {
            for a in &adapters {
                run(a, &signed_for(a, input), "body", input, &mut bodies);
            }
        }
    }
    let mut headers = Tally::default();
    let body = group_message(4, json!("帮助")).to_string();
    let genuine = format!("sha1={}", hex(&adapters[0].sign(body.as_bytes()).unwrap()));
    for input in fuzz::spliced(genuine.as_bytes()) {
        if let Ok(v) = HeaderValue::from_bytes(&input) {
            let mut h = HeaderMap::new();
            h.insert(SIGNATURE_HEADER, v);
            run(
                &adapters[0],
                &h,
                "signature header",
                body.as_bytes(),
                &mut headers,
            );
        }
    }

    assert!(bodies.malformed > 0 && bodies.parsed > 0, "{bodies:?}");
    assert_eq!(bodies.unauthenticated, 0, "{bodies:?}");
    assert!(headers.unauthenticated > 0, "{headers:?}");
    eprintln!(
        "onebot hostile inputs: bodies {bodies:?}, headers {headers:?}, {:?}",
        started.elapsed()
    );
}
