//! The SQL of accounts: users, server-side sessions, API tokens and the revocation log every node polls.
//! One text per query for both engines (see [`Db`]). Secrets never reach this layer: sessions and tokens
//! are looked up by the SHA-256 of their value.

use super::{Db, StoreError, on_db};

/// A user as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    /// The user's id.
    pub id: i64,
    /// The name as registered (NFKC; NFC for accounts made before names were NFKC).
    pub username: String,
    /// Optional email ("" when none).
    pub email: String,
    /// The Argon2id PHC string.
    pub password_hash: String,
    /// May use the admin.
    pub is_staff: bool,
    /// May log in; deactivated users are refused everywhere.
    pub is_active: bool,
    /// When the account was created, ms since the epoch.
    pub created_at: i64,
    /// The last successful login, ms since the epoch.
    pub last_login: Option<i64>,
    /// A bot: signs in by API token only, never by password; its messages say `"bot": true`.
    pub is_bot: bool,
}

type UserTuple = (
    i64,
    String,
    String,
    String,
    bool,
    bool,
    i64,
    Option<i64>,
    bool,
);

fn user(
    (id, username, email, password_hash, is_staff, is_active, created_at, last_login, is_bot): UserTuple,
) -> UserRow {
    UserRow {
        id,
        username,
        email,
        password_hash,
        is_staff,
        is_active,
        created_at,
        last_login,
        is_bot,
    }
}

const USER_COLUMNS: &str = "u.id, u.username, u.email, u.password_hash, u.is_staff, u.is_active, u.created_at, u.last_login, u.is_bot";

/// A new user.
pub struct NewUser<'a> {
    /// The name (already validated and NFKC).
    pub username: &'a str,
    /// Its collision key (`Username::key`: NFKC, lowercase).
    pub username_key: &'a str,
    /// Optional email.
    pub email: &'a str,
    /// The Argon2id PHC string.
    pub password_hash: &'a str,
    /// May use the admin.
    pub is_staff: bool,
    /// A bot account (its `password_hash` is unusable).
    pub is_bot: bool,
}

/// An API token as listed (never its value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    /// The token's id.
    pub id: i64,
    /// Its owner.
    pub user_id: i64,
    /// What it is for.
    pub name: String,
    /// When it was created, ms since the epoch.
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// A credential that stopped working, as every node reads it from the revocation log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthEvent {
    /// Position in the log.
    pub id: i64,
    /// Whose credential.
    pub user_id: i64,
    /// `""` for every credential of the user, `s:<session hash>` or `t:<token id>` for one.
    pub credential: String,
}

fn sql(text: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text.to_owned())
}

impl Db {
    /// Creates a user; `Ok(None)` when the name (case-insensitively) is taken.
    pub async fn create_user(
        &self,
        new: &NewUser<'_>,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let inserted: Result<i64, sqlx::Error> = on_db!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO users (username, username_key, email, password_hash, is_staff, is_active, created_at, is_bot) \
                 VALUES ($1, $2, $3, $4, $5, true, $6, $7) RETURNING id",
            )
            .bind(new.username)
            .bind(new.username_key)
            .bind(new.email)
            .bind(new.password_hash)
            .bind(new.is_staff)
            .bind(now_ms)
            .bind(new.is_bot)
            .fetch_one(pool)
            .await
        });
        match inserted {
            Ok(id) => Ok(Some(id)),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The user whose name has collision key `key`.
    pub async fn user_by_key(&self, key: &str) -> Result<Option<UserRow>, StoreError> {
        let query = sql(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.username_key = $1"
        ));
        let row: Option<UserTuple> = on_db!(self, |pool| {
            sqlx::query_as(query).bind(key).fetch_optional(pool).await?
        });
        Ok(row.map(user))
    }

    /// The account `typed` names (parsed: `name`): the one stored under the key the name had while names
    /// were NFC only, if any (an account of that time keeps its exact name), else the one of its NFKC key.
    /// Every lookup of an account by a name someone typed goes through here.
    pub async fn user_named(
        &self,
        typed: &str,
        name: &crate::domain::Username,
    ) -> Result<Option<UserRow>, StoreError> {
        let key = name.key();
        let legacy = crate::domain::Username::legacy_key(typed);
        if legacy != key
            && let Some(user) = self.user_by_key(&legacy).await?
        {
            return Ok(Some(user));
        }
        self.user_by_key(&key).await
    }

    /// The user with id `id`.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, StoreError> {
        let query = sql(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
        ));
        let row: Option<UserTuple> = on_db!(self, |pool| {
            sqlx::query_as(query).bind(id).fetch_optional(pool).await?
        });
        Ok(row.map(user))
    }

    /// The collision keys that hold a character outside ASCII: the only ones that can belong to an account
    /// stored while names were NFC only and differ from their NFKC form (`Username::legacy_key`).
    pub async fn non_ascii_username_keys(&self) -> Result<Vec<String>, StoreError> {
        let keys = on_db!(self, |pool| {
            sqlx::query_scalar(
                "SELECT username_key FROM users WHERE LENGTH(username_key) <> OCTET_LENGTH(username_key)",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(keys)
    }

    /// Whether a registered name has collision key `key` (for guests' nicknames).
    pub async fn username_taken(&self, key: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = on_db!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM users WHERE username_key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.is_some())
    }

    /// Users whose name or email contains `search` (all when empty), by name, one page.
    pub async fn users(
        &self,
        search: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<UserRow>, i64), StoreError> {
        let pattern = like_pattern(search);
        let query = sql(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.username_key LIKE $1 ESCAPE '\\' \
             OR lower(u.email) LIKE $1 ESCAPE '\\' ORDER BY u.username_key LIMIT $2 OFFSET $3"
        ));
        let rows: Vec<UserTuple> = on_db!(self, |pool| {
            sqlx::query_as(query)
                .bind(&pattern)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?
        });
        let total: i64 = on_db!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM users u WHERE u.username_key LIKE $1 ESCAPE '\\' \
                 OR lower(u.email) LIKE $1 ESCAPE '\\'",
            )
            .bind(&pattern)
            .fetch_one(pool)
            .await?
        });
        Ok((rows.into_iter().map(user).collect(), total))
    }

    /// Sets whether user `id` is active; returns whether the user exists.
    pub async fn set_active(&self, id: i64, active: bool) -> Result<bool, StoreError> {
        self.set_user_flag("UPDATE users SET is_active = $1 WHERE id = $2", id, active)
            .await
    }

    /// Sets whether user `id` is staff; returns whether the user exists.
    pub async fn set_staff(&self, id: i64, staff: bool) -> Result<bool, StoreError> {
        self.set_user_flag("UPDATE users SET is_staff = $1 WHERE id = $2", id, staff)
            .await
    }

    /// Makes user `id` a bot or a person again; false when there is no such user.
    pub async fn set_bot(&self, id: i64, bot: bool) -> Result<bool, StoreError> {
        self.set_user_flag("UPDATE users SET is_bot = $1 WHERE id = $2", id, bot)
            .await
    }

    async fn set_user_flag(
        &self,
        query: &'static str,
        id: i64,
        value: bool,
    ) -> Result<bool, StoreError> {
        let done = on_db!(self, |pool| {
            sqlx::query(query)
                .bind(value)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Replaces user `id`'s password hash; returns whether the user exists.
    pub async fn set_password_hash(&self, id: i64, hash: &str) -> Result<bool, StoreError> {
        let done = on_db!(self, |pool| {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(hash)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Records a successful login.
    pub async fn touch_login(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE users SET last_login = $1 WHERE id = $2")
                .bind(now_ms)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Stores a session (by the hash of its id) for `user_id` until `expires_at`.
    pub async fn create_session(
        &self,
        key_hash: &str,
        user_id: i64,
        now_ms: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO sessions (key_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(key_hash)
            .bind(user_id)
            .bind(now_ms)
            .bind(expires_at)
            .execute(pool)
            .await?
                .rows_affected()
        });
        Ok(())
    }

    /// The active user of an unexpired session.
    pub async fn session_user(
        &self,
        key_hash: &str,
        now_ms: i64,
    ) -> Result<Option<UserRow>, StoreError> {
        let query = sql(&format!(
            "SELECT {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.key_hash = $1 AND s.expires_at > $2 AND u.is_active"
        ));
        let row: Option<UserTuple> = on_db!(self, |pool| {
            sqlx::query_as(query)
                .bind(key_hash)
                .bind(now_ms)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(user))
    }

    /// Deletes a session; returns its user when it existed.
    pub async fn delete_session(&self, key_hash: &str) -> Result<Option<i64>, StoreError> {
        let user: Option<i64> = on_db!(self, |pool| {
            sqlx::query_scalar("DELETE FROM sessions WHERE key_hash = $1 RETURNING user_id")
                .bind(key_hash)
                .fetch_optional(pool)
                .await?
        });
        Ok(user)
    }

    /// Deletes every session of `user_id` (deactivation, a new password).
    pub async fn delete_sessions_of(&self, user_id: i64) -> Result<u64, StoreError> {
        let done = on_db!(self, |pool| {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }

    /// Deletes expired sessions and revocation entries older than `log_before`.
    pub async fn purge(&self, now_ms: i64, log_before: i64) -> Result<u64, StoreError> {
        let sessions = on_db!(self, |pool| {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        on_db!(self, |pool| {
            sqlx::query("DELETE FROM auth_events WHERE at < $1")
                .bind(log_before)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(sessions)
    }

    /// Stores a new API token (by hash) for `user_id`; returns its id.
    pub async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let id = on_db!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(user_id)
            .bind(name)
            .bind(token_hash)
            .bind(now_ms)
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    /// The active user of an unrevoked token, with the token's id.
    pub async fn token_user(&self, token_hash: &str) -> Result<Option<(i64, UserRow)>, StoreError> {
        let query = sql(&format!(
            "SELECT t.id, {USER_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.is_active"
        ));
        type Joined = (
            i64,
            i64,
            String,
            String,
            String,
            bool,
            bool,
            i64,
            Option<i64>,
            bool,
        );
        let row: Option<Joined> = on_db!(self, |pool| {
            sqlx::query_as(query)
                .bind(token_hash)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(
            |(token, id, name, email, hash, staff, active, created, login, bot)| {
                (
                    token,
                    user((id, name, email, hash, staff, active, created, login, bot)),
                )
            },
        ))
    }

    /// The tokens of `user_id` (all of them when `None`), newest first.
    pub async fn tokens(&self, user_id: Option<i64>) -> Result<Vec<TokenRow>, StoreError> {
        let rows: Vec<(i64, i64, String, i64, Option<i64>)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, user_id, name, created_at, revoked_at FROM api_tokens \
                 WHERE $1 IS NULL OR user_id = $1 ORDER BY id DESC",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, user_id, name, created_at, revoked_at)| TokenRow {
                id,
                user_id,
                name,
                created_at,
                revoked_at,
            })
            .collect())
    }

    /// Revokes token `id`; returns its owner when it was live.
    pub async fn revoke_token(&self, id: i64, now_ms: i64) -> Result<Option<i64>, StoreError> {
        let owner: Option<i64> = on_db!(self, |pool| {
            sqlx::query_scalar(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING user_id",
            )
            .bind(now_ms)
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(owner)
    }

    /// Appends to the revocation log that every node polls.
    pub async fn log_revocation(
        &self,
        user_id: i64,
        credential: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            sqlx::query("INSERT INTO auth_events (at, user_id, credential) VALUES ($1, $2, $3)")
                .bind(now_ms)
                .bind(user_id)
                .bind(credential)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Revocations after position `after`, oldest first.
    pub async fn revocations_after(&self, after: i64) -> Result<Vec<AuthEvent>, StoreError> {
        let rows: Vec<(i64, i64, String)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, user_id, credential FROM auth_events WHERE id > $1 ORDER BY id LIMIT 1000",
            )
            .bind(after)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, user_id, credential)| AuthEvent {
                id,
                user_id,
                credential,
            })
            .collect())
    }

    /// The newest position in the revocation log (0 when empty).
    pub async fn last_revocation(&self) -> Result<i64, StoreError> {
        let last: Option<i64> = on_db!(self, |pool| {
            sqlx::query_scalar("SELECT MAX(id) FROM auth_events")
                .fetch_one(pool)
                .await?
        });
        Ok(last.unwrap_or(0))
    }
}

/// A LIKE pattern matching `search` anywhere, lowercase, with `%`, `_` and `\` taken literally.
pub(crate) fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
