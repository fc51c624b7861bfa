//! Outgoing webhooks as stored (migration 0015): the hooks, each hook's mark per room (the last id it
//! delivered or passed over; for occupancy events, migration 0017, the last occupancy event), the lease
//! that says which node sends a hook's batches, and the last deliveries and failures of each hook. The
//! sender (`src/hooks/deliver.rs`) reads the rooms' sequences after the marks, like the search indexer:
//! nothing here is written by the message path.

use super::{Db, MessageRow, ROW_COLUMNS, StoreError, StoredMessage, on_db, to_i64, to_u64};

/// A hook to store.
#[derive(Clone, Debug)]
pub struct NewHook<'a> {
    /// Its room (`None`: every room but direct ones).
    pub room_id: Option<i64>,
    /// Where batches are POSTed.
    pub url: &'a str,
    /// The event names, separated by spaces.
    pub events: &'a str,
    /// The signing secret.
    pub secret: &'a str,
    /// Who registered it.
    pub created_by: i64,
    /// Now.
    pub now_ms: i64,
}

/// A stored hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookRow {
    /// Its id.
    pub id: i64,
    /// Its room's id and name (`None`: every room).
    pub room: Option<(i64, String)>,
    /// Where batches are POSTed.
    pub url: String,
    /// The event names, separated by spaces.
    pub events: String,
    /// The signing secret (never shown after registration, never logged).
    pub secret: String,
    /// Who registered it.
    pub created_by: i64,
    /// Their name.
    pub creator: String,
    /// When, ms since the epoch.
    pub created_at_ms: i64,
}

/// A room a hook has not followed to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookRoom {
    /// The room's id.
    pub room_id: i64,
    /// Its name.
    pub name: String,
    /// The hook's mark in it.
    pub mark: u64,
    /// Its last id.
    pub last_seq: u64,
}

type HookTuple = (
    i64,
    Option<i64>,
    Option<String>,
    String,
    String,
    String,
    i64,
    String,
    i64,
);

/// Which of a room's streams a hook follows: each has its own marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track {
    /// The room's sequence (messages, edits, deletions, members): marks are room ids.
    Messages,
    /// The room's occupancy events (migration 0017): marks are their numbers in the room.
    Occupancy,
}

impl Track {
    /// Both, in the order a hook's turn follows them.
    pub const ALL: [Self; 2] = [Self::Messages, Self::Occupancy];

    /// Moves a hook's mark in a room forward (never back), unless the hook is gone.
    pub(super) fn move_mark(self) -> &'static str {
        match self {
            Self::Messages => {
                "INSERT INTO outgoing_hook_marks (hook_id, room_id, seq) \
                 SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM outgoing_hooks WHERE id = $1) \
                 ON CONFLICT (hook_id, room_id) DO UPDATE SET seq = CASE \
                 WHEN outgoing_hook_marks.seq > excluded.seq THEN outgoing_hook_marks.seq \
                 ELSE excluded.seq END"
            }
            Self::Occupancy => {
                "INSERT INTO outgoing_hook_occupancy_marks (hook_id, room_id, seq) \
                 SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM outgoing_hooks WHERE id = $1) \
                 ON CONFLICT (hook_id, room_id) DO UPDATE SET seq = CASE \
                 WHEN outgoing_hook_occupancy_marks.seq > excluded.seq \
                 THEN outgoing_hook_occupancy_marks.seq ELSE excluded.seq END"
            }
        }
    }
}

/// Where a delivered (or given up) batch leaves a hook: its mark on `track` in room `room_id` at `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    /// The stream.
    pub track: Track,
    /// The room.
    pub room_id: i64,
    /// The new mark.
    pub seq: u64,
}

const HOOK_COLUMNS: &str = "SELECT h.id, h.room_id, r.name, h.url, h.events, h.secret, h.created_by, \
     u.username, h.created_at FROM outgoing_hooks h JOIN users u ON u.id = h.created_by \
     LEFT JOIN rooms r ON r.id = h.room_id";

fn hook(row: HookTuple) -> HookRow {
    let (id, room_id, room, url, events, secret, created_by, creator, created_at_ms) = row;
    HookRow {
        id,
        room: room_id.zip(room),
        url,
        events,
        secret,
        created_by,
        creator,
        created_at_ms,
    }
}

impl Db {
    /// The id of room `name`, when it has a row.
    pub async fn room_id(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(on_db!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM rooms WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Stores a hook and its starting marks (every room's last id and last occupancy event now: a hook
    /// gets what happens after it is made, and rooms made later from their first); returns its id.
    pub async fn create_hook(&self, new: &NewHook<'_>) -> Result<i64, StoreError> {
        let begin = self.begin_write();
        on_db!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO outgoing_hooks (room_id, url, events, secret, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(new.room_id)
            .bind(new.url)
            .bind(new.events)
            .bind(new.secret)
            .bind(new.created_by)
            .bind(new.now_ms)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO outgoing_hook_marks (hook_id, room_id, seq) \
                 SELECT $1, id, last_seq FROM rooms WHERE $2 = 0 OR id = $2",
            )
            .bind(id)
            .bind(new.room_id.unwrap_or(0))
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO outgoing_hook_occupancy_marks (hook_id, room_id, seq) \
                 SELECT $1, room_id, last_seq FROM room_occupancy WHERE $2 = 0 OR room_id = $2",
            )
            .bind(id)
            .bind(new.room_id.unwrap_or(0))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// One hook.
    pub async fn hook(&self, id: i64) -> Result<Option<HookRow>, StoreError> {
        let row: Option<HookTuple> = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{HOOK_COLUMNS} WHERE h.id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(hook))
    }

    /// The hooks of room `room_id` (`None`: every hook, of rooms and of all rooms), oldest first.
    pub async fn hooks(&self, room_id: Option<i64>) -> Result<Vec<HookRow>, StoreError> {
        let rows: Vec<HookTuple> = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{HOOK_COLUMNS} WHERE $1 = 0 OR h.room_id = $1 ORDER BY h.id"
            )))
            .bind(room_id.unwrap_or(0))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(hook).collect())
    }

    /// Removes a hook with its marks and deliveries; false when there was none.
    pub async fn delete_hook(&self, id: i64) -> Result<bool, StoreError> {
        let begin = self.begin_write();
        on_db!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            for sql in [
                "DELETE FROM outgoing_hook_marks WHERE hook_id = $1",
                "DELETE FROM outgoing_hook_occupancy_marks WHERE hook_id = $1",
                "DELETE FROM outgoing_hook_deliveries WHERE hook_id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
            let gone = sqlx::query("DELETE FROM outgoing_hooks WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(gone > 0)
        })
    }

    /// Takes (or keeps) the lease of every hook whose lease has run out or is `node`'s, until `until_ms`;
    /// returns the hooks `node` holds now. Nothing is written when no hook needs it (a node without hooks
    /// only reads), and a lease is renewed only when less than half of `lease_ms` is left.
    pub async fn claim_hooks(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<HookRow>, StoreError> {
        let due: i64 = on_db!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM outgoing_hooks WHERE lease_until < $1 \
                 OR (lease_node = $2 AND lease_until < $3)",
            )
            .bind(now_ms)
            .bind(node)
            .bind(now_ms + lease_ms / 2)
            .fetch_one(pool)
            .await?
        });
        if due > 0 {
            on_db!(self, |pool| {
                sqlx::query(
                    "UPDATE outgoing_hooks SET lease_node = $1, lease_until = $2 \
                     WHERE lease_until < $3 OR lease_node = $1",
                )
                .bind(node)
                .bind(now_ms + lease_ms)
                .bind(now_ms)
                .execute(pool)
                .await?;
            });
        }
        let rows: Vec<HookTuple> = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{HOOK_COLUMNS} WHERE h.lease_node = $1 AND h.lease_until >= $2 ORDER BY h.id"
            )))
            .bind(node)
            .bind(now_ms)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(hook).collect())
    }

    /// Gives up `node`'s leases (it is stopping): another node may send at once.
    pub async fn release_hooks(&self, node: &str) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE outgoing_hooks SET lease_until = 0 WHERE lease_node = $1")
                .bind(node)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Rooms whose sequence runs past hook `hook_id`'s mark (only `room_id` for a room's hook; never a
    /// direct room), at most `limit`, by id.
    pub async fn hook_behind(
        &self,
        hook_id: i64,
        room_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<HookRoom>, StoreError> {
        const BEHIND: &str = "SELECT r.id, r.name, COALESCE(m.seq, 0), r.last_seq FROM rooms r \
             LEFT JOIN outgoing_hook_marks m ON m.hook_id = $1 AND m.room_id = r.id \
             WHERE r.last_seq > COALESCE(m.seq, 0) AND r.kind <> 'direct'";
        // A room's hook reads its room by the primary key (an `OR` of a bound value would scan them all).
        let sql = match room_id {
            Some(_) => format!("{BEHIND} AND r.id = $2 LIMIT $3"),
            // (`$2` is 0 here: named so that PostgreSQL knows its type.)
            None => format!("{BEHIND} AND $2 = 0 ORDER BY r.id LIMIT $3"),
        };
        self.rooms_behind(sql, hook_id, room_id, limit).await
    }

    /// Runs a "rooms behind a hook's mark" query (`sql` selects id, name, mark, head; binds the hook, the
    /// room or 0, the limit): the sequence's and occupancy's (`storage/occupancy.rs`) alike.
    pub(super) async fn rooms_behind(
        &self,
        sql: String,
        hook_id: i64,
        room_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<HookRoom>, StoreError> {
        let rows: Vec<(i64, String, i64, i64)> = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(hook_id)
                .bind(room_id.unwrap_or(0))
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(room_id, name, mark, last_seq)| HookRoom {
                room_id,
                name,
                mark: to_u64(mark),
                last_seq: to_u64(last_seq),
            })
            .collect())
    }

    /// Up to `limit` rows of room `room_id`'s sequence after `after`, oldest first, as they are now.
    pub async fn sequence_after(
        &self,
        room_id: i64,
        after: u64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows: Vec<MessageRow> = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ROW_COLUMNS} FROM messages m WHERE m.room_id = $1 AND m.seq > $2 \
                 ORDER BY m.seq LIMIT $3"
            )))
            .bind(room_id)
            .bind(to_i64(after))
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(StoredMessage::from).collect())
    }
}
