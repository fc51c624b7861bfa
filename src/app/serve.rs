//! The HTTP accept loop. `axum::serve` has no header read timeout, so a client that sends half a request
//! (or nothing) holds its descriptor for good and a graceful stop waits for it for ever. This loop serves
//! each connection with hyper's HTTP/1 connection and a header read timeout instead, and keeps what
//! `axum::serve` gave: the peer's address as `ConnectInfo<SocketAddr>`, TCP_NODELAY, WebSocket upgrades,
//! and a graceful stop. The stop has two steps: [`serve`] returns as soon as its token is cancelled (no
//! more accepts, every connection finishes the request in flight and closes), and
//! [`Connections::drop_all`] ends whatever is still open when the caller's bound is reached.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The HTTP connections a stopped accept loop leaves behind, finishing their last request.
pub struct Connections {
    tracker: TaskTracker,
    abandon: CancellationToken,
}

impl Connections {
    /// How many are still open.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Completes when every connection has closed.
    pub async fn wait(&self) {
        self.tracker.wait().await;
    }

    /// Drops every connection still open (the stop's bound is reached), whatever it was doing.
    pub fn drop_all(&self) {
        self.abandon.cancel();
    }
}

/// Serves `router` on `listener` until `stop` is cancelled; returns the connections still finishing.
/// A client gets `header_timeout` to send each request's headers (an idle keep-alive connection as much to
/// start its next one); past it, its connection is closed.
pub async fn serve(
    mut listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    stop: CancellationToken,
) -> Connections {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let builder = Arc::new(builder);
    let tracker = TaskTracker::new();
    let abandon = CancellationToken::new();
    loop {
        // `Listener::accept` retries by itself on errors (and waits a second when out of descriptors).
        let (tcp, peer) = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = Listener::accept(&mut listener) => accepted,
        };
        tracker.spawn(connection(
            tcp,
            peer,
            router.clone(),
            builder.clone(),
            stop.clone(),
            abandon.clone(),
        ));
    }
    // Closing the listener now: connections the kernel queued but we never accepted are refused.
    drop(listener);
    tracker.close();
    Connections { tracker, abandon }
}

/// Serves one connection until it closes, gracefully once `stop` is cancelled, or until `abandon` is.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    builder: Arc<http1::Builder>,
    stop: CancellationToken,
    abandon: CancellationToken,
) {
    // Chat frames are small and latency matters: no Nagle delay.
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    // The peer's address reaches handlers as `ConnectInfo` (login throttling, limits per address).
    let service = router.map_request(move |mut request: axum::http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let mut conn = pin!(
        builder
            .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
            .with_upgrades()
    );
    let served = tokio::select! {
        served = conn.as_mut() => served,
        () = stop.cancelled() => {
            // Finish the request in flight (or the one whose headers are arriving), then close.
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                served = conn.as_mut() => served,
                () = abandon.cancelled() => return,
            }
        }
    };
    // Mostly clients that went away, or a header read timeout: nothing the operator must act on.
    if let Err(error) = served {
        tracing::debug!(%peer, %error, "HTTP connection ended");
    }
}
