//! Passwords: Argon2id PHC strings (the `argon2` crate's defaults: 19 MiB, 2 passes), hashed and verified
//! on the blocking pool so a login never stalls the runtime, and the policy a new password must meet.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::domain::Username;

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in bytes: hashing is the costly step, so its input is bounded.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a new password was refused (the text is shown on the form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_CHARS`].
    #[error("This password is too short. It must contain at least 8 characters.")]
    TooShort,
    /// Longer than [`MAX_PASSWORD_BYTES`].
    #[error("This password is too long.")]
    TooLong,
    /// The username, in any case.
    #[error("The password is too similar to the username.")]
    SameAsUsername,
    /// Digits only.
    #[error("This password is entirely numeric.")]
    Numeric,
}

/// Checks a new password against the policy.
pub fn check_policy(password: &str, username: &Username) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.to_lowercase() == username.as_str().to_lowercase() {
        return Err(PasswordError::SameAsUsername);
    }
    if password.chars().all(|c| c.is_ascii_digit()) {
        return Err(PasswordError::Numeric);
    }
    Ok(())
}

/// Hashes `password` with Argon2id and a random salt, off the runtime's threads.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// Whether `password` matches the PHC string `stored`, off the runtime's threads. A malformed or unusable
/// hash (Django's `!` prefix) never matches.
pub async fn verify(password: String, stored: String) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let stored = hash("correct horse".into()).await.expect("hash");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse".into(), stored.clone()).await);
        assert!(!verify("correct horsE".into(), stored).await);
        assert!(!verify("x".into(), "!unusable".into()).await);
        assert!(!verify("x".into(), String::new()).await);
    }

    #[test]
    fn weak_passwords_are_refused() {
        let ada = Username::parse_account("ada_lovelace").expect("name");
        assert_eq!(check_policy("short", &ada), Err(PasswordError::TooShort));
        assert_eq!(
            check_policy("ADA_LOVELACE", &ada),
            Err(PasswordError::SameAsUsername)
        );
        assert_eq!(
            check_policy("1234567890", &ada),
            Err(PasswordError::Numeric)
        );
        assert_eq!(
            check_policy(&"x".repeat(2000), &ada),
            Err(PasswordError::TooLong)
        );
        assert_eq!(check_policy("analytical engine", &ada), Ok(()));
    }
}
