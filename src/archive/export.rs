//! `chatweb export`: every stored row as one JSON line ([`ArchiveLine`]), room by room in name order and
//! by id within a room, to stdout or a file. Rows are read a page at a time, so memory stays bounded
//! whatever the database holds. The server may keep running meanwhile; rows committed during the export
//! may or may not be in it.

use std::path::PathBuf;

use anyhow::Context;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};

use super::ArchiveLine;
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
}

/// How much was exported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exported {
    /// Rooms with at least one line.
    pub rooms: u64,
    /// Lines written.
    pub lines: u64,
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
                    let mut line = serde_json::to_vec(&ArchiveLine::of_row(&room.name, row))
                        .context("encoding a line")?;
                    line.push(b'\n');
                    out.write_all(&line).await.context("writing the export")?;
                    exported.lines += 1;
                }
            }
            exported.rooms += u64::from(any);
        }
    }
    out.flush().await.context("writing the export")?;
    Ok(exported)
}
