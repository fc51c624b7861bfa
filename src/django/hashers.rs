//! Django's password hash formats, as `auth_user.password` holds them after an import, so that people log
//! in with the password they had: `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` (Django's default
//! hasher) is verified here; `argon2$<PHC string>` (Django's `Argon2PasswordHasher`) is handed back as the
//! PHC string for the Argon2 code in `accounts::password`. Anything else, Django's unusable `!...`
//! passwords included, is no Django hash and never matches there either. A successful login stores the
//! password again as our own Argon2id hash ([`is_django`] says when), as Django upgrades hashes.
//! See <https://docs.djangoproject.com/en/stable/topics/auth/passwords/#how-django-stores-passwords>.

use base64ct::{Base64, Encoding};
use subtle::ConstantTimeEq;

/// Most PBKDF2 iterations a stored hash may ask for: bounds the CPU one login can take (Django 5.2 uses
/// 1,000,000).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// A stored Django hash, as far as it is parsed before verifying.
#[derive(Debug, PartialEq, Eq)]
pub enum DjangoHash<'a> {
    /// `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`.
    Pbkdf2Sha256 {
        /// PBKDF2 iterations.
        iterations: u32,
        /// The salt, used as its UTF-8 bytes.
        salt: &'a str,
        /// The standard-base64 derived key.
        hash: &'a str,
    },
    /// `argon2$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>`: the PHC string after the `argon2` prefix. A
    /// missing `v=` means Argon2 version 1.0 (0x10), as argon2-cffi reads it.
    Argon2(&'a str),
}

/// Recognises a Django hash; `None` for anything else (our own `$argon2id$...`, `!` unusable, "").
pub fn parse(stored: &str) -> Option<DjangoHash<'_>> {
    if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        let mut parts = rest.splitn(3, '$');
        let (Some(iterations), Some(salt), Some(hash)) = (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let iterations = iterations.parse().ok().filter(|&n| n > 0)?;
        return Some(DjangoHash::Pbkdf2Sha256 {
            iterations,
            salt,
            hash,
        });
    }
    let phc = stored.strip_prefix("argon2")?;
    phc.starts_with("$argon2")
        .then_some(DjangoHash::Argon2(phc))
}

/// Whether `stored` is in one of Django's formats (and so is stored again as ours after a login).
pub fn is_django(stored: &str) -> bool {
    parse(stored).is_some()
}

/// Whether `password` derives `hash` (standard base64) under PBKDF2-HMAC-SHA256 with `salt` and
/// `iterations`, compared in constant time. Too many iterations or a malformed hash never match.
pub fn pbkdf2_sha256_matches(password: &[u8], salt: &str, iterations: u32, hash: &str) -> bool {
    if iterations > MAX_PBKDF2_ITERATIONS {
        return false;
    }
    let Ok(expected) = Base64::decode_vec(hash) else {
        return false;
    };
    // Django derives a key as long as SHA-256's output; a stored one of another length is not its own.
    if expected.len() != 32 {
        return false;
    }
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt.as_bytes(), iterations, &mut derived);
    bool::from(derived.as_slice().ct_eq(&expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Django's own test vector (tests/auth_tests/test_hashers.py, `test_pbkdf2`, Django 5.1).
    const DJANGO_PBKDF2: &str =
        "pbkdf2_sha256$870000$seasalt$wJSpLMQRQz0Dhj/pFpbyjMj71B2gUYp6HJS5AU+32Ac=";

    fn pbkdf2_matches(password: &str, stored: &str) -> bool {
        match parse(stored) {
            Some(DjangoHash::Pbkdf2Sha256 {
                iterations,
                salt,
                hash,
            }) => pbkdf2_sha256_matches(password.as_bytes(), salt, iterations, hash),
            _ => false,
        }
    }

    #[test]
    fn djangos_pbkdf2_vector_verifies_its_password_and_no_other() {
        assert!(pbkdf2_matches("lètmein", DJANGO_PBKDF2));
        assert!(!pbkdf2_matches("lètmeinz", DJANGO_PBKDF2));
        assert!(!pbkdf2_matches("letmein", DJANGO_PBKDF2));
    }

    #[test]
    fn only_djangos_formats_are_recognised() {
        assert!(is_django(DJANGO_PBKDF2));
        assert_eq!(
            parse("argon2$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q"),
            Some(DjangoHash::Argon2(
                "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q"
            ))
        );
        for other in [
            "",
            "!",
            "!pbkdf2_sha256$870000$seasalt$x",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            "pbkdf2_sha256$0$seasalt$x",
            "pbkdf2_sha256$many$seasalt$x",
            "pbkdf2_sha256$870000$seasalt",
            "argon2",
            "md5$seasalt$x",
        ] {
            assert!(!is_django(other), "{other:?}");
        }
    }

    #[test]
    fn a_malformed_or_greedy_pbkdf2_hash_never_matches() {
        assert!(!pbkdf2_matches(
            "lètmein",
            "pbkdf2_sha256$870000$seasalt$not base64!"
        ));
        // A valid key of the wrong length.
        assert!(!pbkdf2_matches("lètmein", "pbkdf2_sha256$1$seasalt$AAAA"));
        let greedy = format!("pbkdf2_sha256${}$seasalt$AAAA", MAX_PBKDF2_ITERATIONS + 1);
        assert!(!pbkdf2_matches("lètmein", &greedy));
    }
}
