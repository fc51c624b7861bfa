//! The SQL of `chatweb export` and `chatweb import` (src/archive/): rooms and their rows read in pages by
//! keyset (name, then id), so an export holds one page in memory whatever the database's size; and an
//! import written one chunk per transaction, in which each row is either recognised as already stored
//! (skipped), stored under its own id (a room this import created), or appended after the room's last id
//! with a `client_id` of `import:<room>:<id>` owned by `import` (`domain::ClientIdOwner::import`), so a
//! second import of the same file stores nothing twice.
//! One text per query for both engines (see [`Db`]).

use std::collections::HashMap;

use super::{Db, StoreError, on_db, to_i64, to_u64};
use crate::domain::IMPORT;

/// A room with its id, for paging through its rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveRoom {
    /// Its id in `rooms`.
    pub id: i64,
    /// Its name.
    pub name: String,
}

/// One stored row of a room's sequence, as exported and imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveRow {
    /// Its id in the room.
    pub seq: u64,
    /// When it was stored, ms since the epoch.
    pub ts_ms: i64,
    /// Its author's (or actor's) name.
    pub author: String,
    /// The author had no account.
    pub guest: bool,
    /// Its text (the newest one; "" once deleted, and for deletions).
    pub body: String,
    /// An edit replaced the text.
    pub edited: bool,
    /// The text was deleted (a tombstone).
    pub deleted: bool,
    /// The `kind` column: 0 a message, 1 a deletion, 2 a clear, 3 an edit, 4 a membership change, 5 a
    /// reaction, 6 a pin, 7 a topic (see `MessageKind`).
    pub kind: i64,
    /// The id an event names (a message's; for a membership change, the account's, which does not travel).
    pub target: Option<u64>,
    /// For a reply: its thread's root.
    pub reply_to: Option<u64>,
    /// Its files, as `messages.files` keeps them: a JSON list of [`crate::domain::FileRef`] ("" for none).
    pub files: String,
    /// A bot account or an incoming webhook wrote it (`messages.bot`).
    pub bot: bool,
}

type RowTuple = (
    i64,
    i64,
    String,
    bool,
    String,
    bool,
    bool,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    bool,
);

/// What one imported chunk came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Rows stored under the id they had.
    pub preserved: u64,
    /// Rows stored under a new id after the room's last one.
    pub appended: u64,
    /// Rows that were already stored (same id, time, author and text, or imported before).
    pub skipped: u64,
}

/// What an import run knows about one room: whether the run created it (then ids are kept) and which
/// imported ids got other ids (so that an edit or deletion follows its message).
#[derive(Debug)]
pub struct ImportRoom {
    name: String,
    /// Its id and whether this run created it, once its first chunk committed.
    known: Option<(i64, bool)>,
    /// Imported id -> stored id, where they differ.
    renumbered: HashMap<u64, u64>,
}

impl ImportRoom {
    /// A room named `name`, not looked up yet.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            known: None,
            renumbered: HashMap::new(),
        }
    }

    /// Whether this run created the room (`None` before its first chunk).
    pub fn created(&self) -> Option<bool> {
        self.known.map(|(_, created)| created)
    }

    /// The id the row imported as `id` is stored under (once its chunk is imported).
    pub fn stored_id(&self, id: u64) -> u64 {
        self.renumbered.get(&id).copied().unwrap_or(id)
    }
}

/// Below this spread of ids a chunk's stored rows are read as one range (at most this many rows).
const SPAN: i64 = 4_096;

/// The lowest and highest id of `rows` (not empty).
fn id_span(rows: &[(ArchiveRow, Option<i64>)]) -> (i64, i64) {
    let ids = rows.iter().map(|(row, _)| to_i64(row.seq));
    let low = ids.clone().min().unwrap_or(0);
    (low, ids.max().unwrap_or(low))
}

/// An account by name, for linking imported authors (`None`: no account, a guest).
pub type Authors = HashMap<String, Option<Author>>;

/// The account an imported author's name belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Author {
    /// Its id in `users`.
    pub id: i64,
    /// It is a bot's (`users.is_bot`).
    pub is_bot: bool,
}

impl Db {
    /// Up to `limit` public rooms named after `after`, by name; only `only` when given. Private and direct
    /// rooms are left out: their members do not travel in an export, and imported they would be public.
    pub async fn archive_rooms(
        &self,
        after: &str,
        only: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ArchiveRoom>, StoreError> {
        let rows: Vec<(i64, String)> = on_db!(self, |pool| match only {
            Some(name) => {
                sqlx::query_as(
                    "SELECT id, name FROM rooms WHERE name = $1 AND name > $2 AND kind = 'public'",
                )
                .bind(name)
                .bind(after)
                .fetch_all(pool)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT id, name FROM rooms WHERE name > $1 AND kind = 'public' \
                     ORDER BY name LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?
            }
        });
        Ok(rows
            .into_iter()
            .map(|(id, name)| ArchiveRoom { id, name })
            .collect())
    }

    /// Up to `limit` rows of room `room_id` with an id above `after` stored at `since_ms` or later, by id.
    pub async fn archive_rows(
        &self,
        room_id: i64,
        after: u64,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<ArchiveRow>, StoreError> {
        let rows: Vec<RowTuple> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT m.seq, m.created_at, m.author, m.author_id IS NULL, m.body, m.edited, m.deleted, \
                 m.kind, m.target, m.reply_to, m.files, m.bot FROM messages m \
                 WHERE m.room_id = $1 AND m.seq > $2 AND m.created_at >= $3 ORDER BY m.seq LIMIT $4",
            )
            .bind(room_id)
            .bind(to_i64(after))
            .bind(since_ms)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(
                    seq,
                    ts_ms,
                    author,
                    guest,
                    body,
                    edited,
                    deleted,
                    kind,
                    target,
                    reply_to,
                    files,
                    bot,
                )| {
                    ArchiveRow {
                        seq: to_u64(seq),
                        ts_ms,
                        author,
                        guest,
                        body,
                        edited,
                        deleted,
                        kind,
                        target: target.map(to_u64),
                        reply_to: reply_to.map(to_u64),
                        files: files.unwrap_or_default(),
                        bot,
                    }
                },
            )
            .collect())
    }

    /// The accounts of `names` not in `authors` yet, added to it (`None` for names with no account).
    /// Keys are the collision keys (`Username::key`).
    pub async fn archive_authors(
        &self,
        authors: &mut Authors,
        keys: impl IntoIterator<Item = String>,
    ) -> Result<(), StoreError> {
        for key in keys {
            if authors.contains_key(&key) {
                continue;
            }
            let found: Option<(i64, bool)> = on_db!(self, |pool| {
                sqlx::query_as("SELECT id, is_bot FROM users WHERE username_key = $1")
                    .bind(&key)
                    .fetch_optional(pool)
                    .await?
            });
            authors.insert(key, found.map(|(id, is_bot)| Author { id, is_bot }));
        }
        Ok(())
    }

    /// Imports `rows` (each with its author's account, `None` for a guest) into `room`, in one
    /// transaction. The room is created on its first chunk when missing, and then keeps the ids of the
    /// rows; in a room that existed, a row whose id is stored with the same time, author and text is
    /// skipped, and the others are appended after its last id.
    pub async fn import_chunk(
        &self,
        room: &mut ImportRoom,
        rows: &[(ArchiveRow, Option<i64>)],
    ) -> Result<ImportCounts, StoreError> {
        if rows.is_empty() {
            return Ok(ImportCounts::default());
        }
        let prefix = format!("import:{}:", room.name);
        // BEGIN IMMEDIATE on SQLite: a deferred transaction that reads first and then writes fails at
        // once with SQLITE_BUSY when another connection takes the write lock in between.
        let begin = self.begin_write();
        on_db!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            let (room_id, created) = match room.known {
                Some(known) => known,
                None => {
                    let id: Option<i64> =
                        sqlx::query_scalar("SELECT id FROM rooms WHERE name = $1")
                            .bind(&room.name)
                            .fetch_optional(&mut *tx)
                            .await?;
                    match id {
                        Some(id) => (id, false),
                        None => {
                            let id: i64 = sqlx::query_scalar(
                                // Its activity is that of its newest imported row (set below).
                                "INSERT INTO rooms (name, last_seq, updated_at) VALUES ($1, 0, 0) RETURNING id",
                            )
                            .bind(&room.name)
                            .fetch_one(&mut *tx)
                            .await?;
                            (id, true)
                        }
                    }
                }
            };
            // The no-op update locks the room's row (PostgreSQL) until commit.
            let (mut last_seq, updated_at): (i64, i64) = sqlx::query_as(
                "UPDATE rooms SET updated_at = updated_at WHERE id = $1 RETURNING last_seq, updated_at",
            )
            .bind(room_id)
            .fetch_one(&mut *tx)
            .await?;

            let mut by_key: HashMap<String, i64> = HashMap::new();
            let mut query =
                sqlx::QueryBuilder::new("SELECT client_id, seq FROM messages WHERE room_id = ");
            query
                .push_bind(room_id)
                .push(" AND sender_key = ")
                .push_bind(IMPORT)
                .push(" AND client_id IN (");
            let mut list = query.separated(", ");
            for (row, _) in rows {
                list.push_bind(format!("{prefix}{}", row.seq));
            }
            list.push_unseparated(")");
            let found: Vec<(String, i64)> = query.build_query_as().fetch_all(&mut *tx).await?;
            by_key.extend(found);

            let mut by_id: HashMap<i64, (i64, String, String)> = HashMap::new();
            let mut query = sqlx::QueryBuilder::new(
                "SELECT seq, created_at, author, body FROM messages WHERE room_id = ",
            );
            query.push_bind(room_id);
            let (low, high) = id_span(rows);
            if high - low < SPAN {
                // An export's chunk is a run of ids: one range is far cheaper to plan than a long list.
                query
                    .push(" AND seq BETWEEN ")
                    .push_bind(low)
                    .push(" AND ")
                    .push_bind(high);
            } else {
                query.push(" AND seq IN (");
                let mut list = query.separated(", ");
                for (row, _) in rows {
                    list.push_bind(to_i64(row.seq));
                }
                list.push_unseparated(")");
            }
            let found: Vec<(i64, i64, String, String)> =
                query.build_query_as().fetch_all(&mut *tx).await?;
            by_id.extend(found.into_iter().map(|(seq, ts, a, b)| (seq, (ts, a, b))));

            let mut counts = ImportCounts::default();
            // (row index, stored id, client_id)
            let mut inserts: Vec<(usize, i64, Option<String>)> = Vec::with_capacity(rows.len());
            let mut newest = updated_at;
            for (i, (row, _)) in rows.iter().enumerate() {
                let key = format!("{prefix}{}", row.seq);
                let id = to_i64(row.seq);
                if let Some(&stored) = by_key.get(&key) {
                    if stored != id {
                        room.renumbered.insert(row.seq, to_u64(stored));
                    }
                    counts.skipped += 1;
                    continue;
                }
                let same = by_id.get(&id).map(|(ts, author, body)| {
                    *ts == row.ts_ms && *author == row.author && *body == row.body
                });
                let seq = match same {
                    Some(true) => {
                        counts.skipped += 1;
                        continue;
                    }
                    None if created => {
                        counts.preserved += 1;
                        last_seq = last_seq.max(id);
                        inserts.push((i, id, None));
                        id
                    }
                    _ => {
                        counts.appended += 1;
                        last_seq += 1;
                        room.renumbered.insert(row.seq, to_u64(last_seq));
                        by_key.insert(key.clone(), last_seq);
                        inserts.push((i, last_seq, Some(key)));
                        last_seq
                    }
                };
                by_id.insert(seq, (row.ts_ms, row.author.clone(), row.body.clone()));
                newest = newest.max(row.ts_ms);
            }
            if !inserts.is_empty() {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO messages (room_id, seq, author, body, client_id, sender_key, created_at, \
                     author_id, kind, target, deleted, edited, reply_to, files, bot) ",
                );
                insert.push_values(&inserts, |mut values, (i, seq, client_id)| {
                    let (row, author_id) = &rows[*i];
                    let target = row
                        .target
                        .filter(|_| row.kind != 0)
                        .map(|t| to_i64(room.stored_id(t)));
                    values
                        .push_bind(room_id)
                        .push_bind(*seq)
                        .push_bind(row.author.as_str())
                        .push_bind(row.body.as_str())
                        .push_bind(client_id.as_deref())
                        .push_bind(client_id.as_ref().map(|_| IMPORT))
                        .push_bind(row.ts_ms)
                        .push_bind(*author_id)
                        .push_bind(row.kind)
                        .push_bind(target)
                        .push_bind(row.deleted)
                        .push_bind(row.edited)
                        .push_bind(row.reply_to.map(|r| to_i64(room.stored_id(r))))
                        .push_bind(Some(row.files.as_str()).filter(|f| !f.is_empty()))
                        .push_bind(row.bot);
                });
                insert.build().execute(&mut *tx).await?;
                // What reactions, pins and topics add up to, replayed in id order (a reaction counts
                // only for an account this database has).
                for (i, seq, _) in &inserts {
                    let (row, author_id) = &rows[*i];
                    let target = row.target.map(|t| to_i64(room.stored_id(t))).unwrap_or(0);
                    match row.kind {
                        5 => {
                            let Some(user_id) = author_id else { continue };
                            if let Some(emoji) = row.body.strip_prefix('+') {
                                sqlx::query(
                                    "INSERT INTO reactions (room_id, target, emoji, user_id, user_name, seq) \
                                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                                )
                                .bind(room_id)
                                .bind(target)
                                .bind(emoji)
                                .bind(*user_id)
                                .bind(row.author.as_str())
                                .bind(*seq)
                                .execute(&mut *tx)
                                .await?;
                            } else if let Some(emoji) = row.body.strip_prefix('-') {
                                sqlx::query(
                                    "DELETE FROM reactions WHERE room_id = $1 AND target = $2 \
                                     AND emoji = $3 AND user_id = $4",
                                )
                                .bind(room_id)
                                .bind(target)
                                .bind(emoji)
                                .bind(*user_id)
                                .execute(&mut *tx)
                                .await?;
                            }
                        }
                        6 if row.body == "remove" => {
                            sqlx::query("DELETE FROM pins WHERE room_id = $1 AND target = $2")
                                .bind(room_id)
                                .bind(target)
                                .execute(&mut *tx)
                                .await?;
                        }
                        6 => {
                            sqlx::query(
                                "INSERT INTO pins (room_id, target, pinned_by, pinned_at, seq) \
                                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                            )
                            .bind(room_id)
                            .bind(target)
                            .bind(row.author.as_str())
                            .bind(row.ts_ms)
                            .bind(*seq)
                            .execute(&mut *tx)
                            .await?;
                        }
                        7 => {
                            sqlx::query("UPDATE rooms SET topic = $2 WHERE id = $1")
                                .bind(room_id)
                                .bind(row.body.as_str())
                                .execute(&mut *tx)
                                .await?;
                        }
                        // A deletion takes its message's reactions and pin; a clear, every one
                        // up to the id it covers.
                        1 | 2 => {
                            let covered = if row.kind == 1 { "=" } else { "<=" };
                            for table in ["reactions", "pins"] {
                                let sql = format!(
                                    "DELETE FROM {table} WHERE room_id = $1 AND target {covered} $2"
                                );
                                sqlx::query(sqlx::AssertSqlSafe(sql))
                                    .bind(room_id)
                                    .bind(target)
                                    .execute(&mut *tx)
                                    .await?;
                            }
                        }
                        _ => {}
                    }
                }
                sqlx::query("UPDATE rooms SET last_seq = $1, updated_at = $2 WHERE id = $3")
                    .bind(last_seq)
                    .bind(newest)
                    .bind(room_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            room.known = Some((room_id, created));
            Ok(counts)
        })
    }
}
