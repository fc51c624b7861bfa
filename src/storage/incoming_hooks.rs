//! The SQL of incoming webhooks (issue 21): one row per hook, naming its room and the name it posts
//! under, found by the SHA-256 of its token (the token itself is shown once and never stored). A revoked
//! hook keeps its row (for the audit) and is never found by its token again.

use super::{Db, StoreError, on_db};

/// An incoming webhook as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingHookRow {
    /// Its id.
    pub id: i64,
    /// The room it posts into.
    pub room: String,
    /// The name its messages are shown under (unless a post renames them).
    pub name: String,
    /// Who made it.
    pub created_by: i64,
    /// When, ms since the epoch.
    pub created_at: i64,
    /// When it was revoked (`None`: live).
    pub revoked_at: Option<i64>,
}

type HookTuple = (i64, String, String, i64, i64, Option<i64>);

fn hook((id, room, name, created_by, created_at, revoked_at): HookTuple) -> IncomingHookRow {
    IncomingHookRow {
        id,
        room,
        name,
        created_by,
        created_at,
        revoked_at,
    }
}

impl Db {
    /// Stores a new incoming hook of `room` (its token by hash); returns its id.
    pub async fn create_incoming_hook(
        &self,
        room: &str,
        name: &str,
        token_hash: &str,
        created_by: i64,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        Ok(on_db!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO incoming_hooks (room, name, token_hash, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(room)
            .bind(name)
            .bind(token_hash)
            .bind(created_by)
            .bind(now_ms)
            .fetch_one(pool)
            .await?
        }))
    }

    /// The live hooks of `room` (every room's when `None`), oldest first.
    pub async fn incoming_hooks(
        &self,
        room: Option<&str>,
    ) -> Result<Vec<IncomingHookRow>, StoreError> {
        let rows: Vec<HookTuple> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, room, name, created_by, created_at, revoked_at FROM incoming_hooks \
                 WHERE revoked_at IS NULL AND ($1 IS NULL OR room = $1) ORDER BY id",
            )
            .bind(room)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(hook).collect())
    }

    /// The live hook whose token has this hash.
    pub async fn incoming_hook_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<IncomingHookRow>, StoreError> {
        let row: Option<HookTuple> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, room, name, created_by, created_at, revoked_at FROM incoming_hooks \
                 WHERE token_hash = $1 AND revoked_at IS NULL",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(hook))
    }

    /// The live hook `id`.
    pub async fn incoming_hook(&self, id: i64) -> Result<Option<IncomingHookRow>, StoreError> {
        let row: Option<HookTuple> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, room, name, created_by, created_at, revoked_at FROM incoming_hooks \
                 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(hook))
    }

    /// Revokes hook `id`; false when it was not live.
    pub async fn revoke_incoming_hook(&self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        let affected = on_db!(self, |pool| {
            sqlx::query(
                "UPDATE incoming_hooks SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now_ms)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(affected > 0)
    }
}
