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
const REDIS_PASSWORD: &str = "hunter2pass";
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
        &[("MB_SERVER__LISTEN", "0.0.0.0:9999")],
    );
    let config = printed_config(&out);
    assert_eq!(get(&config, "server.listen").as_str(), Some("0.0.0.0:9999"));
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
                // Placeholders ("…") stand for values the operator fills in.
                _ => line.replace("\"…\"", "\"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\""),
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
