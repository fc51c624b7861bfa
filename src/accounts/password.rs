//! Passwords: Argon2id PHC strings (the `argon2` crate's defaults: 19 MiB, 2 passes), hashed and verified
//! by a [`Hasher`] off the runtime's threads so a login never stalls it, and the policy a new password
//! must meet. Hashes in Django's formats (copied by `chatweb import-django`, read in `django::hashers`)
//! verify on the same threads, and a login stores the password again as ours ([`needs_rehash`]).
//!
//! The hasher has a few threads of its own rather than the blocking pool, and each thread keeps one Argon2
//! memory block (19 MiB) for every hash it computes. Letting `argon2` allocate the block per hash left the
//! process far larger for good: the allocator keeps freed 19 MiB chunks in its per-thread arenas, and 110
//! sign-ups took a node from 12 MB to 870 MB on the blocking pool, still 397 MB on two threads of its own
//! (measured here). With the block reused, two threads hold two blocks, and bound the CPU a flood of logins
//! can take; what waits beyond them is a bounded queue.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

use crate::django::hashers::{self, DjangoHash};
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

/// Threads that hash passwords.
const HASHER_THREADS: usize = 2;
/// Hashes that may wait for a thread before more are refused.
const HASHER_QUEUE: usize = 1024;
/// Most Argon2 memory a stored hash may ask for, in KiB (ours use 19 MiB; an imported one may use more).
const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// A hashing thread's Argon2 memory, kept from one hash to the next.
type Scratch = Vec<Block>;
type Job = Box<dyn FnOnce(&mut Scratch) + Send>;

/// The first `blocks` blocks of `scratch`, which grows to hold them (and never shrinks).
fn memory(scratch: &mut Scratch, blocks: usize) -> &mut [Block] {
    if scratch.len() < blocks {
        scratch.resize(blocks, Block::new());
    }
    &mut scratch[..blocks]
}

/// A new Argon2id PHC string for `password` (the `argon2` crate's default parameters).
fn hash_with(scratch: &mut Scratch, password: &[u8]) -> anyhow::Result<String> {
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness for a salt: {e}"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            memory(scratch, params.block_count()),
        )
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("{e}"))?,
        salt: Some(Salt::new(&salt).map_err(|e| anyhow::anyhow!("{e}"))?),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("{e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches `stored`: our Argon2 PHC string, or a hash in one of Django's formats
/// (imported by `chatweb import-django`: see `django::hashers`); anything else never matches.
fn verify_with(scratch: &mut Scratch, password: &[u8], stored: &str) -> bool {
    match hashers::parse(stored) {
        Some(DjangoHash::Pbkdf2Sha256 {
            iterations,
            salt,
            hash,
        }) => hashers::pbkdf2_sha256_matches(password, salt, iterations, hash),
        // argon2-cffi, which Django's Argon2 hasher uses, reads a PHC string without `v=` as version 1.0.
        Some(DjangoHash::Argon2(phc)) => {
            let matches = verify_argon2(scratch, password, phc, Version::V0x10);
            // Django's parameters ask for more memory than ours (100 MiB by default) and the login stores
            // the password again as ours: give the rest back rather than keep it for good.
            scratch.truncate(Params::default().block_count());
            scratch.shrink_to_fit();
            matches
        }
        None => verify_argon2(scratch, password, stored, Version::default()),
    }
}

/// Whether `password` matches the Argon2 PHC string `stored`; `unversioned` is the version of a string
/// without `v=`.
fn verify_argon2(
    scratch: &mut Scratch,
    password: &[u8],
    stored: &str,
    unversioned: Version,
) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(parsed.algorithm.as_str()),
        Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => unversioned,
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    if params.m_cost() > MAX_MEMORY_KIB {
        return false;
    }
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    argon2
        .hash_password_into_with_memory(password, &salt, &mut out, memory(scratch, blocks))
        .is_ok()
        && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// Whether a login that matched `stored` should store the password again as our Argon2id hash: it is in
/// one of Django's formats, as Django upgrades a hash whose hasher is not its first.
pub fn needs_rehash(stored: &str) -> bool {
    hashers::is_django(stored)
}

/// A few threads that hash and verify passwords (see the module's note on memory).
pub struct Hasher {
    jobs: std::sync::mpsc::SyncSender<Job>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new(HASHER_THREADS)
    }
}

impl Hasher {
    /// A hasher on `threads` threads of its own; they end when it is dropped.
    pub fn new(threads: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(HASHER_QUEUE);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("chatweb-argon2-{n}"))
                .spawn(move || {
                    let mut scratch = Scratch::new();
                    loop {
                        // The lock is held only while waiting for the next job, never while hashing.
                        let job = queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match job {
                            Ok(job) => job(&mut scratch),
                            Err(_) => return, // the hasher was dropped
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password hashing thread");
            }
        }
        Self { jobs }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Scratch) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .try_send(Box::new(move |scratch: &mut Scratch| {
                let _ = reply.send(work(scratch));
            }))
            .map_err(|_| anyhow::anyhow!("too many password checks at once; try again"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the password hashing thread stopped"))
    }

    /// Hashes `password` with Argon2id and a random salt.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.run(move |scratch| hash_with(scratch, password.as_bytes()))
            .await?
    }

    /// Whether `password` matches the PHC string `stored`. A malformed or unusable hash (Django's `!`
    /// prefix) never matches.
    pub async fn verify(&self, password: String, stored: String) -> anyhow::Result<bool> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        self.run(move |scratch| verify_with(scratch, password.as_bytes(), &stored))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = Hasher::default();
        let stored = hasher.hash("correct horse".into()).await.expect("hash");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        let verify =
            |password: &str, stored: &str| hasher.verify(password.to_owned(), stored.to_owned());
        assert!(verify("correct horse", &stored).await.expect("verify"));
        assert!(!verify("correct horsE", &stored).await.expect("verify"));
        assert!(!verify("x", "!unusable").await.expect("verify"));
        assert!(!verify("x", "").await.expect("verify"));
    }

    #[tokio::test]
    async fn our_hashes_and_the_crates_agree_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let hasher = Hasher::default();
        let ours = hasher.hash("analytical engine".into()).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(
            Argon2::default()
                .verify_password(b"analytical engine", &parsed)
                .is_ok()
        );
        let theirs = Argon2::default()
            .hash_password(b"difference engine")
            .expect("hash")
            .to_string();
        assert!(
            hasher
                .verify("difference engine".into(), theirs.clone())
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify("difference engines".into(), theirs)
                .await
                .expect("verify")
        );
        // A stored hash asking for more memory than allowed never matches (and allocates nothing).
        let greedy = ours.replace("m=19456", "m=4000000");
        assert!(
            !hasher
                .verify("analytical engine".into(), greedy)
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn djangos_hashes_verify_on_the_hasher_threads_and_ask_to_be_stored_again() {
        let hasher = Hasher::default();
        let verify =
            |password: &str, stored: &str| hasher.verify(password.to_owned(), stored.to_owned());
        // Django's own test vectors (tests/auth_tests/test_hashers.py: test_pbkdf2, test_argon2).
        let pbkdf2 = "pbkdf2_sha256$870000$seasalt$wJSpLMQRQz0Dhj/pFpbyjMj71B2gUYp6HJS5AU+32Ac=";
        let argon2_v19 = "argon2$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q";
        let argon2_unversioned = "argon2$argon2i$m=8,t=1,p=1$c29tZXNhbHQ$gwQOXSNhxiOxPOA0+PY10P9QFO\
                                  4NAYysnqRt1GSQLE55m+2GYDt9FEjPMHhP2Cuf0nOEXXMocVrsJAtNSsKyfg";
        assert!(verify("lètmein", pbkdf2).await.expect("verify"));
        assert!(!verify("lètmeinz", pbkdf2).await.expect("verify"));
        for stored in [argon2_v19, argon2_unversioned] {
            assert!(verify("secret", stored).await.expect("verify"), "{stored}");
            assert!(!verify("wrong", stored).await.expect("verify"), "{stored}");
            assert!(needs_rehash(stored));
        }
        // An Argon2id hash in Django's format, made by the argon2 crate itself.
        use argon2::password_hash::PasswordHasher;
        let theirs = Argon2::default()
            .hash_password(b"difference engine")
            .expect("hash")
            .to_string();
        let django = format!("argon2{theirs}");
        assert!(verify("difference engine", &django).await.expect("verify"));
        assert!(!verify("difference engines", &django).await.expect("verify"));
        assert!(needs_rehash(pbkdf2) && needs_rehash(&django));
        // Django's unusable passwords never match; our own hashes are not stored again.
        assert!(!verify("", "!").await.expect("verify"));
        assert!(
            !verify("lètmein", &format!("!{pbkdf2}"))
                .await
                .expect("verify")
        );
        let ours = hasher.hash("lètmein".into()).await.expect("hash");
        assert!(!needs_rehash(&ours) && !needs_rehash("!") && !needs_rehash(""));
    }

    #[tokio::test]
    async fn many_hashes_at_once_all_finish_on_the_few_threads() {
        let hasher = std::sync::Arc::new(Hasher::new(2));
        let mut all = tokio::task::JoinSet::new();
        for i in 0..8 {
            let hasher = hasher.clone();
            all.spawn(async move { hasher.hash(format!("password {i}")).await });
        }
        let mut done = 0;
        while let Some(hash) = all.join_next().await {
            assert!(hash.expect("task").expect("hash").starts_with("$argon2id$"));
            done += 1;
        }
        assert_eq!(done, 8);
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
