//! Where uploads' bytes live: the flags that say it ([`FileStoreArgs`], shared by `chatweb serve` and the
//! commands that read or write files: `export`, `import`, `backup`) and what they resolve to
//! ([`FilesLocation`]): a directory (`--files-dir`, by default `files` beside the SQLite database) or an
//! S3-compatible bucket (`--files-url`, with the `--s3-*` settings).

use std::path::{Path, PathBuf};

/// The file store's settings, flattened into `Config` and into the archive commands' arguments.
#[derive(Clone, Default, clap::Args)] // no Debug: it holds the S3 secret
pub struct FileStoreArgs {
    /// Directory uploaded files are kept in on this node (created when missing). Unset: `files` beside
    /// the SQLite database, or in the working directory with PostgreSQL. Ignored with `--files-url`.
    #[arg(long, env = "CHATWEB_FILES_DIR")]
    pub files_dir: Option<PathBuf>,

    /// Keep uploaded files in an S3-compatible bucket instead (`s3://bucket/prefix`), shared by every
    /// node; region and keys come from the usual `AWS_*` variables.
    #[arg(long, env = "CHATWEB_FILES_URL")]
    pub files_url: Option<String>,

    /// The S3-compatible service's address when it is not AWS (`http://127.0.0.1:9000`).
    #[arg(long, env = "CHATWEB_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// The bucket's region (else `AWS_REGION`, else `us-east-1`).
    #[arg(long, env = "CHATWEB_S3_REGION")]
    pub s3_region: Option<String>,

    /// The access key id for S3 (else `AWS_ACCESS_KEY_ID`).
    #[arg(long, env = "CHATWEB_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,

    /// The secret access key for S3 (else `AWS_SECRET_ACCESS_KEY`); never logged.
    #[arg(long, env = "CHATWEB_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
}

impl FileStoreArgs {
    /// Where files are kept, for the database at `database_url` (whose directory holds them by default).
    pub fn location(&self, database_url: &str) -> FilesLocation {
        if let Some(url) = &self.files_url {
            return FilesLocation::S3 {
                url: url.clone(),
                endpoint: self.s3_endpoint.clone(),
                region: self.s3_region.clone(),
                keys: self
                    .s3_access_key_id
                    .clone()
                    .zip(self.s3_secret_access_key.clone()),
            };
        }
        let dir = self.files_dir.clone().unwrap_or_else(|| {
            let sqlite = database_url
                .strip_prefix("sqlite://")
                .or_else(|| database_url.strip_prefix("sqlite:"))
                .map(|path| path.split('?').next().unwrap_or_default());
            match sqlite.map(Path::new).and_then(Path::parent) {
                Some(parent) if sqlite != Some(":memory:") => parent.join("files"),
                _ => PathBuf::from("files"),
            }
        });
        FilesLocation::Dir(dir)
    }
}

/// Where files are kept, as configured.
#[derive(Clone)]
pub enum FilesLocation {
    /// A directory of this node.
    Dir(std::path::PathBuf),
    /// An S3-compatible bucket: `s3://bucket/prefix`, at `endpoint` when not AWS itself.
    S3 {
        /// The URL.
        url: String,
        /// The service's address (`http://127.0.0.1:9000`), when not AWS.
        endpoint: Option<String>,
        /// The region, when set (else `AWS_REGION`, else `us-east-1`).
        region: Option<String>,
        /// The access key id and secret, when set (else `AWS_*`).
        keys: Option<(String, String)>,
    },
}

impl std::fmt::Display for FilesLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(dir) => write!(f, "the directory {}", dir.display()),
            Self::S3 {
                url,
                endpoint: Some(endpoint),
                ..
            } => write!(f, "{url} at {endpoint}"),
            Self::S3 { url, .. } => write!(f, "{url}"),
        }
    }
}

/// Never shows the keys.
impl std::fmt::Debug for FilesLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FilesLocation({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_live_beside_a_sqlite_database_unless_told_otherwise() {
        let dir = |location: FilesLocation| match location {
            FilesLocation::Dir(dir) => dir,
            FilesLocation::S3 { url, .. } => panic!("{url}"),
        };
        let none = FileStoreArgs::default();
        assert_eq!(
            dir(none.location("sqlite:///var/lib/chatweb/db.sqlite3?mode=rwc")),
            Path::new("/var/lib/chatweb/files")
        );
        assert_eq!(dir(none.location("postgres://db/chat")), Path::new("files"));
        let set = FileStoreArgs {
            files_dir: Some("/srv/files".into()),
            ..FileStoreArgs::default()
        };
        assert_eq!(
            dir(set.location("sqlite://db.sqlite3")),
            Path::new("/srv/files")
        );
        let s3 = FileStoreArgs {
            files_url: Some("s3://bucket/chat".into()),
            s3_access_key_id: Some("id".into()),
            s3_secret_access_key: Some("secret".into()),
            ..set
        };
        let shown = s3.location("sqlite://db.sqlite3");
        assert_eq!(shown.to_string(), "s3://bucket/chat");
        assert!(!format!("{shown:?}").contains("secret"));
    }
}
