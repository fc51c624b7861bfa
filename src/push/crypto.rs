//! The message encryption of Web Push (RFC 8291, `aes128gcm` of RFC 8188): a fresh P-256 key pair and salt
//! per message, ECDH with the browser's `p256dh` key, HKDF-SHA-256 keyed with its `auth` secret, one
//! AES-128-GCM record. The primitives are RustCrypto's (`p256`, `hkdf`, `aes-gcm`); only the framing is
//! written here. The browser's keys are checked when a subscription is stored ([`BrowserKeys::parse`]).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64ct::{Base64UrlUnpadded, Encoding};
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// The record size written in the header: one record holds any payload we send (at most 4 KiB).
const RECORD_SIZE: u32 = 4096;
/// An uncompressed P-256 point: 0x04, x, y.
pub const POINT_BYTES: usize = 65;
/// The browser's authentication secret.
pub const AUTH_BYTES: usize = 16;
/// The header: salt (16), record size (4), key id length (1), key id (the sender's public key, 65).
pub const HEADER_BYTES: usize = 16 + 4 + 1 + POINT_BYTES;

/// Why a subscription's keys were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// `p256dh` is not base64url of an uncompressed point on P-256.
    #[error("keys.p256dh must be the base64url of a 65-byte uncompressed P-256 point")]
    BadPublicKey,
    /// `auth` is not base64url of 16 bytes.
    #[error("keys.auth must be the base64url of 16 bytes")]
    BadAuth,
}

/// A browser's subscription keys, checked.
#[derive(Clone, Debug)]
pub struct BrowserKeys {
    /// The browser's public key (`p256dh`).
    pub public: PublicKey,
    /// The browser's authentication secret (`auth`).
    pub auth: [u8; AUTH_BYTES],
}

/// base64url without padding; padded input (which some clients send) is accepted too.
pub fn decode_b64url(text: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(text.trim().trim_end_matches('=')).ok()
}

/// base64url without padding.
pub fn encode_b64url(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// A public key as an uncompressed point (what `applicationServerKey` and the `k=` of VAPID take).
pub fn uncompressed(public: &PublicKey) -> Vec<u8> {
    public.to_sec1_point(false).as_bytes().to_vec()
}

impl BrowserKeys {
    /// Decodes and checks `p256dh` (65 bytes, a point on the curve) and `auth` (16 bytes).
    pub fn parse(p256dh: &str, auth: &str) -> Result<Self, KeyError> {
        let point = decode_b64url(p256dh).ok_or(KeyError::BadPublicKey)?;
        if point.len() != POINT_BYTES || point[0] != 4 {
            return Err(KeyError::BadPublicKey);
        }
        let public = PublicKey::from_sec1_bytes(&point).map_err(|_| KeyError::BadPublicKey)?;
        let auth = decode_b64url(auth)
            .and_then(|bytes| <[u8; AUTH_BYTES]>::try_from(bytes).ok())
            .ok_or(KeyError::BadAuth)?;
        Ok(Self { public, auth })
    }
}

/// `count` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS's generator failing is not something a server can go on from.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the operating system's random generator works");
    bytes
}

/// A fresh secret key.
pub fn generate_secret() -> SecretKey {
    loop {
        // A random 32-byte string is a valid scalar except with probability about 2^-32.
        if let Ok(key) = SecretKey::from_slice(&random_bytes::<32>()) {
            return key;
        }
    }
}

/// Encrypts `plaintext` for `to` with a fresh key pair and salt: the body of the push request.
pub fn encrypt(plaintext: &[u8], to: &BrowserKeys) -> Vec<u8> {
    encrypt_with(plaintext, to, &generate_secret(), &random_bytes::<16>())
}

/// Encrypts with the sender's key and salt given (the test vectors fix them).
fn encrypt_with(
    plaintext: &[u8],
    to: &BrowserKeys,
    sender: &SecretKey,
    salt: &[u8; 16],
) -> Vec<u8> {
    let ua_public = uncompressed(&to.public);
    let as_public = uncompressed(&sender.public_key());
    let shared = sender.diffie_hellman(&to.public);
    // IKM = HKDF(auth, ecdh, "WebPush: info" 0 ua_public as_public, 32).
    let mut info = Vec::with_capacity(14 + 2 * POINT_BYTES);
    info.extend_from_slice(b"WebPush: info\0");
    info.extend_from_slice(&ua_public);
    info.extend_from_slice(&as_public);
    let mut ikm = [0u8; 32];
    expand(&to.auth, shared.raw_secret_bytes(), &info, &mut ikm);
    let mut cek = [0u8; 16];
    expand(salt, &ikm, b"Content-Encoding: aes128gcm\0", &mut cek);
    let mut nonce = [0u8; 12];
    expand(salt, &ikm, b"Content-Encoding: nonce\0", &mut nonce);
    // One record, the last: the text, then the delimiter 2, no padding.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(2);
    // The key is 16 bytes and the record far below AES-GCM's limits: neither call can fail.
    #[allow(clippy::expect_used)]
    let sealed = Aes128Gcm::new_from_slice(&cek)
        .expect("a 16-byte key")
        .encrypt(&Nonce::from(nonce), record.as_slice())
        .expect("a record within AES-GCM's limits");
    let mut body = Vec::with_capacity(HEADER_BYTES + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(POINT_BYTES as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&sealed);
    body
}

/// HKDF-SHA-256 extract with `salt` and `ikm`, then expand `info` into `out` (at most 32 bytes here).
fn expand(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    // Outputs of at most 32 bytes are always within HKDF-SHA-256's limit.
    #[allow(clippy::expect_used)]
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, out)
        .expect("a short HKDF output");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> Vec<u8> {
        decode_b64url(text).expect("base64url")
    }

    /// RFC 8291, appendix A: fixed keys and salt give exactly the RFC's body.
    #[test]
    fn rfc_8291_appendix_a() {
        let sender = SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
            .expect("as_private");
        assert_eq!(
            encode_b64url(&uncompressed(&sender.public_key())),
            "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
        );
        let browser = BrowserKeys::parse(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "BTBZMqHH6r4Tts7J_aSIgg",
        )
        .expect("ua keys");
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().expect("salt");
        let body = encrypt_with(
            b"When I grow up, I want to be a watermelon",
            &browser,
            &sender,
            &salt,
        );
        assert_eq!(
            encode_b64url(&body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInm\
             YWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
        // The RFC's user agent private key matches the public key it gives.
        let ua = SecretKey::from_slice(&b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
            .expect("ua_private");
        assert_eq!(ua.public_key(), browser.public);
    }

    #[test]
    fn fresh_messages_differ_and_keys_are_checked() {
        let browser = BrowserKeys {
            public: generate_secret().public_key(),
            auth: random_bytes(),
        };
        let a = encrypt(b"hello", &browser);
        let b = encrypt(b"hello", &browser);
        assert_eq!(a.len(), HEADER_BYTES + 5 + 1 + 16);
        assert_ne!(a, b, "a fresh salt and key per message");
        let p256dh = encode_b64url(&uncompressed(&browser.public));
        let auth = encode_b64url(&browser.auth);
        assert!(BrowserKeys::parse(&p256dh, &auth).is_ok());
        assert!(BrowserKeys::parse(&format!("{p256dh}="), &auth).is_ok());
        // Off the curve: the last byte of y changed.
        let mut bent = uncompressed(&browser.public);
        bent[64] ^= 1;
        assert_eq!(
            BrowserKeys::parse(&encode_b64url(&bent), &auth).err(),
            Some(KeyError::BadPublicKey)
        );
        // Compressed points and wrong lengths are refused.
        let compressed = browser.public.to_sec1_point(true);
        assert_eq!(
            BrowserKeys::parse(&encode_b64url(compressed.as_bytes()), &auth).err(),
            Some(KeyError::BadPublicKey)
        );
        assert_eq!(
            BrowserKeys::parse(&p256dh, "AAAA").err(),
            Some(KeyError::BadAuth)
        );
        assert_eq!(
            BrowserKeys::parse("!!", &auth).err(),
            Some(KeyError::BadPublicKey)
        );
    }
}
