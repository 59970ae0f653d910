//! Safe defaults over real HTTP and a real Redis: the backstops behind config validation (an
//! insecure sim bot off loopback, a secret emptied in code) and the demo branch that only
//! scripts/run.sh seeds.

use mobile_branch::{
    config::{BotSettings, Secret, Settings, SimBot, Sources},
    startup::{Application, StartupError},
};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{REDIS, spawn_app_with, test_settings};

#[tokio::test]
async fn the_application_refuses_an_insecure_sim_bot_moved_off_loopback_in_code() {
    // Validation refuses this in a file or the environment; settings changed in code after
    // loading meet the same rule when the application is built.
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let mut settings = test_settings(&REDIS.url(), "");
        settings.server.listen = listen.parse().unwrap();
        let Err(StartupError::InsecureBot(why)) = Application::build(settings).await else {
            panic!("an insecure sim bot on {listen} was built");
        };
        assert!(why.starts_with("bots.demo.insecure: "), "{why}");
        assert!(why.contains(&format!("server.listen is {listen}")), "{why}");
    }
}

#[tokio::test]
async fn a_sim_secret_emptied_in_code_lets_nothing_in_and_changes_nothing() {
    let mut settings = test_settings(&REDIS.url(), "");
    settings.bots.insert(
        "locked".to_owned(),
        BotSettings::Sim(SimBot {
            insecure: false,
            secret: Some(Secret::new("")),
            names: Vec::new(),
            limits: None,
        }),
    );
    let app = spawn_app_with(settings).await;
    let before = app.redis_state(&[]).await;
    let body = json!({"chat_id":"g1","user_id":"secretary","message_id":"m1","text":"帮助"});
    for header in [None, Some("")] {
        let mut post = app
            .client
            .post(format!("{}/webhook/sim/locked", app.base))
            .json(&body);
        let mut read = app.client.get(format!(
            "{}/webhook/sim/locked/messages?chat_id=g1",
            app.base
        ));
        if let Some(value) = header {
            post = post.header("x-sim-secret", value);
            read = read.header("x-sim-secret", value);
        }
        assert_eq!(post.send().await.unwrap().status(), 401, "post {header:?}");
        assert_eq!(read.send().await.unwrap().status(), 401, "read {header:?}");
    }
    app.assert_redis_unchanged(&before, &[], "requests to a bot with an empty secret")
        .await;
}

#[tokio::test]
async fn the_embedded_default_binds_no_demo_branch_and_the_run_sh_setting_does() {
    let embedded = Settings::load(&Sources::default()).unwrap().demo.seed;
    assert!(!embedded, "the embedded default seeds nothing");

    // The embedded default's setting, on a real app with the demo bot it would bind.
    let mut settings = test_settings(&REDIS.url(), "");
    settings.demo.seed = embedded;
    let app = spawn_app_with(settings).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (status, _) = app.api(Method::GET, "/branches/demo", None).await;
    assert_eq!(status, 404, "no demo branch without the seed");

    // scripts/run.sh's setting (MB_DEMO__SEED=true) on an app of its own: the branch comes.
    let mut settings = test_settings(&REDIS.url(), "");
    settings.demo.seed = true;
    let seeded = spawn_app_with(settings).await;
    let mut status = 0;
    for _ in 0..100 {
        (status, _) = seeded.api(Method::GET, "/branches/demo", None).await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "run.sh's setting seeds the demo branch");
}
