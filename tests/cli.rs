//! The real `mobile-branch` binary: `check-config` and `serve` as an operator meets them.
//!
//! Every run starts from a cleared environment (only PATH and HOME survive), so `MB_*` and
//! `MOBILE_BRANCH_CONFIG` from the developer's shell can never leak into a test.

// `allow-expect-in-tests` covers `#[test]` functions only; the shared helpers below fail the
// test the same way, with a message.
#![allow(clippy::expect_used)]

use std::{
    io::Write,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use tempfile::NamedTempFile;

const BIN: &str = env!("CARGO_BIN_EXE_mobile-branch");

const ADMIN_TOKEN: &str = "admin-token-3f9c1a7e5b";
const REDIS_PASSWORD: &str = "hunter2pass-0123456789";
const BOT_SECRET: &str = "sim-bot-secret-8d2e";

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear();
    for key in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    cmd
}

/// Runs the binary to completion with exactly these arguments and environment.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env).output().expect("the binary runs")
}

/// Runs the binary, killing it (and failing the test) if it is still running after 10 s.
fn run_with_deadline(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = command(args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("the child can be polled").is_none() {
        if Instant::now() >= deadline {
            child.kill().ok();
            let out = child
                .wait_with_output()
                .expect("the killed child is reaped");
            panic!(
                "still running after 10 s; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the output is collected")
}

/// A temporary TOML file holding `text`; it lives as long as the returned handle.
fn config_file(text: &str) -> NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("a temp file");
    file.write_all(text.as_bytes())
        .expect("the temp file is written");
    file
}

fn path(file: &NamedTempFile) -> &str {
    file.path().to_str().expect("temp paths are UTF-8")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{:?}\nstderr:\n{}",
        out.status,
        stderr(out)
    );
}

/// A clean, non-zero exit: not killed by a signal and not a panic.
fn assert_failure(out: &Output) {
    let err = stderr(out);
    assert!(
        out.status.code().is_some_and(|c| c != 0 && c != 101),
        "{:?}\nstderr:\n{err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Runs `check-config` on a file holding `text` and expects it to fail; returns stderr.
fn check_config_fails(text: &str) -> String {
    let file = config_file(text);
    let out = run(&["--config", path(&file), "check-config"], &[]);
    assert_failure(&out);
    stderr(&out)
}

fn printed_config(out: &Output) -> toml::Table {
    assert_success(out);
    stdout(out).parse().expect("stdout is TOML")
}

fn get<'a>(table: &'a toml::Table, dotted: &str) -> &'a toml::Value {
    let mut keys = dotted.split('.');
    let first = keys.next().unwrap_or_default();
    let mut value = table.get(first).unwrap_or_else(|| panic!("no {dotted}"));
    for key in keys {
        value = value.get(key).unwrap_or_else(|| panic!("no {dotted}"));
    }
    value
}

fn assert_no_secret_in(out: &Output, secrets: &[&str]) {
    let (o, e) = (stdout(out), stderr(out));
    for secret in secrets {
        assert!(!o.contains(secret), "{secret} on stdout:\n{o}");
        assert!(!e.contains(secret), "{secret} on stderr:\n{e}");
    }
}

#[test]
fn a_valid_file_prints_the_effective_configuration_with_every_secret_masked() {
    let file = config_file(&format!(
        r#"
[server]
listen = "127.0.0.1:18080"
[admin]
token = "{ADMIN_TOKEN}"
[redis]
url = "redis://:{REDIS_PASSWORD}@127.0.0.1:6379"
[timing]
bind_code_ttl = "2d"
[bots.qq]
platform = "sim"
secret = "{BOT_SECRET}"
"#
    ));
    let out = run(&["--config", path(&file), "check-config"], &[]);
    let config = printed_config(&out);

    assert_eq!(
        get(&config, "server.listen").as_str(),
        Some("127.0.0.1:18080")
    );
    let ttl = get(&config, "timing.bind_code_ttl")
        .as_str()
        .expect("a string");
    assert_eq!(
        humantime::parse_duration(ttl).ok(),
        Some(Duration::from_secs(2 * 86_400))
    );
    assert_eq!(get(&config, "timing.dedup_ttl").as_str(), Some("1day"));
    assert_eq!(get(&config, "admin.token").as_str(), Some("***"));
    assert_eq!(get(&config, "redis.url").as_array().map(Vec::len), Some(1));
    assert_eq!(get(&config, "redis.url")[0].as_str(), Some("***"));
    assert_eq!(get(&config, "bots.qq.secret").as_str(), Some("***"));
    let bots = get(&config, "bots").as_table().expect("a table");
    assert_eq!(
        bots.keys().collect::<Vec<_>>(),
        ["qq"],
        "operator bots replace the demo bot"
    );
    assert!(
        stderr(&out).contains("configuration is valid"),
        "{}",
        stderr(&out)
    );
    assert_no_secret_in(&out, &[ADMIN_TOKEN, REDIS_PASSWORD, BOT_SECRET]);
}

#[test]
fn an_unknown_key_and_an_unknown_section_are_both_named() {
    let err = check_config_fails("[server]\nlistn = \"0.0.0.0:1\"\n[srever]\nlisten = \"x\"\n");
    assert!(err.contains("server.listn"), "{err}");
    assert!(err.contains("srever"), "{err}");
}

#[test]
fn a_malformed_duration_is_rejected_naming_its_key() {
    let err = check_config_fails("[timing]\ndedup_ttl = \"soon\"\n");
    assert!(err.contains("timing.dedup_ttl"), "{err}");
}

#[test]
fn bad_keys_in_several_sections_are_all_named_in_one_run() {
    let file = config_file(
        r#"
[server]
listen = "nope"
[redis]
bogus = 1
[log]
format = "xml"
[timing]
dedup_ttl = "soon"
[bots.tg]
platform = "telegrm"
"#,
    );
    let out = run(&["--config", path(&file), "check-config"], &[]);
    assert_failure(&out);
    assert!(
        out.stdout.is_empty(),
        "nothing is printed for a broken file"
    );
    let err = stderr(&out);
    for key in [
        "server.listen",
        "redis.bogus",
        "log.format",
        "timing.dedup_ttl",
        "bots.tg",
    ] {
        assert!(err.contains(key), "{key} missing from:\n{err}");
    }
}

#[test]
fn failed_value_checks_in_several_sections_are_all_named_in_one_run() {
    let err = check_config_fails(
        "[admin]\ntoken = \"short\"\n[redis]\nprefix = \"a b\"\n[timing]\ndedup_ttl = \"30m\"\n\
         [server]\npublic_url = \"ftp://x\"\n",
    );
    for key in [
        "admin.token",
        "redis.prefix",
        "timing.dedup_ttl",
        "server.public_url",
    ] {
        assert!(err.contains(key), "{key} missing from:\n{err}");
    }
}

#[test]
fn a_telegram_bot_without_secrets_is_rejected_naming_each_missing_secret() {
    let err = check_config_fails("[bots.tg]\nplatform = \"telegram\"\n");
    assert!(err.contains("bots.tg.token"), "{err}");
    assert!(err.contains("bots.tg.secret_token"), "{err}");
}

#[test]
fn a_sim_bot_with_neither_secret_nor_insecure_is_rejected_naming_its_secret() {
    let err = check_config_fails("[bots.local]\nplatform = \"sim\"\n");
    assert!(err.contains("bots.local.secret"), "{err}");
}

#[test]
fn a_redis_url_with_a_bad_scheme_is_rejected_without_echoing_its_password() {
    let file = config_file(&format!(
        "[redis]\nurl = \"http://:{REDIS_PASSWORD}@h:1\"\n"
    ));
    let out = run(&["--config", path(&file), "check-config"], &[]);
    assert_failure(&out);
    assert!(stderr(&out).contains("redis.url"), "{}", stderr(&out));
    assert_no_secret_in(&out, &[REDIS_PASSWORD]);
}

#[test]
fn an_environment_variable_overrides_the_file() {
    let file = config_file("[server]\nlisten = \"127.0.0.1:18080\"\n");
    let out = run(
        &["--config", path(&file), "check-config"],
        &[("MB_SERVER__LISTEN", "127.0.0.2:9999")],
    );
    let config = printed_config(&out);
    assert_eq!(
        get(&config, "server.listen").as_str(),
        Some("127.0.0.2:9999")
    );
}

#[test]
fn an_absurd_duration_is_refused_naming_its_key_value_and_allowed_range() {
    // Arrange: values humantime parses happily but no deployment means.
    let text = "[scheduler]\nretry_cap = \"1000000years\"\n[outbox]\nidempotency_ttl = \"0s\"\n";

    // Act
    let err = check_config_fails(text);
    let env = run(&["check-config"], &[("MB_OUTBOX__RETRY_CAP", "5000years")]);

    // Assert
    for line in [
        "scheduler.retry_cap: 1000000years is out of range (allowed: 1ms to 1d)",
        "outbox.idempotency_ttl: 0s is out of range (allowed: 1h to 90d)",
    ] {
        assert!(err.contains(line), "{line}: {err}");
    }
    assert_failure(&env);
    assert!(
        stderr(&env).contains("outbox.retry_cap: 5000years is out of range"),
        "{}",
        stderr(&env)
    );
}

#[test]
fn environment_values_keep_their_exact_text_where_the_key_is_not_typed() {
    // Arrange: values a TOML-ish reading would turn into numbers (losing the leading zeros
    // of a secret) or a boolean; a typed key still reads as a number.
    let env = [
        ("MB_ADMIN__TOKEN", "0000000000001234"),
        ("MB_DEMO__CHAT_ID", "123"),
        ("MB_DEMO__BRANCH_NAME", "true"),
        ("MB_SERVER__WEBHOOK_BODY_LIMIT", "2048"),
    ];

    // Act
    let out = run(&["check-config"], &env);

    // Assert: the 16-character token is accepted as 16 characters, and the texts stay text.
    let config = printed_config(&out);
    assert_eq!(get(&config, "demo.chat_id").as_str(), Some("123"));
    assert_eq!(get(&config, "demo.branch_name").as_str(), Some("true"));
    assert_eq!(
        get(&config, "server.webhook_body_limit").as_integer(),
        Some(2048)
    );
}

#[test]
fn a_malformed_duration_from_the_environment_is_rejected_naming_its_key() {
    let out = run(&["check-config"], &[("MB_TIMING__DEDUP_TTL", "nope")]);
    assert_failure(&out);
    assert!(
        stderr(&out).contains("timing.dedup_ttl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_secret_read_from_a_file_is_used_but_never_printed() {
    let secret = config_file(&format!("{ADMIN_TOKEN}\n"));
    let out = run(
        &["check-config"],
        &[("MB_ADMIN__TOKEN_FILE", path(&secret))],
    );
    let config = printed_config(&out);
    assert_eq!(get(&config, "admin.token").as_str(), Some("***"));
    assert!(get(&config, "admin").get("token_file").is_none());
    assert_no_secret_in(&out, &[ADMIN_TOKEN]);
}

#[test]
fn a_secret_file_that_does_not_exist_is_rejected_naming_its_key() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let missing = dir.path().join("no-such-token");
    let missing = missing.to_str().expect("UTF-8");
    let out = run(&["check-config"], &[("MB_ADMIN__TOKEN_FILE", missing)]);
    assert_failure(&out);
    assert!(
        stderr(&out).contains("admin.token_file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_config_file_that_does_not_exist_is_rejected_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let missing = dir.path().join("absent.toml");
    let missing = missing.to_str().expect("UTF-8");
    for out in [
        run(&["--config", missing, "check-config"], &[]),
        run(&["check-config"], &[("MOBILE_BRANCH_CONFIG", missing)]),
    ] {
        assert_failure(&out);
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert!(
            err.contains(missing) && err.contains("does not exist"),
            "{err}"
        );
    }
}

#[test]
fn mobile_branch_config_names_the_file_like_the_config_flag() {
    let file = config_file("[server]\nlisten = \"127.0.0.1:17777\"\n");
    let out = run(&["check-config"], &[("MOBILE_BRANCH_CONFIG", path(&file))]);
    let config = printed_config(&out);
    assert_eq!(
        get(&config, "server.listen").as_str(),
        Some("127.0.0.1:17777")
    );
}

#[test]
fn every_example_config_passes_the_check_without_printing_its_secrets() {
    let path_of = |f: &NamedTempFile| f.path().to_str().expect("utf-8 path").to_owned();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples");
    // Examples may read secrets from files under /run/secrets, as production should: those
    // keys are pointed at a temporary file holding a known value.
    let secret = config_file("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("config/examples exists") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable example");
        let text: Vec<String> = text
            .lines()
            .map(|line| match line.split_once("_file = \"") {
                Some((key, _)) if !line.trim_start().starts_with('#') => {
                    format!("{key}_file = \"{}\"", path_of(&secret))
                }
                // Placeholders (…) stand for values the operator fills in, whole
                // (`"…"`) or in part (a Telegram token's `123456789:AA…`); a secret's
                // filler must never be printed, any other value's may be.
                _ => {
                    let key = line.split(" = ").next().unwrap_or_default().trim();
                    let filler = if SECRET_KEYS.contains(&key) {
                        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
                    } else {
                        "example"
                    };
                    line.replace('…', filler)
                }
            })
            .collect();
        let file = config_file(&text.join("\n"));
        let out = run(&["--config", &path_of(&file), "check-config"], &[]);
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        assert!(
            stdout(&out).contains("***"),
            "{}: secrets are masked",
            path.display()
        );
        assert_no_secret_in(&out, &["abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"]);
        checked += 1;
    }
    assert!(checked >= 5, "one example per platform, found {checked}");
}

#[test]
fn serve_with_an_unusable_listen_address_exits_promptly_naming_the_key() {
    let out = run_with_deadline(&["serve"], &[("MB_SERVER__LISTEN", "256.0.0.1:1")]);
    assert_failure(&out);
    assert!(stderr(&out).contains("server.listen"), "{}", stderr(&out));
}

#[test]
fn serve_exits_promptly_when_the_listen_address_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().expect("the bound address").to_string();
    let out = run_with_deadline(&["serve"], &[("MB_SERVER__LISTEN", &addr)]);
    assert_failure(&out);
    let err = stderr(&out);
    assert!(
        err.contains("cannot listen on") && err.contains(&addr),
        "{err}"
    );
}

#[test]
fn serve_with_an_invalid_file_exits_promptly_naming_the_key() {
    let file = config_file("[timing]\ndedup_ttl = \"soon\"\n");
    let out = run_with_deadline(&["--config", path(&file), "serve"], &[]);
    assert_failure(&out);
    assert!(
        stderr(&out).contains("timing.dedup_ttl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_secret_of_digits_from_the_environment_is_accepted_and_never_printed() {
    let out = run(
        &["check-config"],
        &[("MB_ADMIN__TOKEN", "12345678901234567890")],
    );
    assert_success(&out);
    assert_no_secret_in(&out, &["12345678901234567890"]);
}

#[test]
fn a_type_error_in_one_section_does_not_hide_checks_of_the_others() {
    let err = check_config_fails(
        "[server]\nlisten = \"nope\"\n[admin]\ntoken = \"short\"\n[bots.tg]\nplatform = \"telegram\"\n",
    );
    for key in [
        "server.listen",
        "admin.token",
        "bots.tg.token",
        "bots.tg.secret_token",
    ] {
        assert!(err.contains(key), "{key} missing from: {err}");
    }
}

#[test]
fn a_toml_syntax_error_names_the_place_without_echoing_the_line() {
    let file = config_file("[admin]\ntoken = \"supersecretvalue123\n");
    let out = run(&["--config", path(&file), "check-config"], &[]);
    assert_failure(&out);
    assert!(stderr(&out).contains("line"), "{}", stderr(&out));
    assert_no_secret_in(&out, &["supersecretvalue123"]);
}

#[test]
fn a_secret_of_the_wrong_type_is_refused_without_echoing_it() {
    let file = config_file("[admin]\ntoken = [\"leaky-secret-in-a-list\"]\n");
    let out = run(&["--config", path(&file), "check-config"], &[]);
    assert_failure(&out);
    assert!(stderr(&out).contains("admin.token"), "{}", stderr(&out));
    assert_no_secret_in(&out, &["leaky-secret-in-a-list"]);
}

#[test]
fn serve_stops_cleanly_on_sigterm_even_without_redis() {
    // A port nothing listens on: the server must start anyway (not ready) and stop on SIGTERM.
    let dead_redis = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let redis_url = format!("redis://{}", dead_redis.local_addr().expect("addr"));
    drop(dead_redis);
    let mut child = command(
        &["serve"],
        &[
            ("MB_SERVER__LISTEN", "127.0.0.1:0"),
            ("MB_REDIS__URL", &redis_url),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("the binary starts");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().expect("poll").is_none(),
        "serve exited without Redis"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("poll") {
            let out = child.wait_with_output().expect("output");
            assert!(
                status.success(),
                "exit {status:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("stopped"),
                "graceful exit is logged"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- Secrets: empty, blank and short values are refused by key (SPEC section 10) ----

/// The secret key names of the configuration (`SECRET_KEYS` in src/config/secret_rules.rs).
const SECRET_KEYS: &[&str] = &[
    "token",
    "secret",
    "access_token",
    "secret_token",
    "app_secret",
    "verification_token",
    "encrypt_key",
    "encoding_aes_key",
    "corp_secret",
    "push_webhook_key",
    "url",
];

/// A valid value for most secrets: 43 base64-safe characters, so it is also a WeCom
/// EncodingAESKey and a Telegram `secret_token`.
const GOOD_SECRET: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// A valid Telegram bot token: `<bot id>:<key>`.
const GOOD_TG_TOKEN: &str = "123456789:AAH-test_token_0123456789abcdefghij";

/// Every platform's bot table with every secret valid, and its secret keys.
fn bot_tables() -> Vec<(String, &'static [&'static str])> {
    vec![
        (
            format!("platform = \"sim\"\nsecret = \"{GOOD_SECRET}\"\n"),
            &["secret"],
        ),
        (
            format!(
                "platform = \"onebot\"\nsecret = \"{GOOD_SECRET}\"\n\
                 access_token = \"{GOOD_SECRET}\"\n"
            ),
            &["secret", "access_token"],
        ),
        (
            format!(
                "platform = \"telegram\"\ntoken = \"{GOOD_TG_TOKEN}\"\n\
                 secret_token = \"{GOOD_SECRET}\"\n"
            ),
            &["token", "secret_token"],
        ),
        (
            format!(
                "platform = \"feishu\"\napp_id = \"cli_a5f0e1d2c3b4a596\"\n\
                 app_secret = \"{GOOD_SECRET}\"\nverification_token = \"{GOOD_SECRET}\"\n\
                 encrypt_key = \"{GOOD_SECRET}\"\n"
            ),
            &["app_secret", "verification_token", "encrypt_key"],
        ),
        (
            format!(
                "platform = \"dingtalk\"\napp_key = \"dingtestappkey0001\"\n\
                 app_secret = \"{GOOD_SECRET}\"\n"
            ),
            &["app_secret"],
        ),
        (
            format!(
                "platform = \"wecom\"\nmode = \"app\"\ntoken = \"{GOOD_SECRET}\"\n\
                 encoding_aes_key = \"{GOOD_SECRET}\"\ncorp_id = \"ww0123456789abcdef\"\n\
                 corp_secret = \"{GOOD_SECRET}\"\nagent_id = 1000002\n\
                 push_webhook_key = \"{GOOD_SECRET}\"\n"
            ),
            &[
                "token",
                "encoding_aes_key",
                "corp_secret",
                "push_webhook_key",
            ],
        ),
    ]
}

/// `table` with the line of `key` replaced by `line`.
fn replace_key(table: &str, key: &str, line: &str) -> String {
    table
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{key} = ")) {
                line.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_platform_table_with_good_secrets_passes_the_check() {
    for (table, _) in bot_tables() {
        let file = config_file(&format!("[bots.b]\n{table}"));
        let out = run(&["--config", path(&file), "check-config"], &[]);
        assert_success(&out);
        assert_no_secret_in(&out, &[GOOD_SECRET, GOOD_TG_TOKEN]);
    }
}

#[test]
fn check_config_refuses_each_empty_or_blank_secret_of_every_platform_by_name() {
    for (table, keys) in bot_tables() {
        for key in keys {
            for value in ["", "  \t"] {
                let err = check_config_fails(&format!(
                    "[bots.b]\n{}",
                    replace_key(&table, key, &format!("{key} = \"{value}\""))
                ));
                assert!(
                    err.contains(&format!("bots.b.{key}: required, but it is empty")),
                    "{key} = {value:?}:\n{err}"
                );
            }
        }
    }
}

#[test]
fn check_config_refuses_each_too_short_secret_of_every_platform_by_name_without_echoing_it() {
    let short = "Sh0rtLk";
    for (table, keys) in bot_tables() {
        for key in keys {
            let file = config_file(&format!(
                "[bots.b]\n{}",
                replace_key(&table, key, &format!("{key} = \"{short}\""))
            ));
            let out = run(&["--config", path(&file), "check-config"], &[]);
            assert_failure(&out);
            let err = stderr(&out);
            assert!(
                err.contains(&format!("bots.b.{key}: must ")),
                "{key}:\n{err}"
            );
            assert_no_secret_in(&out, &[short]);
        }
    }
}

#[test]
fn check_config_refuses_an_empty_file_behind_each_secret_file_key_naming_both_keys() {
    for contents in ["", "\n", " \r\n"] {
        let empty = config_file(contents);
        for (table, keys) in bot_tables() {
            for key in keys {
                let err = check_config_fails(&format!(
                    "[bots.b]\n{}",
                    replace_key(&table, key, &format!("{key}_file = \"{}\"", path(&empty)))
                ));
                assert!(
                    err.contains(&format!(
                        "bots.b.{key}: required, but it is empty (read from bots.b.{key}_file)"
                    )),
                    "{key} from {contents:?}:\n{err}"
                );
            }
        }
    }
}

#[test]
fn a_short_secret_from_a_file_or_the_environment_is_refused_without_echoing_it() {
    let short = config_file("Sh0rtLeak\n");
    let out = run(
        &["check-config"],
        &[
            ("MB_ADMIN__TOKEN_FILE", path(&short)),
            ("MB_BOTS__TG__PLATFORM", "telegram"),
            ("MB_BOTS__TG__TOKEN", GOOD_TG_TOKEN),
            ("MB_BOTS__TG__SECRET_TOKEN", "Sh0rtLk"),
            ("MB_REDIS__URL", "redis://:Sh0rtLeak3@127.0.0.1:6379"),
        ],
    );
    assert_failure(&out);
    let err = stderr(&out);
    for line in [
        "admin.token: must be at least 16 characters (read from admin.token_file)",
        "bots.tg.secret_token: must be 12 to 256 characters",
        "redis.url: the password in the URL must be at least 16 characters",
    ] {
        assert!(err.contains(line), "{line} missing from:\n{err}");
    }
    assert_no_secret_in(&out, &["Sh0rtLeak", "Sh0rtLk"]);
}

#[test]
fn serve_refuses_to_start_on_an_empty_secret_naming_its_key() {
    let empty = config_file("\n");
    let out = run_with_deadline(
        &["serve"],
        &[
            ("MB_SERVER__LISTEN", "127.0.0.1:0"),
            ("MB_BOTS__TG__PLATFORM", "telegram"),
            ("MB_BOTS__TG__TOKEN", GOOD_TG_TOKEN),
            ("MB_BOTS__TG__SECRET_TOKEN_FILE", path(&empty)),
        ],
    );
    assert_failure(&out);
    let err = stderr(&out);
    assert!(
        err.contains(
            "bots.tg.secret_token: required, but it is empty (read from bots.tg.secret_token_file)"
        ),
        "{err}"
    );
    assert_no_secret_in(&out, &[GOOD_TG_TOKEN]);
}

// ---- An insecure sim bot is served on loopback only ----

#[test]
fn check_config_and_serve_refuse_an_insecure_sim_bot_off_loopback_saying_why() {
    for listen in ["0.0.0.0:0", "[::]:0", "10.1.2.3:8080"] {
        let check = run(&["check-config"], &[("MB_SERVER__LISTEN", listen)]);
        let served = run_with_deadline(&["serve"], &[("MB_SERVER__LISTEN", listen)]);
        for out in [&check, &served] {
            assert_failure(out);
            let err = stderr(out);
            assert!(
                err.contains("bots.demo.insecure: an insecure sim bot")
                    && err.contains("server.listen is a loopback address")
                    && err.contains(&format!("server.listen is {listen}")),
                "{listen}:\n{err}"
            );
        }
    }
}

#[test]
fn an_insecure_sim_bot_on_loopback_passes_the_check_and_serves() {
    for listen in ["127.0.0.1:18080", "127.0.0.9:18080", "[::1]:18080"] {
        let out = run(&["check-config"], &[("MB_SERVER__LISTEN", listen)]);
        let config = printed_config(&out);
        assert_eq!(get(&config, "bots.demo.insecure").as_bool(), Some(true));
    }
    // And `serve` starts with it (Redis need not be there for that).
    let dead_redis = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let redis_url = format!("redis://{}", dead_redis.local_addr().expect("addr"));
    drop(dead_redis);
    let mut child = command(
        &["serve"],
        &[
            ("MB_SERVER__LISTEN", "127.0.0.1:0"),
            ("MB_REDIS__URL", &redis_url),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("the binary starts");
    std::thread::sleep(Duration::from_millis(500));
    let running = child.try_wait().expect("poll").is_none();
    child.kill().ok();
    let out = child.wait_with_output().expect("output");
    assert!(running, "serve exited: {}", stderr(&out));
    assert!(
        stdout(&out).contains("insecure sim bots accept unauthenticated requests"),
        "the insecure bot is logged as such"
    );
}

#[test]
fn a_sim_bot_with_a_secret_may_listen_on_any_address() {
    let out = run(
        &["check-config"],
        &[
            ("MB_SERVER__LISTEN", "0.0.0.0:8080"),
            ("MB_BOTS__DEMO__PLATFORM", "sim"),
            ("MB_BOTS__DEMO__SECRET", BOT_SECRET),
        ],
    );
    assert_success(&out);
    assert_no_secret_in(&out, &[BOT_SECRET]);
}

// ---- The demo branch is seeded by scripts/run.sh only ----

/// `check-config` run the way scripts/run.sh runs `serve`: after `run_defaults` from
/// scripts/lib.sh, with `env` set by the caller.
fn check_config_as_run_sh(env: &[(&str, &str)]) -> Output {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut cmd = Command::new("bash");
    cmd.env_clear();
    for key in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    cmd.current_dir(root)
        .args([
            "-c",
            r#"set -euo pipefail; . scripts/lib.sh; run_defaults; exec "$0" check-config"#,
            BIN,
        ])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("bash runs")
}

#[test]
fn the_embedded_default_seeds_no_demo_branch_and_run_sh_turns_it_on() {
    let plain = printed_config(&run(&["check-config"], &[]));
    assert_eq!(get(&plain, "demo.seed").as_bool(), Some(false));

    let run_sh = printed_config(&check_config_as_run_sh(&[]));
    assert_eq!(get(&run_sh, "demo.seed").as_bool(), Some(true));
    assert_eq!(get(&run_sh, "demo.bot").as_str(), Some("demo"));
    assert_eq!(get(&run_sh, "bots.demo.platform").as_str(), Some("sim"));

    // The caller's choice wins.
    let off = printed_config(&check_config_as_run_sh(&[("MB_DEMO__SEED", "false")]));
    assert_eq!(get(&off, "demo.seed").as_bool(), Some(false));
}

#[test]
fn run_sh_applies_the_run_defaults() {
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/run.sh"),
    )
    .expect("scripts/run.sh");
    let calls = script
        .lines()
        .map(str::trim)
        .position(|l| l == "run_defaults")
        .expect("run.sh calls run_defaults");
    let serves = script
        .lines()
        .position(|l| l.contains("mobile-branch\" serve"))
        .expect("run.sh starts serve");
    assert!(calls < serves, "run_defaults runs before serve starts");
}

#[test]
fn probing_redis_in_the_scripts_keeps_their_error_output() {
    // scripts/run.sh pings Redis before it builds and serves; the ping must not swallow the
    // script's stderr, or a build error or the server's refusal to start never shows.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let out = std::process::Command::new("bash")
        .current_dir(dir)
        .arg("-c")
        .arg(format!(
            ". scripts/lib.sh; redis_ping 127.0.0.1 {port} || echo 'no redis' >&2; echo 'still visible' >&2"
        ))
        .output()
        .expect("bash");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no redis") && err.contains("still visible"),
        "{err}"
    );
    assert!(
        !err.contains("Connection refused"),
        "probe noise leaked: {err}"
    );

    // And after a ping that a server answers.
    let pong = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = pong.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut conn, _)) = pong.accept() {
            let mut buf = [0u8; 64];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"+PONG\r\n");
        }
    });
    let out = std::process::Command::new("bash")
        .current_dir(dir)
        .arg("-c")
        .arg(format!(
            ". scripts/lib.sh; redis_ping 127.0.0.1 {port} && echo 'pong, and visible' >&2"
        ))
        .output()
        .expect("bash");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pong, and visible"), "{err}");
}

// ---- scripts/run.sh as a newcomer runs it ----
//
// Each test runs a copy of scripts/ in a temporary directory (run.sh works from its own
// parent, so `.data/` lands there), with a `cargo` on PATH that stands in for the build
// (failing on purpose, or succeeding at once) and the real binary where run.sh looks for it.
// Redis and the server get free ports, never 6379 or 8080.

/// A free TCP port on 127.0.0.1 (free when asked; nothing holds it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Whether a Redis server answers PING on this port.
fn redis_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    conn.set_read_timeout(Some(Duration::from_secs(1))).ok();
    if conn.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(conn.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

/// A sandbox for one run of scripts/run.sh; on drop it kills a redis-server the script left
/// behind, so that a failing test leaks no daemon.
struct RunSh {
    dir: tempfile::TempDir,
    redis_port: u16,
    listen_port: u16,
}

impl RunSh {
    /// `cargo` prints `build_stderr` to stderr and exits with `build_status`.
    fn new(build_stderr: &str, build_status: i32) -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().expect("temp dir");
        let scripts = dir.path().join("scripts");
        std::fs::create_dir_all(&scripts).expect("scripts dir");
        for file in ["run.sh", "lib.sh"] {
            std::fs::copy(root.join("scripts").join(file), scripts.join(file)).expect("copy");
        }
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        let cargo = bin.join("cargo");
        std::fs::write(
            &cargo,
            format!("#!/bin/sh\nprintf '%s\\n' '{build_stderr}' >&2\nexit {build_status}\n"),
        )
        .expect("fake cargo");
        let target = dir.path().join("target/debug");
        std::fs::create_dir_all(&target).expect("target dir");
        std::os::unix::fs::symlink(BIN, target.join("mobile-branch")).expect("symlink");
        Command::new("chmod")
            .args(["+x"])
            .arg(&cargo)
            .status()
            .expect("chmod");
        Self {
            dir,
            redis_port: free_port(),
            listen_port: free_port(),
        }
    }

    fn command(&self, listen_host: &str) -> Command {
        let mut cmd = Command::new("bash");
        cmd.env_clear();
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env(
            "PATH",
            format!("{}:{path}", self.dir.path().join("bin").display()),
        );
        if let Some(home) = std::env::var_os("HOME") {
            cmd.env("HOME", home);
        }
        cmd.env("CARGO_TARGET_DIR", self.dir.path().join("target"))
            .env(
                "MB_REDIS__URL",
                format!("redis://127.0.0.1:{}", self.redis_port),
            )
            .env(
                "MB_SERVER__LISTEN",
                format!("{listen_host}:{}", self.listen_port),
            )
            .arg(self.dir.path().join("scripts/run.sh"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs run.sh to its end (10 s at most).
    fn run(&self, listen_host: &str) -> Output {
        let mut child = self.command(listen_host).spawn().expect("bash starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().expect("poll").is_none() {
            if Instant::now() >= deadline {
                child.kill().ok();
                let out = child.wait_with_output().expect("output");
                panic!("run.sh still running after 20 s:\n{}", stderr(&out));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("output")
    }
}

impl Drop for RunSh {
    fn drop(&mut self) {
        let pidfile = self
            .dir
            .path()
            .join(format!(".data/redis-{}.pid", self.redis_port));
        if let Ok(pid) = std::fs::read_to_string(pidfile) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
    }
}

/// What the scripts must never print: the noise of probing a closed port through bash.
fn assert_no_probe_noise(err: &str) {
    assert!(
        !err.contains("Connection refused") && !err.contains("/dev/tcp"),
        "probe noise: {err}"
    );
}

#[test]
fn run_sh_shows_a_build_error_and_stops_the_redis_it_started() {
    let sandbox = RunSh::new("error[E0425]: cannot find value `oops` in this scope", 101);
    let out = sandbox.run("127.0.0.1");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(101), "{err}");
    assert!(
        err.contains("error[E0425]: cannot find value `oops` in this scope"),
        "the build error reaches the terminal: {err}"
    );
    assert!(err.contains("starting a local redis-server"), "{err}");
    assert!(
        err.contains("stopping the redis-server this script started"),
        "{err}"
    );
    assert_no_probe_noise(&err);
    assert!(
        !redis_answers(sandbox.redis_port),
        "the redis-server run.sh started is still running"
    );
}

#[test]
fn run_sh_shows_the_servers_own_refusal_and_leaves_a_running_redis_alone() {
    let sandbox = RunSh::new("", 0);
    // A Redis that was there before: run.sh must use it and never stop it.
    let mut redis = Command::new("redis-server")
        .args(["--port", &sandbox.redis_port.to_string()])
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !redis_answers(sandbox.redis_port) {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Off loopback, the insecure demo bot makes the server refuse to start.
    let out = sandbox.run("0.0.0.0");
    let still_there = redis_answers(sandbox.redis_port);
    redis.kill().ok();
    redis.wait().ok();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("bots.demo.insecure: an insecure sim bot"),
        "the server's own stderr reaches the terminal: {err}"
    );
    assert!(err.contains("using the Redis already answering"), "{err}");
    assert!(!err.contains("stopping the redis-server"), "{err}");
    assert_no_probe_noise(&err);
    assert!(still_there, "run.sh stopped a Redis it did not start");
}

#[test]
fn ctrl_c_stops_run_sh_its_server_and_the_redis_it_started() {
    use std::{io::BufRead, os::unix::process::CommandExt};

    let sandbox = RunSh::new("", 0);
    // Its own process group, as a terminal's foreground job: Ctrl-C signals the whole group.
    let mut child = sandbox
        .command("127.0.0.1")
        .process_group(0)
        .spawn()
        .expect("bash starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut printed = String::new();
    while !printed.contains("Press Ctrl-C to stop.") {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                printed.push_str(&line);
                printed.push('\n');
            }
            Err(_) => {
                child.kill().ok();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "run.sh never said it was ready:\n{printed}\n{}",
                    stderr(&out)
                );
            }
        }
    }
    assert!(redis_answers(sandbox.redis_port), "run.sh started redis");
    assert!(printed.contains("dm:secretary"), "{printed}");

    let group = format!("-{}", child.id());
    let status = Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("poll").is_none() {
        assert!(
            Instant::now() < deadline,
            "run.sh still running 15 s after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let err = stderr(&out);
    assert!(
        err.contains("stopping the redis-server this script started"),
        "{err}"
    );
    assert_no_probe_noise(&err);
    assert!(
        !redis_answers(sandbox.redis_port),
        "the redis-server run.sh started outlived Ctrl-C"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", sandbox.listen_port)).is_err(),
        "the server outlived Ctrl-C"
    );
}

// ---- deploy/: a real bot, no sim bot, nothing served on the embedded default ----

/// One `deploy/` setup as the server sees it: the environment it sets and the config file it
/// mounts (if any), and the secret files it expects with their checked-in contents (if the
/// setup ships any).
struct DeploySetup {
    name: &'static str,
    env: Vec<(String, String)>,
    config: Option<String>,
    /// File path -> contents, for secrets the setup ships as placeholders (k8s secret.yaml).
    shipped_secrets: Vec<(String, String)>,
}

fn repo_file(rel: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A YAML scalar as written in these files: optional quotes, optional trailing comment.
fn yaml_scalar(raw: &str) -> String {
    let raw = raw.split(" #").next().unwrap_or_default().trim();
    raw.trim_matches('"').to_owned()
}

/// deploy/compose.yaml: the `environment:` map of the `mobile-branch` service. Its config file
/// mount is commented out by default, so there is no file.
fn compose_setup() -> DeploySetup {
    let text = repo_file("deploy/compose.yaml");
    let mut env = Vec::new();
    let (mut in_service, mut in_env) = (false, false);
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if indent <= 2 {
            in_service = line == "  mobile-branch:";
            in_env = false;
        } else if in_service && indent == 4 {
            in_env = trimmed == "environment:";
        } else if in_env && indent == 6 {
            let (key, value) = trimmed.split_once(':').expect("KEY: value");
            env.push((key.to_owned(), yaml_scalar(value)));
        }
    }
    assert!(
        !env.iter().any(|(k, _)| k == "MOBILE_BRANCH_CONFIG"),
        "compose mounts no config file by default"
    );
    DeploySetup {
        name: "compose",
        env,
        config: None,
        shipped_secrets: Vec::new(),
    }
}

/// deploy/mobile-branch.service: its `Environment=` lines (`%d` is the credentials directory)
/// and `--config /etc/mobile-branch/config.toml`, which deploy/README.md fills from
/// deploy/config.example.toml.
fn systemd_setup() -> DeploySetup {
    let unit = repo_file("deploy/mobile-branch.service");
    let env = unit
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("Environment=KEY=value");
            (
                k.to_owned(),
                v.replace("%d/", "/run/credentials/mobile-branch.service/"),
            )
        })
        .collect();
    assert!(
        unit.lines().any(|l| l.starts_with("ExecStart=")
            && l.contains("--config /etc/mobile-branch/config.toml")),
        "the unit reads /etc/mobile-branch/config.toml"
    );
    assert!(
        repo_file("deploy/README.md")
            .contains("deploy/config.example.toml /etc/mobile-branch/config.toml"),
        "the README installs config.example.toml as the unit's config"
    );
    DeploySetup {
        name: "systemd",
        env,
        config: Some(repo_file("deploy/config.example.toml")),
        shipped_secrets: Vec::new(),
    }
}

/// deploy/k8s: the ConfigMap's config.toml, the Deployment's `env:` and the Secret's
/// placeholders, mounted under /run/secrets/mobile-branch/.
fn k8s_setup() -> DeploySetup {
    let configmap = repo_file("deploy/k8s/configmap.yaml");
    let config: String = configmap
        .lines()
        .skip_while(|l| l.trim() != "config.toml: |")
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| format!("{}\n", l.get(4..).unwrap_or_default()))
        .collect();
    assert!(config.contains("[server]"), "configmap holds config.toml");

    let deployment = repo_file("deploy/k8s/deployment.yaml");
    let mut env = Vec::new();
    let mut name: Option<String> = None;
    for line in deployment.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        if let Some(n) = line.strip_prefix("- name: ") {
            name = Some(n.to_owned());
        } else if let Some(v) = line.strip_prefix("value: ")
            && let Some(n) = name.take()
        {
            env.push((n, yaml_scalar(v)));
        }
    }
    assert!(env.iter().any(|(k, _)| k == "MOBILE_BRANCH_CONFIG"));

    let secret = repo_file("deploy/k8s/secret.yaml");
    let shipped_secrets = secret
        .lines()
        .skip_while(|l| l.trim() != "stringData:")
        .skip(1)
        .filter(|l| l.starts_with("  ") && !l.trim_start().starts_with('#'))
        .filter_map(|l| l.trim().split_once(": "))
        .map(|(k, v)| (format!("/run/secrets/mobile-branch/{k}"), yaml_scalar(v)))
        .collect();
    DeploySetup {
        name: "k8s",
        env,
        config: Some(config),
        shipped_secrets,
    }
}

fn deploy_setups() -> Vec<DeploySetup> {
    vec![compose_setup(), systemd_setup(), k8s_setup()]
}

/// A deploy setup made runnable here: every secret path (`*_FILE` variables and `*_file`
/// keys) points at a temporary file, the config file is a temporary copy, and `with_bots`
/// false drops every bot the setup defines (what runs on the embedded default).
struct Prepared {
    env: Vec<(String, String)>,
    _files: Vec<NamedTempFile>,
}

fn prepare(
    setup: &DeploySetup,
    with_bots: bool,
    secret_for: &dyn Fn(&str, &str) -> String,
) -> Prepared {
    let mut files = Vec::new();
    let mut env = Vec::new();
    let mut secret_file = |key: &str, original: &str| {
        let file = config_file(&secret_for(key, original));
        let p = path(&file).to_owned();
        files.push(file);
        p
    };
    for (k, v) in &setup.env {
        if !with_bots && k.starts_with("MB_BOTS__") {
            continue;
        }
        if k == "MOBILE_BRANCH_CONFIG" {
            continue;
        }
        match k.strip_suffix("_FILE") {
            Some(stem) => {
                let key = stem
                    .trim_start_matches("MB_")
                    .to_lowercase()
                    .replace("__", ".");
                env.push((k.clone(), secret_file(&key, v)));
            }
            None => env.push((k.clone(), v.clone())),
        }
    }
    if let Some(config) = &setup.config {
        let mut section = String::new();
        let mut lines = Vec::new();
        for line in config.lines() {
            let t = line.trim();
            if let Some(header) = t.strip_prefix('[').and_then(|h| h.split(']').next()) {
                section = header.to_owned();
            }
            if !with_bots && (section == "bots" || section.starts_with("bots.")) {
                continue;
            }
            match t.split_once("_file = \"") {
                Some((key, rest)) if !t.starts_with('#') => {
                    let original = rest.split('"').next().unwrap_or_default();
                    let p = secret_file(&format!("{section}.{key}"), original);
                    lines.push(format!("{key}_file = \"{p}\""));
                }
                _ => lines.push(line.to_owned()),
            }
        }
        let file = config_file(&lines.join("\n"));
        env.push(("MOBILE_BRANCH_CONFIG".to_owned(), path(&file).to_owned()));
        files.push(file);
    }
    Prepared { env, _files: files }
}

/// What an operator puts in each secret file: a BotFather token for a bot's `token`, a long
/// random string elsewhere; each with the trailing newline an editor leaves.
fn filled_secret(key: &str, _original: &str) -> String {
    if key.starts_with("bots.") && key.ends_with(".token") {
        format!("{GOOD_TG_TOKEN}\n")
    } else {
        format!("{GOOD_SECRET}\n")
    }
}

fn run_prepared(args: &[&str], prepared: &Prepared) -> Output {
    let env: Vec<(&str, &str)> = prepared
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    run_with_deadline(args, &env)
}

#[test]
fn every_deploy_setup_passes_the_check_once_filled_in_and_serves_a_real_bot_and_no_sim_bot() {
    for setup in deploy_setups() {
        let prepared = prepare(&setup, true, &filled_secret);
        let out = run_prepared(&["check-config"], &prepared);
        assert!(out.status.success(), "{}: {}", setup.name, stderr(&out));
        let config: toml::Table = stdout(&out).parse().expect("TOML");
        let bots = get(&config, "bots").as_table().expect("a bots table");
        assert!(!bots.is_empty(), "{}: defines a bot", setup.name);
        for (name, bot) in bots {
            assert_ne!(
                bot.get("platform").and_then(toml::Value::as_str),
                Some("sim"),
                "{}: bots.{name} is a sim bot",
                setup.name
            );
        }
        let listen = get(&config, "server.listen").as_str().expect("listen");
        assert!(listen.starts_with("0.0.0.0:"), "{}: {listen}", setup.name);
        assert_no_secret_in(&out, &[GOOD_SECRET, GOOD_TG_TOKEN]);
    }
}

#[test]
fn every_deploy_setup_refuses_to_start_on_the_embedded_default_bots() {
    for setup in deploy_setups() {
        let prepared = prepare(&setup, false, &filled_secret);
        for args in [&["check-config"][..], &["serve"][..]] {
            let out = run_prepared(args, &prepared);
            assert_failure(&out);
            let err = stderr(&out);
            assert!(
                err.contains("bots.demo.insecure") && err.contains("server.listen"),
                "{} {args:?}:\n{err}",
                setup.name
            );
        }
    }
}

#[test]
fn every_deploy_setup_refuses_to_start_until_its_secrets_are_filled_in() {
    for setup in deploy_setups() {
        // Compose and systemd ship no secret files (the operator creates them): an empty one
        // stands for a forgotten step. Kubernetes ships secret.yaml's placeholders.
        let placeholder = |_: &str, original: &str| {
            setup
                .shipped_secrets
                .iter()
                .find(|(p, _)| p == original)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let prepared = prepare(&setup, true, &placeholder);
        for args in [&["check-config"][..], &["serve"][..]] {
            let out = run_prepared(args, &prepared);
            assert_failure(&out);
            let err = stderr(&out);
            for key in ["admin.token", "bots.tg.token", "bots.tg.secret_token"] {
                assert!(
                    err.contains(&format!(
                        "{key}: required, but it is empty (read from {key}_file)"
                    )),
                    "{} {args:?}: {key} missing from:\n{err}",
                    setup.name
                );
            }
        }
    }
    let k8s = k8s_setup();
    for key in ["admin_token", "tg_token", "tg_secret_token"] {
        assert!(
            k8s.shipped_secrets
                .iter()
                .any(|(p, v)| p.ends_with(&format!("/{key}")) && v.is_empty()),
            "secret.yaml ships an empty {key}"
        );
    }
}
