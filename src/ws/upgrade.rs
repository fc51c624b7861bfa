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
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Utf8Bytes};

use super::consumer::Socket;
use super::lean::LeanTcp;

/// A chat socket: tungstenite over the connection's own TCP stream.
pub(super) type ChatStream = WebSocketStream<LeanTcp>;

/// Text frames are framed and written by `LeanTcp` (text_out.rs); tungstenite reads, and writes its own
/// frames after them.
impl Socket for ChatStream {
    fn poll_text_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // Bytes of tungstenite's half written go out first: a frame queued now must not cut into them.
        if self.get_ref().tungstenite_waiting() {
            ready!(self.poll_flush_unpin(cx))?;
        }
        self.get_mut().poll_text_room(cx).map_err(Error::Io)
    }

    fn queue_text(&mut self, text: Utf8Bytes) -> Result<(), Error> {
        self.get_mut().queue_text(text.as_bytes());
        Ok(())
    }

    fn poll_flush_text(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.get_ref().tungstenite_waiting() {
            // Its flush writes the text frames first (`LeanTcp`'s writes), then its own bytes.
            return self.poll_flush_unpin(cx);
        }
        self.get_mut().poll_write_text(cx).map_err(Error::Io)
    }
}

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

#[cfg(test)]
mod tests {
    //! Text frames written beside tungstenite, on a real socket: whatever tungstenite wrote or still
    //! holds, the peer reads whole frames in the order they were sent.

    use std::future::poll_fn;

    use futures_util::StreamExt;
    use futures_util::task::noop_waker_ref;
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::Message;

    use super::*;

    /// A chat socket and the peer's client end, connected.
    async fn pair() -> (ChatStream, WebSocketStream<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let addr = listener.local_addr().expect("an address");
        let (peer, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (tcp, _) = accepted.expect("accepted");
        let server = WebSocketStream::from_raw_socket(
            LeanTcp::new(tcp, Vec::new(), 16 * 1024),
            Role::Server,
            None,
        )
        .await;
        let client =
            WebSocketStream::from_raw_socket(peer.expect("connected"), Role::Client, None).await;
        (server, client)
    }

    /// Queues text frames until the socket takes no more (the peer is not reading); returns how many.
    fn fill(server: &mut ChatStream, cx: &mut Context<'_>, mut sent: usize) -> usize {
        let chunk = "x".repeat(8 * 1024);
        loop {
            assert!(server.poll_text_ready(cx).is_ready(), "room for a frame");
            server
                .queue_text(format!("{sent} {chunk}").into())
                .expect("queued");
            sent += 1;
            if server.poll_flush_text(cx).is_pending() {
                return sent;
            }
            assert!(sent < 10_000, "the socket never filled");
        }
    }

    #[tokio::test]
    async fn a_pong_held_by_tungstenite_goes_out_whole_between_text_frames() {
        let (mut server, mut client) = pair().await;
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut sent = 0;
        let mut expected = Vec::new();
        // The peer pings while the socket is full: tungstenite reads it and tries to write its pong
        // (as the connection has it do at once), behind the text frames, and keeps it. The kernel may
        // have made room meanwhile: then the pong went out whole, and the peer pings again.
        for attempt in 0.. {
            assert!(attempt < 100, "the socket never stayed full");
            let before = sent;
            sent = fill(&mut server, &mut cx, sent);
            expected.extend((before..sent).map(|n| n.to_string()));
            client
                .send(Message::Ping("p".into()))
                .await
                .expect("ping sent");
            let ping = server.next().await.expect("a frame").expect("read");
            assert!(matches!(ping, Message::Ping(_)));
            expected.push("pong".to_owned());
            if server.poll_flush_unpin(&mut cx).is_pending() {
                break;
            }
        }
        assert!(server.get_ref().tungstenite_waiting());
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(message) = client.next().await {
                match message.expect("a whole, valid frame") {
                    Message::Text(text) if text.as_str() == "last" => {
                        got.push("last".to_owned());
                        break;
                    }
                    Message::Text(text) => {
                        got.push(text.split(' ').next().expect("a number").to_owned())
                    }
                    Message::Pong(_) => got.push("pong".to_owned()),
                    other => panic!("unexpected {other:?}"),
                }
            }
            got
        });
        // One more frame: queued only once tungstenite's pong went out, so it comes after it.
        poll_fn(|cx| server.poll_text_ready(cx))
            .await
            .expect("room");
        server.queue_text("last".into()).expect("queued");
        poll_fn(|cx| server.poll_flush_text(cx))
            .await
            .expect("written");
        expected.push("last".to_owned());
        let got = reader.await.expect("the reader ran");
        assert_eq!(got, expected);
    }
}
