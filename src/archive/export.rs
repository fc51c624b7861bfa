//! `chatweb export`: every stored row as one JSON line ([`ArchiveLine`]), room by room in name order and
//! by id within a room, to stdout or a file. Rows are read a page at a time, so memory stays bounded
//! whatever the database holds. The server may keep running meanwhile; rows committed during the export
//! may or may not be in it. With `--with-files DIR`, each exported message's files are copied from the
//! file store into `DIR/<id>` as their lines are written (streamed; a file without bytes is a warning).

use std::path::PathBuf;

use anyhow::Context;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};

use super::ArchiveLine;
use super::files::{CopyOutcome, FilesCopy};
use crate::storage::{Db, Store};

/// Rows (and rooms) read per query.
const PAGE: i64 = 1_000;

/// What to export.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Only this room.
    pub room: Option<String>,
    /// Only rows stored at this time or later (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Write here instead of stdout.
    pub output: Option<PathBuf>,
    /// Copy the exported messages' files into this directory, from this store.
    pub with_files: Option<FilesCopy>,
}

/// How much was exported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exported {
    /// Rooms with at least one line.
    pub rooms: u64,
    /// Lines written.
    pub lines: u64,
    /// Files whose bytes were copied (`--with-files`).
    pub files_copied: u64,
    /// Their bytes.
    pub file_bytes: u64,
    /// Files already in the directory, of the same size: not copied again.
    pub files_present: u64,
    /// Files the store had no bytes for (each is also a warning on stderr).
    pub files_missing: u64,
}

/// Runs `chatweb export` on `database_url`.
pub async fn run(database_url: &str, options: ExportOptions) -> anyhow::Result<Exported> {
    let backend = Store::connect(database_url).await.with_context(|| {
        format!(
            "opening the database {}",
            crate::redaction::redacted(database_url)
        )
    })?;
    let exported = match &options.output {
        Some(path) => {
            let file = tokio::fs::File::create(path)
                .await
                .with_context(|| format!("creating {}", path.display()))?;
            write(&backend.db(), &options, file).await
        }
        None => write(&backend.db(), &options, tokio::io::stdout()).await,
    };
    backend.close().await;
    exported
}

/// Writes the lines `options` selects from `db` to `out`.
pub async fn write(
    db: &Db,
    options: &ExportOptions,
    out: impl AsyncWrite + Unpin,
) -> anyhow::Result<Exported> {
    let mut out = BufWriter::new(out);
    let mut exported = Exported::default();
    let mut after_room = String::new();
    let since_ms = options.since_ms.unwrap_or(i64::MIN);
    if let Some(copy) = &options.with_files {
        super::files::prepare(&copy.dir).await?;
    }
    loop {
        let rooms = db
            .archive_rooms(&after_room, options.room.as_deref(), PAGE)
            .await
            .context("listing rooms")?;
        let Some(last) = rooms.last() else { break };
        after_room = last.name.clone();
        for room in rooms {
            let mut after = 0;
            let mut any = false;
            loop {
                let rows = db
                    .archive_rows(room.id, after, since_ms, PAGE)
                    .await
                    .with_context(|| format!("reading room {}", room.name))?;
                let Some(last) = rows.last() else { break };
                after = last.seq;
                any = true;
                for row in rows {
                    let line = ArchiveLine::of_row(&room.name, row);
                    let mut text = serde_json::to_vec(&line).context("encoding a line")?;
                    text.push(b'\n');
                    out.write_all(&text).await.context("writing the export")?;
                    exported.lines += 1;
                    if let Some(copy) = &options.with_files {
                        copy_files(copy, &line, &mut exported).await?;
                    }
                }
            }
            exported.rooms += u64::from(any);
        }
    }
    out.flush().await.context("writing the export")?;
    Ok(exported)
}

/// Copies the bytes of `line`'s files into the export's directory.
async fn copy_files(
    copy: &FilesCopy,
    line: &ArchiveLine,
    exported: &mut Exported,
) -> anyhow::Result<()> {
    for file in &line.files {
        match copy.export(&file.id, file.size).await? {
            CopyOutcome::Copied(bytes) => {
                exported.files_copied += 1;
                exported.file_bytes += bytes;
            }
            CopyOutcome::Present => exported.files_present += 1,
            CopyOutcome::Missing => {
                eprintln!(
                    "warning: file {} ({}) of {} id {} has no bytes in {}; exported without them",
                    file.id,
                    file.name,
                    line.room,
                    line.id,
                    copy.store.location()
                );
                exported.files_missing += 1;
            }
        }
    }
    Ok(())
}

impl std::fmt::Display for Exported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exported {} lines from {} rooms", self.lines, self.rooms)
    }
}

impl Exported {
    /// What `--with-files DIR` copied, for the summary.
    pub fn files_summary(&self, dir: &std::path::Path) -> String {
        format!(
            "files: {} copied into {} ({} bytes), {} there already, {} without bytes",
            self.files_copied,
            dir.display(),
            self.file_bytes,
            self.files_present,
            self.files_missing
        )
    }
}
