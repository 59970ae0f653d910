//! Checks that types alone cannot express, run on the merged layers: each section is
//! deserialized on its own so that one bad section does not hide another, and every problem
//! names its key.

use std::collections::BTreeMap;

use figment::value::{Dict, Value};
use serde::de::DeserializeOwned;

use super::{
    AdminSettings, BotSettings, CheckinSettings, DemoSettings, LimitSettings, LogSettings,
    OutboxSettings, RedisMode, RedisSettings, SchedulerSettings, ServerSettings, Settings,
    TimingSettings, durations, secret_rules, secret_rules::SECRET_KEYS,
};
use crate::domain::chat::PlatformKind;

/// The sections the top level may hold.
const SECTIONS: &[&str] = &[
    "server",
    "redis",
    "admin",
    "log",
    "timing",
    "scheduler",
    "outbox",
    "checkin",
    "limits",
    "ledger",
    "demo",
    "bots",
];

/// Semantic checks that types alone cannot express, one function per section so that each
/// runs on whatever parsed, even when another section did not.
fn check_server(server: &ServerSettings, errors: &mut Vec<String>) {
    if server.webhook_body_limit == 0 {
        errors.push("server.webhook_body_limit: must be greater than 0".to_owned());
    }
    if !(server.public_url.starts_with("http://") || server.public_url.starts_with("https://")) {
        errors.push("server.public_url: must start with http:// or https://".to_owned());
    }
}

fn check_server_limits(server: &ServerSettings, errors: &mut Vec<String>) {
    if !(1..=1_000_000).contains(&server.max_connections) {
        errors.push("server.max_connections: must be 1 to 1000000".to_owned());
    }
}

fn check_limits(limits: &LimitSettings, errors: &mut Vec<String>) {
    for (key, value) in [
        ("sender_commands", limits.sender_commands),
        ("chat_guest_commands", limits.chat_guest_commands),
        ("wrong_codes_per_person", limits.wrong_codes_per_person),
        ("max_pending_joins", limits.max_pending_joins),
    ] {
        if value == 0 {
            errors.push(format!("limits.{key}: must be at least 1"));
        }
    }
    // The object's budget is the one that stops guessing spread over many accounts, so it
    // must not be below what one person alone may try.
    if limits.wrong_codes_per_object < limits.wrong_codes_per_person {
        errors.push(
            "limits.wrong_codes_per_object: must be at least limits.wrong_codes_per_person"
                .to_owned(),
        );
    }
}

fn check_redis(redis: &RedisSettings, errors: &mut Vec<String>) {
    if redis.url.0.is_empty() {
        errors.push("redis.url: at least one URL is required".to_owned());
    }
    for url in &redis.url.0 {
        let u = url.expose();
        if !["redis://", "rediss://", "redis+unix://", "unix://"]
            .iter()
            .any(|s| u.starts_with(s))
        {
            // The value may hold a password, so the message never repeats it.
            errors.push(
                "redis.url: must start with redis://, rediss://, redis+unix:// or unix://"
                    .to_owned(),
            );
        } else if let Some(problem) = secret_rules::redis_password_problem(u) {
            errors.push(format!("redis.url: {problem}"));
        }
    }
    if redis.mode == RedisMode::Single && redis.url.0.len() > 1 {
        errors.push("redis.url: several URLs need mode = \"cluster\"".to_owned());
    }
    let prefix_ok = !redis.prefix.is_empty()
        && redis
            .prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !prefix_ok {
        errors.push("redis.prefix: use 1+ characters from a-z A-Z 0-9 _ - .".to_owned());
    }
}

fn check_admin(admin: &AdminSettings, errors: &mut Vec<String>) {
    if let Some(token) = &admin.token
        && let Some(problem) =
            secret_rules::secret_problem(token.expose(), secret_rules::Shape::Long)
    {
        errors.push(format!("admin.token: {problem}"));
    }
}

fn check_workers(
    section: &str,
    batch: usize,
    concurrency: usize,
    max_attempts: u32,
    errors: &mut Vec<String>,
) {
    if !(1..=10_000).contains(&batch) {
        errors.push(format!("{section}.batch: must be 1 to 10000"));
    }
    if !(1..=1_000).contains(&concurrency) {
        errors.push(format!("{section}.concurrency: must be 1 to 1000"));
    }
    if max_attempts == 0 {
        errors.push(format!("{section}.max_attempts: must be at least 1"));
    }
}

fn check_bot(name: &str, bot: &BotSettings, errors: &mut Vec<String>) {
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !name_ok {
        errors.push(format!(
            "bots.{name}: bot names use a-z 0-9 _ - (they are URL path segments)"
        ));
    }
    let configured = match bot {
        BotSettings::Sim(b) => &b.names,
        BotSettings::Onebot(b) => &b.names,
        BotSettings::Telegram(b) => &b.names,
        BotSettings::Feishu(b) => &b.names,
        BotSettings::Dingtalk(b) => &b.names,
        BotSettings::Wecom(b) => &b.names,
    };
    for (i, bot_name) in configured.iter().enumerate() {
        if let Some(problem) = BotSettings::name_problem(bot_name) {
            errors.push(format!("bots.{name}.names[{i}]: {problem}"));
        }
    }
    for (key, present) in bot.required_keys() {
        if !present {
            errors.push(format!("bots.{name}.{key}: required"));
        }
    }
    for check in secret_rules::bot_secrets(bot) {
        match check.value {
            Some(value) => {
                if let Some(problem) = secret_rules::secret_problem(value.expose(), check.shape) {
                    errors.push(format!("bots.{name}.{}: {problem}", check.key));
                }
            }
            None if check.required => {
                let hint = if bot.kind() == PlatformKind::Sim {
                    " (or set insecure = true for a sim bot served on loopback only)"
                } else {
                    ""
                };
                errors.push(format!("bots.{name}.{}: required{hint}", check.key));
            }
            None => {}
        }
    }
}

/// Deserializes every section on its own so that one bad section does not hide another.
pub(super) fn from_dict(root: &Dict, errors: &mut Vec<String>) -> Option<Settings> {
    for key in root.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            errors.push(format!("{key}: unknown section"));
        }
    }
    let server = section::<ServerSettings>(root, "server", errors);
    let redis = section::<RedisSettings>(root, "redis", errors);
    let admin = match root.get("admin") {
        Some(_) => section::<AdminSettings>(root, "admin", errors),
        None => Some(AdminSettings::default()),
    };
    let log = section::<LogSettings>(root, "log", errors);
    let timing = section::<TimingSettings>(root, "timing", errors);
    if let Some(s) = &server {
        check_server(s, errors);
        check_server_limits(s, errors);
        durations::server(s, errors);
    }
    if let Some(r) = &redis {
        check_redis(r, errors);
        durations::redis(r, errors);
    }
    if let Some(a) = &admin {
        check_admin(a, errors);
    }
    if let Some(t) = &timing {
        durations::timing(t, errors);
    }
    let demo = section::<DemoSettings>(root, "demo", errors);
    let scheduler = section::<SchedulerSettings>(root, "scheduler", errors);
    let outbox = section::<OutboxSettings>(root, "outbox", errors);
    let ledger = section::<crate::domain::ledger::LedgerRules>(root, "ledger", errors);
    let checkin = section::<CheckinSettings>(root, "checkin", errors);
    let limits = section::<LimitSettings>(root, "limits", errors);
    if let Some(l) = &limits {
        check_limits(l, errors);
        durations::limits(l, errors);
    }
    if let Some(c) = &checkin {
        durations::checkin(c, errors);
    }
    if let Some(Err(e)) = ledger
        .as_ref()
        .map(crate::domain::ledger::LedgerRules::validate)
    {
        errors.push(e.to_string());
    }
    if let Some(s) = &scheduler {
        durations::scheduler(s, errors);
        check_workers("scheduler", s.batch, s.concurrency, s.max_attempts, errors);
    }
    if let Some(o) = &outbox {
        durations::outbox(o, errors);
        check_workers("outbox", o.batch, o.concurrency, o.max_attempts, errors);
        if o.digest_max_chars < 200 {
            errors.push("outbox.digest_max_chars: must be at least 200".to_owned());
        }
        if !(1..=100_000).contains(&o.dead_letter_cap) {
            errors.push("outbox.dead_letter_cap: must be 1 to 100000".to_owned());
        }
    }
    let mut bots = BTreeMap::new();
    match root.get("bots") {
        None => {}
        Some(Value::Dict(_, dict)) => {
            for (name, value) in dict {
                if let Some(bot) =
                    deserialize_at::<BotSettings>(value, &format!("bots.{name}"), errors)
                {
                    check_bot(name, &bot, errors);
                    bots.insert(name.clone(), bot);
                }
            }
        }
        Some(_) => errors.push("bots: must be a table of [bots.<name>] tables".to_owned()),
    }
    if let Some(s) = &server
        && !secret_rules::is_loopback(s.listen.ip())
    {
        for bot in secret_rules::insecure_sim_bots(&bots) {
            errors.push(secret_rules::insecure_exposure(bot, s.listen));
        }
    }
    Some(Settings {
        server: server?,
        redis: redis?,
        admin: admin?,
        log: log?,
        timing: timing?,
        demo: demo?,
        scheduler: scheduler?,
        outbox: outbox?,
        ledger: ledger?,
        checkin: checkin?,
        limits: limits?,
        bots,
    })
}

fn section<T: DeserializeOwned>(root: &Dict, name: &str, errors: &mut Vec<String>) -> Option<T> {
    match root.get(name) {
        Some(value) => deserialize_at(value, name, errors),
        None => {
            errors.push(format!("{name}: missing section"));
            None
        }
    }
}

fn deserialize_at<T: DeserializeOwned>(
    value: &Value,
    path: &str,
    errors: &mut Vec<String>,
) -> Option<T> {
    // Round-trip through JSON so that serde_path_to_error can name the exact key at fault.
    let json = match serde_json::to_value(value) {
        Ok(j) => j,
        Err(e) => {
            errors.push(format!("{path}: {e}"));
            return None;
        }
    };
    match serde_path_to_error::deserialize::<_, T>(json) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let key = if inner == "." || inner.is_empty() {
                path.to_owned()
            } else {
                format!("{path}.{inner}")
            };
            // serde quotes the offending value; for a secret key that value is the secret.
            let last = key.rsplit('.').next().unwrap_or_default();
            if SECRET_KEYS.contains(&last) {
                errors.push(format!("{key}: invalid value (not shown: it is a secret)"));
            } else {
                errors.push(format!("{key}: {}", e.inner()));
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Sources;

    #[test]
    fn embedded_defaults_load_and_hold_the_demo_bot() {
        let s = Settings::load(&Sources::default()).unwrap();
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.redis.prefix, "mb");
        assert_eq!(s.timing.meeting_reminders.len(), 3);
        assert!(matches!(s.bots.get("demo"), Some(BotSettings::Sim(b)) if b.insecure));
        // Only scripts/run.sh seeds the demo branch; the embedded default does not.
        assert!(!s.demo.seed);
    }

    #[test]
    fn a_bot_is_known_by_its_names_and_its_platform_name() {
        let overlay = "[bots.tg]\nplatform = \"telegram\"\ntoken = \"123:abcdefghijklmnop\"\nsecret_token = \"s3cret-0123456789\"\nusername = \"red_bot\"\nnames = [\"党建小助手\", \"@红星\", \"RED_BOT\"]\n";
        let s = Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        })
        .unwrap();
        let names = s.bots.get("tg").map(BotSettings::names).unwrap_or_default();
        // A leading `@` dropped, the username added once (names match case aside).
        assert_eq!(names, ["党建小助手", "红星", "RED_BOT"]);
        for (name, ok) in [
            ("党建小助手", true),
            ("@红星", true),
            ("党建 助手", false),
            ("", false),
        ] {
            assert_eq!(BotSettings::name_problem(name).is_none(), ok, "{name:?}");
        }
        assert!(BotSettings::name_problem(&"长".repeat(33)).is_some());
    }

    #[test]
    fn operator_bots_replace_the_demo_bot() {
        let overlay = "[bots.qq]\nplatform = \"onebot\"\nsecret = \"s3cret-0123456789\"\n";
        let s = Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.bots.keys().collect::<Vec<_>>(), vec!["qq"]);
    }

    #[test]
    fn every_bad_key_is_named_at_once() {
        let overlay = "[server]\nlisten = \"nope\"\n[timing]\ndedup_ttl = \"soon\"\n[redis]\nbogus = 1\n[bots.tg]\nplatform = \"telegram\"\n";
        let err = Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        })
        .unwrap_err()
        .0
        .join("\n");
        assert!(err.contains("server.listen"), "{err}");
        assert!(err.contains("timing.dedup_ttl"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn guest_replies_and_dead_letters_are_bounded_by_default_and_checked() {
        let s = Settings::load(&Sources::default()).unwrap();
        assert_eq!(s.limits.guest_replies, 30);
        assert_eq!(s.outbox.dead_letter_cap, 1000);
        assert_eq!(
            s.outbox.dead_letter_ttl,
            Duration::from_secs(30 * 24 * 3600)
        );
        let overlay = "[outbox]\ndead_letter_cap = 0\ndead_letter_ttl = \"10m\"\n";
        let err = Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        })
        .unwrap_err()
        .0
        .join("\n");
        for key in ["outbox.dead_letter_cap", "outbox.dead_letter_ttl"] {
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn inbound_limits_are_checked_and_each_bad_one_is_named() {
        let s = Settings::load(&Sources::default()).unwrap();
        assert_eq!(s.server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(s.server.max_connections, 1024);
        assert_eq!(s.limits.max_pending_joins, 200);
        let overlay = "[server]\nheader_read_timeout = \"10ms\"\nmax_connections = 0\n\
                       [limits]\nwindow = \"2h\"\nsender_commands = 0\n\
                       wrong_codes_per_person = 10\nwrong_codes_per_object = 5\n\
                       wrong_code_cooldown = \"0s\"\nmax_pending_joins = 0\n";
        let err = Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        })
        .unwrap_err()
        .0
        .join("\n");
        for key in [
            "server.header_read_timeout",
            "server.max_connections",
            "limits.window",
            "limits.sender_commands",
            "limits.wrong_codes_per_object",
            "limits.wrong_code_cooldown",
            "limits.max_pending_joins",
        ] {
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn secrets_are_masked_when_serialized() {
        let overlay = "[admin]\ntoken = \"super-secret-admin-token\"\n";
        let s = Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        })
        .unwrap();
        let printed = toml::to_string(&s).unwrap();
        assert!(!printed.contains("super-secret-admin-token"));
        assert!(format!("{s:?}").contains("Secret(***)"));
    }
}
