//! A file's type from its first bytes (magic numbers, through `infer`), never from the uploader's claim
//! or its name, and, for the images shown inline (PNG, JPEG, GIF, WebP), their size in pixels from the
//! header alone: an image too big to decode safely (a decompression bomb: a few KiB that claim billions
//! of pixels) is refused before anything decodes it.

use std::io::Cursor;

use image::{ImageFormat, ImageReader};

/// An image kind browsers show inline; every other type is served as an attachment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF.
    Gif,
    /// WebP.
    Webp,
}

impl ImageKind {
    /// The kind of `media_type`, if it is one shown inline.
    pub fn of(media_type: &str) -> Option<Self> {
        match media_type {
            "image/png" => Some(Self::Png),
            "image/jpeg" => Some(Self::Jpeg),
            "image/gif" => Some(Self::Gif),
            "image/webp" => Some(Self::Webp),
            _ => None,
        }
    }

    /// `image`'s name for it.
    pub fn format(self) -> ImageFormat {
        match self {
            Self::Png => ImageFormat::Png,
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Gif => ImageFormat::Gif,
            Self::Webp => ImageFormat::WebP,
        }
    }
}

/// The media type of a file that begins with `head` (at most its first bytes): what `infer` recognises,
/// else `text/plain` for UTF-8 text, else `application/octet-stream`.
pub fn media_type(head: &[u8]) -> &'static str {
    if let Some(found) = infer::get(head) {
        return found.mime_type();
    }
    match std::str::from_utf8(head) {
        Ok(_) => "text/plain",
        // Text cut inside a character at the end of `head` is still text.
        Err(error) if error.error_len().is_none() && error.valid_up_to() + 4 > head.len() => {
            "text/plain"
        }
        Err(_) => "application/octet-stream",
    }
}

/// Why an image is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefusal {
    /// Its header cannot be read (or its size is not where it should be).
    #[error("this image's header cannot be read")]
    Unreadable,
    /// More pixels than the server decodes.
    #[error("this image has {pixels} pixels, more than the {max} this server accepts")]
    TooLarge {
        /// Its pixels.
        pixels: u64,
        /// The most accepted.
        max: u64,
    },
}

/// The width and height of an image of `kind` that begins with `head`, if it has at most `max_pixels`.
pub fn dimensions(
    kind: ImageKind,
    head: &[u8],
    max_pixels: u64,
) -> Result<(u32, u32), ImageRefusal> {
    let mut reader = ImageReader::new(Cursor::new(head));
    reader.set_format(kind.format());
    let (width, height) = reader
        .into_dimensions()
        .map_err(|_| ImageRefusal::Unreadable)?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels || width == 0 || height == 0 {
        return Err(ImageRefusal::TooLarge {
            pixels,
            max: max_pixels,
        });
    }
    Ok((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of `width` x `height` whose header says so (the rest need not follow for the header read).
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(width.to_be_bytes());
        png.extend(height.to_be_bytes());
        png.extend([8, 2, 0, 0, 0]);
        let crc = crc32fast::hash(&png[12..]);
        png.extend(crc.to_be_bytes());
        // The start of the image data (a decoder reads the header up to it).
        png.extend(b"\0\0\0\x02IDAT\x78\x9c");
        let crc = crc32fast::hash(b"IDAT\x78\x9c");
        png.extend(crc.to_be_bytes());
        png
    }

    #[test]
    fn the_type_comes_from_the_bytes() {
        assert_eq!(media_type(&png_header(1, 1)), "image/png");
        assert_eq!(media_type(b"\xff\xd8\xff\xe0\0\x10JFIF\0"), "image/jpeg");
        assert_eq!(media_type(b"GIF89a\x01\0\x01\0"), "image/gif");
        assert_eq!(media_type(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(media_type("héllo wörld".as_bytes()), "text/plain");
        // Cut inside the last character: still text.
        assert_eq!(media_type(&"héllo é".as_bytes()[..8]), "text/plain");
        assert_eq!(
            media_type(b"\0\x01\x02\xfe\xff\x80"),
            "application/octet-stream"
        );
        // HTML claims nothing: it is text (served as an attachment, never inline).
        assert_ne!(media_type(b"<html><script>alert(1)</script>"), "image/png");
        assert_eq!(ImageKind::of("image/svg+xml"), None);
        assert_eq!(ImageKind::of("text/html"), None);
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        assert_eq!(
            dimensions(ImageKind::Png, &png_header(640, 480), 1_000_000),
            Ok((640, 480))
        );
        assert_eq!(
            dimensions(ImageKind::Png, &png_header(100_000, 100_000), 50_000_000),
            Err(ImageRefusal::TooLarge {
                pixels: 10_000_000_000,
                max: 50_000_000
            })
        );
        assert_eq!(
            dimensions(ImageKind::Png, b"\x89PNG\r\n\x1a\nnonsense", 1_000_000),
            Err(ImageRefusal::Unreadable)
        );
    }
}
