//! Location metadata removed from images as they stream in: the GPS fields of their EXIF (the TIFF
//! structure a camera writes into a JPEG's APP1 segment, a PNG's `eXIf` chunk or a WebP's `EXIF`
//! chunk). Everything else goes through byte for byte: the scrubber walks the container's segments,
//! passes image data on as it comes, holds back only an EXIF block (bounded: [`MAX_EXIF_BYTES`]), and
//! in it blanks the GPS directory in place, so no offset moves and the file keeps its size. A PNG
//! chunk's CRC is written again for its new bytes.
//!
//! `image` reads none of this and the EXIF crates rewrite whole files in memory; a walk over segment
//! headers is what a streamed upload needs.

/// Largest EXIF block held back to be scrubbed; an image claiming a bigger one is refused.
pub const MAX_EXIF_BYTES: usize = 1024 * 1024;

/// The TIFF tag of the GPS directory's offset.
const GPS_IFD_TAG: u16 = 0x8825;

/// The containers it understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// JPEG: markers and segments until the scan begins.
    Jpeg,
    /// PNG: chunks with lengths and CRCs.
    Png,
    /// WebP: RIFF chunks.
    Webp,
}

/// Why an image cannot be scrubbed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScrubError {
    /// Its EXIF block is bigger than [`MAX_EXIF_BYTES`].
    #[error("this image's metadata is too large")]
    MetadataTooLarge,
}

/// Where the walk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the container's signature (of this many bytes).
    Signature(usize),
    /// At a segment's header.
    Header,
    /// Inside a segment that goes through as it is: this many bytes more.
    Pass(u64),
    /// Past the metadata: everything else goes through.
    Rest,
}

/// A streaming GPS scrubber for one file.
pub struct Scrubber {
    container: Container,
    state: State,
    /// Bytes received and not yet given out.
    held: Vec<u8>,
    /// Something was blanked.
    scrubbed: bool,
    /// The EXIF orientation (1 to 8), when one was seen.
    orientation: Option<u16>,
}

impl Scrubber {
    /// A scrubber for a file of `container`.
    pub fn new(container: Container) -> Self {
        let signature = match container {
            Container::Jpeg => 2,
            Container::Png => 8,
            Container::Webp => 12,
        };
        Self {
            container,
            state: State::Signature(signature),
            held: Vec::new(),
            scrubbed: false,
            orientation: None,
        }
    }

    /// Whether a GPS directory was blanked so far.
    pub fn scrubbed(&self) -> bool {
        self.scrubbed
    }

    /// The EXIF orientation seen so far (5 to 8 turn the image a quarter: width and height swap).
    pub fn orientation(&self) -> Option<u16> {
        self.orientation
    }

    /// Takes `input`; appends to `out` what may be written now.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), ScrubError> {
        if self.state == State::Rest && self.held.is_empty() {
            out.extend_from_slice(input);
            return Ok(());
        }
        self.held.extend_from_slice(input);
        let mut at = 0;
        loop {
            let available = &self.held[at..];
            match self.state {
                State::Rest => {
                    out.extend_from_slice(available);
                    at = self.held.len();
                    break;
                }
                State::Pass(left) => {
                    let n = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(available.len());
                    out.extend_from_slice(&available[..n]);
                    at += n;
                    let left = left - n as u64;
                    if left > 0 {
                        self.state = State::Pass(left);
                        break;
                    }
                    self.state = State::Header;
                }
                State::Signature(n) => {
                    if available.len() < n {
                        break;
                    }
                    out.extend_from_slice(&available[..n]);
                    at += n;
                    self.state = State::Header;
                }
                State::Header => match self.segment(at)? {
                    Step::More => break,
                    Step::Pass(header, len) => {
                        out.extend_from_slice(&self.held[at..at + header]);
                        at += header;
                        self.state = State::Pass(len);
                    }
                    Step::Exif(total, tiff) => {
                        let segment = &mut self.held[at..at + total];
                        self.orientation = self.orientation.or(orientation(&segment[tiff.clone()]));
                        if scrub_tiff(&mut segment[tiff.clone()]) {
                            self.scrubbed = true;
                            if self.container == Container::Png {
                                // The CRC covers the type and data: the chunk but its length and CRC.
                                let crc = crc32fast::hash(&segment[4..total - 4]);
                                segment[total - 4..].copy_from_slice(&crc.to_be_bytes());
                            }
                        }
                        out.extend_from_slice(&self.held[at..at + total]);
                        at += total;
                    }
                    Step::Rest => self.state = State::Rest,
                },
            }
        }
        self.held.drain(..at);
        Ok(())
    }

    /// The bytes still held (a file that ended inside a header), as they are.
    pub fn finish(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.held);
    }

    /// What the segment at `at` in `held` is.
    fn segment(&self, at: usize) -> Result<Step, ScrubError> {
        let b = &self.held[at..];
        match self.container {
            Container::Jpeg => {
                if b.len() < 2 {
                    return Ok(Step::More);
                }
                if b[0] != 0xFF {
                    return Ok(Step::Rest);
                }
                match b[1] {
                    // Fill byte: one byte goes through.
                    0xFF => Ok(Step::Pass(1, 0)),
                    // Markers without a segment.
                    0x01 | 0xD0..=0xD7 => Ok(Step::Pass(2, 0)),
                    // Start of scan (entropy-coded data follows) or end of image: no metadata past it.
                    0xDA | 0xD9 => Ok(Step::Rest),
                    marker => {
                        if b.len() < 4 {
                            return Ok(Step::More);
                        }
                        let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
                        if marker == 0xE1 && len >= 8 {
                            let total = 2 + len;
                            if b.len() < total {
                                // At most 64 KiB: a JPEG segment's length is 16 bits.
                                return Ok(Step::More);
                            }
                            if &b[4..10] == b"Exif\0\0" {
                                return Ok(Step::Exif(total, 10..total));
                            }
                        }
                        Ok(Step::Pass(4, len.saturating_sub(2) as u64))
                    }
                }
            }
            Container::Png => {
                if b.len() < 8 {
                    return Ok(Step::More);
                }
                let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
                match &b[4..8] {
                    b"eXIf" => {
                        let total = 12 + len;
                        if len > MAX_EXIF_BYTES {
                            return Err(ScrubError::MetadataTooLarge);
                        }
                        if b.len() < total {
                            return Ok(Step::More);
                        }
                        Ok(Step::Exif(total, 8..8 + len))
                    }
                    b"IEND" => Ok(Step::Rest),
                    _ => Ok(Step::Pass(8, len as u64 + 4)),
                }
            }
            Container::Webp => {
                if b.len() < 8 {
                    return Ok(Step::More);
                }
                let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
                let padded = len + (len & 1);
                if &b[0..4] == b"EXIF" {
                    if len > MAX_EXIF_BYTES {
                        return Err(ScrubError::MetadataTooLarge);
                    }
                    let total = 8 + padded;
                    if b.len() < total {
                        return Ok(Step::More);
                    }
                    // Some writers put JPEG's "Exif\0\0" before the TIFF header.
                    let start = if b[8..].starts_with(b"Exif\0\0") {
                        14
                    } else {
                        8
                    };
                    return Ok(Step::Exif(total, start.min(8 + len)..8 + len));
                }
                Ok(Step::Pass(8, padded as u64))
            }
        }
    }
}

/// What a segment header says.
enum Step {
    /// Not enough bytes yet.
    More,
    /// A header of this many bytes, then this many bytes that go through.
    Pass(usize, u64),
    /// An EXIF segment of this many bytes in all, its TIFF structure at this range of it.
    Exif(usize, std::ops::Range<usize>),
    /// No metadata follows.
    Rest,
}

/// Reads `u16`s and `u32`s of a TIFF structure in its byte order.
#[derive(Clone, Copy)]
struct Order {
    little: bool,
}

impl Order {
    fn of(tiff: &[u8]) -> Option<Self> {
        match tiff.get(0..4) {
            Some(b"II*\0") => Some(Self { little: true }),
            Some(b"MM\0*") => Some(Self { little: false }),
            _ => None,
        }
    }

    fn u16_at(self, t: &[u8], at: usize) -> Option<u16> {
        let b: [u8; 2] = t.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32_at(self, t: &[u8], at: usize) -> Option<usize> {
        let b: [u8; 4] = t.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        } as usize)
    }

    /// The value field's offset of IFD0's entry for `tag`.
    fn ifd0_entry(self, t: &[u8], tag: u16) -> Option<usize> {
        let ifd0 = self.u32_at(t, 4)?;
        let entries = self.u16_at(t, ifd0)?;
        (0..usize::from(entries)).find_map(|i| {
            let entry = ifd0 + 2 + 12 * i;
            (self.u16_at(t, entry)? == tag).then_some(entry + 8)
        })
    }
}

/// The orientation tag of IFD0 of the TIFF structure `tiff` (1 to 8), if it has one.
pub fn orientation(tiff: &[u8]) -> Option<u16> {
    let order = Order::of(tiff)?;
    let value = order.ifd0_entry(tiff, 0x0112)?;
    order.u16_at(tiff, value).filter(|o| (1..=8).contains(o))
}

/// Blanks the GPS directory of the TIFF structure `tiff` in place: its entries and the values they point
/// to are zeroed and it is left with no entries. True when there was one. A malformed structure is left
/// as far as it could be read.
pub fn scrub_tiff(tiff: &mut [u8]) -> bool {
    let Some(order) = Order::of(tiff) else {
        return false;
    };
    let u16_at = |t: &[u8], at| order.u16_at(t, at);
    let u32_at = |t: &[u8], at| order.u32_at(t, at);
    let Some(gps) = order
        .ifd0_entry(tiff, GPS_IFD_TAG)
        .and_then(|value| u32_at(tiff, value))
    else {
        return false;
    };
    let Some(count) = u16_at(tiff, gps) else {
        return false;
    };
    for i in 0..usize::from(count) {
        let entry = gps + 2 + 12 * i;
        let (Some(kind), Some(n)) = (u16_at(tiff, entry + 2), u32_at(tiff, entry + 4)) else {
            break;
        };
        let unit = match kind {
            1 | 2 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 11 => 4,
            5 | 10 | 12 => 8,
            _ => 0,
        };
        let size = unit * n;
        if size > 4
            && let Some(at) = u32_at(tiff, entry + 8)
            && let Some(value) = tiff.get_mut(at..at.saturating_add(size))
        {
            value.fill(0);
        }
        if let Some(whole) = tiff.get_mut(entry..entry + 12) {
            whole.fill(0);
        }
    }
    if let Some(n) = tiff.get_mut(gps..gps + 2) {
        n.fill(0);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian TIFF structure: IFD0 with an orientation entry and the GPS pointer; the GPS
    /// directory with a latitude (three rationals, out of line) and its reference letter (in line).
    pub(crate) fn exif_with_gps() -> Vec<u8> {
        let mut t = b"II*\0".to_vec();
        t.extend(8u32.to_le_bytes()); // IFD0 at 8
        t.extend(2u16.to_le_bytes());
        t.extend([0x12, 0x01, 3, 0]); // Orientation, SHORT
        t.extend(1u32.to_le_bytes());
        t.extend([6, 0, 0, 0]);
        t.extend([0x25, 0x88, 4, 0]); // GPS IFD pointer, LONG
        t.extend(1u32.to_le_bytes());
        t.extend(38u32.to_le_bytes()); // GPS IFD at 38
        t.extend(0u32.to_le_bytes()); // no next IFD
        assert_eq!(t.len(), 38);
        t.extend(2u16.to_le_bytes());
        t.extend([1, 0, 2, 0]); // GPSLatitudeRef, ASCII
        t.extend(2u32.to_le_bytes());
        t.extend(*b"N\0\0\0");
        t.extend([2, 0, 5, 0]); // GPSLatitude, RATIONAL x3
        t.extend(3u32.to_le_bytes());
        t.extend(68u32.to_le_bytes());
        t.extend(0u32.to_le_bytes());
        assert_eq!(t.len(), 68);
        for (n, d) in [(52u32, 1u32), (31, 1), (4711, 100)] {
            t.extend(n.to_le_bytes());
            t.extend(d.to_le_bytes());
        }
        t
    }

    fn run(container: Container, file: &[u8], chunk: usize) -> (Vec<u8>, bool) {
        let mut scrubber = Scrubber::new(container);
        let mut out = Vec::new();
        for piece in file.chunks(chunk) {
            scrubber.feed(piece, &mut out).expect("scrub");
        }
        let scrubbed = scrubber.scrubbed();
        scrubber.finish(&mut out);
        (out, scrubbed)
    }

    /// A JPEG: SOI, an APP1 EXIF segment, then whatever `rest` holds.
    pub(crate) fn jpeg_with_gps(rest: &[u8]) -> Vec<u8> {
        let tiff = exif_with_gps();
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
        jpeg.extend(
            u16::try_from(2 + 6 + tiff.len())
                .expect("len")
                .to_be_bytes(),
        );
        jpeg.extend(b"Exif\0\0");
        jpeg.extend(&tiff);
        jpeg.extend(rest);
        jpeg
    }

    #[test]
    fn the_gps_directory_is_blanked_and_nothing_else_changes() {
        let mut tiff = exif_with_gps();
        let before = tiff.clone();
        assert!(scrub_tiff(&mut tiff));
        assert_eq!(tiff.len(), before.len());
        // IFD0 (with the orientation) is untouched; the GPS directory and its values are zeros.
        assert_eq!(tiff[..38], before[..38]);
        assert_eq!(orientation(&tiff), Some(6));
        assert!(tiff[38..].iter().all(|&b| b == 0), "{:?}", &tiff[38..]);
        // No GPS directory: nothing to do.
        let mut plain = before[..8].to_vec();
        plain.extend(0u16.to_le_bytes());
        assert!(!scrub_tiff(&mut plain));
        // Malformed: offsets past the end are left alone, never a panic.
        let mut broken = before[..30].to_vec();
        scrub_tiff(&mut broken);
        assert!(!scrub_tiff(&mut b"MM\0*\xff\xff\xff\xff".to_vec()));
    }

    #[test]
    fn a_jpeg_is_scrubbed_in_any_chunking_and_its_scan_passes_unchanged() {
        let scan = [0xFF, 0xDA, 0, 4, 1, 2, 0xAB, 0xCD, 0xFF, 0xD9];
        let file = jpeg_with_gps(&scan);
        for chunk in [1, 3, 7, 64, 4096] {
            let (out, scrubbed) = run(Container::Jpeg, &file, chunk);
            assert!(scrubbed, "chunk {chunk}");
            assert_eq!(out.len(), file.len());
            assert!(!out.windows(4).any(|w| w == 4711u32.to_le_bytes()));
            assert_eq!(out[out.len() - scan.len()..], scan);
            // The orientation stays.
            assert_eq!(out[..30], file[..30]);
        }
        // A JPEG without EXIF goes through unchanged.
        let plain = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 1, 2, 0xFF, 0xDA, 0, 2, 9, 9];
        assert_eq!(run(Container::Jpeg, &plain, 3), (plain.to_vec(), false));
    }

    #[test]
    fn png_and_webp_exif_chunks_are_scrubbed_with_a_new_crc() {
        let tiff = exif_with_gps();
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(u32::try_from(tiff.len()).expect("len").to_be_bytes());
        png.extend(b"eXIf");
        png.extend(&tiff);
        png.extend(crc32fast::hash(&png[12..]).to_be_bytes());
        png.extend([0, 0, 0, 0]);
        png.extend(b"IEND");
        png.extend(crc32fast::hash(b"IEND").to_be_bytes());
        let (out, scrubbed) = run(Container::Png, &png, 5);
        assert!(scrubbed);
        let data_end = 8 + 8 + tiff.len();
        assert!(!out.windows(4).any(|w| w == 4711u32.to_le_bytes()));
        let crc = u32::from_be_bytes(out[data_end..data_end + 4].try_into().expect("crc"));
        assert_eq!(crc, crc32fast::hash(&out[12..data_end]));

        let mut webp = b"RIFF\0\0\0\0WEBP".to_vec();
        webp.extend(b"VP8X");
        webp.extend(10u32.to_le_bytes());
        webp.extend([8, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        webp.extend(b"EXIF");
        webp.extend(u32::try_from(tiff.len()).expect("len").to_le_bytes());
        webp.extend(&tiff);
        let (out, scrubbed) = run(Container::Webp, &webp, 2);
        assert!(scrubbed);
        assert_eq!(out.len(), webp.len());
        assert!(!out.windows(4).any(|w| w == 4711u32.to_le_bytes()));
    }

    #[test]
    fn an_oversized_exif_chunk_is_refused() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(u32::MAX.to_be_bytes());
        png.extend(b"eXIf");
        let mut scrubber = Scrubber::new(Container::Png);
        assert_eq!(
            scrubber.feed(&png, &mut Vec::new()),
            Err(ScrubError::MetadataTooLarge)
        );
    }
}
