//! PostgreSQL backend, for several nodes sharing one store. Sequence numbers are allocated inside the
//! transaction that stores the messages: the room's row is locked by the upsert that reads its `last_seq`,
//! so concurrent writers to one room (on any node) queue on that row and ids stay gap-free. Rooms are locked
//! in name order, so two batches touching the same rooms never deadlock.
//!
//! Every wait on the server is bounded (issue 22): each connection's session ends a transaction left idle
//! and a statement that runs too long, and probes its client with TCP keepalives, so a node that vanishes
//! mid-transaction releases its rooms within `--store-timeout-ms`; the writer waits at most
//! `--store-lock-timeout-ms` for a room another connection holds and then stores the batch without it
//! ([`super::held`]); and each batch is bounded on this side too (a connection that stops answering is
//! dropped and the batch answered `outcome_unknown`).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use super::{
    Amendment, Backend, KeyedRow, MessageRow, NewMessage, Outcome, ROW_COLUMNS, RoomSummary,
    StoreError, StoreSettings, StoredMessage, batch, held, to_i64, to_u64,
};
use crate::domain::RoomName;

/// Connections for reads (history, catch-up, the lobby) and for accounts, sessions and the admin. The
/// writer has a connection of its own beside them, so no burst of reads can make a commit wait.
const POOL_SIZE: u32 = 8;
/// How long an operation waits for a connection before it fails (and a send gets an error frame).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The PostgreSQL schema, oldest first. Never edit a shipped migration: add a new one.
fn migrator() -> Migrator {
    super::migrator(&[
        (
            1,
            "rooms and messages",
            include_str!("../../migrations/postgres/0001_rooms_and_messages.sql"),
        ),
        (
            2,
            "accounts",
            include_str!("../../migrations/postgres/0002_accounts.sql"),
        ),
        (
            3,
            "live room",
            include_str!("../../migrations/postgres/0003_live_room.sql"),
        ),
        (
            4,
            "moderation",
            include_str!("../../migrations/postgres/0004_moderation.sql"),
        ),
        (
            6,
            "retention",
            include_str!("../../migrations/postgres/0006_retention.sql"),
        ),
        (
            7,
            "client id sender",
            include_str!("../../migrations/postgres/0007_client_id_sender.sql"),
        ),
        (
            8,
            "room access",
            include_str!("../../migrations/postgres/0008_room_access.sql"),
        ),
        (
            9,
            "conversations",
            include_str!("../../migrations/postgres/0009_conversations.sql"),
        ),
        (
            10,
            "search",
            include_str!("../../migrations/postgres/0010_search.sql"),
        ),
        (
            11,
            "files",
            include_str!("../../migrations/postgres/0011_files.sql"),
        ),
        (
            12,
            "search narrowing",
            include_str!("../../migrations/postgres/0012_search_narrowing.sql"),
        ),
        (
            14,
            "bots and incoming hooks",
            include_str!("../../migrations/postgres/0014_bots_and_incoming_hooks.sql"),
        ),
        (
            15,
            "outgoing hooks",
            include_str!("../../migrations/postgres/0015_outgoing_hooks.sql"),
        ),
        (
            16,
            "push",
            include_str!("../../migrations/postgres/0016_push.sql"),
        ),
        (
            17,
            "room occupancy",
            include_str!("../../migrations/postgres/0017_room_occupancy.sql"),
        ),
    ])
}

/// A PostgreSQL database.
pub struct PostgresBackend {
    /// The writer's own connection (a pool of one, so it reconnects by itself): `append` and `amend`
    /// only, which only the writer task calls.
    pool: PgPool,
    /// Everything else: the message path's reads and, through [`Backend::db`], accounts and the admin.
    readers: PgPool,
    /// How long a batch may take on this side.
    timeout: Duration,
    /// Rooms another connection held past the writer's lock timeout, until a look finds them free.
    held: held::HeldRooms,
}

/// A session's bounds, sent at connect (`-c name=value`): the server itself ends what hangs. The
/// statement bound is wider than a batch's (`settings.timeout`) so that a large amendment (a room
/// cleared) still fits; a transaction idle for a batch's bound is one whose client is gone.
fn bounded(
    options: PgConnectOptions,
    settings: &StoreSettings,
    lock: Duration,
) -> PgConnectOptions {
    let ms = |d: Duration| d.as_millis().to_string();
    options.options([
        ("statement_timeout", ms(settings.timeout * 6)),
        ("lock_timeout", ms(lock)),
        ("idle_in_transaction_session_timeout", ms(settings.timeout)),
        // The server's side of the connection: a client that stops answering is noticed in about 11 s
        // of silence, and unacknowledged data gives up after twice the batch bound.
        ("tcp_keepalives_idle", "5".into()),
        ("tcp_keepalives_interval", "2".into()),
        ("tcp_keepalives_count", "3".into()),
        ("tcp_user_timeout", ms(settings.timeout * 2)),
    ])
}

impl PostgresBackend {
    /// Connects to `url` and applies pending migrations (concurrent nodes take turns on an advisory lock,
    /// on a connection of their own with no time bounds: a migration may run for minutes).
    pub async fn connect(url: &str, settings: &StoreSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let migrations = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        migrator().run(&migrations).await?;
        migrations.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(bounded(options.clone(), settings, settings.lock_timeout))
            .await?;
        let readers = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(bounded(options, settings, settings.timeout))
            .await?;
        Ok(Self {
            pool,
            readers,
            timeout: settings.timeout,
            held: held::HeldRooms::default(),
        })
    }

    /// The writer's connection (waiting at most the acquire timeout for it).
    pub(super) async fn writer(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// What came of work on the writer's connection `conn` bounded by [`Self::bound`]. A connection that
    /// did not finish in time is dropped (the next write opens a fresh one; the server ends the old
    /// session and rolls its transaction back, or it had committed: the caller cannot tell,
    /// [`StoreError::TimedOut`]).
    pub(super) fn settle<T>(
        &self,
        conn: PoolConnection<Postgres>,
        result: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
    ) -> Result<T, StoreError> {
        result.unwrap_or_else(|_| {
            drop(conn.detach());
            Err(StoreError::TimedOut(self.timeout))
        })
    }

    /// Applies pending migrations to `url`; returns how many were applied.
    pub async fn migrate_only(url: &str) -> Result<usize, StoreError> {
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        let applied = |pool: PgPool| async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await
                .unwrap_or(0)
        };
        let before = applied(pool.clone()).await;
        migrator().run(&pool).await?;
        let after = applied(pool.clone()).await;
        pool.close().await;
        Ok(usize::try_from(after - before).unwrap_or(0))
    }
}

/// Stores `batch` in one transaction on `conn` (see [`Backend::append`]); waits for rooms other
/// connections hold for at most the connection's `lock_timeout`.
async fn store_batch(
    conn: &mut PgConnection,
    batch: &[NewMessage],
    now_ms: i64,
) -> Result<Vec<Outcome>, StoreError> {
    // Four statements per batch however many rooms it holds (five with client ids): each is a round
    // trip to the server, and one per room made batches over many rooms slow.
    let mut tx = conn.begin().await?;
    let by_room = batch::by_room(batch);
    let names: Vec<&str> = by_room.keys().copied().collect();
    // DO UPDATE locks the rooms' rows until commit (in name order, as every node takes them) and
    // returns their latest last_seq.
    let rows: Vec<(String, i64, i64, bool)> = sqlx::query_as(
        "INSERT INTO rooms (name, last_seq, updated_at) \
             SELECT n, 0, $2 FROM UNNEST($1::text[]) AS t(n) ORDER BY n \
             ON CONFLICT (name) DO UPDATE SET updated_at = rooms.updated_at \
             RETURNING name, id, last_seq, locked",
    )
    .bind(&names)
    .bind(now_ms)
    .fetch_all(&mut *tx)
    .await?;
    let rooms: HashMap<String, (i64, i64, bool)> = rows
        .into_iter()
        .map(|(name, id, last_seq, locked)| (name, (id, last_seq, locked)))
        .collect();
    let room_of = |name: &str| {
        let row = rooms.get(name).copied();
        row.ok_or_else(|| StoreError::from(sqlx::Error::RowNotFound))
    };

    let (mut key_rooms, mut key_owners, mut key_ids) = (Vec::new(), Vec::new(), Vec::new());
    for (&name, indexes) in &by_room {
        let (room_id, _, _) = room_of(name)?;
        for (owner, client_id) in batch::client_keys(batch, indexes) {
            key_rooms.push(room_id);
            key_owners.push(owner);
            key_ids.push(client_id);
        }
    }
    // Rows only for repeats (usually none): what each is a repeat of is looked up by reference, so a
    // new send costs no allocation here.
    let mut found = Vec::new();
    if !key_ids.is_empty() {
        let rows: Vec<KeyedRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT m.room_id, m.sender_key, m.client_id, {ROW_COLUMNS} FROM messages m \
                 JOIN UNNEST($1::bigint[], $2::text[], $3::text[]) AS k(r, o, c) \
                 ON m.room_id = k.r AND m.sender_key = k.o AND m.client_id = k.c"
        )))
        .bind(&key_rooms)
        .bind(&key_owners)
        .bind(&key_ids)
        .fetch_all(&mut *tx)
        .await?;
        found = rows
            .into_iter()
            .map(|row| {
                let key = (row.room_id, row.sender_key, row.client_id);
                (key, StoredMessage::from(row.message))
            })
            .collect();
    }
    let stored: HashMap<(i64, &str, &str), &StoredMessage> = found
        .iter()
        .map(|((room_id, owner, id), message)| ((*room_id, owner.as_str(), id.as_str()), message))
        .collect();

    let mut outcomes = Vec::with_capacity(batch.len());
    let mut inserts: Vec<(i64, usize, u64)> = Vec::with_capacity(batch.len());
    let (mut head_ids, mut head_seqs) = (Vec::new(), Vec::new());
    for (&name, indexes) in &by_room {
        let (room_id, last_seq, locked) = room_of(name)?;
        let room_stored = batch::client_keys(batch, indexes)
            .into_iter()
            .filter_map(|key @ (owner, id)| {
                let original: &StoredMessage = stored.get(&(room_id, owner, id))?;
                Some((key, original.clone()))
            })
            .collect();
        let head = (to_u64(last_seq), locked);
        let plan = batch::plan_room(batch, indexes, head, room_stored, now_ms);
        if !plan.inserts.is_empty() {
            head_ids.push(room_id);
            head_seqs.push(to_i64(plan.last_seq));
        }
        inserts.extend(plan.inserts.into_iter().map(|(i, seq)| (room_id, i, seq)));
        outcomes.extend(plan.outcomes);
    }
    if !inserts.is_empty() {
        let room_ids: Vec<i64> = inserts.iter().map(|&(r, _, _)| r).collect();
        let seqs: Vec<i64> = inserts.iter().map(|&(_, _, s)| to_i64(s)).collect();
        let authors: Vec<&str> = inserts
            .iter()
            .map(|&(_, i, _)| batch[i].author.as_str())
            .collect();
        let bodies: Vec<&str> = inserts
            .iter()
            .map(|&(_, i, _)| batch[i].body.as_str())
            .collect();
        let (owners, ids): (Vec<Option<&str>>, Vec<Option<&str>>) = inserts
            .iter()
            .map(|&(_, i, _)| batch::client_key(&batch[i]).unzip())
            .unzip();
        let author_ids: Vec<Option<i64>> = inserts
            .iter()
            .map(|&(_, i, _)| batch[i].author_id)
            .collect();
        let replies: Vec<Option<i64>> = inserts
            .iter()
            .map(|&(_, i, _)| batch[i].reply_to.map(to_i64))
            .collect();
        let mentions: Vec<Option<&str>> = inserts
            .iter()
            .map(|&(_, i, _)| Some(batch[i].mentions.names.as_str()).filter(|n| !n.is_empty()))
            .collect();
        let files: Vec<Option<&str>> = inserts
            .iter()
            .map(|&(_, i, _)| Some(batch[i].files.json.as_str()).filter(|f| !f.is_empty()))
            .collect();
        let bots: Vec<bool> = inserts.iter().map(|&(_, i, _)| batch[i].bot).collect();
        sqlx::query(
                "INSERT INTO messages (room_id, seq, author, body, client_id, sender_key, created_at, \
                 author_id, reply_to, mentions, files, bot) SELECT r, s, a, b, c, o, $6, u, p, m, f, x \
                 FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $7::bigint[], \
                 $8::text[], $9::bigint[], $10::text[], $11::text[], $12::boolean[]) \
                 AS t(r, s, a, b, c, u, o, p, m, f, x)",
            )
            .bind(&room_ids)
            .bind(&seqs)
            .bind(&authors)
            .bind(&bodies)
            .bind(&ids)
            .bind(now_ms)
            .bind(&author_ids)
            .bind(&owners)
            .bind(&replies)
            .bind(&mentions)
            .bind(&files)
            .bind(&bots)
            .execute(&mut *tx)
            .await?;
        // Only messages that attach files (a plain message adds no statement).
        let (mut f_ids, mut f_rooms, mut f_seqs) = (Vec::new(), Vec::new(), Vec::new());
        for &(_, i, seq) in &inserts {
            for id in &batch[i].files.ids {
                f_ids.push(id.as_str());
                f_rooms.push(batch[i].room.as_str());
                f_seqs.push(to_i64(seq));
            }
        }
        if !f_ids.is_empty() {
            sqlx::query(
                    "UPDATE files SET seq = a.s FROM UNNEST($1::text[], $2::text[], $3::bigint[]) \
                     AS a(id, r, s) WHERE files.id = a.id AND files.room = a.r AND files.seq IS NULL \
                     AND NOT files.gone",
                )
                .bind(&f_ids)
                .bind(&f_rooms)
                .bind(&f_seqs)
                .execute(&mut *tx)
                .await?;
        }
        // Only messages that mention someone (a plain message adds no statement).
        let (mut m_users, mut m_rooms, mut m_seqs) = (Vec::new(), Vec::new(), Vec::new());
        for &(room_id, i, seq) in &inserts {
            for &user_id in &batch[i].mentions.ids {
                m_users.push(user_id);
                m_rooms.push(room_id);
                m_seqs.push(to_i64(seq));
            }
        }
        if !m_users.is_empty() {
            sqlx::query(
                "INSERT INTO mentions (user_id, room_id, seq) \
                     SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[])",
            )
            .bind(&m_users)
            .bind(&m_rooms)
            .bind(&m_seqs)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE rooms SET last_seq = h.s, updated_at = $3 \
                 FROM UNNEST($1::bigint[], $2::bigint[]) AS h(id, s) WHERE rooms.id = h.id",
        )
        .bind(&head_ids)
        .bind(&head_seqs)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(batch::in_batch_order(batch.len(), outcomes))
}

#[async_trait::async_trait]
impl held::LockingStore for PostgresBackend {
    fn held(&self) -> &held::HeldRooms {
        &self.held
    }

    async fn write(&self, batch: &[NewMessage], now_ms: i64) -> Result<Vec<Outcome>, StoreError> {
        let mut conn = self.writer().await?;
        let result =
            tokio::time::timeout(self.timeout, store_batch(&mut conn, batch, now_ms)).await;
        self.settle(conn, result)
    }

    async fn look(&self, names: &[String]) -> Result<HashSet<String>, StoreError> {
        // Takes the free rows without waiting and lets them go again (rolled back).
        let mut conn = self.writer().await?;
        let work = async {
            let mut tx = conn.begin().await?;
            let held: Vec<String> = sqlx::query_scalar(
                "WITH free AS (SELECT name FROM rooms WHERE name = ANY($1) FOR UPDATE SKIP LOCKED) \
                 SELECT name FROM rooms WHERE name = ANY($1) AND name NOT IN (SELECT name FROM free)",
            )
            .bind(names)
            .fetch_all(&mut *tx)
            .await?;
            tx.rollback().await?;
            Ok(held.into_iter().collect())
        };
        let result = tokio::time::timeout(self.timeout, work).await;
        self.settle(conn, result)
    }
}

#[async_trait::async_trait]
impl Backend for PostgresBackend {
    async fn append(&self, batch: &[NewMessage], now_ms: i64) -> Result<Vec<Outcome>, StoreError> {
        held::append(self, batch, now_ms).await
    }

    async fn amend(
        &self,
        amendment: &Amendment,
        now_ms: i64,
    ) -> Result<super::Appended, StoreError> {
        // Bounded like a batch (a change to history may have committed when the bound ran out).
        let db = super::Db::Postgres(self.pool.clone());
        tokio::time::timeout(self.timeout, super::amend::amend(&db, amendment, now_ms))
            .await
            .unwrap_or(Err(StoreError::TimedOut(self.timeout)))
    }

    async fn recent(&self, room: &RoomName, limit: u32) -> Result<Vec<StoredMessage>, StoreError> {
        let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ROW_COLUMNS} FROM messages m \
             JOIN rooms r ON r.id = m.room_id WHERE r.name = $1 ORDER BY m.seq DESC LIMIT $2"
        )))
        .bind(room.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().rev().map(StoredMessage::from).collect())
    }

    async fn after(
        &self,
        room: &RoomName,
        since: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ROW_COLUMNS} FROM messages m \
             JOIN rooms r ON r.id = m.room_id WHERE r.name = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
        )))
        .bind(room.as_str())
        .bind(to_i64(since))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(StoredMessage::from).collect())
    }

    async fn kept(&self, room: &RoomName) -> Result<(u64, u64), StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT first_kept, last_seq FROM rooms WHERE name = $1")
                .bind(room.as_str())
                .fetch_optional(&self.readers)
                .await?;
        Ok(row.map_or((1, 0), |(first, last)| (to_u64(first).max(1), to_u64(last))))
    }

    async fn last_seq(&self, room: &RoomName) -> Result<u64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE name = $1")
            .bind(room.as_str())
            .fetch_optional(&self.readers)
            .await?;
        Ok(seq.map_or(0, to_u64))
    }

    async fn rooms(&self, limit: u32) -> Result<Vec<RoomSummary>, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT name, last_seq, updated_at FROM rooms WHERE last_seq > 0 \
             ORDER BY updated_at DESC, name LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, last_seq, updated_at_ms)| RoomSummary {
                name,
                messages: to_u64(last_seq),
                updated_at_ms,
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
        self.readers.close().await;
    }

    fn db(&self) -> super::Db {
        super::Db::Postgres(self.readers.clone())
    }
}
