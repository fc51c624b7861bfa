//! Changes to a room's history (shared/DESIGN.md, invariant 5): each is stored as an event with the room's
//! next id, and the messages it names lose their text, in one transaction. The room's row is locked first
//! (the same `UPDATE rooms` that allocates the id), so concurrent writers on any node queue behind it, and a
//! refusal (no such message) rolls the id back with everything else: ids stay gap-free.

use super::{Amend, Amendment, Db, MessageKind, StoreError, StoredMessage, on_db, to_i64, to_u64};

/// Stores `amendment` through `db` (the writer's own connection).
pub(super) async fn amend(
    db: &Db,
    amendment: &Amendment,
    now_ms: i64,
) -> Result<StoredMessage, StoreError> {
    let room = amendment.room.as_str();
    on_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let head: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE rooms SET last_seq = last_seq + 1, updated_at = $2 WHERE name = $1 RETURNING id, last_seq",
        )
        .bind(room)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((room_id, seq)) = head else {
            return Err(StoreError::NotFound("no such room"));
        };
        let (kind, target, deleted) = match amendment.action {
            Amend::Delete { target } => {
                let done = sqlx::query(
                    "UPDATE messages SET body = '', deleted = true \
                     WHERE room_id = $1 AND seq = $2 AND kind = 0 AND NOT deleted",
                )
                .bind(room_id)
                .bind(to_i64(target))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                (1_i64, to_i64(target), done)
            }
            Amend::Clear => {
                let done = sqlx::query(
                    "UPDATE messages SET body = '', deleted = true \
                     WHERE room_id = $1 AND seq < $2 AND kind = 0 AND NOT deleted",
                )
                .bind(room_id)
                .bind(seq)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                (2_i64, seq - 1, done)
            }
        };
        if deleted == 0 {
            // Dropping the transaction rolls the id back.
            return Err(StoreError::NotFound("no such message, or already deleted"));
        }
        sqlx::query(
            "INSERT INTO messages (room_id, seq, author, body, client_id, created_at, author_id, kind, target) \
             VALUES ($1, $2, $3, '', NULL, $4, $5, $6, $7)",
        )
        .bind(room_id)
        .bind(seq)
        .bind(amendment.actor.as_str())
        .bind(now_ms)
        .bind(amendment.actor_id)
        .bind(kind)
        .bind(target)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(StoredMessage {
            seq: to_u64(seq),
            ts_ms: now_ms,
            author: amendment.actor.as_str().to_owned(),
            body: String::new(),
            guest: amendment.actor_id.is_none(),
            kind: MessageKind::from_columns(kind, Some(target), false),
            edited: false,
        })
    })
}
