//! The WeCom adapter end to end: AI bot callbacks sealed and signed as WeCom seals them,
//! answered with a sealed passive reply that the test opens again; the GET echostr handshake;
//! forged callbacks; and sends against a fake WeCom API that checks the access token, the
//! robot key, the path and the body shape.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use mobile_branch::{
    config::BotSettings,
    error::chain,
    platform::{
        OutboundMessage, Platform, SendError,
        wecom::{
            WecomAdapter,
            crypto::{MsgCrypt, signature},
        },
    },
    store::{Store, outbox::QueuedMessage},
};
use serde_json::{Value, json};

use crate::helpers::{REDIS, TestApp, spawn_app_with, spawn_live_app, test_settings};

pub(super) const TOKEN: &str = "wecomCallbackToken";
/// A 43-character EncodingAESKey of our own.
pub(super) const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub(super) const CORP_ID: &str = "ww0123456789abcdef";
const CORP_SECRET: &str = "corp-secret-0123456789";
const ROBOT_KEY: &str = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";
pub(super) const GROUP: &str = "wrkSFfCgAAtMQKg4xqDatM5C9IDHFpTw";
const BOT_NAME: &str = "党建助手";

/// How the fake answers the next `message/send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    RateLimited,
    ServerError,
    Refused,
    /// 40014 once: the token we hand out next is the good one.
    InvalidTokenOnce,
}

#[derive(Clone)]
struct Fake {
    answer: Arc<Mutex<Answer>>,
    /// The token the fake accepts now.
    valid_token: Arc<Mutex<String>>,
    token_fetches: Arc<AtomicU32>,
    /// Every request seen: `METHOD /path`, the query and the JSON body.
    seen: Arc<Mutex<Vec<(String, String, Value)>>>,
}

pub(super) struct FakeWecom {
    pub(super) base: String,
    fake: Fake,
}

impl FakeWecom {
    pub(super) async fn start() -> Self {
        let fake = Fake {
            answer: Arc::new(Mutex::new(Answer::Ok)),
            valid_token: Arc::new(Mutex::new(String::new())),
            token_fetches: Arc::new(AtomicU32::new(0)),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(api).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, fake }
    }

    fn answer(&self, answer: Answer) {
        *self.fake.answer.lock().unwrap() = answer;
    }

    pub(super) fn seen(&self, path: &str) -> Vec<(String, Value)> {
        self.fake
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, q, b)| (q.clone(), b.clone()))
            .collect()
    }
}

fn param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn errcode(code: i64, msg: &str) -> Response {
    Json(json!({"errcode": code, "errmsg": msg})).into_response()
}

/// The WeCom endpoints as they answer (errcode in a 200 body), checking credentials.
async fn api(State(fake): State<Fake>, method: Method, uri: Uri, body: Bytes) -> Response {
    let query = uri.query().unwrap_or_default().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = format!("{method} {}", uri.path());
    fake.seen
        .lock()
        .unwrap()
        .push((path.clone(), query.clone(), body.clone()));
    let token_ok = || {
        let valid = fake.valid_token.lock().unwrap().clone();
        !valid.is_empty() && param(&query, "access_token").as_deref() == Some(valid.as_str())
    };
    match path.as_str() {
        "GET /cgi-bin/gettoken" => {
            if param(&query, "corpid").as_deref() != Some(CORP_ID)
                || param(&query, "corpsecret").as_deref() != Some(CORP_SECRET)
            {
                return errcode(40001, "invalid credential");
            }
            let n = fake.token_fetches.fetch_add(1, Ordering::SeqCst) + 1;
            let token = format!("access-token-{n}");
            *fake.valid_token.lock().unwrap() = token.clone();
            Json(json!({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}))
                .into_response()
        }
        "POST /cgi-bin/message/send" => {
            let answer = *fake.answer.lock().unwrap();
            if answer == Answer::InvalidTokenOnce {
                *fake.answer.lock().unwrap() = Answer::Ok;
                // The token we handed out is revoked: only a fresh one will do.
                fake.valid_token.lock().unwrap().clear();
                return errcode(40014, "invalid access_token");
            }
            if !token_ok() {
                return errcode(40014, "invalid access_token");
            }
            let shape = body["touser"].is_string()
                && body["msgtype"] == "text"
                && body["agentid"] == 1_000_002
                && body["text"]["content"].is_string();
            if !shape {
                return errcode(40008, "invalid message type");
            }
            match answer {
                Answer::Ok | Answer::InvalidTokenOnce => errcode(0, "ok"),
                Answer::RateLimited => errcode(45009, "api freq out of limit"),
                Answer::ServerError => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "upstream error").into_response()
                }
                Answer::Refused => errcode(81013, "user & party & tag all invalid"),
            }
        }
        "GET /cgi-bin/user/get" => {
            if !token_ok() {
                return errcode(40014, "invalid access_token");
            }
            match param(&query, "userid").as_deref() {
                Some("lisi") => Json(json!({"errcode": 0, "errmsg": "ok", "userid": "lisi",
                                            "name": "李四"}))
                .into_response(),
                _ => errcode(60111, "userid not found"),
            }
        }
        "POST /cgi-bin/webhook/send" => {
            if param(&query, "key").as_deref() != Some(ROBOT_KEY) {
                return errcode(93000, "invalid webhook url");
            }
            if body["msgtype"] != "markdown" || !body["markdown"]["content"].is_string() {
                return errcode(40008, "invalid message type");
            }
            errcode(0, "ok")
        }
        "POST /cgi-bin/aibot/response" => {
            if param(&query, "response_code").is_none() || body["msgtype"] != "markdown" {
                return errcode(40058, "invalid parameter");
            }
            errcode(0, "ok")
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

pub(super) fn aibot_bot(api_base: &str) -> String {
    format!(
        r#"
[bots.wx]
platform = "wecom"
mode = "aibot"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
bot_name = "{BOT_NAME}"
push_webhook_key = "{ROBOT_KEY}"
push_chat_id = "{GROUP}"
api_base = "{api_base}"
limits = {{ per_chat_per_minute = 600, per_bot_per_second = 200 }}
"#
    )
}

pub(super) fn app_bot(api_base: &str) -> String {
    format!(
        r#"
[bots.wxapp]
platform = "wecom"
mode = "app"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
corp_id = "{CORP_ID}"
corp_secret = "{CORP_SECRET}"
agent_id = 1000002
api_base = "{api_base}"
"#
    )
}

/// The adapter as `from_settings` builds it, for direct sends.
fn adapter(toml: &str, name: &str) -> WecomAdapter {
    let settings = test_settings(&REDIS.url(), toml);
    let Some(BotSettings::Wecom(wx)) = settings.bots.get(name) else {
        panic!("bots.{name} is a wecom bot")
    };
    let store = Store::new(&settings.redis).unwrap();
    WecomAdapter::new(name, wx, reqwest::Client::new(), store).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An AI bot group text callback, as WeCom delivers it after @BotName.
pub(super) fn group_text(msgid: &str, user: &str, content: &str, response_base: &str) -> Value {
    json!({
        "msgid": msgid,
        "aibotid": "AIBOTID",
        "chatid": GROUP,
        "chattype": "group",
        "from": {"userid": user},
        "response_url": format!("{response_base}/cgi-bin/aibot/response?response_code=RC-{msgid}"),
        "msgtype": "text",
        "text": {"content": format!("@{BOT_NAME} {content}")},
    })
}

/// Seals and signs `message` as WeCom does: the receive id of an AI bot is "".
fn sealed(message: &Value, timestamp: i64) -> (String, String) {
    let crypt = MsgCrypt::new(AES_KEY, "").unwrap();
    let encrypt = crypt.encrypt(message.to_string().as_bytes());
    let ts = timestamp.to_string();
    let nonce = "1372623149";
    let query = format!(
        "msg_signature={}&timestamp={ts}&nonce={nonce}",
        signature(TOKEN, &ts, nonce, &encrypt)
    );
    (query, json!({ "encrypt": encrypt }).to_string())
}

async fn post(app: &TestApp, query: &str, body: String) -> reqwest::Response {
    app.client
        .post(format!("{}/webhook/wecom/wx?{query}", app.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Seals, posts and opens, as one WeCom delivery.
pub(super) async fn deliver(app: &TestApp, message: &Value) -> (u16, Value) {
    let (query, body) = sealed(message, now());
    opened(post(app, &query, body).await).await
}

/// Opens a passive AI bot reply: checks its signature, returns the decrypted JSON.
async fn opened(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    if text.is_empty() {
        return (status, Value::Null);
    }
    let outer: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
    let Some(encrypt) = outer["encrypt"].as_str() else {
        return (status, outer);
    };
    let (ts, nonce) = (
        outer["timestamp"].as_str().unwrap(),
        outer["nonce"].as_str().unwrap(),
    );
    assert_eq!(
        outer["msgsignature"].as_str().unwrap(),
        signature(TOKEN, ts, nonce, encrypt)
    );
    let plain = MsgCrypt::new(AES_KEY, "")
        .unwrap()
        .decrypt(encrypt)
        .unwrap();
    (status, serde_json::from_slice(&plain).unwrap())
}

pub(super) fn content(reply: &Value) -> &str {
    assert_eq!(reply["msgtype"], "stream", "{reply}");
    assert_eq!(reply["stream"]["finish"], true, "{reply}");
    reply["stream"]["content"].as_str().unwrap()
}

#[tokio::test]
async fn the_echostr_handshake_answers_the_bare_plaintext() {
    let fake = FakeWecom::start().await;
    let app = spawn_app_with(test_settings(&REDIS.url(), &aibot_bot(&fake.base))).await;
    let echostr = MsgCrypt::new(AES_KEY, "")
        .unwrap()
        .encrypt(b"8237429187239123");
    let ts = now().to_string();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("msg_signature", &signature(TOKEN, &ts, "42", &echostr))
        .append_pair("timestamp", &ts)
        .append_pair("nonce", "42")
        .append_pair("echostr", &echostr)
        .finish();

    let ok = app
        .client
        .get(format!("{}/webhook/wecom/wx?{query}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.bytes().await.unwrap().as_ref(), b"8237429187239123");

    let forged = app
        .client
        .get(format!(
            "{}/webhook/wecom/wx?{}",
            app.base,
            query.replace("nonce=42", "nonce=43")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_binds_and_a_member_joins_once_however_often_wecom_retries() {
    // Arrange
    let fake = FakeWecom::start().await;
    let app = spawn_app_with(test_settings(&REDIS.url(), &aibot_bot(&fake.base))).await;
    let (id, code) = app.create_branch("企微支部").await;
    let prefix = app.prefix.clone();

    // Act: the secretary binds the group.
    let bind = group_text(
        &format!("{prefix}-1"),
        "wangshuji",
        &format!("绑定 {code}"),
        "https://qyapi.weixin.qq.com",
    );
    let (query, body) = sealed(&bind, now());
    let (status, reply) = opened(post(&app, &query, body).await).await;

    // Assert: the sealed passive stream reply names the branch.
    assert_eq!(status, 200, "{reply}");
    assert!(content(&reply).contains("企微支部"), "{reply}");

    // Act: one join callback delivered once, then twice at once (WeCom retries after 5 s;
    // replicas race). Each delivery is sealed afresh, as WeCom's retries are.
    let join = group_text(&format!("{prefix}-2"), "lisi", "加入 李四", &fake.base);
    let first = deliver(&app, &join).await;
    let (second, third) = tokio::join!(deliver(&app, &join), deliver(&app, &join));

    // Assert: identical replies (the stream id is the message's), one pending member.
    assert_eq!(first.0, 200, "{first:?}");
    assert_eq!(first, second);
    assert_eq!(first, third);
    assert!(content(&first.1).contains("已收到加入申请"), "{first:?}");
    let (_, requests) = app
        .api(
            reqwest::Method::GET,
            &format!("/branches/{id}/join-requests"),
            None,
        )
        .await;
    assert_eq!(requests["total"], 1, "{requests}");
    // Nothing had to go through the API.
    assert!(fake.fake.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn forged_callbacks_get_401_and_store_nothing() {
    let fake = FakeWecom::start().await;
    let app = spawn_app_with(test_settings(&REDIS.url(), &aibot_bot(&fake.base))).await;
    let before = app.keys(&REDIS.url()).await;
    let message = group_text("forged-1", "mallory", "帮助", &fake.base);

    let (query, body) = sealed(&message, now());
    // Wrong signature.
    let wrong = query.replacen("msg_signature=", "msg_signature=ff", 1);
    // Tampered body: another ciphertext under the original signature.
    let (_, other_body) = sealed(
        &group_text("forged-2", "mallory", "加入 X", &fake.base),
        now(),
    );
    // Expired: signed correctly, two days old.
    let (old_query, old_body) = sealed(&message, now() - 2 * 24 * 3600);
    // Sealed with another key (receive id check and padding fail), signed with the token.
    let foreign = MsgCrypt::new("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "")
        .unwrap()
        .encrypt(message.to_string().as_bytes());
    let ts = now().to_string();
    let foreign_query = format!(
        "msg_signature={}&timestamp={ts}&nonce=1",
        signature(TOKEN, &ts, "1", &foreign)
    );
    for (what, query, body) in [
        ("wrong signature", wrong, body.clone()),
        ("tampered body", query.clone(), other_body),
        ("expired timestamp", old_query, old_body),
        ("no signature", String::new(), body.clone()),
        (
            "foreign key",
            foreign_query,
            json!({"encrypt": foreign}).to_string(),
        ),
    ] {
        let response = post(&app, &query, body).await;
        assert_eq!(response.status(), 401, "{what}");
    }
    assert_eq!(
        app.keys(&REDIS.url()).await,
        before,
        "a refused callback wrote keys"
    );
}

#[tokio::test]
async fn app_sends_use_one_token_refresh_it_once_and_map_every_answer() {
    let fake = FakeWecom::start().await;
    let wx = adapter(&app_bot(&fake.base), "wxapp");
    let message = OutboundMessage {
        chat_id: "lisi".to_owned(),
        text: "会议 #3 明天 19:30 <开始>".to_owned(),
        idempotency_key: "meeting:b1:3:reminder:24h:chat:lisi".to_owned(),
        context: None,
    };
    for (answer, expected) in [
        (Answer::Ok, Ok(())),
        (
            Answer::RateLimited,
            Err(SendError::RateLimited {
                retry_after: Duration::from_secs(30),
            }),
        ),
        (
            Answer::ServerError,
            Err(SendError::transient("WeCom could not take the call").answered("HTTP 500")),
        ),
        (
            Answer::Refused,
            Err(SendError::permanent("WeCom refused the call")
                .answered("errcode 81013: user & party & tag all invalid")),
        ),
        (Answer::InvalidTokenOnce, Ok(())),
    ] {
        fake.answer(answer);
        assert_eq!(wx.send(&message).await, expected, "{answer:?}");
    }
    // One fetch for the first four sends, one more after the refusal.
    assert_eq!(fake.fake.token_fetches.load(Ordering::SeqCst), 2);
    let sends = fake.seen("POST /cgi-bin/message/send");
    assert_eq!(sends.len(), 6, "{sends:?}");
    assert_eq!(
        sends[0].1,
        json!({"touser": "lisi", "msgtype": "text", "agentid": 1_000_002,
               "text": {"content": "会议 #3 明天 19:30 ＜开始＞"}, "safe": 0})
    );
    assert_eq!(
        param(&sends[5].0, "access_token").as_deref(),
        Some("access-token-2")
    );

    // The display name comes from user/get with the same token.
    assert_eq!(
        wx.fetch_display_name("lisi", "lisi").await,
        Ok(Some("李四".to_owned()))
    );
    assert!(matches!(
        wx.fetch_display_name("x", "ghost").await,
        Err(e @ SendError::Permanent { .. }) if chain(&e).contains("60111")
    ));

    // A wrong corp secret is final, and its value never shows.
    let bad = adapter(
        &app_bot(&fake.base).replace(CORP_SECRET, "wrong-secret-value"),
        "wxapp",
    );
    match bad.send(&message).await {
        Err(e @ SendError::Permanent { .. }) => {
            let m = chain(&e);
            assert!(
                m.starts_with("permanent: the WeCom access token could not be fetched: "),
                "{m}"
            );
            assert!(!m.contains("wrong-secret-value"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn aibot_sends_go_through_response_url_once_then_the_push_robot_or_nowhere() {
    let fake = FakeWecom::start().await;
    let wx = adapter(&aibot_bot(&fake.base), "wx");
    let context = json!({
        "chat_id": GROUP,
        // WeCom's host: only its path and query are used, against api_base.
        "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=RC1",
        "expires_at": now() + 600,
    });
    let reply = OutboundMessage {
        chat_id: GROUP.to_owned(),
        text: "第二条 [点我](http://evil)".to_owned(),
        idempotency_key: "reply:x:1".to_owned(),
        context: Some(context.clone()),
    };
    assert_eq!(wx.send(&reply).await, Ok(()));
    let responses = fake.seen("POST /cgi-bin/aibot/response");
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].0, "response_code=RC1");
    assert_eq!(
        responses[0].1,
        json!({"msgtype": "markdown", "markdown": {"content": "第二条 ［点我］(http://evil)"}})
    );

    // An expired response_url is skipped: the push robot of that group carries it.
    let mut late = reply.clone();
    late.context = Some(
        json!({"chat_id": GROUP, "response_url": "https://x/cgi-bin/aibot/response?response_code=RC2", "expires_at": now() - 1}),
    );
    assert_eq!(wx.send(&late).await, Ok(()));
    let pushes = fake.seen("POST /cgi-bin/webhook/send");
    assert_eq!(pushes.len(), 1);
    assert_eq!(param(&pushes[0].0, "key").as_deref(), Some(ROBOT_KEY));

    // Another chat without app credentials has no route: final, never the robot's group.
    let elsewhere = OutboundMessage {
        chat_id: "other-group".to_owned(),
        context: None,
        ..reply
    };
    assert!(matches!(
        wx.send(&elsewhere).await,
        Err(SendError::Permanent { .. })
    ));
    assert_eq!(fake.seen("POST /cgi-bin/webhook/send").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_delivers_a_proactive_message_through_the_push_robot() {
    let fake = FakeWecom::start().await;
    let app = spawn_live_app(test_settings(&REDIS.url(), &aibot_bot(&fake.base))).await;
    let message = QueuedMessage {
        id: "wecom-push-1".to_owned(),
        bot: "wx".to_owned(),
        chat_id: GROUP.to_owned(),
        text: "会议 #3 明天 19:30".to_owned(),
        intent: "test:wecom:push".to_owned(),
        queued_at: chrono::Utc::now(),
        attempts: 0,
        last_error: None,
        context: None,
    };
    assert!(
        app.store
            .enqueue_message(&message, Duration::from_secs(600))
            .await
            .unwrap()
    );
    app.eventually(10, "the robot got the push", || async {
        !fake.seen("POST /cgi-bin/webhook/send").is_empty()
    })
    .await;
    let pushes = fake.seen("POST /cgi-bin/webhook/send");
    assert_eq!(
        pushes[0].1,
        json!({"msgtype": "markdown", "markdown": {"content": "会议 #3 明天 19:30"}})
    );
}
