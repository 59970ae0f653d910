//! One branch living in a QQ group and a WeCom group at once, with one roster: the same
//! person on both platforms is one member with two accounts, once the secretary confirms it.

use mobile_branch::clock::Clock;
use reqwest::Method;
use serde_json::json;

use crate::{
    helpers::{REDIS, spawn_app_with, test_settings},
    onebot::{answer_of, napcat_group, post_event, qq_bot, segments_text},
    wecom::{aibot_bot, content, deliver, group_text},
};

#[tokio::test]
async fn the_same_person_in_a_qq_and_a_wecom_group_is_one_member_with_two_accounts() {
    // Replies are inline on both platforms, so no platform API is called: a dead base is fine.
    let dead = "http://127.0.0.1:9";
    let bots = format!("{}{}", qq_bot(dead, "quick", None), aibot_bot(dead));
    let app = spawn_app_with(test_settings(&REDIS.url(), &bots)).await;
    let (id, code) = app.create_branch("楼宇联合党支部").await;
    app.api(
        Method::POST,
        &format!("/branches/{id}/members"),
        Some(json!({"name": "张三"})),
    )
    .await;

    let qq = |n: i64, user: i64, text: &str| napcat_group(n, user, "群名片", text);
    let say_qq = |n: i64, user: i64, text: String| {
        let event = qq(n, user, &text);
        let app = &app;
        async move {
            let (status, _, body) = answer_of(post_event(app, &event).await).await;
            assert_eq!(status, 200, "{body}");
            segments_text(&body["reply"])
        }
    };
    let say_wx = |msgid: &str, user: &str, text: String| {
        let message = group_text(msgid, user, &text, dead);
        let app = &app;
        async move {
            let (status, reply) = deliver(app, &message).await;
            assert_eq!(status, 200, "{reply}");
            content(&reply).to_owned()
        }
    };

    // The secretary binds the QQ group, then the WeCom group with a second code.
    let reply = say_qq(1, 10_001, format!("绑定 {code}")).await;
    assert!(reply.contains("成为书记"), "{reply}");
    let (_, body) = app
        .api(Method::POST, &format!("/branches/{id}/bind-codes"), None)
        .await;
    let reply = say_wx(
        "wx-1",
        "wangshuji",
        format!("绑定 {}", body["bind_code"].as_str().unwrap()),
    )
    .await;
    assert!(reply.contains("楼宇联合党支部"), "{reply}");

    // 张三 joins on QQ (linked to the roster entry), then on WeCom (a link request).
    let reply = say_qq(2, 20_002, "加入 张三".to_owned()).await;
    assert!(reply.contains("已收到加入申请"), "{reply}");
    let reply = say_wx("wx-2", "zhangsan", "加入 张三".to_owned()).await;
    assert!(reply.contains("已收到加入申请"), "{reply}");

    // The secretary confirms on QQ; 张三 is one member with both accounts.
    let reply = say_qq(3, 10_001, "批准 张三".to_owned()).await;
    assert!(reply.contains("关联到「张三」"), "{reply}");
    // 我的 in the WeCom group answers privately (a record names a role), naming who asked.
    let reply = say_wx("wx-3", "zhangsan", "我的".to_owned()).await;
    assert!(
        reply.contains("张三") && reply.contains("私信") && !reply.contains("党员"),
        "{reply}"
    );
    let (_, members) = app
        .api(Method::GET, &format!("/branches/{id}/members"), None)
        .await;
    let zhang = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "张三")
        .unwrap();
    let platforms: Vec<&str> = zhang["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["onebot", "wecom"], "{zhang}");
    assert_eq!(
        members["total"], 2,
        "the secretary (QQ) and 张三: {members}"
    );

    // A check-in from either account counts once: the meeting has one 张三.
    let starts = app.clock.now() + chrono::Duration::minutes(10);
    let (_, m) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/meetings"),
            Some(json!({"kind": "group", "starts_at": starts.to_rfc3339(), "topic": "跨平台学习"})),
        )
        .await;
    let no = m["no"].as_u64().unwrap();
    let reply = say_qq(4, 20_002, format!("签到 #{no}")).await;
    assert!(reply.contains("签到成功"), "{reply}");
    let reply = say_wx("wx-4", "zhangsan", format!("签到 #{no}")).await;
    assert!(reply.contains("不重复计"), "{reply}");
    let (_, ended) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/meetings/{no}/end"),
            None,
        )
        .await;
    assert_eq!(ended["summary"]["attended"], 1, "{ended}");
    assert_eq!(ended["summary"]["expected"], 2, "{ended}");
}
