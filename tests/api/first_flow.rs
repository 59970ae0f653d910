//! The first user flow end to end: create branch → bind → join → approve → roster → help by
//! role → 我的, with the refusals a real chat produces.

use reqwest::Method;
use serde_json::json;

use crate::helpers::cast::{LI, SEC, ZHANG};
use crate::helpers::{REDIS, SIM_SECRET, Who, spawn_app};

#[tokio::test]
async fn a_branch_is_created_bound_joined_and_run_from_chat() {
    let app = spawn_app().await;

    // Arrange: an operator creates the branch and puts 张三 on the roster.
    let (id, code) = app.create_branch("星光商务楼联合党支部").await;
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/members"),
            Some(json!({"name": "张三", "phone": "13800000000"})),
        )
        .await;
    assert_eq!(status, 201);

    // Before binding, the chat only knows bind and help.
    let reply = app.say1(ZHANG, "我的").await;
    assert!(reply.contains("尚未绑定"), "{reply}");
    let help = app.say1(ZHANG, "帮助").await;
    assert!(
        help.contains("绑定 ABCD-EFGH") && !help.contains("批准"),
        "{help}"
    );

    // Bind: the sender becomes secretary.
    let reply = app
        .say1(SEC, &format!("绑定 {}", code.to_lowercase()))
        .await;
    assert!(
        reply.contains("星光商务楼联合党支部") && reply.contains("书记"),
        "{reply}"
    );

    // Join: 张三 (党员, no account yet) links to the roster entry and the secretary is told;
    // 李四 is unknown, so a request waits.
    let reply = app.say1(ZHANG, "加入 张三").await;
    assert!(reply.contains("已收到加入申请"), "{reply}");
    let told = app.mail_containing("demo", "dm:u-sec", "【关联】").await;
    assert!(told.contains("解除关联 张三"), "{told}");
    let reply = app.say1(LI, "/加入李四").await;
    assert!(reply.contains("已收到加入申请"), "{reply}");
    let reply = app.say1(LI, "我的").await;
    assert!(reply.contains("等待书记审核"), "{reply}");

    // Someone waiting is still a guest: the roster is refused.
    let reply = app.say1(LI, "成员").await;
    assert!(reply.contains("仅限支委"), "{reply}");

    // Approve, as secretary, with a role: the group hears who, the person hears the role.
    let reply = app.say1(SEC, "批准 李四 预备党员").await;
    assert!(
        reply.contains("已批准「李四」") && !reply.contains("预备党员"),
        "{reply}"
    );
    let told = app.mail_containing("demo", "dm:u-li", "已通过").await;
    assert!(told.contains("预备党员"), "{told}");

    // Roster: names and roles, never the phone number, and never in the group: it goes to
    // the secretary privately.
    let reply = app.say1(SEC, "成员").await;
    assert!(reply.contains("私信") && !reply.contains("张三"), "{reply}");
    let roster = app.mail_containing("demo", "dm:u-sec", "」名册（").await;
    assert!(roster.contains("书记：王书记"), "{roster}");
    assert!(roster.contains("党员：张三"), "{roster}");
    assert!(roster.contains("预备党员：李四"), "{roster}");
    assert!(!roster.contains("13800000000"), "{roster}");

    // Help by role: the secretary sees 批准 and 成员, a member sees neither.
    let sec_help = app.say1(SEC, "帮助 全部").await;
    assert!(
        sec_help.contains("批准") && sec_help.contains("成员") && sec_help.contains("书记"),
        "{sec_help}"
    );
    let member_help = app.say1(ZHANG, "help").await;
    assert!(
        !member_help.contains("批准") && !member_help.contains("· 成员"),
        "{member_help}"
    );
    assert!(member_help.contains("我的"), "{member_help}");
    let one = app.say1(ZHANG, "帮助 批准").await;
    assert!(
        one.contains("例如：批准 张三") && one.contains("书记"),
        "{one}"
    );

    // 我的 shows the sender's own record, without the phone number; asked in the group, the
    // record goes to their private chat (it names their role), and the group hears only that.
    let reply = app.say1(ZHANG, "我的").await;
    assert!(reply.contains("私信") && !reply.contains("党员"), "{reply}");
    let me = app.mail_containing("demo", "dm:u-zhang", "身份：").await;
    assert!(
        me.contains("张三") && me.contains("党员") && !me.contains("13800000000"),
        "{me}"
    );

    // In a private chat the bot finds the sender's branch through their linked account.
    let body = json!({"chat_type": "private", "user_id": "u-zhang", "message_id": app.message_id(), "text": "我的"});
    let resp = app.post_raw("/webhook/sim/demo", body.to_string()).await;
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["replies"][0]["chat_id"], "dm:u-zhang", "{v}");
    assert!(
        v["replies"][0]["text"]
            .as_str()
            .unwrap()
            .contains("星光商务楼联合党支部"),
        "{v}"
    );

    // Metrics count the webhooks by platform and outcome.
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mb_webhooks_total{platform=\"sim\",outcome=\"ok\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mb_command_duration_seconds_bucket"),
        "{metrics}"
    );

    // The API sees the same roster, with personal data for the admin.
    let (status, body) = app
        .api(Method::GET, &format!("/branches/{id}/members"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 3, "{body}");
    let (_, branch) = app.api(Method::GET, &format!("/branches/{id}"), None).await;
    assert_eq!(branch["chats"][0]["chat_id"], "g1", "{branch}");
}

#[tokio::test]
async fn refusals_name_the_problem_and_change_nothing() {
    let app = spawn_app().await;
    let (id, code) = app.create_branch("甲支部").await;
    app.say1(SEC, &format!("绑定 {code}")).await;
    app.say1(ZHANG, "加入 张三").await;
    app.say1(SEC, "批准 张三").await;

    // A reused bind code, in another chat.
    let other = Who { chat: "g2", ..SEC };
    let reply = app.say1(other, &format!("绑定 {code}")).await;
    assert!(reply.contains("已被使用"), "{reply}");
    let reply = app.say1(other, "绑定 ZZZZZZZZ").await;
    assert!(reply.contains("无效"), "{reply}");
    let reply = app.say1(other, "绑定 123").await;
    assert!(reply.contains("8"), "{reply}");

    // A member calling 成员 and 批准.
    let reply = app.say1(ZHANG, "成员").await;
    assert!(reply.contains("仅限支委"), "{reply}");
    let reply = app.say1(ZHANG, "批准 张三").await;
    assert!(reply.contains("仅限书记"), "{reply}");

    // 批准 of an unknown name, and of someone with no request.
    let reply = app.say1(SEC, "批准 王五").await;
    assert!(reply.contains("没有「王五」的待审核申请"), "{reply}");
    let reply = app.say1(SEC, "批准 张三").await;
    assert!(reply.contains("没有「张三」的待审核申请"), "{reply}");
    let reply = app.say1(SEC, "批准").await;
    assert!(reply.contains("例如：批准 张三"), "{reply}");

    // Joining twice, and claiming a name linked to someone else.
    let reply = app.say1(ZHANG, "加入 张三").await;
    assert!(reply.contains("已在名册上"), "{reply}");
    let impostor = Who {
        chat: "g1",
        user: "u-fake",
        name: "假张三",
    };
    // Claiming a name linked to someone else is only a request, and reads like any other.
    let reply = app.say1(impostor, "加入 张三").await;
    assert!(reply.contains("已收到加入申请"), "{reply}");

    // An expired code: issue one, let 8 days pass.
    let (status, body) = app
        .api(Method::POST, &format!("/branches/{id}/bind-codes"), None)
        .await;
    assert_eq!(status, 201, "{body}");
    let fresh = body["bind_code"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::Duration::days(8));
    let reply = app
        .say1(Who { chat: "g3", ..SEC }, &format!("绑定 {fresh}"))
        .await;
    assert!(reply.contains("已过期"), "{reply}");

    // Nothing above bound a chat or added a member.
    let (_, branch) = app.api(Method::GET, &format!("/branches/{id}"), None).await;
    assert_eq!(branch["chats"].as_array().unwrap().len(), 1, "{branch}");
    let (_, members) = app
        .api(Method::GET, &format!("/branches/{id}/members"), None)
        .await;
    assert_eq!(members["total"], 2, "{members}");
    let keys = app.keys(&REDIS.url()).await;
    assert!(
        !keys
            .iter()
            .any(|k| k.contains(":chat:sim:demo:g2") || k.contains(":chat:sim:demo:g3")),
        "{keys:?}"
    );
}

#[tokio::test]
async fn a_second_chat_binds_with_a_new_code_and_keeps_one_secretary() {
    let app = spawn_app().await;
    let (id, code) = app.create_branch("乙支部").await;
    app.say1(SEC, &format!("绑定 {code}")).await;
    let (_, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/bind-codes"),
            Some(json!({})),
        )
        .await;
    let second = body["bind_code"].as_str().unwrap().to_owned();
    let reply = app
        .say1(
            Who {
                chat: "g2",
                user: "u-other",
                name: "赵六",
            },
            &format!("绑定 {second}"),
        )
        .await;
    assert!(
        reply.contains("已绑定") && !reply.contains("成为书记"),
        "{reply}"
    );
    let (_, branch) = app.api(Method::GET, &format!("/branches/{id}"), None).await;
    assert_eq!(branch["chats"].as_array().unwrap().len(), 2, "{branch}");
    // The same chat cannot join another branch.
    let (_, other) = app.create_branch("丙支部").await;
    let reply = app.say1(SEC, &format!("绑定 {other}")).await;
    assert!(reply.contains("已绑定其他支部"), "{reply}");
}

#[tokio::test]
async fn the_admin_api_answers_problems_and_respects_the_token() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/branches", app.base);
    let resp = app.client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let resp = app
        .client
        .get(&url)
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let (status, body) = app
        .api(Method::POST, "/branches", Some(json!({"name": ""})))
        .await;
    assert_eq!(
        (status, body["type"].as_str()),
        (422, Some("/problems/validation")),
        "{body}"
    );
    assert_eq!(body["errors"][0]["field"], "name", "{body}");
    let (status, body) = app
        .api(
            Method::POST,
            "/branches",
            Some(json!({"name": "x", "timezone": "Mars/Base"})),
        )
        .await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("timezone")),
        "{body}"
    );
    let (status, body) = app
        .api(Method::POST, "/branches", Some(json!({"nam": "x"})))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app.api(Method::GET, "/branches/nosuchbranch", None).await;
    assert_eq!(status, 404);
    let (status, _) = app.api(Method::GET, "/branches/BAD%20ID", None).await;
    assert_eq!(status, 404);

    let (id, _) = app.create_branch("丁支部").await;
    let (status, body) = app
        .api(Method::PATCH, &format!("/branches/{id}"), Some(json!({"language": "en", "timing": {"meeting_reminders": ["2h", "5m"], "bind_code_ttl": "1d"}})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["timing"]["meeting_reminders"],
        json!(["2h", "5m"]),
        "{body}"
    );
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/branches/{id}"),
            Some(json!({"timing": {"care_lead": "soon"}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["errors"][0]["field"]
            .as_str()
            .unwrap()
            .contains("care_lead"),
        "{body}"
    );

    let (status, body) = app.api(Method::GET, "/branches?per_page=500", None).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app.api(Method::GET, "/branches?per_page=1", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");

    // An English branch answers in English.
    let (_, b) = app.api(Method::GET, &format!("/branches/{id}"), None).await;
    assert_eq!(b["language"], "en");
}

#[tokio::test]
async fn the_committee_chat_binds_with_a_committee_code_and_answers_commands() {
    let app = spawn_app().await;
    let (id, code) = app.create_branch("戊支部").await;
    app.say1(SEC, &format!("绑定 {code}")).await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/bind-codes"),
            Some(json!({"committee": true})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["committee"], true);
    let committee_code = body["bind_code"].as_str().unwrap().to_owned();

    // A member who is not on the committee cannot bind it.
    app.say1(ZHANG, "加入 张三").await;
    app.say1(SEC, "批准 张三").await;
    let reply = app
        .say1(
            Who {
                chat: "gc",
                ..ZHANG
            },
            &format!("绑定支委群 {committee_code}"),
        )
        .await;
    assert!(reply.contains("仅限书记、支委"), "{reply}");

    let reply = app
        .say1(
            Who { chat: "gc", ..SEC },
            &format!("绑定支委群 {committee_code}"),
        )
        .await;
    assert!(reply.contains("支委群"), "{reply}");
    let roster = app.say1(Who { chat: "gc", ..SEC }, "成员").await;
    assert!(roster.contains("书记：王书记"), "{roster}");
    let (_, branch) = app.api(Method::GET, &format!("/branches/{id}"), None).await;
    assert_eq!(branch["committee_chat"]["chat_id"], "gc", "{branch}");
    assert_eq!(
        branch["chats"].as_array().unwrap().len(),
        1,
        "the committee chat is not a member chat: {branch}"
    );

    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/branches/{id}"),
            Some(json!({"timing": {"bind_code_ttl": "0s"}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "timing.bind_code_ttl", "{body}");
}

#[tokio::test]
async fn two_replicas_seed_one_demo_branch() {
    let settings = crate::helpers::test_settings(&REDIS.url(), "");
    let mut overlay = settings.clone();
    overlay.demo.seed = true;
    let one = crate::helpers::spawn_app_with(overlay.clone()).await;
    let _two = crate::helpers::spawn_app_with(overlay).await;
    let who = Who {
        chat: "g1",
        user: "u-new",
        name: "张三",
    };
    let mut reply = String::new();
    for _ in 0..100 {
        reply = one.say1(who, "加入 张三").await;
        if !reply.contains("尚未绑定") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(reply.contains("已收到加入申请"), "{reply}");
    let (_, members) = one.api(Method::GET, "/branches/demo/members", None).await;
    let names: Vec<&str> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["王书记", "张三", "李四"], "{members}");
}

#[tokio::test]
async fn one_person_on_two_platforms_becomes_one_member_once_the_secretary_confirms() {
    let app = spawn_app().await;
    let (id, code) = app.create_branch("跨平台支部").await;
    app.api(
        Method::POST,
        &format!("/branches/{id}/members"),
        Some(json!({"name": "张三"})),
    )
    .await;
    app.say1(SEC, &format!("绑定 {code}")).await;
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

    // The second platform: the `locked` sim bot, a separate account namespace.
    let (_, body) = app
        .api(Method::POST, &format!("/branches/{id}/bind-codes"), None)
        .await;
    let other_code = body["bind_code"].as_str().unwrap().to_owned();
    let on_other = |user: &str, text: &str| {
        let body = json!({"chat_id": "q1", "user_id": user, "user_name": "张三", "message_id": app.message_id(), "text": text});
        let (client, base) = (app.client.clone(), app.base.clone());
        async move {
            let v: serde_json::Value = client
                .post(format!("{base}/webhook/sim/locked"))
                .header("x-sim-secret", SIM_SECRET)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["replies"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let reply = on_other("u-sec-2", &format!("绑定 {other_code}")).await;
    assert!(
        reply.contains("已绑定") && !reply.contains("成为书记"),
        "{reply}"
    );

    assert!(
        app.say1(ZHANG, "加入 张三")
            .await
            .contains("已收到加入申请")
    );
    let reply = on_other("u-zhang-2", "加入 张三").await;
    assert!(reply.contains("已收到加入申请"), "{reply}");
    let reply = on_other("u-zhang-2", "我的").await;
    assert!(
        reply.contains("等待书记审核") && !reply.contains("张三"),
        "no access before the secretary confirms: {reply}"
    );
    let told = app.mail_containing("demo", "gc", "【加入申请】").await;
    assert!(told.contains("张三"), "{told}");

    let reply = app.say1(SEC, "批准 张三").await;
    assert!(reply.contains("关联到「张三」"), "{reply}");
    let reply = on_other("u-zhang-2", "我的").await;
    assert!(reply.contains("张三") && reply.contains("私信"), "{reply}");
    let me = app
        .mail_containing("locked", "dm:u-zhang-2", "已关联账号：2 个")
        .await;
    assert!(me.contains("张三"), "{me}");
    let (_, members) = app
        .api(Method::GET, &format!("/branches/{id}/members"), None)
        .await;
    let zhang = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "张三")
        .unwrap();
    assert_eq!(zhang["identities"].as_array().unwrap().len(), 2, "{zhang}");

    // Someone else on the first platform still cannot take the name: it is only a request.
    let reply = app
        .say1(
            Who {
                chat: "g1",
                user: "u-fake",
                name: "假",
            },
            "加入 张三",
        )
        .await;
    assert!(reply.contains("已收到加入申请"), "{reply}");
}
