//! The search scenario's own look at the database under test: a PostgreSQL database made for one run and
//! dropped after it (on the server `--database-url` names, loopback only; no other database is touched),
//! how far the indexer is (`search_marks` against `rooms.last_seq`), and how much room the index takes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
// The database's name is made here, of ASCII letters, digits and `_` only.
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Connection};

/// How far the index is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Rooms whose last id is past the index's mark.
    pub rooms_behind: i64,
    /// Sum of the marks.
    pub indexed: i64,
    /// Sum of the rooms' last ids.
    pub last: i64,
}

/// A connection pool to the database under test.
pub enum BenchDb {
    /// A SQLite file (read only).
    Sqlite { pool: SqlitePool, path: PathBuf },
    /// A PostgreSQL database.
    Postgres(PgPool),
}

impl BenchDb {
    /// Opens the SQLite file at `path` read-only.
    pub async fn sqlite(path: &Path) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self::Sqlite {
            pool,
            path: path.to_owned(),
        })
    }

    /// Connects to the PostgreSQL database at `url`.
    pub async fn postgres(url: &str) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .context("connecting to the bench's PostgreSQL database")?;
        Ok(Self::Postgres(pool))
    }

    /// How far the index is.
    pub async fn progress(&self) -> anyhow::Result<Progress> {
        let (rooms_behind, indexed, last): (i64, i64, i64) = match self {
            Self::Sqlite { pool, .. } => sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM rooms r LEFT JOIN search_marks s ON s.room_id = r.id \
                     WHERE r.last_seq > COALESCE(s.indexed, 0)), \
                     (SELECT COALESCE(SUM(indexed), 0) FROM search_marks), \
                     (SELECT COALESCE(SUM(last_seq), 0) FROM rooms)",
            )
            .fetch_one(pool)
            .await?,
            Self::Postgres(pool) => sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM rooms r LEFT JOIN search_marks s ON s.room_id = r.id \
                     WHERE r.last_seq > COALESCE(s.indexed, 0)), \
                     (SELECT COALESCE(SUM(indexed), 0)::bigint FROM search_marks), \
                     (SELECT COALESCE(SUM(last_seq), 0)::bigint FROM rooms)",
            )
            .fetch_one(pool)
            .await?,
        };
        Ok(Progress {
            rooms_behind,
            indexed,
            last,
        })
    }

    /// Documents in the index.
    pub async fn docs(&self) -> anyhow::Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM search_docs";
        Ok(match self {
            Self::Sqlite { pool, .. } => sqlx::query_scalar(SQL).fetch_one(pool).await?,
            Self::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await?,
        })
    }

    /// The size on disk of the database and of the index, in bytes: for SQLite the files and, from
    /// `dbstat`, the search tables (`search_docs` with its index, the FTS5 tables) beside the messages;
    /// for PostgreSQL `pg_total_relation_size` and its parts.
    pub async fn sizes(&self) -> anyhow::Result<Value> {
        match self {
            Self::Sqlite { pool, path } => {
                let mut out = sqlite_files(path);
                let rows: Result<Vec<(String, i64)>, _> =
                    sqlx::query_as("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
                        .fetch_all(pool)
                        .await;
                match rows {
                    Ok(rows) => {
                        let sum = |pred: &dyn Fn(&str) -> bool| -> i64 {
                            rows.iter()
                                .filter(|(name, _)| pred(name))
                                .map(|(_, size)| size)
                                .sum()
                        };
                        let docs = sum(&|n| n == "search_docs" || n == "search_docs_message");
                        let fts = sum(&|n| n.starts_with("search_fts"));
                        let marks = sum(&|n| n.starts_with("search_marks"));
                        out["search_docs_bytes"] = json!(docs);
                        out["search_fts_bytes"] = json!(fts);
                        out["search_total_bytes"] = json!(docs + fts + marks);
                        out["messages_bytes"] = json!(sum(&|n| n == "messages"
                            || n.starts_with("messages_")
                            || n.starts_with("sqlite_autoindex_messages")));
                        out["pages_bytes"] = json!(sum(&|_| true));
                    }
                    Err(error) => out["dbstat"] = json!(format!("unavailable: {error}")),
                }
                Ok(out)
            }
            Self::Postgres(pool) => {
                let row: (i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
                    "SELECT pg_total_relation_size('search_docs'), pg_relation_size('search_docs'), \
                     pg_relation_size('search_docs_trgm'), pg_relation_size('search_docs_message'), \
                     pg_relation_size('search_docs_pkey'), pg_total_relation_size('messages'), \
                     pg_database_size(current_database())",
                )
                .fetch_one(pool)
                .await?;
                Ok(json!({
                    "search_total_bytes": row.0,
                    "search_docs_heap_bytes": row.1,
                    "search_trgm_gin_bytes": row.2,
                    "search_docs_message_bytes": row.3,
                    "search_docs_pkey_bytes": row.4,
                    "messages_bytes": row.5,
                    "database_bytes": row.6,
                }))
            }
        }
    }

    /// PostgreSQL: `ANALYZE` (what autovacuum does after a bulk load, when it is on); returns false on
    /// SQLite (the bench's connection is read-only, and chatweb runs no ANALYZE there).
    pub async fn analyze(&self) -> anyhow::Result<bool> {
        match self {
            Self::Sqlite { .. } => Ok(false),
            Self::Postgres(pool) => {
                sqlx::raw_sql("ANALYZE").execute(pool).await?;
                Ok(true)
            }
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match self {
            Self::Sqlite { pool, .. } => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// The sizes of a SQLite database's files (the main file, its WAL).
pub fn sqlite_files(path: &Path) -> Value {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let (main, wal) = (size(path), size(Path::new(&wal)));
    json!({ "file_bytes": main, "wal_bytes": wal, "files_bytes": main + wal })
}

/// A PostgreSQL database made for one run: created on the server of an admin URL, dropped by
/// [`ScratchDatabase::drop_now`].
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// The URL of the new database.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `chatweb_bench_search_<pid>` on the server `admin_url` points at (loopback only).
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("chatweb_bench_search_{}", std::process::id());
        let url = with_database(admin_url, &name)?;
        let mut admin = PgConnection::connect(admin_url)
            .await
            .context("connecting to --database-url")?;
        // A run killed before its cleanup left this name behind: it is this bench's, so it goes.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating the database {name}"))?;
        admin.close().await?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    /// Drops the database (with any session still in it).
    pub async fn drop_now(self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .with_context(|| format!("dropping the database {}", self.name))?;
        admin.close().await?;
        Ok(())
    }
}

/// `url` (`postgres://user@host:port/db?params`) naming database `name` instead, refused unless the
/// host is a loopback address or `localhost`.
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        bail!("--database-url must be a postgres:// URL");
    };
    let scheme = &url[..url.len() - rest.len()];
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback || query.is_some_and(|q| q.contains("host=")) {
        bail!("--database-url: the bench only uses a PostgreSQL server on a loopback address");
    }
    let mut out = format!("{scheme}{authority}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_database_lives_on_the_same_loopback_server() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x").expect("url"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@localhost/test?sslmode=disable", "x").expect("url"),
            "postgresql://u:p@localhost/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://[::1]:5433", "x").expect("url"),
            "postgres://[::1]:5433/x"
        );
        assert!(with_database("postgres://db.example.com/x", "y").is_err());
        assert!(with_database("postgres://10.0.0.2:5432/x", "y").is_err());
        assert!(with_database("sqlite://x", "y").is_err());
        assert!(with_database("postgres://localhost/x?host=/run/pg", "y").is_err());
    }
}
