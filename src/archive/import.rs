//! `chatweb import FILE`: reads export lines ([`ArchiveLine`]) back, with the server stopped. Lines are
//! gathered into chunks of one room and each chunk is one transaction (storage/archive.rs decides, row by
//! row, whether it is stored under its own id, appended, or already there). Authors are linked to the
//! accounts of the same name; a guest's line stays a guest's, and a name with no account becomes a guest.
//! A line marked `bot` keeps the mark, and is linked only to a bot account (a person who has the name
//! here does not get a bot's lines); a line linked to a bot account is a bot's.
//! A malformed line is reported with its line number and skipped; the rest goes on. A message's files
//! are recorded once its chunk is committed (attached to it, uploaded by its author), then their bytes
//! are copied from `--with-files DIR` into the file store unless it has them: so a run that stopped
//! between the two is finished by running it again, and a second run stores nothing twice. No
//! thumbnail is made: the thumbnail URL of an imported image serves the image itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::ArchiveLine;
use super::files::{CopyOutcome, FilesCopy};
use crate::domain::{ClientIdOwner, FileRef, Username};
use crate::files::{FileStore, FilesLocation};
use crate::storage::{ArchiveRow, Authors, Db, ImportRoom, ImportedFile, Store};

/// How many malformed lines [`Imported`] keeps (all are reported on stderr).
pub const MALFORMED_KEPT: usize = 1_000;

/// Lines per chunk (and transaction); each is one INSERT of 15 parameters a row.
const CHUNK: usize = 1_000;

/// What an import came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Lines read (malformed ones included).
    pub lines: u64,
    /// Rows stored under the id they had (into rooms this import created).
    pub preserved: u64,
    /// Rows stored under new ids after a room's last one.
    pub appended: u64,
    /// Lines already stored, skipped.
    pub skipped: u64,
    /// Malformed lines, skipped.
    pub malformed: u64,
    /// The first [`MALFORMED_KEPT`] of them: (line number, why). Each is also printed to stderr.
    pub malformed_lines: Vec<(u64, String)>,
    /// Rooms this import created.
    pub rooms_created: u64,
    /// Rooms that existed and got lines.
    pub rooms_existing: u64,
    /// Files of the imported messages (those already stored included).
    pub files: u64,
    /// Of them, recorded by this run.
    pub files_recorded: u64,
    /// Files whose bytes were copied into the file store.
    pub files_copied: u64,
    /// Files whose bytes the file store had already.
    pub files_present: u64,
    /// Files without bytes: neither in the file store nor in `--with-files DIR` (each also a warning).
    pub files_missing: u64,
}

/// Where an import's files' bytes are.
#[derive(Clone, Debug)]
pub struct ImportFiles {
    /// The file store they go to (opened at the first file).
    pub location: FilesLocation,
    /// The directory they come from (`--with-files DIR`), if any.
    pub with_files: Option<PathBuf>,
}

/// Runs `chatweb import FILE` into `database_url` (creating and migrating it when needed).
pub async fn run(database_url: &str, file: &Path, files: ImportFiles) -> anyhow::Result<Imported> {
    let input = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let backend = Store::connect(database_url).await.with_context(|| {
        format!(
            "opening the database {}",
            crate::redaction::redacted(database_url)
        )
    })?;
    let imported = read(&backend.db(), BufReader::new(input), files).await;
    if imported.is_ok() {
        // A bulk load: the planner's statistics (PostgreSQL) follow it.
        backend.db().analyze().await?;
    }
    backend.close().await;
    imported
}

/// Imports every line of `input` into `db`, and its files' bytes as `files` says.
pub async fn read(
    db: &Db,
    input: impl tokio::io::AsyncBufRead + Unpin,
    files: ImportFiles,
) -> anyhow::Result<Imported> {
    let mut importer = Importer::new(db, files);
    let mut lines = input.lines();
    let mut number = 0_u64;
    while let Some(text) = lines
        .next_line()
        .await
        .with_context(|| format!("reading line {}", number + 1))?
    {
        number += 1;
        if text.trim().is_empty() {
            continue;
        }
        match ArchiveLine::parse(&text).and_then(|line| Ok((line.to_row()?, line))) {
            Ok((row, line)) => importer.push(line.room, row).await?,
            Err(error) => {
                eprintln!("line {number}: {error}; skipped");
                importer.done.malformed += 1;
                if importer.done.malformed_lines.len() < MALFORMED_KEPT {
                    importer
                        .done
                        .malformed_lines
                        .push((number, error.to_string()));
                }
            }
        }
    }
    importer.flush().await?;
    let mut done = importer.done;
    done.lines = number;
    for room in importer.rooms.values() {
        match room.created() {
            Some(true) => done.rooms_created += 1,
            Some(false) => done.rooms_existing += 1,
            None => {}
        }
    }
    Ok(done)
}

/// The state of one import run.
struct Importer<'a> {
    db: &'a Db,
    rooms: HashMap<String, ImportRoom>,
    authors: Authors,
    /// The room of the chunk being gathered, and its rows.
    chunk: Option<(String, Vec<ArchiveRow>)>,
    files: ImportFiles,
    /// The file store, once a line had files.
    store: Option<FileStore>,
    done: Imported,
}

impl<'a> Importer<'a> {
    fn new(db: &'a Db, files: ImportFiles) -> Self {
        Self {
            db,
            rooms: HashMap::new(),
            authors: Authors::new(),
            chunk: None,
            files,
            store: None,
            done: Imported::default(),
        }
    }

    /// Adds `row` of `room`, writing the chunk first when it is full or of another room.
    async fn push(&mut self, room: String, row: ArchiveRow) -> anyhow::Result<()> {
        let same = matches!(&self.chunk, Some((name, rows)) if *name == room && rows.len() < CHUNK);
        if !same {
            self.flush().await?;
            self.chunk = Some((room, Vec::with_capacity(CHUNK)));
        }
        if let Some((_, rows)) = self.chunk.as_mut() {
            rows.push(row);
        }
        Ok(())
    }

    /// Writes the gathered chunk, if any, in one transaction.
    async fn flush(&mut self) -> anyhow::Result<()> {
        let Some((name, rows)) = self.chunk.take() else {
            return Ok(());
        };
        let key = |row: &ArchiveRow| Username::from_stored(&row.author).key();
        let keys: Vec<String> = rows.iter().filter(|r| !r.guest).map(key).collect();
        self.db
            .archive_authors(&mut self.authors, keys)
            .await
            .context("looking up authors")?;
        let rows: Vec<(ArchiveRow, Option<i64>)> = rows
            .into_iter()
            .map(|mut row| {
                let account = if row.guest {
                    None
                } else {
                    self.authors.get(&key(&row)).copied().flatten()
                };
                // A bot's line goes to a bot account only, never to a person who has its name here;
                // a bot account's messages are a bot's (also from an export older than the flag).
                let account = account.filter(|a| a.is_bot || !row.bot);
                row.bot |= row.kind == 0 && account.is_some_and(|a| a.is_bot);
                (row, account.map(|a| a.id))
            })
            .collect();
        let room = self
            .rooms
            .entry(name.clone())
            .or_insert_with(|| ImportRoom::new(&name));
        let counts = self
            .db
            .import_chunk(room, &rows)
            .await
            .with_context(|| format!("importing into room {name}"))?;
        self.done.preserved += counts.preserved;
        self.done.appended += counts.appended;
        self.done.skipped += counts.skipped;
        let mut files = Vec::new();
        for (row, account) in rows.iter().filter(|(row, _)| !row.files.is_empty()) {
            let uploader_key = account.map_or_else(ClientIdOwner::import, ClientIdOwner::user);
            for file in FileRef::list(&row.files) {
                files.push(ImportedFile {
                    file,
                    room: name.clone(),
                    seq: room.stored_id(row.seq),
                    uploader_id: *account,
                    uploader_key: uploader_key.as_str().to_owned(),
                    created_at: row.ts_ms,
                });
            }
        }
        if files.is_empty() {
            return Ok(());
        }
        self.done.files += files.len() as u64;
        self.done.files_recorded += self
            .db
            .import_files(&files)
            .await
            .with_context(|| format!("recording the files of room {name}"))?;
        for file in &files {
            self.restore(file).await?;
        }
        Ok(())
    }

    /// Copies the bytes of `file` into the file store, unless it has them.
    async fn restore(&mut self, imported: &ImportedFile) -> anyhow::Result<()> {
        let store = match &self.store {
            Some(store) => store.clone(),
            None => {
                let location = &self.files.location;
                let store = FileStore::open(location.clone())
                    .with_context(|| format!("opening the file store: {location}"))?;
                self.store = Some(store.clone());
                store
            }
        };
        let file = &imported.file;
        let outcome = match &self.files.with_files {
            Some(dir) => {
                let copy = FilesCopy {
                    store,
                    dir: dir.clone(),
                };
                copy.import(&file.id, file.size).await?
            }
            None if store.has(&file.id).await? => CopyOutcome::Present,
            None => CopyOutcome::Missing,
        };
        match outcome {
            CopyOutcome::Copied(_) => self.done.files_copied += 1,
            CopyOutcome::Present => self.done.files_present += 1,
            CopyOutcome::Missing => {
                let from = self.files.with_files.as_ref().map_or_else(
                    || "no --with-files DIR".to_owned(),
                    |dir| format!("not in {} (or not of its size)", dir.display()),
                );
                eprintln!(
                    "warning: file {} ({}) of {} id {} has no bytes: {from}; recorded without them",
                    file.id, file.name, imported.room, imported.seq
                );
                self.done.files_missing += 1;
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} lines: {} stored with their ids, {} appended with new ids, {} already stored, {} malformed; \
             {} rooms created, {} existing rooms added to",
            self.lines,
            self.preserved,
            self.appended,
            self.skipped,
            self.malformed,
            self.rooms_created,
            self.rooms_existing
        )?;
        if self.files > 0 {
            write!(
                f,
                "; {} files: {} recorded, {} copied into the file store, {} there already, {} without bytes",
                self.files,
                self.files_recorded,
                self.files_copied,
                self.files_present,
                self.files_missing
            )?;
        }
        Ok(())
    }
}
