//! What replies, reactions and pins add up to, as the HTTP API gives it (docs/PROTOCOL.md, "Aggregates are
//! never counted twice"): a page of messages with each one's aggregates, read in one transaction with the
//! room's last id (`as_of`), so a client knows which events the page already counts. A page costs a fixed
//! number of queries however many replies and reactions its messages have (every one is counted in
//! `history_queries`); each reads an index: `messages_reply_to`, the primary keys of `reactions` and `pins`.

use std::collections::HashMap;

use super::{Db, MessageRow, ROW_COLUMNS, StoreError, StoredMessage, on_db, to_i64, to_u64};
use crate::domain::RoomName;

/// Names listed per emoji (the count is exact).
pub const MAX_REACTION_USERS: usize = 20;

/// One emoji's reactions to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReactionSummary {
    /// The emoji.
    pub emoji: String,
    /// How many people reacted with it.
    pub count: u64,
    /// The first [`MAX_REACTION_USERS`] of them, in the order they reacted.
    pub users: Vec<String>,
}

/// What a message's replies, reactions and pin add up to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aggregates {
    /// Replies in its thread (deleted ones included).
    pub replies: u64,
    /// The newest reply's id.
    pub last_reply_id: Option<u64>,
    /// Its reactions, each emoji in the order it was first used.
    pub reactions: Vec<ReactionSummary>,
    /// It is pinned.
    pub pinned: bool,
}

/// Messages with their aggregates, as of the room's last id `as_of`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aggregated {
    /// The messages, in the order asked for.
    pub messages: Vec<(StoredMessage, Aggregates)>,
    /// Whether there are more (older for a history page, newer for a thread).
    pub more: bool,
    /// Around an id: whether there are newer messages than the last one given.
    pub newer: bool,
    /// The room's last id when read: every event up to it is counted.
    pub as_of: u64,
    /// For [`Selection::Pins`]: who pinned each message and when, in the order of `messages`.
    pub pins: Vec<PinRow>,
}

/// A pinned message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinRow {
    /// Who pinned it.
    pub pinned_by: String,
    /// When, ms since the epoch.
    pub pinned_at_ms: i64,
}

/// What a page of messages is read as (one read transaction each).
#[derive(Clone, Copy, Debug)]
pub enum Selection {
    /// History below `before` (`None`: the newest), at most `limit`.
    Page { before: Option<u64>, limit: u32 },
    /// History around `id`: half of `limit` up to and including it, the rest after it.
    Around { id: u64, limit: u32 },
    /// The thread of root `root`: the root, then its replies after `after`, at most `limit`.
    Thread { root: u64, after: u64, limit: u32 },
    /// The room's pins, newest pin first.
    Pins,
}

/// At most `$3` messages of the room of id `$1` below id `$2`, newest first: a backwards range of the
/// primary key.
pub(super) fn page_sql() -> String {
    format!(
        "SELECT {ROW_COLUMNS} FROM messages m WHERE m.room_id = $1 AND m.seq < $2 \
         AND m.kind = 0 ORDER BY m.seq DESC LIMIT $3"
    )
}

/// The root `$2` of the room of id `$1` and at most `$4` of its replies after id `$3`: the root by the
/// primary key, the replies by `messages_reply_to` (SQLite, without statistics, would rather range over
/// the room's primary key: it is told; `sqlite` says whether the SQL is for SQLite).
pub(super) fn thread_sql(sqlite: bool) -> String {
    let index = if sqlite {
        "INDEXED BY messages_reply_to"
    } else {
        ""
    };
    format!(
        "SELECT * FROM (SELECT {ROW_COLUMNS} FROM messages m \
         WHERE m.room_id = $1 AND m.seq = $2 AND m.kind = 0) AS root \
         UNION ALL SELECT * FROM (SELECT {ROW_COLUMNS} FROM messages AS m {index} \
         WHERE m.room_id = $1 AND m.reply_to = $2 AND m.seq > $3 ORDER BY m.seq LIMIT $4) AS replies"
    )
}

fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Db {
    /// The root of the thread message `id` of `room` is in: `id` itself, or its own root when it is a
    /// reply. `None` when `id` is not a message of the room, or (with `live`, as a reply needs) when it
    /// was deleted; a deleted root still opens its thread.
    pub async fn thread_root(
        &self,
        room: &RoomName,
        id: u64,
        live: bool,
    ) -> Result<Option<u64>, StoreError> {
        let row: Option<(i64, bool, Option<i64>)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT m.kind, m.deleted, m.reply_to FROM messages m \
                 WHERE m.room_id = (SELECT id FROM rooms WHERE name = $1) AND m.seq = $2",
            )
            .bind(room.as_str())
            .bind(to_i64(id))
            .fetch_optional(pool)
            .await?
        });
        Ok(match row {
            Some((0, deleted, reply_to)) if !(live && deleted) => Some(reply_to.map_or(id, to_u64)),
            _ => None,
        })
    }

    /// Reads `selection` of `room` with every message's aggregates, in one transaction (repeatable read
    /// on PostgreSQL; a SQLite read transaction is a snapshot), with the room's last id. `None` for a
    /// thread whose root is not a message of the room. Each query counts one in `queries`.
    pub async fn aggregated(
        &self,
        room: &RoomName,
        selection: Selection,
        queries: &(dyn Fn() + Sync),
    ) -> Result<Option<Aggregated>, StoreError> {
        let snapshot = matches!(self, Db::Postgres(_));
        on_db!(self, |pool| {
            let mut tx = pool.begin().await?;
            if snapshot {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .execute(&mut *tx)
                    .await?;
            }
            queries();
            let head: Option<(i64, i64)> =
                sqlx::query_as("SELECT id, last_seq FROM rooms WHERE name = $1")
                    .bind(room.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((room_id, as_of)) = head else {
                return Ok(match selection {
                    Selection::Thread { .. } => None,
                    _ => Some(Aggregated::default()),
                });
            };
            queries();
            let mut newer = false;
            let (rows, pins, more): (Vec<MessageRow>, Vec<PinRow>, bool) = match selection {
                Selection::Page { before, limit } => {
                    // One more than asked tells whether an older page exists.
                    let mut rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(page_sql()))
                        .bind(room_id)
                        .bind(before.map_or(i64::MAX, to_i64))
                        .bind(i64::from(limit) + 1)
                        .fetch_all(&mut *tx)
                        .await?;
                    let more = rows.len() > limit as usize;
                    rows.truncate(limit as usize);
                    rows.reverse();
                    (rows, Vec::new(), more)
                }
                Selection::Around { id, limit } => {
                    let older_part = i64::from(limit.div_ceil(2));
                    let newer_part = i64::from(limit / 2);
                    // Up to and including `id`, newest first; one more tells whether older ones exist.
                    let mut rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(page_sql()))
                        .bind(room_id)
                        .bind(to_i64(id).saturating_add(1))
                        .bind(older_part + 1)
                        .fetch_all(&mut *tx)
                        .await?;
                    let more = rows.len() as i64 > older_part;
                    rows.truncate(older_part as usize);
                    rows.reverse();
                    queries();
                    let mut after: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {ROW_COLUMNS} FROM messages m WHERE m.room_id = $1 AND m.seq > $2 \
                         AND m.kind = 0 ORDER BY m.seq LIMIT $3"
                    )))
                    .bind(room_id)
                    .bind(to_i64(id))
                    .bind(newer_part + 1)
                    .fetch_all(&mut *tx)
                    .await?;
                    newer = after.len() as i64 > newer_part;
                    after.truncate(newer_part as usize);
                    rows.extend(after);
                    (rows, Vec::new(), more)
                }
                Selection::Thread { root, after, limit } => {
                    let mut rows: Vec<MessageRow> =
                        sqlx::query_as(sqlx::AssertSqlSafe(thread_sql(!snapshot)))
                            .bind(room_id)
                            .bind(to_i64(root))
                            .bind(to_i64(after))
                            .bind(i64::from(limit) + 1)
                            .fetch_all(&mut *tx)
                            .await?;
                    rows.sort_by_key(|r| r.seq);
                    if rows.first().is_none_or(|r| to_u64(r.seq) != root) {
                        return Ok(None);
                    }
                    let more = rows.len() > limit as usize + 1;
                    rows.truncate(limit as usize + 1);
                    (rows, Vec::new(), more)
                }
                Selection::Pins => {
                    let pinned: Vec<(i64, String, i64)> = sqlx::query_as(
                        "SELECT target, pinned_by, pinned_at FROM pins WHERE room_id = $1 ORDER BY seq DESC",
                    )
                    .bind(room_id)
                    .fetch_all(&mut *tx)
                    .await?;
                    queries();
                    let ids: Vec<i64> = pinned.iter().map(|(t, ..)| *t).collect();
                    let mut rows: Vec<MessageRow> = if ids.is_empty() {
                        Vec::new()
                    } else {
                        let sql = format!(
                            "SELECT {ROW_COLUMNS} FROM messages m WHERE m.room_id = $1 AND m.seq IN ({})",
                            placeholders(2, ids.len())
                        );
                        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(room_id);
                        for id in &ids {
                            query = query.bind(*id);
                        }
                        query.fetch_all(&mut *tx).await?
                    };
                    // Newest pin first.
                    let order: HashMap<i64, usize> =
                        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
                    rows.sort_by_key(|r| order.get(&r.seq).copied().unwrap_or(usize::MAX));
                    let by_id: HashMap<i64, PinRow> = pinned
                        .into_iter()
                        .map(|(t, pinned_by, pinned_at_ms)| {
                            (
                                t,
                                PinRow {
                                    pinned_by,
                                    pinned_at_ms,
                                },
                            )
                        })
                        .collect();
                    let pins = rows
                        .iter()
                        .filter_map(|r| by_id.get(&r.seq).cloned())
                        .collect();
                    (rows, pins, false)
                }
            };
            let ids: Vec<i64> = rows.iter().map(|r| r.seq).collect();
            let mut aggregates: HashMap<i64, Aggregates> = HashMap::new();
            if !ids.is_empty() {
                let list = placeholders(2, ids.len());
                queries();
                let sql = format!(
                    "SELECT reply_to, COUNT(*), MAX(seq) FROM messages \
                     WHERE room_id = $1 AND reply_to IN ({list}) GROUP BY reply_to"
                );
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(room_id);
                for id in &ids {
                    query = query.bind(*id);
                }
                let replies: Vec<(i64, i64, i64)> = query.fetch_all(&mut *tx).await?;
                for (root, count, last) in replies {
                    let entry = aggregates.entry(root).or_default();
                    entry.replies = to_u64(count);
                    entry.last_reply_id = Some(to_u64(last));
                }
                queries();
                let sql = format!(
                    "SELECT target, emoji, user_name, n FROM (SELECT target, emoji, user_name, seq, \
                     ROW_NUMBER() OVER (PARTITION BY target, emoji ORDER BY seq) AS k, \
                     COUNT(*) OVER (PARTITION BY target, emoji) AS n \
                     FROM reactions WHERE room_id = $1 AND target IN ({list})) AS r \
                     WHERE k <= {MAX_REACTION_USERS} ORDER BY target, seq"
                );
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(room_id);
                for id in &ids {
                    query = query.bind(*id);
                }
                let reactions: Vec<(i64, String, String, i64)> = query.fetch_all(&mut *tx).await?;
                for (target, emoji, user, count) in reactions {
                    let entry = aggregates.entry(target).or_default();
                    match entry.reactions.iter_mut().find(|r| r.emoji == emoji) {
                        Some(summary) => summary.users.push(user),
                        None => entry.reactions.push(ReactionSummary {
                            emoji,
                            count: to_u64(count),
                            users: vec![user],
                        }),
                    }
                }
                queries();
                let sql =
                    format!("SELECT target FROM pins WHERE room_id = $1 AND target IN ({list})");
                let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(room_id);
                for id in &ids {
                    query = query.bind(*id);
                }
                let pinned: Vec<i64> = query.fetch_all(&mut *tx).await?;
                for target in pinned {
                    aggregates.entry(target).or_default().pinned = true;
                }
            }
            tx.commit().await?;
            let messages = rows
                .into_iter()
                .map(|row| {
                    let found = aggregates.remove(&row.seq).unwrap_or_default();
                    (StoredMessage::from(row), found)
                })
                .collect();
            Ok(Some(Aggregated {
                messages,
                more,
                newer,
                as_of: to_u64(as_of),
                pins,
            }))
        })
    }
}
