//! Files in an archive (issue 20): what an export line carries of a message's files ([`ArchiveFile`]:
//! the metadata the message shows, no links), and their bytes copied between the file store and a
//! directory: `chatweb export --with-files DIR` writes each as `DIR/<id>`, `chatweb import --with-files DIR`
//! reads them back into the file store. Bytes are streamed in both directions, so memory stays a few
//! parts whatever a file's size; a file whose bytes are missing is a warning and a count, never a failure.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::LineError;
use crate::domain::FileRef;
use crate::files::{FileStore, FileStoreError, ImageKind, MAX_FILES_PER_MESSAGE, is_id, thumbs};

/// Bytes read from a file of the directory per write to the file store.
const READ_BYTES: usize = 256 * 1024;

/// One file of a message, as an export line carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveFile {
    /// The upload's id (also its name in `--with-files DIR`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Its media type.
    #[serde(rename = "type")]
    pub media_type: String,
    /// Pixels, for an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixels, for an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl ArchiveFile {
    /// The files of a stored message (`messages.files`, "" for none).
    pub fn list(stored: &str) -> Vec<Self> {
        FileRef::list(stored)
            .into_iter()
            .map(|file| Self {
                id: file.id,
                name: file.name,
                size: file.size,
                media_type: file.media_type,
                width: file.width,
                height: file.height,
            })
            .collect()
    }

    /// `files` as `messages.files` keeps them ("" for none). An image bigger than a thumbnail is
    /// marked as having one, as an upload is (its thumbnail URL serves the image itself: an import
    /// makes no thumbnails).
    pub fn store(files: &[Self]) -> String {
        let refs: Vec<FileRef> = files.iter().map(Self::to_ref).collect();
        FileRef::store(&refs)
    }

    /// What the message keeps of it.
    pub fn to_ref(&self) -> FileRef {
        let thumb = match (ImageKind::of(&self.media_type), self.width, self.height) {
            (Some(_), Some(width), Some(height)) => thumbs::wanted(width, height),
            _ => false,
        };
        FileRef {
            id: self.id.clone(),
            name: self.name.clone(),
            size: self.size,
            media_type: self.media_type.clone(),
            width: self.width,
            height: self.height,
            thumb,
        }
    }

    /// Checks the files of one line: ids chatweb could have made (they name objects and files), a
    /// clean name, a type, at most as many as a message may attach.
    pub fn check(files: &mut [Self]) -> Result<(), LineError> {
        if files.len() > MAX_FILES_PER_MESSAGE {
            return Err(LineError::Invalid("a message has at most 10 files"));
        }
        for file in files {
            if !is_id(&file.id) {
                return Err(LineError::Invalid("a file's id is 32 lowercase hex digits"));
            }
            if file.media_type.is_empty()
                || file.media_type.len() > 255
                || file.media_type.contains(['\0', '\n', '\r'])
            {
                return Err(LineError::Invalid("a file's type must be a media type"));
            }
            file.name = crate::files::clean_name(&file.name);
        }
        Ok(())
    }
}

/// Where a file's bytes are copied from or to: the file store and a directory of `<id>` files.
#[derive(Clone, Debug)]
pub struct FilesCopy {
    /// The configured file store.
    pub store: FileStore,
    /// The directory (`--with-files DIR`).
    pub dir: PathBuf,
}

/// What became of one file's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyOutcome {
    /// Copied, this many bytes.
    Copied(u64),
    /// Already where they were to go: not copied again.
    Present,
    /// Not where they were to come from.
    Missing,
}

impl FilesCopy {
    /// The file store `args` configure (for the database at `database_url`) and `dir`.
    pub fn open(
        args: &crate::files::FileStoreArgs,
        database_url: &str,
        dir: PathBuf,
    ) -> anyhow::Result<Self> {
        let location = args.location(database_url);
        let store = FileStore::open(location.clone())
            .with_context(|| format!("opening the file store: {location}"))?;
        Ok(Self { store, dir })
    }

    /// Copies file `id` (of `size` bytes) from the store into `DIR/<id>`, through `DIR/<id>.part`
    /// renamed once whole, so a partial file is never taken for the file. A `DIR/<id>` of that size is
    /// kept (files never change: an export into the same directory again copies only new ones).
    pub async fn export(&self, id: &str, size: u64) -> anyhow::Result<CopyOutcome> {
        let target = self.dir.join(id);
        if tokio::fs::metadata(&target)
            .await
            .is_ok_and(|m| m.len() == size)
        {
            return Ok(CopyOutcome::Present);
        }
        let mut fetched = match self.store.fetch(id, false, None).await {
            Ok(fetched) => fetched,
            Err(FileStoreError::NotFound) => return Ok(CopyOutcome::Missing),
            Err(error) => {
                return Err(error).with_context(|| format!("reading file {id}"));
            }
        };
        let part = self.dir.join(format!("{id}.part"));
        let copied = match write_part(&mut fetched.body, &part).await {
            Ok(copied) => copied,
            Err(error) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(error).with_context(|| format!("copying file {id}"));
            }
        };
        tokio::fs::rename(&part, &target)
            .await
            .with_context(|| format!("renaming {} to {id}", part.display()))?;
        Ok(CopyOutcome::Copied(copied))
    }

    /// Copies `DIR/<id>` into the store as file `id`, unless the store has it already. A `DIR/<id>`
    /// that is absent, or whose size is not `size`, is missing.
    pub async fn import(&self, id: &str, size: u64) -> anyhow::Result<CopyOutcome> {
        if self
            .store
            .has(id)
            .await
            .with_context(|| format!("looking up file {id}"))?
        {
            return Ok(CopyOutcome::Present);
        }
        let source = self.dir.join(id);
        let mut input = match tokio::fs::File::open(&source).await {
            Ok(input) => input,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CopyOutcome::Missing);
            }
            Err(error) => {
                return Err(error).with_context(|| format!("opening {}", source.display()));
            }
        };
        let length = input
            .metadata()
            .await
            .with_context(|| format!("reading the size of {}", source.display()))?
            .len();
        if length != size {
            return Ok(CopyOutcome::Missing);
        }
        let mut upload = self.store.upload(id).await?;
        let mut buffer = vec![0; READ_BYTES];
        loop {
            let read = match input.read(&mut buffer).await {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) => {
                    upload.abort().await;
                    return Err(error).with_context(|| format!("reading {}", source.display()));
                }
            };
            if let Err(error) = upload.write(&buffer[..read]).await {
                upload.abort().await;
                return Err(error).with_context(|| format!("storing file {id}"));
            }
        }
        upload
            .finish()
            .await
            .with_context(|| format!("storing file {id}"))?;
        Ok(CopyOutcome::Copied(length))
    }
}

/// Writes `body` into the file `part`: the number of bytes.
async fn write_part(
    body: &mut futures_util::stream::BoxStream<'static, Result<bytes::Bytes, object_store::Error>>,
    part: &Path,
) -> anyhow::Result<u64> {
    let mut out = tokio::io::BufWriter::new(
        tokio::fs::File::create(part)
            .await
            .with_context(|| format!("creating {}", part.display()))?,
    );
    let mut copied = 0;
    while let Some(bytes) = body.next().await {
        let bytes = bytes.context("reading from the file store")?;
        out.write_all(&bytes)
            .await
            .with_context(|| format!("writing {}", part.display()))?;
        copied += bytes.len() as u64;
    }
    out.flush()
        .await
        .with_context(|| format!("writing {}", part.display()))?;
    Ok(copied)
}

/// Creates `dir`, where an export's files go, when missing.
pub async fn prepare(dir: &Path) -> anyhow::Result<()> {
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("creating {}", dir.display()))
}
