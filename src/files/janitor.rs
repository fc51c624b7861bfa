//! The janitor: once a `--files-sweep-ms` (a minute), the bytes of files gone with their messages
//! (deleted, or removed by retention) and of uploads never attached within `--upload-expiry-secs` (an
//! hour) are removed from the file store, then their rows. Rows go after bytes, so a crash in between only leaves a row the next pass finishes.
//! Every node runs it; removing what another node just removed is not an error.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{FileSettings, FileStore};
use crate::stats::Stats;
use crate::storage::Db;

/// Files looked at per pass.
const BATCH: i64 = 500;

/// Removes what is due once a `settings.sweep`, until `stop`; `stats.files_swept` wakes after each pass.
pub async fn run(
    db: Db,
    files: FileStore,
    settings: FileSettings,
    stats: Arc<Stats>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(settings.sweep);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let expired_before = crate::storage::now_ms()
            - i64::try_from(settings.upload_expiry.as_millis()).unwrap_or(i64::MAX);
        match sweep(&db, &files, expired_before).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "files removed"),
            Err(error) => tracing::warn!(%error, "the file janitor failed; it tries again"),
        }
        stats.files_swept.notify_waiters();
    }
}

/// One pass, removing uploads not attached since before `expired_before` (ms): the number of files
/// removed.
pub async fn sweep(db: &Db, files: &FileStore, expired_before: i64) -> anyhow::Result<usize> {
    let due = db.files_to_remove(expired_before, BATCH).await?;
    for (id, thumb) in &due {
        files.remove(id, *thumb).await?;
        db.forget_file(id).await?;
    }
    Ok(due.len())
}
