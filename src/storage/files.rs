//! The uploads' rows (issue 20, migration 0011): one per file, made when its bytes are stored, attached
//! to a message by the writer in the message's own transaction (`files.seq`), marked gone with its
//! message. What a download asks ([`Db::file`]), what a send may attach ([`Db::attachable`]), what a
//! person uploaded today ([`Db::uploaded_since`]), what the janitor removes ([`Db::files_to_remove`]),
//! and the files `chatweb import` brings with its messages ([`Db::import_files`]).

use super::{Db, StoreError, on_db, to_i64, to_u64};
use crate::domain::FileRef;

/// Imported files per INSERT (12 parameters each, well under either engine's limit).
const IMPORT_ROWS: usize = 500;

/// A file of an imported message (`chatweb import`), attached to it from the start.
#[derive(Clone, Debug)]
pub struct ImportedFile {
    /// What the message shows of it (its thumbnail flag says whether one is wanted).
    pub file: FileRef,
    /// The message's room.
    pub room: String,
    /// The message's id, as stored.
    pub seq: u64,
    /// The author's account; `None` for a guest.
    pub uploader_id: Option<i64>,
    /// The author as sends know them (`ClientIdOwner`'s key; `import` for a guest).
    pub uploader_key: String,
    /// The message's time, ms since the epoch.
    pub created_at: i64,
}

/// A file about to be recorded.
#[derive(Clone, Debug)]
pub struct NewFile<'a> {
    /// Its id (random, also its key in the file store).
    pub id: &'a str,
    /// The room it was uploaded to.
    pub room: &'a str,
    /// The uploader's account; `None` for a guest.
    pub uploader_id: Option<i64>,
    /// The uploader as sends know them (`ClientIdOwner`'s key): only they may attach it.
    pub uploader_key: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Bytes.
    pub size: u64,
    /// Media type, from its bytes.
    pub media_type: &'a str,
    /// Pixels, for an image.
    pub width: Option<u32>,
    /// Pixels, for an image.
    pub height: Option<u32>,
    /// A thumbnail is to be made.
    pub thumb: bool,
    /// When, in milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A recorded file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRow {
    /// Its id.
    pub id: String,
    /// The room it belongs to.
    pub room: String,
    /// Who uploaded it (`ClientIdOwner`'s key).
    pub uploader_key: String,
    /// Its name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
    /// Pixels, for an image.
    pub width: Option<u32>,
    /// Pixels, for an image.
    pub height: Option<u32>,
    /// The thumbnail's state.
    pub thumb: Thumb,
    /// The message it is attached to, once it is.
    pub seq: Option<u64>,
    /// Its message was deleted: it is no longer served.
    pub gone: bool,
    /// When it was uploaded.
    pub created_at: i64,
}

/// A file's thumbnail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Thumb {
    /// None: not an image, or one already small.
    None,
    /// Wanted, not made yet (the file itself stands in for it meanwhile).
    Wanted,
    /// Made, in the file store beside the file.
    Made,
}

impl Thumb {
    fn from_column(value: i64) -> Self {
        match value {
            1 => Self::Wanted,
            2 => Self::Made,
            _ => Self::None,
        }
    }
}

const COLUMNS: &str =
    "id, room, uploader_key, name, size, type, width, height, thumb, seq, gone, created_at";

type Columns = (
    String,
    String,
    String,
    String,
    i64,
    String,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
    bool,
    i64,
);

fn row(c: Columns) -> FileRow {
    let pixels = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
    FileRow {
        id: c.0,
        room: c.1,
        uploader_key: c.2,
        name: c.3,
        size: to_u64(c.4),
        media_type: c.5,
        width: pixels(c.6),
        height: pixels(c.7),
        thumb: Thumb::from_column(c.8),
        seq: c.9.map(to_u64),
        gone: c.10,
        created_at: c.11,
    }
}

impl Db {
    /// Records an upload whose bytes are stored.
    pub async fn insert_file(&self, file: &NewFile<'_>) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO files (id, room, uploader_id, uploader_key, name, size, type, width, \
                 height, thumb, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(file.id)
            .bind(file.room)
            .bind(file.uploader_id)
            .bind(file.uploader_key)
            .bind(file.name)
            .bind(to_i64(file.size))
            .bind(file.media_type)
            .bind(file.width.map(i64::from))
            .bind(file.height.map(i64::from))
            .bind(i64::from(file.thumb))
            .bind(file.created_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records the files of imported messages, attached to them. A file recorded already (by id: an
    /// import run again) is left as it is. Returns how many were recorded.
    pub async fn import_files(&self, files: &[ImportedFile]) -> Result<u64, StoreError> {
        let mut recorded = 0;
        for chunk in files.chunks(IMPORT_ROWS) {
            recorded += on_db!(self, |pool| {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO files (id, room, uploader_id, uploader_key, name, size, type, width, \
                     height, thumb, created_at, seq) ",
                );
                insert.push_values(chunk, |mut values, imported| {
                    let file = &imported.file;
                    values
                        .push_bind(file.id.as_str())
                        .push_bind(imported.room.as_str())
                        .push_bind(imported.uploader_id)
                        .push_bind(imported.uploader_key.as_str())
                        .push_bind(file.name.as_str())
                        .push_bind(to_i64(file.size))
                        .push_bind(file.media_type.as_str())
                        .push_bind(file.width.map(i64::from))
                        .push_bind(file.height.map(i64::from))
                        // Wanted, never queued: the thumbnail's URL serves the image itself.
                        .push_bind(i64::from(file.thumb))
                        .push_bind(imported.created_at)
                        .push_bind(to_i64(imported.seq));
                });
                insert.push(" ON CONFLICT (id) DO NOTHING");
                insert.build().execute(pool).await?.rows_affected()
            });
        }
        Ok(recorded)
    }

    /// The file `id`, gone or not.
    pub async fn file(&self, id: &str) -> Result<Option<FileRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM files WHERE id = $1");
        let found: Option<Columns> = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.map(row))
    }

    /// Those of `ids` that `uploader_key` uploaded to `room` and that are neither attached nor gone.
    pub async fn attachable(
        &self,
        room: &str,
        uploader_key: &str,
        ids: &[String],
    ) -> Result<Vec<FileRow>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        let sql = format!(
            "SELECT {COLUMNS} FROM files WHERE id = $1 AND room = $2 AND uploader_key = $3 \
             AND seq IS NULL AND NOT gone"
        );
        for id in ids {
            let one: Option<Columns> = on_db!(self, |pool| {
                sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(id)
                    .bind(room)
                    .bind(uploader_key)
                    .fetch_optional(pool)
                    .await?
            });
            found.extend(one.map(row));
        }
        Ok(found)
    }

    /// Whether `sender_key` stored a message with `client_id` in `room` (a repeated send).
    pub async fn sent(
        &self,
        room: &str,
        sender_key: &str,
        client_id: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = on_db!(self, |pool| {
            sqlx::query_scalar(
                "SELECT m.seq FROM messages m JOIN rooms r ON r.id = m.room_id \
                 WHERE r.name = $1 AND m.sender_key = $2 AND m.client_id = $3",
            )
            .bind(room)
            .bind(sender_key)
            .bind(client_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(found.is_some())
    }

    /// Bytes `uploader_key` uploaded since `since_ms` (for the daily quota; removed files count too).
    pub async fn uploaded_since(
        &self,
        uploader_key: &str,
        since_ms: i64,
    ) -> Result<u64, StoreError> {
        let total: Option<i64> = on_db!(self, |pool| {
            sqlx::query_scalar(
                "SELECT CAST(SUM(size) AS BIGINT) FROM files \
                 WHERE uploader_key = $1 AND created_at >= $2",
            )
            .bind(uploader_key)
            .bind(since_ms)
            .fetch_one(pool)
            .await?
        });
        Ok(total.map_or(0, to_u64))
    }

    /// Its thumbnail is made.
    pub async fn thumb_made(&self, id: &str) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            sqlx::query("UPDATE files SET thumb = 2 WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Files whose bytes are to be removed: gone with their message, or never attached and uploaded
    /// before `unattached_before_ms`; at most `limit`, each with whether a thumbnail may exist.
    pub async fn files_to_remove(
        &self,
        unattached_before_ms: i64,
        limit: i64,
    ) -> Result<Vec<(String, bool)>, StoreError> {
        let found: Vec<(String, i64)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, thumb FROM files WHERE gone \
                 UNION ALL SELECT id, thumb FROM files WHERE seq IS NULL AND created_at < $1 \
                 LIMIT $2",
            )
            .bind(unattached_before_ms)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(found
            .into_iter()
            .map(|(id, thumb)| (id, thumb != 0))
            .collect())
    }

    /// Forgets a file whose bytes are removed.
    pub async fn forget_file(&self, id: &str) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            sqlx::query("DELETE FROM files WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The files attached to `room`'s messages and not gone, by message id (for export).
    pub async fn room_files(&self, room: &str) -> Result<Vec<FileRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM files WHERE room = $1 AND seq IS NOT NULL AND NOT gone ORDER BY seq"
        );
        let found: Vec<Columns> = on_db!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(room)
                .fetch_all(pool)
                .await?
        });
        Ok(found.into_iter().map(row).collect())
    }
}
