//! Accounts (Django's `django.contrib.auth`, done for a chat server): users with Argon2id passwords,
//! server-side sessions in the database (so every node sees them), API tokens for programs, login
//! throttling, CSRF protection, and the [`Identity`] every page and socket is served to. Revoking a
//! credential (logout, deactivation, a revoked token) closes the sockets it opened, on every node.

pub mod cookies;
pub mod csrf;
pub mod guest_id;
mod identity;
pub mod password;
pub mod revocation;
pub mod secret;
mod throttle;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};

pub use guest_id::GuestId;
pub use identity::{Credential, Guest, Identity, SignedIn, nickname};
pub use password::PasswordError;
pub use revocation::{Revocations, Watch};

use crate::domain::{Username, UsernameError};
use crate::limits::AddressKey;
use crate::storage::{Db, NewUser, StoreError, TokenRow, UserRow, now_ms};
use cookies::{CookieOptions, SESSION_COOKIE, over_https, set_cookie};
use throttle::{LoginThrottle, ThrottleKey};

/// A bot's password hash: Django's mark of an unusable password, which never verifies.
const UNUSABLE_PASSWORD: &str = "!";

/// API tokens start with this, so secret scanners and people can tell them apart.
pub const TOKEN_PREFIX: &str = "cwt_";

/// How accounts behave (from the node's config).
#[derive(Clone, Debug)]
pub struct AccountSettings {
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// Mark cookies `Secure` even when the request did not say it came over https.
    pub secure_cookies: bool,
    /// Visitors without an account may chat under a nickname.
    pub guests: bool,
    /// Failed logins (per username or address) before further attempts wait.
    pub login_failures: u32,
    /// How long they wait.
    pub login_lockout: Duration,
}

/// Why an account operation failed. The text is written for the person at the form.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The username is not acceptable.
    #[error(transparent)]
    Username(#[from] UsernameError),
    /// The password does not meet the policy.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The two password fields differ.
    #[error("The two password fields didn't match.")]
    PasswordMismatch,
    /// Someone has the name already (in any case).
    #[error("A user with that username already exists.")]
    UsernameTaken,
    /// Wrong username or password, or an inactive account (which is not told apart).
    #[error(
        "Please enter a correct username and password. Note that both fields may be case-sensitive."
    )]
    InvalidCredentials,
    /// Too many failed logins.
    #[error("Too many failed login attempts. Try again in {} seconds.", .0.as_secs().max(1))]
    Throttled(Duration),
    /// No such user or token.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database failed.
    #[error("the database failed: {0}")]
    Store(#[from] StoreError),
    /// Anything else (hashing failed).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The accounts service: cheap to clone, shared by every handler and connection.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    settings: AccountSettings,
    throttle: LoginThrottle,
    revocations: Arc<Revocations>,
    /// A hash verified when a login names no user, so both cases take as long.
    dummy_hash: tokio::sync::OnceCell<String>,
    /// The NFKC keys of accounts stored while names were NFC only whose stored key differs from it (a
    /// fullwidth `ａｄｍｉｎ`): read once, on first need. Nothing adds to it afterwards, since every name
    /// stored since is NFKC and keyed as such.
    legacy_keys: tokio::sync::OnceCell<HashSet<String>>,
    /// The threads that hash passwords.
    hasher: password::Hasher,
}

impl Accounts {
    /// Accounts on `db`.
    pub fn new(db: Db, settings: AccountSettings) -> Self {
        let throttle = LoginThrottle::new(settings.login_failures, settings.login_lockout);
        Self {
            inner: Arc::new(Inner {
                db,
                settings,
                throttle,
                revocations: Arc::new(Revocations::default()),
                dummy_hash: tokio::sync::OnceCell::new(),
                legacy_keys: tokio::sync::OnceCell::new(),
                hasher: password::Hasher::default(),
            }),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The settings.
    pub fn settings(&self) -> &AccountSettings {
        &self.inner.settings
    }

    /// This node's signed-in connections.
    pub fn revocations(&self) -> Arc<Revocations> {
        self.inner.revocations.clone()
    }

    /// Creates a user (a sign-up, the admin, `createsuperuser`).
    pub async fn create_user(
        &self,
        username: &str,
        email: &str,
        password: &str,
        is_staff: bool,
    ) -> Result<UserRow, AccountError> {
        let name = Username::parse_account(username)?;
        // Named first, as Django does; the unique index still decides a race.
        if self.name_taken(&name).await? {
            return Err(AccountError::UsernameTaken);
        }
        password::check_policy(password, &name)?;
        let hash = self.inner.hasher.hash(password.to_owned()).await?;
        let key = name.key();
        let new = NewUser {
            username: name.as_str(),
            username_key: &key,
            email: email.trim(),
            password_hash: &hash,
            is_staff,
            is_bot: false,
        };
        let id = self
            .inner
            .db
            .create_user(&new, now_ms())
            .await?
            .ok_or(AccountError::UsernameTaken)?;
        self.user(id).await
    }

    /// Creates a bot account: it has no usable password (Django's `!` hash never verifies, and the login
    /// refuses bots besides), so it signs in only with the API tokens made for it.
    pub async fn create_bot(&self, username: &str) -> Result<UserRow, AccountError> {
        let name = Username::parse_account(username)?;
        if self.name_taken(&name).await? {
            return Err(AccountError::UsernameTaken);
        }
        let key = name.key();
        let new = NewUser {
            username: name.as_str(),
            username_key: &key,
            email: "",
            password_hash: UNUSABLE_PASSWORD,
            is_staff: false,
            is_bot: true,
        };
        let id = self
            .inner
            .db
            .create_user(&new, now_ms())
            .await?
            .ok_or(AccountError::UsernameTaken)?;
        self.user(id).await
    }

    /// A sign-up: the two passwords must match.
    pub async fn sign_up(
        &self,
        username: &str,
        password1: &str,
        password2: &str,
    ) -> Result<UserRow, AccountError> {
        Username::parse_account(username)?;
        if password1 != password2 {
            return Err(AccountError::PasswordMismatch);
        }
        self.create_user(username, "", password1, false).await
    }

    /// The user with id `id`.
    pub async fn user(&self, id: i64) -> Result<UserRow, AccountError> {
        self.inner
            .db
            .user_by_id(id)
            .await?
            .ok_or(AccountError::NotFound("user"))
    }

    /// The user named `username` (in any case).
    pub async fn user_named(&self, username: &str) -> Result<UserRow, AccountError> {
        let name = Username::parse_account(username).map_err(|_| AccountError::NotFound("user"))?;
        self.find(username, &name)
            .await?
            .ok_or(AccountError::NotFound("user"))
    }

    /// The account `typed` names (parsed: `name`): the one stored under the key the name had while names
    /// were NFC only, if any (an account of that time keeps its exact name), else the one of its NFKC key.
    async fn find(&self, typed: &str, name: &Username) -> Result<Option<UserRow>, AccountError> {
        Ok(self.inner.db.user_named(typed, name).await?)
    }

    /// Whether an account has `name` (in any case), its NFKC form included for accounts stored before
    /// names were NFKC.
    async fn name_taken(&self, name: &Username) -> Result<bool, AccountError> {
        let key = name.key();
        if self.inner.db.username_taken(&key).await? {
            return Ok(true);
        }
        let legacy = self
            .inner
            .legacy_keys
            .get_or_try_init(|| async {
                let keys = self.inner.db.non_ascii_username_keys().await?;
                Ok::<_, StoreError>(
                    keys.into_iter()
                        .map(|stored| (Username::from_stored(&stored).key(), stored))
                        .filter(|(nfkc, stored)| nfkc != stored)
                        .map(|(nfkc, _)| nfkc)
                        .collect(),
                )
            })
            .await?;
        Ok(legacy.contains(&key))
    }

    /// Checks a login attempt from `client`: the active user whose password this is. The attempt takes a
    /// throttle slot of the username and of the address before the password is verified (see
    /// `throttle.rs`), so attempts beyond `--login-failures` get [`AccountError::Throttled`] unhashed.
    pub async fn log_in(
        &self,
        username: &str,
        password: &str,
        client: AddressKey,
    ) -> Result<UserRow, AccountError> {
        let name = Username::parse_account(username).ok();
        let key = name
            .as_ref()
            .map_or_else(|| username.to_lowercase(), Username::key);
        let attempt = self
            .inner
            .throttle
            .begin(ThrottleKey::user(&key), ThrottleKey::address(client))
            .map_err(AccountError::Throttled)?;
        // A name no account can have needs no lookup (and an over-long one no query).
        let user = match &name {
            Some(name) => self.find(username, name).await?,
            None => None,
        };
        let stored = match &user {
            Some(user) => user.password_hash.clone(),
            None => self.dummy_hash().await?,
        };
        let matches = self
            .inner
            .hasher
            .verify(password.to_owned(), stored.clone())
            .await?;
        match user {
            // A bot never logs in with a password, whatever its hash says.
            Some(user) if matches && user.is_active && !user.is_bot => {
                attempt.succeeded();
                self.inner.db.touch_login(user.id, now_ms()).await?;
                // A failure leaves the Django hash, which still verifies: the login goes on.
                if password::needs_rehash(&stored)
                    && let Err(error) = self.rehash(user.id, password).await
                {
                    tracing::warn!(%error, user = %user.username, "a Django password hash stays");
                }
                Ok(user)
            }
            _ => {
                attempt.failed();
                Err(AccountError::InvalidCredentials)
            }
        }
    }

    /// Stores `password` again as our Argon2id hash (it verified against a Django hash), as Django upgrades
    /// hashes at login.
    async fn rehash(&self, user_id: i64, password: &str) -> Result<(), AccountError> {
        let hash = self.inner.hasher.hash(password.to_owned()).await?;
        self.inner.db.set_password_hash(user_id, &hash).await?;
        Ok(())
    }

    async fn dummy_hash(&self) -> Result<String, AccountError> {
        let hash = self
            .inner
            .dummy_hash
            .get_or_try_init(|| self.inner.hasher.hash(secret::new_secret()))
            .await?;
        Ok(hash.clone())
    }

    /// Starts a session for `user_id` and returns its id (the cookie's value). A session the client
    /// already held is ended first: a login always gets a fresh id.
    pub async fn start_session(
        &self,
        user_id: i64,
        replacing: Option<&str>,
    ) -> Result<String, AccountError> {
        if let Some(old) = replacing.filter(|s| secret::well_formed(s)) {
            self.end_session(old).await?;
        }
        let session = secret::new_secret();
        let now = now_ms();
        let ttl = i64::try_from(self.inner.settings.session_ttl.as_millis()).unwrap_or(i64::MAX);
        self.inner
            .db
            .create_session(
                &secret::digest(&session),
                user_id,
                now,
                now.saturating_add(ttl),
            )
            .await?;
        Ok(session)
    }

    /// Ends a session (logout): its cookie stops working and its sockets close, on every node.
    pub async fn end_session(&self, session: &str) -> Result<(), AccountError> {
        if !secret::well_formed(session) {
            return Ok(());
        }
        let hash = secret::digest(session);
        if let Some(user_id) = self.inner.db.delete_session(&hash).await? {
            self.revoke(user_id, &format!("s:{hash}")).await?;
        }
        Ok(())
    }

    /// The user a session cookie signs in, if it is live.
    pub async fn session_user(&self, session: &str) -> Result<Option<SignedIn>, AccountError> {
        if !secret::well_formed(session) {
            return Ok(None);
        }
        let hash = secret::digest(session);
        let user = self.inner.db.session_user(&hash, now_ms()).await?;
        Ok(user.map(|u| signed_in(&u, Credential::Session(hash))))
    }

    /// The user an API token signs in, if it is live.
    pub async fn token_user(&self, token: &str) -> Result<Option<SignedIn>, AccountError> {
        let Some(raw) = token
            .strip_prefix(TOKEN_PREFIX)
            .filter(|t| secret::well_formed(t))
        else {
            return Ok(None);
        };
        let found = self.inner.db.token_user(&secret::digest(raw)).await?;
        Ok(found.map(|(id, u)| signed_in(&u, Credential::Token(id))))
    }

    /// Whether a registered user has this name (in any case or width): a guest may not use it.
    pub async fn name_registered(&self, name: &Username) -> Result<bool, AccountError> {
        self.name_taken(name).await
    }

    /// Activates or deactivates a user. Deactivation ends their sessions and closes their sockets with
    /// 4403 on every node; their tokens stop working.
    pub async fn set_active(&self, user_id: i64, active: bool) -> Result<(), AccountError> {
        if !self.inner.db.set_active(user_id, active).await? {
            return Err(AccountError::NotFound("user"));
        }
        if !active {
            self.inner.db.delete_sessions_of(user_id).await?;
            self.revoke(user_id, "").await?;
        }
        Ok(())
    }

    /// Grants or takes away staff rights, on open sockets too: every node applies the log entry to the
    /// user's connections within a poll.
    pub async fn set_staff(&self, user_id: i64, staff: bool) -> Result<(), AccountError> {
        if !self.inner.db.set_staff(user_id, staff).await? {
            return Err(AccountError::NotFound("user"));
        }
        self.revoke(user_id, revocation::staff_entry(staff)).await
    }

    /// Makes a user a bot (their sessions end: a bot signs in by token only) or a person again. Sockets
    /// open now keep what they were until they reconnect.
    pub async fn set_bot(&self, user_id: i64, bot: bool) -> Result<(), AccountError> {
        if !self.inner.db.set_bot(user_id, bot).await? {
            return Err(AccountError::NotFound("user"));
        }
        if bot {
            self.inner.db.delete_sessions_of(user_id).await?;
            self.revoke(user_id, "s").await?;
        }
        Ok(())
    }

    /// Sets a new password; every session of the user ends (tokens stay).
    pub async fn set_password(&self, user_id: i64, password: &str) -> Result<(), AccountError> {
        let user = self.user(user_id).await?;
        password::check_policy(password, &Username::from_stored(&user.username))?;
        let hash = self.inner.hasher.hash(password.to_owned()).await?;
        self.inner.db.set_password_hash(user_id, &hash).await?;
        self.inner.db.delete_sessions_of(user_id).await?;
        self.revoke(user_id, "s").await
    }

    /// Creates an API token for `user_id`; returns its id and its value, which is shown once and never
    /// stored.
    pub async fn create_token(
        &self,
        user_id: i64,
        name: &str,
    ) -> Result<(i64, String), AccountError> {
        self.user(user_id).await?;
        let raw = secret::new_secret();
        let name = if name.trim().is_empty() {
            "token"
        } else {
            name.trim()
        };
        let id = self
            .inner
            .db
            .create_token(user_id, name, &secret::digest(&raw), now_ms())
            .await?;
        Ok((id, format!("{TOKEN_PREFIX}{raw}")))
    }

    /// Revokes token `id`: it stops working and the sockets it opened close, on every node. Returns the
    /// token's owner (for the audit row).
    pub async fn revoke_token(&self, id: i64) -> Result<UserRow, AccountError> {
        let owner = self
            .inner
            .db
            .revoke_token(id, now_ms())
            .await?
            .ok_or(AccountError::NotFound("live token"))?;
        self.revoke(owner, &format!("t:{id}")).await?;
        self.user(owner).await
    }

    /// The tokens of a user (all users' when `None`).
    pub async fn tokens(&self, user_id: Option<i64>) -> Result<Vec<TokenRow>, AccountError> {
        Ok(self.inner.db.tokens(user_id).await?)
    }

    /// Logs a revocation for every node and applies it here at once.
    async fn revoke(&self, user_id: i64, credential: &str) -> Result<(), AccountError> {
        self.inner
            .db
            .log_revocation(user_id, credential, now_ms())
            .await?;
        self.inner.revocations.apply(user_id, credential);
        Ok(())
    }

    /// The `Set-Cookie` value that hands a browser its session.
    pub fn session_cookie(&self, session: &str, request: &HeaderMap) -> HeaderValue {
        let options = CookieOptions {
            max_age: self.inner.settings.session_ttl.as_secs(),
            http_only: true,
            secure: self.secure(request),
        };
        set_cookie(SESSION_COOKIE, session, options)
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_session_cookie(&self, request: &HeaderMap) -> HeaderValue {
        let options = CookieOptions {
            max_age: 0,
            http_only: true,
            secure: self.secure(request),
        };
        set_cookie(SESSION_COOKIE, "", options)
    }

    /// Whether cookies for this request are marked `Secure`.
    pub fn secure(&self, request: &HeaderMap) -> bool {
        self.inner.settings.secure_cookies || over_https(request)
    }
}

fn signed_in(user: &UserRow, credential: Credential) -> SignedIn {
    SignedIn {
        id: user.id,
        name: Username::from_stored(&user.username),
        is_staff: user.is_staff,
        is_bot: user.is_bot,
        credential,
    }
}
