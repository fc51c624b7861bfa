//! Changes to a room's history (docs/ARCHITECTURE.md, invariant 5): each is stored as an event with the
//! room's next id, and the messages it names change (a new text, or a tombstone), in one transaction. The
//! room's row is locked first (the same `UPDATE rooms` that allocates the id), so concurrent writers on any
//! node queue behind it, and a refusal (no such message, someone else's) rolls the id back with everything
//! else: ids stay gap-free. A repeated `client_id` is recognised per room and owner, as a
//! message's is. Membership changes take the same path, in `membership.rs`.

use super::{
    Amend, Amendment, Appended, Authority, Db, MessageKind, MessageRow, ROW_COLUMNS, StoreError,
    StoredMessage, on_db, to_i64, to_u64,
};

/// The event row's `kind` column per action.
const DELETE: i64 = 1;
const CLEAR: i64 = 2;
const EDIT: i64 = 3;

/// Stores `amendment` through `db` (the writer's own connection).
pub(super) async fn amend(
    db: &Db,
    amendment: &Amendment,
    now_ms: i64,
) -> Result<Appended, StoreError> {
    match &amendment.action {
        Amend::Member { .. } | Amend::Create(_) => {
            super::membership::amend(db, amendment, now_ms).await
        }
        Amend::Delete { .. } | Amend::Clear | Amend::Edit { .. } => {
            history(db, amendment, now_ms).await
        }
    }
}

/// Stores an edit or a deletion.
async fn history(db: &Db, amendment: &Amendment, now_ms: i64) -> Result<Appended, StoreError> {
    let room = amendment.room.as_str();
    let client_id = amendment.client_id.as_deref();
    // Stored beside a client id only, as a message's is.
    let owner = client_id.map(|_| amendment.owner.as_str());
    on_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        if let (Some(client_id), Some(owner)) = (client_id, owner) {
            let seen: Option<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ROW_COLUMNS} FROM messages m JOIN rooms r ON r.id = m.room_id \
                 WHERE r.name = $1 AND m.sender_key = $2 AND m.client_id = $3"
            )))
            .bind(room)
            .bind(owner)
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = seen {
                return Ok(Appended {
                    message: StoredMessage::from(row),
                    duplicate: true,
                });
            }
        }
        let head: Option<(i64, i64, bool)> = sqlx::query_as(
            "UPDATE rooms SET last_seq = last_seq + 1, updated_at = $2 WHERE name = $1 \
             RETURNING id, last_seq, locked",
        )
        .bind(room)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((room_id, seq, locked)) = head else {
            return Err(StoreError::NotFound("no such room"));
        };
        if locked && amendment.authority == Authority::Author {
            return Err(StoreError::RoomLocked);
        }
        let (kind, target, body) = match &amendment.action {
            Amend::Delete { target } | Amend::Edit { target, .. } => {
                let target = to_i64(*target);
                let message: Option<(Option<i64>, i64, bool)> = sqlx::query_as(
                    "SELECT author_id, kind, deleted FROM messages WHERE room_id = $1 AND seq = $2",
                )
                .bind(room_id)
                .bind(target)
                .fetch_optional(&mut *tx)
                .await?;
                let author_id = match message {
                    Some((author_id, 0, false)) => author_id,
                    // Dropping the transaction rolls the id back.
                    _ => return Err(StoreError::NotFound("no such message, or it was deleted")),
                };
                if amendment.authority == Authority::Author
                    && (amendment.actor_id.is_none() || author_id != amendment.actor_id)
                {
                    return Err(StoreError::Forbidden(
                        "only its author (or staff) may change a message",
                    ));
                }
                match &amendment.action {
                    Amend::Edit { body, .. } => {
                        sqlx::query(
                            "UPDATE messages SET body = $3, edited = true WHERE room_id = $1 AND seq = $2",
                        )
                        .bind(room_id)
                        .bind(target)
                        .bind(body.as_str())
                        .execute(&mut *tx)
                        .await?;
                        (EDIT, target, body.as_str())
                    }
                    _ => {
                        sqlx::query(
                            "UPDATE messages SET body = '', deleted = true WHERE room_id = $1 AND seq = $2",
                        )
                        .bind(room_id)
                        .bind(target)
                        .execute(&mut *tx)
                        .await?;
                        (DELETE, target, "")
                    }
                }
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
                if done == 0 {
                    return Err(StoreError::NotFound("no message to delete"));
                }
                (CLEAR, seq - 1, "")
            }
            Amend::Member { .. } | Amend::Create(_) => {
                return Err(StoreError::NotFound("not a change to the history"));
            }
        };
        sqlx::query(
            "INSERT INTO messages (room_id, seq, author, body, client_id, created_at, author_id, kind, target, \
             sender_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(room_id)
        .bind(seq)
        .bind(amendment.actor.as_str())
        .bind(body)
        .bind(client_id)
        .bind(now_ms)
        .bind(amendment.actor_id)
        .bind(kind)
        .bind(target)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Appended {
            message: StoredMessage {
                seq: to_u64(seq),
                ts_ms: now_ms,
                author: amendment.actor.as_str().to_owned(),
                body: body.to_owned(),
                guest: amendment.actor_id.is_none(),
                kind: MessageKind::from_columns(kind, Some(target), false),
                edited: false,
            },
            duplicate: false,
        })
    })
}
