//! The callback signature of a DingTalk enterprise-internal robot in HTTP mode:
//! `sign = base64(HMAC-SHA256(key = appSecret, msg = timestamp + "\n" + appSecret))`, sent with
//! the millisecond `timestamp` in request headers, valid for one hour either side of now.
//!
//! The signature covers the timestamp only, never the body, so a captured request can be
//! replayed with any body inside the window: the webhook pipeline's `msgId` dedup is what
//! stops a replay of the same message, and nothing can stop a forged body (platforms.md
//! pitfall 15).
//!
//! <https://open.dingtalk.com/document/orgapp/receive-message> (安全校验)

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::platform::PlatformError;

/// Header carrying the millisecond timestamp.
pub const TIMESTAMP_HEADER: &str = "timestamp";
/// Header carrying the base64 signature.
pub const SIGN_HEADER: &str = "sign";
/// How far a timestamp may be from now, either way: one hour.
pub const WINDOW_MS: i64 = 3_600_000;

/// The raw 32-byte HMAC-SHA256 of `timestamp + "\n" + secret` under `secret`.
pub fn digest(secret: &str, timestamp: &str) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail; the fallback only keeps the
    // signature of the function honest without an `expect`.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return [0; 32];
    };
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The `sign` header value DingTalk sends for `timestamp`.
pub fn sign(secret: &str, timestamp: &str) -> String {
    STANDARD.encode(digest(secret, timestamp))
}

/// Checks the headers' timestamp against `now` and their sign against `secret`. Both must
/// pass; the comparison of the signature is constant-time over the decoded digest.
pub fn check(
    secret: &str,
    timestamp: Option<&[u8]>,
    sign: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<(), PlatformError> {
    let timestamp = timestamp.ok_or(PlatformError::Unauthenticated("missing_timestamp"))?;
    let sign = sign.ok_or(PlatformError::Unauthenticated("missing_sign"))?;
    // Digits only: `+5`, ` 5` or `5.0` are not what DingTalk sends, and the signed string
    // must be exactly the header's bytes.
    if timestamp.is_empty() || timestamp.len() > 19 || !timestamp.iter().all(u8::is_ascii_digit) {
        return Err(PlatformError::Unauthenticated("bad_timestamp"));
    }
    let text = std::str::from_utf8(timestamp)
        .map_err(|_| PlatformError::Unauthenticated("bad_timestamp"))?;
    let millis: i64 = text
        .parse()
        .map_err(|_| PlatformError::Unauthenticated("bad_timestamp"))?;
    let skew = now.timestamp_millis().abs_diff(millis);
    if skew > WINDOW_MS.unsigned_abs() {
        return Err(PlatformError::Unauthenticated("expired"));
    }
    let given = STANDARD
        .decode(sign)
        .map_err(|_| PlatformError::Unauthenticated("bad_sign"))?;
    let expected = digest(secret, text);
    if bool::from(given.as_slice().ct_eq(expected.as_slice())) {
        Ok(())
    } else {
        Err(PlatformError::Unauthenticated("bad_sign"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors computed once, independently of this code, with CPython's `hmac` and
    /// `hashlib` modules:
    /// `base64.b64encode(hmac.new(s.encode(), (t + "\n" + s).encode(), hashlib.sha256).digest())`.
    /// platforms.md has no official numeric vector for DingTalk.
    const VECTORS: &[(&str, &str, &str)] = &[
        (
            "gLyX4mT8QnZ2vRk5WpJ0sYc7HbEaD3fU9iKoN1lMqPwXzS6tVu",
            "1767225600000",
            "GOQ706hbp9wXn4LT2FsDvmKpyf4PP4UZE/X4dlbn0Jg=",
        ),
        (
            "SECabc",
            "1577262236757",
            "I5TKCOTTj6fad4sJ4q9RsIffw0PAChVQZQGTdtRbNEQ=",
        ),
        (
            "密钥-ünïcode",
            "0",
            "k4bQWZIs6fhTo5thjBlRlEanRI4TjiyAUfk84f6f/OI=",
        ),
    ];

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis).unwrap()
    }

    #[test]
    fn signs_match_independently_computed_vectors() {
        for (secret, timestamp, expected) in VECTORS {
            assert_eq!(sign(secret, timestamp), *expected, "{secret}");
            let now = at(timestamp.parse().unwrap());
            assert!(
                check(
                    secret,
                    Some(timestamp.as_bytes()),
                    Some(expected.as_bytes()),
                    now
                )
                .is_ok()
            );
        }
    }

    #[test]
    fn the_window_is_one_hour_either_way_inclusive() {
        let (secret, ts, good) = VECTORS[0];
        let t: i64 = ts.parse().unwrap();
        for (now, ok) in [
            (t, true),
            (t + WINDOW_MS, true),
            (t - WINDOW_MS, true),
            (t + WINDOW_MS + 1, false),
            (t - WINDOW_MS - 1, false),
            // A request captured yesterday and replayed today.
            (t + 24 * WINDOW_MS, false),
        ] {
            let result = check(secret, Some(ts.as_bytes()), Some(good.as_bytes()), at(now));
            if ok {
                assert!(result.is_ok(), "{now}");
            } else {
                assert!(
                    matches!(result, Err(PlatformError::Unauthenticated("expired"))),
                    "{now}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn each_failure_has_its_reason() {
        let (secret, ts, good) = VECTORS[0];
        let now = at(ts.parse().unwrap());
        let reason = |t: Option<&str>, s: Option<&str>, key: &str| match check(
            key,
            t.map(str::as_bytes),
            s.map(str::as_bytes),
            now,
        ) {
            Err(e) => e.reason(),
            Ok(()) => "ok",
        };
        assert_eq!(reason(Some(ts), Some(good), secret), "ok");
        assert_eq!(reason(None, Some(good), secret), "missing_timestamp");
        assert_eq!(reason(Some(ts), None, secret), "missing_sign");
        for bad in [
            "",
            "+1767225600000",
            "1767225600000.0",
            " 1767225600000",
            "x",
            "99999999999999999999",
        ] {
            assert_eq!(
                reason(Some(bad), Some(good), secret),
                "bad_timestamp",
                "{bad:?}"
            );
        }
        assert_eq!(reason(Some(ts), Some(good), "another-secret"), "bad_sign");
        assert_eq!(reason(Some(ts), Some("not base64!"), secret), "bad_sign");
        assert_eq!(reason(Some(ts), Some(""), secret), "bad_sign");
        // The right digest of another timestamp.
        let other = sign(secret, "1767225600001");
        assert_eq!(reason(Some(ts), Some(&other), secret), "bad_sign");
        // A truncated signature is not a prefix match.
        assert_eq!(reason(Some(ts), Some(&good[..20]), secret), "bad_sign");
    }
}
