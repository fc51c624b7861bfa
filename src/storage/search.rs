//! The search index as stored (migration 0010): one `search_docs` row per message, its text folded, kept by
//! the indexer (`src/search/indexer.rs`) from the room sequence after commit, never by the writer; and the
//! search itself, filtered by who may read each room in the query, not after it (so a page of hits is
//! full). SQLite finds terms through an FTS5 trigram index over `search_docs`, PostgreSQL through a pg_trgm
//! GIN index serving `LIKE '%term%'`; terms of one or two characters, which no trigram holds, filter what
//! the others found (alone, they read the candidate rooms' documents, newest first, up to the page).

use std::collections::{BTreeMap, BTreeSet};

use super::{Db, StoreError, on_db, to_i64, to_u64};
use crate::search::fold;

/// Rows of a room's sequence the indexer applies in one transaction on a connection of its own.
pub const INDEX_BATCH: i64 = 500;
/// The same through SQLite's store writer, which takes nothing else meanwhile: small enough that a batch
/// holds the next messages back for about a millisecond or two.
pub const WRITER_INDEX_BATCH: i64 = 100;

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

/// `term` as a LIKE pattern that finds it anywhere (`\` escapes `%`, `_` and itself).
fn anywhere(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The FTS5 query that finds every term of at least three characters as a substring.
fn fts_query(terms: &[&String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" AND ")
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
                "SELECT seq, kind, target, body, deleted, files FROM messages \
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
            // Each message the batch adds or changes, with its text as it is now (`None`: deleted).
            let mut now: BTreeMap<i64, Option<String>> = BTreeMap::new();
            let mut earlier = BTreeSet::new();
            let mut cleared = None;
            for (seq, kind, target, body, deleted, files) in rows {
                match (kind, target) {
                    (0, _) => {
                        now.insert(seq, (!deleted).then(|| searchable(body, files)));
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
                let message: Option<(String, bool, Option<String>)> = sqlx::query_as(
                    "SELECT body, deleted, files FROM messages \
                     WHERE room_id = $1 AND seq = $2 AND kind = 0",
                )
                .bind(room_id)
                .bind(seq)
                .fetch_optional(&mut *tx)
                .await?;
                now.insert(
                    seq,
                    message.and_then(|(body, deleted, files)| {
                        (!deleted).then(|| searchable(body, files))
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
                    Some(body) => {
                        sqlx::query(
                            "INSERT INTO search_docs (room_id, seq, folded) VALUES ($1, $2, $3) \
                             ON CONFLICT (room_id, seq) DO UPDATE SET folded = excluded.folded",
                        )
                        .bind(room_id)
                        .bind(seq)
                        .bind(fold(&body))
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

    /// Messages that hold every term, newest first, in rooms the searcher may read.
    pub async fn search(&self, request: &SearchRequest) -> Result<Vec<SearchHit>, StoreError> {
        let sqlite = matches!(self, Db::Sqlite(_));
        // SQLite's trigram index holds terms of three characters or more; shorter ones filter.
        let (indexed, filtered): (Vec<&String>, Vec<&String>) = request
            .terms
            .iter()
            .partition(|t| sqlite && t.chars().count() >= 3);
        // With trigram terms, the FTS5 table drives the query (CROSS JOIN keeps it the outer loop): it
        // yields its matches newest first (ORDER BY rowid DESC is its own order) and the query stops at
        // the page's end. Planned otherwise, SQLite materialised every match first (all of a common
        // word's, hundreds of thousands at 1M messages), or, with `in:`, walked the room's messages and ran
        // the MATCH again for each of them (seconds).
        let driven = !indexed.is_empty();
        let order = if driven { "f.rowid" } else { "d.doc" };
        let rows: Vec<(i64, String, i64, i64, String, String)> = on_db!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(if driven {
                "SELECT d.doc, r.name, m.seq, m.created_at, m.author, m.body FROM search_fts f \
                 CROSS JOIN search_docs d ON d.doc = f.rowid \
                 CROSS JOIN rooms r ON r.id = d.room_id \
                 CROSS JOIN messages m ON m.room_id = d.room_id AND m.seq = d.seq \
                 LEFT JOIN room_members mm ON mm.room_id = r.id AND mm.user_id = "
            } else if sqlite && request.room.is_none() {
                // Newest documents first, up to the page: without CROSS JOIN, SQLite 3.51 scanned every
                // message and sorted (0.6 - 0.9 s at 1M for `ok`, `from:ada` or a two-character CJK word).
                "SELECT d.doc, r.name, m.seq, m.created_at, m.author, m.body FROM search_docs d \
                 CROSS JOIN rooms r ON r.id = d.room_id \
                 CROSS JOIN messages m ON m.room_id = d.room_id AND m.seq = d.seq \
                 LEFT JOIN room_members mm ON mm.room_id = r.id AND mm.user_id = "
            } else {
                "SELECT d.doc, r.name, m.seq, m.created_at, m.author, m.body FROM search_docs d \
                 JOIN rooms r ON r.id = d.room_id \
                 JOIN messages m ON m.room_id = d.room_id AND m.seq = d.seq \
                 LEFT JOIN room_members mm ON mm.room_id = r.id AND mm.user_id = "
            });
            query.push_bind(request.user_id.unwrap_or(-1));
            query.push(" WHERE m.kind = 0 AND NOT m.deleted AND (r.kind = 'public' OR mm.user_id IS NOT NULL");
            if request.staff {
                query.push(" OR r.kind = 'private'");
            }
            query.push(")");
            if driven {
                query
                    .push(" AND search_fts MATCH ")
                    .push_bind(fts_query(&indexed));
            }
            for term in &filtered {
                query
                    .push(" AND d.folded LIKE ")
                    .push_bind(anywhere(term))
                    .push(" ESCAPE '\\'");
            }
            if let Some(room) = &request.room {
                query.push(" AND r.name = ").push_bind(room.as_str());
            }
            if let Some(from) = &request.from {
                query
                    .push(" AND lower(m.author) = lower(")
                    .push_bind(from.as_str())
                    .push(")");
            }
            for name in &request.banned {
                query.push(" AND r.name <> ").push_bind(name.as_str());
            }
            if let Some(before) = request.before {
                query.push(format!(" AND {order} < ")).push_bind(before);
            }
            query
                .push(format!(" ORDER BY {order} DESC LIMIT "))
                .push_bind(i64::from(request.limit));
            let mut tx = pool.begin().await?;
            if !sqlite {
                // However a query plans, it gives up rather than hold a connection for long.
                sqlx::query("SET LOCAL statement_timeout = 5000")
                    .execute(&mut *tx)
                    .await?;
            }
            let rows = query.build_query_as().fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        });
        Ok(rows
            .into_iter()
            .map(|(doc, room, seq, ts_ms, user, message)| SearchHit {
                doc,
                room,
                id: to_u64(seq),
                ts_ms,
                user,
                message,
            })
            .collect())
    }
}

/// A row as the indexer reads it: seq, kind, target, body, deleted, files.
type RowToIndex = (i64, i64, Option<i64>, String, bool, Option<String>);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_and_fts_queries_quote_what_they_hold() {
        assert_eq!(anywhere("50%_off\\"), "%50\\%\\_off\\\\%");
        let (a, b) = ("c++20".to_owned(), "say \"hi\"".to_owned());
        assert_eq!(fts_query(&[&a, &b]), "\"c++20\" AND \"say \"\"hi\"\"\"");
    }
}
