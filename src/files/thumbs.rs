//! Thumbnails, made off the request path: an upload of a large image queues its id here, and one task
//! decodes one image at a time on the blocking pool, with `image`'s [`Limits`] set before decoding (so a
//! file that lies about its size in its header still cannot make the decoder allocate more), turned as
//! its EXIF orientation says, scaled to fit [`THUMB_PX`] square, and stored as JPEG for a JPEG, else as
//! PNG (which keeps transparency): [`thumb_type`]. Until it is made, the thumbnail's URL serves the image itself. The queue is bounded:
//! past it an image keeps no thumbnail (its URL keeps serving the image).

use std::io::Cursor;

use std::sync::Arc;

use bytes::Bytes;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::FileStore;
use super::sniff::ImageKind;
use crate::stats::Stats;
use crate::storage::Db;

/// A thumbnail fits in this many pixels square.
pub const THUMB_PX: u32 = 400;
/// Images waiting for their thumbnail.
const QUEUE: usize = 256;
/// Bytes the decoder may allocate for one image.
const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// One image to make a thumbnail of.
#[derive(Clone, Debug)]
pub struct ThumbJob {
    /// The file.
    pub id: String,
    /// Its kind.
    pub kind: ImageKind,
}

/// Where uploads queue their images.
#[derive(Clone, Debug)]
pub struct Thumbnails {
    queue: mpsc::Sender<ThumbJob>,
}

impl Thumbnails {
    /// The queue and its receiving end, for [`run`].
    pub fn new() -> (Self, mpsc::Receiver<ThumbJob>) {
        let (queue, jobs) = mpsc::channel(QUEUE);
        (Self { queue }, jobs)
    }

    /// Queues `job`; false when the queue is full (the image keeps no thumbnail).
    pub fn queue(&self, job: ThumbJob) -> bool {
        self.queue.try_send(job).is_ok()
    }
}

/// Makes thumbnails as they are queued, until `stop`.
pub async fn run(
    mut jobs: mpsc::Receiver<ThumbJob>,
    files: FileStore,
    db: Db,
    max_pixels: u64,
    stats: Arc<Stats>,
    stop: CancellationToken,
) {
    loop {
        let job = tokio::select! {
            () = stop.cancelled() => return,
            job = jobs.recv() => match job {
                Some(job) => job,
                None => return,
            },
        };
        match make(&files, &job, max_pixels).await {
            Ok(()) => {
                if let Err(error) = db.thumb_made(&job.id).await {
                    tracing::warn!(%error, id = %job.id, "cannot record a thumbnail");
                }
            }
            Err(error) => tracing::warn!(%error, id = %job.id, "no thumbnail"),
        }
        stats.thumbnailed.notify_waiters();
    }
}

/// Why no thumbnail was made.
#[derive(Debug, thiserror::Error)]
pub enum ThumbError {
    /// The file store.
    #[error(transparent)]
    Store(#[from] super::FileStoreError),
    /// The image could not be decoded within the limits.
    #[error("decoding: {0}")]
    Image(#[from] image::ImageError),
    /// The decoding task failed.
    #[error("the decoding task failed")]
    Task,
}

async fn make(files: &FileStore, job: &ThumbJob, max_pixels: u64) -> Result<(), ThumbError> {
    let bytes = files.read(&job.id).await?;
    let kind = job.kind;
    let thumb = tokio::task::spawn_blocking(move || thumbnail(&bytes, kind, max_pixels))
        .await
        .map_err(|_| ThumbError::Task)??;
    files.put_thumb(&job.id, thumb).await?;
    Ok(())
}

/// The thumbnail of an image of `kind`, encoded.
pub fn thumbnail(
    bytes: &[u8],
    kind: ImageKind,
    max_pixels: u64,
) -> Result<Bytes, image::ImageError> {
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(kind.format());
    // A side may be as long as the whole pixel budget allows, no longer; the allocation cap holds
    // whatever the header said.
    let side = u32::try_from(max_pixels).unwrap_or(u32::MAX);
    let mut limits = Limits::default();
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder.orientation()?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(image::ImageError::Limits(
            image::error::LimitError::from_kind(image::error::LimitErrorKind::DimensionError),
        ));
    }
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    let small = image.thumbnail(THUMB_PX, THUMB_PX);
    let mut out = Cursor::new(Vec::new());
    if kind != ImageKind::Jpeg {
        small.write_to(&mut out, ImageFormat::Png)?;
    } else {
        let rgb = DynamicImage::ImageRgb8(small.to_rgb8());
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80);
        rgb.write_with_encoder(encoder)?;
    }
    Ok(Bytes::from(out.into_inner()))
}

/// The media type of the thumbnail of an image of `kind`.
pub fn thumb_type(kind: ImageKind) -> &'static str {
    if kind == ImageKind::Jpeg {
        "image/jpeg"
    } else {
        "image/png"
    }
}

/// Whether an image of this size gets a thumbnail (one already this small is its own).
pub fn wanted(width: u32, height: u32) -> bool {
    width > THUMB_PX || height > THUMB_PX
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let image = if alpha {
            DynamicImage::new_rgba8(width, height)
        } else {
            DynamicImage::new_rgb8(width, height)
        };
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).expect("png");
        out.into_inner()
    }

    #[test]
    fn a_large_image_is_scaled_to_fit_and_keeps_its_shape() {
        let thumb = thumbnail(&png(1200, 600, false), ImageKind::Png, 50_000_000).expect("thumb");
        let made = image::load_from_memory(&thumb).expect("decodes");
        assert_eq!((made.width(), made.height()), (400, 200));
        assert_eq!(
            image::guess_format(&thumb).expect("format"),
            ImageFormat::Png
        );
        let clear = thumbnail(&png(500, 1000, true), ImageKind::Png, 50_000_000).expect("thumb");
        let made = image::load_from_memory(&clear).expect("decodes");
        assert_eq!((made.width(), made.height()), (200, 400));
        let mut jpeg = Cursor::new(Vec::new());
        DynamicImage::new_rgb8(900, 450)
            .write_to(&mut jpeg, ImageFormat::Jpeg)
            .expect("jpeg");
        let thumb = thumbnail(jpeg.get_ref(), ImageKind::Jpeg, 50_000_000).expect("thumb");
        assert_eq!(
            image::guess_format(&thumb).expect("format"),
            ImageFormat::Jpeg
        );
        assert_eq!(thumb_type(ImageKind::Jpeg), "image/jpeg");
        assert!(wanted(401, 10) && !wanted(400, 400));
    }

    #[test]
    fn an_image_over_the_pixel_budget_is_not_decoded() {
        let error = thumbnail(&png(2000, 2000, false), ImageKind::Png, 1_000_000);
        assert!(
            matches!(error, Err(image::ImageError::Limits(_))),
            "{error:?}"
        );
    }
}
