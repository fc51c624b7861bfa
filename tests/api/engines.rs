//! One scenario on both database engines: [`Database`] is a test's own database (a SQLite file, or a fresh
//! PostgreSQL database), and `on_both_engines!` turns one `async fn(&Database)` into a SQLite test and a
//! PostgreSQL test (skipped, with a note, when `CHATWEB_TEST_DATABASE_URL` is unset, except on CI).

use crate::helpers::{TempDir, TestDatabase};

/// A test's own database: a SQLite file, or a fresh PostgreSQL database.
pub enum Database {
    Sqlite(TempDir),
    Postgres(TestDatabase),
}

impl Database {
    /// A new SQLite file.
    pub fn sqlite() -> Self {
        Self::Sqlite(TempDir::new())
    }

    /// Its URL.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => dir.sqlite_url(),
            Self::Postgres(db) => db.url.clone(),
        }
    }

    /// Drops a PostgreSQL database (the SQLite file goes with its directory).
    pub async fn done(self) {
        if let Self::Postgres(db) = self {
            db.drop_database().await;
        }
    }
}

/// Runs `$scenario` on a SQLite file as `$sqlite` and on PostgreSQL as `$postgres` (skipped, with a
/// note, when `CHATWEB_TEST_DATABASE_URL` is unset, except on CI).
macro_rules! on_both_engines {
    ($scenario:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let db = $crate::engines::Database::sqlite();
            $scenario(&db).await;
            db.done().await;
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(db) = $crate::helpers::TestDatabase::create(stringify!($postgres)).await
            else {
                return;
            };
            let db = $crate::engines::Database::Postgres(db);
            $scenario(&db).await;
            db.done().await;
        }
    };
}

pub(crate) use on_both_engines;
