//! The same message delivered many times, also concurrently, has one effect and one reply.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Who, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_webhook_five_times_has_one_effect_and_five_identical_replies() {
    let app = spawn_app().await;
    let (id, code) = app.create_branch("去重支部").await;
    app.say1(
        Who {
            chat: "g1",
            user: "u-sec",
            name: "王书记",
        },
        &format!("绑定 {code}"),
    )
    .await;

    let body = json!({
        "chat_id": "g1", "user_id": "u-li", "user_name": "李四",
        "message_id": "retried-1", "text": "加入 李四",
    })
    .to_string();

    // Two in sequence, then three at once.
    let mut replies = Vec::new();
    for _ in 0..2 {
        let resp = app.post_raw("/webhook/sim/demo", body.clone()).await;
        assert_eq!(resp.status(), 200);
        replies.push(resp.json::<Value>().await.unwrap());
    }
    let concurrent = futures_join3(
        app.post_raw("/webhook/sim/demo", body.clone()),
        app.post_raw("/webhook/sim/demo", body.clone()),
        app.post_raw("/webhook/sim/demo", body.clone()),
    )
    .await;
    for resp in concurrent {
        assert_eq!(resp.status(), 200);
        replies.push(resp.json::<Value>().await.unwrap());
    }
    assert_eq!(replies.len(), 5);
    assert!(replies.iter().all(|r| *r == replies[0]), "{replies:#?}");
    assert!(
        replies[0]["replies"][0]["text"]
            .as_str()
            .unwrap()
            .contains("已收到加入申请")
    );

    // One effect: one waiting request.
    let (_, requests) = app
        .api(Method::GET, &format!("/branches/{id}/join-requests"), None)
        .await;
    assert_eq!(requests["total"], 1, "{requests}");

    // A member's message id with other content is still the first message (platform ids
    // are stable). (A guest's messages take no claim: they are read-only or idempotent.)
    let said = |text: &str| {
        json!({"chat_id": "g1", "user_id": "u-sec", "message_id": "sec-1", "text": text})
            .to_string()
    };
    let first: Value = app
        .post_raw("/webhook/sim/demo", said("我的"))
        .await
        .json()
        .await
        .unwrap();
    let again: Value = app
        .post_raw("/webhook/sim/demo", said("帮助"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_binds_of_one_code_have_one_winner() {
    let app = spawn_app().await;
    let (id, code) = app.create_branch("并发支部").await;
    let send = |chat: &'static str| {
        let body = json!({"chat_id": chat, "user_id": format!("u-{chat}"), "user_name": chat,
                          "message_id": format!("bind-{chat}"), "text": format!("绑定 {code}")});
        app.post_raw("/webhook/sim/demo", body.to_string())
    };
    let results = futures_join3(send("ga"), send("gb"), send("gc")).await;
    let mut texts = Vec::new();
    for r in results {
        let v: Value = r.json().await.unwrap();
        texts.push(v["replies"][0]["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        texts.iter().filter(|t| t.contains("成为书记")).count(),
        1,
        "{texts:?}"
    );
    assert_eq!(
        texts.iter().filter(|t| t.contains("已被使用")).count(),
        2,
        "{texts:?}"
    );
    let (_, branch) = app.api(Method::GET, &format!("/branches/{id}"), None).await;
    assert_eq!(branch["chats"].as_array().unwrap().len(), 1, "{branch}");
}

async fn futures_join3<A, B, C>(a: A, b: B, c: C) -> [A::Output; 3]
where
    A: std::future::Future,
    B: std::future::Future<Output = A::Output>,
    C: std::future::Future<Output = A::Output>,
{
    let (a, b, c) = tokio::join!(a, b, c);
    [a, b, c]
}

#[tokio::test]
async fn the_same_message_id_in_two_chats_is_two_messages_and_duplicates_are_counted_apart() {
    let app = spawn_app().await;
    let (_, code_a) = app.create_branch("甲").await;
    let (_, code_b) = app.create_branch("乙").await;
    let bind = |chat: &str, code: &str| {
        json!({"chat_id": chat, "user_id": "u-sec", "user_name": "王书记",
               "message_id": "m1", "text": format!("绑定 {code}")})
        .to_string()
    };
    let a: Value = app
        .post_raw("/webhook/sim/demo", bind("ga", &code_a))
        .await
        .json()
        .await
        .unwrap();
    let b: Value = app
        .post_raw("/webhook/sim/demo", bind("gb", &code_b))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        a["replies"][0]["text"].as_str().unwrap().contains("「甲」"),
        "{a}"
    );
    assert!(
        b["replies"][0]["text"].as_str().unwrap().contains("「乙」"),
        "{b}"
    );

    let again: Value = app
        .post_raw("/webhook/sim/demo", bind("ga", &code_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, a);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("outcome=\"duplicate\""), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_people_asking_to_join_at_once_all_wait_for_the_secretary() {
    let app = spawn_app().await;
    let (id, code) = app.create_branch("热闹支部").await;
    app.say1(
        Who {
            chat: "g1",
            user: "u-sec",
            name: "王书记",
        },
        &format!("绑定 {code}"),
    )
    .await;
    let joins = (0..50).map(|i| {
        let body = json!({"chat_id": "g1", "user_id": format!("u{i}"), "user_name": format!("成员{i}"),
                          "message_id": format!("join-{i}"), "text": format!("加入 成员{i}")});
        app.post_raw("/webhook/sim/demo", body.to_string())
    });
    let responses = futures::future::join_all(joins).await;
    for r in responses {
        assert_eq!(r.status(), 200);
    }
    let (_, requests) = app
        .api(
            Method::GET,
            &format!("/branches/{id}/join-requests?per_page=100"),
            None,
        )
        .await;
    assert_eq!(requests["total"], 50, "{requests}");
}
