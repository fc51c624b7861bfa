//! Defects 1, 10 and 12 of issue 10: what a sender is told. U+0000 is refused at validation with its own
//! code; a message the database refuses fails alone, never its batch (SQLite and PostgreSQL); a long
//! replay answers the sender's acks and pings between pages; a send whose outcome is not known at shutdown
//! is not called failed; and the answers to one connection's frames keep their order.
//!
//! To hold several sends in one batch, a test "plugs" the store writer from outside chatweb: it takes the
//! database's write lock (SQLite) or the room's row lock (PostgreSQL), so the writer's current batch waits
//! on it and everything sent meanwhile queues for the next one. A `typing` frame after each send shows the
//! connection has handed the send to the writer: the connection's own typing event comes back only once
//! the frames before it were handled.

mod batches;
mod order;
mod replay;
mod validation;

use serde_json::{Value, json};
use sqlx::Connection;

use chatweb::config::Config;

use crate::helpers::{Client, TempDir, TestApp, TestDatabase, test_config};

/// The text the database is made to refuse (validation lets it through).
const REFUSED: &str = "the database refuses this one";

/// A database for one test: a SQLite file, or a fresh PostgreSQL database.
enum Db {
    Sqlite(TempDir),
    Postgres(TestDatabase),
}

impl Db {
    fn sqlite() -> Self {
        Self::Sqlite(TempDir::new())
    }

    /// `None` (skip) without `CHATWEB_TEST_DATABASE_URL`, except on CI.
    async fn postgres(test: &str) -> Option<Self> {
        Some(Self::Postgres(TestDatabase::create(test).await?))
    }

    fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => dir.sqlite_url(),
            Self::Postgres(db) => db.url.clone(),
        }
    }

    fn config(&self) -> Config {
        test_config(self.url())
    }

    /// Makes the database itself refuse every message whose text is [`REFUSED`], from outside chatweb:
    /// a trigger on SQLite, a check constraint on PostgreSQL. Call it once the schema exists.
    async fn refuse_one_text(&self) {
        match self {
            Self::Sqlite(dir) => {
                let mut db = sqlx::SqliteConnection::connect(&dir.sqlite_url())
                    .await
                    .expect("connect");
                let sql = format!(
                    "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.body = '{REFUSED}' \
                     BEGIN SELECT RAISE(ABORT, 'refused'); END"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut db)
                    .await
                    .expect("trigger");
                db.close().await.expect("close");
            }
            Self::Postgres(pg) => {
                let mut db = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
                let sql = format!(
                    "ALTER TABLE messages ADD CONSTRAINT refuse CHECK (body <> '{REFUSED}')"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut db)
                    .await
                    .expect("constraint");
                db.close().await.expect("close");
            }
        }
    }

    /// Holds up the store writer's next write to `room` (which must exist) until [`Plug::release`].
    async fn plug(&self, room: &str) -> Plug {
        match self {
            Self::Sqlite(dir) => {
                let mut db = sqlx::SqliteConnection::connect(&dir.sqlite_url())
                    .await
                    .expect("connect");
                // The writer waits on the lock (its busy timeout is 5 s) rather than failing.
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut db)
                    .await
                    .expect("write lock");
                Plug::Sqlite(db)
            }
            Self::Postgres(pg) => {
                let mut db = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
                sqlx::query("BEGIN").execute(&mut db).await.expect("begin");
                let locked: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM rooms WHERE name = $1 FOR UPDATE")
                        .bind(room)
                        .fetch_optional(&mut db)
                        .await
                        .expect("row lock");
                assert!(locked.is_some(), "the room exists before it is plugged");
                Plug::Postgres(db)
            }
        }
    }

    async fn done(self) {
        if let Self::Postgres(db) = self {
            db.drop_database().await;
        }
    }
}

/// A lock held on the database from outside chatweb.
enum Plug {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Plug {
    async fn release(self) {
        match self {
            Self::Sqlite(mut db) => {
                sqlx::query("COMMIT")
                    .execute(&mut db)
                    .await
                    .expect("unlock");
                db.close().await.expect("close");
            }
            Self::Postgres(mut db) => {
                sqlx::query("COMMIT")
                    .execute(&mut db)
                    .await
                    .expect("unlock");
                db.close().await.expect("close");
            }
        }
    }
}

/// Sends `typing` and waits for `nickname`'s own typing event: every frame `client` sent before it has
/// been handled (a send is queued on the writer). Returns the frames read meanwhile.
async fn handled(client: &mut Client, nickname: &str) -> Vec<Value> {
    client.send_json(json!({"type": "typing"})).await;
    let mut seen = Vec::new();
    loop {
        let frame = client.next_frame().await;
        if frame["type"] == "typing" && frame["user"] == nickname {
            return seen;
        }
        seen.push(frame);
    }
}

/// Every stored message of `room`, by replaying it from 0.
async fn stored(app: &TestApp, room: &str, count: usize) -> Vec<Value> {
    let mut reader = app
        .join_path(&format!("/ws/chat/{room}/?since=0"), None)
        .await;
    let frames = reader.messages(count).await;
    reader.close().await;
    frames
}
