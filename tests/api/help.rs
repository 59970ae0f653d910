//! The chat that forgives, through the sim platform and real Redis: `帮助` by role (six
//! commands and a pointer to the rest), a check-in that needs a code, text kept as typed, and
//! the join request and the welcome with the commands ready to use.

use reqwest::Method;
use serde_json::json;

use crate::helpers::cast::{LI, SEC, ZHANG};
use crate::helpers::{TestApp, Who, spawn_app};

const GUEST: Who<'static> = Who {
    chat: "g1",
    user: "u-guest",
    name: "李明",
};

/// A branch with a secretary, a committee chat and two linked members.
async fn branch(app: &TestApp) -> String {
    let (id, code) = app.create_branch("帮助支部").await;
    app.say1(SEC, &format!("绑定 {code}")).await;
    for who in [ZHANG, LI] {
        app.api(
            Method::POST,
            &format!("/branches/{id}/members"),
            Some(json!({"name": who.name})),
        )
        .await;
        app.say1(who, &format!("加入 {}", who.name)).await;
    }
    let (_, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/bind-codes"),
            Some(json!({"committee": true})),
        )
        .await;
    app.say1(
        Who { chat: "gc", ..SEC },
        &format!("绑定支委群 {}", body["bind_code"].as_str().unwrap()),
    )
    .await;
    id
}

/// The command lines of a help reply.
fn commands(help: &str) -> Vec<&str> {
    help.lines().filter(|l| l.starts_with("· ")).collect()
}

#[tokio::test]
async fn help_shows_each_role_the_six_commands_it_uses_most() {
    let app = spawn_app().await;
    branch(&app).await;

    let help = app.say1(ZHANG, "帮助").await;
    let lines = commands(&help);
    assert_eq!(lines.len(), 6, "{help}");
    for word in ["签到", "会议", "请假", "参加", "我的", "签到状态"] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("· {word}"))),
            "{word}: {help}"
        );
    }
    assert!(help.contains("发送「帮助 全部」查看全部命令"), "{help}");
    // The sim platform lets the bot talk privately: leave may be asked there.
    assert!(help.contains("私聊机器人发送「请假 #编号 理由」"), "{help}");
    assert!(!help.contains("加入") && !help.contains('<'), "{help}");

    let help = app.say1(SEC, "帮助").await;
    let lines = commands(&help);
    assert_eq!(lines.len(), 6, "{help}");
    for word in ["新建会议", "开始签到", "会议", "结束会议", "台账", "成员"] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("· {word}"))),
            "{word}: {help}"
        );
    }
    assert!(help.contains("帮助 全部") && !help.contains('<'), "{help}");

    // Everything the role may use, still without 加入 for someone who has joined.
    let all = app.say1(SEC, "帮助 全部").await;
    assert!(commands(&all).len() > 12, "{all}");
    assert!(
        all.contains("· 批准 张三") && !all.contains("· 加入"),
        "{all}"
    );
    let all = app.say1(ZHANG, "帮助 全部").await;
    assert!(all.contains("· 帮助") && !all.contains("批准"), "{all}");

    // A guest is shown how to join; one command explained comes with an example.
    let help = app.say1(GUEST, "帮助").await;
    assert!(help.contains("· 加入 张三"), "{help}");
    let one = app.say1(ZHANG, "帮助 请假").await;
    assert!(one.contains("例如：请假 #3 出差在外地"), "{one}");

    // A wrong form is answered with an example built from what was typed.
    app.say1(SEC, "新建会议 党员大会 明天 19:30 年度总结").await;
    let reply = app.say1(ZHANG, "请假 #1").await;
    assert_eq!(reply, "缺少请假理由，例如：请假 #1 出差在外地");
    let reply = app.say1(GUEST, "请假 #1 有事").await;
    assert!(reply.contains("「加入 李明」"), "{reply}");
}

#[tokio::test]
async fn a_check_in_with_a_code_says_so_and_takes_the_code_as_typed() {
    let app = spawn_app().await;
    branch(&app).await;
    app.say1(SEC, "新建会议 党员大会 明天 19:30 年度总结").await;
    let opened = app.say1(SEC, "开始签到 #1 30 7788").await;
    assert!(
        opened.contains("签到已开放")
            && opened.contains("本次签到需要签到码（现场公布），例如：签到 6666"),
        "{opened}"
    );
    assert!(
        !opened.contains("7788"),
        "the code is told in the room: {opened}"
    );

    // A plain 签到 is told a code is needed, and is no guess: more of them than the
    // wrong-code limit allows leave the member free to send the right one.
    for _ in 0..6 {
        let reply = app.say1(ZHANG, "签到").await;
        assert!(
            reply.contains("需要签到码") && reply.contains("例如：签到 6666"),
            "{reply}"
        );
        assert!(!reply.contains("不对"), "{reply}");
    }
    assert!(app.say1(ZHANG, "签到码7788").await.contains("签到成功"));
    assert!(app.say1(LI, "签到 签到码 7788").await.contains("签到成功"));
    assert!(app.say1(SEC, "签到 1234").await.contains("签到码不对"));
}

#[tokio::test]
async fn a_leave_reason_keeps_its_full_width_punctuation() {
    let app = spawn_app().await;
    let id = branch(&app).await;
    app.say1(SEC, "新建会议 党员大会 明天 19:30 年度总结（上半年）")
        .await;
    let reply = app.say1(ZHANG, "请假 #1 家里有事，晚点到！").await;
    assert!(reply.contains("已提交"), "{reply}");
    let told = app.mail_containing("demo", "gc", "【请假】").await;
    assert!(told.contains("理由：家里有事，晚点到！"), "{told}");
    let list = app.say1(ZHANG, "会议").await;
    assert!(list.contains("年度总结（上半年）"), "{list}");
    app.say1(SEC, "会议记录 #1 通过了计划；下次：十二月").await;
    let (status, body) = app
        .api(Method::GET, &format!("/branches/{id}/meetings/1"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.to_string().contains("通过了计划；下次：十二月"),
        "{body}"
    );
}

#[tokio::test]
async fn a_join_request_reaches_the_secretary_ready_to_answer_and_the_member_is_welcomed() {
    let app = spawn_app().await;
    branch(&app).await;

    // Linked directly (on the roster as 党员): welcomed privately with the commands.
    let welcome = app.mail_containing("demo", "dm:u-zhang", "欢迎").await;
    for line in [
        "· 签到",
        "· 请假 #3 出差在外地",
        "· 会议",
        "私聊我发送「请假 #编号 理由」",
    ] {
        assert!(welcome.contains(line), "{line}: {welcome}");
    }

    // Not on the roster: a request, with the answer ready to copy in the committee chat.
    let reply = app.say1(GUEST, "加入 李明").await;
    assert!(reply.contains("已收到加入申请"), "{reply}");
    let told = app.mail_containing("demo", "gc", "【加入申请】").await;
    assert!(
        told.contains("回复「批准 李明」同意，「拒绝 李明」拒绝"),
        "{told}"
    );
    assert!(!told.contains('<'), "{told}");

    let reply = app.say1(Who { chat: "gc", ..SEC }, "批准 李明").await;
    assert!(reply.contains("已批准「李明」"), "{reply}");
    let welcome = app.mail_containing("demo", "dm:u-guest", "已通过").await;
    assert!(
        welcome.contains("李明") && welcome.contains("· 签到") && welcome.contains("· 会议"),
        "{welcome}"
    );
    // Joined now: 加入 is gone from their help.
    let help = app.say1(GUEST, "帮助").await;
    assert!(!help.contains("加入"), "{help}");
}
