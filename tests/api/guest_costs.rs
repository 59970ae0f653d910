//! What people nobody vouched for can cost: guests, unbound chats and senders that cannot be
//! told apart. On DingTalk one captured header pair lets anyone post as any sender in any
//! conversation for an hour, so these tests forge exactly that and count what Redis keeps and
//! what the robot sends. Also: dead letters stay bounded, a DingTalk private chat never uses a
//! sessionWebhook the body names, and a Telegram anonymous admin binds nothing.

use std::{collections::BTreeMap, time::Duration};

use serde_json::{Value, json};

use mobile_branch::{clock::Clock, store::outbox::QueuedMessage};

use crate::{
    dingtalk::{FakeDingtalk, dt_bot, group_text, post_callback, session_texts},
    feishu::{self, FakeFeishu, MEMBER, SECRETARY},
    helpers::{REDIS, TestApp, spawn_app_with, spawn_live_app, test_settings},
    telegram::{self, FakeTelegram},
};

/// Deferred replies to guests per bot per window in these tests.
const BUDGET: usize = 4;
/// A Feishu account on no roster.
const GUEST: &str = "ou_0000000000000000000000000000aaaa";
/// `timing.dedup_ttl` (default): no key a guest causes may outlive it.
const DEDUP_TTL_MS: i64 = 24 * 3600 * 1000;

/// A DingTalk app with a small guest budget over an hour, so that the window cannot roll over
/// while a test runs and the count is exact.
async fn spawn_guest_app(fake: &FakeDingtalk, budget: usize) -> TestApp {
    let extra = format!(
        "{}\n[limits]\nwindow = \"1h\"\nguest_replies = {budget}\n",
        dt_bot(&fake.base)
    );
    spawn_live_app(test_settings(&REDIS.url(), &extra)).await
}

async fn conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Milliseconds until `key` expires (-1: never, -2: gone).
async fn pttl(key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn().await)
        .await
        .unwrap()
}

/// The keys in `after` that are not in `before`.
fn added(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect()
}

/// The same message in another unbound conversation of the robot.
fn in_conversation(mut body: Value, conversation: &str) -> Value {
    body["conversationId"] = json!(conversation);
    body
}

/// Every post the fake received on any sessionWebhook: (session id, text).
fn session_posts(fake: &FakeDingtalk) -> Vec<(String, String)> {
    fake.seen()
        .into_iter()
        .filter_map(|(path, _, body)| {
            let id = path.strip_prefix("POST /session/")?.to_owned();
            Some((id, body["text"]["content"].as_str()?.to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn guests_across_many_unbound_dingtalk_conversations_leave_only_bounded_expiring_keys() {
    // Arrange: a branch whose code nobody has used yet, and the state before any guest.
    let fake = FakeDingtalk::start().await;
    let app = spawn_guest_app(&fake, BUDGET).await;
    let (_, code) = app.create_branch("钉钉访客支部").await;
    let before = app.redis_state(&[]).await;

    // Act: 40 forged guests, each in a conversation of their own (DingTalk bodies are
    // forgeable, so there is no end to conversation ids): help, a hint, a join, 我的.
    let texts = [" 帮助", " /乱码", " 加入 张三", " 我的"];
    let mut quiet_ids = Vec::new();
    for i in 0..40 {
        let msg_id = format!("{}-guest-{i}", app.prefix);
        let body = group_text(
            &fake,
            &msg_id,
            &format!("guest{i:03}"),
            "访客",
            texts[i % texts.len()],
        );
        let body = in_conversation(body, &format!("cidUnbound{i:03}=="));
        assert_eq!(post_callback(&app, &body).await.status(), 200, "{i}");
        quiet_ids.push(msg_id);
    }
    // And 12 wrong bind codes, each in yet another conversation: these are answered, but
    // only within the bot's guest budget.
    for i in 0..12 {
        let msg_id = format!("{}-wrongbind-{i}", app.prefix);
        let body = group_text(
            &fake,
            &msg_id,
            &format!("binder{i:03}"),
            "猜码",
            " 绑定 ZZZZ2345",
        );
        let body = in_conversation(body, &format!("cidGuess{i:03}=="));
        assert_eq!(post_callback(&app, &body).await.status(), 200, "{i}");
    }
    app.quiet().await;

    // Assert: nothing waits in the outbox, and every new key expires within the dedup window.
    assert_eq!(app.store.outbox_depth().await.unwrap(), 0);
    let after = app.redis_state(&[]).await;
    let new_keys = added(&before, &after);
    let (mut intents, mut buckets, mut counters) = (0, 0, 0);
    for key in &new_keys {
        let ttl = pttl(key).await;
        assert!(
            ttl > 0 && ttl <= DEDUP_TTL_MS,
            "{key} lives {ttl} ms: every key a guest causes must expire within the dedup window"
        );
        if key.contains(":{outbox}:intent:reply:") {
            intents += 1;
        } else if key.contains(":{outbox}:tb:") {
            buckets += 1;
        } else if key.contains(":{lim:") || key.contains(":{wa:") || key.contains(":guest_replies:")
        {
            counters += 1;
        } else {
            panic!("a guest left an unexpected key: {key}");
        }
    }
    // The outbox: one intent per reply sent, and the budget is what bounds them.
    assert_eq!(intents, BUDGET, "{new_keys:#?}");
    assert!(buckets <= BUDGET + 1, "{new_keys:#?}");
    // Counters: the chat's and the sender's per message, the wrong-code pair per guess, and
    // the budget's own; all of them expire with their window.
    assert!(
        counters <= 2 * 40 + 2 * 2 * 12 + 1,
        "{counters}: {new_keys:#?}"
    );

    // No help, hint, join or 我的 answer was sent: in an unbound chat only binds are.
    let posts = session_posts(&fake);
    assert!(
        posts.iter().all(|(id, _)| !quiet_ids.contains(id)),
        "{posts:?}"
    );
    assert_eq!(posts.len(), BUDGET, "{posts:?}");
    assert!(fake.seen_on("/v1.0/robot/groupMessages/send").is_empty());

    // The secretary's real bind still gets its answer, the budget spent or not: its effect
    // (a single-use code) bounds it.
    let bind_id = format!("{}-bind", app.prefix);
    let bind = group_text(
        &fake,
        &bind_id,
        "secretary01",
        "王书记",
        &format!(" 绑定 {code}"),
    );
    let bind = in_conversation(bind, "cidRealBranch0001==");
    assert_eq!(post_callback(&app, &bind).await.status(), 200);
    app.eventually(15, "the bind reply on its sessionWebhook", || async {
        session_texts(&fake, &bind_id)
            .iter()
            .any(|t| t.contains("钉钉访客支部") && t.contains("书记"))
    })
    .await;
}

#[tokio::test]
async fn guests_in_a_bound_dingtalk_group_get_at_most_the_budget_and_members_are_still_answered() {
    // Arrange: the group bound by its secretary.
    let fake = FakeDingtalk::start().await;
    let budget = 2;
    let app = spawn_guest_app(&fake, budget).await;
    let (_, code) = app.create_branch("钉钉有群支部").await;
    let bind_id = format!("{}-bind", app.prefix);
    let bind = group_text(
        &fake,
        &bind_id,
        "secretary01",
        "王书记",
        &format!(" 绑定 {code}"),
    );
    assert_eq!(post_callback(&app, &bind).await.status(), 200);
    app.eventually(15, "the bind reply", || async {
        !session_texts(&fake, &bind_id).is_empty()
    })
    .await;
    app.quiet().await;
    let before = app.redis_state(&[]).await;

    // Act: ten forged guests ask for help in the bound group; then the secretary does.
    let mut guest_ids = Vec::new();
    for i in 0..10 {
        let msg_id = format!("{}-guest-{i}", app.prefix);
        let body = group_text(&fake, &msg_id, &format!("guest{i:03}"), "访客", " 帮助");
        assert_eq!(post_callback(&app, &body).await.status(), 200);
        guest_ids.push(msg_id);
    }
    let member_id = format!("{}-secretary-help", app.prefix);
    let body = group_text(&fake, &member_id, "secretary01", "王书记", " 帮助");
    assert_eq!(post_callback(&app, &body).await.status(), 200);

    // Assert: the member is answered; guests got at most the budget.
    app.eventually(20, "the secretary's help", || async {
        !session_texts(&fake, &member_id).is_empty()
    })
    .await;
    app.quiet().await;
    let answered = guest_ids
        .iter()
        .filter(|id| !session_texts(&fake, id).is_empty())
        .count();
    assert_eq!(answered, budget);
    let after = app.redis_state(&[]).await;
    let intents: Vec<String> = added(&before, &after)
        .into_iter()
        .filter(|k| k.contains(":{outbox}:intent:"))
        .collect();
    // The guests' replies and the member's, each intent no longer than the dedup window.
    assert_eq!(intents.len(), budget + 1, "{intents:#?}");
    for key in &intents {
        let ttl = pttl(key).await;
        assert!(ttl > 0 && ttl <= DEDUP_TTL_MS, "{key}: {ttl}");
    }
}

#[tokio::test]
async fn a_forged_private_message_as_the_secretary_is_answered_through_the_openapi_only() {
    // Arrange: the secretary bound the group; their private chat now resolves to the branch.
    let fake = FakeDingtalk::start().await;
    let app = spawn_guest_app(&fake, BUDGET).await;
    let (_, code) = app.create_branch("钉钉私聊支部").await;
    let bind_id = format!("{}-bind", app.prefix);
    let bind = group_text(
        &fake,
        &bind_id,
        "secretary01",
        "王书记",
        &format!(" 绑定 {code}"),
    );
    assert_eq!(post_callback(&app, &bind).await.status(), 200);
    app.eventually(15, "the bind reply", || async {
        !session_texts(&fake, &bind_id).is_empty()
    })
    .await;

    // Act: forged 1:1 messages "from" the secretary (DingTalk signs only the timestamp),
    // each naming a session of the attacker's own robot on the exact documented endpoint.
    for (i, text) in ["绑定码", "成员"].iter().enumerate() {
        let mut body = group_text(
            &fake,
            &format!("{}-forged-{i}", app.prefix),
            "secretary01",
            "王书记",
            text,
        );
        body["conversationType"] = json!("1");
        body["conversationId"] = json!("cidPrivateWithSecretary==");
        body["atUsers"] = json!([]);
        body["sessionWebhook"] = json!(fake.session_url(&format!("attacker-{i}")));
        let object = body.as_object_mut().unwrap();
        object.remove("isInAtList");
        object.remove("conversationTitle");
        assert_eq!(post_callback(&app, &body).await.status(), 200, "{text}");
    }

    // Assert: both answers went to the secretary through the OpenAPI; the attacker's
    // sessions got nothing.
    let private_texts = || {
        fake.seen_on("/v1.0/robot/oToMessages/batchSend")
            .into_iter()
            .filter(|b| b["userIds"] == json!(["secretary01"]))
            .filter_map(|b| {
                b["msgParam"]
                    .as_str()
                    .and_then(|p| serde_json::from_str::<Value>(p).ok())
            })
            .map(|p| p["content"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    app.eventually(20, "both private answers on the OpenAPI", || async {
        private_texts().len() >= 2
    })
    .await;
    app.quiet().await;
    let texts = private_texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("绑定码")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("王书记")), "{texts:?}");
    for i in 0..2 {
        assert!(
            session_texts(&fake, &format!("attacker-{i}")).is_empty(),
            "{:?}",
            fake.seen()
        );
    }
    // Only the bind reply, in the group, used a sessionWebhook.
    let posts = session_posts(&fake);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].0, bind_id);
}

/// A message for a bot that is not configured: the outbox can only dead-letter it.
fn undeliverable(app: &TestApp, n: usize) -> QueuedMessage {
    QueuedMessage {
        id: format!("{}-dead-{n}", app.prefix),
        bot: "gone".to_owned(),
        chat_id: format!("c{n}"),
        text: format!("通知 {n}"),
        intent: format!("test:{}:{n}", app.prefix),
        queued_at: app.clock.now(),
        attempts: 0,
        last_error: None,
        context: None,
    }
}

#[tokio::test]
async fn dead_letters_keep_only_the_newest_and_age_out() {
    // Arrange: at most 3 dead letters, each kept for an hour.
    let mut settings = test_settings(&REDIS.url(), "");
    settings.outbox.dead_letter_cap = 3;
    settings.outbox.dead_letter_ttl = Duration::from_secs(3600);
    let app = spawn_app_with(settings).await;
    let dead_key = format!("{}:{{outbox}}:dead", app.prefix);
    let index_key = format!("{}:{{outbox}}:dead_at", app.prefix);

    // A dead letter as an older version stored it: in the hash, with no time index.
    let legacy = undeliverable(&app, 99);
    let _: () = redis::cmd("HSET")
        .arg(&dead_key)
        .arg(&legacy.id)
        .arg(serde_json::to_string(&legacy).unwrap())
        .query_async(&mut conn().await)
        .await
        .unwrap();

    // Act: six messages die one after another, a second apart.
    for n in 0..6 {
        let message = undeliverable(&app, n);
        assert!(
            app.store
                .enqueue_message(&message, Duration::from_secs(60))
                .await
                .unwrap()
        );
        app.eventually(10, "the message to be dead-lettered", || async {
            app.store.outbox_depth().await.unwrap() == 0
        })
        .await;
        if n == 0 {
            // The first prune indexed the old letter too, as of then: it ages and counts.
            app.eventually(10, "the legacy dead letter to be indexed", || async {
                let score: Option<f64> = redis::cmd("ZSCORE")
                    .arg(&index_key)
                    .arg(&legacy.id)
                    .query_async(&mut conn().await)
                    .await
                    .unwrap();
                score.is_some()
            })
            .await;
        }
        app.clock.advance(chrono::Duration::seconds(1));
    }

    // Assert: the newest three are kept, and both keys expire an hour after the newest.
    app.eventually(10, "the cap to hold", || async {
        app.store.dead_messages(0, 200).await.unwrap().0.len() == 3
    })
    .await;
    let kept: Vec<String> = app
        .store
        .dead_messages(0, 200)
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|m| m.id)
        .collect();
    let newest: Vec<String> = (3..6).map(|n| format!("{}-dead-{n}", app.prefix)).collect();
    assert_eq!(kept, newest);
    // Operators read them a page at a time, oldest first.
    let (status, page) = app
        .api(reqwest::Method::GET, "/outbox/dead?page=2&per_page=2", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 3, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["items"][0]["id"], newest[2].as_str(), "{page}");
    // The app's clock ran 6 s ahead of Redis's.
    for key in [&dead_key, &index_key] {
        let ttl = pttl(key).await;
        assert!(ttl > 3_590_000 && ttl <= 3_606_000, "{key}: {ttl}");
    }

    // Two hours on, the outbox drops them all without a new dead letter coming.
    app.clock.advance(chrono::Duration::hours(2));
    app.eventually(10, "old dead letters to be dropped", || async {
        app.store.dead_messages(0, 200).await.unwrap().0.is_empty()
    })
    .await;
    assert_eq!(pttl(&dead_key).await, -2);
    assert_eq!(pttl(&index_key).await, -2);
}

/// A supergroup message as an anonymous admin sends it: `from` is GroupAnonymousBot, the
/// same account for every anonymous admin of every group, and `sender_chat` the group.
fn anonymous(update_id: i64, text: &str) -> Value {
    let mut update = telegram::group_text(update_id, 0, "Group", text);
    update["message"]["from"] = json!({"id": 1_087_968_824_i64, "is_bot": true,
        "first_name": "Group", "username": "GroupAnonymousBot"});
    update["message"]["sender_chat"] =
        json!({"id": telegram::GROUP, "title": "星光支部", "type": "supergroup"});
    update
}

#[tokio::test]
async fn an_anonymous_admin_s_bind_binds_nothing_and_changes_nothing_in_redis() {
    // Arrange
    let fake = FakeTelegram::start().await;
    let app = telegram::spawn_tg_app(&fake).await;
    let (id, code) = app.create_branch("电报匿名支部").await;
    let before = app.redis_state(&[]).await;
    let post = |update: Value| {
        let app = &app;
        async move {
            telegram::json_of(telegram::post_update(app, Some(telegram::SECRET), &update).await)
                .await
        }
    };

    // Act: an anonymous admin binds; then a post as a channel and a bot try the same.
    let (status, _, first) = post(anonymous(880_001, &format!("/绑定 {code}"))).await;
    let mut as_channel =
        telegram::group_text(880_002, 136_817_688, "Channel", &format!("/绑定 {code}"));
    as_channel["message"]["sender_chat"] = json!({"id": -100_777, "type": "channel"});
    let (_, _, second) = post(as_channel).await;
    let mut from_bot = telegram::group_text(880_003, 5005, "Bot", &format!("/绑定 {code}"));
    from_bot["message"]["from"]["is_bot"] = json!(true);
    let (_, _, third) = post(from_bot).await;
    let (_, _, chatter) = post(anonymous(880_004, "大家好")).await;

    // Assert: the first command is told why, once; the rest get Telegram's no-op.
    assert_eq!(status, 200);
    assert_eq!(first["method"], "sendMessage", "{first}");
    assert!(
        first["text"].as_str().unwrap().contains("本人身份"),
        "{first}"
    );
    assert_eq!(second, json!({}));
    assert_eq!(third, json!({}));
    assert_eq!(chatter, json!({}));
    // Nothing bound, nothing learned: the only new key is the chat's expiring counter.
    app.assert_redis_unchanged(&before, &[":anon"], "an unattributed bind")
        .await;
    let after = app.redis_state(&[]).await;
    let new_keys = added(&before, &after);
    assert_eq!(new_keys.len(), 1, "{new_keys:?}");
    let ttl = pttl(&new_keys[0]).await;
    assert!(ttl > 0 && ttl <= 60_000, "{}: {ttl}", new_keys[0]);
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());

    // The code still works for a person posting as themselves, who becomes the secretary.
    let (_, _, bound) = post(telegram::group_text(
        880_005,
        1,
        "王书记",
        &format!("绑定 {code}"),
    ))
    .await;
    assert!(
        bound["text"].as_str().unwrap().contains("电报匿名支部"),
        "{bound}"
    );
    let (_, members) = app
        .api(
            reqwest::Method::GET,
            &format!("/branches/{id}/members"),
            None,
        )
        .await;
    let members = members["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0]["role"], "secretary");
    assert_eq!(members[0]["identities"][0]["user_id"], "1");
}

#[tokio::test]
async fn a_display_name_is_cached_only_for_someone_on_the_roster() {
    // Arrange: Feishu events carry no sender name, so binds and joins look it up.
    let fake = FakeFeishu::start().await;
    let app = feishu::spawn_fs_app(&fake).await;
    let (_, code) = app.create_branch("飞书名字支部").await;
    let names = || async {
        app.keys(&REDIS.url())
            .await
            .into_iter()
            .filter(|k| k.contains(":name:"))
            .collect::<Vec<_>>()
    };

    // Act: a guest guesses a code in the unbound group; the secretary binds it; another
    // guest asks to join under a name the roster does not hold (a request: still a guest).
    let guess = feishu::group_message("om_guess0000000000000000000000001", MEMBER, "绑定 ZZZZ2345");
    assert_eq!(feishu::deliver(&app, &guess).await.0, 200);
    assert!(
        names().await.is_empty(),
        "a guest's failed bind cached a name"
    );
    let bind = feishu::group_message(
        "om_bind00000000000000000000000001",
        SECRETARY,
        &format!("绑定 {code}"),
    );
    assert_eq!(feishu::deliver(&app, &bind).await.0, 200);
    let join = feishu::group_message("om_join00000000000000000000000001", GUEST, "加入 陌生人");
    assert_eq!(feishu::deliver(&app, &join).await.0, 200);

    // Assert: the names were asked for, but only the secretary's is kept.
    let lookups = fake
        .paths()
        .into_iter()
        .filter(|p| p.starts_with("GET /open-apis/contact/v3/users/"))
        .count();
    assert!(lookups >= 3, "{:?}", fake.paths());
    let kept = names().await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0].ends_with(&format!(":name:fs:{SECRETARY}")),
        "{kept:?}"
    );
    let ttl = pttl(&kept[0]).await;
    assert!(ttl > 0 && ttl <= 7 * DEDUP_TTL_MS, "{ttl}");
}
