//! Changes to a room's history (docs/ARCHITECTURE.md, invariant 5): each is stored as an event with the
//! room's next id, and the messages it names change (a new text, or a tombstone), in one transaction. The
//! room's row is locked first (the same `UPDATE rooms` that allocates the id), so concurrent writers on any
//! node queue behind it, and a refusal (no such message, someone else's) rolls the id back with everything
//! else: ids stay gap-free. A repeated `client_id` is recognised per room and owner, as a
//! message's is. Reactions, pins and topics are events of the same kind (the `reactions` and `pins`
//! tables hold what they add up to, within [`MAX_REACTIONS`] and [`MAX_PINS`]), and a change that is
//! already so rolls back as a refusal does, using no id. Membership changes take the same path, in
//! `membership.rs`.

use super::{
    Amend, Amendment, Appended, Authority, Db, MessageKind, MessageRow, ROW_COLUMNS, StoreError,
    StoredMessage, on_db, to_i64, to_u64,
};

/// The event row's `kind` column per action.
const DELETE: i64 = 1;
const CLEAR: i64 = 2;
const EDIT: i64 = 3;
const REACTION: i64 = 5;
const PIN: i64 = 6;
const TOPIC: i64 = 7;

/// Most distinct emoji one message takes reactions of.
pub const MAX_REACTIONS: usize = 20;
/// Most pins a room holds.
pub const MAX_PINS: usize = 50;

/// The answer to a change that was already so: nothing stored, no id used; `seq` is the id the ack
/// names (the message's, or for a topic the room's last).
fn unchanged(seq: i64) -> Appended {
    Appended {
        message: StoredMessage {
            bot: false,
            seq: to_u64(seq),
            ts_ms: 0,
            author: String::new(),
            body: String::new(),
            guest: false,
            kind: MessageKind::Message,
            edited: false,
            reply_to: None,
            mentions: String::new(),
            files: String::new(),
        },
        duplicate: true,
    }
}

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
        _ => history(db, amendment, now_ms).await,
    }
}

/// Stores an edit or a deletion.
async fn history(db: &Db, amendment: &Amendment, now_ms: i64) -> Result<Appended, StoreError> {
    let room = amendment.room.as_str();
    let client_id = amendment.client_id.as_deref();
    // Stored beside a client id only, as a message's is.
    let owner = client_id.map(|_| amendment.owner.as_str());
    let begin = db.begin_write();
    on_db!(db, |pool| {
        let mut tx = pool.begin_with(begin).await?;
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
        // The message an action names must be a message of the room, not deleted.
        let target = match &amendment.action {
            Amend::Delete { target }
            | Amend::Edit { target, .. }
            | Amend::React { target, .. }
            | Amend::Pin { target, .. } => {
                let target = to_i64(*target);
                let message: Option<(Option<i64>, i64, bool)> = sqlx::query_as(
                    "SELECT author_id, kind, deleted FROM messages WHERE room_id = $1 AND seq = $2",
                )
                .bind(room_id)
                .bind(target)
                .fetch_optional(&mut *tx)
                .await?;
                match message {
                    Some((author_id, 0, false)) => Some((target, author_id)),
                    // Dropping the transaction rolls the id back.
                    _ => return Err(StoreError::NotFound("no such message, or it was deleted")),
                }
            }
            _ => None,
        };
        let (kind, target, body) = match (&amendment.action, target) {
            (Amend::Delete { .. } | Amend::Edit { .. }, Some((target, author_id))) => {
                if amendment.authority == Authority::Author
                    && (amendment.actor_id.is_none() || author_id != amendment.actor_id)
                {
                    return Err(StoreError::Forbidden(
                        "only its author (or staff) may change a message",
                    ));
                }
                if let Amend::Edit { body, .. } = &amendment.action {
                    sqlx::query(
                        "UPDATE messages SET body = $3, edited = true WHERE room_id = $1 AND seq = $2",
                    )
                    .bind(room_id)
                    .bind(target)
                    .bind(body.as_str())
                    .execute(&mut *tx)
                    .await?;
                    (EDIT, target, body.as_str().to_owned())
                } else {
                    sqlx::query(
                        "UPDATE messages SET body = '', deleted = true, mentions = NULL, files = NULL \
                         WHERE room_id = $1 AND seq = $2",
                    )
                    .bind(room_id)
                    .bind(target)
                    .execute(&mut *tx)
                    .await?;
                    // A deleted message keeps no reactions, pin or mentions (nor says whom it named).
                    for table in ["reactions", "pins"] {
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DELETE FROM {table} WHERE room_id = $1 AND target = $2"
                        )))
                        .bind(room_id)
                        .bind(target)
                        .execute(&mut *tx)
                        .await?;
                    }
                    sqlx::query("DELETE FROM mentions WHERE room_id = $1 AND seq = $2")
                        .bind(room_id)
                        .bind(target)
                        .execute(&mut *tx)
                        .await?;
                    // Its files go with it: no download from now on, the janitor removes the bytes.
                    sqlx::query("UPDATE files SET gone = true WHERE room = $1 AND seq = $2")
                        .bind(amendment.room.as_str())
                        .bind(target)
                        .execute(&mut *tx)
                        .await?;
                    (DELETE, target, String::new())
                }
            }
            (Amend::Clear, _) => {
                let done = sqlx::query(
                    "UPDATE messages SET body = '', deleted = true, mentions = NULL, files = NULL \
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
                for table in ["reactions", "pins", "mentions"] {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM {table} WHERE room_id = $1"
                    )))
                    .bind(room_id)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query("UPDATE files SET gone = true WHERE room = $1 AND seq < $2")
                    .bind(amendment.room.as_str())
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                (CLEAR, seq - 1, String::new())
            }
            (Amend::React { emoji, add, .. }, Some((target, _))) => {
                let Some(user_id) = amendment.actor_id else {
                    return Err(StoreError::Forbidden("sign in to react"));
                };
                let changed = if *add {
                    let (emojis, mine): (i64, i64) = sqlx::query_as(
                        "SELECT COUNT(DISTINCT emoji), COUNT(CASE WHEN emoji = $3 THEN 1 END) \
                         FROM reactions WHERE room_id = $1 AND target = $2",
                    )
                    .bind(room_id)
                    .bind(target)
                    .bind(emoji.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                    if mine == 0 && emojis >= MAX_REACTIONS as i64 {
                        return Err(StoreError::TooManyReactions(MAX_REACTIONS));
                    }
                    sqlx::query(
                        "INSERT INTO reactions (room_id, target, emoji, user_id, user_name, seq) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    )
                    .bind(room_id)
                    .bind(target)
                    .bind(emoji.as_str())
                    .bind(user_id)
                    .bind(amendment.actor.as_str())
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                } else {
                    sqlx::query(
                        "DELETE FROM reactions WHERE room_id = $1 AND target = $2 AND emoji = $3 AND user_id = $4",
                    )
                    .bind(room_id)
                    .bind(target)
                    .bind(emoji.as_str())
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                } > 0;
                if !changed {
                    return Ok(unchanged(target));
                }
                let sign = if *add { '+' } else { '-' };
                (REACTION, target, format!("{sign}{emoji}"))
            }
            (Amend::Pin { add, .. }, Some((target, _))) => {
                let changed = if *add {
                    let pins: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM pins WHERE room_id = $1")
                            .bind(room_id)
                            .fetch_one(&mut *tx)
                            .await?;
                    let added = sqlx::query(
                        "INSERT INTO pins (room_id, target, pinned_by, pinned_at, seq) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(room_id)
                    .bind(target)
                    .bind(amendment.actor.as_str())
                    .bind(now_ms)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if added > 0 && pins >= MAX_PINS as i64 {
                        return Err(StoreError::TooManyPins(MAX_PINS));
                    }
                    added
                } else {
                    sqlx::query("DELETE FROM pins WHERE room_id = $1 AND target = $2")
                        .bind(room_id)
                        .bind(target)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                } > 0;
                if !changed {
                    return Ok(unchanged(target));
                }
                (PIN, target, if *add { "add" } else { "remove" }.to_owned())
            }
            (Amend::Topic(topic), _) => {
                let changed =
                    sqlx::query("UPDATE rooms SET topic = $2 WHERE id = $1 AND topic <> $2")
                        .bind(room_id)
                        .bind(topic.as_str())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                if changed == 0 {
                    // The id the ack names: the room's last one, as it stays.
                    return Ok(unchanged(seq - 1));
                }
                (TOPIC, 0, topic.clone())
            }
            _ => return Err(StoreError::NotFound("not a change to the history")),
        };
        sqlx::query(
            "INSERT INTO messages (room_id, seq, author, body, client_id, created_at, author_id, kind, target, \
             sender_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(room_id)
        .bind(seq)
        .bind(amendment.actor.as_str())
        .bind(body.as_str())
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
                bot: false,
                seq: to_u64(seq),
                ts_ms: now_ms,
                author: amendment.actor.as_str().to_owned(),
                body,
                guest: amendment.actor_id.is_none(),
                kind: MessageKind::from_columns(kind, Some(target), false),
                edited: false,
                reply_to: None,
                mentions: String::new(),
                files: String::new(),
            },
            duplicate: false,
        })
    })
}
