//! Room kinds, members and invite links as stored (migration 0008): the reads the one access check makes
//! (`src/access/`), the member lists of the API and the admin, and invite links. Membership itself changes
//! only through the writer (`amend.rs`), as an event of the room's sequence.

use super::{Db, StoreError, on_db};
use crate::domain::{Role, RoomKind};

/// A room's kind and one person's role in it, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomAccessRow {
    /// The room's kind.
    pub kind: RoomKind,
    /// The person's role (`None`: not a member).
    pub role: Option<Role>,
    /// The room's topic.
    pub topic: String,
    /// The room is read-only.
    pub locked: bool,
    /// Anyone holds a role in it (a public room from before issue 18 has nobody).
    pub has_members: bool,
}

/// One member of a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    /// The account.
    pub user_id: i64,
    /// Its name.
    pub username: String,
    /// Its role.
    pub role: Role,
}

/// A private or direct room someone belongs to, for their room list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRoom {
    /// The room's name.
    pub name: String,
    /// Its kind.
    pub kind: RoomKind,
    /// The person's role.
    pub role: Role,
    /// Its last id.
    pub last_seq: u64,
    /// When it last changed (ms since the epoch).
    pub updated_at_ms: i64,
    /// Its topic.
    pub topic: String,
}

/// A stored invite link (its token is never stored, only the SHA-256 of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteRow {
    /// The room it admits to.
    pub room: String,
    /// How many joins it allows.
    pub max_uses: i64,
    /// How many it has admitted.
    pub uses: i64,
    /// When it stops working (ms since the epoch).
    pub expires_at_ms: i64,
}

/// A new invite link.
#[derive(Clone, Debug)]
pub struct NewInvite<'a> {
    /// The SHA-256 of its token, hex.
    pub token_hash: &'a str,
    /// The room.
    pub room: &'a str,
    /// Who made it.
    pub created_by: i64,
    /// How many joins it allows.
    pub max_uses: i64,
    /// When it stops working.
    pub expires_at_ms: i64,
    /// Now.
    pub now_ms: i64,
}

fn role(text: &str) -> Role {
    // Only the writer stores roles, from `Role::as_str`; anything else is read as the weakest.
    Role::parse(text).unwrap_or(Role::Member)
}

/// `room`'s kind, topic, lock and whether it has members, and `$2`'s role in it (`-1` for nobody): the one
/// access check's read.
pub(super) const ROOM_ACCESS_SQL: &str = "SELECT r.kind, r.topic, m.role, r.locked, \
     EXISTS (SELECT 1 FROM room_members x WHERE x.room_id = r.id) FROM rooms r \
     LEFT JOIN room_members m ON m.room_id = r.id AND m.user_id = $2 \
     WHERE r.name = $1";

/// A row of [`ROOM_ACCESS_SQL`], as read.
pub(super) type RoomAccessColumns = (String, String, Option<String>, bool, bool);

/// A row of [`ROOM_ACCESS_SQL`] as the access check reads it.
pub(super) fn room_access_row(
    (kind, topic, member, locked, has_members): RoomAccessColumns,
) -> RoomAccessRow {
    RoomAccessRow {
        kind: RoomKind::from_stored(&kind),
        role: member.as_deref().map(role),
        topic,
        locked,
        has_members,
    }
}

impl Db {
    /// `room`'s kind and topic, and `user_id`'s role in it; `None` when the room has no row yet (it is
    /// public: rooms come to exist by their first message). The access check asks
    /// [`super::Store::room_access`], which reads SQLite on its own thread when it can.
    pub async fn room_access(
        &self,
        room: &str,
        user_id: Option<i64>,
    ) -> Result<Option<RoomAccessRow>, StoreError> {
        let row: Option<RoomAccessColumns> = on_db!(self, |pool| {
            sqlx::query_as(ROOM_ACCESS_SQL)
                .bind(room)
                .bind(user_id.unwrap_or(-1))
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(room_access_row))
    }

    /// `room`'s kind and every member's role (what each node holds in memory for the room's sockets).
    pub async fn room_roles(&self, room: &str) -> Result<(RoomKind, Vec<(i64, Role)>), StoreError> {
        let kind: Option<String> = on_db!(self, |pool| {
            sqlx::query_scalar("SELECT kind FROM rooms WHERE name = $1")
                .bind(room)
                .fetch_optional(pool)
                .await?
        });
        let Some(kind) = kind else {
            return Ok((RoomKind::Public, Vec::new()));
        };
        let rows: Vec<(i64, String)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT m.user_id, m.role FROM room_members m JOIN rooms r ON r.id = m.room_id \
                 WHERE r.name = $1",
            )
            .bind(room)
            .fetch_all(pool)
            .await?
        });
        Ok((
            RoomKind::from_stored(&kind),
            rows.into_iter().map(|(id, r)| (id, role(&r))).collect(),
        ))
    }

    /// The active accounts of exactly these `names` (as accounts spell them), at most `limit`: id and name.
    pub async fn accounts_named(
        &self,
        names: &[String],
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let names = &names[..names.len().min(limit)];
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, username FROM users WHERE is_active AND username IN ({})",
            list.join(", ")
        );
        let rows = on_db!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for name in names {
                query = query.bind(name.as_str());
            }
            query.fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// `room`'s members, owners first, then by name.
    pub async fn members(&self, room: &str) -> Result<Vec<MemberRow>, StoreError> {
        let rows: Vec<(i64, String, String)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT u.id, u.username, m.role FROM room_members m \
                 JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.user_id \
                 WHERE r.name = $1 ORDER BY u.username_key",
            )
            .bind(room)
            .fetch_all(pool)
            .await?
        });
        let mut members: Vec<MemberRow> = rows
            .into_iter()
            .map(|(user_id, username, r)| MemberRow {
                user_id,
                username,
                role: role(&r),
            })
            .collect();
        members.sort_by_key(|m| std::cmp::Reverse(m.role));
        Ok(members)
    }

    /// The rooms `user_id` is a member of that only members may read, most recently active first.
    pub async fn member_rooms(&self, user_id: i64) -> Result<Vec<MemberRoom>, StoreError> {
        let rows: Vec<(String, String, String, i64, i64, String)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT r.name, r.kind, m.role, r.last_seq, r.updated_at, r.topic FROM room_members m \
                 JOIN rooms r ON r.id = m.room_id \
                 WHERE m.user_id = $1 AND r.kind <> 'public' ORDER BY r.updated_at DESC LIMIT 500",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(name, kind, r, last_seq, updated_at_ms, topic)| MemberRoom {
                    name,
                    kind: RoomKind::from_stored(&kind),
                    role: role(&r),
                    last_seq: super::to_u64(last_seq),
                    updated_at_ms,
                    topic,
                },
            )
            .collect())
    }

    /// The direct room of the member set `dm_key`, if it exists.
    pub async fn direct_room(&self, dm_key: &str) -> Result<Option<String>, StoreError> {
        Ok(on_db!(self, |pool| {
            sqlx::query_scalar("SELECT name FROM rooms WHERE dm_key = $1")
                .bind(dm_key)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Stores a new invite link; false when the room has no row.
    pub async fn create_invite(&self, invite: &NewInvite<'_>) -> Result<bool, StoreError> {
        let done = on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO room_invites (token_hash, room_id, created_by, max_uses, uses, expires_at, created_at) \
                 SELECT $1, id, $3, $4, 0, $5, $6 FROM rooms WHERE name = $2",
            )
            .bind(invite.token_hash)
            .bind(invite.room)
            .bind(invite.created_by)
            .bind(invite.max_uses)
            .bind(invite.expires_at_ms)
            .bind(invite.now_ms)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
    }

    /// The invite link whose token hashes to `token_hash`.
    pub async fn invite(&self, token_hash: &str) -> Result<Option<InviteRow>, StoreError> {
        let row: Option<(String, i64, i64, i64)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT r.name, i.max_uses, i.uses, i.expires_at FROM room_invites i \
                 JOIN rooms r ON r.id = i.room_id WHERE i.token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(room, max_uses, uses, expires_at_ms)| InviteRow {
            room,
            max_uses,
            uses,
            expires_at_ms,
        }))
    }

    /// Takes one use of an invite link if it has one left and has not expired (one statement, so two
    /// people racing for the last use cannot both have it); false otherwise.
    pub async fn take_invite(&self, token_hash: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = on_db!(self, |pool| {
            sqlx::query(
                "UPDATE room_invites SET uses = uses + 1 \
                 WHERE token_hash = $1 AND uses < max_uses AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now_ms)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
    }

    /// Gives back a use taken by [`Db::take_invite`] when the join it was for did not happen.
    pub async fn return_invite(&self, token_hash: &str) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            sqlx::query(
                "UPDATE room_invites SET uses = uses - 1 WHERE token_hash = $1 AND uses > 0",
            )
            .bind(token_hash)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
