//! The search index as stored (migrations 0010, 0012): one `search_docs` row per message, its text folded
//! and its author's name as `from:` compares it, kept by the indexer (`src/search/indexer.rs`) from the room
//! sequence after commit, never by the writer. The search itself is in `search_query.rs`.

use std::collections::{BTreeMap, BTreeSet};

use super::{Db, StoreError, on_db, to_i64, to_u64};
use crate::search::fold;

/// Rows of a room's sequence the indexer applies in one transaction on a connection of its own.
pub const INDEX_BATCH: i64 = 500;
/// The same through SQLite's store writer, which takes nothing else meanwhile: small enough that a batch
/// holds the next messages back for about a millisecond or two.
pub const WRITER_INDEX_BATCH: i64 = 100;
/// ... and while messages flood in (the indexer then also pauses between batches): each holds the next
/// messages back for less long (issue 22: 100-row batches took the paced fan-out's p99 from about 6 to 15 ms).
pub const FLOOD_INDEX_BATCH: i64 = 5;

/// A room the index has not followed to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Behind {
    /// The room.
    pub room_id: i64,
    /// The last id applied to the index.
    pub indexed: u64,
    /// The room's last id.
    pub last_seq: u64,
}

/// What to search for, as the store needs it.
#[derive(Clone, Debug, Default)]
pub struct SearchRequest {
    /// Folded terms, all to be found.
    pub terms: Vec<String>,
    /// Only this author (compared without case).
    pub from: Option<String>,
    /// Only this room.
    pub room: Option<String>,
    /// The searcher's account (`None`: a guest, who reads public rooms only).
    pub user_id: Option<i64>,
    /// The searcher is staff (who may read private rooms, never direct ones).
    pub staff: bool,
    /// Rooms the searcher is banned from.
    pub banned: Vec<String>,
    /// Only hits older than this cursor (a document number).
    pub before: Option<i64>,
    /// Most hits.
    pub limit: u32,
}

/// One message found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchHit {
    /// The document number (the cursor of the next page).
    pub doc: i64,
    /// The room's name.
    pub room: String,
    /// The message's id in its room.
    pub id: u64,
    /// When it was stored, ms since the epoch.
    pub ts_ms: i64,
    /// Its author.
    pub user: String,
    /// Its text (the newest, when edited).
    pub message: String,
}

impl Db {
    /// Rooms whose sequence runs past what the index holds, at most `limit`.
    pub async fn search_behind(&self, limit: i64) -> Result<Vec<Behind>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT r.id, COALESCE(s.indexed, 0), r.last_seq FROM rooms r \
                 LEFT JOIN search_marks s ON s.room_id = r.id \
                 WHERE r.last_seq > COALESCE(s.indexed, 0) ORDER BY r.id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(room_id, indexed, last_seq)| Behind {
                room_id,
                indexed: to_u64(indexed),
                last_seq: to_u64(last_seq),
            })
            .collect())
    }

    /// Applies the rows of room `room_id` after `indexed` (at most `batch`) to the index and moves its
    /// mark, in one transaction; returns the new mark. Messages are read as they are now (an edit's
    /// newest text, a deletion's tombstone), so applying a row twice changes nothing.
    pub async fn index_room(
        &self,
        room_id: i64,
        indexed: u64,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let begin = self.begin_write();
        on_db!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            let rows: Vec<RowToIndex> = sqlx::query_as(
                "SELECT seq, kind, target, body, deleted, files, author FROM messages \
                 WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(room_id)
            .bind(to_i64(indexed))
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
            // Nothing after the mark (retention removed it): the mark moves to the room's last id.
            let last = match rows.last() {
                Some(&(last, ..)) => last,
                None => {
                    sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = $1")
                        .bind(room_id)
                        .fetch_one(&mut *tx)
                        .await?
                }
            };
            // Each message the batch adds or changes, with its text and author as they are now (`None`:
            // deleted).
            let mut now: BTreeMap<i64, Option<(String, String)>> = BTreeMap::new();
            let mut earlier = BTreeSet::new();
            let mut cleared = None;
            for (seq, kind, target, body, deleted, files, author) in rows {
                match (kind, target) {
                    (0, _) => {
                        now.insert(seq, (!deleted).then(|| (searchable(body, files), author)));
                    }
                    // An edit or a deletion of a message before the batch: read as it is now.
                    (1 | 3, Some(target)) if !now.contains_key(&target) => {
                        earlier.insert(target);
                    }
                    (2, Some(through)) => cleared = cleared.max(Some(through)),
                    _ => {}
                }
            }
            for seq in earlier {
                let message: Option<(String, bool, Option<String>, String)> = sqlx::query_as(
                    "SELECT body, deleted, files, author FROM messages \
                     WHERE room_id = $1 AND seq = $2 AND kind = 0",
                )
                .bind(room_id)
                .bind(seq)
                .fetch_optional(&mut *tx)
                .await?;
                now.insert(
                    seq,
                    message.and_then(|(body, deleted, files, author)| {
                        (!deleted).then(|| (searchable(body, files), author))
                    }),
                );
            }
            if let Some(through) = cleared {
                sqlx::query("DELETE FROM search_docs WHERE room_id = $1 AND seq <= $2")
                    .bind(room_id)
                    .bind(through)
                    .execute(&mut *tx)
                    .await?;
            }
            for (seq, body) in now {
                match body {
                    // The author as `from:` compares it: lower() of each engine, on both sides.
                    Some((body, author)) => {
                        sqlx::query(
                            "INSERT INTO search_docs (room_id, seq, folded, author) \
                             VALUES ($1, $2, $3, lower($4)) ON CONFLICT (room_id, seq) \
                             DO UPDATE SET folded = excluded.folded, author = excluded.author",
                        )
                        .bind(room_id)
                        .bind(seq)
                        .bind(fold(&body))
                        .bind(author)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM search_docs WHERE room_id = $1 AND seq = $2")
                            .bind(room_id)
                            .bind(seq)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            sqlx::query(
                "INSERT INTO search_marks (room_id, indexed) VALUES ($1, $2) ON CONFLICT (room_id) \
                 DO UPDATE SET indexed = CASE WHEN search_marks.indexed > excluded.indexed \
                 THEN search_marks.indexed ELSE excluded.indexed END",
            )
            .bind(room_id)
            .bind(last)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(to_u64(last))
        })
    }

    /// Brings PostgreSQL's planner statistics up to date after a bulk load (an import, a reindex): without
    /// them it plans a million-row table as a few hundred rows and a search hashes all of it (measured by
    /// the search bench). SQLite keeps the plans the queries name.
    pub async fn analyze(&self) -> Result<(), StoreError> {
        if let Db::Postgres(pool) = self {
            sqlx::query("ANALYZE").execute(pool).await?;
        }
        Ok(())
    }

    /// Forgets the whole index (`chatweb reindex` builds it again from the messages).
    pub async fn clear_search(&self) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            for sql in ["DELETE FROM search_docs", "DELETE FROM search_marks"] {
                sqlx::query(sql).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// A row as the indexer reads it: seq, kind, target, body, deleted, files, author.
type RowToIndex = (i64, i64, Option<i64>, String, bool, Option<String>, String);

/// What a message is found by: its text, and the names of its files (`messages.files`).
fn searchable(body: String, files: Option<String>) -> String {
    let files = crate::domain::FileRef::list(files.as_deref().unwrap_or_default());
    if files.is_empty() {
        return body;
    }
    let mut text = body;
    for file in files {
        text.push('\n');
        text.push_str(&file.name);
    }
    text
}
