//! Every state-changing command has one effect even when Redis fails half-way through it and
//! the platform (or the API client) retries.
//!
//! For each command: run it once on a clean state and count its Redis requests (N), and take
//! the state it leaves as the reference. Then for every k in 1..=N, in both fault modes (the
//! request never reaches Redis; Redis runs it and the answer is lost): a fresh state, request
//! k fails, the same message (same message id, or same `Idempotency-Key`) is sent again, and
//! Redis must end up exactly as the clean run left it (one object, one number, each
//! announcement and notice queued once, each job once), with the same reply.
//!
//! The app runs without its scheduler and outbox workers, so that every Redis request counted
//! is the command's own, and what it queued stays in Redis to be compared.

use std::collections::BTreeMap;

use chrono::Duration as ChronoDuration;
use mobile_branch::{clock::Clock, store::fault::FaultMode};
use redis::AsyncCommands;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, REDIS, TestApp, spawn_app_with, test_settings};

const SECRETARY: (&str, &str) = ("u1", "王书记");
const MEMBER: (&str, &str) = ("u2", "李四");
const GUEST: (&str, &str) = ("u3", "王五");
const GROUP: &str = "g1";
/// The idempotency key every API retry sends (state is wiped between runs).
const KEY: &str = "retry-key-1";

/// One state-changing call.
#[derive(Clone, Copy)]
enum Call {
    /// A chat message from `who` in `chat`; `{code}` in the text is replaced by a fresh
    /// committee bind code.
    Chat {
        who: (&'static str, &'static str),
        chat: &'static str,
        text: &'static str,
    },
    /// An admin API request; `{b}` in the path is the branch id, `{starts}` in the body a
    /// time three days ahead.
    Api {
        method: &'static str,
        path: &'static str,
        body: Option<&'static str>,
    },
}

/// What one attempt answered: success or not, and its normalized content.
struct Answer {
    ok: bool,
    status: u16,
    content: String,
}

struct Harness {
    app: TestApp,
    redis: redis::aio::MultiplexedConnection,
}

impl Harness {
    async fn new() -> Self {
        let mut settings = test_settings(&REDIS.url(), "");
        settings.scheduler.enabled = false;
        settings.outbox.enabled = false;
        let app = spawn_app_with(settings).await;
        let client = redis::Client::open(REDIS.url()).expect("client");
        let redis = client
            .get_multiplexed_async_connection()
            .await
            .expect("conn");
        Self { app, redis }
    }

    /// Every key of this app, gone: the next run starts from nothing.
    async fn wipe(&mut self) {
        let keys: Vec<String> = self
            .redis
            .keys(format!("{}:*", self.app.prefix))
            .await
            .expect("keys");
        for key in keys {
            let _: i64 = self.redis.del(&key).await.expect("del");
        }
    }

    async fn say(&self, who: (&str, &str), chat: &str, text: &str, id: &str) -> reqwest::Response {
        let body = if let Some(user) = chat.strip_prefix("dm:") {
            json!({"chat_type": "private", "chat_id": chat, "user_id": user,
                   "user_name": who.1, "message_id": id, "text": text})
        } else {
            json!({"chat_id": chat, "user_id": who.0, "user_name": who.1,
                   "message_id": id, "text": text})
        };
        self.app
            .post_raw("/webhook/sim/demo", body.to_string())
            .await
    }

    async fn said(&self, who: (&str, &str), text: &str, id: &str) -> Vec<String> {
        let resp = self.say(who, GROUP, text, id).await;
        assert_eq!(resp.status(), 200, "setup: {text}");
        replies(resp.json().await.expect("json"))
    }

    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .app
            .client
            .request(method, format!("{}/api/v1{path}", self.app.base))
            .bearer_auth(ADMIN_TOKEN)
            .header("Idempotency-Key", KEY);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    /// A branch with a secretary (bound the group), a linked member, meeting #1 two days
    /// ahead with a leave asked, and a guest's join request; returns the branch id and a
    /// fresh committee bind code.
    async fn prepare(&mut self) -> (String, String) {
        self.wipe().await;
        let (branch, code) = self.app.create_branch("重试支部").await;
        self.said(SECRETARY, &format!("绑定 {code}"), "setup-1")
            .await;
        let (status, _) = self
            .app
            .api(
                Method::POST,
                &format!("/branches/{branch}/members"),
                Some(json!({"name": MEMBER.1})),
            )
            .await;
        assert_eq!(status, 201);
        self.said(MEMBER, &format!("加入 {}", MEMBER.1), "setup-2")
            .await;
        let starts = self.app.clock.now() + ChronoDuration::days(2);
        let (status, _) = self
            .app
            .api(
                Method::POST,
                &format!("/branches/{branch}/meetings"),
                Some(
                    json!({"kind": "general_assembly", "starts_at": starts.to_rfc3339(),
                            "topic": "学习"}),
                ),
            )
            .await;
        assert_eq!(status, 201);
        self.said(MEMBER, "请假 #1 出差", "setup-3").await;
        self.said(GUEST, &format!("加入 {}", GUEST.1), "setup-4")
            .await;
        let (status, body) = self
            .app
            .api(
                Method::POST,
                &format!("/branches/{branch}/bind-codes"),
                Some(json!({"committee": true})),
            )
            .await;
        assert_eq!(status, 201);
        let committee_code = body["bind_code"].as_str().expect("code").to_owned();
        (branch, committee_code)
    }

    /// One attempt of `call` (always the same message id or idempotency key).
    async fn attempt(&self, call: Call, branch: &str, committee_code: &str) -> Answer {
        match call {
            Call::Chat { who, chat, text } => {
                let text = text.replace("{code}", committee_code);
                let resp = self.say(who, chat, &text, "the-message").await;
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                Answer {
                    ok: status == 200,
                    status,
                    content: replies(body).join("\n"),
                }
            }
            Call::Api { method, path, body } => {
                // A day after meeting #1's start: a move is a move.
                let starts = self.app.clock.now() + ChronoDuration::days(3);
                let body = body.map(|b| {
                    serde_json::from_str(&b.replace("{starts}", &starts.to_rfc3339()))
                        .expect("body")
                });
                let resp = self.api(method, &path.replace("{b}", branch), body).await;
                let status = resp.status().as_u16();
                let content = resp.text().await.unwrap_or_default();
                Answer {
                    ok: status < 300,
                    status,
                    content,
                }
            }
        }
    }

    /// Whether the reply to the message under test is stored for redeliveries.
    async fn reply_stored(&mut self) -> bool {
        let keys: Vec<String> = self
            .redis
            .keys(format!("{}:*dedup:*:the-message", self.app.prefix))
            .await
            .expect("keys");
        !keys.is_empty()
    }

    /// After a failed attempt: a claim the failure left held (its release or its reply was
    /// lost) blocks retries until it expires (30 s); the platform's retry comes after that,
    /// so the test lets it expire now. Whether there was one to expire. (Members' claims live
    /// under their branch's tag.)
    async fn expire_stale_claim(&mut self) -> bool {
        let key = format!("{}:*dedup:sim:demo:", self.app.prefix);
        let keys: Vec<String> = self.redis.keys(format!("{key}*")).await.expect("keys");
        let mut expired = false;
        for k in keys {
            let v: Option<String> = self.redis.get(&k).await.expect("get");
            if v.is_some_and(|v| v.starts_with("P:")) {
                let _: i64 = self.redis.del(&k).await.expect("del");
                expired = true;
            }
        }
        expired
    }

    /// What differs between two equal runs, with a stable name for each: the branch id,
    /// member ids (by name), bind codes (by kind and user), outbox message ids.
    async fn names(&mut self, branch: &str) -> Vec<(String, String)> {
        let prefix = format!("{}:", self.app.prefix);
        let mut names = vec![(branch.to_owned(), "B".to_owned())];
        let members: BTreeMap<String, String> = self
            .redis
            .hgetall(format!("{prefix}{{b:{branch}}}:members"))
            .await
            .expect("members");
        for (id, raw) in &members {
            let v: Value = serde_json::from_str(raw).expect("member json");
            names.push((
                id.clone(),
                format!("M<{}>", v["name"].as_str().unwrap_or("?")),
            ));
        }
        let messages: BTreeMap<String, String> = self
            .redis
            .hgetall(format!("{prefix}{{outbox}}:msg"))
            .await
            .expect("outbox");
        for id in messages.keys() {
            names.push((id.clone(), "MSG".to_owned()));
        }
        // A code is named by what it is for and who used it: a run has one of each kind.
        let codes: Vec<String> = self
            .redis
            .keys(format!("{prefix}{{b:{branch}}}:bindcode:*"))
            .await
            .expect("keys");
        for key in codes {
            let Some((_, code)) = key.rsplit_once(':') else {
                continue;
            };
            let raw: String = self.redis.get(&key).await.expect("code");
            let v: Value = serde_json::from_str(&raw).expect("code json");
            let name = format!("CODE<{}:{}>", v["committee"], v["used_by"]);
            names.push((code.to_owned(), name));
        }
        names
    }

    /// The whole state of this app's keys, renamed by [`Harness::names`]. Counters that a
    /// retry rightly bumps (rate limits, wrong-code tries) are left out, and so is the audit
    /// log: it records requests, best effort (a failed write does not fail the request).
    async fn state(&mut self, names: &[(String, String)]) -> BTreeMap<String, String> {
        let prefix = format!("{}:", self.app.prefix);
        let mut keys: Vec<String> = self.redis.keys(format!("{prefix}*")).await.expect("keys");
        keys.sort();
        let normalize = |s: &str| rename(names, s);
        let mut state = BTreeMap::new();
        for key in keys {
            let name = normalize(&key[prefix.len()..]);
            // Members' counters live under their branch's tag (`{b:…}:lim:…`, `{b:…}:wa:…`).
            let counter = ["{lim:", "{wa:", "}:lim:", "}:wa:"]
                .iter()
                .any(|c| name.contains(c));
            if counter || name.ends_with(":audit") {
                continue;
            }
            let kind: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(&mut self.redis)
                .await
                .expect("type");
            let value = match kind.as_str() {
                "string" => {
                    let v: String = self.redis.get(&key).await.expect("get");
                    normalize(&v)
                }
                "hash" => {
                    let h: BTreeMap<String, String> =
                        self.redis.hgetall(&key).await.expect("hgetall");
                    let mut entries: Vec<String> = h
                        .iter()
                        .map(|(f, v)| format!("{} => {}", normalize(f), normalize(v)))
                        .collect();
                    entries.sort();
                    entries.join("\n")
                }
                "list" => {
                    let l: Vec<String> = self.redis.lrange(&key, 0, -1).await.expect("lrange");
                    normalize(&l.join("\n"))
                }
                "set" => {
                    let mut s: Vec<String> = self.redis.smembers(&key).await.expect("smembers");
                    s.sort();
                    normalize(&s.join("\n"))
                }
                "zset" => {
                    let z: Vec<(String, f64)> = self
                        .redis
                        .zrange_withscores(&key, 0, -1)
                        .await
                        .expect("zrange");
                    let mut z: Vec<String> = z
                        .iter()
                        .map(|(m, s)| format!("{} @{s}", normalize(m)))
                        .collect();
                    z.sort();
                    z.join("\n")
                }
                other => other.to_owned(),
            };
            state.insert(name, value);
        }
        state
    }
}

fn rename(names: &[(String, String)], s: &str) -> String {
    let mut s = s.to_owned();
    for (from, to) in names {
        s = s.replace(from.as_str(), to);
    }
    s
}

fn replies(body: Value) -> Vec<String> {
    body["replies"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| r["text"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn hide_stored_replies(state: &mut BTreeMap<String, String>) {
    for (key, value) in state.iter_mut() {
        if key.contains("dedup:") {
            *value = "a stored reply".to_owned();
        }
    }
}

/// Shows how two states differ, key by key.
fn difference(clean: &BTreeMap<String, String>, got: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in got {
        match clean.get(k) {
            None => out.push_str(&format!("+ {k} = {v}\n")),
            Some(c) if c != v => out.push_str(&format!("~ {k}\n  clean: {c}\n  now:   {v}\n")),
            _ => {}
        }
    }
    for k in clean.keys().filter(|k| !got.contains_key(*k)) {
        out.push_str(&format!("- {k}\n"));
    }
    out
}

/// The table's driver: see the module comment.
/// `retry_may_say`: where a retry after the commit may answer otherwise than the first time,
/// what it says instead.
async fn converges(name: &str, call: Call, retry_may_say: Option<&str>) {
    let mut h = Harness::new().await;

    let (branch, code) = h.prepare().await;
    h.app.store.faults().count();
    let clean = h.attempt(call, &branch, &code).await;
    let calls = h.app.store.faults().calls();
    assert!(clean.ok, "{name}: the clean run failed: {}", clean.content);
    let names = h.names(&branch).await;
    let clean_answer = rename(&names, &clean.content);
    let clean_stored_reply = h.reply_stored().await;
    let mut clean_state = h.state(&names).await;
    if retry_may_say.is_some() {
        hide_stored_replies(&mut clean_state);
    }
    assert!(calls > 0, "{name}: no Redis requests counted");

    for mode in [FaultMode::Refuse, FaultMode::LoseReply] {
        for k in 1..=calls {
            let (branch, code) = h.prepare().await;
            h.app.store.faults().fail_call(k, mode);
            let first = h.attempt(call, &branch, &code).await;
            let fired = h.app.store.faults().fired();
            h.app.store.faults().count();
            let last = if first.ok {
                let expired = h.expire_stale_claim().await;
                if expired || (clean_stored_reply && !h.reply_stored().await) {
                    // The reply was not stored (a claim stays held until it expires): a
                    // redelivery after that runs the command again, and must change nothing.
                    h.attempt(call, &branch, &code).await
                } else {
                    first
                }
            } else {
                assert!(
                    fired,
                    "{name}: failed with no fault ({}): {}",
                    first.status, first.content
                );
                assert!(
                    first.status >= 500,
                    "{name} {mode:?} at {k}/{calls}: a failure must ask for a retry, got {} {}",
                    first.status,
                    first.content
                );
                h.expire_stale_claim().await;
                h.attempt(call, &branch, &code).await
            };
            assert!(
                last.ok,
                "{name} {mode:?} at {k}/{calls}: the retry failed ({}): {}",
                last.status, last.content
            );
            let names = h.names(&branch).await;
            let answer = rename(&names, &last.content);
            assert!(
                answer == clean_answer || retry_may_say.is_some_and(|s| answer.contains(s)),
                "{name} {mode:?} at {k}/{calls}: the answer differs from a clean run's:\n\
                 clean: {clean_answer}\nnow:   {answer}"
            );
            let mut state = h.state(&names).await;
            if retry_may_say.is_some() {
                // The stored reply is the answer just checked.
                hide_stored_replies(&mut state);
            }
            assert!(
                state == clean_state,
                "{name} {mode:?} at {k}/{calls}: Redis differs from a clean run's:\n{}",
                difference(&clean_state, &state)
            );
        }
    }
}

macro_rules! table {
    ($($test:ident: $call:expr $(, or $alt:literal)?;)*) => {$(
        #[tokio::test]
        async fn $test() {
            converges(stringify!($test), $call, None $(.or(Some($alt)))?).await;
        }
    )*};
}

const fn chat(who: (&'static str, &'static str), text: &'static str) -> Call {
    Call::Chat {
        who,
        chat: GROUP,
        text,
    }
}

const fn api(method: &'static str, path: &'static str, body: Option<&'static str>) -> Call {
    Call::Api { method, path, body }
}

table! {
    chat_new_meeting: chat(SECRETARY, "新建会议 党员大会 明天 19:30 年度总结");
    chat_rsvp: chat(MEMBER, "参加 #1");
    chat_leave: chat(MEMBER, "请假 #1 家里有事");
    chat_refuse_leave: chat(SECRETARY, "驳回请假 #1 李四");
    chat_reschedule: chat(SECRETARY, "改期 #1 后天 20:00");
    chat_cancel_meeting: chat(SECRETARY, "取消会议 #1");
    chat_open_checkin: chat(SECRETARY, "开始签到 #1 30");
    chat_end_meeting: chat(SECRETARY, "结束会议 #1");
    chat_minutes: chat(SECRETARY, "会议记录 #1 学习了文件");
    chat_approve: chat(SECRETARY, "批准 王五");
    chat_reject: chat(SECRETARY, "拒绝 王五");
    chat_unlink: chat(SECRETARY, "解除关联 李四");
    chat_bind_code: chat(SECRETARY, "绑定码");
    chat_members: chat(SECRETARY, "成员");
    chat_me: chat(MEMBER, "我的");
    chat_join: chat(("u4", "赵六"), "加入 赵六");
    // A bind is a guest's command (no claim); its retry finds the bind's effect marker and
    // answers as the first delivery would have.
    chat_bind_committee: Call::Chat { who: SECRETARY, chat: "g-committee", text: "绑定支委群 {code}" };
    api_create_meeting: api("POST", "/branches/{b}/meetings",
        Some(r#"{"kind": "committee", "starts_at": "{starts}", "topic": "研究工作"}"#));
    api_notice_now: api("POST", "/branches/{b}/notices", Some(r#"{"text": "今晚停电"}"#));
    api_notice_later: api("POST", "/branches/{b}/notices",
        Some(r#"{"text": "明天开会", "at": "{starts}"}"#));
    api_add_member: api("POST", "/branches/{b}/members", Some(r#"{"name": "赵六"}"#));
    api_bind_code: api("POST", "/branches/{b}/bind-codes", None);
    api_series: api("POST", "/branches/{b}/recurring-meetings",
        Some(r#"{"kind": "theme_day", "topic": "主题党日", "day": 5, "at": "19:30"}"#));
    api_reschedule: api("PATCH", "/branches/{b}/meetings/1", Some(r#"{"starts_at": "{starts}"}"#));
    api_cancel_meeting: api("POST", "/branches/{b}/meetings/1/cancel", None);
    api_end_meeting: api("POST", "/branches/{b}/meetings/1/end", None);
    api_minutes: api("POST", "/branches/{b}/meetings/1/minutes",
        Some(r#"{"text": "学习了文件", "by": "李四"}"#));
}

/// A retry comes later than the first attempt: what a command keys by must not be the clock.
/// `请假` told the committee under a key with the time in it, so a retry a minute later told
/// it twice.
#[tokio::test]
async fn a_leave_retried_a_minute_later_tells_the_committee_once() {
    let mut h = Harness::new().await;
    let call = chat(MEMBER, "请假 #1 家里有事");
    let notices = |h: &mut Harness| {
        let key = format!("{}:{{outbox}}:q:demo:dm:{}", h.app.prefix, SECRETARY.0);
        let mut redis = h.redis.clone();
        async move {
            let n: usize = redis.llen(key).await.expect("llen");
            n
        }
    };
    let (branch, code) = h.prepare().await;
    h.app.store.faults().count();
    assert!(h.attempt(call, &branch, &code).await.ok);
    let calls = h.app.store.faults().calls();
    let clean = notices(&mut h).await;
    assert!(
        clean >= 2,
        "the setup's leave and this one reach the secretary"
    );
    for k in 1..=calls {
        let (branch, code) = h.prepare().await;
        h.app.store.faults().fail_call(k, FaultMode::LoseReply);
        let first = h.attempt(call, &branch, &code).await;
        h.app.store.faults().count();
        if !first.ok {
            h.expire_stale_claim().await;
            h.app.clock.advance(ChronoDuration::seconds(60));
            assert!(h.attempt(call, &branch, &code).await.ok, "retry at {k}");
        }
        assert_eq!(notices(&mut h).await, clean, "failure at {k}/{calls}");
    }
}

#[tokio::test]
async fn an_idempotency_key_reused_for_another_request_is_refused_and_changes_nothing() {
    let mut h = Harness::new().await;
    let (branch, _) = h.prepare().await;
    let path = format!("/branches/{branch}/members");
    let first = h.api("POST", &path, Some(json!({"name": "孙伟"}))).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    // The same request again: the same member, as a retry must get.
    let again = h.api("POST", &path, Some(json!({"name": "孙伟"}))).await;
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["id"], first["id"]);
    // Another request under the same key: refused, with the fix, and nobody is added.
    let names = h.names(&branch).await;
    let before = h.state(&names).await;
    let other = h.api("POST", &path, Some(json!({"name": "李明"}))).await;
    assert_eq!(other.status(), 422);
    assert_eq!(other.headers()["content-type"], "application/problem+json");
    let body: Value = other.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Idempotency-Key") && d.contains("different request")),
        "{body}"
    );
    assert_eq!(
        h.state(&names).await,
        before,
        "the refused request wrote nothing"
    );
}
