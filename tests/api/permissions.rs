//! Who may touch what: scoped API tokens (issued, expiring, revoked), and branches in chat.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Who, spawn_app};

async fn with_token(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, format!("{}/api/v1{path}", app.base))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_branch_token_reaches_its_branch_only_and_dies_when_revoked_or_expired() {
    let app = spawn_app().await;
    let (a, _) = app.create_branch("甲支部").await;
    let (b, _) = app.create_branch("乙支部").await;
    let (status, issued) = app
        .api(
            Method::POST,
            "/tokens",
            Some(json!({"scope": "branch", "branch_id": a})),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("mbt_"));

    assert_eq!(
        with_token(&app, &token, Method::GET, &format!("/branches/{a}"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        with_token(&app, &token, Method::GET, &format!("/branches/{b}"), None)
            .await
            .0,
        404,
        "B does not exist for A's token"
    );
    let (status, _) = with_token(
        &app,
        &token,
        Method::POST,
        &format!("/branches/{b}/meetings"),
        Some(json!({"kind": "committee", "starts_at": "2099-01-01T00:00:00Z", "topic": "x"})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        with_token(
            &app,
            &token,
            Method::POST,
            "/branches",
            Some(json!({"name": "丙"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        with_token(
            &app,
            &token,
            Method::POST,
            "/tokens",
            Some(json!({"scope": "region"}))
        )
        .await
        .0,
        403
    );
    let (_, list) = with_token(&app, &token, Method::GET, "/branches", None).await;
    assert_eq!(list["total"], 1, "{list}");

    // The token is stored hashed: the listing never shows it.
    let (_, tokens) = app.api(Method::GET, "/tokens", None).await;
    assert!(!tokens.to_string().contains(&token), "{tokens}");

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/tokens/{}", issued["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        with_token(&app, &token, Method::GET, &format!("/branches/{a}"), None)
            .await
            .0,
        401
    );
    assert_eq!(
        app.api(Method::DELETE, "/tokens/tok_nonesuch", None)
            .await
            .0,
        404
    );

    let (_, short) = app
        .api(
            Method::POST,
            "/tokens",
            Some(json!({"scope": "region", "expires_in": "1h"})),
        )
        .await;
    let short = short["token"].as_str().unwrap().to_owned();
    assert_eq!(
        with_token(&app, &short, Method::GET, "/branches", None)
            .await
            .0,
        200
    );
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        with_token(&app, &short, Method::GET, "/branches", None)
            .await
            .0,
        401,
        "expired"
    );

    for bad in [
        json!({"scope": "galaxy"}),
        json!({"scope": "branch"}),
        json!({"scope": "branch", "branch_id": "nonesuch"}),
        json!({"scope": "region", "expires_in": "1s"}),
    ] {
        let (status, body) = app.api(Method::POST, "/tokens", Some(bad.clone())).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
}

#[tokio::test]
async fn a_secretary_of_one_branch_is_a_guest_in_another() {
    let app = spawn_app().await;
    let (_, code_a) = app.create_branch("甲支部").await;
    let (_, code_b) = app.create_branch("乙支部").await;
    let sec_a = Who {
        chat: "ga",
        user: "u-a",
        name: "甲书记",
    };
    app.say1(sec_a, &format!("绑定 {code_a}")).await;
    app.say1(
        Who {
            chat: "gb",
            user: "u-b",
            name: "乙书记",
        },
        &format!("绑定 {code_b}"),
    )
    .await;
    assert!(
        app.say1(sec_a, "新建会议 支委会 明天 19:30 甲的会")
            .await
            .contains("#1")
    );
    // In B's chat, A's secretary is nobody.
    let in_b = Who {
        chat: "gb",
        ..sec_a
    };
    for command in [
        "新建会议 支委会 明天 19:30 越权",
        "结束会议 #1",
        "成员",
        "批准 乙书记",
        "台账",
    ] {
        let reply = app.say1(in_b, command).await;
        assert!(reply.contains("仅限"), "{command}: {reply}");
    }
    // And B's meeting numbers are B's own: #1 in B is not A's meeting.
    let reply = app
        .say1(
            Who {
                chat: "gb",
                user: "u-b",
                name: "乙书记",
            },
            "会议 #1",
        )
        .await;
    assert!(reply.contains("没有会议 #1"), "{reply}");
}
