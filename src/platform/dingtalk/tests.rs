//! Unit tests of the DingTalk adapter: signature checks through `verify`, a table of parse
//! cases, reply rendering, and a deterministic fuzz loop over verify and parse.

use axum::{
    body::{Bytes, to_bytes},
    http::{HeaderMap, HeaderValue},
};
use chrono::TimeZone;

use super::*;
use crate::clock::ManualClock;

const APP_KEY: &str = "dingxxxxxxxxxxxxxxxx";
/// The first vector of `sign::tests`, computed with Python's hmac.
const SECRET: &str = "gLyX4mT8QnZ2vRk5WpJ0sYc7HbEaD3fU9iKoN1lMqPwXzS6tVu";
const TS: &str = "1767225600000";
const SIGN: &str = "GOQ706hbp9wXn4LT2FsDvmKpyf4PP4UZE/X4dlbn0Jg=";
const BOT_ID: &str = "$:LWCP_v1:$botbotbotbot";

fn clock_at(millis: i64) -> ManualClock {
    ManualClock::new(Utc.timestamp_millis_opt(millis).single().unwrap())
}

fn adapter_at(clock: ManualClock) -> DingtalkAdapter {
    let settings = crate::config::Settings::load(&Default::default()).unwrap();
    let bot = DingtalkBot {
        app_key: Some(APP_KEY.to_owned()),
        app_secret: Some(Secret::new(SECRET)),
        robot_code: None,
        api_base: "http://127.0.0.1:9".to_owned(),
        session_webhook_endpoint: SESSION_WEBHOOK_ENDPOINT.to_owned(),
        names: Vec::new(),
        limits: None,
    };
    DingtalkAdapter::new(
        "dt",
        &bot,
        reqwest::Client::new(),
        Store::new(&settings.redis).unwrap(),
        Arc::new(clock),
    )
    .unwrap()
}

fn adapter() -> DingtalkAdapter {
    adapter_at(clock_at(TS.parse().unwrap()))
}

fn headers(ts: Option<&str>, sign: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(ts) = ts {
        h.insert("timestamp", HeaderValue::from_str(ts).unwrap());
    }
    if let Some(sign) = sign {
        h.insert("sign", HeaderValue::from_str(sign).unwrap());
    }
    h
}

fn verify_with(a: &DingtalkAdapter, h: &HeaderMap) -> Result<(), PlatformError> {
    let body = Bytes::from_static(b"{}");
    a.verify(InboundRequest::post(h, &body))
}

fn parse_with(a: &DingtalkAdapter, body: &[u8]) -> Result<Inbound, PlatformError> {
    let h = HeaderMap::new();
    let body = Bytes::copy_from_slice(body);
    a.parse(InboundRequest::post(&h, &body))
}

/// A group text message @-ing the robot, as DingTalk delivers it (shape of the official
/// sample: content keeps the space after the removed @bot).
fn group(content: &str) -> Value {
    json!({
        "conversationId": "cidAbCdEfGh1234567890==",
        "atUsers": [{"dingtalkId": BOT_ID}],
        "chatbotCorpId": "dingcorp0000",
        "chatbotUserId": BOT_ID,
        "msgId": "msgXYZ123456789==",
        "senderNick": "张三",
        "isAdmin": false,
        "senderStaffId": "manager0001",
        "sessionWebhookExpiredTime": 1_767_231_000_000_i64,
        "createAt": 1_767_225_600_000_i64,
        "senderCorpId": "dingcorp0000",
        "conversationType": "2",
        "senderId": "$:LWCP_v1:$sender000000",
        "conversationTitle": "第一支部",
        "isInAtList": true,
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=abc123",
        "text": {"content": content},
        "robotCode": APP_KEY,
        "msgtype": "text",
    })
}

/// A 1:1 text message.
fn private(content: &str) -> Value {
    let mut v = group(content);
    v["conversationType"] = json!("1");
    v["conversationId"] = json!("cidPrivate000==");
    v["atUsers"] = json!([]);
    v.as_object_mut().unwrap().remove("isInAtList");
    v.as_object_mut().unwrap().remove("conversationTitle");
    v
}

fn event(body: &Value) -> InboundEvent {
    match parse_with(&adapter(), body.to_string().as_bytes()) {
        Ok(Inbound::Event(e)) => e,
        other => panic!("expected an event from {body}: {other:?}"),
    }
}

#[tokio::test]
async fn verify_accepts_the_python_vector_and_refuses_forgeries() {
    let a = adapter();
    assert!(verify_with(&a, &headers(Some(TS), Some(SIGN))).is_ok());
    for (h, reason) in [
        (headers(None, Some(SIGN)), "missing_timestamp"),
        (headers(Some(TS), None), "missing_sign"),
        (headers(Some(TS), Some("AAAA")), "bad_sign"),
        (headers(Some("1767225600001"), Some(SIGN)), "bad_sign"),
        (headers(Some("abc"), Some(SIGN)), "bad_timestamp"),
    ] {
        match verify_with(&a, &h) {
            Err(e) => assert_eq!(e.reason(), reason, "{h:?}"),
            Ok(()) => panic!("{h:?} verified"),
        }
    }
}

#[tokio::test]
async fn a_replayed_request_older_than_an_hour_is_expired() {
    let t: i64 = TS.parse().unwrap();
    // The same, correctly signed headers, seen an hour and a millisecond later, and a day later.
    for later in [sign::WINDOW_MS + 1, 24 * sign::WINDOW_MS] {
        let a = adapter_at(clock_at(t + later));
        assert!(matches!(
            verify_with(&a, &headers(Some(TS), Some(SIGN))),
            Err(PlatformError::Unauthenticated("expired"))
        ));
    }
    // A timestamp from the future is refused the same way.
    let a = adapter_at(clock_at(t - sign::WINDOW_MS - 1));
    assert!(matches!(
        verify_with(&a, &headers(Some(TS), Some(SIGN))),
        Err(PlatformError::Unauthenticated("expired"))
    ));
    // Fifty-nine minutes later it still verifies.
    let a = adapter_at(clock_at(t + 59 * 60_000));
    assert!(verify_with(&a, &headers(Some(TS), Some(SIGN))).is_ok());
}

#[tokio::test]
async fn parse_cases() {
    struct Case {
        name: &'static str,
        body: Value,
        chat_id: &'static str,
        kind: ChatKind,
        sender: &'static str,
        text: &'static str,
        mentioned: bool,
    }
    let mut external = group(" 签到");
    external["senderStaffId"] = json!("");
    let mut numeric_type = group(" 帮助");
    numeric_type["conversationType"] = json!(2);
    let mut left_in = group("@支部助手 帮助");
    left_in["text"]["content"] = json!("@支部助手\u{2005}加入 李四");
    let mut with_other = group(" @李四 你好");
    with_other["atUsers"] =
        json!([{"dingtalkId": BOT_ID}, {"dingtalkId": "$:LWCP_v1:$li4", "staffId": "u4"}]);
    let mut not_at = group("签到");
    not_at["isInAtList"] = json!(false);
    let mut smuggled = group(" 加入 \u{FDD0}boss\u{FDD1}老板\u{FDD2}");
    smuggled["senderNick"] = json!("\u{FDD0}王\u{0}五 ");
    let cases = [
        Case {
            name: "group text keeps DingTalk's leading space",
            body: group(" 帮助"),
            chat_id: "cidAbCdEfGh1234567890==",
            kind: ChatKind::Group,
            sender: "manager0001",
            text: "帮助",
            mentioned: true,
        },
        Case {
            name: "private text",
            body: private("签到"),
            chat_id: "dm:manager0001",
            kind: ChatKind::Private,
            sender: "manager0001",
            text: "签到",
            mentioned: true,
        },
        Case {
            name: "external user falls back to senderId",
            body: external,
            chat_id: "cidAbCdEfGh1234567890==",
            kind: ChatKind::Group,
            sender: "$:LWCP_v1:$sender000000",
            text: "签到",
            mentioned: true,
        },
        Case {
            name: "numeric conversationType",
            body: numeric_type,
            chat_id: "cidAbCdEfGh1234567890==",
            kind: ChatKind::Group,
            sender: "manager0001",
            text: "帮助",
            mentioned: true,
        },
        Case {
            name: "a leading @bot left in the text is stripped",
            body: left_in,
            chat_id: "cidAbCdEfGh1234567890==",
            kind: ChatKind::Group,
            sender: "manager0001",
            text: "加入 李四",
            mentioned: true,
        },
        Case {
            name: "a leading @someone else stays when others are mentioned",
            body: with_other,
            chat_id: "cidAbCdEfGh1234567890==",
            kind: ChatKind::Group,
            sender: "manager0001",
            text: "@李四 你好",
            mentioned: true,
        },
        Case {
            name: "isInAtList false is not a mention",
            body: not_at,
            chat_id: "cidAbCdEfGh1234567890==",
            kind: ChatKind::Group,
            sender: "manager0001",
            text: "签到",
            mentioned: false,
        },
        Case {
            name: "marker characters are stripped from text",
            body: smuggled,
            chat_id: "cidAbCdEfGh1234567890==",
            kind: ChatKind::Group,
            sender: "manager0001",
            text: "加入 boss老板",
            mentioned: true,
        },
    ];
    for case in cases {
        let e = event(&case.body);
        assert_eq!(e.chat.chat_id, case.chat_id, "{}", case.name);
        assert_eq!(e.chat.platform, PlatformKind::Dingtalk, "{}", case.name);
        assert_eq!(e.chat.bot, "dt", "{}", case.name);
        assert_eq!(e.chat_kind, case.kind, "{}", case.name);
        assert_eq!(e.sender_id, case.sender, "{}", case.name);
        assert_eq!(e.text, case.text, "{}", case.name);
        assert_eq!(e.mentioned, case.mentioned, "{}", case.name);
        assert_eq!(e.message_id, "msgXYZ123456789==", "{}", case.name);
    }
}

#[tokio::test]
async fn an_event_carries_name_time_and_the_session_webhook() {
    let e = event(&group(" 帮助"));
    assert_eq!(e.sender_name.as_deref(), Some("张三"));
    assert_eq!(
        e.sent_at.map(|t| t.timestamp_millis()),
        Some(1_767_225_600_000)
    );
    assert_eq!(
        e.context,
        Some(json!({
            "chatId": "cidAbCdEfGh1234567890==",
            "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=abc123",
            "sessionWebhookExpiredTime": 1_767_231_000_000_i64,
        }))
    );
    let mut nick = group(" 帮助");
    nick["senderNick"] = json!("\u{FDD0}王\u{0}五 ");
    assert_eq!(event(&nick).sender_name.as_deref(), Some("王五"));
    nick["senderNick"] = json!("   ");
    assert_eq!(event(&nick).sender_name, None);
}

/// What a sessionWebhook check must accept and refuse, against the default endpoint. The
/// body naming the URL is not signed, so every refused form is one an attacker could send.
#[test]
fn only_the_exact_send_by_session_endpoint_is_a_session_webhook() {
    const E: &str = SESSION_WEBHOOK_ENDPOINT;
    let accepted = [
        (
            "https://oapi.dingtalk.com/robot/sendBySession?session=abc123",
            "abc123",
        ),
        (
            "https://oapi.dingtalk.com/robot/sendBySession?session=c5bd9d6a1b3c4f1e8e0d63b5a7c2f3a1",
            "c5bd9d6a1b3c4f1e8e0d63b5a7c2f3a1",
        ),
        (
            "https://oapi.dingtalk.com/robot/sendBySession?session=A-b_c.d~e==",
            "A-b_c.d~e==",
        ),
    ];
    for (url, session) in accepted {
        assert_eq!(session_of(E, url), Some(session), "{url}");
    }
    let long = format!("{E}?session={}", "a".repeat(MAX_SESSION_CHARS + 1));
    let refused = [
        // Another robot's webhook on DingTalk's own host: the attacker's robot.
        "https://oapi.dingtalk.com/robot/send?access_token=attacker",
        // Other paths on the host.
        "https://oapi.dingtalk.com/robot/sendBySessionX?session=a",
        "https://oapi.dingtalk.com/robot/sendBySession/x?session=a",
        "https://oapi.dingtalk.com/robot/sendbysession?session=a",
        "https://oapi.dingtalk.com/robot/./sendBySession?session=a",
        "https://oapi.dingtalk.com/robot/../robot/sendBySession?session=a",
        "https://oapi.dingtalk.com//robot/sendBySession?session=a",
        "https://oapi.dingtalk.com/robot/sendBySession/?session=a",
        "https://oapi.dingtalk.com/topapi/message/send?session=a",
        // Other hosts, look-alike hosts, IDN homographs, a trailing dot.
        "https://evil.example/robot/sendBySession?session=a",
        "https://oapi.dingtalk.com.evil.example/robot/sendBySession?session=a",
        "https://api.dingtalk.com/robot/sendBySession?session=a",
        "https://OAPI.DINGTALK.COM/robot/sendBySession?session=a",
        "https://oapi.dingtalk.com./robot/sendBySession?session=a",
        "https://\u{43e}api.dingtalk.com/robot/sendBySession?session=a",
        "https://xn--api-5cd.dingtalk.com/robot/sendBySession?session=a",
        // http, ports, user info.
        "http://oapi.dingtalk.com/robot/sendBySession?session=a",
        "https://oapi.dingtalk.com:443/robot/sendBySession?session=a",
        "https://oapi.dingtalk.com:8443/robot/sendBySession?session=a",
        "https://user:pw@oapi.dingtalk.com/robot/sendBySession?session=a",
        "https://oapi.dingtalk.com@evil.example/robot/sendBySession?session=a",
        "https://oapi.dingtalk.com/robot/sendBySession@evil.example?session=a",
        // Missing, empty, extra or renamed query parameters; a fragment.
        "https://oapi.dingtalk.com/robot/sendBySession",
        "https://oapi.dingtalk.com/robot/sendBySession?",
        "https://oapi.dingtalk.com/robot/sendBySession?session=",
        "https://oapi.dingtalk.com/robot/sendBySession?session=a&access_token=b",
        "https://oapi.dingtalk.com/robot/sendBySession?access_token=b&session=a",
        "https://oapi.dingtalk.com/robot/sendBySession?session=a&session=b",
        "https://oapi.dingtalk.com/robot/sendBySession?session=a;b",
        "https://oapi.dingtalk.com/robot/sendBySession?Session=a",
        "https://oapi.dingtalk.com/robot/sendBySession?session=a#x",
        "https://oapi.dingtalk.com/robot/sendBySession??session=a",
        // Encoded tricks: percent-encoding in the value or the path, backslashes.
        "https://oapi.dingtalk.com/robot/sendBySession?session=a%26access_token%3Db",
        "https://oapi.dingtalk.com/robot/sendBySession?session=%61",
        "https://oapi.dingtalk.com/robot/sendBySession?session=a%00",
        "https://oapi.dingtalk.com/robot/sendBy%53ession?session=a",
        "https://oapi.dingtalk.com/robot%2FsendBySession?session=a",
        "https://oapi.dingtalk.com\\robot\\sendBySession?session=a",
        "https://oapi.dingtalk.com/robot/sendBySession?session=a/../../robot/send",
        "https://oapi.dingtalk.com/robot/sendBySession?session=a+b",
        // Whitespace, control and non-ASCII characters.
        " https://oapi.dingtalk.com/robot/sendBySession?session=a",
        "https://oapi.dingtalk.com/robot/sendBySession?session=a ",
        "https://oapi.dingtalk.com/robot/sendBySession?session=a b",
        "https://oapi.dingtalk.com/robot/sendBySession?session=a\n",
        "https://oapi.dingtalk.com/robot/sendBySession?session=a\t",
        "https://oapi.dingtalk.com/robot/sendBySession?session=\u{e9}",
        "https://oapi.dingtalk.com/robot/sendBySession?session=\u{ff41}",
        long.as_str(),
        // Not URLs.
        "",
        "not a url",
        "/robot/sendBySession?session=a",
        "//oapi.dingtalk.com/robot/sendBySession?session=a",
    ];
    for url in refused {
        assert_eq!(session_of(E, url), None, "{url:?}");
    }
}

#[test]
fn the_session_endpoint_setting_must_be_a_plain_https_url() {
    for ok in [
        SESSION_WEBHOOK_ENDPOINT,
        "https://oapi.dingtalk.example/robot/sendBySession",
        // Test doubles on the loopback interface may use plain http.
        "http://127.0.0.1:8080/robot/sendBySession",
        "http://localhost:1/robot/sendBySession",
        "http://[::1]:1/robot/sendBySession",
    ] {
        assert_eq!(
            checked_session_endpoint(ok),
            Ok(Some(ok.to_owned())),
            "{ok}"
        );
    }
    // Empty turns sessionWebhooks off.
    assert_eq!(checked_session_endpoint(""), Ok(None));
    assert_eq!(checked_session_endpoint("  "), Ok(None));
    for bad in [
        " https://oapi.dingtalk.com/robot/sendBySession",
        "http://oapi.dingtalk.com/robot/sendBySession",
        "http://10.0.0.1/robot/sendBySession",
        "ftp://oapi.dingtalk.com/robot/sendBySession",
        "https://oapi.dingtalk.com",
        "https://oapi.dingtalk.com/",
        "https://oapi.dingtalk.com/robot/",
        "https://OAPI.dingtalk.com/robot/sendBySession",
        "https://u:p@oapi.dingtalk.com/robot/sendBySession",
        "https://oapi.dingtalk.com/robot/sendBySession?session=",
        "https://oapi.dingtalk.com/robot/sendBySession#x",
        "oapi.dingtalk.com/robot/sendBySession",
    ] {
        assert!(checked_session_endpoint(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn a_callback_naming_another_webhook_keeps_no_session_and_stored_ones_are_rechecked() {
    for url in [
        "https://oapi.dingtalk.com/robot/send?access_token=attacker",
        "https://evil.example/robot/sendBySession?session=x",
        // api_base's own origin is no longer trusted for sessions.
        "http://127.0.0.1:9/robot/sendBySession?session=x",
        "not a url",
    ] {
        let mut body = group(" 帮助");
        body["sessionWebhook"] = json!(url);
        assert_eq!(event(&body).context, None, "{url}");
    }
    // A context queued by an older version, naming a URL the check now refuses, is not used.
    let message = OutboundMessage {
        chat_id: "cidAbCdEfGh1234567890==".to_owned(),
        text: "x".to_owned(),
        idempotency_key: "k".to_owned(),
        context: Some(json!({
            "chatId": "cidAbCdEfGh1234567890==",
            "sessionWebhook": "https://oapi.dingtalk.com/robot/send?access_token=attacker",
            "sessionWebhookExpiredTime": 1_767_231_000_000_i64,
        })),
    };
    assert!(adapter().usable_session(&message).is_none());
}

#[tokio::test]
async fn a_configured_session_endpoint_replaces_dingtalk_s() {
    let settings = crate::config::Settings::load(&Default::default()).unwrap();
    let bot = DingtalkBot {
        app_key: Some(APP_KEY.to_owned()),
        app_secret: Some(Secret::new(SECRET)),
        robot_code: None,
        api_base: "http://127.0.0.1:9".to_owned(),
        session_webhook_endpoint: "http://127.0.0.1:9/robot/sendBySession".to_owned(),
        names: Vec::new(),
        limits: None,
    };
    let a = DingtalkAdapter::new(
        "dt",
        &bot,
        reqwest::Client::new(),
        Store::new(&settings.redis).unwrap(),
        Arc::new(clock_at(TS.parse().unwrap())),
    )
    .unwrap();
    let parse = |url: &str| {
        let mut body = group(" 帮助");
        body["sessionWebhook"] = json!(url);
        match parse_with(&a, body.to_string().as_bytes()) {
            Ok(Inbound::Event(e)) => e.context,
            other => panic!("{other:?}"),
        }
    };
    let context = parse("http://127.0.0.1:9/robot/sendBySession?session=s1").unwrap();
    assert_eq!(
        context["sessionWebhook"],
        "http://127.0.0.1:9/robot/sendBySession?session=s1"
    );
    // DingTalk's own endpoint is not trusted when another is configured.
    assert_eq!(
        parse("https://oapi.dingtalk.com/robot/sendBySession?session=s1"),
        None
    );
    assert_eq!(parse("http://127.0.0.1:9/session/1"), None);

    // A bad endpoint is refused at startup, naming the key.
    let mut bad = bot.clone();
    bad.session_webhook_endpoint = "http://oapi.dingtalk.com/robot/sendBySession".to_owned();
    let error = DingtalkAdapter::new(
        "dt",
        &bad,
        reqwest::Client::new(),
        Store::new(&settings.redis).unwrap(),
        Arc::new(clock_at(0)),
    )
    .unwrap_err();
    assert_eq!(error.key, "session_webhook_endpoint");

    // Turned off: even DingTalk's own endpoint is not used.
    let mut off = bot.clone();
    off.session_webhook_endpoint = String::new();
    let a = DingtalkAdapter::new(
        "dt",
        &off,
        reqwest::Client::new(),
        Store::new(&settings.redis).unwrap(),
        Arc::new(clock_at(TS.parse().unwrap())),
    )
    .unwrap();
    match parse_with(&a, group(" 帮助").to_string().as_bytes()) {
        Ok(Inbound::Event(e)) => assert_eq!(e.context, None),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn callbacks_without_text_are_acknowledged() {
    let mut picture = group("");
    picture["msgtype"] = json!("picture");
    picture["content"] = json!({"downloadCode": "x"});
    picture.as_object_mut().unwrap().remove("text");
    let mut rich = group("");
    rich["msgtype"] = json!("richText");
    let mut odd_type = group(" 帮助");
    odd_type["conversationType"] = json!("3");
    for body in [
        picture,
        rich,
        odd_type,
        json!({}),
        json!({"msgtype": "audio"}),
    ] {
        let Ok(Inbound::Immediate(response)) = parse_with(&adapter(), body.to_string().as_bytes())
        else {
            panic!("{body}: expected an immediate answer")
        };
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = to_bytes(response.into_body(), 1024).await.unwrap();
        assert_eq!(&bytes[..], b"{}");
    }
}

#[tokio::test]
async fn malformed_bodies_name_the_problem() {
    let missing = |field: &str| {
        let mut v = group(" 帮助");
        v.as_object_mut().unwrap().remove(field);
        v.to_string().into_bytes()
    };
    let mut no_sender = group(" 帮助");
    no_sender["senderStaffId"] = json!("");
    no_sender.as_object_mut().unwrap().remove("senderId");
    let mut long_id = group(" 帮助");
    long_id["msgId"] = json!("x".repeat(300));
    for (body, needle) in [
        (b"".to_vec(), "EOF"),
        (b"[1]".to_vec(), "invalid type"),
        (b"{\"msgtype\":\"text\"} x".to_vec(), "trailing"),
        (missing("msgId"), "msgId"),
        (missing("conversationId"), "conversationId"),
        (missing("text"), "text.content"),
        (no_sender.to_string().into_bytes(), "sender"),
        (long_id.to_string().into_bytes(), "msgId"),
        (
            br#"{"msgtype":"text","isInAtList":"yes"}"#.to_vec(),
            "isInAtList",
        ),
        (
            br#"{"msgtype":"text","text":{"content":7}}"#.to_vec(),
            "text.content",
        ),
        (br#"{"encrypt":"abc"}"#.to_vec(), "encrypt"),
        (
            b"{\"msgtype\":\"text\",\"text\":{\"content\":\"\xff\"}}".to_vec(),
            "unicode",
        ),
    ] {
        match parse_with(&adapter(), &body) {
            Err(PlatformError::Malformed(m)) => assert!(m.contains(needle), "{m} / {needle}"),
            other => panic!("{}: {other:?}", String::from_utf8_lossy(&body)),
        }
    }
}

#[tokio::test]
async fn every_reply_is_deferred_and_the_response_is_an_empty_object() {
    let a = adapter();
    let e = event(&group(" 帮助"));
    let replies = vec![
        Reply {
            chat_id: e.chat.chat_id.clone(),
            text: "第一条".to_owned(),
        },
        Reply {
            chat_id: e.chat.chat_id.clone(),
            text: "  ".to_owned(),
        },
        Reply {
            chat_id: "dm:manager0001".to_owned(),
            text: "私聊".to_owned(),
        },
    ];
    let rendered = a.render_replies(&e, &replies);
    assert_eq!(
        rendered.deferred,
        vec![replies[0].clone(), replies[2].clone()]
    );
    assert_eq!(rendered.response.status(), StatusCode::OK);
    let bytes = to_bytes(rendered.response.into_body(), 1024).await.unwrap();
    assert_eq!(&bytes[..], b"{}");
}

#[tokio::test]
async fn the_session_webhook_is_used_only_for_its_chat_and_before_it_expires() {
    let e = event(&group(" 帮助"));
    let expires = 1_767_231_000_000_i64;
    let message = |chat: &str| OutboundMessage {
        chat_id: chat.to_owned(),
        text: "x".to_owned(),
        idempotency_key: "k".to_owned(),
        context: e.context.clone(),
    };
    let before = adapter_at(clock_at(expires - SESSION_MARGIN_MS - 1));
    assert!(before.usable_session(&message(&e.chat.chat_id)).is_some());
    assert!(before.usable_session(&message("dm:manager0001")).is_none());
    let near = adapter_at(clock_at(expires - SESSION_MARGIN_MS));
    assert!(near.usable_session(&message(&e.chat.chat_id)).is_none());
    let mut garbage = message(&e.chat.chat_id);
    garbage.context = Some(json!({"chatId": 5}));
    assert!(before.usable_session(&garbage).is_none());
}

/// A forged 1:1 message "from" the secretary may name a session of the attacker's own robot
/// on the documented endpoint: it passes the URL check, so a private chat must never use one.
#[tokio::test]
async fn a_private_chat_never_keeps_or_uses_a_session_webhook() {
    let e = event(&private("绑定码"));
    assert_eq!(e.chat.chat_id, "dm:manager0001");
    assert_eq!(e.context, None);

    // Not even a context naming the private chat itself, as an older version stored it.
    let a = adapter_at(clock_at(1_767_231_000_000_i64 - SESSION_MARGIN_MS - 1));
    let message = OutboundMessage {
        chat_id: "dm:manager0001".to_owned(),
        text: "x".to_owned(),
        idempotency_key: "k".to_owned(),
        context: Some(json!({
            "chatId": "dm:manager0001",
            "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=attacker",
            "sessionWebhookExpiredTime": 1_767_231_000_000_i64,
        })),
    };
    assert!(a.usable_session(&message).is_none());
    // The same context for a group would be used: only the private chat is refused.
    let mut group_message = message.clone();
    group_message.chat_id = "cidAbCdEfGh1234567890==".to_owned();
    group_message.context = Some(json!({
        "chatId": "cidAbCdEfGh1234567890==",
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=attacker",
        "sessionWebhookExpiredTime": 1_767_231_000_000_i64,
    }));
    assert!(a.usable_session(&group_message).is_some());
}

#[tokio::test]
async fn a_group_named_like_a_private_chat_is_refused() {
    let mut body = group(" 帮助");
    body["conversationId"] = json!("dm:manager0001");
    match parse_with(&adapter(), body.to_string().as_bytes()) {
        Err(PlatformError::Malformed(m)) => assert!(m.contains("conversationId"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mentions_use_the_user_id_without_the_private_prefix() {
    let marker = crate::platform::mention_token("dm:manager0001", "张三");
    let out = Outgoing::render(&format!("{marker} 请签到"));
    assert_eq!(out.session_text, "@manager0001 请签到");
    assert_eq!(out.api_text, "@张三 请签到");
    assert_eq!(out.at_user_ids, ["manager0001"]);
}

#[tokio::test]
async fn limits_default_to_twenty_a_minute_per_chat() {
    assert_eq!(adapter().limits(), DINGTALK_LIMITS);
    assert_eq!(DINGTALK_LIMITS.per_chat_per_minute, 20);
}

#[tokio::test]
async fn missing_keys_are_named() {
    let settings = crate::config::Settings::load(&Default::default()).unwrap();
    let store = Store::new(&settings.redis).unwrap();
    let mut bot = DingtalkBot {
        app_key: None,
        app_secret: Some(Secret::new(SECRET)),
        robot_code: None,
        api_base: "http://x".to_owned(),
        session_webhook_endpoint: SESSION_WEBHOOK_ENDPOINT.to_owned(),
        names: Vec::new(),
        limits: None,
    };
    let build = |bot: &DingtalkBot| {
        DingtalkAdapter::new(
            "dt",
            bot,
            reqwest::Client::new(),
            store.clone(),
            Arc::new(clock_at(0)),
        )
    };
    assert_eq!(build(&bot).unwrap_err().key, "app_key");
    bot.app_key = Some(APP_KEY.to_owned());
    bot.app_secret = Some(Secret::new(""));
    assert_eq!(build(&bot).unwrap_err().key, "app_secret");
    bot.app_secret = Some(Secret::new(SECRET));
    bot.robot_code = Some("robot-1".to_owned());
    let a = build(&bot).unwrap();
    assert_eq!(a.robot_code, "robot-1");
    assert!(!format!("{a:?}").contains(SECRET));
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

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max);
        (0..len).map(|_| (self.next() & 0xff) as u8).collect()
    }
}

/// Iterations of the fuzz loop; each runs verify and parse on three inputs.
const FUZZ_ROUNDS: usize = 4000;

#[tokio::test]
async fn no_bytes_make_verify_or_parse_panic() {
    let started = std::time::Instant::now();
    let a = adapter();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let seeds: Vec<Vec<u8>> = [
        group(" 帮助"),
        private("签到"),
        group("@bot\u{2005}加入 张三"),
    ]
    .iter()
    .map(|v| v.to_string().into_bytes())
    .collect();
    let texts = [
        "",
        "@",
        "@ ",
        "@x",
        "\u{FDD0}",
        " \u{2005} ",
        "👍@bot",
        "a\u{0}b",
        "é",
    ];
    let header_values: Vec<Vec<u8>> = vec![
        TS.as_bytes().to_vec(),
        SIGN.as_bytes().to_vec(),
        b"".to_vec(),
        b"9223372036854775807".to_vec(),
        b"-1".to_vec(),
        b"====".to_vec(),
    ];

    let check = |headers: &HeaderMap, bytes: &[u8]| {
        let body = Bytes::copy_from_slice(bytes);
        let request = InboundRequest::post(headers, &body);
        let _ = a.verify(request);
        if let Ok(Inbound::Event(e)) = a.parse(request) {
            let reply = Reply {
                chat_id: e.chat.chat_id.clone(),
                text: e.text.clone(),
            };
            let _ = a.render_replies(&e, &[reply]);
            let _ = Outgoing::render(&e.text);
        }
    };

    for _ in 0..FUZZ_ROUNDS {
        // Random headers (header values may hold any visible byte) and random bytes.
        let mut h = HeaderMap::new();
        for name in ["timestamp", "sign"] {
            let raw = if rng.below(2) == 0 {
                header_values[rng.below(header_values.len())].clone()
            } else {
                rng.bytes(48)
            };
            if let Ok(v) = HeaderValue::from_bytes(&raw) {
                h.insert(name, v);
            }
        }
        check(&h, &rng.bytes(96));

        // A valid callback with a few bytes flipped, inserted or cut.
        let mut bytes = seeds[rng.below(seeds.len())].clone();
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
        check(&h, &bytes);

        // Well-formed JSON with hostile values.
        let mut body = group(texts[rng.below(texts.len())]);
        let hostile = [
            json!(null),
            json!(""),
            json!(-1),
            json!(i64::MAX),
            json!("\u{FDD0}@"),
            json!([]),
            json!({}),
        ];
        for field in [
            "conversationType",
            "sessionWebhookExpiredTime",
            "createAt",
            "senderStaffId",
            "atUsers",
            "sessionWebhook",
        ] {
            if rng.below(3) == 0 {
                body[field] = hostile[rng.below(hostile.len())].clone();
            }
        }
        check(&h, body.to_string().as_bytes());
    }
    // Reported by the issue: how many inputs, how long.
    eprintln!(
        "dingtalk fuzz: {} inputs in {:?}",
        FUZZ_ROUNDS * 3,
        started.elapsed()
    );
}

/// The shared hostile inputs (`platform::fuzz`): every body variant of a group and a private
/// callback, verified with genuine headers so that each one reaches `parse`, and hostile
/// bytes (multi-byte UTF-8, invalid UTF-8, NUL) at every offset of the `timestamp` and
/// `sign` headers. Nothing panics and every refusal is a clean `PlatformError`.
#[tokio::test]
async fn hostile_inputs_never_panic_and_fail_cleanly() {
    use crate::platform::fuzz::{self, Tally};

    let started = std::time::Instant::now();
    let a = adapter();
    let run = |h: &HeaderMap, label: &str, body: &[u8], tally: &mut Tally| {
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
                    text: e.text.clone(),
                };
                let _ = a.render_replies(&e, &[reply]);
                let _ = Outgoing::render(&e.text);
                Ok(())
            });
        }
    };

    let good = headers(Some(TS), Some(SIGN));
    let mut bodies = Tally::default();
    for seed in [group(" 帮助"), private("签到")] {
        let mut inputs = fuzz::spliced(seed.to_string().as_bytes());
        inputs.extend(fuzz::hostile_json(&seed));
        for input in &inputs {
            run(&good, "body", input, &mut bodies);
        }
    }

    // Header values may carry any byte but controls; whatever `HeaderValue` takes is tried.
    let mut signed = Tally::default();
    let body = group(" 帮助").to_string();
    for (name, value) in [("timestamp", TS), ("sign", SIGN)] {
        for input in fuzz::spliced(value.as_bytes()) {
            let Ok(v) = HeaderValue::from_bytes(&input) else {
                continue;
            };
            let mut h = good.clone();
            h.insert(name, v);
            run(&h, name, body.as_bytes(), &mut signed);
        }
    }

    assert!(bodies.malformed > 0 && bodies.parsed > 0, "{bodies:?}");
    assert_eq!(bodies.unauthenticated, 0, "{bodies:?}");
    assert!(signed.unauthenticated > 0, "{signed:?}");
    eprintln!(
        "dingtalk hostile inputs: bodies {bodies:?}, headers {signed:?}, {:?}",
        started.elapsed()
    );
}
