//! WXBizMsgCrypt, WeCom's callback encryption, shared by the self-built app, the group robot
//! and the AI bot: a SHA-1 signature over the sorted `token, timestamp, nonce, ciphertext`,
//! and AES-256-CBC with the IV taken from the key and PKCS#7 padding to 32-byte blocks.
//!
//! <https://developer.work.weixin.qq.com/document/path/90968>

use aes::Aes256;
use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// WeCom pads to multiples of 32 bytes, not AES's 16 (platforms.md pitfall 2).
const PAD_BLOCK: usize = 32;
/// The random prefix of every plaintext.
const RANDOM_LEN: usize = 16;
/// Largest ciphertext accepted (base64 characters); webhook bodies are limited anyway.
const MAX_CIPHERTEXT: usize = 1 << 20;

/// Standard base64 that tolerates the non-zero trailing bits of WeCom's EncodingAESKeys
/// (platforms.md pitfall 1) and missing padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a ciphertext was refused; the names follow the official error table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// −40004: the EncodingAESKey is not 43 base64 characters for 32 bytes.
    #[error("the EncodingAESKey must be 43 base64 characters (32 bytes)")]
    IllegalAesKey,
    /// −40007 / −40010: not base64, not whole blocks, or the padding is wrong.
    #[error("the ciphertext does not decrypt")]
    Decrypt,
    /// −40008: the plaintext is not `random ‖ length ‖ message ‖ receive id`.
    #[error("the decrypted buffer is malformed")]
    IllegalBuffer,
    /// −40005: the receive id is not ours.
    #[error("the receive id does not match")]
    ReceiveId,
}

/// The callback cipher of one bot: its AES key and the receive id it expects.
#[derive(Clone)]
pub struct MsgCrypt {
    key: [u8; 32],
    receive_id: Vec<u8>,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgCrypt").finish_non_exhaustive()
    }
}

impl MsgCrypt {
    /// `AESKey = base64decode(EncodingAESKey + "=")`; `receive_id` is the corp id for the app
    /// and the empty string for the AI bot.
    pub fn new(encoding_aes_key: &str, receive_id: &str) -> Result<Self, CryptoError> {
        let trimmed = encoding_aes_key.trim();
        if trimmed.len() != 43 {
            return Err(CryptoError::IllegalAesKey);
        }
        let bytes = LENIENT
            .decode(format!("{trimmed}="))
            .map_err(|_| CryptoError::IllegalAesKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::IllegalAesKey)?;
        Ok(Self {
            key,
            receive_id: receive_id.as_bytes().to_vec(),
        })
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// Decrypts a base64 `Encrypt` / `echostr` and returns the message, after checking the
    /// receive id.
    pub fn decrypt(&self, ciphertext: &str) -> Result<Vec<u8>, CryptoError> {
        if ciphertext.len() > MAX_CIPHERTEXT {
            return Err(CryptoError::Decrypt);
        }
        let mut buf = LENIENT
            .decode(ciphertext.trim())
            .map_err(|_| CryptoError::Decrypt)?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptoError::Decrypt);
        }
        let plain = cbc::Decryptor::<Aes256>::new(&self.key.into(), &self.iv().into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| CryptoError::Decrypt)?;
        // PKCS#7 on a 32-byte block: pad values 1..=32 (the official vector has 30).
        let pad = usize::from(*plain.last().ok_or(CryptoError::Decrypt)?);
        if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
            return Err(CryptoError::Decrypt);
        }
        let content = plain
            .get(RANDOM_LEN..plain.len() - pad)
            .ok_or(CryptoError::IllegalBuffer)?;
        let (len, rest) = content
            .split_first_chunk::<4>()
            .ok_or(CryptoError::IllegalBuffer)?;
        let len =
            usize::try_from(u32::from_be_bytes(*len)).map_err(|_| CryptoError::IllegalBuffer)?;
        if len > rest.len() {
            return Err(CryptoError::IllegalBuffer);
        }
        let (message, receive_id) = rest.split_at(len);
        if receive_id.len() != self.receive_id.len()
            || !bool::from(receive_id.ct_eq(&self.receive_id))
        {
            return Err(CryptoError::ReceiveId);
        }
        Ok(message.to_vec())
    }

    /// Encrypts a reply with fresh random bytes.
    pub fn encrypt(&self, message: &[u8]) -> String {
        self.encrypt_with(rand::random(), message)
    }

    /// Encrypts with the given random prefix (deterministic, for tests and vectors).
    pub fn encrypt_with(&self, random: [u8; RANDOM_LEN], message: &[u8]) -> String {
        let body = RANDOM_LEN + 4 + message.len() + self.receive_id.len();
        let pad = PAD_BLOCK - body % PAD_BLOCK;
        let mut buf = Vec::with_capacity(body + pad);
        buf.extend_from_slice(&random);
        // Messages are bounded far below 4 GiB by the callers (webhook limits, text caps).
        buf.extend_from_slice(
            &u32::try_from(message.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        buf.extend_from_slice(message);
        buf.extend_from_slice(&self.receive_id);
        // `pad` is 1..=32, so it fits a byte.
        buf.resize(body + pad, u8::try_from(pad).unwrap_or(32));
        let len = buf.len();
        let encrypted = cbc::Encryptor::<Aes256>::new(&self.key.into(), &self.iv().into())
            .encrypt_padded_mut::<NoPadding>(&mut buf, len)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(encrypted)
    }
}

/// `msg_signature = hex(sha1(concat(sort([token, timestamp, nonce, ciphertext]))))`; the
/// ciphertext is part of it (unlike WeChat MP's plaintext mode, pitfall 3).
pub fn signature(token: &str, timestamp: &str, nonce: &str, ciphertext: &str) -> String {
    let mut parts = [token, timestamp, nonce, ciphertext];
    parts.sort_unstable();
    let mut sha = Sha1::new();
    for part in parts {
        sha.update(part.as_bytes());
    }
    sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` is the signature of the other four, compared in constant time and
/// case-insensitively (WeCom sends lowercase hex).
pub fn signature_matches(
    token: &str,
    timestamp: &str,
    nonce: &str,
    ciphertext: &str,
    given: &str,
) -> bool {
    let expected = signature(token, timestamp, nonce, ciphertext);
    let given = given.trim().to_ascii_lowercase();
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The official message vector, shared with the adapter's tests.
#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) const ENCRYPT: &str = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    // Official vectors from 企业微信 加解密方案 (path/90968) and the official samples, copied
    // in platforms.md §4 and verified there with wechatpy.
    const TOKEN: &str = "QDG6eK";
    const CORP_ID: &str = "wx5823bf96d3bd56c7";
    const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    const ECHOSTR: &str =
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
    use super::tests_support::ENCRYPT;
    const PLAIN_XML: &str = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>";

    #[test]
    fn the_official_echostr_vector_verifies_and_decrypts() {
        assert_eq!(
            signature(TOKEN, "1409659589", "263014780", ECHOSTR),
            "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
        );
        let crypt = MsgCrypt::new(AES_KEY, CORP_ID).unwrap();
        assert_eq!(crypt.decrypt(ECHOSTR).unwrap(), b"1616140317555161061");
    }

    #[test]
    fn the_official_message_vector_verifies_and_decrypts() {
        assert!(signature_matches(
            TOKEN,
            "1409659813",
            "1372623149",
            ENCRYPT,
            "477715D11CDB4164915DEBCBA66CB864D751F3E6"
        ));
        let crypt = MsgCrypt::new(AES_KEY, CORP_ID).unwrap();
        let plain = crypt.decrypt(ENCRYPT).unwrap();
        assert_eq!(plain.len(), 284);
        assert_eq!(String::from_utf8(plain).unwrap(), PLAIN_XML);
        // Intermediate values from platforms.md: IV = AESKey[0..16].
        let iv: String = crypt.iv().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(iv, "8d69989bbaabe67328014c194631ad07");
    }

    #[test]
    fn the_wechatpy_echostr_vector_verifies_and_decrypts() {
        // wechatpy tests/test_crypto.py, verified in platforms.md §4.
        let echostr = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
        assert_eq!(
            signature("123456", "1411443780", "437374425", echostr),
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
        );
        let crypt = MsgCrypt::new(
            "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
            "wx49f0ab532d5d035a",
        )
        .unwrap();
        assert_eq!(crypt.decrypt(echostr).unwrap(), b"5927782489442352469");
    }

    #[test]
    fn a_wrong_receive_id_or_key_is_refused() {
        // The AI bot's receive id is "" (pitfall 5): the app vector must fail with it.
        let aibot = MsgCrypt::new(AES_KEY, "").unwrap();
        assert_eq!(aibot.decrypt(ENCRYPT), Err(CryptoError::ReceiveId));
        let other = MsgCrypt::new("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", CORP_ID).unwrap();
        assert!(other.decrypt(ENCRYPT).is_err());
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2!",
        ] {
            assert_eq!(
                MsgCrypt::new(bad, "").err(),
                Some(CryptoError::IllegalAesKey),
                "{bad}"
            );
        }
        for bad in ["", "!!!!", "AAAA", &"A".repeat(44)] {
            assert!(aibot.decrypt(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encryption_round_trips_for_every_padding_length() {
        for receive_id in ["", CORP_ID] {
            let crypt = MsgCrypt::new(AES_KEY, receive_id).unwrap();
            for len in 0..80 {
                let message = "字".repeat(len / 3) + &"x".repeat(len % 3);
                let sealed = crypt.encrypt(message.as_bytes());
                assert_eq!(crypt.decrypt(&sealed).unwrap(), message.as_bytes());
            }
        }
    }

    #[test]
    fn a_fixed_random_prefix_gives_a_fixed_ciphertext_that_decrypts_to_the_vector_internals() {
        // Re-encrypting the official plaintext with the official random prefix (the ASCII
        // string `0960688932c47ef1`, platforms.md internals) reproduces the official
        // ciphertext byte for byte, which pins the layout and the 32-byte padding.
        let crypt = MsgCrypt::new(AES_KEY, CORP_ID).unwrap();
        let mut buf = LENIENT.decode(ENCRYPT).unwrap();
        let plain = cbc::Decryptor::<Aes256>::new(&crypt.key.into(), &crypt.iv().into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .unwrap()
            .to_vec();
        assert_eq!(plain.len(), 352);
        assert_eq!(plain.last(), Some(&30));
        assert_eq!(&plain[..16], b"0960688932c47ef1");
        let random: [u8; 16] = *b"0960688932c47ef1";
        assert_eq!(crypt.encrypt_with(random, PLAIN_XML.as_bytes()), ENCRYPT);
    }
}
