//! `chatweb backup PATH`: a consistent copy of a SQLite database, taken while the server runs. `VACUUM
//! INTO` on a read-only connection of its own reads one snapshot of the database (WAL lets the server's
//! writer go on meanwhile) and writes it as a compact, self-contained file a server can start from. The
//! copy is then opened and checked before its size and counts are reported. PostgreSQL is backed up with
//! `pg_dump`, which this command names instead of running. Uploaded files are not in the database: the
//! summary says where they live and how to back them up alongside (docs/OPERATIONS.md, "Files").

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::files::FilesLocation;
use crate::redaction::redacted;

/// What a backup wrote.
#[derive(Clone, Debug)]
pub struct Backup {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Rooms in it.
    pub rooms: i64,
    /// Messages in it (not counting edit and delete events).
    pub messages: i64,
    /// Rows in it: messages and events.
    pub rows: i64,
    /// Files its messages attach (their bytes are not in it).
    pub files: i64,
    /// Where those bytes live.
    pub files_location: FilesLocation,
}

/// Why a backup was not taken.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target exists: a backup never overwrites.
    #[error("{0} already exists: a backup never overwrites a file")]
    Exists(PathBuf),
    /// PostgreSQL is backed up with its own tools.
    #[error(
        "chatweb backup copies SQLite databases; back up PostgreSQL with pg_dump, e.g.\n  \
         pg_dump --format=custom --file=chatweb.dump '{0}'\n\
         and restore into an empty database with\n  \
         pg_restore --no-owner --dbname='<empty database URL>' chatweb.dump\n\
         Uploaded files are not in the database: back up {1} alongside\n\
         (docs/OPERATIONS.md, \"Backups and restores\" and \"Files\")"
    )]
    Postgres(String, FilesLocation),
    /// Neither SQLite nor PostgreSQL.
    #[error("unsupported database URL {0:?}: expected sqlite:// or postgres://")]
    Unsupported(String),
}

/// Runs `chatweb backup PATH` for `database_url`, whose files live at `files`.
pub async fn run(database_url: &str, path: &Path, files: FilesLocation) -> anyhow::Result<Backup> {
    if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        bail!(BackupError::Postgres(redacted(database_url), files));
    }
    if !database_url.starts_with("sqlite:") {
        bail!(BackupError::Unsupported(redacted(database_url)));
    }
    if path.exists() {
        bail!(BackupError::Exists(path.to_owned()));
    }
    let target = path
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", path.display()))?;
    let source = SqliteConnectOptions::from_str(database_url)
        .with_context(|| format!("reading the database URL {}", redacted(database_url)))?
        .create_if_missing(false)
        .read_only(true)
        // The server's writer holds the write lock only for a commit; a snapshot read waits at most that.
        .busy_timeout(Duration::from_secs(10));
    let mut db = SqliteConnection::connect_with(&source)
        .await
        .with_context(|| format!("opening the database {}", redacted(database_url)))?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut db)
        .await
        .with_context(|| format!("copying the database into {}", path.display()));
    let _ = db.close().await;
    copied?;
    check(path, files).await
}

/// Opens the copy, checks it and counts what it holds.
async fn check(path: &Path, files_location: FilesLocation) -> anyhow::Result<Backup> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(true);
    let mut db = SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening the backup {}", path.display()))?;
    let checked: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut db)
        .await
        .context("checking the backup")?;
    if checked != "ok" {
        bail!("the backup {} failed its check: {checked}", path.display());
    }
    let (rooms, messages, rows, files): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM rooms), \
         (SELECT COUNT(*) FROM messages WHERE kind = 0), (SELECT COUNT(*) FROM messages), \
         (SELECT COUNT(*) FROM files WHERE seq IS NOT NULL AND NOT gone)",
    )
    .fetch_one(&mut db)
    .await
    .context("counting the backup's rooms and messages")?;
    let _ = db.close().await;
    let bytes = tokio::fs::metadata(path)
        .await
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    Ok(Backup {
        path: path.to_owned(),
        bytes,
        rooms,
        messages,
        rows,
        files,
        files_location,
    })
}

impl std::fmt::Display for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrote {}: {} bytes, {} rooms, {} messages ({} rows with edits and deletions)",
            self.path.display(),
            self.bytes,
            self.rooms,
            self.messages,
            self.rows
        )?;
        let how = match &self.files_location {
            FilesLocation::Dir(_) => "copy the directory with it (cp -a or rsync)",
            FilesLocation::S3 { .. } => "keep the bucket versioned or replicated",
        };
        write!(
            f,
            "\nfiles: {} attached files are not in this copy; their bytes live in {}: {how} \
             (docs/OPERATIONS.md, \"Files\")",
            self.files, self.files_location
        )
    }
}
