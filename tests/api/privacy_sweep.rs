//! The privacy sweep: a whole branch scenario (bind, join, link requests, approve, roster,
//! a meeting with leave and an absence, check-in, end, minutes, ledger, notices), then a look
//! at everything that reached a member chat, inline replies and proactive messages alike:
//! no leave reason, absentee list, phone number, waiting name or role list may be there
//! (SPEC section 4). Run twice: with a committee chat, and with the secretary's private chat
//! as the only private place.

use mobile_branch::clock::Clock;
use reqwest::Method;
use serde_json::json;

use crate::helpers::cast::SEC;
use crate::helpers::{TestApp, Who, spawn_app};

const JIA: Who<'static> = Who {
    chat: "g1",
    user: "u-jia",
    name: "甲党员",
};
const YI: Who<'static> = Who {
    chat: "g1",
    user: "u-yi",
    name: "乙党员",
};
const BING: Who<'static> = Who {
    chat: "g1",
    user: "u-bing",
    name: "丙预备",
};
const DING: Who<'static> = Who {
    chat: "g1",
    user: "u-ding",
    name: "丁支委",
};
const GUEST: Who<'static> = Who {
    chat: "g1",
    user: "u-zhou",
    name: "周访客",
};

const REASON: &str = "住院复查XYZ";
const PHONE: &str = "13912345678";
const WAITING: &str = "周待审";

/// Says something in a member chat and keeps every reply for the sweep.
async fn say(app: &TestApp, seen: &mut Vec<String>, who: Who<'_>, text: &str) -> String {
    let replies = app.say(who, text).await;
    seen.extend(replies.iter().cloned());
    replies.join("\n")
}

async fn sweep(with_committee: bool) {
    let app = spawn_app().await;
    let mut seen = Vec::new();
    let (id, code) = app.create_branch("隐私支部").await;
    for (name, role) in [
        ("甲党员", "member"),
        ("乙党员", "member"),
        ("丙预备", "probationary"),
        ("丁支委", "committee"),
    ] {
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/branches/{id}/members"),
                Some(
                    json!({"name": name, "role": role, "phone": PHONE, "care_flags": ["困难党员"]}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    say(&app, &mut seen, SEC, &format!("绑定 {code}")).await;
    let private = if with_committee {
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
        "gc"
    } else {
        "dm:u-sec"
    };

    // Joining: plain members link themselves, the 支委 entry and a stranger's name wait, and a
    // second account asks to link to 甲党员.
    for who in [JIA, YI, BING, DING] {
        say(&app, &mut seen, who, &format!("加入 {}", who.name)).await;
    }
    say(&app, &mut seen, GUEST, &format!("加入 {WAITING}")).await;
    say(&app, &mut seen, GUEST, "我的").await;
    say(
        &app,
        &mut seen,
        Who {
            user: "u-jia-2",
            ..JIA
        },
        "加入 甲党员",
    )
    .await;
    say(&app, &mut seen, SEC, "批准 丁支委").await;
    say(&app, &mut seen, SEC, "批准 甲党员").await;
    say(&app, &mut seen, SEC, "成员").await;
    say(&app, &mut seen, DING, "成员").await;
    say(&app, &mut seen, JIA, "我的").await;

    // A meeting: 甲 will attend, 丙 asks leave with a reason, 乙 never answers.
    let created = say(
        &app,
        &mut seen,
        SEC,
        "新建会议 党小组会 明天 19:30 学习讨论",
    )
    .await;
    assert!(created.contains("#1"), "{created}");
    say(&app, &mut seen, JIA, "参加 #1").await;
    say(&app, &mut seen, BING, &format!("请假 #1 {REASON}")).await;
    say(&app, &mut seen, DING, "会议 #1").await;
    let shanghai = chrono_tz::Asia::Shanghai;
    let tomorrow =
        app.clock.now().with_timezone(&shanghai).date_naive() + chrono::Duration::days(1);
    let starts = tomorrow
        .and_hms_opt(19, 30, 0)
        .and_then(|t| t.and_local_timezone(shanghai).single())
        .unwrap()
        .with_timezone(&chrono::Utc);
    app.clock
        .advance(starts - app.clock.now() - chrono::Duration::minutes(5));
    say(&app, &mut seen, JIA, "签到").await;
    say(&app, &mut seen, DING, "签到").await;
    say(&app, &mut seen, SEC, "签到").await;
    say(&app, &mut seen, JIA, "签到状态").await;
    app.clock.advance(chrono::Duration::minutes(30));
    let ended = say(&app, &mut seen, SEC, "结束会议 #1").await;
    assert!(ended.contains("缺席 1 人"), "{ended}");
    say(&app, &mut seen, SEC, "会议记录 #1 讨论了学习安排").await;
    say(&app, &mut seen, SEC, "台账").await;
    say(&app, &mut seen, SEC, "会议").await;
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/notices"),
            Some(json!({"text": "本周六上午集中学习"})),
        )
        .await;
    assert_eq!(status, 201);

    // The sensitive texts did go somewhere private.
    app.mail_containing("demo", private, REASON).await;
    app.mail_containing("demo", private, "缺席：乙党员").await;
    app.mail_containing("demo", private, "待审核申请").await;
    app.quiet().await;

    // The sweep: every inline reply in g1 and everything the group's mailbox received.
    seen.extend(app.mailbox("demo", "g1").await);
    assert!(seen.len() > 25, "the scenario reached the group: {seen:#?}");
    for text in &seen {
        for secret in [REASON, PHONE, WAITING, "困难党员"] {
            assert!(
                !text.contains(secret),
                "{secret:?} reached the group: {text}"
            );
        }
        for list in ["缺席：", "absent:"] {
            assert!(
                !text.contains(list),
                "an absentee list reached the group: {text}"
            );
        }
        for role in [
            "预备党员",
            "积极分子",
            "书记：",
            "支委：",
            "党员：",
            "待审核申请",
        ] {
            assert!(
                !text.contains(role),
                "a role list reached the group: {text}"
            );
        }
        for request in ["2 个待审核申请", "u-jia-2"] {
            assert!(
                !text.contains(request),
                "waiting accounts reached the group: {text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_sensitive_reaches_a_member_chat_with_a_committee_chat() {
    sweep(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_sensitive_reaches_a_member_chat_with_only_the_secretarys_private_chat() {
    sweep(false).await;
}
