//! What the harness watches while a fault runs, every 250 ms: each node's resident memory
//! (`/proc/<pid>/status`), and in the private database (over its Unix socket) the backends waiting on a
//! lock and the longest transaction left idle by its client (`idle in transaction`): a node cut off inside a
//! transaction shows up there as the lock it keeps.

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use tokio::time::Instant;

use super::Cluster;

/// How often it samples.
const EVERY: Duration = Duration::from_millis(250);

/// The largest values seen.
#[derive(Default)]
pub struct Sampler {
    db: Option<PgConnection>,
    /// The largest RSS of any node, in KiB.
    pub max_rss_kb: u64,
    /// The most backends waiting on a lock at once.
    pub max_lock_waiters: i64,
    /// The longest a transaction sat idle with its client gone quiet, in seconds.
    pub max_idle_in_transaction_s: f64,
    /// Samples the database answered.
    db_samples: u64,
}

impl Sampler {
    /// Samples for `span` (at least once).
    pub async fn run_for(&mut self, cluster: &Cluster, span: Duration) {
        let until = Instant::now() + span;
        loop {
            for node in &cluster.nodes {
                self.max_rss_kb = self.max_rss_kb.max(node.service.rss_kb().unwrap_or(0));
            }
            self.sample_db(cluster).await;
            let now = Instant::now();
            if now >= until {
                return;
            }
            tokio::time::sleep((until - now).min(EVERY)).await;
        }
    }

    /// One look at `pg_stat_activity`; nothing while PostgreSQL is away.
    async fn sample_db(&mut self, cluster: &Cluster) {
        if self.db.is_none() {
            let options = cluster.pg.local_options();
            let connect = PgConnection::connect_with(&options);
            self.db = tokio::time::timeout(Duration::from_secs(1), connect)
                .await
                .ok()
                .and_then(Result::ok);
        }
        let Some(db) = self.db.as_mut() else { return };
        let query = sqlx::query_as::<_, (i64, f64)>(
            "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), \
             COALESCE(max(EXTRACT(EPOCH FROM now() - state_change)) \
             FILTER (WHERE state = 'idle in transaction'), 0)::float8 \
             FROM pg_stat_activity",
        )
        .fetch_one(db);
        match tokio::time::timeout(Duration::from_secs(1), query).await {
            Ok(Ok((waiters, idle))) => {
                self.db_samples += 1;
                self.max_lock_waiters = self.max_lock_waiters.max(waiters);
                self.max_idle_in_transaction_s = self.max_idle_in_transaction_s.max(idle);
            }
            _ => self.db = None,
        }
    }

    /// One line for the report.
    pub fn summary(&self) -> String {
        if self.db_samples == 0 {
            return "not reachable".into();
        }
        format!(
            "at most {} backends waiting on a lock, a transaction idle for up to {:.1} s",
            self.max_lock_waiters, self.max_idle_in_transaction_s
        )
    }
}
