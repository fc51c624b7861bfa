//! Secrets handed to clients (session ids, CSRF tokens, API tokens): 256 random bits from the OS, as hex,
//! and the SHA-256 digest under which the server stores the ones that grant access.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new random secret: 32 bytes from the OS, hex-encoded (64 characters).
pub fn new_secret() -> String {
    let mut bytes = [0_u8; 32];
    // The OS random source does not fail on the systems we run on; if it ever did, nothing could be
    // issued safely, so stop rather than hand out a predictable value.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the OS random source works");
    hex::encode(bytes)
}

/// The hex SHA-256 of `secret`: what the database keeps instead of the secret.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether `value` looks like a secret we issued (so junk is refused before any lookup).
pub fn well_formed(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_hex_and_digests_are_stable() {
        let (a, b) = (new_secret(), new_secret());
        assert!(well_formed(&a) && well_formed(&b));
        assert_ne!(a, b);
        assert_eq!(digest("abc"), digest("abc"));
        assert_ne!(digest(&a), a);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        assert!(!same("ab", "abc"));
    }
}
