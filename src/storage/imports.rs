//! The SQL of `chatweb import-django` (the rest is in `django/`): the accounts a run links authors to,
//! users inserted without ever overwriting one (the unique `username_key` decides), each room's state
//! before its messages go in, and messages appended after a room's last id in one transaction per chunk,
//! each with `client_id` `django:<id>` owned by `import` (`domain::ClientIdOwner::import`), so a second
//! run finds what the first one stored through the `messages_sender_client_id` index. One text per query
//! for both engines (see [`Db`]); it runs with the server stopped, so it writes beside no writer task and
//! no cache.

use std::collections::HashSet;

use sqlx::QueryBuilder;

use super::{Db, StoreError, on_db, to_i64, to_u64};
use crate::domain::IMPORT;

/// The `client_id` prefix of imported messages.
pub const DJANGO_CLIENT_ID_PREFIX: &str = "django:";

/// Rows per multi-row statement: 8 parameters each stays far below SQLite's 32,766-parameter limit and
/// PostgreSQL's 65,535.
const ROWS_PER_STATEMENT: usize = 1000;

/// A user to import, validated.
#[derive(Clone, Debug)]
pub struct ImportedUser {
    /// The name (NFKC).
    pub username: String,
    /// Its collision key.
    pub username_key: String,
    /// The email ("" when none).
    pub email: String,
    /// The password hash as Django stored it.
    pub password_hash: String,
    /// Django's is_staff or is_superuser.
    pub is_staff: bool,
    /// Django's is_active.
    pub is_active: bool,
    /// Django's date_joined, ms since the epoch.
    pub created_at: i64,
    /// Django's last_login, ms since the epoch.
    pub last_login: Option<i64>,
}

/// A message to append, validated.
#[derive(Clone, Debug)]
pub struct ImportedMessage {
    /// The Django row's id (its `client_id` is `django:<id>`).
    pub django_id: i64,
    /// The author's name as stored.
    pub author: String,
    /// The author's account; `None` for a guest.
    pub author_id: Option<i64>,
    /// The text.
    pub body: String,
    /// The original timestamp, ms since the epoch.
    pub created_at: i64,
}

/// A room as an import finds it.
#[derive(Clone, Debug, Default)]
pub struct ImportedRoomState {
    /// The room exists already.
    pub exists: bool,
    /// The Django ids already imported into it.
    pub imported: HashSet<i64>,
}

/// An account chatweb has when an import starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingAccount {
    /// Its id.
    pub id: i64,
    /// The name as registered.
    pub username: String,
    /// Its collision key as stored.
    pub username_key: String,
    /// When it was created, ms since the epoch: an imported user's is its Django `date_joined`.
    pub created_at: i64,
}

impl Db {
    /// Every account.
    pub async fn import_accounts(&self) -> Result<Vec<ExistingAccount>, StoreError> {
        let rows: Vec<(i64, String, String, i64)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT id, username, username_key, created_at FROM users")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, username, username_key, created_at)| ExistingAccount {
                id,
                username,
                username_key,
                created_at,
            })
            .collect())
    }

    /// Inserts `users` in one transaction, skipping any whose key is taken meanwhile; returns the (id,
    /// key) of those inserted.
    pub async fn import_users(
        &self,
        users: &[ImportedUser],
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let mut inserted = Vec::with_capacity(users.len());
        let begin = self.begin_write();
        on_db!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            for chunk in users.chunks(ROWS_PER_STATEMENT) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO users (username, username_key, email, password_hash, is_staff, \
                     is_active, created_at, last_login) ",
                );
                insert.push_values(chunk, |mut row, u| {
                    row.push_bind(u.username.as_str())
                        .push_bind(u.username_key.as_str())
                        .push_bind(u.email.as_str())
                        .push_bind(u.password_hash.as_str())
                        .push_bind(u.is_staff)
                        .push_bind(u.is_active)
                        .push_bind(u.created_at)
                        .push_bind(u.last_login);
                });
                insert.push(" ON CONFLICT (username_key) DO NOTHING RETURNING id, username_key");
                let rows: Vec<(i64, String)> = insert.build_query_as().fetch_all(&mut *tx).await?;
                inserted.extend(rows);
            }
            tx.commit().await?;
        });
        Ok(inserted)
    }

    /// Whether room `name` exists, and the Django ids already imported into it (read through the
    /// `messages_sender_client_id` index: a range of the room's imported client ids).
    pub async fn import_room_state(&self, name: &str) -> Result<ImportedRoomState, StoreError> {
        let room: Option<i64> = on_db!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM rooms WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        let Some(room_id) = room else {
            return Ok(ImportedRoomState::default());
        };
        // Every client id that starts with the prefix sorts in [prefix, prefix with its last byte + 1).
        let (low, high) = (DJANGO_CLIENT_ID_PREFIX, "django;");
        let ids: Vec<String> = on_db!(self, |pool| {
            sqlx::query_scalar(
                "SELECT client_id FROM messages WHERE room_id = $1 AND sender_key = $4 \
                 AND client_id >= $2 AND client_id < $3",
            )
            .bind(room_id)
            .bind(low)
            .bind(high)
            .bind(IMPORT)
            .fetch_all(pool)
            .await?
        });
        let imported = ids
            .iter()
            .filter_map(|id| id.strip_prefix(DJANGO_CLIENT_ID_PREFIX)?.parse().ok())
            .collect();
        Ok(ImportedRoomState {
            exists: true,
            imported,
        })
    }

    /// Appends each room's `messages`, in order, after the room's last id (creating the room), in one
    /// transaction: ids stay gap-free, and the room's `updated_at` (the lobby's order) becomes its newest
    /// message's time if that is later.
    pub async fn import_messages(
        &self,
        rooms: &[(String, Vec<ImportedMessage>)],
    ) -> Result<(), StoreError> {
        let begin = self.begin_write();
        on_db!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            for (room, messages) in rooms.iter().filter(|(_, m)| !m.is_empty()) {
                let newest = messages.iter().map(|m| m.created_at).max().unwrap_or(0);
                let (room_id, last_seq): (i64, i64) = sqlx::query_as(
                    "INSERT INTO rooms (name, last_seq, updated_at) VALUES ($1, 0, $2) \
                     ON CONFLICT (name) DO UPDATE SET updated_at = rooms.updated_at \
                     RETURNING id, last_seq",
                )
                .bind(room.as_str())
                .bind(newest)
                .fetch_one(&mut *tx)
                .await?;
                let first = to_u64(last_seq) + 1;
                for (n, chunk) in messages.chunks(ROWS_PER_STATEMENT).enumerate() {
                    let base = first + (n * ROWS_PER_STATEMENT) as u64;
                    let mut insert = QueryBuilder::new(
                        "INSERT INTO messages (room_id, seq, author, body, client_id, sender_key, \
                         created_at, author_id) ",
                    );
                    insert.push_values(chunk.iter().zip(base..), |mut row, (m, seq)| {
                        row.push_bind(room_id)
                            .push_bind(to_i64(seq))
                            .push_bind(m.author.as_str())
                            .push_bind(m.body.as_str())
                            .push_bind(format!("{DJANGO_CLIENT_ID_PREFIX}{}", m.django_id))
                            .push_bind(IMPORT)
                            .push_bind(m.created_at)
                            .push_bind(m.author_id);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                let last = to_i64(first - 1 + messages.len() as u64);
                sqlx::query(
                    "UPDATE rooms SET last_seq = $1, \
                     updated_at = CASE WHEN updated_at > $2 THEN updated_at ELSE $2 END WHERE id = $3",
                )
                .bind(last)
                .bind(newest)
                .bind(room_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// Opens the chatweb database at `url` to read only, for a dry run: `None` when there is none yet (no
/// SQLite file, or no schema), which a dry run reads as empty. Nothing is created or migrated.
pub async fn open_existing(url: &str) -> Result<Option<Db>, StoreError> {
    use std::str::FromStr;
    let db = if url.starts_with("sqlite:") {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
        if !options.get_filename().is_file() {
            return Ok(None);
        }
        let options = options.read_only(true).create_if_missing(false);
        Db::Sqlite(sqlx::SqlitePool::connect_with(options).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Db::Postgres(sqlx::PgPool::connect(url).await?)
    } else {
        return Err(StoreError::UnsupportedUrl(crate::redaction::redacted(url)));
    };
    // Before the first migration there is no `users` table: an empty database.
    let schema: Result<Option<i64>, sqlx::Error> = on_db!(&db, |pool| {
        sqlx::query_scalar("SELECT id FROM users LIMIT 1")
            .fetch_optional(pool)
            .await
    });
    match schema {
        Ok(_) => Ok(Some(db)),
        Err(sqlx::Error::Database(_)) => {
            on_db!(&db, |pool| pool.close().await);
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}
