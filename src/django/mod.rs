//! Moving over from the Django Channels chat app. `chatweb import-django SOURCE` reads the app's database
//! (SQLite or PostgreSQL: `source.rs`) and writes into chatweb's, migrated first: users from `auth_user`
//! with their password hashes as they are (`users.rs`), then messages from `chatapp_message` per room in
//! timestamp order, appended after each room's last id with their original timestamps and authors
//! (`messages.rs`; credited to an account only when it is the Django author's own, `users.rs`). Each
//! imported message carries `client_id` `django:<id>`, owned by `import`, in the unique
//! `messages_sender_client_id` index, so a second run imports nothing twice. `--dry-run` reads both
//! databases and writes nothing. It runs with the server stopped: the server's cache of recent messages
//! would not see the rows. Logging in with a Django hash is `hashers.rs`, used by `accounts::password`.

pub mod hashers;
mod messages;
mod report;
mod source;
mod users;

use anyhow::Context;

use crate::cli::ImportDjangoArgs;
use crate::redaction::redacted;
use crate::storage::{Backend, Db, Store, now_ms, open_existing};

pub use report::Summary;

/// The chatweb database of a run: migrated and written, or (a dry run) read only, if it exists at all.
struct Target {
    backend: Option<std::sync::Arc<dyn Backend>>,
    db: Option<Db>,
}

impl Target {
    async fn open(url: &str, dry_run: bool) -> anyhow::Result<Self> {
        let shown = redacted(url);
        if dry_run {
            let db = open_existing(url)
                .await
                .with_context(|| format!("opening the database {shown}"))?;
            return Ok(Self { backend: None, db });
        }
        let backend = Store::connect(url)
            .await
            .with_context(|| format!("opening the database {shown}"))?;
        Ok(Self {
            db: Some(backend.db()),
            backend: Some(backend),
        })
    }

    async fn close(self) {
        match (self.backend, self.db) {
            (Some(backend), _) => backend.close().await,
            (None, Some(db)) => crate::storage::on_db!(&db, |pool| pool.close().await),
            (None, None) => {}
        }
    }
}

/// `chatweb import-django`: imports, prints the summary, and writes an audit row by `cli`.
pub async fn import(args: ImportDjangoArgs) -> anyhow::Result<()> {
    let summary = run(&args).await?;
    println!("{summary}");
    Ok(())
}

/// Runs the import `args` describe; returns its counts.
pub async fn run(args: &ImportDjangoArgs) -> anyhow::Result<Summary> {
    let source = source::Source::open(&args.source).await?;
    let target = Target::open(&args.database.database_url, args.dry_run).await?;
    let mut report = report::Reporter::new(args.dry_run);
    let db = target.db.as_ref().filter(|_| !args.dry_run);
    let read = target.db.as_ref();

    let rows = source.users().await?;
    let mut people = users::existing(read)
        .await
        .context("reading chatweb's users")?;
    users::import(db, &rows, &mut people, &mut report)
        .await
        .context("storing imported users")?;
    messages::import(source, read, &people, args.max_message_bytes, &mut report).await?;

    let summary = report.summary;
    if let Some(db) = db {
        let detail = summary.to_string().replace('\n', "; ");
        db.audit(
            None,
            "cli",
            "django.import",
            &redacted(&args.source),
            &detail,
            now_ms(),
        )
        .await
        .context("writing the audit row")?;
        // A bulk load: the planner's statistics (PostgreSQL) follow it.
        db.analyze()
            .await
            .context("updating the planner's statistics")?;
    }
    target.close().await;
    Ok(summary)
}
