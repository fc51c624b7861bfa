//! Assembling a node: [`App::build`] connects to the store, starts the writer and the background tasks
//! (their table is `tasks`), binds the socket; [`App::run_until_stopped`] serves until a stop signal (or a
//! background task's panic), then runs the stop sequence (`stop`): stop accepting, close every socket with
//! 1001 after answering its pending sends, store what was queued, stop the watchers, close the database and
//! the layer, all within `--shutdown-secs`. The accept loop is `serve`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::stop::Stopping;
use self::tasks::{StopOn, Tasks};

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
mod stop;
mod tasks;
#[cfg(test)]
mod tests;

/// Messages that may wait for the store writer before senders wait.
const WRITE_QUEUE: usize = 16_384;

/// A node that is bound but not serving yet.
pub struct App {
    state: AppState,
    listener: TcpListener,
    /// The database under the store, closed last but one by the stop sequence.
    backend: Arc<dyn crate::storage::Backend>,
    tasks: Tasks,
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
        let mut tasks = Tasks::new(shutdown.clone());
        // Other nodes' presence news, from the layer to the presence task.
        let (news, news_rx) = tokio::sync::mpsc::channel(4096);
        let channels: Arc<dyn ChannelLayer> = match &config.redis_url {
            None => Arc::new(MemoryLayer::bounded(
                config.room_buffer,
                config.room_buffer_bytes,
            )),
            Some(url) => {
                let (layer, running) = RedisLayer::start(
                    redis_settings(&config, url, &backend).await?,
                    Arc::new(StoreHeads::new(backend.clone())),
                    news,
                    stats.clone(),
                )?;
                // The layer outlives the sockets: what the writer commits while stopping still reaches
                // other nodes.
                tasks.spawn_each(StopOn::Layer, |stop| running.run(stop));
                Arc::new(layer)
            }
        };
        // Only a node whose writer is the database's only writer (no Redis: one node) may cache.
        let cache = (config.redis_url.is_none() && config.cache_bytes > 0).then(|| {
            Arc::new(RecentCache::new(
                config.history as usize,
                config.cache_bytes,
                stats.clone(),
            ))
        });
        // Web Push: the key every node shares, and the queue the writer's completer feeds.
        let (push, push_jobs) = crate::push::Push::new(&backend.db(), config.push.clone(), &stats)
            .await
            .context("setting up Web Push")?;
        let (store, writer) = StoreWriter::new(
            backend.clone(),
            Arc::new(crate::push::WithPush {
                inner: Arc::new(Fanout::new(channels.clone())),
                feed: push.feed.clone(),
            }),
            WriterOptions {
                stats: stats.clone(),
                queue: WRITE_QUEUE,
                max_batch: config.write_batch,
                cache,
                read_concurrency: config.catch_up_reads,
                read_timeout: config.store_settings().timeout,
            },
        );
        tasks.spawn("store writer", StopOn::Writes, |stop| writer.run(stop));
        let address = (
            config.bind.trim_start_matches('[').trim_end_matches(']'),
            config.port,
        );
        let listener = bind(address)
            .await
            .with_context(|| format!("binding {}:{}", config.bind, config.port))?;
        let accounts = Accounts::new(store.db(), config.account_settings());
        tasks.spawn("revocation log", StopOn::Watchers, |stop| {
            crate::accounts::revocation::watch_log(store.db(), accounts.revocations(), stop)
        });
        // Every room's mutes, bans and slow mode in memory before the first handshake; then the log.
        let (moderation, logged) = crate::moderation::Moderation::load(store.db())
            .await
            .context("reading the moderation of the rooms")?;
        tasks.spawn("moderation log", StopOn::Watchers, |stop| {
            crate::moderation::watch_log(moderation.clone(), logged, stop)
        });
        // Presence hints the occupancy task when this node starts or stops holding a room (never awaited).
        let (hints, hints_rx) = tokio::sync::mpsc::channel(crate::occupancy::HINTS);
        let presence = Arc::new(
            Presence::new(channels.clone(), config.presence_settings()).with_occupancy(hints),
        );
        // Stops with the sockets, while the layer still carries its last news to the other nodes.
        tasks.spawn("presence", StopOn::Sockets, |stop| {
            crate::presence::run(presence.clone(), news_rx, stop)
        });
        // Stops after the sockets have closed, then lets go of this node's claims (before the store closes).
        // Off until a hook asks for occupancy (the task looks at the store on its first hint or heartbeat).
        let occupancy_wanted = Arc::new(crate::switch::Switch::off());
        tasks.spawn("room occupancy", StopOn::Watchers, |stop| {
            let occupancy = crate::occupancy::Occupancy {
                db: store.db(),
                presence: presence.clone(),
                settings: config.occupancy_settings(),
                wanted: occupancy_wanted.clone(),
            };
            crate::occupancy::run(occupancy, hints_rx, stop)
        });
        // Idle limit keys are forgotten and metric samples folded every few seconds.
        tasks.spawn("limits housekeeping", StopOn::Watchers, |stop| {
            crate::limits::housekeeping(limits.clone(), stats.clone(), stop)
        });
        let file_store = crate::files::FileStore::open(config.files_location())
            .with_context(|| format!("opening the file store: {}", config.files_location()))?;
        let (thumbs, thumb_jobs) = crate::files::Thumbnails::new();
        tasks.spawn("thumbnails", StopOn::Sockets, |stop| {
            crate::files::thumbs::run(
                thumb_jobs,
                file_store.clone(),
                store.db(),
                config.max_image_pixels,
                stats.clone(),
                stop,
            )
        });
        tasks.spawn("file janitor", StopOn::Sockets, |stop| {
            crate::files::janitor::run(
                store.db(),
                file_store.clone(),
                config.file_settings(),
                stats.clone(),
                stop,
            )
        });
        let access = crate::access::Access::new(store.clone(), moderation.clone());
        // Stops with the sockets; its deliveries in flight stop retrying then.
        tasks.spawn("push notifier", StopOn::Sockets, |stop| {
            let notifier = crate::push::notifier::Notifier {
                presence: presence.clone(),
                access: access.clone(),
                db: store.db(),
                sender: Arc::new(crate::push::deliver::Sender {
                    outbound: push.outbound.clone(),
                    vapid: push.vapid.clone(),
                    db: store.db(),
                    ttl_secs: config.push.push_ttl_secs,
                    counters: push.counters.clone(),
                    stop: stop.clone(),
                }),
                window: config.push.coalesce(),
                preview: config.push.push_preview,
                active: push.feed.switch(),
                quiet: push.feed.quiet(),
            };
            crate::push::notifier::run(notifier, push_jobs, stop)
        });
        let files = crate::files::Files {
            store: file_store,
            thumbs,
            settings: config.file_settings(),
        };
        let access = crate::access::Access::new(store.clone(), moderation.clone());
        let webhooks = crate::hooks::Webhooks::new(
            store.clone(),
            access.clone(),
            config.webhooks.outbound()?,
            occupancy_wanted,
        );
        let state = AppState::new(crate::state::Node {
            webhooks,
            files,
            accounts,
            origin_hosts: config.origin_hosts().into(),
            config: Arc::new(config),
            access,
            push,
            store,
            channels,
            presence,
            templates: Arc::new(crate::templates::environment()),
            stats,
            limits,
            moderation,
            shutdown,
            tracker: TaskTracker::new(),
        });
        Ok(Self {
            state,
            listener,
            backend,
            tasks,
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
            backend,
            mut tasks,
        } = self;
        tasks.spawn("stop signal", StopOn::Sockets, |token| async move {
            tokio::select! {
                () = stop => token.cancel(),
                () = token.cancelled() => {}
            }
        });
        // Retention: a run now, then one per interval; it stops with the sockets, before the writer closes.
        tasks.spawn("retention", StopOn::Sockets, |stop| {
            crate::retention::run(
                state.store.clone(),
                state.config.retention_settings(),
                state.stats.clone(),
                stop,
            )
        });
        // The search index follows the rooms' sequences; it stops with the sockets, before the writer.
        tasks.spawn("search indexer", StopOn::Sockets, |stop| {
            crate::search::indexer::run(
                state.store.clone(),
                std::time::Duration::from_millis(state.config.search_index_ms.max(10)),
                state.stats.clone(),
                stop,
            )
        });
        // Outgoing webhooks follow the rooms' sequences too; they stop with the sockets, before the writer.
        tasks.spawn("outgoing webhooks", StopOn::Sockets, |stop| {
            crate::hooks::deliver::run(
                state.webhooks.clone(),
                state.store.clone(),
                state.config.webhooks.pacing(),
                state.stats.clone(),
                stop,
            )
        });
        // Read marks reach the database about once a second, and once more when stopping.
        tasks.spawn("read marks", StopOn::Watchers, |stop| {
            let store = state.store.clone();
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
        tracing::debug!(tasks = ?tasks.names().collect::<Vec<_>>(), "background tasks started");
        let addr = listener.local_addr().context("reading the bound address")?;
        tracing::info!(
            %addr,
            layer = if state.config.redis_url.is_some() { "redis" } else { "memory" },
            "chatweb is serving on http://{addr}/"
        );
        let (sockets, store, channels) = (
            state.tracker.clone(),
            state.store.clone(),
            state.channels.clone(),
        );
        let bound = state.config.shutdown_timeout();
        let header_timeout = state.config.header_timeout();
        let token = state.shutdown.clone();
        let connections = serve::serve(
            listener,
            crate::routes::router(state),
            header_timeout,
            token,
        )
        .await;
        let stopping = Stopping {
            connections,
            sockets,
            tasks,
            store,
            backend,
            channels,
            bound,
        };
        let tasks = stopping.run().await;
        match tasks.failure() {
            Some(name) => anyhow::bail!("the background task `{name}` panicked; the node stopped"),
            None => Ok(()),
        }
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
