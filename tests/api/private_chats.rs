//! A member's private chat with the bot, for someone on two branches' rosters with one account:
//! asked which branch before their first private command, the choice remembered, and nothing
//! done in the branch they did not choose.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Who, spawn_app};

const ZHANG: &str = "u-zhang";

/// A branch named `name` bound in group `group` by its secretary, with a committee chat
/// `committee`, 张三 (account `u-zhang`) and 李四 (`u-li-<group>`) linked, and meeting #1
/// planned. Returns its id.
async fn branch(app: &TestApp, name: &str, group: &str, committee: &str) -> String {
    let sec = Who {
        chat: group,
        user: &format!("u-sec-{group}"),
        name: "王书记",
    };
    let (id, code) = app.create_branch(name).await;
    app.say1(sec, &format!("绑定 {code}")).await;
    let li_user = format!("u-li-{group}");
    for (user, person) in [(ZHANG, "张三"), (li_user.as_str(), "李四")] {
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/branches/{id}/members"),
                Some(json!({"name": person})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let who = Who {
            chat: group,
            user,
            name: person,
        };
        app.say1(who, &format!("加入 {person}")).await;
    }
    let (_, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/bind-codes"),
            Some(json!({"committee": true})),
        )
        .await;
    let code = body["bind_code"].as_str().unwrap();
    app.say1(
        Who {
            chat: committee,
            ..sec
        },
        &format!("绑定支委群 {code}"),
    )
    .await;
    let reply = app.say1(sec, "新建会议 党员大会 明天 19:30 学习").await;
    assert!(reply.contains("会议 #1"), "{reply}");
    id
}

/// 张三's attendance record of meeting #1 as the admin API shows it (null: none).
async fn zhang_at_meeting(app: &TestApp, branch: &str) -> Value {
    let (status, body) = app
        .api(Method::GET, &format!("/branches/{branch}/meetings/1"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let people = body["attendance"].as_array().cloned().unwrap_or_default();
    people
        .into_iter()
        .find(|p| p["name"] == "张三")
        .map_or(Value::Null, |p| p["attendance"].clone())
}

/// The number the question gives a branch (`2. 乙支部`).
fn number_of(question: &str, name: &str) -> String {
    question
        .lines()
        .find_map(|l| l.strip_suffix(name)?.strip_suffix(". "))
        .unwrap_or_else(|| panic!("{name} is not listed in {question:?}"))
        .to_owned()
}

#[tokio::test]
async fn a_member_of_two_branches_chooses_one_and_asks_leave_there_only() {
    let app = spawn_app().await;
    let jia = branch(&app, "甲支部", "ga", "gca").await;
    let yi = branch(&app, "乙支部", "gb", "gcb").await;
    app.quiet().await;
    let committee_yi_before = app.mailbox("demo", "gcb").await.len();

    // Both branches have a meeting #1: the command alone cannot say which is meant.
    let asked = app.say_private(ZHANG, "请假 #1 出差在外地").await;
    assert_eq!(asked.len(), 1, "{asked:?}");
    let question = &asked[0];
    assert!(question.starts_with("请先选择支部"), "{question}");
    assert!(
        question.contains("甲支部") && question.contains("乙支部"),
        "{question}"
    );
    assert!(
        question.contains("再发一次「请假 #1 出差在外地」"),
        "the person is told to send it again: {question}"
    );
    // Nothing was done meanwhile, in either branch.
    assert_eq!(zhang_at_meeting(&app, &jia).await, Value::Null);
    assert_eq!(zhang_at_meeting(&app, &yi).await, Value::Null);

    // A number outside the list changes nothing.
    let wrong = app.say_private(ZHANG, "支部 3").await;
    assert!(wrong[0].starts_with("私聊支部未更改"), "{wrong:?}");

    // 甲支部, which the account joined first: the index once kept only the last written.
    let n = number_of(question, "甲支部");
    let chosen = app.say_private(ZHANG, &format!("支部 {n}")).await;
    assert_eq!(chosen.len(), 1, "{chosen:?}");
    assert!(
        chosen[0].starts_with("私聊支部已选定：甲支部"),
        "{chosen:?}"
    );

    let leave = app.say_private(ZHANG, "请假 #1 出差在外地").await;
    assert_eq!(leave.len(), 1, "{leave:?}");
    assert!(leave[0].contains("已提交"), "{leave:?}");

    // Recorded in 甲支部 only, and told to 甲支部's committee only.
    let jia_att = zhang_at_meeting(&app, &jia).await;
    assert!(
        jia_att.to_string().contains("出差在外地"),
        "the leave and its reason are kept: {jia_att}"
    );
    assert_eq!(zhang_at_meeting(&app, &yi).await, Value::Null);
    app.mail_containing("demo", "gca", "出差在外地").await;
    app.quiet().await;
    let committee_yi = app.mailbox("demo", "gcb").await;
    assert_eq!(
        committee_yi.len(),
        committee_yi_before,
        "乙支部's committee hears nothing: {committee_yi:?}"
    );

    // The next command goes to the remembered branch without a question.
    let status = app.say_private(ZHANG, "签到状态").await;
    assert_eq!(status.len(), 1, "{status:?}");
    assert!(
        !status[0].contains("请先选择支部") && status[0].contains("请假"),
        "{status:?}"
    );
    let current = app.say_private(ZHANG, "支部").await;
    assert!(current[0].starts_with("私聊支部：甲支部"), "{current:?}");
}

#[tokio::test]
async fn a_member_of_one_branch_is_never_asked_and_a_guest_cannot_choose() {
    let app = spawn_app().await;
    branch(&app, "甲支部", "ga", "gca").await;
    branch(&app, "乙支部", "gb", "gcb").await;

    // 李四 of 甲支部 has an account of their own there: answered at once.
    let meetings = app.say_private("u-li-ga", "会议").await;
    assert_eq!(meetings.len(), 1, "{meetings:?}");
    assert!(
        meetings[0].contains("#1") && !meetings[0].contains("选择支部"),
        "{meetings:?}"
    );
    let only = app.say_private("u-li-ga", "支部").await;
    assert!(only[0].starts_with("私聊支部就是甲支部"), "{only:?}");

    // An account on no roster cannot pick a branch by number or by name.
    for text in ["支部 1", "支部 甲支部"] {
        let replies = app.say_private("u-stranger", text).await;
        assert!(
            replies.iter().all(|r| r.contains("你还不是任何支部的成员")),
            "{text}: {replies:?}"
        );
    }
    let meetings = app.say_private("u-stranger", "会议").await;
    assert!(meetings.iter().all(|r| !r.contains("#1")), "{meetings:?}");

    // In a group, `支部` lists nobody's branches.
    let here = app
        .say1(
            Who {
                chat: "ga",
                user: ZHANG,
                name: "张三",
            },
            "支部 2",
        )
        .await;
    assert!(here.starts_with("本群属于甲支部"), "{here}");
    assert!(!here.contains("乙支部"), "{here}");
}

#[tokio::test]
async fn only_branches_whose_rosters_hold_the_account_are_offered() {
    let app = spawn_app().await;
    let jia = branch(&app, "甲支部", "ga", "gca").await;
    let yi = branch(&app, "乙支部", "gb", "gcb").await;

    // An index entry naming a branch whose roster does not hold the account (as a crash
    // between an unlink and its index write would leave) puts nobody in that branch.
    let client = redis::Client::open(crate::helpers::REDIS.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}:ident:sim:demo:u-li-ga", app.prefix);
    let _: i64 = redis::cmd("SADD")
        .arg(&key)
        .arg(&yi)
        .query_async(&mut conn)
        .await
        .unwrap();
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(members.len(), 2, "the index names both: {members:?}");
    let meetings = app.say_private("u-li-ga", "会议").await;
    assert!(
        meetings.len() == 1 && !meetings[0].contains("选择支部"),
        "{meetings:?}"
    );
    let only = app.say_private("u-li-ga", "支部 2").await;
    assert!(only[0].starts_with("私聊支部就是甲支部"), "{only:?}");

    // Once 乙支部's secretary unlinks 张三, 张三's private chat is 甲支部's without a question.
    let sec_yi = Who {
        chat: "gb",
        user: "u-sec-gb",
        name: "王书记",
    };
    let unlinked = app.say(sec_yi, "解除关联 张三").await.join("\n");
    assert!(unlinked.contains("已解除"), "{unlinked}");
    let leave = app.say_private(ZHANG, "请假 #1 家里有事").await;
    assert!(leave.len() == 1 && leave[0].contains("已提交"), "{leave:?}");
    assert!(
        zhang_at_meeting(&app, &jia)
            .await
            .to_string()
            .contains("家里有事")
    );
    assert_eq!(zhang_at_meeting(&app, &yi).await, Value::Null);
}

#[tokio::test]
async fn an_index_entry_written_as_a_string_reads_and_becomes_a_set() {
    let app = spawn_app().await;
    let jia = branch(&app, "甲支部", "ga", "gca").await;
    // Data from before the index was a set: a string naming one branch.
    let client = redis::Client::open(crate::helpers::REDIS.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}:ident:sim:demo:u-li-ga", app.prefix);
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(&jia)
        .query_async(&mut conn)
        .await
        .unwrap();
    let meetings = app.say_private("u-li-ga", "会议").await;
    assert!(
        meetings.len() == 1 && meetings[0].contains("#1"),
        "{meetings:?}"
    );
    // A repeated `加入` writes the index again, as a set.
    let li = Who {
        chat: "ga",
        user: "u-li-ga",
        name: "李四",
    };
    app.say1(li, "加入 李四").await;
    let kind: String = redis::cmd("TYPE")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(kind, "set");
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(members, [jia]);
}
