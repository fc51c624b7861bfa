//! Membership changes and room creation as events of the room's sequence (docs/ARCHITECTURE.md,
//! invariant 5): the `room_members` rows change in the transaction that stores the event with the room's
//! next id, and an entry in the moderation log (same transaction) tells every node to reload the room's
//! roles, which closes the sockets of anyone who may no longer read it (invariant 8).
//!
//! The rules that must hold under concurrent changes are checked here, inside the transaction that holds
//! the room's row: a member is added once, a direct room's members never change, and a room that has an
//! owner keeps at least one.

use super::{
    Amend, Amendment, Appended, Db, MemberChange, MemberEvent, MessageKind, StoreError,
    StoredMessage, on_db, to_u64,
};
use crate::domain::{Role, RoomKind};

/// The event row's `kind` column.
const MEMBER: i64 = 4;

/// Stores a membership change or a room's creation through `db` (the writer's connection).
pub(super) async fn amend(
    db: &Db,
    amendment: &Amendment,
    now_ms: i64,
) -> Result<Appended, StoreError> {
    let room = amendment.room.as_str();
    let actor = amendment.actor.as_str();
    let begin = db.begin_write();
    on_db!(db, |pool| {
        let mut tx = pool.begin_with(begin).await?;
        let (seq, target, body) = match &amendment.action {
            Amend::Create(new) => {
                let creator = new.members.first().map(|(id, _, _)| *id);
                let created: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO rooms (name, last_seq, updated_at, kind, topic, created_by, dm_key) \
                     VALUES ($1, 1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(room)
                .bind(now_ms)
                .bind(new.kind.as_str())
                .bind(new.topic.as_str())
                .bind(creator)
                .bind(new.dm_key.as_deref())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(room_id) = created else {
                    return Err(StoreError::Conflict("a room of that name exists"));
                };
                for (user_id, _, role) in &new.members {
                    sqlx::query(
                        "INSERT INTO room_members (room_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(room_id)
                    .bind(*user_id)
                    .bind(role.as_str())
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                let (user_id, user, role) = new
                    .members
                    .first()
                    .map(|(id, name, role)| (*id, name.as_str(), *role))
                    .ok_or(StoreError::Conflict("a room is created with its creator"))?;
                (
                    (room_id, 1),
                    user_id,
                    MemberEvent::encode("added", role, user),
                )
            }
            Amend::Member {
                user_id,
                user,
                change,
            } => {
                let head: Option<(i64, i64, String)> = sqlx::query_as(
                    "UPDATE rooms SET last_seq = last_seq + 1, updated_at = $2 WHERE name = $1 \
                     RETURNING id, last_seq, kind",
                )
                .bind(room)
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((room_id, seq, kind)) = head else {
                    return Err(StoreError::NotFound("no such room"));
                };
                if RoomKind::from_stored(&kind) == RoomKind::Direct {
                    return Err(StoreError::Forbidden(
                        "a direct room's members never change",
                    ));
                }
                let before: Option<String> = sqlx::query_scalar(
                    "SELECT role FROM room_members WHERE room_id = $1 AND user_id = $2",
                )
                .bind(room_id)
                .bind(*user_id)
                .fetch_optional(&mut *tx)
                .await?;
                let before = before.as_deref().and_then(Role::parse);
                let after = match (change, before) {
                    (MemberChange::Added(_), Some(_)) => {
                        return Err(StoreError::Conflict("already a member"));
                    }
                    (MemberChange::Added(role), None) => {
                        sqlx::query(
                            "INSERT INTO room_members (room_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)",
                        )
                        .bind(room_id)
                        .bind(*user_id)
                        .bind(role.as_str())
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                        *role
                    }
                    (_, None) => return Err(StoreError::NotFound("not a member of this room")),
                    (MemberChange::Role(role), Some(_)) => {
                        sqlx::query(
                            "UPDATE room_members SET role = $3 WHERE room_id = $1 AND user_id = $2",
                        )
                        .bind(room_id)
                        .bind(*user_id)
                        .bind(role.as_str())
                        .execute(&mut *tx)
                        .await?;
                        *role
                    }
                    (MemberChange::Removed | MemberChange::Left, Some(_)) => {
                        sqlx::query("DELETE FROM room_members WHERE room_id = $1 AND user_id = $2")
                            .bind(room_id)
                            .bind(*user_id)
                            .execute(&mut *tx)
                            .await?;
                        Role::Member
                    }
                };
                if before == Some(Role::Owner) && after != Role::Owner {
                    let owners: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM room_members WHERE room_id = $1 AND role = 'owner'",
                    )
                    .bind(room_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if owners == 0 {
                        // Dropping the transaction rolls everything back, the id included.
                        return Err(StoreError::Conflict(
                            "the room's only owner cannot leave or step down: make someone else owner first",
                        ));
                    }
                }
                (
                    (room_id, seq),
                    *user_id,
                    MemberEvent::encode(change.action(), after, user),
                )
            }
            _ => return Err(StoreError::NotFound("not a change of membership")),
        };
        let (room_id, seq) = seq;
        sqlx::query(
            "INSERT INTO messages (room_id, seq, author, body, client_id, created_at, author_id, kind, target) \
             VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $8)",
        )
        .bind(room_id)
        .bind(seq)
        .bind(actor)
        .bind(body.as_str())
        .bind(now_ms)
        .bind(amendment.actor_id)
        .bind(MEMBER)
        .bind(target)
        .execute(&mut *tx)
        .await?;
        // Every node reloads the room's roles from this entry (src/moderation/watch.rs).
        sqlx::query(
            "INSERT INTO moderation_events (at, room, action, subject) VALUES ($1, $2, 'member', $3)",
        )
        .bind(now_ms)
        .bind(room)
        .bind(format!("u:{target}"))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Appended {
            message: StoredMessage {
                bot: false,
                seq: to_u64(seq),
                ts_ms: now_ms,
                author: actor.to_owned(),
                body,
                guest: amendment.actor_id.is_none(),
                kind: MessageKind::Member,
                edited: false,
                reply_to: None,
                mentions: String::new(),
                files: String::new(),
            },
            duplicate: false,
        })
    })
}
