//! What every secret must look like before the server starts, and where an insecure sim bot
//! may be served. SPEC section 10: a bot with no secret, or an empty one, refuses to start
//! unless it is an insecure sim bot, and that is served on loopback addresses only.
//!
//! Minimum lengths: where `platforms.md` documents a fixed length (WeCom's EncodingAESKey, 43
//! characters) or an alphabet (Telegram's `secret_token`), that is the rule. A secret the
//! platform issues (app secrets, the Feishu verification token, a bot token, WeCom's corp
//! secret and push key) gets [`MIN_SECRET_LEN`]: every issued secret we know of is longer, so a
//! shorter one is a cut-off paste. A secret the operator chooses and types into the platform's
//! side as well (sim, OneBot's `secret` and `access_token`, the WeCom callback token, Feishu's
//! encrypt key, Telegram's `secret_token`) gets [`MIN_CHOSEN_LEN`]: OneBot implementations
//! document no minimum and deployments (and tools such as our load benchmark) use secrets like
//! `storm-secret`, so demanding 16 would refuse working setups. 12 still refuses the empty,
//! the placeholder and the one-word value, and puts a random one (71 bits) out of reach of an
//! offline search from one captured signed request, which our threat model includes. Our own admin token and a Redis password stay
//! at [`MIN_SECRET_LEN`]: they guard everything at once.

use std::net::IpAddr;

use super::{BotSettings, Secret, WecomMode};

/// Keys whose values are secrets: masked when printed, and each accepts a `<key>_file` form.
pub(super) const SECRET_KEYS: &[&str] = &[
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

/// The shortest secret accepted where the platform fixes no length: 16 characters of a random
/// alphanumeric string are about 95 bits, far beyond online guessing against a webhook.
pub(super) const MIN_SECRET_LEN: usize = 16;

/// The shortest secret accepted where the operator chooses it on both sides (see the module
/// docs): 12 random characters cannot be searched offline from a captured HMAC, and the length
/// refuses empty, `changeme`-style and one-word values.
pub(super) const MIN_CHOSEN_LEN: usize = 12;

/// The longest `secret_token` Telegram's `setWebhook` accepts.
const TELEGRAM_SECRET_TOKEN_MAX: usize = 256;

/// The length of a WeCom EncodingAESKey: 32 bytes in base64 without the trailing `=`.
const ENCODING_AES_KEY_LEN: usize = 43;

/// The shape a secret must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Issued by the platform, or guarding everything: at least [`MIN_SECRET_LEN`] characters.
    Long,
    /// Chosen by the operator on both sides: at least [`MIN_CHOSEN_LEN`] characters.
    Chosen,
    /// Telegram's webhook secret: 12 to 256 of `A-Z a-z 0-9 _ -` (`setWebhook` refuses others).
    TelegramSecretToken,
    /// A BotFather token, `<bot id>:<key>`; the adapter reads the bot id from it.
    TelegramToken,
    /// WeCom's EncodingAESKey: exactly 43 base64 characters.
    EncodingAesKey,
}

/// One secret of a bot table, for validation.
#[derive(Debug)]
pub(super) struct SecretCheck<'a> {
    /// The key in the bot table.
    pub(super) key: &'static str,
    /// Its value, if set.
    pub(super) value: Option<&'a Secret>,
    /// Whether leaving it unset is an error.
    pub(super) required: bool,
    /// What a set value must look like.
    pub(super) shape: Shape,
}

impl<'a> SecretCheck<'a> {
    fn required(key: &'static str, value: Option<&'a Secret>, shape: Shape) -> Self {
        Self {
            key,
            value,
            required: true,
            shape,
        }
    }

    fn optional(key: &'static str, value: Option<&'a Secret>, shape: Shape) -> Self {
        Self {
            key,
            value,
            required: false,
            shape,
        }
    }
}

/// Every secret key of a bot, with whether it is required and its shape. A sim bot's secret is
/// required unless the bot is marked insecure; a set secret is checked either way, because the
/// adapter then checks it on every request.
pub(super) fn bot_secrets(bot: &BotSettings) -> Vec<SecretCheck<'_>> {
    use SecretCheck as C;
    match bot {
        BotSettings::Sim(b) => vec![SecretCheck {
            key: "secret",
            value: b.secret.as_ref(),
            required: !b.insecure,
            shape: Shape::Chosen,
        }],
        BotSettings::Onebot(b) => vec![
            C::required("secret", b.secret.as_ref(), Shape::Chosen),
            C::optional("access_token", b.access_token.as_ref(), Shape::Chosen),
        ],
        BotSettings::Telegram(b) => vec![
            C::required("token", b.token.as_ref(), Shape::TelegramToken),
            C::required(
                "secret_token",
                b.secret_token.as_ref(),
                Shape::TelegramSecretToken,
            ),
        ],
        BotSettings::Feishu(b) => vec![
            C::required("app_secret", b.app_secret.as_ref(), Shape::Long),
            C::required(
                "verification_token",
                b.verification_token.as_ref(),
                Shape::Long,
            ),
            C::optional("encrypt_key", b.encrypt_key.as_ref(), Shape::Chosen),
        ],
        BotSettings::Dingtalk(b) => {
            vec![C::required(
                "app_secret",
                b.app_secret.as_ref(),
                Shape::Long,
            )]
        }
        BotSettings::Wecom(b) => vec![
            C::required("token", b.token.as_ref(), Shape::Chosen),
            C::required(
                "encoding_aes_key",
                b.encoding_aes_key.as_ref(),
                Shape::EncodingAesKey,
            ),
            SecretCheck {
                key: "corp_secret",
                value: b.corp_secret.as_ref(),
                required: b.mode == WecomMode::App,
                shape: Shape::Long,
            },
            C::optional("push_webhook_key", b.push_webhook_key.as_ref(), Shape::Long),
        ],
    }
}

/// What is wrong with a secret's value, or `None`. The text never contains the value.
pub(super) fn secret_problem(value: &str, shape: Shape) -> Option<String> {
    if value.trim().is_empty() {
        return Some("required, but it is empty".to_owned());
    }
    if value.trim() != value {
        // Trimming silently would make two spellings of one secret; a file's trailing
        // newline is removed before this check (see `resolve_secret_files`).
        return Some("must not begin or end with whitespace".to_owned());
    }
    let len = value.chars().count();
    match shape {
        Shape::Long => {
            (len < MIN_SECRET_LEN).then(|| format!("must be at least {MIN_SECRET_LEN} characters"))
        }
        Shape::Chosen => {
            (len < MIN_CHOSEN_LEN).then(|| format!("must be at least {MIN_CHOSEN_LEN} characters"))
        }
        Shape::TelegramSecretToken => {
            let alphabet = value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            (!alphabet || !(MIN_CHOSEN_LEN..=TELEGRAM_SECRET_TOKEN_MAX).contains(&len)).then(|| {
                format!(
                    "must be {MIN_CHOSEN_LEN} to {TELEGRAM_SECRET_TOKEN_MAX} characters \
                     from A-Z a-z 0-9 _ - (what setWebhook accepts)"
                )
            })
        }
        Shape::TelegramToken => {
            let shaped = value.split_once(':').is_some_and(|(id, key)| {
                !id.is_empty()
                    && id.chars().all(|c| c.is_ascii_digit())
                    && key.chars().count() >= MIN_SECRET_LEN
            });
            (!shaped).then(|| {
                format!(
                    "must be the token BotFather issued: <bot id>:<key>, \
                     the key at least {MIN_SECRET_LEN} characters"
                )
            })
        }
        Shape::EncodingAesKey => {
            let base64 = value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/');
            (len != ENCODING_AES_KEY_LEN || !base64).then(|| {
                format!(
                    "must be the {ENCODING_AES_KEY_LEN}-character EncodingAESKey from the \
                     console (base64 without the trailing =)"
                )
            })
        }
    }
}

/// What is wrong with the password inside a Redis URL, or `None` (also when the URL has no
/// password, or cannot be parsed: the store reports that).
pub(super) fn redis_password_problem(url: &str) -> Option<String> {
    // This build has no TLS support in the Redis client, so a `rediss://` URL does not parse
    // as connection info; its password is read the same way as in `redis://`.
    let plain = match url.strip_prefix("rediss://") {
        Some(rest) => format!("redis://{rest}"),
        None => url.to_owned(),
    };
    let info = redis::IntoConnectionInfo::into_connection_info(plain).ok()?;
    let password = info.redis_settings().password()?;
    if password.is_empty() {
        return Some("the password in the URL is empty".to_owned());
    }
    (password.chars().count() < MIN_SECRET_LEN)
        .then(|| format!("the password in the URL must be at least {MIN_SECRET_LEN} characters"))
}

/// Whether an address only this host can reach: 127.0.0.0/8 and ::1 (also as an IPv4-mapped
/// IPv6 address). The unspecified addresses (0.0.0.0, ::) listen on every interface and are
/// not loopback. `server.listen` is an IP address, never a host name, so `localhost` needs no
/// resolving here.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The names of sim bots that accept requests without a secret.
pub fn insecure_sim_bots<'a>(
    bots: impl IntoIterator<Item = (&'a String, &'a BotSettings)>,
) -> Vec<&'a str> {
    bots.into_iter()
        .filter(|(_, b)| matches!(b, BotSettings::Sim(s) if s.insecure && s.secret.is_none()))
        .map(|(n, _)| n.as_str())
        .collect()
}

/// Why an insecure sim bot cannot be served on `listen`, naming the bot and the listen key.
pub fn insecure_exposure(bot: &str, listen: std::net::SocketAddr) -> String {
    format!(
        "bots.{bot}.insecure: an insecure sim bot accepts anyone's messages and shows its \
         mailboxes to anyone, so it is served only when server.listen is a loopback address \
         (127.0.0.1 or ::1), and server.listen is {listen}; listen on loopback, or give the \
         bot a secret of at least {MIN_CHOSEN_LEN} characters, or define a real platform bot"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_whitespace_only_secrets_are_refused_for_every_shape() {
        for shape in [
            Shape::Long,
            Shape::TelegramSecretToken,
            Shape::TelegramToken,
            Shape::EncodingAesKey,
        ] {
            for value in ["", " ", "\n", "\t \r\n"] {
                assert_eq!(
                    secret_problem(value, shape).as_deref(),
                    Some("required, but it is empty"),
                    "{shape:?} {value:?}"
                );
            }
        }
    }

    #[test]
    fn surrounding_whitespace_is_refused_rather_than_trimmed() {
        let long = "abcdefghijklmnopqrstuvwxyz";
        for value in [format!(" {long}"), format!("{long} "), format!("{long}\n")] {
            assert_eq!(
                secret_problem(&value, Shape::Long).as_deref(),
                Some("must not begin or end with whitespace")
            );
        }
    }

    #[test]
    fn a_long_secret_needs_sixteen_characters_counted_as_characters() {
        assert!(secret_problem("0123456789abcde", Shape::Long).is_some());
        assert_eq!(secret_problem("0123456789abcdef", Shape::Long), None);
        // 16 characters, 48 bytes: the rule counts characters.
        assert_eq!(secret_problem(&"密".repeat(16), Shape::Long), None);
        assert!(secret_problem(&"密".repeat(15), Shape::Long).is_some());
    }

    #[test]
    fn a_chosen_secret_needs_twelve_characters() {
        assert!(secret_problem("eleven-char", Shape::Chosen).is_some());
        // The load benchmark's OneBot secret.
        assert_eq!(secret_problem("storm-secret", Shape::Chosen), None);
    }

    #[test]
    fn telegram_secret_token_follows_set_webhook_rules() {
        let ok = "tg-webhook_Secret-0123";
        assert_eq!(secret_problem(ok, Shape::TelegramSecretToken), None);
        assert_eq!(
            secret_problem(&"a".repeat(256), Shape::TelegramSecretToken),
            None
        );
        for bad in [
            "short-7",
            "has space inside 0123",
            "has.dot.0123456789",
            &"a".repeat(257),
        ] {
            assert!(
                secret_problem(bad, Shape::TelegramSecretToken).is_some(),
                "{bad}"
            );
        }
    }

    #[test]
    fn telegram_token_must_read_bot_id_colon_key() {
        assert_eq!(
            secret_problem(
                "123456789:AAH-test_token_0123456789abcdefghij",
                Shape::TelegramToken
            ),
            None
        );
        for bad in [
            "AAH-test_token_0123456789abcdefghij",
            ":AAH-test_token_0123456789abcdefghij",
            "12a:AAH-test_token_0123456789abcdefghij",
            "123456789:short",
        ] {
            assert!(secret_problem(bad, Shape::TelegramToken).is_some(), "{bad}");
        }
    }

    #[test]
    fn encoding_aes_key_is_exactly_43_base64_characters() {
        // The official vector from WeCom's 加解密方案 page.
        let official = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
        assert_eq!(secret_problem(official, Shape::EncodingAesKey), None);
        for bad in [
            &official[..42],
            &format!("{official}="),
            &official.replace('j', "-"),
        ] {
            assert!(
                secret_problem(bad, Shape::EncodingAesKey).is_some(),
                "{bad}"
            );
        }
    }

    #[test]
    fn problems_never_contain_the_value() {
        for (value, shape) in [
            ("leaky-short", Shape::Long),
            ("leaky short secret token", Shape::TelegramSecretToken),
            ("leaky:token", Shape::TelegramToken),
            ("leaky-aes-key", Shape::EncodingAesKey),
            (" leaky-with-space-0123456789", Shape::Long),
        ] {
            let problem = secret_problem(value, shape).unwrap();
            assert!(!problem.contains("leaky"), "{problem}");
        }
        let problem = redis_password_problem("redis://:leakypw@h:1").unwrap();
        assert!(!problem.contains("leakypw"), "{problem}");
    }

    #[test]
    fn a_redis_password_when_present_must_be_long_enough() {
        assert_eq!(redis_password_problem("redis://127.0.0.1:6379"), None);
        assert_eq!(redis_password_problem("redis://user@127.0.0.1:6379"), None);
        assert_eq!(
            redis_password_problem("redis://:0123456789abcdef@127.0.0.1:6379"),
            None
        );
        assert!(redis_password_problem("redis://:short@127.0.0.1:6379").is_some());
        assert!(redis_password_problem("rediss://user:short@127.0.0.1:6380").is_some());
        // Unix sockets carry the password as `pass=`.
        assert!(redis_password_problem("redis+unix:///run/redis.sock?pass=").is_some());
        assert!(redis_password_problem("redis+unix:///run/redis.sock?pass=short").is_some());
        assert_eq!(
            redis_password_problem("redis+unix:///run/redis.sock?pass=0123456789abcdef"),
            None
        );
    }

    #[test]
    fn loopback_means_127_slash_8_and_ipv6_one_including_the_mapped_form() {
        for ip in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "0.0.0.0",
            "::",
            "10.0.0.5",
            "192.168.1.2",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip}");
        }
    }
}

/// The whole load path: validation names each bad secret, and where an insecure bot may run.
#[cfg(test)]
mod settings_tests {
    use std::io::Write;

    use super::super::{Settings, Sources};

    const GOOD: &str = "Good-secret_0123456789abcdef";
    const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

    /// Every platform with every secret key set to a valid value, and that key list.
    fn platforms() -> Vec<(String, &'static [&'static str])> {
        vec![
            (
                format!("platform = \"sim\"\nsecret = \"{GOOD}\"\n"),
                &["secret"],
            ),
            (
                format!("platform = \"onebot\"\nsecret = \"{GOOD}\"\naccess_token = \"{GOOD}\"\n"),
                &["secret", "access_token"],
            ),
            (
                format!(
                    "platform = \"telegram\"\ntoken = \"123456:{GOOD}\"\n\
                     secret_token = \"{GOOD}\"\n"
                ),
                &["token", "secret_token"],
            ),
            (
                format!(
                    "platform = \"feishu\"\napp_id = \"cli_a5f0e1d2c3b4a596\"\n\
                     app_secret = \"{GOOD}\"\nverification_token = \"{GOOD}\"\n\
                     encrypt_key = \"{GOOD}\"\n"
                ),
                &["app_secret", "verification_token", "encrypt_key"],
            ),
            (
                format!(
                    "platform = \"dingtalk\"\napp_key = \"dingtestappkey0001\"\n\
                     app_secret = \"{GOOD}\"\n"
                ),
                &["app_secret"],
            ),
            (
                format!(
                    "platform = \"wecom\"\nmode = \"app\"\ntoken = \"{GOOD}\"\n\
                     encoding_aes_key = \"{AES_KEY}\"\ncorp_id = \"ww0123456789abcdef\"\n\
                     corp_secret = \"{GOOD}\"\nagent_id = 1000002\n\
                     push_webhook_key = \"{GOOD}\"\n"
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

    fn load(overlay: &str) -> Result<Settings, String> {
        Settings::load(&Sources {
            overlay: Some(overlay),
            ..Default::default()
        })
        .map_err(|e| e.0.join("\n"))
    }

    /// The table with `key` set to `value` instead of its valid value.
    fn with(table: &str, key: &str, value: &str) -> String {
        table
            .lines()
            .map(|line| match line.split_once(" = ") {
                Some((k, _)) if k == key => format!("{key} = \"{value}\""),
                _ => line.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn every_platform_table_with_good_secrets_loads() {
        for (table, _) in platforms() {
            load(&format!("[bots.b]\n{table}")).unwrap();
        }
    }

    #[test]
    fn every_empty_or_blank_secret_of_every_platform_is_refused_by_key() {
        for (table, keys) in platforms() {
            for key in keys {
                for value in ["", "   "] {
                    let err = load(&format!("[bots.b]\n{}", with(&table, key, value))).unwrap_err();
                    assert!(
                        err.contains(&format!("bots.b.{key}: required, but it is empty")),
                        "{key} = {value:?}: {err}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_too_short_secret_of_every_platform_is_refused_by_key_without_its_value() {
        for (table, keys) in platforms() {
            for key in keys {
                let short = "leaky-7";
                let err = load(&format!("[bots.b]\n{}", with(&table, key, short))).unwrap_err();
                assert!(
                    err.contains(&format!("bots.b.{key}: must ")),
                    "{key}: {err}"
                );
                assert!(!err.contains(short), "{key}: {err}");
            }
        }
    }

    #[test]
    fn a_required_secret_left_out_is_named() {
        for (table, keys) in platforms() {
            let key = keys[0];
            let without: String = table
                .lines()
                .filter(|l| !l.starts_with(&format!("{key} = ")))
                .map(|l| format!("{l}\n"))
                .collect();
            let err = load(&format!("[bots.b]\n{without}")).unwrap_err();
            assert!(err.contains(&format!("bots.b.{key}: required")), "{err}");
        }
    }

    #[test]
    fn empty_and_short_admin_tokens_and_redis_passwords_are_refused() {
        for (overlay, expected) in [
            (
                "[admin]\ntoken = \"\"",
                "admin.token: required, but it is empty",
            ),
            (
                "[admin]\ntoken = \" \"",
                "admin.token: required, but it is empty",
            ),
            (
                "[admin]\ntoken = \"short-token\"",
                "admin.token: must be at least 16",
            ),
            (
                "[redis]\nurl = \"redis://:short-pw@127.0.0.1:6379\"",
                "redis.url: the password in the URL must be at least 16",
            ),
        ] {
            let err = load(overlay).unwrap_err();
            assert!(err.contains(expected), "{overlay}: {err}");
            assert!(!err.contains("short-"), "{err}");
        }
    }

    #[test]
    fn a_secret_file_loses_its_trailing_whitespace_and_an_empty_one_is_named_by_its_file_key() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        write!(file, "{GOOD}\r\n \t\n").unwrap();
        let path = file.path().display().to_string();
        let s = load(&format!(
            "[bots.b]\nplatform = \"sim\"\nsecret_file = \"{path}\"\n"
        ))
        .unwrap();
        let Some(super::BotSettings::Sim(sim)) = s.bots.get("b") else {
            panic!("a sim bot");
        };
        assert_eq!(sim.secret.as_ref().map(super::Secret::expose), Some(GOOD));

        for contents in ["", "\n", " \r\n"] {
            let mut empty = tempfile::NamedTempFile::new().unwrap();
            empty.write_all(contents.as_bytes()).unwrap();
            let path = empty.path().display().to_string();
            let err = load(&format!(
                "[bots.b]\nplatform = \"sim\"\nsecret_file = \"{path}\"\n"
            ))
            .unwrap_err();
            assert_eq!(
                err, "bots.b.secret: required, but it is empty (read from bots.b.secret_file)",
                "{contents:?}"
            );
        }
    }

    #[test]
    fn a_secret_file_with_leading_whitespace_is_refused_not_trimmed() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, " {GOOD}").unwrap();
        let path = file.path().display().to_string();
        let err = load(&format!("[admin]\ntoken_file = \"{path}\"\n")).unwrap_err();
        assert_eq!(
            err,
            "admin.token: must not begin or end with whitespace (read from admin.token_file)"
        );
    }

    #[test]
    fn an_insecure_sim_bot_is_refused_off_loopback_and_accepted_on_it() {
        for listen in ["0.0.0.0:8080", "[::]:8080", "192.168.1.20:8080"] {
            let err = load(&format!("[server]\nlisten = \"{listen}\"\n")).unwrap_err();
            assert!(err.contains("bots.demo.insecure"), "{err}");
            assert!(err.contains("server.listen"), "{err}");
            assert!(err.contains(listen), "{err}");
        }
        for listen in ["127.0.0.1:8080", "127.0.0.2:0", "[::1]:8080"] {
            load(&format!("[server]\nlisten = \"{listen}\"\n")).unwrap();
        }
    }

    #[test]
    fn a_sim_bot_with_a_secret_may_listen_anywhere_even_when_marked_insecure() {
        for insecure in ["", "insecure = true\n"] {
            load(&format!(
                "[server]\nlisten = \"0.0.0.0:8080\"\n\
                 [bots.b]\nplatform = \"sim\"\n{insecure}secret = \"{GOOD}\"\n"
            ))
            .unwrap();
        }
    }
}
