//! The heads check's read (`channels/redis/heal.rs`): the last id of many rooms at once, one query per
//! [`HEADS_PER_QUERY`] rooms. The list travels as one bound value (a JSON array for SQLite's `json_each`,
//! an array for PostgreSQL's `ANY`), so the query text is the same whatever the number of rooms.

use std::collections::HashMap;

use super::{Db, StoreError};
use crate::domain::RoomName;

/// Rooms whose heads one query reads.
const HEADS_PER_QUERY: usize = 500;

impl Db {
    /// The last id of each of `rooms` that exists; an error if any of the queries fails.
    pub async fn room_heads(
        &self,
        rooms: &[RoomName],
    ) -> Result<HashMap<RoomName, u64>, StoreError> {
        let mut heads = HashMap::with_capacity(rooms.len());
        for chunk in rooms.chunks(HEADS_PER_QUERY) {
            let rows = read_heads(self, chunk).await?;
            heads.extend(rows.into_iter().filter_map(|(name, seq)| {
                Some((RoomName::parse(&name)?, u64::try_from(seq).ok()?))
            }));
        }
        Ok(heads)
    }
}

/// `(name, last_seq)` of each of `rooms` that exists, in one query.
async fn read_heads(db: &Db, rooms: &[RoomName]) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let names: Vec<String> = rooms.iter().map(|room| room.as_str().to_owned()).collect();
    match db {
        Db::Sqlite(pool) => {
            let names = serde_json::to_string(&names).unwrap_or_else(|_| "[]".into());
            sqlx::query_as(
                "SELECT name, last_seq FROM rooms WHERE name IN (SELECT value FROM json_each(?))",
            )
            .bind(names)
            .fetch_all(pool)
            .await
        }
        Db::Postgres(pool) => {
            sqlx::query_as("SELECT name, last_seq FROM rooms WHERE name = ANY($1)")
                .bind(names)
                .fetch_all(pool)
                .await
        }
    }
}
