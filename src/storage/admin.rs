//! The SQL of the admin: listings of rooms and messages with filters and pages, room locks, and the audit
//! log. One text per query for both engines (see [`Db`]).

use super::accounts::like_pattern;
use super::{Db, StoreError, on_db, to_u64};
use crate::domain::RoomKind;

/// A room as the admin lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminRoom {
    /// The room's name.
    pub name: String,
    /// Its last id (messages and events).
    pub last_seq: u64,
    /// Messages that are not deleted.
    pub messages: i64,
    /// Last activity, ms since the epoch.
    pub updated_at: i64,
    /// Read-only.
    pub locked: bool,
    /// Its kind.
    pub kind: RoomKind,
}

/// A message as the admin lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminMessage {
    /// Its room.
    pub room: String,
    /// Its id in the room.
    pub seq: u64,
    /// When it was stored, ms since the epoch.
    pub ts_ms: i64,
    /// Its author's name.
    pub author: String,
    /// Its author's account (`None`: a guest).
    pub author_id: Option<i64>,
    /// Its text ("" once deleted).
    pub body: String,
    /// Deleted (a tombstone).
    pub deleted: bool,
}

/// Which messages to list.
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    /// Only this room.
    pub room: Option<String>,
    /// Only this user's.
    pub user_id: Option<i64>,
    /// Only those whose text contains this (case-insensitively).
    pub text: String,
}

/// One row of the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its position.
    pub id: i64,
    /// When, ms since the epoch.
    pub at: i64,
    /// Who (a user's name, or `cli`).
    pub actor: String,
    /// What (`user.deactivate`, `message.delete`, ...).
    pub action: String,
    /// To whom or what.
    pub target: String,
    /// More about it.
    pub detail: String,
}

impl Db {
    /// Rooms, most recently active first, one page; and how many there are.
    pub async fn admin_rooms(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AdminRoom>, i64), StoreError> {
        let rows: Vec<(String, i64, i64, i64, bool, String)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT r.name, r.last_seq, \
                 (SELECT COUNT(*) FROM messages m WHERE m.room_id = r.id AND m.kind = 0 AND NOT m.deleted), \
                 r.updated_at, r.locked, r.kind FROM rooms r ORDER BY r.updated_at DESC, r.name LIMIT $1 OFFSET $2",
            )
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?
        });
        let total: i64 = on_db!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM rooms")
                .fetch_one(pool)
                .await?
        });
        let rooms = rows
            .into_iter()
            .map(
                |(name, last_seq, messages, updated_at, locked, kind)| AdminRoom {
                    name,
                    last_seq: to_u64(last_seq),
                    messages,
                    updated_at,
                    locked,
                    kind: RoomKind::from_stored(&kind),
                },
            )
            .collect();
        Ok((rooms, total))
    }

    /// Locks or unlocks a room; returns whether it exists. A locked room refuses new messages inside the
    /// writer's transaction, on every node.
    pub async fn set_room_locked(&self, room: &str, locked: bool) -> Result<bool, StoreError> {
        let done = on_db!(self, |pool| {
            sqlx::query("UPDATE rooms SET locked = $1 WHERE name = $2")
                .bind(locked)
                .bind(room)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Messages (not events) matching `filter`, newest first, one page; and how many match.
    pub async fn admin_messages(
        &self,
        filter: &MessageFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AdminMessage>, i64), StoreError> {
        let pattern = like_pattern(&filter.text);
        let conditions = "m.kind = 0 AND ($1 IS NULL OR r.name = $1) AND ($2 IS NULL OR m.author_id = $2) \
                          AND lower(m.body) LIKE $3 ESCAPE '\\'";
        let list = sqlx::AssertSqlSafe(format!(
            "SELECT r.name, m.seq, m.created_at, m.author, m.author_id, m.body, m.deleted \
             FROM messages m JOIN rooms r ON r.id = m.room_id WHERE {conditions} \
             ORDER BY m.created_at DESC, m.seq DESC LIMIT $4 OFFSET $5"
        ));
        let count = sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM messages m JOIN rooms r ON r.id = m.room_id WHERE {conditions}"
        ));
        type MessageRow = (String, i64, i64, String, Option<i64>, String, bool);
        let rows: Vec<MessageRow> = on_db!(self, |pool| {
            sqlx::query_as(list)
                .bind(filter.room.as_deref())
                .bind(filter.user_id)
                .bind(&pattern)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?
        });
        let total: i64 = on_db!(self, |pool| {
            sqlx::query_scalar(count)
                .bind(filter.room.as_deref())
                .bind(filter.user_id)
                .bind(&pattern)
                .fetch_one(pool)
                .await?
        });
        let messages = rows
            .into_iter()
            .map(
                |(room, seq, ts_ms, author, author_id, body, deleted)| AdminMessage {
                    room,
                    seq: to_u64(seq),
                    ts_ms,
                    author,
                    author_id,
                    body,
                    deleted,
                },
            )
            .collect();
        Ok((messages, total))
    }

    /// Appends a row to the audit log.
    pub async fn audit(
        &self,
        actor_id: Option<i64>,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO audit_log (at, actor_id, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(now_ms)
            .bind(actor_id)
            .bind(actor)
            .bind(action)
            .bind(target)
            .bind(detail)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// The audit log, newest first, one page; and how long it is.
    pub async fn audit_log(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditEntry>, i64), StoreError> {
        let rows: Vec<(i64, i64, String, String, String, String)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT $1 OFFSET $2",
            )
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?
        });
        let total: i64 = on_db!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
                .fetch_one(pool)
                .await?
        });
        let entries = rows
            .into_iter()
            .map(|(id, at, actor, action, target, detail)| AuditEntry {
                id,
                at,
                actor,
                action,
                target,
                detail,
            })
            .collect();
        Ok((entries, total))
    }
}
