//! `Socket`: what a connection's consumer writes to and reads from, and how a chat socket writes its text
//! frames. Anything that is a `Sink` of tungstenite's messages and a `Stream` of them (axum's
//! `examples/testing-websockets`) is one, so a test stands in for the peer without a server; text frames
//! go through the three methods of the trait, which by default are tungstenite's messages. The chat
//! socket (`ChatStream`: tungstenite over `LeanTcp`) frames and writes them itself, beside tungstenite
//! (text_out.rs): tungstenite reads, and writes its own frames after them.

use std::task::{Context, Poll, ready};

use futures_util::{Sink, SinkExt, Stream};
use tokio_tungstenite::tungstenite::{Error, Message, Utf8Bytes};

use super::upgrade::ChatStream;

/// What a connection talks to: the upgraded TCP stream's `WebSocketStream` (src/ws/upgrade.rs), or a
/// test's stand-in. Text frames go through the three methods below: the chat socket frames and writes
/// them itself, beside tungstenite (src/ws/text_out.rs); by default they are tungstenite's messages.
pub(super) trait Socket:
    Sink<Message, Error = Error> + Stream<Item = Result<Message, Error>> + Unpin + Send
{
    /// Ready once a text frame may be queued.
    fn poll_text_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_ready_unpin(cx)
    }

    /// Queues a text frame, once [`Socket::poll_text_ready`] said so.
    fn queue_text(&mut self, text: Utf8Bytes) -> Result<(), Error> {
        self.start_send_unpin(Message::Text(text))
    }

    /// Writes the text frames queued (and, where they share a buffer, whatever else was).
    fn poll_flush_text(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_flush_unpin(cx)
    }
}

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

#[cfg(test)]
mod tests {
    //! Text frames written beside tungstenite, on a real socket: whatever tungstenite wrote or still
    //! holds, the peer reads whole frames in the order they were sent.

    use std::future::poll_fn;

    use futures_util::StreamExt;
    use futures_util::task::noop_waker_ref;
    use tokio::net::{TcpListener, TcpStream};
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::Role;

    use super::*;
    use crate::ws::lean::LeanTcp;

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
