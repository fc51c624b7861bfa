//! Read state: each signed-in user's last-read id per room. Marks arrive often (a client marks what it has
//! seen), so they are coalesced in memory per (user, room) and written in one small transaction by the
//! store writer at most about once a second, never on the path that acks messages. A mark only moves
//! forward, in memory and in the database.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Db, StoreError, on_db, to_i64, to_u64};
use crate::domain::RoomName;

/// Marks held before a flush is forced.
const MAX_PENDING: usize = 50_000;

/// One user's last-read id in one room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadMark {
    /// The user's account.
    pub user_id: i64,
    /// The room.
    pub room: RoomName,
    /// The last id they have read.
    pub last_read: u64,
}

/// Marks not written yet, newest per (user, room).
#[derive(Default)]
pub struct ReadMarks {
    pending: Mutex<HashMap<(i64, RoomName), u64>>,
}

impl ReadMarks {
    /// Records that `user_id` has read `room` up to `id`; true when the buffer is full and should be
    /// flushed now.
    pub fn record(&self, user_id: i64, room: &RoomName, id: u64) -> bool {
        let mut pending = self.lock();
        let mark = pending.entry((user_id, room.clone())).or_insert(0);
        *mark = (*mark).max(id);
        pending.len() >= MAX_PENDING
    }

    /// The unwritten mark of `user_id` in `room`, if any.
    pub fn pending(&self, user_id: i64, room: &RoomName) -> Option<u64> {
        self.lock().get(&(user_id, room.clone())).copied()
    }

    /// Takes every unwritten mark.
    pub fn take(&self) -> Vec<ReadMark> {
        std::mem::take(&mut *self.lock())
            .into_iter()
            .map(|((user_id, room), last_read)| ReadMark {
                user_id,
                room,
                last_read,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, RoomName), u64>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Writes `marks` in one transaction; a mark never moves back, and a mark on a room that does not exist
/// is dropped.
pub(super) async fn write(db: &Db, marks: &[ReadMark], now_ms: i64) -> Result<(), StoreError> {
    let begin = db.begin_write();
    on_db!(db, |pool| {
        let mut tx = pool.begin_with(begin).await?;
        for mark in marks {
            sqlx::query(
                "INSERT INTO read_marks (user_id, room_id, last_read, updated_at) \
                 SELECT $1, id, $3, $4 FROM rooms WHERE name = $2 \
                 ON CONFLICT (user_id, room_id) DO UPDATE \
                 SET last_read = excluded.last_read, updated_at = excluded.updated_at \
                 WHERE excluded.last_read > read_marks.last_read",
            )
            .bind(mark.user_id)
            .bind(mark.room.as_str())
            .bind(to_i64(mark.last_read))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    })
}

/// The stored last-read id of `user_id` in `room` (0 when none).
pub(super) async fn last_read(db: &Db, user_id: i64, room: &RoomName) -> Result<u64, StoreError> {
    on_db!(db, |pool| {
        let mark: Option<i64> = sqlx::query_scalar(
            "SELECT k.last_read FROM read_marks k JOIN rooms r ON r.id = k.room_id \
             WHERE k.user_id = $1 AND r.name = $2",
        )
        .bind(user_id)
        .bind(room.as_str())
        .fetch_optional(pool)
        .await?;
        Ok(mark.map_or(0, to_u64))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_coalesce_and_never_move_back() {
        let marks = ReadMarks::default();
        let room = RoomName::parse("r").expect("room");
        marks.record(1, &room, 5);
        marks.record(1, &room, 3);
        marks.record(2, &room, 1);
        assert_eq!(marks.pending(1, &room), Some(5));
        let mut taken = marks.take();
        taken.sort_by_key(|m| m.user_id);
        assert_eq!(
            taken.iter().map(|m| m.last_read).collect::<Vec<_>>(),
            [5, 1]
        );
        assert_eq!(marks.pending(1, &room), None);
    }
}
