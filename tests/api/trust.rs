//! Nobody gains a role, an identity or a secret they were not given (issue: trust). Each test
//! replays an attack that used to work, through the real webhook path, and shows it refused
//! with nothing changed in Redis but the webhook's own reply memo.

use reqwest::Method;
use serde_json::json;

use crate::helpers::cast::SEC;
use crate::helpers::{TestApp, Who, spawn_app};

const ZHAO: Who<'static> = Who {
    chat: "g1",
    user: "u-zhao",
    name: "赵支委",
};
const MALLORY: Who<'static> = Who {
    chat: "g1",
    user: "u-mallory",
    name: "路人甲",
};

/// Keys a refused command may still write: the webhook's dedup memo of its reply, and the
/// expiring counters of the inbound limits.
const MEMO: &[&str] = &[":dedup:", ":{lim:", ":{wa:", "}:lim:", "}:wa:"];

/// A branch bound by 王书记, with 赵支委 (支委, linked by the secretary's approval) and two
/// unlinked entries: 钱党员 (党员) and 孙书记 (书记, a second secretary entry nobody holds).
async fn branch_with_committee(app: &TestApp) -> String {
    let (id, code) = app.create_branch("守信支部").await;
    app.say1(SEC, &format!("绑定 {code}")).await;
    for (name, role) in [
        ("赵支委", "committee"),
        ("钱党员", "member"),
        ("孙书记", "secretary"),
    ] {
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/branches/{id}/members"),
                Some(json!({"name": name, "role": role, "phone": "13900000000"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    assert!(
        app.say1(ZHAO, "加入 赵支委")
            .await
            .contains("已收到加入申请")
    );
    assert!(
        app.say1(SEC, "批准 赵支委")
            .await
            .contains("关联到「赵支委」")
    );
    id
}

async fn committee_code(app: &TestApp, id: &str) -> String {
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/bind-codes"),
            Some(json!({"committee": true})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["bind_code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_member_chat_code_never_binds_the_committee_chat_and_codes_work_once() {
    let app = spawn_app().await;
    let (id, code) = app.create_branch("守信支部").await;
    app.api(
        Method::POST,
        &format!("/branches/{id}/members"),
        Some(json!({"name": "赵支委", "role": "committee"})),
    )
    .await;
    app.say1(SEC, &format!("绑定 {code}")).await;
    app.say1(ZHAO, "加入 赵支委").await;
    app.say1(SEC, "批准 赵支委").await;
    app.quiet().await;
    let before = app.redis_state(MEMO).await;

    // The attack: a committee member reuses the code the secretary typed into the group.
    let reply = app.say1(ZHAO, &format!("绑定支委群 {code}")).await;
    assert!(reply.contains("普通群绑定码"), "{reply}");
    let reply = app
        .say1(
            Who {
                chat: "g-new",
                ..ZHAO
            },
            &format!("绑定支委群 {code}"),
        )
        .await;
    assert!(reply.contains("普通群绑定码"), "{reply}");
    // A repeat in the chat that used it only says it is bound.
    let reply = app.say1(SEC, &format!("绑定 {code}")).await;
    assert!(reply.contains("已绑定该支部"), "{reply}");
    // Anywhere else it is used up.
    let reply = app
        .say1(Who { chat: "g2", ..SEC }, &format!("绑定 {code}"))
        .await;
    assert!(reply.contains("已被使用"), "{reply}");
    app.assert_redis_unchanged(&before, MEMO, "reusing a member-chat code")
        .await;
    let (_, branch) = app.api(Method::GET, &format!("/branches/{id}"), None).await;
    assert!(branch["committee_chat"].is_null(), "{branch}");
}

#[tokio::test]
async fn a_member_chat_is_never_the_committee_chat_nor_the_reverse() {
    let app = spawn_app().await;
    let id = branch_with_committee(&app).await;

    // A genuine committee code, typed into the member chat by a committee member.
    let committee = committee_code(&app, &id).await;
    app.quiet().await;
    let before = app.redis_state(MEMO).await;
    let reply = app.say1(ZHAO, &format!("绑定支委群 {committee}")).await;
    assert!(reply.contains("不能设为支委群"), "{reply}");
    // …or as a member-chat bind anywhere.
    let reply = app
        .say1(Who { chat: "g2", ..SEC }, &format!("绑定 {committee}"))
        .await;
    assert!(reply.contains("支委群绑定码"), "{reply}");
    app.assert_redis_unchanged(&before, MEMO, "a committee code in a member chat")
        .await;

    // Bound where it belongs, the committee chat cannot become a member chat later.
    let gc = Who { chat: "gc", ..ZHAO };
    assert!(
        app.say1(gc, &format!("绑定支委群 {committee}"))
            .await
            .contains("支委群")
    );
    let (_, body) = app
        .api(Method::POST, &format!("/branches/{id}/bind-codes"), None)
        .await;
    let member_code = body["bind_code"].as_str().unwrap().to_owned();
    app.quiet().await;
    let before = app.redis_state(MEMO).await;
    let reply = app.say1(gc, &format!("绑定 {member_code}")).await;
    assert!(reply.contains("本群是支委群"), "{reply}");
    app.assert_redis_unchanged(&before, MEMO, "binding the committee chat as a member chat")
        .await;
    let (_, branch) = app.api(Method::GET, &format!("/branches/{id}"), None).await;
    assert_eq!(branch["committee_chat"]["chat_id"], "gc", "{branch}");
    assert_eq!(branch["chats"].as_array().unwrap().len(), 1, "{branch}");

    // A new committee chat replaces the old one, which is then no chat of the branch.
    let newer = committee_code(&app, &id).await;
    let gc2 = Who {
        chat: "gc2",
        ..ZHAO
    };
    assert!(
        app.say1(gc2, &format!("绑定支委群 {newer}"))
            .await
            .contains("支委群")
    );
    assert!(app.say1(gc, "会议").await.contains("尚未绑定"));
}

#[tokio::test]
async fn typing_a_name_links_only_plain_members_and_never_reveals_the_roster() {
    let app = spawn_app().await;
    let id = branch_with_committee(&app).await;
    let roster_keys = [":members", ":member_names", ":identities", ":ident:"];
    let only_roster = |state: std::collections::BTreeMap<String, Vec<u8>>| {
        state
            .into_iter()
            .filter(|(k, _)| roster_keys.iter().any(|r| k.contains(r)))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let before = only_roster(app.redis_state(MEMO).await);

    // The attack: a guest types the name of an unlinked 书记 entry, a linked 支委, and a name
    // that is on no roster. The three answers are the same, and none gives any power.
    let as_secretary = app.say1(MALLORY, "加入 孙书记").await;
    let as_committee = app
        .say1(
            Who {
                user: "u-m2",
                ..MALLORY
            },
            "加入 赵支委",
        )
        .await;
    let unknown = app
        .say1(
            Who {
                user: "u-m3",
                ..MALLORY
            },
            "加入 周不存在",
        )
        .await;
    assert_eq!(as_secretary, unknown);
    assert_eq!(as_committee, unknown);
    assert!(unknown.contains("已收到加入申请"), "{unknown}");
    for user in ["u-mallory", "u-m2"] {
        let reply = app.say1(Who { user, ..MALLORY }, "成员").await;
        assert!(reply.contains("仅限支委"), "{reply}");
        let reply = app.say1(Who { user, ..MALLORY }, "结束会议 #1").await;
        assert!(reply.contains("仅限支委"), "{reply}");
    }
    assert_eq!(
        only_roster(app.redis_state(MEMO).await),
        before,
        "a request changed the roster"
    );
    let (_, requests) = app
        .api(Method::GET, &format!("/branches/{id}/join-requests"), None)
        .await;
    assert_eq!(requests["total"], 3, "{requests}");

    // A plain 党员 entry with no account links at once, and the secretary is told who did it.
    let reply = app
        .say1(
            Who {
                user: "u-qian",
                name: "小钱",
                ..MALLORY
            },
            "加入 钱党员",
        )
        .await;
    assert!(reply.contains("已收到加入申请"), "{reply}");
    let told = app.mail_containing("demo", "dm:u-sec", "【关联】").await;
    assert!(
        told.contains("小钱") && told.contains("解除关联 钱党员"),
        "{told}"
    );
    // The secretary undoes a wrong link; that account is a guest again.
    let reply = app.say1(SEC, "解除关联 钱党员").await;
    assert!(reply.contains("现为访客"), "{reply}");
    let reply = app
        .say1(
            Who {
                user: "u-qian",
                ..MALLORY
            },
            "我的",
        )
        .await;
    assert!(reply.contains("不在名册上"), "{reply}");
}

#[tokio::test]
async fn one_approval_links_one_account_of_several_waiting_for_a_name() {
    let app = spawn_app().await;
    let id = branch_with_committee(&app).await;
    // 钱党员's own account and a stranger's both ask for the (already linked) name.
    let qian = Who {
        chat: "g1",
        user: "u-qian",
        name: "钱党员",
    };
    app.say1(qian, "加入 钱党员").await;
    let stranger = Who {
        chat: "g1",
        user: "u-stranger",
        name: "钱党员",
    };
    let second = Who {
        user: "u-qian-2",
        ..qian
    };
    app.say1(second, "加入 钱党员").await;
    app.clock.advance(chrono::Duration::minutes(1));
    app.say1(stranger, "加入 钱党员").await;
    app.quiet().await;
    let quiet_keys = &[
        ":dedup:",
        ":{lim:",
        ":{wa:",
        "}:lim:",
        "}:wa:",
        "{outbox}",
        ":{sim:demo}:mailbox",
        ":pick:",
    ];
    let before = app.redis_state(quiet_keys).await;

    // The attack: one 批准 used to link every waiting account. Now it lists them, privately.
    let reply = app.say1(SEC, "批准 钱党员").await;
    assert!(
        reply.contains("私信") && !reply.contains("u-stranger"),
        "{reply}"
    );
    let list = app
        .mail_containing("demo", "dm:u-sec", "2 个待审核申请")
        .await;
    assert!(list.contains("1. ") && list.contains("2. "), "{list}");
    assert!(list.contains("批准 钱党员 1"), "{list}");
    app.assert_redis_unchanged(&before, quiet_keys, "listing")
        .await;

    // Approve the first (the member's own second account); the stranger still waits.
    let reply = app.say1(SEC, "批准 钱党员 1").await;
    assert!(reply.contains("关联到「钱党员」"), "{reply}");
    let reply = app.say_private("u-qian-2", "我的").await;
    assert!(reply[0].contains("已关联账号：2 个"), "{reply:?}");
    let reply = app.say1(stranger, "我的").await;
    assert!(
        reply.contains("等待书记审核") && !reply.contains("钱党员"),
        "{reply}"
    );
    let reply = app.say1(SEC, "批准 钱党员 5").await;
    assert!(reply.contains("1 到 2"), "{reply}");

    // With several accounts, 解除关联 lists them too, and undoes only the one picked.
    let reply = app.say1(SEC, "解除关联 钱党员").await;
    assert!(reply.contains("私信"), "{reply}");
    let list = app
        .mail_containing("demo", "dm:u-sec", "关联了 2 个账号")
        .await;
    assert!(list.contains("解除关联 钱党员 1"), "{list}");
    let reply = app.say1(SEC, "解除关联 钱党员 2").await;
    assert!(reply.contains("现为访客"), "{reply}");
    assert!(app.say1(second, "我的").await.contains("不在名册上"));
    assert!(app.say_private("u-qian", "我的").await[0].contains("已关联账号：1 个"));
    let (_, members) = app
        .api(Method::GET, &format!("/branches/{id}/members"), None)
        .await;
    let qian_entry = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "钱党员")
        .unwrap()
        .clone();
    assert_eq!(qian_entry["identities"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_roster_never_lands_in_a_member_chat() {
    let app = spawn_app().await;
    let id = branch_with_committee(&app).await;
    app.say1(MALLORY, "加入 周新人").await;

    // The attack: 成员 in the group used to answer in the group, roles and waiting names in
    // full. Now the group hears only where it went.
    app.quiet().await;
    let quiet_keys = &[
        ":dedup:",
        ":{lim:",
        ":{wa:",
        "}:lim:",
        "}:wa:",
        "{outbox}",
        ":{sim:demo}:mailbox",
        ":pick:",
    ];
    let before = app.redis_state(quiet_keys).await;
    let reply = app.say1(SEC, "成员").await;
    for secret in ["支委", "周新人", "孙书记", "13900000000"] {
        assert!(!reply.contains(secret), "{reply}");
    }
    let roster = app.mail_containing("demo", "dm:u-sec", "」名册（").await;
    assert!(
        roster.contains("支委：赵支委") && roster.contains("待审核申请：周新人"),
        "{roster}"
    );
    assert!(!roster.contains("13900000000"), "{roster}");
    app.assert_redis_unchanged(&before, quiet_keys, "成员")
        .await;
    assert!(app.mailbox("demo", "g1").await.is_empty());

    // With a committee chat bound, it goes there, and asked there it is answered in place.
    let code = committee_code(&app, &id).await;
    app.say1(Who { chat: "gc", ..ZHAO }, &format!("绑定支委群 {code}"))
        .await;
    let reply = app.say1(ZHAO, "成员").await;
    assert!(
        reply.contains("支委群") && !reply.contains("周新人"),
        "{reply}"
    );
    app.mail_containing("demo", "gc", "待审核申请：周新人")
        .await;
    let reply = app.say1(Who { chat: "gc", ..ZHAO }, "成员").await;
    assert!(reply.contains("待审核申请：周新人"), "{reply}");
    // Asked privately, it is answered privately.
    let replies = app.say_private("u-zhao", "成员").await;
    assert!(replies[0].contains("支委：赵支委"), "{replies:?}");
    assert!(app.mailbox("demo", "g1").await.is_empty());
}

#[tokio::test]
async fn a_bind_code_from_chat_comes_privately_once_per_message() {
    let app = spawn_app().await;
    let id = branch_with_committee(&app).await;

    // Only the secretary may ask.
    let reply = app.say1(ZHAO, "绑定码").await;
    assert!(reply.contains("仅限书记"), "{reply}");

    // In the group: the reply names no code; the code arrives privately. A retried message
    // gets the same code, not a second one.
    let first = app.say_as(SEC, "绑定码", "ask-code-1").await;
    let again = app.say_as(SEC, "绑定码", "ask-code-1").await;
    assert_eq!(first, again);
    assert!(first[0].contains("私信"), "{first:?}");
    let mail = app.mail_containing("demo", "dm:u-sec", "绑定码：").await;
    let code: String = mail
        .split("绑定码：")
        .nth(1)
        .unwrap()
        .chars()
        .take(8)
        .collect();
    assert!(!first[0].contains(&code), "{first:?}");
    let codes = app
        .redis_state(&[])
        .await
        .into_keys()
        .filter(|k| k.contains(":bindcode:") && !k.contains(":intent:"))
        .count();
    // The operator's first code (index and record) and the new one (index and record).
    assert_eq!(codes, 4, "one new code for two deliveries");

    // It binds another chat, once.
    let reply = app
        .say1(Who { chat: "g2", ..SEC }, &format!("绑定 {code}"))
        .await;
    assert!(reply.contains("本群已绑定「守信支部」"), "{reply}");
    let (_, branch) = app.api(Method::GET, &format!("/branches/{id}"), None).await;
    assert_eq!(branch["chats"].as_array().unwrap().len(), 2, "{branch}");

    // Asked privately, the committee code comes inline; it binds only a committee chat.
    let replies = app.say_private("u-sec", "绑定码 支委群").await;
    assert!(replies[0].contains("支委群绑定码："), "{replies:?}");
    let committee: String = replies[0]
        .split("绑定码：")
        .nth(1)
        .unwrap()
        .chars()
        .take(8)
        .collect();
    let reply = app
        .say1(Who { chat: "g3", ..SEC }, &format!("绑定 {committee}"))
        .await;
    assert!(reply.contains("支委群绑定码"), "{reply}");
    let reply = app
        .say1(
            Who { chat: "gc", ..SEC },
            &format!("绑定支委群 {committee}"),
        )
        .await;
    assert!(reply.contains("支委群"), "{reply}");
    // No code ever reached a member chat.
    for chat in ["g1", "g2"] {
        for text in app.mailbox("demo", chat).await {
            assert!(
                !text.contains(&code) && !text.contains(&committee),
                "{text}"
            );
        }
    }
}

#[tokio::test]
async fn the_first_binder_holds_the_imported_secretary_entry_instead_of_a_second_one() {
    let app = spawn_app().await;
    let (id, code) = app.create_branch("导入支部").await;
    app.api(
        Method::POST,
        &format!("/branches/{id}/members"),
        Some(json!({"name": "孙书记", "role": "secretary"})),
    )
    .await;
    let reply = app.say1(SEC, &format!("绑定 {code}")).await;
    assert!(reply.contains("孙书记，你已成为书记"), "{reply}");
    let (_, members) = app
        .api(Method::GET, &format!("/branches/{id}/members"), None)
        .await;
    assert_eq!(members["total"], 1, "{members}");
    assert_eq!(members["items"][0]["identities"][0]["user_id"], "u-sec");
}

#[tokio::test]
async fn guessing_bind_codes_is_stopped_per_person_and_the_code_waits_out_the_cooldown() {
    let settings = crate::helpers::test_settings(
        &crate::helpers::REDIS.url(),
        "[limits]\nwrong_codes_per_person = 3\nwrong_code_cooldown = \"2s\"\n",
    );
    let app = crate::helpers::spawn_app_with(settings).await;
    let (_, code) = app.create_branch("防猜支部").await;
    let guesser = Who {
        chat: "g-new",
        user: "u-guess",
        name: "猜码人",
    };
    for guess in ["AAAAAAAA", "BBBBBBBB"] {
        let reply = app.say1(guesser, &format!("绑定 {guess}")).await;
        assert!(reply.contains("绑定码无效"), "{reply}");
    }
    let reply = app.say1(guesser, "绑定 CCCCCCCC").await;
    assert!(reply.contains("错误次数太多"), "{reply}");
    // While cooling down, even the right code is not looked at.
    let reply = app.say1(guesser, &format!("绑定 {code}")).await;
    assert!(reply.contains("错误次数太多"), "{reply}");
    // Someone else in the chat is heard, and after the wait the guesser is too.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let reply = app.say1(guesser, &format!("绑定 {code}")).await;
    assert!(reply.contains("本群已绑定「防猜支部」"), "{reply}");
}

#[tokio::test]
async fn a_guest_cannot_reorder_the_list_the_secretary_approves_from() {
    let app = spawn_app().await;
    let _id = branch_with_committee(&app).await;
    // 孙书记's entry is unheld. A stranger asks for it first; the real one later.
    let mallory = Who {
        user: "u-mal",
        name: "冒名者",
        ..MALLORY
    };
    let sun = Who {
        chat: "g1",
        user: "u-sun",
        name: "孙书记本人",
    };
    app.say1(mallory, "加入 孙书记").await;
    app.clock.advance(chrono::Duration::minutes(1));
    app.say1(sun, "加入 孙书记").await;
    let reply = app.say1(SEC, "批准 孙书记").await;
    assert!(reply.contains("私信"), "{reply}");
    let list = app
        .mail_containing("demo", "dm:u-sec", "2 个待审核申请")
        .await;
    let (Some(first), Some(second)) = (list.find("冒名者"), list.find("孙书记本人")) else {
        panic!("{list}");
    };
    assert!(first < second, "oldest first: {list}");

    // The attack: seeing the command in the group, the stranger asks again (another name,
    // then the same), which used to move them to the end of a list rebuilt at approval time.
    app.clock.advance(chrono::Duration::minutes(1));
    app.say1(mallory, "加入 某某").await;
    app.say1(mallory, "加入 孙书记").await;

    // The secretary approves #2 of the list they read: the real 孙书记.
    let reply = app.say1(SEC, "批准 孙书记 2").await;
    assert!(reply.contains("关联到「孙书记」"), "{reply}");
    let reply = app.say_private("u-sun", "我的").await;
    assert!(reply[0].contains("身份：书记"), "{reply:?}");
    let reply = app.say1(mallory, "成员").await;
    assert!(reply.contains("仅限支委"), "{reply}");

    // A number with several waiting and no list read first is refused, not guessed.
    let other = Who {
        user: "u-o2",
        ..MALLORY
    };
    app.say1(other, "加入 新名字").await;
    app.say1(
        Who {
            user: "u-o3",
            ..MALLORY
        },
        "加入 新名字",
    )
    .await;
    let reply = app.say1(SEC, "批准 新名字 1").await;
    assert!(reply.contains("请先发送「批准 新名字」"), "{reply}");
}

/// Deletes a message's dedup record, as a failure after the commit does when it gives the
/// claim back so that the platform's retry runs the command again.
async fn forget_message(app: &TestApp, message_id: &str) {
    let client = redis::Client::open(crate::helpers::REDIS.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*:dedup:*:{message_id}", app.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_retried_approval_or_unlink_after_a_late_failure_has_one_effect() {
    let app = spawn_app().await;
    let id = branch_with_committee(&app).await;
    for (user, at) in [("u-a", 0), ("u-b", 1), ("u-c", 2)] {
        app.clock.advance(chrono::Duration::minutes(at));
        app.say1(
            Who {
                chat: "g1",
                user,
                name: "候选",
            },
            "加入 钱党员",
        )
        .await;
    }
    // u-a linked itself (钱党员 is a plain entry with no account); u-b and u-c wait.
    app.say1(SEC, "批准 钱党员").await;

    // `批准 钱党员 2` (u-c) commits; then (as after a failure past the commit) its claim is given
    // back and the platform retries the same message.
    let first = app.say_as(SEC, "批准 钱党员 2", "approve-2").await;
    forget_message(&app, "approve-2").await;
    let retry = app.say_as(SEC, "批准 钱党员 2", "approve-2").await;
    assert_eq!(first, retry);
    let linked = |members: serde_json::Value| -> Vec<String> {
        let entry = members["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "钱党员")
            .unwrap()
            .clone();
        entry["identities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["user_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, members) = app
        .api(Method::GET, &format!("/branches/{id}/members"), None)
        .await;
    assert_eq!(
        linked(members),
        ["u-a", "u-c"],
        "one account approved, the one picked"
    );

    // The same for `解除关联` of one of several accounts.
    app.say1(SEC, "解除关联 钱党员").await;
    let first = app.say_as(SEC, "解除关联 钱党员 1", "unlink-1").await;
    forget_message(&app, "unlink-1").await;
    let retry = app.say_as(SEC, "解除关联 钱党员 1", "unlink-1").await;
    assert_eq!(first, retry);
    let (_, members) = app
        .api(Method::GET, &format!("/branches/{id}/members"), None)
        .await;
    assert_eq!(linked(members), ["u-c"], "one account unlinked, not two");
}

#[tokio::test]
async fn the_secretary_turns_down_requests_and_an_operator_clears_a_flood() {
    let app = spawn_app().await;
    let id = branch_with_committee(&app).await;
    app.say1(MALLORY, "加入 周某").await;
    let reply = app.say1(SEC, "拒绝 周某").await;
    assert!(reply.contains("已拒绝"), "{reply}");
    app.mail_containing("demo", "dm:u-mallory", "未获通过")
        .await;
    let reply = app.say1(SEC, "批准 周某").await;
    assert!(reply.contains("没有「周某」的待审核申请"), "{reply}");

    // A flood of requests fills the cap; one DELETE clears it and joining works again.
    for i in 0..5 {
        app.say1(
            Who {
                user: Box::leak(format!("u-flood{i}").into_boxed_str()),
                ..MALLORY
            },
            &format!("加入 垃圾{i}"),
        )
        .await;
    }
    let (status, body) = app
        .api(
            Method::DELETE,
            &format!("/branches/{id}/join-requests"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cleared"], 5, "{body}");
    let (_, requests) = app
        .api(Method::GET, &format!("/branches/{id}/join-requests"), None)
        .await;
    assert_eq!(requests["total"], 0, "{requests}");
}

#[tokio::test]
async fn a_replica_whose_copy_of_the_chat_index_is_stale_never_answers_for_the_old_branch() {
    // Two replicas on one Redis and prefix; each keeps its own copy of chat → branch.
    let settings = crate::helpers::test_settings(&crate::helpers::REDIS.url(), "");
    let app = crate::helpers::spawn_app_with(settings.clone()).await;
    let other = crate::helpers::spawn_app_with(settings).await;
    let id = branch_with_committee(&app).await;
    let gc = Who { chat: "gc", ..ZHAO };
    let code = committee_code(&app, &id).await;
    assert!(
        app.say1(gc, &format!("绑定支委群 {code}"))
            .await
            .contains("支委群")
    );
    // The other replica learns gc → 守信支部 by answering in it.
    let help = other.say1(gc, "帮助").await;
    assert!(help.contains("支委"), "{help}");

    // gc stops being the committee chat, then another branch binds it as a member chat.
    let newer = committee_code(&app, &id).await;
    let gc2 = Who {
        chat: "gc2",
        ..ZHAO
    };
    assert!(
        app.say1(gc2, &format!("绑定支委群 {newer}"))
            .await
            .contains("支委群")
    );
    let (new_id, new_code) = app.create_branch("新开支部").await;
    // Its meeting #1 starts in ten minutes: check-in is open.
    let li = Who {
        chat: "gc",
        user: "u-li",
        name: "李书记",
    };
    assert!(
        app.say1(li, &format!("绑定 {new_code}"))
            .await
            .contains("书记")
    );

    // The other replica's copy still says 守信支部: its scripts find gc is not that branch's
    // chat, read the index again, and answer as 新开支部, where 赵支委 is nobody.
    let help = other.say1(li, "帮助").await;
    assert!(help.contains("你的身份：书记"), "{help}");
    let help = other.say1(gc, "帮助").await;
    assert!(!help.contains("支委"), "{help}");
    let me = other.say1(gc, "我的").await;
    assert!(me.contains("不在名册"), "{me}");
    // And its `签到` path (the one-script check-in) reads the same.
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{new_id}/meetings"),
            Some(json!({
                "kind": "group",
                "starts_at": (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339(),
                "topic": "新支部第一次会",
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let reply = other.say1(li, "签到").await;
    assert!(reply.contains("签到成功"), "{reply}");
}
