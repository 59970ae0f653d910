//! Text typed on one platform arrives inert on another (SPEC §4), through the real webhook
//! path: a meeting topic or a member name typed on the sim or on QQ is announced and
//! reminded in a Feishu, QQ or WeCom group, and the platform's fake API receives it as
//! characters, never as a mention, a tag or a CQ code; while the reminder's own mention of
//! the member with an account there (from a mention token) arrives as a real mention, once.

use chrono::{DateTime, Utc};
use mobile_branch::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::cast::SEC;
use crate::{
    feishu::{self, FakeFeishu},
    helpers::{REDIS, TestApp, Who, spawn_app_with, test_settings},
    onebot::{self, FakeOnebot},
    wecom::{self, FakeWecom},
};

/// Tomorrow 19:30 in the branch's zone (Asia/Shanghai), as the chat command reads it.
fn tomorrow_1930(app: &TestApp) -> DateTime<Utc> {
    let shanghai = chrono_tz::Asia::Shanghai;
    let tomorrow =
        app.clock.now().with_timezone(&shanghai).date_naive() + chrono::Duration::days(1);
    tomorrow
        .and_hms_opt(19, 30, 0)
        .and_then(|t| t.and_local_timezone(shanghai).single())
        .unwrap()
        .with_timezone(&Utc)
}

/// Creates a branch and binds the sim chat `g1` with [`SEC`] as its secretary; returns the
/// branch id.
async fn branch_on_sim(app: &TestApp, name: &str) -> String {
    let (id, code) = app.create_branch(name).await;
    let reply = app.say1(SEC, &format!("绑定 {code}")).await;
    assert!(reply.contains("成为书记"), "{reply}");
    id
}

/// A fresh bind code for another chat of the branch.
async fn bind_code(app: &TestApp, branch: &str) -> String {
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{branch}/bind-codes"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["bind_code"].as_str().unwrap().to_owned()
}

async fn add_member(app: &TestApp, branch: &str, name: &str) {
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{branch}/members"),
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Moves the clock to 59 minutes before `starts`, where the 1 h reminder is due.
fn to_the_one_hour_reminder(app: &TestApp, starts: DateTime<Utc>) {
    app.clock
        .advance(starts - app.clock.now() - chrono::Duration::minutes(59));
}

/// The user ids of every `<at user_id="…">` tag Feishu would read in a text.
fn feishu_at_tags(text: &str) -> Vec<String> {
    text.match_indices("<at user_id=\"")
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            rest[..rest.find('"').unwrap_or(rest.len())].to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_topic_typed_as_a_feishu_at_all_tag_reaches_feishu_as_text_beside_a_real_mention() {
    // Arrange: one branch in a sim chat and a Feishu group; 李四 has a Feishu account.
    let fake = FakeFeishu::start().await;
    let app = spawn_app_with(test_settings(&REDIS.url(), &feishu::fs_bots(&fake.base))).await;
    let id = branch_on_sim(&app, "飞书联合党支部").await;
    let code = bind_code(&app, &id).await;
    let (status, _) = feishu::deliver(
        &app,
        &feishu::group_message("om_bind0001", feishu::SECRETARY, &format!("绑定 {code}")),
    )
    .await;
    assert_eq!(status, 200);
    add_member(&app, &id, "李四").await;
    let (status, _) = feishu::deliver(
        &app,
        &feishu::group_message("om_join0001", feishu::MEMBER, "加入 李四"),
    )
    .await;
    assert_eq!(status, 200);
    let feishu_texts = || {
        fake.messages()
            .into_iter()
            .filter(|(_, _, body)| body["receive_id"] == feishu::GROUP)
            .map(|(_, _, body)| feishu::text_of(&body))
            .collect::<Vec<_>>()
    };

    // Act: the secretary, on the sim, names a meeting with Feishu's @all tag.
    let attack = "<at user_id=\"all\">所有人</at>";
    let reply = app
        .say1(SEC, &format!("新建会议 党员大会 明天 19:30 {attack}"))
        .await;
    assert!(reply.contains("会议 #1"), "{reply}");
    app.eventually(5, "the announcement reaches Feishu", || async {
        feishu_texts().iter().any(|t| t.contains("【会议通知 #1】"))
    })
    .await;
    to_the_one_hour_reminder(&app, tomorrow_1930(&app));
    app.eventually(5, "the reminder reaches Feishu", || async {
        feishu_texts().iter().any(|t| t.contains("【会议提醒 #1】"))
    })
    .await;

    // Assert: the topic reads the same on Feishu and is no tag; the only tag is the bot's
    // mention of 李四, once.
    let inert = "<\u{200B}at user_id=\"all\">所有人<\u{200B}/at>";
    let texts = feishu_texts();
    let announcement = texts
        .iter()
        .find(|t| t.contains("【会议通知 #1】"))
        .unwrap();
    assert!(
        announcement.contains(&format!("主题：{inert}")),
        "{announcement:?}"
    );
    assert!(feishu_at_tags(announcement).is_empty(), "{announcement:?}");
    let reminder = texts
        .iter()
        .find(|t| t.contains("【会议提醒 #1】"))
        .unwrap();
    assert!(reminder.contains(&format!("主题：{inert}")), "{reminder:?}");
    assert_eq!(
        feishu_at_tags(reminder),
        [feishu::MEMBER],
        "only the bot's own mention is a tag: {reminder:?}"
    );
    assert!(
        reminder.contains(&format!("<at user_id=\"{}\">李四</at>", feishu::MEMBER)),
        "{reminder:?}"
    );
    // The sim shows the topic exactly as typed, and its own member's mention as a name (its
    // chat is served on its own turn, so wait for it as for Feishu's).
    let sim_reminder = app.mail_containing("demo", "g1", "【会议提醒 #1】").await;
    assert!(
        sim_reminder.contains(&format!("主题：{attack}")) && sim_reminder.contains("@王书记"),
        "{sim_reminder:?}"
    );
}

#[tokio::test]
async fn a_name_typed_as_a_cq_code_reaches_qq_as_text_beside_a_real_at_segment() {
    // Arrange: one branch in a sim chat and a QQ group (every reply through the API);
    // 张三 has a QQ account.
    let fake = FakeOnebot::start().await;
    let bots = onebot::qq_bot(&fake.base, "api", Some(onebot::ACCESS_TOKEN));
    let app = spawn_app_with(test_settings(&REDIS.url(), &bots)).await;
    let id = branch_on_sim(&app, "企鹅联合党支部").await;
    let code = bind_code(&app, &id).await;
    let event = onebot::napcat_group(1, 10_001, "群主", &format!("绑定 {code}"));
    assert_eq!(onebot::post_event(&app, &event).await.status(), 204);
    add_member(&app, &id, "张三").await;
    let event = onebot::napcat_group(2, 20_002, "张三", "加入 张三");
    assert_eq!(onebot::post_event(&app, &event).await.status(), 204);
    // Someone on the sim asks to join under a name that is a QQ mention code, and the
    // secretary admits them.
    let attack = "[CQ:at,qq=12345]";
    let joiner = Who {
        chat: "g1",
        user: "u-cq",
        name: "小C",
    };
    let reply = app.say1(joiner, &format!("加入 {attack}")).await;
    assert!(reply.contains("已收到加入申请"), "{reply}");
    let reply = app.say1(SEC, &format!("批准 {attack}")).await;
    assert!(reply.contains("已批准"), "{reply}");
    let group_messages = || {
        fake.seen()
            .into_iter()
            .filter(|(path, _, body)| {
                path == "POST /send_group_msg" && body["group_id"] == json!(onebot::GROUP)
            })
            .map(|(_, _, body)| body["message"].clone())
            .collect::<Vec<Value>>()
    };

    // Act: a meeting, and its 1 h reminder, which names everyone who has not answered.
    let reply = app.say1(SEC, "新建会议 党员大会 明天 19:30 理论学习").await;
    assert!(reply.contains("会议 #1"), "{reply}");
    to_the_one_hour_reminder(&app, tomorrow_1930(&app));
    app.eventually(5, "the reminder reaches QQ", || async {
        group_messages()
            .iter()
            .any(|m| onebot::segments_text(m).contains("【会议提醒 #1】"))
    })
    .await;

    // Assert: the name is text, the only `at` segment is the bot's mention of 张三.
    let messages = group_messages();
    let reminder = messages
        .iter()
        .find(|m| onebot::segments_text(m).contains("【会议提醒 #1】"))
        .unwrap();
    let ats: Vec<&Value> = reminder
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] != "text")
        .collect();
    assert_eq!(
        ats,
        [&json!({"type": "at", "data": {"qq": "20002"}})],
        "{reminder}"
    );
    assert!(
        onebot::segments_text(reminder).contains(attack),
        "the name arrives as typed: {reminder}"
    );
    for message in &messages {
        for segment in message.as_array().unwrap() {
            assert!(
                segment["type"] == "text" || segment["data"]["qq"] == "20002",
                "{message}"
            );
        }
    }
}

#[tokio::test]
async fn a_topic_typed_on_qq_as_a_wecom_mention_reaches_wecom_as_text_beside_a_real_mention() {
    // Arrange: one branch in a QQ group and a WeCom group (AI bot, with the push robot in
    // it); 李四 has a WeCom account.
    let qq = FakeOnebot::start().await;
    let wx = FakeWecom::start().await;
    let bots = format!(
        "{}{}",
        onebot::qq_bot(&qq.base, "api", Some(onebot::ACCESS_TOKEN)),
        wecom::aibot_bot(&wx.base)
    );
    let app = spawn_app_with(test_settings(&REDIS.url(), &bots)).await;
    let (id, code) = app.create_branch("企微联合党支部").await;
    let event = onebot::napcat_group(1, 10_001, "王书记", &format!("绑定 {code}"));
    assert_eq!(onebot::post_event(&app, &event).await.status(), 204);
    let code = bind_code(&app, &id).await;
    let (status, reply) = wecom::deliver(
        &app,
        &wecom::group_text("wx-1", "wangshuji", &format!("绑定 {code}"), &wx.base),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    add_member(&app, &id, "李四").await;
    let (status, reply) = wecom::deliver(
        &app,
        &wecom::group_text("wx-2", "lisi", "加入 李四", &wx.base),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let pushed = || {
        wx.seen("POST /cgi-bin/webhook/send")
            .into_iter()
            .map(|(_, body)| body["markdown"]["content"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    // Act: the secretary, on QQ, names a meeting with WeCom's mention form.
    let attack = "<@zhangsan>";
    let event = onebot::napcat_group(
        3,
        10_001,
        "王书记",
        &format!("新建会议 党员大会 明天 19:30 {attack}"),
    );
    assert_eq!(onebot::post_event(&app, &event).await.status(), 204);
    app.eventually(5, "the announcement reaches WeCom", || async {
        pushed().iter().any(|t| t.contains("【会议通知 #1】"))
    })
    .await;
    to_the_one_hour_reminder(&app, tomorrow_1930(&app));
    app.eventually(5, "the reminder reaches WeCom", || async {
        pushed().iter().any(|t| t.contains("【会议提醒 #1】"))
    })
    .await;

    // Assert: the topic reads the same (full-width brackets) and mentions no one; the only
    // mention is the bot's, of 李四, once.
    let texts = pushed();
    let announcement = texts
        .iter()
        .find(|t| t.contains("【会议通知 #1】"))
        .unwrap();
    assert!(
        announcement.contains("主题：＜@zhangsan＞"),
        "{announcement:?}"
    );
    assert!(!announcement.contains("<@"), "{announcement:?}");
    let reminder = texts
        .iter()
        .find(|t| t.contains("【会议提醒 #1】"))
        .unwrap();
    assert!(reminder.contains("主题：＜@zhangsan＞"), "{reminder:?}");
    assert_eq!(
        reminder.matches("<@").collect::<Vec<_>>().len(),
        1,
        "{reminder:?}"
    );
    assert!(reminder.contains("<@lisi>"), "{reminder:?}");
    // QQ got the topic as text, and the secretary's own name without an `at` of anyone but
    // the accounts on QQ.
    let on_qq: Vec<Value> = qq
        .seen()
        .into_iter()
        .filter(|(path, _, _)| path == "POST /send_group_msg")
        .map(|(_, _, body)| body["message"].clone())
        .collect();
    let qq_reminder = on_qq
        .iter()
        .find(|m| onebot::segments_text(m).contains("【会议提醒 #1】"))
        .unwrap();
    assert!(
        onebot::segments_text(qq_reminder).contains(attack),
        "{qq_reminder}"
    );
    assert!(
        qq_reminder
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["type"] == "text" || s["data"]["qq"] == "10001"),
        "{qq_reminder}"
    );
}
