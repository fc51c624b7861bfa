//! The SQL of the HTTP history API: rooms by activity with a user's unread counts, and pages of a room's
//! messages before an id. One text per query for both engines (see [`Db`]); every read of `messages` is a
//! range of its `(room_id, seq)` primary key.

use super::{Db, StoreError, on_db, to_i64, to_u64};
use crate::domain::{Role, RoomKind, RoomName};

/// A room as the API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomActivity {
    /// The room's name.
    pub name: String,
    /// Its last id (messages and events).
    pub last_seq: u64,
    /// Last activity, ms since the epoch.
    pub updated_at_ms: i64,
    /// Messages after the user's read mark that are not theirs and not deleted; `None` without a mark
    /// (or without a user).
    pub unread: Option<u64>,
    /// Its kind.
    pub kind: RoomKind,
    /// The user's role in it.
    pub role: Option<Role>,
    /// Its topic.
    pub topic: String,
    /// Messages after the user's read mark (from the room's beginning without one) that mention them
    /// and are not deleted, at most [`MAX_UNREAD`]; 0 without a user.
    pub mentions: u64,
}

/// Unread counts stop at this (a page shows "1000+"): counting a mark far behind in a huge room must not
/// cost a scan of it on every lobby refresh.
const MAX_UNREAD: u64 = 1000;

/// The unread messages of the read mark `rm`: a range of the primary key after the mark, at most
/// [`MAX_UNREAD`] rows of it.
fn unread_sql() -> String {
    format!(
        "CASE WHEN rm.last_read IS NULL THEN NULL ELSE \
         (SELECT COUNT(*) FROM (SELECT 1 FROM messages m WHERE m.room_id = r.id AND m.seq > rm.last_read \
          AND m.kind = 0 AND NOT m.deleted AND (m.author_id IS NULL OR m.author_id <> rm.user_id) \
          LIMIT {MAX_UNREAD}) AS unread) END"
    )
}

/// The unread messages of user `$1` in room `$2` after id `$3` (a mark not written yet), at most
/// [`MAX_UNREAD`].
fn unread_after_sql() -> String {
    format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM messages m \
         WHERE m.room_id = (SELECT id FROM rooms WHERE name = $2) AND m.seq > $3 \
         AND m.kind = 0 AND NOT m.deleted AND (m.author_id IS NULL OR m.author_id <> $1) \
         LIMIT {MAX_UNREAD}) AS unread"
    )
}

/// The messages of room `r` that mention user `$1` after their read mark `rm` (from the beginning
/// without one), at most [`MAX_UNREAD`]: a range of the `mentions` primary key. A deleted message's rows
/// are gone with it.
fn mentions_sql() -> String {
    format!(
        "(SELECT COUNT(*) FROM (SELECT 1 FROM mentions x WHERE x.user_id = $1 AND x.room_id = r.id \
          AND x.seq > COALESCE(rm.last_read, 0) LIMIT {MAX_UNREAD}) AS tagged)"
    )
}

/// The messages of room `$2` that mention user `$1` after id `$3` (a mark not written yet), at most
/// [`MAX_UNREAD`].
fn mentions_after_sql() -> String {
    format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM mentions x WHERE x.user_id = $1 \
         AND x.room_id = (SELECT id FROM rooms WHERE name = $2) AND x.seq > $3 LIMIT {MAX_UNREAD}) AS tagged"
    )
}

/// Rooms by activity with the unread and mention counts of user `$1`, at most `$2`.
fn rooms_sql() -> String {
    format!(
        "SELECT r.name, r.last_seq, r.updated_at, {}, r.kind, mm.role, r.topic, {} FROM rooms r \
         LEFT JOIN read_marks rm ON rm.room_id = r.id AND rm.user_id = $1 \
         LEFT JOIN room_members mm ON mm.room_id = r.id AND mm.user_id = $1 \
         WHERE r.last_seq > 0 AND (r.kind = 'public' OR mm.user_id IS NOT NULL) \
         ORDER BY r.updated_at DESC, r.name LIMIT $2",
        unread_sql(),
        mentions_sql()
    )
}

impl Db {
    /// Rooms with messages that `user_id` may see listed (the public ones, and the others they are a
    /// member of), most recently active first, at most `limit`; with `user_id`'s unread counts and role.
    pub async fn room_activity(
        &self,
        user_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RoomActivity>, StoreError> {
        let sql = sqlx::AssertSqlSafe(rooms_sql());
        type ActivityRow = (
            String,
            i64,
            i64,
            Option<i64>,
            String,
            Option<String>,
            String,
            i64,
        );
        let rows: Vec<ActivityRow> = on_db!(self, |pool| {
            sqlx::query_as(sql)
                .bind(user_id)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(name, last_seq, updated_at_ms, unread, kind, role, topic, mentions)| {
                    RoomActivity {
                        name,
                        last_seq: to_u64(last_seq),
                        updated_at_ms,
                        unread: unread.map(to_u64),
                        kind: RoomKind::from_stored(&kind),
                        role: role.as_deref().and_then(Role::parse),
                        topic,
                        mentions: to_u64(mentions),
                    }
                },
            )
            .collect())
    }

    /// The messages of `room` after `last_read` that are not `user_id`'s and not deleted, at most
    /// [`MAX_UNREAD`].
    pub async fn unread_after(
        &self,
        user_id: i64,
        room: &RoomName,
        last_read: u64,
    ) -> Result<u64, StoreError> {
        let count: i64 = on_db!(self, |pool| {
            sqlx::query_scalar(sqlx::AssertSqlSafe(unread_after_sql()))
                .bind(user_id)
                .bind(room.as_str())
                .bind(to_i64(last_read))
                .fetch_one(pool)
                .await?
        });
        Ok(to_u64(count))
    }

    /// The messages of `room` after `last_read` that mention `user_id`, at most [`MAX_UNREAD`].
    pub async fn mentions_after(
        &self,
        user_id: i64,
        room: &RoomName,
        last_read: u64,
    ) -> Result<u64, StoreError> {
        let count: i64 = on_db!(self, |pool| {
            sqlx::query_scalar(sqlx::AssertSqlSafe(mentions_after_sql()))
                .bind(user_id)
                .bind(room.as_str())
                .bind(to_i64(last_read))
                .fetch_one(pool)
                .await?
        });
        Ok(to_u64(count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Backend, SqliteBackend};

    /// SQLite's plan for `sql` with `params` parameters (one line per step).
    async fn plan(db: &Db, sql: String, params: i64) -> String {
        let Db::Sqlite(pool) = db else {
            panic!("a SQLite database")
        };
        let sql = format!("EXPLAIN QUERY PLAN {sql}");
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for n in 1..=params {
            query = query.bind(n);
        }
        let steps: Vec<(i64, i64, i64, String)> = query.fetch_all(pool).await.expect("plan");
        steps
            .into_iter()
            .map(|(.., step)| step)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn both_queries_read_messages_through_the_primary_key() {
        let dir = std::env::temp_dir().join(format!("chatweb-history-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}", dir.join("db.sqlite3").display());
        let backend = SqliteBackend::connect(&url).await.expect("database");
        let db = backend.db();

        let page = plan(&db, crate::storage::relations::page_sql(), 3).await;
        assert!(
            page.contains("SEARCH m USING PRIMARY KEY (room_id=? AND seq<?)"),
            "{page}"
        );
        let rooms = plan(&db, rooms_sql(), 2).await;
        assert!(
            rooms.contains("SEARCH m USING PRIMARY KEY (room_id=? AND seq>?)"),
            "{rooms}"
        );
        assert!(!rooms.contains("SCAN m"), "{rooms}");
        let after = plan(&db, unread_after_sql(), 3).await;
        assert!(
            after.contains("SEARCH m USING PRIMARY KEY (room_id=? AND seq>?)"),
            "{after}"
        );
        let thread = plan(&db, crate::storage::relations::thread_sql(true), 4).await;
        assert!(!thread.contains("SCAN m"), "{thread}");
        assert!(thread.contains("messages_reply_to"), "{thread}");
        let rooms = plan(&db, rooms_sql(), 2).await;
        assert!(
            rooms.contains("SEARCH x USING"),
            "mentions by their key: {rooms}"
        );

        backend.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
