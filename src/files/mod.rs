//! Files and images in messages (issue 20; docs/PROTOCOL.md, "Files"). An upload
//! (`POST /api/rooms/{room}/files`, in `api/files.rs`) streams through [`intake`] into the [`FileStore`]
//! (a directory, or S3 for several nodes) and becomes a row (`storage/files.rs`); a send attaches it;
//! [`download`] serves it to whoever may read its room. Thumbnails are made off the request path
//! ([`thumbs`]), location metadata is removed on the way in ([`gps`]), and the [`janitor`] removes the
//! bytes of files whose messages are gone and of uploads never attached.

pub mod download;
mod gps;
pub mod intake;
pub mod janitor;
mod location;
mod sniff;
mod store;
pub mod thumbs;

pub use location::{FileStoreArgs, FilesLocation};
pub use sniff::{ImageKind, ImageRefusal};
pub use store::{FileStore, FileStoreError};
pub use thumbs::{ThumbJob, Thumbnails};

/// The download routes (the upload is an API route: `api/files.rs`).
pub fn router() -> axum::Router<crate::state::AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/files/{id}/{name}", get(download::file))
        .route("/files/{id}/thumb/{name}", get(download::thumb))
}

/// The limits of uploads, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct FileSettings {
    /// Largest file, in bytes.
    pub max_upload_bytes: u64,
    /// Bytes one person may upload in 24 hours.
    pub quota_bytes: u64,
    /// Guests may upload.
    pub guest_uploads: bool,
    /// Most pixels of an image.
    pub max_image_pixels: u64,
    /// How long an upload may wait to be attached.
    pub upload_expiry: std::time::Duration,
    /// How often the janitor runs.
    pub sweep: std::time::Duration,
}

/// Files on this node: where they are kept, the thumbnail queue, the limits; cheap to clone.
#[derive(Clone, Debug)]
pub struct Files {
    /// The bytes.
    pub store: FileStore,
    /// Images waiting for a thumbnail.
    pub thumbs: Thumbnails,
    /// The limits.
    pub settings: FileSettings,
}

/// Files a message may attach.
pub const MAX_FILES_PER_MESSAGE: usize = 10;

/// A new file's id: 128 random bits, as 32 hex digits (also its key in the file store).
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    // The OS's generator failing is not something a server can carry on from.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the OS random number generator");
    hex::encode(bytes)
}

/// Whether `id` could be a file's id (so junk never reaches the database).
pub fn is_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// A file's name as shown and served: its last path component, without control characters or
/// surrounding spaces, at most 200 characters (keeping its extension); `file` when nothing is left.
pub fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        return "file".to_owned();
    }
    let chars: Vec<char> = cleaned.chars().collect();
    if chars.len() <= 200 {
        return cleaned.to_owned();
    }
    // Keep a short extension; cut the stem.
    let extension = cleaned
        .rsplit_once('.')
        .map(|(_, ext)| ext)
        .filter(|ext| ext.chars().count() <= 10)
        .unwrap_or("");
    let keep = 200 - extension.chars().count() - usize::from(!extension.is_empty());
    let stem: String = chars[..keep].iter().collect();
    if extension.is_empty() {
        stem
    } else {
        format!("{stem}.{extension}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_and_control_characters_and_keep_their_extension() {
        assert_eq!(clean_name("C:\\Users\\ada\\cat.png"), "cat.png");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("a\u{0}b\nc.txt"), "a b c.txt");
        assert_eq!(clean_name(" .. "), "file");
        assert_eq!(clean_name(".bashrc"), "bashrc");
        let long = format!("{}.jpeg", "x".repeat(300));
        let short = clean_name(&long);
        assert_eq!(short.chars().count(), 200);
        assert!(short.ends_with("x.jpeg"));
        assert!(is_id(&new_id()));
        assert!(!is_id("../../x") && !is_id(&"A".repeat(32)));
    }
}
