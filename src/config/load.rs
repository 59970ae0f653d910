//! Where settings come from and how the layers meet: embedded defaults, an optional TOML file,
//! an overlay, `MB_` environment variables and `*_file` secrets.

use std::path::Path;

use figment::{
    Figment,
    providers::{Format, Toml},
    value::{Dict, Value},
};

use super::{ConfigError, DEFAULT_TOML, Settings, secret_rules::SECRET_KEYS, validate::from_dict};

/// Keys whose environment values are typed (numbers, booleans, lists). Every other value is
/// taken as the exact string, so that a secret `0012` stays `0012` and a chat id `123` stays
/// text.
const TYPED_ENV_KEYS: &[&str] = &[
    "enabled",
    "per_chat_per_minute",
    "per_bot_per_second",
    "per_bot_per_minute",
    "batch",
    "concurrency",
    "max_attempts",
    "digest_max_chars",
    "digest_threshold",
    "webhook_body_limit",
    "api_body_limit",
    "seed",
    "insecure",
    "agent_id",
    "meeting_reminders",
    "volunteer_reminders",
    "max_connections",
    "sender_commands",
    "chat_guest_commands",
    "wrong_codes_per_person",
    "wrong_codes_per_object",
    "max_pending_joins",
    "names",
];

/// Where the configuration comes from, besides the embedded defaults.
#[derive(Debug, Default, Clone)]
pub struct Sources<'a> {
    /// A TOML file layered over the defaults.
    pub file: Option<&'a Path>,
    /// Extra TOML layered after the file (tests, admin helpers).
    pub overlay: Option<&'a str>,
    /// Whether `MB_*` environment variables apply.
    pub env: bool,
}

impl Settings {
    /// Loads defaults, then the file, then the overlay, then the environment; resolves `*_file`
    /// secrets; validates; and returns every problem at once.
    pub fn load(sources: &Sources<'_>) -> Result<Self, ConfigError> {
        let mut user = Figment::new();
        if let Some(path) = sources.file {
            if !path.exists() {
                return Err(ConfigError(vec![format!(
                    "config file {} does not exist",
                    path.display()
                )]));
            }
            user = user.merge(Toml::file_exact(path));
        }
        if let Some(overlay) = sources.overlay {
            user = user.merge(Toml::string(overlay));
        }
        if sources.env {
            user = user.merge(figment::providers::Serialized::defaults(env_layer(
                std::env::vars_os(),
            )));
        }
        let user_dict = user
            .extract::<Dict>()
            .map_err(|e| ConfigError(figment_errors(e)))?;

        let mut defaults = Figment::from(Toml::string(DEFAULT_TOML))
            .extract::<Dict>()
            .map_err(|e| ConfigError(figment_errors(e)))?;
        // Bots defined by the operator replace the demo bot rather than join it.
        if user_dict.contains_key("bots") {
            defaults.remove("bots");
        }
        let merged = Figment::from(figment::providers::Serialized::defaults(defaults))
            .merge(figment::providers::Serialized::defaults(user_dict))
            .extract::<Dict>()
            .map_err(|e| ConfigError(figment_errors(e)))?;

        let mut errors = Vec::new();
        let mut from_files = Vec::new();
        let mut root = merged;
        resolve_secret_files(&mut root, "", &mut from_files, &mut errors);
        match from_dict(&root, &mut errors) {
            Some(s) if errors.is_empty() => Ok(s),
            _ => Err(ConfigError(name_secret_files(errors, &from_files))),
        }
    }
}

// Why a hand-written layer and not figment's `Env::prefixed("MB_").split("__")`: figment's
// `Env` parses every value as TOML-ish data (`Env::data` calls `Value::from_str`; its `map`
// and `filter` see only the keys), so a value's type follows its text, not its key. Tried in
// place, the check-config test `environment_values_keep_their_exact_text_where_the_key_is_not_typed`
// failed: `MB_ADMIN__TOKEN=0000000000001234` arrived as the number 1234 ("admin.token: must
// be at least 16 characters", a different secret), `MB_DEMO__BRANCH_NAME=true` as a boolean
// ("invalid type: boolean"), and a sim secret `000000000000123456` as `123456`. Here only the
// keys in `TYPED_ENV_KEYS` are typed; every other value is its exact text. `*_file` secrets
// need nothing from this layer (`resolve_secret_files` runs on the merged tree). figment is
// still what merges the layers.
/// `MB_SECTION__KEY=value` variables as a nested table (keys lowercased, `__` nesting).
fn env_layer(vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>) -> Dict {
    let mut root = Dict::new();
    for (key, value) in vars {
        // A variable that is not valid Unicode cannot be ours; skip it rather than panic.
        let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else {
            continue;
        };
        let Some(rest) = key.strip_prefix("MB_") else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        if path.iter().any(String::is_empty) {
            continue;
        }
        let last = path.last().map(String::as_str).unwrap_or_default();
        let value = if TYPED_ENV_KEYS.contains(&last) {
            typed_env_value(value)
        } else {
            Value::from(value.to_owned())
        };
        insert_path(&mut root, &path, value);
    }
    root
}

/// Reads `[a, b]` as a list of strings, integers and booleans as such, anything else as text.
fn typed_env_value(raw: &str) -> Value {
    let t = raw.trim();
    if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let items = inner
            .split(',')
            .map(|i| i.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
            .filter(|i| !i.is_empty())
            .map(Value::from)
            .collect();
        return Value::Array(figment::value::Tag::Default, items);
    }
    if let Ok(n) = t.parse::<i64>() {
        return Value::from(n);
    }
    match t {
        "true" => Value::from(true),
        "false" => Value::from(false),
        _ => Value::from(raw.to_owned()),
    }
}

fn insert_path(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::Dict(figment::value::Tag::Default, Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::Dict(figment::value::Tag::Default, Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// Replaces `<secret>_file` keys by the named file's contents under `<secret>`, and records
/// the dotted path of each secret so read in `from_files`.
fn resolve_secret_files(
    dict: &mut Dict,
    path: &str,
    from_files: &mut Vec<String>,
    errors: &mut Vec<String>,
) {
    let file_keys: Vec<String> = dict
        .keys()
        .filter(|k| {
            k.strip_suffix("_file")
                .is_some_and(|stem| SECRET_KEYS.contains(&stem))
        })
        .cloned()
        .collect();
    for key in file_keys {
        let Some(value) = dict.remove(&key) else {
            continue;
        };
        let stem = key.trim_end_matches("_file").to_owned();
        let full = join_path(path, &key);
        let Some(file) = value.as_str().map(str::to_owned) else {
            errors.push(format!("{full}: must be a file path"));
            continue;
        };
        match std::fs::read_to_string(&file) {
            // Every trailing whitespace character goes, not only one newline: `echo` and
            // editors add a newline (sometimes `\r\n`, sometimes a stray space), and no
            // platform issues or accepts a secret that ends in whitespace. Leading whitespace
            // stays, and validation refuses it.
            Ok(contents) => {
                from_files.push(join_path(path, &stem));
                dict.insert(stem, Value::from(contents.trim_end().to_owned()));
            }
            Err(e) => errors.push(format!("{full}: cannot read {file}: {e}")),
        }
    }
    for (key, value) in dict.iter_mut() {
        if let Value::Dict(_, inner) = value {
            resolve_secret_files(inner, &join_path(path, key), from_files, errors);
        }
    }
}

/// Points an error about a secret that came from a file at that file's key, so that the
/// operator looks at the file rather than for a key they never wrote.
fn name_secret_files(errors: Vec<String>, from_files: &[String]) -> Vec<String> {
    errors
        .into_iter()
        .map(
            |e| match from_files.iter().find(|k| e.starts_with(&format!("{k}: "))) {
                Some(key) => format!("{e} (read from {key}_file)"),
                None => e,
            },
        )
        .collect()
}

fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Figment's errors, without the source excerpt a TOML syntax error carries: that excerpt
/// is a line of the file, and the line may hold a secret.
fn figment_errors(e: figment::Error) -> Vec<String> {
    e.into_iter()
        .map(|e| {
            e.to_string()
                .lines()
                .filter(|line| !line.contains('|'))
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[cfg(test)]
mod env_tests {
    use std::ffi::OsString;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn env_values_stay_exact_text_unless_the_key_is_typed() {
        let dict = env_layer(vars(&[
            ("MB_ADMIN__TOKEN", "0012345678901234567"),
            ("MB_DEMO__CHAT_ID", "123"),
            ("MB_SERVER__WEBHOOK_BODY_LIMIT", "2048"),
            ("MB_TIMING__MEETING_REMINDERS", "[2h, \"10m\"]"),
            ("MB_BOTS__QQ__INSECURE", "true"),
            ("MB_LIMITS__SENDER_COMMANDS", "7"),
            ("OTHER", "x"),
            ("MB___BROKEN", "x"),
        ]));
        let get = |path: &[&str]| {
            let mut v = dict.get(path[0]).cloned();
            for p in &path[1..] {
                v = v
                    .and_then(|v| v.into_dict())
                    .and_then(|d| d.get(*p).cloned());
            }
            v
        };
        assert_eq!(
            get(&["admin", "token"])
                .and_then(|v| v.into_string())
                .as_deref(),
            Some("0012345678901234567")
        );
        assert_eq!(
            get(&["demo", "chat_id"])
                .and_then(|v| v.into_string())
                .as_deref(),
            Some("123")
        );
        assert_eq!(
            get(&["server", "webhook_body_limit"]).and_then(|v| v.to_i128()),
            Some(2048)
        );
        assert_eq!(
            get(&["timing", "meeting_reminders"])
                .and_then(|v| v.into_array())
                .map(|a| a.len()),
            Some(2)
        );
        assert_eq!(
            get(&["bots", "qq", "insecure"]).and_then(|v| v.to_bool()),
            Some(true)
        );
        assert_eq!(
            get(&["limits", "sender_commands"]).and_then(|v| v.to_i128()),
            Some(7)
        );
        assert_eq!(dict.len(), 6, "{dict:?}");
    }
}
