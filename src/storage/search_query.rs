//! The search over the index (`search.rs`), filtered by who may read each room in the query, not after it
//! (so a page of hits is full). SQLite finds terms through an FTS5 trigram index over `search_docs`,
//! PostgreSQL through a pg_trgm GIN index serving `LIKE '%term%'`; terms of one or two characters, which no
//! trigram holds, filter what the others found (alone, they read the candidate rooms' documents, newest
//! first, up to the page).
//!
//! PostgreSQL asks in two steps (docs/ARCHITECTURE.md, "Search"). First it walks the newest [`WINDOW`]
//! documents that could match (the author's through `search_docs_author`, the room's through
//! `search_docs_room`, or all of them), newest first, with the terms as a filter, and stops at the page's
//! end: a term in more than about one document in a thousand fills a page there in a few milliseconds.
//! Only when the window leaves the page short does it ask the trigram index for every match, sorted by
//! `doc` before anything is joined. Asked in one step, the planner either took the GIN bitmap and joined
//! every match to `messages` before sorting (100 - 300 ms for a term in 1% of 1M messages), or walked
//! every document newest first for a rare one.
//!
//! SQLite lets FTS5 drive (its matches come newest first) except for `in:` and `from:` with a trigram
//! term: those first walk the newest [`SQLITE_NARROWED_WINDOW`] documents of the room or the author
//! (`search_docs_room`, `search_docs_author`, migration 0013) with the terms as a filter, and ask FTS5
//! only when that window was full and left the page short.

use super::search::{SearchHit, SearchRequest};
use super::{Db, StoreError, on_db, to_u64};

/// How many of the newest documents PostgreSQL's first step walks at most. Walked in `doc` order, a document
/// costs about 1 µs (its heap page is the last one's); one the trigram index finds costs about 20 µs (a page
/// of its own, the text checked again). Walking wins for a term in more than about 1 document in 1,000,
/// which fills a page within about 20,000: beyond that (spread evenly) the second step has about 1,000 to read.
const WINDOW: i64 = 20_000;
/// The same for an author's or a room's documents, read through their B-tree: each may be on a page of its
/// own, so the walk costs what the trigram index's reads do, and stops sooner.
const NARROWED_WINDOW: i64 = 5000;

/// SQLite's walk of an author's or a room's newest documents before FTS5 is asked (`search`). A document
/// read through the B-tree costs about 1 - 2 µs with its `LIKE`s, so the walk stays within about 40 ms.
const SQLITE_NARROWED_WINDOW: i64 = 20_000;

/// Where a search reads its documents from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// SQLite: the tables, in the order each query's form makes the planner take (see `search`).
    Tables,
    /// The newest this many documents (of the author or the room, when narrowed), every term checked on
    /// each: PostgreSQL's first step, and SQLite's first for `from:` or `in:` with terms.
    Window(i64),
    /// PostgreSQL, second step: every document that holds the terms, sorted newest first before the joins.
    Matches,
}

/// A hit as the query returns it: doc, room, seq, created_at, author, body.
type HitRow = (i64, String, i64, i64, String, String);

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

/// Adds `AND d.folded LIKE ...` for each of `terms`.
fn push_likes<DB: sqlx::Database>(query: &mut sqlx::QueryBuilder<DB>, terms: &[&String])
where
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for term in terms {
        query
            .push(" AND d.folded LIKE ")
            .push_bind(anywhere(term))
            .push(" ESCAPE '\\'");
    }
}

/// PostgreSQL's documents: the window or the sorted matches (`d`), narrowed by author, room and cursor
/// inside, where the B-trees serve them.
fn push_pg_source<DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<DB>,
    request: &SearchRequest,
    source: Source,
) where
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query.push("SELECT d.doc, r.name, m.seq, m.created_at, m.author, m.body FROM (SELECT doc, room_id, seq, folded FROM search_docs d WHERE true");
    push_narrowing(query, request);
    if source == Source::Matches {
        push_likes(query, &request.terms.iter().collect::<Vec<_>>());
    }
    query.push(" ORDER BY d.doc DESC");
    if let Source::Window(window) = source {
        query.push(" LIMIT ").push_bind(window);
    }
    // The joins follow the documents in their order (nested loops), up to the page.
    query.push(
        ") d JOIN rooms r ON r.id = d.room_id \
         JOIN messages m ON m.room_id = d.room_id AND m.seq = d.seq \
         LEFT JOIN room_members mm ON mm.room_id = r.id AND mm.user_id = ",
    );
}

/// `AND`s narrowing `search_docs d` to the request's room, author and cursor.
fn push_narrowing<DB: sqlx::Database>(query: &mut sqlx::QueryBuilder<DB>, request: &SearchRequest)
where
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if let Some(room) = &request.room {
        // The room's id as a constant of the plan (an InitPlan), so `search_docs_room` (room_id, doc)
        // walks that room's documents newest first.
        query
            .push(" AND d.room_id = (SELECT id FROM rooms WHERE name = ")
            .push_bind(room.clone())
            .push(")");
    }
    if let Some(from) = &request.from {
        // `author` is lower(messages.author), written by the indexer (migration 0012).
        query
            .push(" AND d.author = lower(")
            .push_bind(from.clone())
            .push(")");
    }
    if let Some(before) = request.before {
        query.push(" AND d.doc < ").push_bind(before);
    }
}

impl Db {
    /// Messages that hold every term, newest first, in rooms the searcher may read.
    pub async fn search(&self, request: &SearchRequest) -> Result<Vec<SearchHit>, StoreError> {
        let narrowed = request.from.is_some() || request.room.is_some();
        let page = request.limit as usize;
        let rows = match self {
            // FTS5 yields a term's matches newest first across all rooms; with `in:` or `from:` the
            // walk may pass through a great many of other rooms' or people's before the page is full
            // (an import writes each room as one block of documents). So the room's or author's newest
            // documents come first; when they run out before the window does, the answer is whole.
            Db::Sqlite(_) if narrowed && request.terms.iter().any(|t| t.chars().count() >= 3) => {
                let window = SQLITE_NARROWED_WINDOW;
                let rows = self.search_rows(request, Source::Window(window)).await?;
                if rows.len() >= page || self.narrowed_docs(request, window).await? < window {
                    rows
                } else {
                    self.search_rows(request, Source::Tables).await?
                }
            }
            Db::Sqlite(_) => self.search_rows(request, Source::Tables).await?,
            Db::Postgres(_) => {
                let window = if narrowed { NARROWED_WINDOW } else { WINDOW };
                let rows = self.search_rows(request, Source::Window(window)).await?;
                if rows.len() >= page {
                    rows
                } else {
                    self.search_rows(request, Source::Matches).await?
                }
            }
        };
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

    /// How many of the documents `request` is narrowed to (room, author, cursor) there are, counting up to
    /// `cap`: an index walk, without the rows.
    async fn narrowed_docs(&self, request: &SearchRequest, cap: i64) -> Result<i64, StoreError> {
        Ok(on_db!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT COUNT(*) FROM (SELECT 1 FROM search_docs d WHERE true",
            );
            push_narrowing(&mut query, request);
            query.push(" LIMIT ").push_bind(cap).push(") n");
            let (count,): (i64,) = query.build_query_as().fetch_one(pool).await?;
            count
        }))
    }

    /// One query of a search, reading its documents from `source`.
    async fn search_rows(
        &self,
        request: &SearchRequest,
        source: Source,
    ) -> Result<Vec<HitRow>, StoreError> {
        let sqlite = matches!(self, Db::Sqlite(_));
        let tables = source == Source::Tables;
        // SQLite's trigram index holds terms of three characters or more; shorter ones filter.
        let (indexed, filtered): (Vec<&String>, Vec<&String>) = request
            .terms
            .iter()
            .partition(|t| tables && t.chars().count() >= 3);
        // With trigram terms, the FTS5 table drives the query (CROSS JOIN keeps it the outer loop): it
        // yields its matches newest first (ORDER BY rowid DESC is its own order) and the query stops at
        // the page's end. Planned otherwise, SQLite materialised every match first (all of a common
        // word's, hundreds of thousands at 1M messages), or, with `in:`, walked the room's messages and ran
        // the MATCH again for each of them (seconds).
        let driven = !indexed.is_empty();
        let order = if driven { "f.rowid" } else { "d.doc" };
        Ok(on_db!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new("");
            if !sqlite {
                push_pg_source(&mut query, request, source);
            } else if driven {
                query.push(
                    "SELECT d.doc, r.name, m.seq, m.created_at, m.author, m.body FROM search_fts f \
                     CROSS JOIN search_docs d ON d.doc = f.rowid \
                     CROSS JOIN rooms r ON r.id = d.room_id \
                     CROSS JOIN messages m ON m.room_id = d.room_id AND m.seq = d.seq \
                     LEFT JOIN room_members mm ON mm.room_id = r.id AND mm.user_id = ",
                );
            } else if request.room.is_none() || !tables {
                // Newest documents first, up to the page: without CROSS JOIN, SQLite 3.51 scanned every
                // message and sorted (0.6 - 0.9 s at 1M for `ok`, `from:ada` or a two-character CJK word).
                query.push(
                    "SELECT d.doc, r.name, m.seq, m.created_at, m.author, m.body FROM search_docs d \
                     CROSS JOIN rooms r ON r.id = d.room_id \
                     CROSS JOIN messages m ON m.room_id = d.room_id AND m.seq = d.seq \
                     LEFT JOIN room_members mm ON mm.room_id = r.id AND mm.user_id = ",
                );
            } else {
                query.push(
                    "SELECT d.doc, r.name, m.seq, m.created_at, m.author, m.body FROM search_docs d \
                     JOIN rooms r ON r.id = d.room_id \
                     JOIN messages m ON m.room_id = d.room_id AND m.seq = d.seq \
                     LEFT JOIN room_members mm ON mm.room_id = r.id AND mm.user_id = ",
                );
            }
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
            if source != Source::Matches {
                push_likes(&mut query, &filtered);
            }
            if tables {
                if let Some(room) = &request.room {
                    query.push(" AND r.name = ").push_bind(room.as_str());
                }
                if let Some(from) = &request.from {
                    // `author` is lower(messages.author), written by the indexer (migration 0012).
                    query
                        .push(" AND d.author = lower(")
                        .push_bind(from.as_str())
                        .push(")");
                }
                if let Some(before) = request.before {
                    query.push(format!(" AND {order} < ")).push_bind(before);
                }
            } else if let (true, Source::Window(window)) = (sqlite, source) {
                // The room's or author's documents through their B-tree, newest first, down to the
                // window's oldest (found by an index-only walk): the query stops at the page's end. As a
                // subquery with LIMIT, the window was read whole and sorted again.
                push_narrowing(&mut query, request);
                query.push(" AND d.doc >= COALESCE((SELECT d.doc FROM search_docs d WHERE true");
                push_narrowing(&mut query, request);
                query
                    .push(" ORDER BY d.doc DESC LIMIT 1 OFFSET ")
                    .push_bind(window - 1)
                    .push("), 0)");
            }
            for name in &request.banned {
                query.push(" AND r.name <> ").push_bind(name.as_str());
            }
            query
                .push(format!(" ORDER BY {order} DESC LIMIT "))
                .push_bind(i64::from(request.limit));
            let mut tx = pool.begin().await?;
            if !sqlite {
                // However a query plans, it gives up rather than hold a connection for long. Each query
                // is planned for its own terms (after five runs of one statement PostgreSQL may keep a
                // generic plan, blind to how common a term is), and not compiled (JIT).
                sqlx::query(
                    "SELECT set_config('statement_timeout', '5000', true), \
                     set_config('plan_cache_mode', 'force_custom_plan', true), \
                     set_config('jit', 'off', true)",
                )
                .execute(&mut *tx)
                .await?;
            }
            let rows: Vec<HitRow> = query.build_query_as().fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        }))
    }
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
