//! `FileRef`: what a message shows of one attached file (issue 20), as `messages.files` keeps it (a JSON
//! list, fixed when the message is sent), and the links a client follows to it: the file at
//! `/files/{id}/{name}` and, for a large image, its thumbnail at `/files/{id}/thumb/{name}`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize, Serializer};

/// Bytes of a name kept as they are in a link: RFC 3986's unreserved characters.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One attached file, as stored with its message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// The upload's id.
    pub id: String,
    /// Its name, as the uploader's file was called (cleaned: no path, no control characters).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Its media type, from its bytes.
    #[serde(rename = "type")]
    pub media_type: String,
    /// Pixels, for an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixels, for an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A thumbnail is (or is being) made: the image is bigger than one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub thumb: bool,
}

impl FileRef {
    /// The files of a message, from `messages.files` ("" for none; anything unreadable reads as none).
    pub fn list(json: &str) -> Vec<Self> {
        if json.is_empty() {
            return Vec::new();
        }
        serde_json::from_str(json).unwrap_or_default()
    }

    /// `files` as `messages.files` keeps them ("" for none).
    pub fn store(files: &[Self]) -> String {
        if files.is_empty() {
            return String::new();
        }
        serde_json::to_string(files).unwrap_or_default()
    }

    /// Where the file is downloaded.
    pub fn url(&self) -> String {
        format!(
            "/files/{}/{}",
            self.id,
            utf8_percent_encode(&self.name, PATH)
        )
    }

    /// Where its thumbnail is, when it has one.
    pub fn thumb_url(&self) -> Option<String> {
        self.thumb.then(|| {
            format!(
                "/files/{}/thumb/{}",
                self.id,
                utf8_percent_encode(&self.name, PATH)
            )
        })
    }

    /// The line a plain Channels client prints for it after the message's text.
    pub fn plain_line(&self) -> String {
        format!("{} {}", self.name, self.url())
    }
}

/// A file as frames and the API show it: its fields and its links.
#[derive(Debug, Clone, Copy)]
pub struct FileView<'a>(pub &'a FileRef);

impl Serialize for FileView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let file = self.0;
        let mut out = serializer.serialize_struct("File", 8)?;
        out.serialize_field("id", &file.id)?;
        out.serialize_field("name", &file.name)?;
        out.serialize_field("size", &file.size)?;
        out.serialize_field("type", &file.media_type)?;
        out.serialize_field("url", &file.url())?;
        out.serialize_field("thumb_url", &file.thumb_url())?;
        out.serialize_field("width", &file.width)?;
        out.serialize_field("height", &file.height)?;
        out.end()
    }
}

/// A message's files as frames and the API show them: a JSON list of [`FileView`]s.
#[derive(Debug, Clone, Copy)]
pub struct FileViews<'a>(pub &'a [FileRef]);

impl FileViews<'_> {
    /// No files.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for FileViews<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(FileView))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, thumb: bool) -> FileRef {
        FileRef {
            id: "abc".into(),
            name: name.into(),
            size: 3,
            media_type: "image/png".into(),
            width: Some(800),
            height: Some(600),
            thumb,
        }
    }

    #[test]
    fn links_encode_the_name_and_a_thumbnail_only_when_there_is_one() {
        let f = file("my cat #1?.png", true);
        assert_eq!(f.url(), "/files/abc/my%20cat%20%231%3F.png");
        assert_eq!(
            f.thumb_url().as_deref(),
            Some("/files/abc/thumb/my%20cat%20%231%3F.png")
        );
        assert_eq!(file("a.png", false).thumb_url(), None);
    }

    #[test]
    fn the_stored_list_reads_back_and_shows_links() {
        let files = vec![file("a.png", true), file("b.png", false)];
        let stored = FileRef::store(&files);
        assert_eq!(FileRef::list(&stored), files);
        assert_eq!(FileRef::store(&[]), "");
        assert!(FileRef::list("").is_empty());
        assert!(FileRef::list("not json").is_empty());
        let shown = serde_json::to_value(FileViews(&files)).expect("json");
        assert_eq!(shown[0]["url"], "/files/abc/a.png");
        assert_eq!(shown[0]["type"], "image/png");
        assert_eq!(shown[1]["thumb_url"], serde_json::Value::Null);
        assert_eq!(shown[1]["width"], 800);
    }
}
