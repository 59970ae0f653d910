#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use axum::{
    body::Bytes,
    http::{HeaderMap, Method},
};
use serde_json::{Value, json};

use super::{
    api::{ApiOutcome, classify},
    *,
};
use crate::config::{Settings, Sources};

// The official vectors (platforms.md §4; path/90968).
const TOKEN: &str = "QDG6eK";
const CORP_ID: &str = "wx5823bf96d3bd56c7";
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

/// The store is lazy (never contacted by these tests) but must be made inside a runtime.
static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> =
    std::sync::LazyLock::new(|| tokio::runtime::Runtime::new().unwrap());

fn store() -> Store {
    let settings = Settings::load(&Sources::default()).unwrap();
    let _inside = RUNTIME.enter();
    Store::new(&settings.redis).unwrap()
}

fn settings(mode: WecomMode) -> WecomBot {
    WecomBot {
        mode,
        token: Some(Secret::new(TOKEN)),
        encoding_aes_key: Some(Secret::new(AES_KEY)),
        corp_id: Some(CORP_ID.to_owned()),
        corp_secret: Some(Secret::new("corp-secret-value")),
        agent_id: Some(218),
        push_webhook_key: None,
        push_chat_id: None,
        bot_name: None,
        api_base: "http://127.0.0.1:9".to_owned(),
        names: Vec::new(),
        limits: None,
    }
}

fn adapter(mode: WecomMode) -> WecomAdapter {
    WecomAdapter::new("wx", &settings(mode), reqwest::Client::new(), store()).unwrap()
}

fn named(name: &str) -> WecomAdapter {
    let mut s = settings(WecomMode::Aibot);
    s.bot_name = Some(name.to_owned());
    WecomAdapter::new("wx", &s, reqwest::Client::new(), store()).unwrap()
}

/// A query string signed as WeCom signs it.
fn query(timestamp: &str, nonce: &str, ciphertext: &str, echostr: bool) -> String {
    let signature = crypto::signature(TOKEN, timestamp, nonce, ciphertext);
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("msg_signature", &signature)
        .append_pair("timestamp", timestamp)
        .append_pair("nonce", nonce);
    if echostr {
        q.append_pair("echostr", ciphertext);
    }
    q.finish()
}

fn request<'a>(
    method: &'a Method,
    query: &'a str,
    headers: &'a HeaderMap,
    body: &'a Bytes,
) -> InboundRequest<'a> {
    InboundRequest {
        method,
        query,
        headers,
        body,
    }
}

/// verify at `now`, then parse, as the pipeline does.
fn handle(
    a: &WecomAdapter,
    method: &Method,
    query: &str,
    body: &[u8],
    now: i64,
) -> Result<Inbound, PlatformError> {
    let headers = HeaderMap::new();
    let body = Bytes::copy_from_slice(body);
    let r = request(method, query, &headers, &body);
    a.verify_at(r, now)?;
    a.parse(r)
}

/// An AI bot callback body for `message`, sealed and signed now.
fn aibot_post(a: &WecomAdapter, message: &Value) -> (String, Vec<u8>) {
    let encrypt = a.crypt.encrypt(message.to_string().as_bytes());
    let ts = now_secs().to_string();
    (
        query(&ts, "1372623149", &encrypt, false),
        json!({ "encrypt": encrypt }).to_string().into_bytes(),
    )
}

fn group_text(msgid: &str, content: &str) -> Value {
    json!({
        "msgid": msgid, "aibotid": "AIBOTID", "chatid": "wrkSFfCgAAtMQKg4xqDatM5C9IDHFpTw",
        "chattype": "group", "from": {"userid": "zhangsan"},
        "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=RC",
        "msgtype": "text", "text": {"content": content},
    })
}

fn event_of(result: Result<Inbound, PlatformError>) -> InboundEvent {
    match result {
        Ok(Inbound::Event(e)) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

async fn body_of(response: Response) -> (u16, String, Vec<u8>) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, content_type, bytes.to_vec())
}

#[tokio::test]
async fn the_official_echostr_vector_answers_the_bare_plaintext() {
    let a = adapter(WecomMode::App);
    // As WeCom sends it: echostr percent-encoded in the query.
    let query = "msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589\
        &nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D";
    let Ok(Inbound::Immediate(response)) = handle(&a, &Method::GET, query, b"", 1_409_659_589)
    else {
        panic!("expected the echo")
    };
    let (status, content_type, body) = body_of(response).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(body, b"1616140317555161061");
    assert!(a.accepts_get());

    // The same handshake is refused a day later (replay) and with a changed echostr.
    assert!(matches!(
        handle(&a, &Method::GET, query, b"", 1_409_659_589 + 25 * 3600),
        Err(PlatformError::Unauthenticated("stale_timestamp"))
    ));
    let tampered = query.replace("P9nA", "P9nB");
    assert!(matches!(
        handle(&a, &Method::GET, &tampered, b"", 1_409_659_589),
        Err(PlatformError::Unauthenticated("signature"))
    ));
}

#[test]
fn the_official_message_vector_becomes_a_private_event() {
    let a = adapter(WecomMode::App);
    let body = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>\
         <Encrypt><![CDATA[{}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>",
        crypto::tests_support::ENCRYPT
    );
    let query = "msg_signature=477715d11cdb4164915debcba66cb864d751f3e6&timestamp=1409659813&nonce=1372623149";
    let e = event_of(handle(
        &a,
        &Method::POST,
        query,
        body.as_bytes(),
        1_409_659_813,
    ));
    assert_eq!(e.chat.chat_id, "mycreate");
    assert_eq!(e.chat_kind, ChatKind::Private);
    assert_eq!(e.sender_id, "mycreate");
    assert_eq!(e.sender_name, None);
    assert_eq!(e.message_id, "4561255354251345929");
    assert_eq!(e.text, "hello");
    assert!(e.mentioned);
    assert_eq!(e.sent_at.map(|t| t.timestamp()), Some(1_409_659_813));

    // The AI bot (receive id "") cannot open the app's message.
    let aibot = adapter(WecomMode::Aibot);
    let json_body = json!({"encrypt": crypto::tests_support::ENCRYPT}).to_string();
    assert!(matches!(
        handle(
            &aibot,
            &Method::POST,
            query,
            json_body.as_bytes(),
            1_409_659_813
        ),
        Err(PlatformError::Unauthenticated("receive_id"))
    ));
}

#[test]
fn parse_cases() {
    let a = adapter(WecomMode::Aibot);
    let n = named("党建助手");
    // (adapter, message, expected (chat kind, chat id, text) or None for "ignored")
    type Expected<'a> = Option<(ChatKind, &'a str, &'a str)>;
    let cases: Vec<(&WecomAdapter, Value, Expected<'_>)> = vec![
        (
            &a,
            group_text("m1", "@党建助手 帮助"),
            Some((ChatKind::Group, "wrkSFfCgAAtMQKg4xqDatM5C9IDHFpTw", "帮助")),
        ),
        (
            &a,
            group_text("m2", "@党建助手\u{2005}加入 李四"),
            Some((
                ChatKind::Group,
                "wrkSFfCgAAtMQKg4xqDatM5C9IDHFpTw",
                "加入 李四",
            )),
        ),
        (
            &a,
            group_text("m3", "@党建助手"),
            Some((ChatKind::Group, "wrkSFfCgAAtMQKg4xqDatM5C9IDHFpTw", "")),
        ),
        (
            &a,
            group_text("m4", "签到"),
            Some((ChatKind::Group, "wrkSFfCgAAtMQKg4xqDatM5C9IDHFpTw", "签到")),
        ),
        (
            &n,
            group_text("m5", "请 @党建助手 帮助"),
            Some((
                ChatKind::Group,
                "wrkSFfCgAAtMQKg4xqDatM5C9IDHFpTw",
                "请   帮助",
            )),
        ),
        (
            &n,
            group_text("m6", "@张三 @党建助手 帮助"),
            Some((
                ChatKind::Group,
                "wrkSFfCgAAtMQKg4xqDatM5C9IDHFpTw",
                "@张三   帮助",
            )),
        ),
        (
            &a,
            json!({"msgid": "m7", "aibotid": "A", "chattype": "single", "from": {"userid": "lisi"},
                   "response_url": "https://x/y", "msgtype": "text", "text": {"content": "帮助"}}),
            Some((ChatKind::Private, "lisi", "帮助")),
        ),
        (
            &a,
            json!({"msgid": "m8", "chattype": "group", "chatid": "c", "from": {"userid": "u"},
                    "msgtype": "image", "image": {"url": "https://x"}}),
            None,
        ),
        (
            &a,
            json!({"msgid": "m9", "chattype": "group", "chatid": "c", "from": {"userid": "u"},
                    "msgtype": "stream", "stream": {"id": "s"}}),
            None,
        ),
        (
            &a,
            json!({"msgtype": "event", "event": {"eventtype": "enter_chat"}, "from": {"userid": "u"}}),
            None,
        ),
        (
            &a,
            json!({"msgid": "m10", "chattype": "channel", "from": {"userid": "u"},
                    "msgtype": "text", "text": {"content": "x"}}),
            None,
        ),
    ];
    for (adapter, message, expected) in cases {
        let (q, body) = aibot_post(adapter, &message);
        let result = handle(adapter, &Method::POST, &q, &body, now_secs());
        match expected {
            Some((kind, chat, text)) => {
                let e = event_of(result);
                assert_eq!(
                    (e.chat_kind, e.chat.chat_id.as_str(), e.text.as_str()),
                    (kind, chat, text),
                    "{message}"
                );
                assert!(e.mentioned);
                assert_eq!(e.sender_name, None);
                assert_eq!(e.message_id, message["msgid"].as_str().unwrap());
                let ctx: Context = serde_json::from_value(e.context.unwrap()).unwrap();
                assert_eq!(ctx.chat_id, chat);
                assert!(ctx.expires_at > now_secs() + 3000);
            }
            None => assert!(
                matches!(result, Ok(Inbound::Immediate(_))),
                "{message}: {result:?}"
            ),
        }
    }

    // Malformed after decryption: named, 400.
    for (message, needle) in [
        (
            json!({"msgtype": "text", "chattype": "group", "chatid": "c", "from": {"userid": "u"}}),
            "msgid",
        ),
        (
            json!({"msgid": "x", "msgtype": "text", "chattype": "group", "from": {"userid": "u"}}),
            "chatid",
        ),
        (
            json!({"msgid": "x", "msgtype": "text", "chattype": "group", "chatid": "c"}),
            "from.userid",
        ),
        (
            json!({"msgid": "x\u{0}", "msgtype": "text", "chattype": "group", "chatid": "c", "from": {"userid": "u"}}),
            "msgid",
        ),
        (json!([1, 2]), "decrypted JSON"),
    ] {
        let (q, body) = aibot_post(&a, &message);
        match handle(&a, &Method::POST, &q, &body, now_secs()) {
            Err(PlatformError::Malformed(m)) => assert!(m.contains(needle), "{m} / {needle}"),
            other => panic!("{message}: {other:?}"),
        }
    }
}

#[test]
fn app_mode_ignores_events_and_refuses_declarations() {
    let a = adapter(WecomMode::App);
    let seal = |plain: &str| {
        let encrypt = a.crypt.encrypt(plain.as_bytes());
        let ts = now_secs().to_string();
        let body = format!(
            "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID>218</AgentID></xml>"
        );
        (query(&ts, "n1", &encrypt, false), body)
    };
    let (q, body) = seal(
        "<xml><ToUserName><![CDATA[wx]]></ToUserName><FromUserName><![CDATA[u1]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[enter_agent]]></Event><AgentID>218</AgentID></xml>",
    );
    assert!(matches!(
        handle(&a, &Method::POST, &q, body.as_bytes(), now_secs()),
        Ok(Inbound::Immediate(_))
    ));

    // Text with markup-looking content stays text.
    let (q, body) = seal(
        "<xml><FromUserName>u1</FromUserName><MsgType>text</MsgType><Content><![CDATA[ 加入 <b>王</b>]]]]><![CDATA[> ]]></Content><MsgId>77</MsgId></xml>",
    );
    let e = event_of(handle(&a, &Method::POST, &q, body.as_bytes(), now_secs()));
    assert_eq!(e.text, "加入 <b>王</b>]]>");

    // A DTD inside the ciphertext or around it is refused, never expanded.
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><FromUserName>u</FromUserName><MsgType>text</MsgType><Content>&x;</Content><MsgId>1</MsgId></xml>"#;
    let (q, body) = seal(xxe);
    assert!(
        matches!(handle(&a, &Method::POST, &q, body.as_bytes(), now_secs()), Err(PlatformError::Malformed(m)) if m.contains("declarations"))
    );
    let outer = format!("<!DOCTYPE x [<!ENTITY e \"e\">]>{}", seal("<xml/>").1);
    let headers = HeaderMap::new();
    let bytes = Bytes::from(outer.into_bytes());
    assert!(
        a.parse(request(&Method::POST, "", &headers, &bytes))
            .is_err()
    );
}

#[test]
fn forged_requests_are_refused_with_a_reason() {
    let a = adapter(WecomMode::Aibot);
    let (q, body) = aibot_post(&a, &group_text("f1", "@bot 帮助"));
    let now = now_secs();
    let reason = |q: &str, body: &[u8], method: &Method| match handle(&a, method, q, body, now) {
        Err(PlatformError::Unauthenticated(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    };
    // Tampered ciphertext, foreign signature, missing parameters, stale or odd timestamps.
    // One character of the ciphertext changed, whatever the random ciphertext holds (a
    // replace of a fixed letter did nothing when the letter happened not to occur).
    let envelope: JsonEnvelope = serde_json::from_slice(&body).unwrap();
    let first = envelope.encrypt.chars().next().unwrap();
    let other = if first == 'A' { 'B' } else { 'A' };
    let tampered = serde_json::json!({
        "encrypt": format!("{other}{}", &envelope.encrypt[first.len_utf8()..])
    })
    .to_string();
    assert_eq!(reason(&q, tampered.as_bytes(), &Method::POST), "signature");
    let resigned = q.replacen("msg_signature=", "msg_signature=0", 1);
    assert_eq!(reason(&resigned, &body, &Method::POST), "signature");
    assert_eq!(reason("", &body, &Method::POST), "missing_signature");
    assert_eq!(
        reason("timestamp=1&nonce=2", &body, &Method::POST),
        "missing_signature"
    );
    let old = (now - 25 * 3600).to_string();
    let encrypt: JsonEnvelope = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        reason(
            &query(&old, "n", &encrypt.encrypt, false),
            &body,
            &Method::POST
        ),
        "stale_timestamp"
    );
    assert_eq!(
        reason(
            &query("soon", "n", &encrypt.encrypt, false),
            &body,
            &Method::POST
        ),
        "bad_timestamp"
    );
    assert_eq!(reason(&q, b"{}", &Method::POST), "no_ciphertext");
    assert_eq!(reason(&q, b"", &Method::GET), "no_ciphertext");
    // Signed correctly by someone with the token but not the key: decryption fails.
    let forged = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=";
    let ts = now.to_string();
    assert_eq!(
        reason(
            &query(&ts, "n", forged, false),
            json!({"encrypt": forged}).to_string().as_bytes(),
            &Method::POST
        ),
        "decrypt"
    );
}

fn reply(chat: &str, text: &str) -> Reply {
    Reply {
        chat_id: chat.to_owned(),
        text: text.to_owned(),
    }
}

#[tokio::test]
async fn aibot_replies_are_one_sealed_stream_and_the_overflow_is_deferred() {
    let a = adapter(WecomMode::Aibot);
    let (q, body) = aibot_post(&a, &group_text("r1", "@bot 帮助"));
    let e = event_of(handle(&a, &Method::POST, &q, &body, now_secs()));
    let chat = e.chat.chat_id.clone();
    let long = "长".repeat(1400);
    let rendered = a.render_replies(
        &e,
        &[
            reply("zhangsan", "私聊内容"),
            reply(
                &chat,
                &format!(
                    "第一条 <绑定码> [link](http://x) <@zhangsan> {}",
                    crate::platform::mention_token("lisi", "李四")
                ),
            ),
            reply(&chat, "第二条"),
            reply(&chat, &long),
        ],
    );
    assert_eq!(
        rendered.deferred,
        vec![reply("zhangsan", "私聊内容"), reply(&chat, &long)]
    );
    let (status, content_type, body) = body_of(rendered.response).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let outer: Value = serde_json::from_slice(&body).unwrap();
    let (encrypt, ts, nonce) = (
        outer["encrypt"].as_str().unwrap(),
        outer["timestamp"].as_str().unwrap(),
        outer["nonce"].as_str().unwrap(),
    );
    assert!(crypto::signature_matches(
        TOKEN,
        ts,
        nonce,
        encrypt,
        outer["msgsignature"].as_str().unwrap()
    ));
    let plain: Value = serde_json::from_slice(&a.crypt.decrypt(encrypt).unwrap()).unwrap();
    assert_eq!(
        plain,
        json!({"msgtype": "stream", "stream": {"id": stream_id("r1"), "finish": true,
               "content": "第一条 ＜绑定码＞ ［link］(http://x) ＜@zhangsan＞ <@lisi>\n\n第二条"}})
    );

    // Nothing to say: an empty 200.
    let rendered = a.render_replies(&e, &[]);
    assert_eq!(
        body_of(rendered.response).await,
        (200, String::new(), Vec::new())
    );
}

#[tokio::test]
async fn app_replies_are_sealed_xml_to_the_sender() {
    let a = adapter(WecomMode::App);
    let e = InboundEvent {
        chat: a.chat("mycreate".to_owned()),
        chat_kind: ChatKind::Private,
        sender_id: "mycreate".to_owned(),
        sender_name: None,
        message_id: "1".to_owned(),
        text: "帮助".to_owned(),
        mentioned: true,
        sent_at: None,
        context: None,
    };
    let rendered = a.render_replies(
        &e,
        &[reply("mycreate", "用法：加入 <姓名> ]]> <a href=\"x\">")],
    );
    assert!(rendered.deferred.is_empty());
    let (status, _, body) = body_of(rendered.response).await;
    assert_eq!(status, 200);
    #[derive(Deserialize)]
    struct Outer {
        #[serde(rename = "Encrypt")]
        encrypt: String,
        #[serde(rename = "MsgSignature")]
        signature: String,
        #[serde(rename = "TimeStamp")]
        timestamp: String,
        #[serde(rename = "Nonce")]
        nonce: String,
    }
    let outer: Outer = quick_xml::de::from_str(std::str::from_utf8(&body).unwrap()).unwrap();
    assert!(crypto::signature_matches(
        TOKEN,
        &outer.timestamp,
        &outer.nonce,
        &outer.encrypt,
        &outer.signature
    ));
    let plain = String::from_utf8(a.crypt.decrypt(&outer.encrypt).unwrap()).unwrap();
    #[derive(Deserialize)]
    struct Inner {
        #[serde(rename = "ToUserName")]
        to: String,
        #[serde(rename = "FromUserName")]
        from: String,
        #[serde(rename = "MsgType")]
        msg_type: String,
        #[serde(rename = "Content")]
        content: String,
    }
    let inner: Inner = quick_xml::de::from_str(&plain).unwrap();
    assert_eq!(
        (
            inner.to.as_str(),
            inner.from.as_str(),
            inner.msg_type.as_str()
        ),
        ("mycreate", CORP_ID, "text")
    );
    assert_eq!(inner.content, "用法：加入 ＜姓名＞ ]]＞ ＜a href=\"x\"＞");
}

#[test]
fn mentions_escaping_and_cutting() {
    let token = crate::platform::mention_token;
    assert_eq!(render_markdown(&token("zhangsan", "张三")), "<@zhangsan>");
    assert_eq!(render_markdown(&token("bad id>", "张三")), "@张三");
    assert_eq!(render_markdown(&token("all", "所有人")), "@所有人");
    assert_eq!(render_plain(&token("zhangsan", "张<三>")), "@张＜三＞");
    assert_eq!(
        render_markdown("<@all> <@a.b-c> <font color=\"red\">x</font> `c` **b** [l](u)"),
        "＜@all＞ ＜@a.b-c＞ ＜font color=\"red\"＞x＜/font＞ ｀c｀ ＊＊b＊＊ ［l］(u)"
    );
    assert_eq!(
        render_markdown("# 标题\n  # 二\n会议 #3 &lt;\n- 项\n1. 项\n    码\n_斜_ a_b ~~删~~"),
        "\u{200B}# 标题\n\u{200B}  # 二\n会议 #3 &\u{200B}lt;\n\u{200B}- 项\n\u{200B}1. 项\n\u{200B}    码\n＿斜＿ a_b ～～删～～"
    );
    assert_eq!(render_markdown("短"), "短");
    let cut = render_markdown(&"字".repeat(2000));
    assert!(
        cut.len() <= MAX_MARKDOWN_BYTES && cut.ends_with('…'),
        "{}",
        cut.len()
    );
    assert_eq!(cdata("a]]>b"), "<![CDATA[a]]]]><![CDATA[>b]]>");
    assert_eq!(stream_id("m1"), stream_id("m1"));
    assert_ne!(stream_id("m1"), stream_id("m2"));
    assert_eq!(adapter(WecomMode::Aibot).limits(), LIMITS);
}

#[test]
fn settings_are_checked() {
    let mut s = settings(WecomMode::App);
    s.corp_secret = None;
    let e = WecomAdapter::new("wx", &s, reqwest::Client::new(), store()).unwrap_err();
    assert_eq!(e.key, "corp_id");
    let mut s = settings(WecomMode::Aibot);
    s.corp_secret = None;
    assert!(WecomAdapter::new("wx", &s, reqwest::Client::new(), store()).is_ok());
    s.encoding_aes_key = Some(Secret::new("too-short"));
    let e = WecomAdapter::new("wx", &s, reqwest::Client::new(), store()).unwrap_err();
    assert_eq!(e.key, "encoding_aes_key");
    assert!(!e.to_string().contains("too-short"));
    // Empty secrets are absent secrets: the token is refused, an empty corp_secret does not
    // make an app, an empty push key is no push robot.
    let mut s = settings(WecomMode::Aibot);
    s.token = Some(Secret::new(""));
    let e = WecomAdapter::new("wx", &s, reqwest::Client::new(), store()).unwrap_err();
    assert_eq!(e.key, "token");
    let mut s = settings(WecomMode::App);
    s.corp_secret = Some(Secret::new(""));
    let e = WecomAdapter::new("wx", &s, reqwest::Client::new(), store()).unwrap_err();
    assert_eq!(e.key, "corp_id");
    let mut s = settings(WecomMode::Aibot);
    s.push_webhook_key = Some(Secret::new(""));
    let a = WecomAdapter::new("wx", &s, reqwest::Client::new(), store()).unwrap();
    assert!(a.push_webhook_key.is_none());
}

#[test]
fn api_answers_are_classified_for_the_outbox() {
    use reqwest::StatusCode as S;
    let wait = Duration::from_secs(7);
    assert!(matches!(
        classify(S::OK, br#"{"errcode":0,"errmsg":"ok"}"#, wait),
        ApiOutcome::Ok(_)
    ));
    assert_eq!(
        classify(
            S::OK,
            br#"{"errcode":42001,"errmsg":"access_token expired"}"#,
            wait
        ),
        ApiOutcome::InvalidToken
    );
    assert_eq!(
        classify(
            S::OK,
            br#"{"errcode":40014,"errmsg":"invalid access_token"}"#,
            wait
        ),
        ApiOutcome::InvalidToken
    );
    for code in [45009, 45033] {
        let body = json!({"errcode": code, "errmsg": "api freq out of limit"}).to_string();
        assert_eq!(
            classify(S::OK, body.as_bytes(), wait),
            ApiOutcome::Failed(SendError::RateLimited { retry_after: wait })
        );
    }
    assert_eq!(
        classify(S::TOO_MANY_REQUESTS, b"", wait),
        ApiOutcome::Failed(SendError::RateLimited { retry_after: wait })
    );
    assert!(matches!(
        classify(S::OK, br#"{"errcode":-1,"errmsg":"system busy"}"#, wait),
        ApiOutcome::Failed(SendError::Transient { .. })
    ));
    assert_eq!(
        classify(S::BAD_GATEWAY, b"<html/>", wait),
        ApiOutcome::Failed(
            SendError::transient("WeCom could not take the call").answered("HTTP 502")
        )
    );
    // Not an answer: the decoding error says why, under the status.
    let ApiOutcome::Failed(e @ SendError::Transient { .. }) = classify(S::OK, b"<html/>", wait)
    else {
        panic!("not transient");
    };
    assert_eq!(
        crate::error::chain(&e),
        "transient: WeCom's answer is not a WeCom answer: HTTP 200: expected value at line 1 column 1"
    );
    assert!(matches!(
        classify(S::NOT_FOUND, b"", wait),
        ApiOutcome::Failed(SendError::Permanent { .. })
    ));
    assert_eq!(
        classify(
            S::OK,
            br#"{"errcode":81013,"errmsg":"user & party & tag all invalid"}"#,
            wait
        ),
        ApiOutcome::Failed(
            SendError::permanent("WeCom refused the call")
                .answered("errcode 81013: user & party & tag all invalid")
        )
    );
}

#[test]
fn secrets_never_reach_an_error_text() {
    let mut s = settings(WecomMode::Aibot);
    s.push_webhook_key = Some(Secret::new("robot-key-123"));
    let a = WecomAdapter::new("wx", &s, reqwest::Client::new(), store()).unwrap();
    assert_eq!(
        a.redact("POST /webhook/send?key=robot-key-123 corpsecret=corp-secret-value"),
        "POST /webhook/send?key=<secret> corpsecret=<secret>"
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

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max);
        (0..len).map(|_| (self.next() & 0xff) as u8).collect()
    }

    fn mutate(&mut self, mut bytes: Vec<u8>) -> Vec<u8> {
        for _ in 0..=self.below(4) {
            let at = self.below(bytes.len());
            match self.below(3) {
                0 => {
                    if let Some(b) = bytes.get_mut(at) {
                        *b = (self.next() & 0xff) as u8;
                    }
                }
                1 => bytes.insert(at, (self.next() & 0xff) as u8),
                _ => bytes.truncate(at),
            }
        }
        bytes
    }
}

/// Random and mutated bytes, both as the outer body and (correctly sealed and signed) as the
/// decrypted plaintext, through verify, parse and render, in both modes.
#[test]
fn no_bytes_make_verify_parse_or_render_panic() {
    const ROUNDS: usize = 2500;
    let started = Instant::now();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let aibot = named("党建助手");
    let app = adapter(WecomMode::App);
    let aibot_seeds: Vec<Vec<u8>> = [
        group_text("s1", "@党建助手 帮助"),
        json!({"msgid": "s2", "chattype": "single", "from": {"userid": "u"}, "msgtype": "text",
               "text": {"content": "👍\u{2005}"}}),
        json!({"msgtype": "event", "event": {}}),
    ]
    .iter()
    .map(|v| v.to_string().into_bytes())
    .collect();
    let app_seeds: Vec<Vec<u8>> = [
        "<xml><FromUserName><![CDATA[u1]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[帮助]]></Content><MsgId>9</MsgId></xml>",
        "<xml><MsgType>event</MsgType></xml>",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let mut events = 0;
    let mut runs = 0;
    for _ in 0..ROUNDS {
        for (a, seeds) in [(&aibot, &aibot_seeds), (&app, &app_seeds)] {
            let seed = seeds[rng.below(seeds.len())].clone();
            let plains = [rng.bytes(96), rng.mutate(seed.clone())];
            for plain in plains {
                // Sealed and signed correctly: reaches the inner parsers.
                let encrypt = a.crypt.encrypt(&plain);
                let ts = now_secs().to_string();
                let q = query(&ts, "n", &encrypt, false);
                let outer = match a.mode {
                    WecomMode::Aibot => json!({"encrypt": encrypt}).to_string(),
                    WecomMode::App => {
                        format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
                    }
                };
                for body in [
                    outer.clone().into_bytes(),
                    rng.mutate(outer.into_bytes()),
                    rng.bytes(64),
                ] {
                    runs += 1;
                    if let Ok(Inbound::Event(e)) = handle(a, &Method::POST, &q, &body, now_secs()) {
                        events += 1;
                        let r = reply(&e.chat.chat_id, &e.text);
                        let _ = a.render_replies(&e, &[r.clone(), reply("other", &e.text), r]);
                    }
                }
                // As a GET handshake with random query bytes.
                let junk = String::from_utf8_lossy(&rng.bytes(40)).into_owned();
                let _ = handle(
                    a,
                    &Method::GET,
                    &format!("{q}&echostr={junk}"),
                    b"",
                    now_secs(),
                );
                let _ = handle(a, &Method::GET, &junk, b"", now_secs());
            }
        }
    }
    assert!(events > 0, "the loop never reached an event");
    eprintln!(
        "wecom fuzz: {ROUNDS} rounds, {runs} sealed requests, {events} events, {:?}",
        started.elapsed()
    );
}

/// The shared hostile inputs (`platform::fuzz`) in both modes, at every stage: as the
/// decrypted message (sealed and signed correctly, so they reach the inner JSON and XML
/// parsers), as the outer envelope around a genuine ciphertext (signed over that ciphertext,
/// so an envelope that still yields it passes `verify` and is read again by `parse`), and as
/// the signed query string. Nothing panics and every refusal is a clean `PlatformError`.
#[test]
fn hostile_inputs_never_panic_and_fail_cleanly() {
    use crate::platform::fuzz::{self, Tally};

    let started = Instant::now();
    let aibot = named("党建助手");
    let app = adapter(WecomMode::App);
    let now = now_secs();
    let ts = now.to_string();

    // verify, then parse, then render whatever became an event; a failure shows `shown`
    // (the plaintext, for sealed inputs).
    let run = |a: &WecomAdapter,
               (label, shown): (&str, &[u8]),
               query: &str,
               body: &[u8],
               tally: &mut Tally| {
        let headers = HeaderMap::new();
        let bytes = Bytes::copy_from_slice(body);
        let r = request(&Method::POST, query, &headers, &bytes);
        let verified = fuzz::survive(label, shown, || a.verify_at(r, now)).is_some();
        let parsed = verified
            .then(|| fuzz::survive(label, shown, || a.parse(r)))
            .flatten();
        if let Some(Inbound::Event(e)) = tally.count(verified, parsed) {
            fuzz::survive(label, shown, || {
                let _ = a.render_replies(&e, &[reply(&e.chat.chat_id, &e.text)]);
                Ok(())
            });
        }
    };
    // The outer envelope of a ciphertext, in the mode's format.
    let outer = |a: &WecomAdapter, encrypt: &str| match a.mode {
        WecomMode::Aibot => json!({ "encrypt": encrypt }).to_string(),
        WecomMode::App => format!(
            "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>\
             <Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID>218</AgentID></xml>"
        ),
    };

    let aibot_seeds = [
        group_text("s1", "@党建助手 帮助"),
        json!({"msgid": "s2", "chattype": "single", "from": {"userid": "u"}, "msgtype": "text",
               "text": {"content": "👍\u{2005}签到"}}),
    ];
    let app_seed = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\
        <FromUserName><![CDATA[u1]]></FromUserName><CreateTime>1409659813</CreateTime>\
        <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[帮助]]></Content>\
        <MsgId>4561255354251345929</MsgId><AgentID>218</AgentID></xml>";
    let mut inner: Vec<(&WecomAdapter, Vec<Vec<u8>>)> = aibot_seeds
        .iter()
        .map(|seed| {
            let mut inputs = fuzz::spliced(seed.to_string().as_bytes());
            inputs.extend(fuzz::hostile_json(seed));
            (&aibot, inputs)
        })
        .collect();
    let mut app_inputs = fuzz::spliced(app_seed.as_bytes());
    app_inputs.extend(fuzz::hostile_xml(app_seed));
    inner.push((&app, app_inputs));

    // Inside the ciphertext.
    let mut sealed = Tally::default();
    for (a, inputs) in &inner {
        for plain in inputs {
            let encrypt = a.crypt.encrypt(plain);
            let q = query(&ts, "n", &encrypt, false);
            let body = outer(a, &encrypt);
            run(
                a,
                ("decrypted message", plain),
                &q,
                body.as_bytes(),
                &mut sealed,
            );
        }
    }

    // Around a genuine ciphertext, and in the query string.
    let mut enveloped = Tally::default();
    let mut queried = Tally::default();
    for (a, genuine) in [
        (&aibot, aibot_seeds[0].to_string()),
        (&app, app_seed.to_owned()),
    ] {
        let encrypt = a.crypt.encrypt(genuine.as_bytes());
        let q = query(&ts, "n", &encrypt, false);
        let body = outer(a, &encrypt);
        let mut inputs = fuzz::spliced(body.as_bytes());
        match a.mode {
            WecomMode::Aibot => inputs.extend(fuzz::hostile_json(&json!({"encrypt": encrypt}))),
            WecomMode::App => inputs.extend(fuzz::hostile_xml(&body)),
        }
        for input in &inputs {
            run(a, ("outer envelope", input), &q, input, &mut enveloped);
        }
        for input in fuzz::spliced(q.as_bytes()) {
            if let Ok(q) = std::str::from_utf8(&input) {
                run(
                    a,
                    ("query string", &input),
                    q,
                    body.as_bytes(),
                    &mut queried,
                );
            }
        }
    }

    // Each stage was reached: hostile messages were decrypted and refused by the inner
    // parsers (and some still parsed), and hostile envelopes got past verify.
    assert!(sealed.malformed > 0 && sealed.parsed > 0, "{sealed:?}");
    assert_eq!(sealed.unauthenticated, 0, "{sealed:?}");
    assert!(
        enveloped.parsed > 0 && enveloped.unauthenticated > 0,
        "{enveloped:?}"
    );
    assert!(queried.unauthenticated > 0, "{queried:?}");
    eprintln!(
        "wecom hostile inputs: sealed {sealed:?}, envelopes {enveloped:?}, queries {queried:?}, \
         {:?}",
        started.elapsed()
    );
}
