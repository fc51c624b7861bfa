//! Which deployment a Redis payload belongs to. Two chats that share one Redis and one channel prefix
//! (a staging and a production left on the default prefix) must never deliver each other's events, so
//! every payload names its cluster and a node ignores any other.
//!
//! The id is `--cluster-id` when given, or else derived from the database's identity, which every node of
//! one deployment shares and two deployments do not: the moment its schema was created (the first
//! migration's `installed_on`) and its name (PostgreSQL: the database; SQLite: the file). Hashed, so a
//! payload does not reveal either.

use sha2::{Digest, Sha256};

use crate::storage::Db;

/// Longest accepted `--cluster-id`.
const MAX_LEN: usize = 64;

/// A deployment's name in Redis payloads: 1 to 64 characters of ASCII letters, digits, `-`, `_`, `.`, `:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterId(String);

impl ClusterId {
    /// A configured id, refused with the reason when it cannot travel in a payload.
    pub fn parse(id: &str) -> Result<Self, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        if id.is_empty() || id.len() > MAX_LEN || !id.chars().all(allowed) {
            return Err(format!(
                "--cluster-id must be 1 to {MAX_LEN} ASCII letters, digits, '-', '_', '.' or ':'"
            ));
        }
        Ok(Self(id.to_owned()))
    }

    /// The id of the deployment whose database has `identity` (see [`database_identity`]).
    pub fn derived(identity: &str) -> Self {
        let digest = Sha256::digest(identity.as_bytes());
        Self(format!("db-{}", hex::encode(&digest[..8])))
    }

    /// The id as it travels.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What identifies the database every node of a deployment shares: when its schema was created and its
/// name. An error when the store cannot say (the caller then asks for `--cluster-id`).
pub async fn database_identity(db: &Db) -> Result<String, sqlx::Error> {
    match db {
        Db::Sqlite(pool) => {
            let (created, file): (String, String) = sqlx::query_as(
                "SELECT CAST(m.installed_on AS TEXT), d.file \
                 FROM _sqlx_migrations m, pragma_database_list d \
                 WHERE m.version = 1 AND d.name = 'main'",
            )
            .fetch_one(pool)
            .await?;
            Ok(format!("sqlite {created} {file}"))
        }
        Db::Postgres(pool) => {
            let (created, name): (String, String) = sqlx::query_as(
                "SELECT CAST(EXTRACT(EPOCH FROM installed_on) AS TEXT), current_database() \
                 FROM _sqlx_migrations WHERE version = 1",
            )
            .fetch_one(pool)
            .await?;
            Ok(format!("postgres {created} {name}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_and_derived_ones_are_stable() {
        assert!(ClusterId::parse("prod-eu.1:blue").is_ok());
        for bad in ["", "two words", "é", &"x".repeat(65)] {
            assert!(ClusterId::parse(bad).is_err(), "{bad:?}");
        }
        let a = ClusterId::derived("postgres 1764590400.123 chat");
        assert_eq!(a, ClusterId::derived("postgres 1764590400.123 chat"));
        assert_ne!(a, ClusterId::derived("postgres 1764590400.124 chat"));
        assert!(ClusterId::parse(a.as_str()).is_ok());
    }
}
