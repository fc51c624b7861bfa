//! The signature of a batch: `X-Chatweb-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`,
//! keyed with the hook's secret as text (Stripe's scheme: the time is signed too, so a receiver that also
//! checks the age refuses a replayed batch). [`verify`] is what a receiver does, written out for tests and
//! the docs.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header's name.
pub const HEADER: &str = "X-Chatweb-Signature";

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header's value for `body` sent at `t` (seconds since the epoch).
pub fn header(secret: &str, t: i64, body: &[u8]) -> String {
    let digest = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(digest))
}

/// Whether `header` signs `body` with `secret` (the receiver's side; checking the age is the caller's).
/// Returns the signed time.
pub fn verify(secret: &str, header: &str, body: &[u8]) -> Option<i64> {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let t = t?;
    v1.iter()
        .any(|signature| mac(secret, t, body).verify_slice(signature).is_ok())
        .then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_tampered_body_or_time_does_not() {
        let body = br#"{"events":[]}"#;
        let signed = header("s3cret", 1_700_000_000, body);
        assert!(signed.starts_with("t=1700000000,v1="));
        assert_eq!(verify("s3cret", &signed, body), Some(1_700_000_000));
        assert_eq!(verify("other", &signed, body), None);
        assert_eq!(verify("s3cret", &signed, br#"{"events":[1]}"#), None);
        let moved = signed.replace("t=1700000000", "t=1700000001");
        assert_eq!(verify("s3cret", &moved, body), None);
        assert_eq!(verify("s3cret", "garbage", body), None);
    }
}
