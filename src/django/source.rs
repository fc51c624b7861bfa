//! Reading the Django app's database, SQLite or PostgreSQL, opened read-only where the engine allows:
//! `auth_user` whole, and `chatapp_message` streamed in import order (room, then timestamp, then id)
//! through a bounded channel, so a large table never sits in memory. Timestamps come out of the database
//! as milliseconds since the epoch (UTC), computed by the engine that stored them: Django keeps naive UTC
//! text in SQLite and `timestamp with time zone` in PostgreSQL. A value the engine cannot read comes out
//! as `None`, for the importer to report.

use std::str::FromStr;

use anyhow::Context;
use futures_util::TryStreamExt;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tokio::sync::mpsc;

use crate::redaction::redacted;
use crate::storage::{Db, on_db};

/// A row of `auth_user`.
#[derive(Clone, Debug)]
pub struct UserRow {
    /// Django's id, for reports.
    pub id: i64,
    /// `username`.
    pub username: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// `password`: the hash in Django's format.
    pub password: Option<String>,
    /// `is_staff OR is_superuser`.
    pub staff: bool,
    /// `is_active`.
    pub active: bool,
    /// `date_joined`, ms since the epoch.
    pub date_joined: Option<i64>,
    /// `last_login`, ms since the epoch.
    pub last_login: Option<i64>,
}

/// A row of `chatapp_message`.
#[derive(Clone, Debug)]
pub struct MessageRow {
    /// Django's id.
    pub id: i64,
    /// `room_name`.
    pub room: Option<String>,
    /// `user`: the author's name.
    pub user: Option<String>,
    /// `text`.
    pub text: Option<String>,
    /// `timestamp`, ms since the epoch.
    pub ts_ms: Option<i64>,
}

type UserTuple = (
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);
type MessageTuple = (
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// The Django app's database.
pub struct Source {
    db: Db,
}

impl Source {
    /// Opens `source`: a `postgres://` URL, a `sqlite://` URL, or the path of a SQLite file (which must
    /// exist: nothing is created).
    pub async fn open(source: &str) -> anyhow::Result<Self> {
        let shown = redacted(source);
        let db = if source.starts_with("postgres:") || source.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .connect(source)
                .await
                .with_context(|| format!("connecting to the Django database {shown}"))?;
            Db::Postgres(pool)
        } else {
            let options = if source.starts_with("sqlite:") {
                SqliteConnectOptions::from_str(source)
                    .with_context(|| format!("reading the SQLite URL {shown}"))?
            } else {
                SqliteConnectOptions::new().filename(source)
            };
            let path = options.get_filename().to_owned();
            anyhow::ensure!(path.is_file(), "no Django database at {}", path.display());
            let pool = SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options.read_only(true).create_if_missing(false))
                .await
                .with_context(|| format!("opening the Django database {}", path.display()))?;
            Db::Sqlite(pool)
        };
        Ok(Self { db })
    }

    /// Milliseconds since the epoch of the datetime column `column`, in this engine's SQL.
    fn ms(&self, column: &str) -> String {
        match self.db {
            // SQLite's date functions keep whole milliseconds internally: this recovers them exactly.
            Db::Sqlite(_) => {
                format!("CAST(ROUND((julianday({column}) - 2440587.5) * 86400000.0) AS INTEGER)")
            }
            Db::Postgres(_) => {
                format!("CAST(ROUND(EXTRACT(EPOCH FROM {column}) * 1000) AS BIGINT)")
            }
        }
    }

    /// Every row of `auth_user`, by id.
    pub async fn users(&self) -> anyhow::Result<Vec<UserRow>> {
        let query = sqlx::AssertSqlSafe(format!(
            "SELECT CAST(id AS BIGINT), username, email, password, \
             CAST(CASE WHEN is_staff OR is_superuser THEN 1 ELSE 0 END AS BIGINT), \
             CAST(CASE WHEN is_active THEN 1 ELSE 0 END AS BIGINT), {}, {} \
             FROM auth_user ORDER BY id",
            self.ms("date_joined"),
            self.ms("last_login")
        ));
        let rows: Vec<UserTuple> = on_db!(&self.db, |pool| {
            sqlx::query_as(query)
                .fetch_all(pool)
                .await
                .context("reading auth_user")?
        });
        Ok(rows
            .into_iter()
            .map(
                |(id, username, email, password, staff, active, date_joined, last_login)| UserRow {
                    id,
                    username,
                    email,
                    password,
                    staff: staff != 0,
                    active: active != 0,
                    date_joined,
                    last_login,
                },
            )
            .collect())
    }

    /// How many rows `chatapp_message` holds.
    pub async fn message_count(&self) -> anyhow::Result<u64> {
        let count: i64 = on_db!(&self.db, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM chatapp_message")
                .fetch_one(pool)
                .await
                .context("counting chatapp_message")?
        });
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Sends every row of `chatapp_message` to `rows`, per room in timestamp order, then by id (stopping
    /// early when the receiver is gone), then closes the database.
    pub async fn messages(self, rows: mpsc::Sender<MessageRow>) -> anyhow::Result<()> {
        let query = sqlx::AssertSqlSafe(format!(
            "SELECT CAST(id AS BIGINT), room_name, \"user\", text, {} AS ts \
             FROM chatapp_message ORDER BY room_name, ts, id",
            self.ms("\"timestamp\"")
        ));
        on_db!(&self.db, |pool| {
            let mut stream = sqlx::query_as::<_, MessageTuple>(query).fetch(pool);
            while let Some((id, room, user, text, ts_ms)) =
                stream.try_next().await.context("reading chatapp_message")?
            {
                let row = MessageRow {
                    id,
                    room,
                    user,
                    text,
                    ts_ms,
                };
                if rows.send(row).await.is_err() {
                    break;
                }
            }
            drop(stream);
            pool.close().await;
        });
        Ok(())
    }
}
