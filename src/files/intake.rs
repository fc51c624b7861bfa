//! One upload's bytes, from the request to the file store as they arrive: never whole in memory (the
//! first [`HEAD_BYTES`] are held to learn the type and, for an image, its size and orientation; then
//! parts go out as they fill), counted against the limit as they come (the store's upload is aborted
//! past it, so nothing is kept), and, for an image, with its location metadata blanked on the way
//! (`gps.rs`).

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::gps::{Container, ScrubError, Scrubber};
use super::sniff::{self, ImageKind, ImageRefusal};
use super::store::{FileStore, FileStoreError, Upload};

/// Bytes read before the type is decided: a JPEG's metadata segments (64 KiB each at most) and its size.
pub const HEAD_BYTES: usize = 256 * 1024;

/// What was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes stored.
    pub size: u64,
    /// The type, from the bytes.
    pub media_type: &'static str,
    /// For an image shown inline: its kind.
    pub image: Option<ImageKind>,
    /// Pixels across, as shown (after its EXIF orientation).
    pub width: Option<u32>,
    /// Pixels down, as shown.
    pub height: Option<u32>,
    /// Location metadata was removed.
    pub scrubbed: bool,
}

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// More bytes than `limit`.
    #[error("the file is larger than {limit} bytes")]
    TooLarge {
        /// The limit it passed.
        limit: u64,
    },
    /// An image refused.
    #[error(transparent)]
    Image(#[from] ImageRefusal),
    /// An image whose metadata could not be checked.
    #[error(transparent)]
    Scrub(#[from] ScrubError),
    /// The file store failed.
    #[error(transparent)]
    Store(#[from] FileStoreError),
    /// The request's body failed (the client went away, or the multipart was malformed).
    #[error("reading the upload: {0}")]
    Body(String),
}

/// Stores the bytes of `chunks` as file `id`, at most `limit` of them, refusing images over `max_pixels`.
pub async fn receive<S, E>(
    store: &FileStore,
    id: &str,
    mut chunks: S,
    limit: u64,
    max_pixels: u64,
) -> Result<Received, IntakeError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut size: u64 = 0;
    let next = async |chunks: &mut S, size: &mut u64| -> Result<Option<Bytes>, IntakeError> {
        match chunks.next().await {
            None => Ok(None),
            Some(Err(error)) => Err(IntakeError::Body(error.to_string())),
            Some(Ok(chunk)) => {
                *size += chunk.len() as u64;
                if *size > limit {
                    return Err(IntakeError::TooLarge { limit });
                }
                Ok(Some(chunk))
            }
        }
    };
    // The head: enough to decide the type before anything is stored.
    let mut head = Vec::new();
    let mut ended = false;
    while head.len() < HEAD_BYTES {
        match next(&mut chunks, &mut size).await? {
            Some(chunk) => head.extend_from_slice(&chunk),
            None => {
                ended = true;
                break;
            }
        }
    }
    let media_type = sniff::media_type(&head[..head.len().min(HEAD_BYTES)]);
    let image = ImageKind::of(media_type);
    let (mut width, mut height) = match image {
        Some(kind) => {
            let (w, h) = sniff::dimensions(kind, &head, max_pixels)?;
            (Some(w), Some(h))
        }
        None => (None, None),
    };
    let mut scrubber = image.and_then(|kind| match kind {
        ImageKind::Jpeg => Some(Scrubber::new(Container::Jpeg)),
        ImageKind::Png => Some(Scrubber::new(Container::Png)),
        ImageKind::Webp => Some(Scrubber::new(Container::Webp)),
        ImageKind::Gif => None,
    });
    let mut out = Vec::with_capacity(head.len());
    match &mut scrubber {
        Some(scrubber) => scrubber.feed(&head, &mut out)?,
        None => out = head,
    }
    if let Some(orientation) = scrubber.as_ref().and_then(Scrubber::orientation)
        && orientation >= 5
    {
        (width, height) = (height, width);
    }
    let mut upload = store.upload(id).await?;
    let written = async {
        upload.write(&out).await?;
        if !ended {
            while let Some(chunk) = next(&mut chunks, &mut size).await? {
                match &mut scrubber {
                    Some(scrubber) => {
                        out.clear();
                        scrubber.feed(&chunk, &mut out)?;
                        upload.write(&out).await?;
                    }
                    None => upload.write(&chunk).await?,
                }
            }
        }
        Ok::<_, IntakeError>(())
    }
    .await;
    if let Err(error) = written {
        upload.abort().await;
        return Err(error);
    }
    let scrubbed = match scrubber {
        Some(scrubber) => {
            let scrubbed = scrubber.scrubbed();
            out.clear();
            scrubber.finish(&mut out);
            if let Err(error) = upload.write(&out).await {
                upload.abort().await;
                return Err(error.into());
            }
            scrubbed
        }
        None => false,
    };
    finish(upload).await?;
    Ok(Received {
        size,
        media_type,
        image,
        width,
        height,
        scrubbed,
    })
}

async fn finish(upload: Upload) -> Result<(), FileStoreError> {
    upload.finish().await
}
