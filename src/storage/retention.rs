//! The SQL of retention (issue 12): which rooms have rows past their cutoff, the removal of one small
//! batch of a room's oldest rows, and each room's own rule for the admin. One text per query for both
//! engines (see [`Db`]).
//!
//! A batch removes a prefix of the room's sequence: the oldest rows, in id order, up to the first one that
//! is not older than the cutoff. So what is kept is always one unbroken range, `first_kept ..= last_seq`,
//! and `rooms.first_kept` moves in the same transaction as the `DELETE`. Rows are really deleted;
//! `rooms.last_seq` is never touched, so ids are never reused. Edit and delete events are rows of the
//! sequence like messages and go by the same cutoff.

use super::{Db, StoreError, on_db, to_i64, to_u64};
use crate::domain::RoomName;

/// A room retention may have work in, as [`Db::retention_rooms`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionRoom {
    /// The room's row id (the listing's cursor).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its own rule: `None` follows the server's, `Some(0)` keeps everything, `Some(n)` keeps `n` days.
    pub days: Option<u32>,
    /// When its oldest stored row was written (ms since the epoch); `None` when it has none.
    pub oldest_ms: Option<i64>,
}

/// What one batch removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Rows deleted.
    pub rows: u64,
    /// The room's first kept id after the batch.
    pub first_kept: u64,
    /// Nothing older than the cutoff is left in the room.
    pub done: bool,
}

/// A room's retention as the admin shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoomRetention {
    /// Its own rule (as in [`RetentionRoom::days`]).
    pub days: Option<u32>,
    /// Its first kept id.
    pub first_kept: u64,
}

fn to_days(days: Option<i64>) -> Option<u32> {
    days.map(|d| u32::try_from(d.max(0)).unwrap_or(u32::MAX))
}

impl Db {
    /// Up to `limit` rooms with an id above `after`, by id, whose rule may remove something: those with
    /// days of their own, and (when `default_applies`) those following the server's rule. With each, the
    /// time of its oldest row (one step of the primary key).
    pub async fn retention_rooms(
        &self,
        after: i64,
        limit: u32,
        default_applies: bool,
    ) -> Result<Vec<RetentionRoom>, StoreError> {
        let rows: Vec<(i64, String, Option<i64>, Option<i64>)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT r.id, r.name, r.retention_days, \
                 (SELECT m.created_at FROM messages m WHERE m.room_id = r.id ORDER BY m.seq LIMIT 1) \
                 FROM rooms r WHERE r.id > $1 \
                 AND (r.retention_days > 0 OR ($3 AND r.retention_days IS NULL)) \
                 ORDER BY r.id LIMIT $2",
            )
            .bind(after)
            .bind(i64::from(limit))
            .bind(default_applies)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, name, days, oldest_ms)| RetentionRoom {
                id,
                name,
                days: to_days(days),
                oldest_ms,
            })
            .collect())
    }

    /// Removes, in one transaction, at most `batch` of the oldest rows of room `room_id` written before
    /// `cutoff_ms`, stopping at the first row that is not older, and moves the room's first kept id past
    /// them.
    pub async fn remove_expired(
        &self,
        room_id: i64,
        cutoff_ms: i64,
        batch: u32,
    ) -> Result<Removed, StoreError> {
        let batch = batch.max(1);
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            let oldest: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT seq, created_at FROM messages WHERE room_id = $1 ORDER BY seq LIMIT $2",
            )
            .bind(room_id)
            .bind(i64::from(batch))
            .fetch_all(&mut *tx)
            .await?;
            let expired = oldest.iter().take_while(|(_, at)| *at < cutoff_ms).count();
            let done = expired < batch as usize;
            let Some(&(through, _)) = expired.checked_sub(1).and_then(|last| oldest.get(last))
            else {
                let first: i64 = sqlx::query_scalar("SELECT first_kept FROM rooms WHERE id = $1")
                    .bind(room_id)
                    .fetch_one(&mut *tx)
                    .await?;
                return Ok(Removed {
                    rows: 0,
                    first_kept: to_u64(first),
                    done: true,
                });
            };
            let deleted = sqlx::query("DELETE FROM messages WHERE room_id = $1 AND seq <= $2")
                .bind(room_id)
                .bind(through)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            // What the removed messages' reactions, pins and mentions added up to goes with them, and their files.
            for sql in [
                "DELETE FROM reactions WHERE room_id = $1 AND target <= $2",
                "DELETE FROM pins WHERE room_id = $1 AND target <= $2",
                "DELETE FROM mentions WHERE room_id = $1 AND seq <= $2",
                "DELETE FROM search_docs WHERE room_id = $1 AND seq <= $2",
                // Their files: no download from now on, the janitor removes the bytes.
                "UPDATE files SET gone = true WHERE room = (SELECT name FROM rooms WHERE id = $1) \
                 AND seq <= $2",
            ] {
                sqlx::query(sql)
                    .bind(room_id)
                    .bind(through)
                    .execute(&mut *tx)
                    .await?;
            }
            // Another node may have gone further meanwhile: the first kept id only moves forward.
            let first: i64 = sqlx::query_scalar(
                "UPDATE rooms SET first_kept = CASE WHEN first_kept > $2 THEN first_kept ELSE $2 END \
                 WHERE id = $1 RETURNING first_kept",
            )
            .bind(room_id)
            .bind(through + 1)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Removed {
                rows: deleted,
                first_kept: to_u64(first),
                done,
            })
        })
    }

    /// The retention of `room`: its own rule and its first kept id.
    pub async fn room_retention(&self, room: &RoomName) -> Result<RoomRetention, StoreError> {
        let row: Option<(Option<i64>, i64)> = on_db!(self, |pool| {
            sqlx::query_as("SELECT retention_days, first_kept FROM rooms WHERE name = $1")
                .bind(room.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map_or(
            RoomRetention {
                days: None,
                first_kept: 1,
            },
            |(days, first)| RoomRetention {
                days: to_days(days),
                first_kept: to_u64(first),
            },
        ))
    }

    /// Sets the rule of `room` (creating its row when it has none yet, as a room can be configured before
    /// its first message): `None` follows the server's, `Some(0)` keeps everything, `Some(n)` keeps `n`
    /// days.
    pub async fn set_room_retention(
        &self,
        room: &RoomName,
        days: Option<u32>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let days = days.map(|d| to_i64(u64::from(d)));
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO rooms (name, last_seq, updated_at, retention_days) VALUES ($1, 0, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET retention_days = excluded.retention_days",
            )
            .bind(room.as_str())
            .bind(now_ms)
            .bind(days)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
