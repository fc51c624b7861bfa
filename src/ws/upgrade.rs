//! Taking a checked WebSocket handshake's upgrade from hyper ourselves. axum's
//! `WebSocketUpgrade::on_upgrade` would keep, for the life of every connection, hyper's boxed `Upgraded`
//! (the TCP stream behind a trait object and a rewind buffer), axum's `WebSocket` wrapper and its own
//! upgrade task around the consumer: bytes every idle connection pays (issue 22, docs/PERFORMANCE.md).
//! axum's extractor still checks the handshake (method, `Connection`, `Upgrade`, `Sec-WebSocket-Version`,
//! `Sec-WebSocket-Key`, each refused with its own answer) and picks the subprotocol; we answer 101 with
//! the same headers, and the connection gets the accept loop's TCP stream back from hyper
//! (`Upgraded::downcast`, src/app/serve.rs serves `TokioIo<TcpStream>`) with tungstenite's
//! `WebSocketStream` over it, reading through a buffer held only while bytes wait (lean.rs).

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::lean::LeanTcp;

/// A chat socket: tungstenite over the connection's own TCP stream.
pub(super) type ChatStream = WebSocketStream<LeanTcp>;

/// A WebSocket handshake that passed axum's checks, holding the upgrade hyper will hand over once the
/// 101 is sent.
pub(super) struct Upgrade {
    /// axum's view of the handshake: its checks passed, and it picks the subprotocol.
    checked: WebSocketUpgrade,
    /// The `Sec-WebSocket-Key` the 101 answers.
    key: HeaderValue,
    /// Our own handle on the upgrade (axum's extractor takes the request's and drops it unused).
    on_upgrade: OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let on_upgrade = parts.extensions.get::<OnUpgrade>().cloned();
        let key = parts.headers.get(SEC_WEBSOCKET_KEY).cloned();
        let checked = WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match (on_upgrade, key) {
            (Some(on_upgrade), Some(key)) => Ok(Self {
                checked,
                key,
                on_upgrade,
            }),
            // axum's checks passed without a key only over HTTP/2, which the accept loop does not speak;
            // an upgrade missing would have failed them.
            _ => Err((
                StatusCode::BAD_REQUEST,
                "WebSocket handshakes are served over HTTP/1.1 only",
            )
                .into_response()),
        }
    }
}

impl Upgrade {
    /// Picks the first of `protocols` the client offered (see axum's `WebSocketUpgrade::protocols`).
    pub(super) fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Cow<'static, str>>,
    {
        self.checked = self.checked.protocols(protocols);
        self
    }

    /// The subprotocol picked, if any.
    pub(super) fn selected_protocol(&self) -> Option<&HeaderValue> {
        self.checked.selected_protocol()
    }

    /// The handshake's 101 answer (the headers axum's `on_upgrade` gives it), and the upgrade to come once
    /// hyper has sent it.
    pub(super) fn accept(self) -> (Response, Upgrading) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        let accept = derive_accept_key(self.key.as_bytes());
        // Base64 of a digest: always a valid header value.
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(protocol) = self.checked.selected_protocol() {
            headers.insert(SEC_WEBSOCKET_PROTOCOL, protocol.clone());
        }
        let upgrading = Upgrading {
            on_upgrade: self.on_upgrade,
        };
        (response, upgrading)
    }
}

/// An accepted handshake whose connection hyper has yet to hand over.
pub(super) struct Upgrading {
    on_upgrade: OnUpgrade,
}

impl Upgrading {
    /// The connection's TCP stream once hyper has let go of it, with tungstenite over it (and whatever
    /// the client sent after its handshake, which hyper had read already); `None` if it never does (the
    /// client left, or the connection is not the accept loop's TCP stream).
    pub(super) async fn socket(self, config: WebSocketConfig) -> Option<ChatStream> {
        let upgraded = match self.on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "WebSocket upgrade failed");
                return None;
            }
        };
        let Ok(parts) = upgraded.downcast::<TokioIo<TcpStream>>() else {
            tracing::error!(
                "a WebSocket upgrade over something else than the accept loop's TCP stream"
            );
            return None;
        };
        let tcp = LeanTcp::new(
            parts.io.into_inner(),
            parts.read_buf.to_vec(),
            config.write_buffer_size,
        );
        Some(WebSocketStream::from_raw_socket(tcp, Role::Server, Some(config)).await)
    }
}
