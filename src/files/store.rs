//! `FileStore`: where uploads' bytes live, through `object_store`: a directory on this node by default
//! (`--files-dir`), or an S3-compatible bucket every node shares (`--files-url s3://bucket/prefix`, with
//! `--s3-endpoint` and the usual `AWS_*` variables for region and keys). A file is `f/<id>`, its
//! thumbnail `t/<id>`; both are written once and never changed, so the id is their ETag.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use super::FilesLocation;

/// Bytes per part of a multipart upload (S3's least part size is 5 MiB).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Why the file store failed.
#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    /// No such object.
    #[error("no such file in the file store")]
    NotFound,
    /// A range past the end of the object.
    #[error("the range is not within the file")]
    Range,
    /// The store could not be reached or refused.
    #[error("file store: {0}")]
    Store(#[from] object_store::Error),
    /// The configuration names no usable store.
    #[error("file store settings: {0}")]
    Settings(String),
}

impl FileStoreError {
    fn from_get(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => Self::NotFound,
            other if other.to_string().contains("range") => Self::Range,
            other => Self::Store(other),
        }
    }
}

/// An object's bytes, as a stream, with the range they cover and the object's whole size.
pub struct Fetched {
    /// The bytes.
    pub body: BoxStream<'static, Result<Bytes, object_store::Error>>,
    /// Which bytes of the object.
    pub range: Range<u64>,
    /// The object's size.
    pub size: u64,
}

/// The store of uploads' bytes; cheap to clone.
#[derive(Clone, Debug)]
pub struct FileStore {
    inner: Arc<dyn ObjectStore>,
    location: FilesLocation,
}

/// A file being written: parts go out as they fill; nothing is visible until [`Upload::finish`].
pub struct Upload {
    write: WriteMultipart,
}

impl Upload {
    /// Adds bytes, waiting while too many parts are in flight (so memory stays about
    /// `PARTS_IN_FLIGHT` parts, whatever the file's size).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), FileStoreError> {
        self.write.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        self.write.write(bytes);
        Ok(())
    }

    /// Makes the file visible.
    pub async fn finish(self) -> Result<(), FileStoreError> {
        self.write.finish().await?;
        Ok(())
    }

    /// Drops what was written.
    pub async fn abort(self) {
        if let Err(error) = self.write.abort().await {
            tracing::warn!(%error, "could not abort an upload to the file store");
        }
    }
}

impl FileStore {
    /// Opens `location` (a directory is created when missing).
    pub fn open(location: FilesLocation) -> Result<Self, FileStoreError> {
        let inner: Arc<dyn ObjectStore> = match &location {
            FilesLocation::Dir(dir) => {
                std::fs::create_dir_all(dir).map_err(|error| {
                    FileStoreError::Settings(format!("cannot create {}: {error}", dir.display()))
                })?;
                Arc::new(LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true))
            }
            FilesLocation::S3 {
                url,
                endpoint,
                region,
                keys,
            } => {
                let rest = url.strip_prefix("s3://").ok_or_else(|| {
                    FileStoreError::Settings(format!("{url} is not an s3:// URL"))
                })?;
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(FileStoreError::Settings(format!("{url} names no bucket")));
                }
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(region) = region {
                    builder = builder.with_region(region);
                }
                if let Some((id, secret)) = keys {
                    builder = builder
                        .with_access_key_id(id)
                        .with_secret_access_key(secret);
                }
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                let s3 = builder.build()?;
                let prefix = prefix.trim_matches('/');
                if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix))
                }
            }
        };
        Ok(Self { inner, location })
    }

    /// Where it keeps files.
    pub fn location(&self) -> &FilesLocation {
        &self.location
    }

    fn file(id: &str) -> Path {
        Path::from(format!("f/{id}"))
    }

    fn thumb(id: &str) -> Path {
        Path::from(format!("t/{id}"))
    }

    /// Starts writing file `id`.
    pub async fn upload(&self, id: &str) -> Result<Upload, FileStoreError> {
        let upload = self.inner.put_multipart(&Self::file(id)).await?;
        Ok(Upload {
            write: WriteMultipart::new_with_chunk_size(upload, PART_BYTES),
        })
    }

    /// Writes file `id` whole (imports: the bytes come from a file of the export).
    pub async fn put(&self, id: &str, bytes: Bytes) -> Result<(), FileStoreError> {
        self.inner
            .put(&Self::file(id), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// Writes the thumbnail of `id`.
    pub async fn put_thumb(&self, id: &str, bytes: Bytes) -> Result<(), FileStoreError> {
        self.inner
            .put(&Self::thumb(id), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// Whether file `id` is stored (imports: bytes already there are not copied again).
    pub async fn has(&self, id: &str) -> Result<bool, FileStoreError> {
        match self.inner.head(&Self::file(id)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// File `id` whole, in memory (thumbnails: their size is bounded by the upload limit).
    pub async fn read(&self, id: &str) -> Result<Bytes, FileStoreError> {
        let got = self
            .inner
            .get(&Self::file(id))
            .await
            .map_err(FileStoreError::from_get)?;
        Ok(got.bytes().await?)
    }

    /// File `id` (or its thumbnail), or the bytes of `range` of it.
    pub async fn fetch(
        &self,
        id: &str,
        thumb: bool,
        range: Option<GetRange>,
    ) -> Result<Fetched, FileStoreError> {
        let path = if thumb {
            Self::thumb(id)
        } else {
            Self::file(id)
        };
        let options = GetOptions {
            range,
            ..GetOptions::default()
        };
        let got = self
            .inner
            .get_opts(&path, options)
            .await
            .map_err(FileStoreError::from_get)?;
        let (range, size) = (got.range.clone(), got.meta.size);
        Ok(Fetched {
            body: got.into_stream(),
            range,
            size,
        })
    }

    /// Removes file `id` and its thumbnail (absent ones are not an error).
    pub async fn remove(&self, id: &str, thumb: bool) -> Result<(), FileStoreError> {
        let mut paths = vec![Self::file(id)];
        if thumb {
            paths.push(Self::thumb(id));
        }
        for path in paths {
            match self.inner.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }
}
