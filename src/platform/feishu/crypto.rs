//! Feishu's callback cryptography: the `X-Lark-Signature` digest and the AES-256-CBC envelope
//! `{"encrypt": "<base64>"}` used when the app has an Encrypt Key.
//!
//! <https://open.feishu.cn/document/server-docs/event-subscription-guide/event-subscription-configure-/encrypt-key-encryption-configuration-case>

use std::fmt;

use aes::Aes256;
use base64::{Engine, engine::general_purpose::STANDARD};
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// AES block and IV size.
const BLOCK: usize = 16;

/// Why an `encrypt` value could not be opened. Deliberately without detail: the caller only
/// needs to know the envelope is not ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// Not base64.
    #[error("the encrypt field is not base64")]
    Base64,
    /// Shorter than an IV plus one block, or not a whole number of blocks.
    #[error("the encrypt field has the wrong length")]
    Length,
    /// The PKCS#7 padding is wrong: another key, or tampered bytes.
    #[error("the encrypt field does not decrypt with this key")]
    Padding,
}

/// The AES key derived from an app's Encrypt Key: `SHA256(encrypt_key)`.
#[derive(Clone)]
pub struct Cipher {
    key: [u8; 32],
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(***)")
    }
}

impl Cipher {
    /// Derives the key from the Encrypt Key as the console shows it.
    pub fn new(encrypt_key: &str) -> Self {
        Self {
            key: Sha256::digest(encrypt_key.as_bytes()).into(),
        }
    }

    /// Opens an `encrypt` value: base64 of `IV (16 bytes) ++ AES-256-CBC(PKCS#7)(plaintext)`.
    pub fn decrypt(&self, encrypt: &str) -> Result<Vec<u8>, DecryptError> {
        let raw = STANDARD
            .decode(encrypt.trim())
            .map_err(|_| DecryptError::Base64)?;
        if raw.len() < 2 * BLOCK || raw.len() % BLOCK != 0 {
            return Err(DecryptError::Length);
        }
        let (iv, ciphertext) = raw.split_at(BLOCK);
        let mut buffer = ciphertext.to_vec();
        let decryptor = cbc::Decryptor::<Aes256>::new_from_slices(&self.key, iv)
            .map_err(|_| DecryptError::Length)?;
        let plain = decryptor
            .decrypt_padded_mut::<Pkcs7>(&mut buffer)
            .map_err(|_| DecryptError::Padding)?;
        Ok(plain.to_vec())
    }

    /// Seals `plaintext` as Feishu does, with a caller-chosen IV (tests and tools pick a
    /// fixed one so that the output is reproducible).
    pub fn encrypt(&self, iv: [u8; BLOCK], plaintext: &[u8]) -> String {
        let encryptor = cbc::Encryptor::<Aes256>::new(&self.key.into(), &iv.into());
        let ciphertext = encryptor.encrypt_padded_vec_mut::<Pkcs7>(plaintext);
        let mut raw = Vec::with_capacity(BLOCK + ciphertext.len());
        raw.extend_from_slice(&iv);
        raw.extend_from_slice(&ciphertext);
        STANDARD.encode(raw)
    }
}

/// `hex(sha256(timestamp + nonce + encrypt_key ++ raw body))`, lowercase, as Feishu puts it in
/// `X-Lark-Signature`. The body is hashed byte for byte: re-serialised JSON would not match.
pub fn signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(timestamp.as_bytes());
    hasher.update(nonce.as_bytes());
    hasher.update(encrypt_key.as_bytes());
    hasher.update(body);
    hex(&hasher.finalize())
}

/// Whether `given` is the signature of the request, compared in constant time. Hex case is
/// ignored (Feishu sends lowercase; a proxy that upper-cases headers' values should not
/// break authentication).
pub fn signature_matches(
    given: &[u8],
    timestamp: &str,
    nonce: &str,
    encrypt_key: &str,
    body: &[u8],
) -> bool {
    let expected = signature(timestamp, nonce, encrypt_key, body);
    let given: Vec<u8> = given.iter().map(u8::to_ascii_lowercase).collect();
    bool::from(given.ct_eq(expected.as_bytes()))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_official_vector_decrypts_to_hello_world() {
        // open.feishu.cn request-url-configuration-case; platforms.md §2 (verified there with
        // lark-oapi's AESCipher).
        let cipher = Cipher::new("test key");
        assert_eq!(
            hex(&cipher.key),
            "fa2bdca424f01f01ffb48df93acc35d439c7fd331a1a7fba6ac2fd83aa9ab31a"
        );
        let raw = STANDARD
            .decode("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=")
            .unwrap();
        assert_eq!(hex(&raw[..16]), "3f7ef0f9564898d80f10ed5106127a46");
        assert_eq!(
            cipher
                .decrypt("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=")
                .unwrap(),
            b"hello world"
        );
    }

    #[test]
    fn encrypt_reproduces_the_official_vector_and_round_trips() {
        let cipher = Cipher::new("test key");
        let iv: [u8; 16] = STANDARD
            .decode("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=")
            .unwrap()[..16]
            .try_into()
            .unwrap();
        assert_eq!(
            cipher.encrypt(iv, b"hello world"),
            "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="
        );
        let text = "{\"challenge\":\"挑战\",\"type\":\"url_verification\"}".repeat(7);
        let sealed = cipher.encrypt([7; 16], text.as_bytes());
        assert_eq!(cipher.decrypt(&sealed).unwrap(), text.as_bytes());
    }

    #[test]
    fn wrong_keys_and_broken_envelopes_are_refused_without_panicking() {
        let good = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=";
        assert!(Cipher::new("other key").decrypt(good).is_err());
        let cipher = Cipher::new("test key");
        assert_eq!(cipher.decrypt("***"), Err(DecryptError::Base64));
        assert_eq!(cipher.decrypt(""), Err(DecryptError::Length));
        // An IV alone, and an IV plus a partial block.
        assert_eq!(
            cipher.decrypt(&STANDARD.encode([0u8; 16])),
            Err(DecryptError::Length)
        );
        assert_eq!(
            cipher.decrypt(&STANDARD.encode([0u8; 40])),
            Err(DecryptError::Length)
        );
        // A flipped byte in the last block breaks the padding.
        let mut raw = STANDARD.decode(good).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 0x5a;
        assert_eq!(
            cipher.decrypt(&STANDARD.encode(&raw)),
            Err(DecryptError::Padding)
        );
    }

    #[test]
    fn the_signature_matches_an_independent_computation() {
        // Expected values computed once with Python:
        //   hashlib.sha256(b"1700000000" + b"n0nce-42" + b"test key" + body).hexdigest()
        // with body = b'{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}'.
        let body = br#"{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}"#;
        let expected = "4673d8347d6928324f821737a9dc0ecf96af349e800547a2b8da59deeffd7fd0";
        assert_eq!(
            signature("1700000000", "n0nce-42", "test key", body),
            expected
        );
        assert!(signature_matches(
            expected.as_bytes(),
            "1700000000",
            "n0nce-42",
            "test key",
            body
        ));
        assert!(signature_matches(
            expected.to_uppercase().as_bytes(),
            "1700000000",
            "n0nce-42",
            "test key",
            body
        ));
        // Any change to any input breaks it.
        for (ts, nonce, key, body) in [
            ("1700000001", "n0nce-42", "test key", &body[..]),
            ("1700000000", "n0nce-43", "test key", &body[..]),
            ("1700000000", "n0nce-42", "test kez", &body[..]),
            ("1700000000", "n0nce-42", "test key", &body[1..]),
        ] {
            assert!(!signature_matches(
                expected.as_bytes(),
                ts,
                nonce,
                key,
                body
            ));
        }
        assert!(!signature_matches(
            b"",
            "1700000000",
            "n0nce-42",
            "test key",
            body
        ));
    }
}
