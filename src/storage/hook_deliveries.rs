//! The record of outgoing webhooks' attempts (migration 0015): each batch's outcome per hook, the newest
//! [`KEPT_DELIVERIES`] kept for the admin and the hook's owner, and the mark a delivered batch moves, in
//! the same transaction.

use super::hooks::Moved;
use super::{Db, StoreError, on_db, to_i64, to_u64};

/// Deliveries and failures kept per hook (older ones are removed as new ones come).
pub const KEPT_DELIVERIES: i64 = 50;

/// One attempt to deliver a batch, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRow {
    /// When, ms since the epoch.
    pub at_ms: i64,
    /// The room of the batch.
    pub room: String,
    /// The first and last ids the batch covers.
    pub first_seq: u64,
    /// See `first_seq`.
    pub last_seq: u64,
    /// Events in the batch.
    pub events: u32,
    /// `delivered`, `failed` or `gave_up`.
    pub result: String,
    /// The receiver's HTTP status (0: no answer).
    pub status: u16,
    /// What went wrong ("" when delivered).
    pub detail: String,
    /// Which attempt this was (1 for the first).
    pub attempt: u32,
}

impl Db {
    /// Records attempts of hook `hook_id` (and, after deliveries, moves its marks as `marks` say, in
    /// the same transaction), then forgets all but its newest [`KEPT_DELIVERIES`].
    pub async fn record_deliveries(
        &self,
        hook_id: i64,
        deliveries: &[DeliveryRow],
        marks: &[Moved],
    ) -> Result<(), StoreError> {
        let begin = self.begin_write();
        on_db!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            for moved in marks {
                sqlx::query(moved.track.move_mark())
                    .bind(hook_id)
                    .bind(moved.room_id)
                    .bind(to_i64(moved.seq))
                    .execute(&mut *tx)
                    .await?;
            }
            for delivery in deliveries {
                sqlx::query(
                    "INSERT INTO outgoing_hook_deliveries (hook_id, at, room, first_seq, last_seq, \
                     events, result, status, detail, attempt) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
                     WHERE EXISTS (SELECT 1 FROM outgoing_hooks WHERE id = $1)",
                )
                .bind(hook_id)
                .bind(delivery.at_ms)
                .bind(&delivery.room)
                .bind(to_i64(delivery.first_seq))
                .bind(to_i64(delivery.last_seq))
                .bind(i64::from(delivery.events))
                .bind(&delivery.result)
                .bind(i64::from(delivery.status))
                .bind(&delivery.detail)
                .bind(i64::from(delivery.attempt))
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "DELETE FROM outgoing_hook_deliveries WHERE hook_id = $1 AND id <= \
                 (SELECT id FROM outgoing_hook_deliveries WHERE hook_id = $1 \
                 ORDER BY id DESC LIMIT 1 OFFSET $2)",
            )
            .bind(hook_id)
            .bind(KEPT_DELIVERIES)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Hook `hook_id`'s recorded attempts, newest first.
    pub async fn deliveries(&self, hook_id: i64) -> Result<Vec<DeliveryRow>, StoreError> {
        type Row = (i64, String, i64, i64, i64, String, i64, String, i64);
        let rows: Vec<Row> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT at, room, first_seq, last_seq, events, result, status, detail, attempt \
                 FROM outgoing_hook_deliveries WHERE hook_id = $1 ORDER BY id DESC",
            )
            .bind(hook_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(at_ms, room, first, last, events, result, status, detail, attempt)| DeliveryRow {
                    at_ms,
                    room,
                    first_seq: to_u64(first),
                    last_seq: to_u64(last),
                    events: u32::try_from(events).unwrap_or(0),
                    result,
                    status: u16::try_from(status).unwrap_or(0),
                    detail,
                    attempt: u32::try_from(attempt).unwrap_or(0),
                },
            )
            .collect())
    }
}
