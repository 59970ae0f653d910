//! Unit tests of the Feishu adapter's inbound side: proof of origin, decryption, parsing,
//! mentions, rendering, and a deterministic fuzz loop.

use axum::{
    body::{Bytes, to_bytes},
    http::{HeaderMap, HeaderValue},
};

use super::*;

const TOKEN: &str = "vErIfIcAtIoN-token-0123";
const KEY: &str = "enc-key-ABCdef0123";
const APP_ID: &str = "cli_a1b2c3d4e5f6";
const BOT: &str = "ou_bot0000000000000000000000000000";
const GROUP: &str = "oc_5ad11d72b830411d72b836c20";
const USER: &str = "ou_84aad35d084aa403a838cf73ee18467";

fn settings(encrypt_key: Option<&str>, bot_open_id: Option<&str>) -> FeishuBot {
    FeishuBot {
        app_id: Some(APP_ID.to_owned()),
        app_secret: Some(Secret::new("app-secret")),
        verification_token: Some(Secret::new(TOKEN)),
        encrypt_key: encrypt_key.map(Secret::new),
        bot_open_id: bot_open_id.map(str::to_owned),
        api_base: "http://127.0.0.1:9".to_owned(),
        names: Vec::new(),
        limits: None,
    }
}

/// A store that is never reached (nothing here sends). Its lazy connection wants a runtime
/// to exist, so one is kept for the whole test binary.
fn store() -> Store {
    static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> =
        std::sync::LazyLock::new(|| tokio::runtime::Runtime::new().unwrap());
    let _entered = RUNTIME.enter();
    let redis = crate::config::Settings::load(&Default::default())
        .unwrap()
        .redis;
    Store::new(&redis).unwrap()
}

fn adapter_with(encrypt_key: Option<&str>, bot_open_id: Option<&str>) -> FeishuAdapter {
    FeishuAdapter::new(
        "fs",
        &settings(encrypt_key, bot_open_id),
        reqwest::Client::new(),
        store(),
    )
    .unwrap()
}

/// Plaintext mode, with the bot's open_id configured.
fn plain() -> FeishuAdapter {
    adapter_with(None, Some(BOT))
}

/// Encrypted and signed mode.
fn sealed() -> FeishuAdapter {
    adapter_with(Some(KEY), Some(BOT))
}

/// An `im.message.receive_v1` event as Feishu pushes it (schema 2.0).
fn message_event(
    message_id: &str,
    chat_type: &str,
    message_type: &str,
    content: &Value,
    mentions: Value,
) -> Value {
    json!({
        "schema": "2.0",
        "header": {
            "event_id": format!("ev_{message_id}"),
            "event_type": "im.message.receive_v1",
            "create_time": "1767225600000",
            "token": TOKEN,
            "app_id": APP_ID,
            "tenant_key": "2ca1d211f64f6438",
        },
        "event": {
            "sender": {
                "sender_id": {"open_id": USER, "union_id": "on_8ed6aa67826108097d9ee143816345",
                              "user_id": "e33ggbyz"},
                "sender_type": "user",
                "tenant_key": "2ca1d211f64f6438",
            },
            "message": {
                "message_id": message_id,
                "root_id": "", "parent_id": "",
                "create_time": "1767225600123",
                "update_time": "1767225600123",
                "chat_id": GROUP,
                "chat_type": chat_type,
                "message_type": message_type,
                "content": content.to_string(),
                "mentions": mentions,
                "user_agent": "Mozilla/5.0 Lark/7.30",
            },
        },
    })
}

/// A group text message opening with a mention of the bot.
fn group_text(message_id: &str, text: &str) -> Value {
    message_event(
        message_id,
        "group",
        "text",
        &json!({ "text": format!("@_user_1 {text}") }),
        json!([{"key": "@_user_1", "id": {"open_id": BOT, "union_id": "on_bot", "user_id": ""},
                "name": "支部助手", "tenant_key": "2ca1d211f64f6438"}]),
    )
}

/// Headers Feishu sends with a signed callback.
fn signed_headers(timestamp: &str, nonce: &str, body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_str(&crypto::signature(timestamp, nonce, KEY, body)).unwrap(),
    );
    h.insert(TIMESTAMP_HEADER, HeaderValue::from_str(timestamp).unwrap());
    h.insert(NONCE_HEADER, HeaderValue::from_str(nonce).unwrap());
    h
}

/// The encrypted envelope of `plain`.
fn envelope(plain: &Value) -> Vec<u8> {
    let sealed = Cipher::new(KEY).encrypt([9; 16], plain.to_string().as_bytes());
    json!({ "encrypt": sealed }).to_string().into_bytes()
}

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap()
}

/// Verify then parse, as the pipeline does, at [`now`].
fn receive(a: &FeishuAdapter, headers: &HeaderMap, body: &[u8]) -> Result<Inbound, PlatformError> {
    let body = Bytes::copy_from_slice(body);
    let request = InboundRequest::post(headers, &body);
    a.verify_at(request, now())?;
    a.parse(request)
}

fn event_of(a: &FeishuAdapter, body: &Value) -> InboundEvent {
    match receive(a, &HeaderMap::new(), body.to_string().as_bytes()) {
        Ok(Inbound::Event(e)) => e,
        other => panic!("expected an event from {body}: {other:?}"),
    }
}

async fn body_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn immediate(result: Result<Inbound, PlatformError>) -> (StatusCode, Value) {
    match result {
        Ok(Inbound::Immediate(response)) => body_json(response).await,
        other => panic!("expected an immediate answer: {other:?}"),
    }
}

#[tokio::test]
async fn url_verification_echoes_the_challenge_in_both_modes() {
    let challenge = json!({"challenge": "ajls384kdjx98XX", "token": TOKEN,
                           "type": "url_verification"});
    // Plaintext, no signature headers.
    let (status, body) = immediate(receive(
        &plain(),
        &HeaderMap::new(),
        challenge.to_string().as_bytes(),
    ))
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"challenge": "ajls384kdjx98XX"}))
    );
    // Encrypted, still unsigned: decrypted, then echoed in plaintext.
    let (status, body) =
        immediate(receive(&sealed(), &HeaderMap::new(), &envelope(&challenge))).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"challenge": "ajls384kdjx98XX"}))
    );
}

#[test]
fn url_verification_with_another_token_is_refused() {
    let wrong = json!({"challenge": "c", "token": "someone-else", "type": "url_verification"});
    assert!(matches!(
        receive(&plain(), &HeaderMap::new(), wrong.to_string().as_bytes()),
        Err(PlatformError::Unauthenticated("bad_token"))
    ));
    assert!(matches!(
        receive(&sealed(), &HeaderMap::new(), &envelope(&wrong)),
        Err(PlatformError::Unauthenticated("missing_signature"))
    ));
}

#[test]
fn a_signed_encrypted_group_message_becomes_an_event() {
    let body = envelope(&group_text("om_dc13264520392913993dd051dba21dcf", "帮助"));
    let headers = signed_headers("1767225600", "1628404581", &body);
    let Ok(Inbound::Event(e)) = receive(&sealed(), &headers, &body) else {
        panic!("expected an event")
    };
    assert_eq!(
        e,
        InboundEvent {
            chat: ChatRef {
                platform: PlatformKind::Feishu,
                bot: "fs".to_owned(),
                chat_id: GROUP.to_owned(),
            },
            chat_kind: ChatKind::Group,
            sender_id: USER.to_owned(),
            sender_name: None,
            message_id: "om_dc13264520392913993dd051dba21dcf".to_owned(),
            text: "帮助".to_owned(),
            mentioned: true,
            sent_at: DateTime::from_timestamp_millis(1_767_225_600_123),
            context: Some(json!({"message_id": "om_dc13264520392913993dd051dba21dcf",
                                 "chat_id": GROUP})),
        }
    );
}

#[test]
fn signatures_are_checked_against_raw_bytes_and_a_five_minute_window() {
    let a = sealed();
    let body = envelope(&group_text("om_1", "帮助"));
    let check = |headers: &HeaderMap, body: &[u8]| {
        let body = Bytes::copy_from_slice(body);
        a.verify_at(InboundRequest::post(headers, &body), now())
    };
    // Inside the window, either way.
    for ts in [
        "1767225600",
        "1767225360",
        "1767225840",
        "1767225900",
        "1767225300",
    ] {
        assert!(
            check(&signed_headers(ts, "n", &body), &body).is_ok(),
            "{ts}"
        );
    }
    // Outside it: authentic but old (or from the future).
    for ts in ["1767225299", "1767225901", "0", "-5", "9999999999999"] {
        assert!(
            matches!(
                check(&signed_headers(ts, "n", &body), &body),
                Err(PlatformError::Unauthenticated("expired"))
            ),
            "{ts}"
        );
    }
    assert!(matches!(
        check(&signed_headers("soon", "n", &body), &body),
        Err(PlatformError::Unauthenticated("bad_timestamp"))
    ));
    // A tampered body: one more space, same JSON meaning.
    let mut spaced = body.clone();
    spaced.insert(1, b' ');
    assert!(matches!(
        check(&signed_headers("1767225600", "n", &body), &spaced),
        Err(PlatformError::Unauthenticated("bad_signature"))
    ));
    // A wrong signature, a missing header, no headers at all.
    let mut wrong = signed_headers("1767225600", "n", &body);
    wrong.insert(SIGNATURE_HEADER, HeaderValue::from_static("00ff"));
    assert!(matches!(
        check(&wrong, &body),
        Err(PlatformError::Unauthenticated("bad_signature"))
    ));
    let mut partial = signed_headers("1767225600", "n", &body);
    partial.remove(NONCE_HEADER);
    assert!(matches!(
        check(&partial, &body),
        Err(PlatformError::Unauthenticated("missing_signature"))
    ));
    assert!(matches!(
        check(&HeaderMap::new(), &body),
        Err(PlatformError::Unauthenticated("missing_signature"))
    ));
}

#[test]
fn a_signed_event_for_another_verification_token_is_refused() {
    let mut event = group_text("om_2", "帮助");
    event["header"]["token"] = json!("another-apps-token");
    let body = envelope(&event);
    assert!(matches!(
        receive(&sealed(), &signed_headers("1767225600", "n", &body), &body),
        Err(PlatformError::Unauthenticated("bad_token"))
    ));
}

#[test]
fn in_plaintext_mode_the_verification_token_is_the_proof() {
    let a = plain();
    let check = |body: &[u8]| {
        let headers = HeaderMap::new();
        let body = Bytes::copy_from_slice(body);
        a.verify_at(InboundRequest::post(&headers, &body), now())
    };
    let good = group_text("om_3", "帮助");
    assert!(check(good.to_string().as_bytes()).is_ok());
    for token in [
        json!("wrong"),
        json!(""),
        json!(TOKEN.to_uppercase()),
        Value::Null,
    ] {
        let mut bad = good.clone();
        bad["header"]["token"] = token.clone();
        assert!(
            matches!(
                check(bad.to_string().as_bytes()),
                Err(PlatformError::Unauthenticated("bad_token"))
            ),
            "{token}"
        );
    }
    assert!(matches!(
        check(b"not json"),
        Err(PlatformError::Unauthenticated("missing_token"))
    ));
    assert!(matches!(
        check(&envelope(&good)),
        Err(PlatformError::Unauthenticated("no_encrypt_key"))
    ));
}

#[test]
fn mentions_are_resolved_through_the_mentions_list() {
    let bot = json!({"key": "@_user_1", "id": {"open_id": BOT}, "name": "支部助手"});
    let li = json!({"key": "@_user_2", "id": {"open_id": "ou_li"}, "name": "李四"});
    let ten = json!({"key": "@_user_10", "id": {"open_id": "ou_ten"}, "name": "十号"});
    let evil = json!({"key": "@_user_3", "id": {"open_id": "ou_x"},
                      "name": "<at user_id=\"all\"></at>"});
    for (case, text, mentions, bot_id, expected, mentioned) in [
        (
            "bot first",
            "@_user_1 帮助",
            json!([bot]),
            Some(BOT),
            "帮助",
            true,
        ),
        (
            "bot last",
            "签到 @_user_1",
            json!([bot]),
            Some(BOT),
            "签到",
            true,
        ),
        (
            "bot inside",
            "加入@_user_1张三",
            json!([bot]),
            Some(BOT),
            "加入 张三",
            true,
        ),
        (
            "someone else",
            "@_user_2 帮助",
            json!([li]),
            Some(BOT),
            "@李四 帮助",
            false,
        ),
        (
            "both",
            "@_user_1 批准 @_user_2",
            json!([bot, li]),
            Some(BOT),
            "批准 @李四",
            true,
        ),
        (
            "prefix keys",
            "@_user_10 @_user_1 x",
            json!([bot, ten]),
            Some(BOT),
            "@十号   x",
            true,
        ),
        (
            "no bot id: leading",
            "@_user_2 帮助",
            json!([li]),
            None,
            "帮助",
            true,
        ),
        (
            "no bot id: later",
            "帮助 @_user_2",
            json!([li]),
            None,
            "帮助 @李四",
            false,
        ),
        (
            "unknown key",
            "@_user_9 帮助",
            json!([bot]),
            Some(BOT),
            "@_user_9 帮助",
            false,
        ),
        ("plain @", "a@b.c", json!([]), Some(BOT), "a@b.c", false),
        (
            "injected name",
            "@_user_3",
            json!([evil]),
            Some(BOT),
            // Kept as written; escaped where it is sent.
            "@<at user_id=\"all\"></at>",
            false,
        ),
    ] {
        let mentions: Vec<Mention> = serde_json::from_value(mentions).unwrap();
        assert_eq!(
            address(text, &mentions, bot_id),
            Addressed {
                text: expected.to_owned(),
                mentioned
            },
            "{case}"
        );
    }
}

#[test]
fn typed_tags_and_links_are_escaped_on_the_way_out_and_kept_verbatim_on_the_way_in() {
    for (typed, expected) in [
        (
            "<at user_id=\"all\"></at>",
            "<\u{200B}at user_id=\"all\"><\u{200B}/at>",
        ),
        ("<AT user_id=x>", "<\u{200B}AT user_id=x>"),
        (
            "a < b, <b>粗</b>",
            "a <\u{200B} b, <\u{200B}b>粗<\u{200B}/b>",
        ),
        ("[官网](http://e.com)", "[官网]\u{200B}(http://e.com)"),
        ("&lt;at&gt;", "&\u{200B}lt;at&\u{200B}gt;"),
        ("", ""),
    ] {
        assert_eq!(render_text(typed), expected, "{typed}");
    }
    // Inbound text is stored as typed; it is made inert where it is sent.
    let e = event_of(
        &plain(),
        &message_event(
            "om_4",
            "group",
            "text",
            &json!({"text": "@_user_1 加入 <at user_id=\"all\">所有人</at>"}),
            json!([{"key": "@_user_1", "id": {"open_id": BOT}, "name": "支部助手"}]),
        ),
    );
    assert_eq!(e.text, "加入 <at user_id=\"all\">所有人</at>");
}

#[test]
fn mention_tokens_render_in_feishus_at_form() {
    let token = crate::platform::mention_token;
    assert_eq!(
        render_text(&token(USER, "张三")),
        format!("<at user_id=\"{USER}\">张三</at>")
    );
    assert_eq!(
        render_text(&token(
            "ou_1\"><at user_id=\"all",
            "</at><at user_id=\"all\">"
        )),
        "@<\u{200B}/at><\u{200B}at user_id=\"all\">"
    );
    assert_eq!(render_text(&token("\"<>", "张三")), "@张三");
    assert_eq!(render_text(&token("all", "所有人")), "@所有人");
    assert_eq!(render_text(&token("ALL", "所有人")), "@所有人");
    assert_eq!(
        render_text(&token("ou_1", "<at user_id=\"all\">")),
        "<at user_id=\"ou_1\"><\u{200B}at user_id=\"all\"></at>"
    );
}

#[tokio::test]
async fn messages_we_do_not_act_on_are_acknowledged_with_an_empty_object() {
    let a = plain();
    let mut from_app = group_text("om_5", "帮助");
    from_app["event"]["sender"]["sender_type"] = json!("app");
    let mut other_app = group_text("om_6", "帮助");
    other_app["header"]["app_id"] = json!("cli_someone_else");
    let mut other_chat = group_text("om_7", "帮助");
    other_chat["event"]["message"]["chat_type"] = json!("channel");
    let mut reaction = group_text("om_8", "帮助");
    reaction["header"]["event_type"] = json!("im.message.reaction.created_v1");
    for (case, body) in [
        (
            "image",
            message_event(
                "om_9",
                "group",
                "image",
                &json!({"image_key": "img_v2_041b28e3"}),
                Value::Null,
            ),
        ),
        (
            "rich text",
            message_event(
                "om_10",
                "group",
                "post",
                &json!({"title": "", "content": [[{"tag": "text", "text": "帮助"}]]}),
                json!([]),
            ),
        ),
        (
            "sticker",
            message_event(
                "om_11",
                "p2p",
                "sticker",
                &json!({"file_key": "v2_x"}),
                Value::Null,
            ),
        ),
        ("from an app", from_app),
        ("another app id", other_app),
        ("unknown chat type", other_chat),
        ("another event", reaction),
        (
            "schema 1.0",
            json!({"uuid": "u1", "token": TOKEN, "ts": "1.0", "type": "event_callback",
            "event": {"type": "message", "text": "帮助"}}),
        ),
        (
            "no event",
            json!({"schema": "2.0", "header": {"event_type": "im.message.receive_v1",
            "token": TOKEN}}),
        ),
    ] {
        let result = receive(&a, &HeaderMap::new(), body.to_string().as_bytes());
        assert_eq!(
            immediate(result).await,
            (StatusCode::OK, json!({})),
            "{case}"
        );
    }
}

#[test]
fn private_messages_and_plain_group_chatter_parse_too() {
    let a = plain();
    let p2p = event_of(
        &a,
        &message_event(
            "om_12",
            "p2p",
            "text",
            &json!({"text": " 我的信息 "}),
            Value::Null,
        ),
    );
    assert_eq!(p2p.chat_kind, ChatKind::Private);
    assert_eq!((p2p.text.as_str(), p2p.mentioned), ("我的信息", false));
    let chatter = event_of(
        &a,
        &message_event(
            "om_13",
            "group",
            "text",
            &json!({"text": "今天开会吗"}),
            json!([]),
        ),
    );
    assert_eq!(chatter.chat_kind, ChatKind::Group);
    assert_eq!(
        (chatter.text.as_str(), chatter.mentioned),
        ("今天开会吗", false)
    );
}

#[test]
fn malformed_callbacks_name_the_problem() {
    let a = plain();
    let mut no_chat = group_text("om_14", "x");
    no_chat["event"]["message"]
        .as_object_mut()
        .unwrap()
        .remove("chat_id");
    let mut bad_content = group_text("om_15", "x");
    bad_content["event"]["message"]["content"] = json!("{\"text\": ");
    let mut no_text = group_text("om_16", "x");
    no_text["event"]["message"]["content"] = json!("{\"image_key\": \"k\"}");
    let mut spaced_id = group_text("om_17", "x");
    spaced_id["event"]["message"]["message_id"] = json!("om 17");
    let mut no_sender = group_text("om_18", "x");
    no_sender["event"]["sender"]["sender_id"] = json!({"user_id": "e33"});
    let mut long_chat = group_text("om_19", "x");
    long_chat["event"]["message"]["chat_id"] = json!("c".repeat(129));
    let challenge = json!({"type": "url_verification", "token": TOKEN});
    for (case, body, needle) in [
        (
            "no chat id",
            no_chat.to_string(),
            "event.message: missing field `chat_id`",
        ),
        (
            "content not JSON",
            bad_content.to_string(),
            "event.message.content",
        ),
        (
            "content without text",
            no_text.to_string(),
            "missing field `text`",
        ),
        (
            "spaced id",
            spaced_id.to_string(),
            "event.message.message_id",
        ),
        (
            "no open_id",
            no_sender.to_string(),
            "event.sender.sender_id.open_id",
        ),
        (
            "long chat id",
            long_chat.to_string(),
            "event.message.chat_id",
        ),
        ("no challenge", challenge.to_string(), "without a challenge"),
    ] {
        match receive(&a, &HeaderMap::new(), body.as_bytes()) {
            Err(PlatformError::Malformed(m)) => assert!(m.contains(needle), "{case}: {m}"),
            other => panic!("{case}: {other:?}"),
        }
    }
    // Without an encrypt key the token is read from the body, so a body that is not one
    // JSON document cannot prove anything.
    let trailing = format!("{} x", group_text("om_20", "x"));
    assert!(matches!(
        receive(&a, &HeaderMap::new(), trailing.as_bytes()),
        Err(PlatformError::Unauthenticated("missing_token"))
    ));
    // Encrypted mode: a signed body that is no envelope, or does not decrypt.
    let s = sealed();
    for body in [
        b"{\"foo\": 1}".to_vec(),
        json!({"encrypt": "bm90IGEgcmVhbCBjaXBoZXJ0ZXh0IGF0IGFsbCEhIQ=="})
            .to_string()
            .into_bytes(),
        json!({"encrypt": Cipher::new("other key").encrypt([1; 16], b"{}")})
            .to_string()
            .into_bytes(),
    ] {
        let headers = signed_headers("1767225600", "n", &body);
        assert!(
            matches!(
                receive(&s, &headers, &body),
                Err(PlatformError::Malformed(_))
            ),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[tokio::test]
async fn every_reply_is_deferred_and_the_webhook_answers_an_empty_object() {
    let a = plain();
    let e = event_of(&a, &group_text("om_21", "帮助"));
    let replies = vec![
        Reply {
            chat_id: GROUP.to_owned(),
            text: "第一条".to_owned(),
        },
        Reply {
            chat_id: GROUP.to_owned(),
            text: "  ".to_owned(),
        },
        Reply {
            chat_id: GROUP.to_owned(),
            text: "第二条".to_owned(),
        },
    ];
    let rendered = a.render_replies(&e, &replies);
    assert_eq!(
        body_json(rendered.response).await,
        (StatusCode::OK, json!({}))
    );
    assert_eq!(
        rendered.deferred,
        vec![replies[0].clone(), replies[2].clone()]
    );
}

#[test]
fn limits_default_to_feishus_published_numbers() {
    assert_eq!(plain().limits(), FEISHU_LIMITS);
    let mut s = settings(None, None);
    s.limits = Some(SendLimits {
        per_chat_per_minute: 10,
        per_bot_per_second: 2,
        per_bot_per_minute: None,
    });
    let a = FeishuAdapter::new("fs", &s, reqwest::Client::new(), store()).unwrap();
    assert_eq!(a.limits().per_chat_per_minute, 10);
}

#[test]
fn an_empty_verification_token_or_app_secret_is_refused_and_no_token_never_matches() {
    for key in ["verification_token", "app_secret"] {
        let mut s = settings(None, None);
        if key == "app_secret" {
            s.app_secret = Some(Secret::new(""));
        } else {
            s.verification_token = Some(Secret::new(""));
        }
        let err = FeishuAdapter::new("fs", &s, reqwest::Client::new(), store()).unwrap_err();
        assert_eq!(err.key, key);
    }
    let a =
        FeishuAdapter::new("fs", &settings(None, None), reqwest::Client::new(), store()).unwrap();
    for callback in [
        json!({"schema": "2.0", "header": {"token": ""}}),
        json!({"schema": "2.0", "header": {}}),
        json!({"type": "url_verification", "challenge": "c"}),
    ] {
        let callback: Callback = serde_json::from_value(callback).unwrap();
        assert!(!a.token_matches(&callback));
    }
}

#[test]
fn a_bot_without_its_required_keys_is_not_built() {
    let store = store();
    let mut s = settings(None, None);
    s.app_id = Some("  ".to_owned());
    let err = FeishuAdapter::new("fs", &s, reqwest::Client::new(), store.clone()).unwrap_err();
    assert_eq!(err.to_string(), "bots.fs.app_id: required");
    let mut s = settings(Some(""), None);
    s.verification_token = None;
    let err = FeishuAdapter::new("fs", &s, reqwest::Client::new(), store.clone()).unwrap_err();
    assert_eq!(err.key, "verification_token");
    // An empty encrypt_key means plaintext mode.
    let a = FeishuAdapter::new(
        "fs",
        &settings(Some(""), None),
        reqwest::Client::new(),
        store,
    )
    .unwrap();
    assert!(a.encryption.is_none());
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

    fn byte(&mut self) -> u8 {
        (self.next() & 0xff) as u8
    }
}

#[test]
fn no_bytes_make_verify_parse_or_render_panic() {
    const ROUNDS: usize = 2500;
    let started = std::time::Instant::now();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let adapters = [plain(), sealed(), adapter_with(None, None)];
    let texts = [
        "",
        "@_user_1",
        "@_user_1@_user_10",
        "<at",
        "👍@_user_2<",
        "a\u{0}b",
        "é",
    ];
    let keys = [
        "@_user_1",
        "@_user_10",
        "@_user_2",
        "@",
        "",
        "@_all",
        "@_user_1 ",
    ];
    let mut seeds: Vec<Value> = vec![
        group_text("om_f1", "帮助"),
        json!({"challenge": "c", "token": TOKEN, "type": "url_verification"}),
        message_event(
            "om_f2",
            "p2p",
            "image",
            &json!({"image_key": "k"}),
            Value::Null,
        ),
    ];
    let mut runs = 0_u64;
    let mut check = |a: &FeishuAdapter, headers: &HeaderMap, bytes: &[u8]| {
        runs += 1;
        if let Ok(Inbound::Event(e)) = receive(a, headers, bytes) {
            let reply = Reply {
                chat_id: e.chat.chat_id.clone(),
                text: e.text.clone(),
            };
            let _ = a.render_replies(&e, &[reply]);
            let _ = render_text(&e.text);
        }
    };
    for round in 0..ROUNDS {
        // Random bytes, with and without signature headers.
        let len = rng.below(96);
        let bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        for a in &adapters {
            check(a, &HeaderMap::new(), &bytes);
        }
        check(
            &adapters[1],
            &signed_headers("1767225600", "n", &bytes),
            &bytes,
        );

        // A valid callback with a few bytes flipped, inserted or cut: plaintext, and the
        // same sealed and signed after mutation (so it reaches decryption and parsing).
        let seed = &seeds[rng.below(seeds.len())];
        let mut bytes = seed.to_string().into_bytes();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len());
            match rng.below(3) {
                0 => {
                    if let Some(b) = bytes.get_mut(at) {
                        *b = rng.byte();
                    }
                }
                1 => bytes.insert(at, rng.byte()),
                _ => bytes.truncate(at),
            }
        }
        check(&adapters[0], &HeaderMap::new(), &bytes);
        let sealed_body = json!({"encrypt": Cipher::new(KEY).encrypt([3; 16], &bytes)})
            .to_string()
            .into_bytes();
        check(
            &adapters[1],
            &signed_headers("1767225600", "n", &sealed_body),
            &sealed_body,
        );

        // Well-formed events with hostile mentions and content.
        let mentions: Vec<Value> = (0..rng.below(4))
            .map(|i| {
                json!({"key": keys[rng.below(keys.len())],
                       "id": {"open_id": if i % 2 == 0 { BOT } else { "ou_x" }},
                       "name": texts[rng.below(texts.len())]})
            })
            .collect();
        let text: String = (0..rng.below(4))
            .map(|_| texts[rng.below(texts.len())])
            .collect();
        let event = message_event(
            &format!("om_r{round}"),
            ["group", "p2p", "topic_group", ""][rng.below(4)],
            "text",
            &json!({ "text": text }),
            Value::Array(mentions),
        );
        for a in &adapters {
            check(a, &HeaderMap::new(), event.to_string().as_bytes());
        }
        if round % 500 == 0 {
            seeds.push(event);
        }
    }
    println!(
        "feishu fuzz: {runs} verify+parse runs over {ROUNDS} rounds in {:?}",
        started.elapsed()
    );
}

/// The shared hostile inputs (`platform::fuzz`) at every stage: as a plaintext callback; as
/// the decrypted callback of the encrypted mode (sealed with the key and signed, so they
/// reach decryption and the parser); as the encrypted envelope itself (signed over its own
/// bytes, so it passes the signature and reaches the envelope parser and decryption); and
/// as the text content JSON that Feishu nests inside the callback as a string. Nothing panics
/// and every refusal is a clean `PlatformError`.
#[test]
fn hostile_inputs_never_panic_and_fail_cleanly() {
    use crate::platform::fuzz::{self, Tally};

    let started = std::time::Instant::now();
    let (plain, sealed) = (plain(), sealed());
    let run = |a: &FeishuAdapter,
               (label, shown): (&str, &[u8]),
               headers: &HeaderMap,
               body: &[u8],
               tally: &mut Tally| {
        let bytes = Bytes::copy_from_slice(body);
        let request = InboundRequest::post(headers, &bytes);
        let verified = fuzz::survive(label, shown, || a.verify_at(request, now())).is_some();
        let parsed = verified
            .then(|| fuzz::survive(label, shown, || a.parse(request)))
            .flatten();
        if let Some(Inbound::Event(e)) = tally.count(verified, parsed) {
            fuzz::survive(label, shown, || {
                // The fuzzed text as a mention too: names are user-made as well.
                let reply = Reply {
                    chat_id: e.chat.chat_id.clone(),
                    text: format!(
                        "{}{}",
                        crate::platform::mention_token(&e.sender_id, &e.text),
                        e.text
                    ),
                };
                let _ = a.render_replies(&e, &[reply]);
                Ok(())
            });
        }
    };
    let seal = |input: &[u8]| {
        let body = json!({"encrypt": Cipher::new(KEY).encrypt([5; 16], input)})
            .to_string()
            .into_bytes();
        (signed_headers("1767225600", "n", &body), body)
    };

    // Plaintext mode takes every variant. Sealing costs an AES pass per input (slow in a
    // debug build), and the decrypted callback goes through the same parser as a plaintext
    // one, so the encrypted mode takes every value and key variant of the group message but
    // the every-offset splices of a short callback only.
    let group = group_text("om_h1", "帮助");
    let handshake = json!({"challenge": "c", "token": TOKEN, "type": "url_verification"});
    let mut both = fuzz::hostile_json(&group);
    both.extend(fuzz::spliced(handshake.to_string().as_bytes()));
    both.extend(fuzz::hostile_json(&handshake));
    // The nested content string: every hostile variant of `{"text": "@_user_1 帮助"}`.
    let content = json!({"text": "@_user_1 帮助"});
    let mut nested = fuzz::spliced(content.to_string().as_bytes());
    nested.extend(fuzz::hostile_json(&content));
    for text in nested {
        let mut event = group_text("om_h2", "帮助");
        event["event"]["message"]["content"] = json!(String::from_utf8_lossy(&text));
        both.push(event.to_string().into_bytes());
    }

    let (mut open, mut decrypted, mut enveloped) =
        (Tally::default(), Tally::default(), Tally::default());
    for input in &fuzz::spliced(group.to_string().as_bytes()) {
        run(
            &plain,
            ("plaintext", input),
            &HeaderMap::new(),
            input,
            &mut open,
        );
    }
    for input in &both {
        run(
            &plain,
            ("plaintext", input),
            &HeaderMap::new(),
            input,
            &mut open,
        );
        let (headers, body) = seal(input);
        run(
            &sealed,
            ("decrypted", input),
            &headers,
            &body,
            &mut decrypted,
        );
    }
    // The envelope around a short genuine callback, signed over the hostile bytes.
    let (_, genuine) = seal(handshake.to_string().as_bytes());
    let envelope: Value = serde_json::from_slice(&genuine).unwrap();
    let mut outer = fuzz::spliced(&genuine);
    outer.extend(fuzz::hostile_json(&envelope));
    for input in &outer {
        let headers = signed_headers("1767225600", "n", input);
        run(
            &sealed,
            ("envelope", input),
            &headers,
            input,
            &mut enveloped,
        );
    }

    for tally in [&open, &decrypted] {
        assert!(tally.malformed > 0 && tally.parsed > 0, "{tally:?}");
    }
    assert!(
        enveloped.malformed > 0 && enveloped.parsed > 0,
        "{enveloped:?}"
    );
    eprintln!(
        "feishu hostile inputs: plaintext {open:?}, decrypted {decrypted:?}, envelopes \
         {enveloped:?}, {:?}",
        started.elapsed()
    );
}
