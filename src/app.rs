//! Assembling a node: [`App::build`] connects to the store, starts the writer, binds the socket;
//! [`App::run_until_stopped`] serves until a stop signal, then shuts down in order: stop accepting, close
//! every socket with 1001 after answering its pending sends, store what was queued, close the database, all
//! within `--shutdown-secs` (what is still open at that bound is dropped). The accept loop is `serve`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accounts::Accounts;
use crate::channels::{
    ChannelLayer, ClusterId, MemoryLayer, RedisLayer, RedisSettings, database_identity,
};
use crate::config::Config;
use crate::limits::Limits;
use crate::presence::Presence;
use crate::redaction::redacted;
use crate::state::AppState;
use crate::stats::Stats;
use crate::storage::{RecentCache, Store, StoreWriter, WriterOptions};
use crate::ws::{Fanout, StoreHeads};

mod serve;

/// Messages that may wait for the store writer before senders wait.
const WRITE_QUEUE: usize = 16_384;

/// A node that is bound but not serving yet.
pub struct App {
    state: AppState,
    listener: TcpListener,
    writer: StoreWriter,
    layer_stop: CancellationToken,
}

impl App {
    /// Connects to the store (creating and migrating it), starts the writer and binds the socket.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let backend = Store::connect_with(&config.database_url, &config.store_settings())
            .await
            .with_context(|| format!("opening the database {}", redacted(&config.database_url)))?;
        let stats = Arc::new(Stats::default());
        let limits = Arc::new(Limits::new(&config.limits, &stats)?);
        let shutdown = CancellationToken::new();
        // The layer outlives the sockets: what the writer commits while stopping still reaches other nodes.
        let layer_stop = CancellationToken::new();
        // Other nodes' presence news, from the layer to the presence task.
        let (news, news_rx) = tokio::sync::mpsc::channel(4096);
        let channels: Arc<dyn ChannelLayer> = match &config.redis_url {
            None => Arc::new(MemoryLayer::bounded(
                config.room_buffer,
                config.room_buffer_bytes,
            )),
            Some(url) => Arc::new(RedisLayer::start(
                redis_settings(&config, url, &backend).await?,
                Arc::new(StoreHeads::new(backend.clone())),
                news,
                stats.clone(),
                layer_stop.clone(),
            )?),
        };
        // Only a node whose writer is the database's only writer (no Redis: one node) may cache.
        let cache = (config.redis_url.is_none() && config.cache_bytes > 0).then(|| {
            Arc::new(RecentCache::new(
                config.history as usize,
                config.cache_bytes,
                stats.clone(),
            ))
        });
        let (store, writer) = StoreWriter::spawn(
            backend,
            Arc::new(Fanout::new(channels.clone())),
            WriterOptions {
                stats: stats.clone(),
                queue: WRITE_QUEUE,
                max_batch: config.write_batch,
                cache,
                read_concurrency: config.catch_up_reads,
            },
        );
        let address = (
            config.bind.trim_start_matches('[').trim_end_matches(']'),
            config.port,
        );
        let listener = bind(address)
            .await
            .with_context(|| format!("binding {}:{}", config.bind, config.port))?;
        let accounts = Accounts::new(store.db(), config.account_settings());
        tokio::spawn(crate::accounts::revocation::watch_log(
            store.db(),
            accounts.revocations(),
            layer_stop.clone(),
        ));
        // Every room's mutes, bans and slow mode in memory before the first handshake; then the log.
        let (moderation, logged) = crate::moderation::Moderation::load(store.db())
            .await
            .context("reading the moderation of the rooms")?;
        tokio::spawn(crate::moderation::watch_log(
            moderation.clone(),
            logged,
            layer_stop.clone(),
        ));
        let presence = Arc::new(Presence::new(channels.clone(), config.presence_settings()));
        // Stops with the sockets, while the layer still carries its last news to the other nodes.
        tokio::spawn(crate::presence::run(
            presence.clone(),
            news_rx,
            shutdown.clone(),
        ));
        // Idle limit keys are forgotten and metric samples folded every few seconds.
        tokio::spawn(crate::limits::housekeeping(
            limits.clone(),
            stats.clone(),
            layer_stop.clone(),
        ));
        let state = AppState {
            accounts,
            origin_hosts: config.origin_hosts().into(),
            config: Arc::new(config),
            access: crate::access::Access::new(store.clone(), moderation.clone()),
            store,
            channels,
            presence,
            templates: Arc::new(crate::templates::environment()),
            stats,
            limits,
            moderation,
            shutdown,
            tracker: TaskTracker::new(),
        };
        Ok(Self {
            state,
            listener,
            writer,
            layer_stop,
        })
    }

    /// The address the node listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has a local address.
        #[allow(clippy::expect_used)]
        self.listener.local_addr().expect("listener is bound")
    }

    /// The token that stops this node when cancelled (what a signal does in `main`).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// The node's counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.state.stats.clone()
    }

    /// Serves until `stop` completes or the shutdown token is cancelled, then stops gracefully within the
    /// configured bound.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            state,
            listener,
            writer,
            layer_stop,
        } = self;
        let token = state.shutdown.clone();
        tokio::spawn({
            let token = token.clone();
            async move {
                tokio::select! {
                    () = stop => token.cancel(),
                    () = token.cancelled() => {}
                }
            }
        });
        // Retention: a run now, then one per interval; it stops with the sockets, before the writer closes.
        tokio::spawn(crate::retention::run(
            state.store.clone(),
            state.config.retention_settings(),
            state.stats.clone(),
            token.clone(),
        ));
        // Read marks reach the database about once a second, and once more when stopping.
        let store = state.store.clone();
        let channels = state.channels.clone();
        tokio::spawn({
            let (store, stop) = (store.clone(), layer_stop.clone());
            async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = tick.tick() => store.flush_marks().await,
                    }
                }
            }
        });
        let addr = listener.local_addr().context("reading the bound address")?;
        tracing::info!(
            %addr,
            layer = if state.config.redis_url.is_some() { "redis" } else { "memory" },
            "chatweb is serving on http://{addr}/"
        );
        let bound = state.config.shutdown_timeout();
        let header_timeout = state.config.header_timeout();
        let tracker = state.tracker.clone();
        let connections = serve::serve(
            listener,
            crate::routes::router(state),
            header_timeout,
            token.clone(),
        )
        .await;
        // The whole stop takes at most `bound` from here. Requests and sockets get three quarters of it
        // (whatever is still open then is dropped); the rest is kept for the store's last commit and close.
        let deadline = tokio::time::Instant::now() + bound;
        let drain_until = deadline - bound / 4;
        // Every socket task got the token too: it answers its pending sends and closes with 1001.
        tracker.close();
        tracing::info!(
            http = connections.len(),
            websockets = tracker.len(),
            "stopping: finishing requests and closing WebSocket connections"
        );
        let drained = tokio::time::timeout_at(drain_until, async {
            connections.wait().await;
            tracker.wait().await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                http = connections.len(),
                websockets = tracker.len(),
                "connections still open at the shutdown bound are dropped"
            );
            connections.drop_all();
        }
        if tokio::time::timeout_at(deadline, store.flush_marks())
            .await
            .is_err()
        {
            tracing::warn!("read marks were not stored within the shutdown bound");
        }
        if tokio::time::timeout_at(deadline, writer.close())
            .await
            .is_err()
        {
            tracing::error!("the store writer did not finish within the shutdown bound");
        }
        // The writer's last commits reach the other nodes before the layer stops.
        let now = tokio::time::Instant::now();
        channels
            .drain(deadline.saturating_duration_since(now))
            .await;
        layer_stop.cancel();
        tracing::info!("chatweb stopped");
        Ok(())
    }
}

/// The Redis layer's settings; the cluster id is `--cluster-id`, or derived from the database's identity.
async fn redis_settings(
    config: &Config,
    url: &str,
    backend: &Arc<dyn crate::storage::Backend>,
) -> anyhow::Result<RedisSettings> {
    let cluster = match &config.cluster_id {
        Some(id) => ClusterId::parse(id).map_err(anyhow::Error::msg)?,
        None => {
            let identity = database_identity(&backend.db()).await.context(
                "reading the database's identity for the cluster id (or set --cluster-id)",
            )?;
            ClusterId::derived(&identity)
        }
    };
    tracing::info!(%cluster, "redis payloads carry this cluster id");
    Ok(RedisSettings {
        url: url.to_owned(),
        prefix: config.redis_prefix.clone(),
        cluster,
        room_buffer: config.room_buffer,
        room_buffer_bytes: config.room_buffer_bytes,
        outbox_bytes: config.redis_outbox_bytes,
        heal_every: std::time::Duration::from_millis(config.redis_heal_ms.max(10)),
    })
}

/// Connections waiting to be accepted before the kernel refuses more (the OS default of 128 drops bursts
/// of joins; the kernel caps this at `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds a listening socket on the first address `address` resolves to.
async fn bind(address: (&str, u16)) -> anyhow::Result<TcpListener> {
    let addr = tokio::net::lookup_host(address)
        .await?
        .next()
        .context("the bind address resolves to nothing")?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket.listen(LISTEN_BACKLOG)?)
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
