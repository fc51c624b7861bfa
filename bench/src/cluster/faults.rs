//! The faults, each applied to a running [`Cluster`] and healed again: which nodes each hits directly (the
//! others must serve their clients throughout), how it is made, and how it is undone. Node 1 (`n1`) is the
//! node single-node faults hit; the two-fault run also kills node 2.

use std::time::Duration;

use anyhow::Context;
use sqlx::Connection;
use tokio::time::Instant;

use super::Cluster;

/// One fault of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Node 1 cut from Redis only (silent routes both ways).
    NodeCutFromRedis,
    /// Node 1 cut from PostgreSQL only.
    NodeCutFromPostgres,
    /// Node 1's back link down: cut from Redis, PostgreSQL and the other nodes; its clients stay connected.
    NodeCutFromEverything,
    /// Redis's link down: every node cut from it.
    RedisCut,
    /// Redis killed and started again empty after the fault's time.
    RedisRestartedEmpty,
    /// PostgreSQL stopped (`pg_ctl stop -m fast`) and started again after the fault's time.
    PostgresRestarted,
    /// Node 1 killed with -9 and started again after the fault's time.
    NodeKilled,
    /// Node 1 cut from Redis while node 2 is killed with -9 (and started again).
    NodeCutFromRedisAndAnotherKilled,
    /// Node 1 cut from everything while its transaction holds room 0's lock (a trigger makes the insert of
    /// a marked message sleep; the cut lands inside the sleep).
    NodeCutHoldingALock,
}

impl Fault {
    /// Every fault, in the order of a full run (the lock last: until the store bounds its waits it leaves
    /// the database's lock held for a while after the heal).
    pub const ALL: [Self; 9] = [
        Self::NodeCutFromRedis,
        Self::NodeCutFromPostgres,
        Self::NodeCutFromEverything,
        Self::RedisCut,
        Self::RedisRestartedEmpty,
        Self::PostgresRestarted,
        Self::NodeKilled,
        Self::NodeCutFromRedisAndAnotherKilled,
        Self::NodeCutHoldingALock,
    ];

    /// The short run's three.
    pub const QUICK: [Self; 3] = [
        Self::NodeCutFromRedis,
        Self::PostgresRestarted,
        Self::NodeKilled,
    ];

    /// Its name on the command line and in the table.
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }

    /// Indices of the nodes it hits directly (the others must keep acking meanwhile). A Redis fault hits
    /// no node's acks; PostgreSQL's hits them all.
    pub fn affected(self, nodes: usize) -> Vec<usize> {
        match self {
            Self::NodeCutFromRedis
            | Self::NodeCutFromPostgres
            | Self::NodeCutFromEverything
            | Self::NodeKilled
            | Self::NodeCutHoldingALock => vec![0],
            Self::NodeCutFromRedisAndAnotherKilled => vec![0, 1],
            Self::RedisCut | Self::RedisRestartedEmpty => Vec::new(),
            Self::PostgresRestarted => (0..nodes).collect(),
        }
    }

    /// Makes the fault.
    pub fn apply(self, cluster: &mut Cluster) -> anyhow::Result<()> {
        let net = &cluster.net;
        match self {
            Self::NodeCutFromRedis => {
                net.set_path(&cluster.nodes[0].host, &cluster.redis_host, true)
            }
            Self::NodeCutFromPostgres => {
                net.set_path(&cluster.nodes[0].host, &cluster.pg_host, true)
            }
            Self::NodeCutFromEverything | Self::NodeCutHoldingALock => {
                net.set_link(&cluster.nodes[0].host, false)
            }
            Self::RedisCut => net.set_link(&cluster.redis_host, false),
            Self::RedisRestartedEmpty => {
                cluster.redis.service.kill();
                Ok(())
            }
            Self::PostgresRestarted => cluster.pg.stop_fast(&cluster.pg_bin),
            Self::NodeKilled => {
                cluster.nodes[0].kill();
                Ok(())
            }
            Self::NodeCutFromRedisAndAnotherKilled => {
                net.set_path(&cluster.nodes[0].host, &cluster.redis_host, true)?;
                cluster.nodes[1].kill();
                Ok(())
            }
        }
    }

    /// Undoes the fault.
    pub fn heal(self, cluster: &mut Cluster) -> anyhow::Result<()> {
        let net = &cluster.net;
        match self {
            Self::NodeCutFromRedis => {
                net.set_path(&cluster.nodes[0].host, &cluster.redis_host, false)
            }
            Self::NodeCutFromPostgres => {
                net.set_path(&cluster.nodes[0].host, &cluster.pg_host, false)
            }
            Self::NodeCutFromEverything | Self::NodeCutHoldingALock => {
                net.set_link(&cluster.nodes[0].host, true)
            }
            Self::RedisCut => net.set_link(&cluster.redis_host, true),
            Self::RedisRestartedEmpty => cluster.redis.start_again(),
            Self::PostgresRestarted => cluster.pg.start_again(),
            Self::NodeKilled => cluster.nodes[0].start_again(),
            Self::NodeCutFromRedisAndAnotherKilled => {
                net.set_path(&cluster.nodes[0].host, &cluster.redis_host, false)?;
                cluster.nodes[1].start_again()
            }
        }
    }
}

/// The trigger of the private database: the insert of a message whose text holds the marker sleeps
/// `secs` inside the transaction that holds its room's row lock.
pub async fn install_slow_insert(cluster: &Cluster, secs: f64) -> anyhow::Result<()> {
    let mut db = sqlx::PgConnection::connect_with(&cluster.pg.local_options())
        .await
        .context("connecting to the private PostgreSQL over its Unix socket")?;
    let function = format!(
        "CREATE OR REPLACE FUNCTION cwc_slow_insert() RETURNS trigger AS $$ \
         BEGIN IF position('{marker}' in NEW.body) > 0 THEN PERFORM pg_sleep({secs}); END IF; \
         RETURN NEW; END $$ LANGUAGE plpgsql",
        marker = super::clients::MARKER
    );
    // Both values are ours (the marker constant and a number), not input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(function))
        .execute(&mut db)
        .await?;
    sqlx::query("DROP TRIGGER IF EXISTS cwc_slow_insert ON messages")
        .execute(&mut db)
        .await?;
    sqlx::query(
        "CREATE TRIGGER cwc_slow_insert BEFORE INSERT ON messages \
         FOR EACH ROW EXECUTE FUNCTION cwc_slow_insert()",
    )
    .execute(&mut db)
    .await?;
    Ok(())
}

/// Waits until a backend sleeps in the trigger (the marked insert holds its room's lock now).
pub async fn await_slow_insert(cluster: &Cluster, within: Duration) -> anyhow::Result<()> {
    let mut db = sqlx::PgConnection::connect_with(&cluster.pg.local_options()).await?;
    let deadline = Instant::now() + within;
    loop {
        let sleeping: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'",
        )
        .fetch_one(&mut db)
        .await?;
        if sleeping > 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the marked insert did not start within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
