//! `Outbound`: the socket and its keepalive. Every write is bounded: a peer that cannot take one within the
//! keepalive time (counted from the write's first wait, `bounded.rs`) is unresponsive, and so is a peer
//! that has sent nothing (not even a pong) for that long.
//!
//! Generic over the socket (src/ws/socket.rs: tungstenite's `Sink` and `Stream`, and how text frames are
//! written), so a test stands in for the peer without a server. It owns the
//! socket whole, reads included: splitting a `WebSocketStream` into halves would put a lock on every write
//! of the message path, for one task that never reads and writes at once.

use std::future::poll_fn;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error, Message, Utf8Bytes};

use super::bounded::{Elapsed, within};
use super::end::End;
pub(in crate::ws) use crate::ws::socket::Socket;

/// How long a close gets to reach a peer before the connection lets go.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The socket, its writes bounded by the keepalive, and when the peer was last heard from.
pub(super) struct Outbound<S> {
    socket: S,
    /// The bound on every write, and on the peer's silence, in milliseconds (4 bytes, not a `Duration`'s
    /// 16: with `unflushed` beside it the connection's task stays as small as before); pings go every
    /// third of it.
    keepalive_ms: u32,
    /// When the peer last sent anything (a pong included).
    last_heard: Instant,
    /// Frames were queued since the last flush: the connection's loop flushes them once it has nothing
    /// else to do, so that an answer and the message it answers go out in one write.
    unflushed: bool,
}

impl<S: Socket> Outbound<S> {
    /// Talks to `socket`; the peer counts as heard from now.
    pub(super) fn new(socket: S, keepalive: Duration) -> Self {
        Self {
            socket,
            keepalive_ms: u32::try_from(keepalive.as_millis()).unwrap_or(u32::MAX),
            last_heard: Instant::now(),
            unflushed: false,
        }
    }

    /// The keepalive time.
    pub(super) fn keepalive(&self) -> Duration {
        Duration::from_millis(u64::from(self.keepalive_ms))
    }

    /// The peer's next frame; `None` once it is gone. Cancel-safe.
    pub(super) async fn recv(&mut self) -> Option<Result<Message, Error>> {
        self.socket.next().await
    }

    /// The peer sent something: it is alive.
    pub(super) fn heard(&mut self) {
        self.last_heard = Instant::now();
    }

    /// Frames wait in the socket's buffer for a flush.
    pub(super) fn unflushed(&self) -> bool {
        self.unflushed
    }

    /// The peer has sent nothing for longer than the keepalive.
    pub(super) fn silent(&self) -> bool {
        self.last_heard.elapsed() > self.keepalive()
    }

    /// Queues a text frame without flushing, within the keepalive.
    pub(super) async fn feed(&mut self, frame: String) -> Result<(), End> {
        self.write_text(frame.into(), false).await
    }

    /// Writes `frames` and flushes them, all within one keepalive (one timer, not one per frame).
    pub(super) async fn write_all(&mut self, frames: Vec<Utf8Bytes>) -> Result<(), End> {
        let bound = self.keepalive();
        let socket = &mut self.socket;
        let written = async move {
            for frame in frames {
                poll_fn(|cx| socket.poll_text_ready(cx)).await?;
                socket.queue_text(frame)?;
            }
            poll_fn(|cx| socket.poll_flush_text(cx)).await
        };
        let written = within(bound, written).await;
        self.settle(written, true)
    }

    /// Queues a text frame (and flushes it when `flush`); a peer that cannot take it within the keepalive
    /// is unresponsive.
    pub(super) async fn write_text(&mut self, text: Utf8Bytes, flush: bool) -> Result<(), End> {
        let bound = self.keepalive();
        let socket = &mut self.socket;
        let written = async move {
            poll_fn(|cx| socket.poll_text_ready(cx)).await?;
            socket.queue_text(text)?;
            if flush {
                poll_fn(|cx| socket.poll_flush_text(cx)).await?;
            }
            Ok(())
        };
        let written = within(bound, written).await;
        self.settle(written, flush)
    }

    /// Sends a ping, with everything queued before it, within the keepalive.
    pub(super) async fn ping(&mut self) -> Result<(), End> {
        let ping = Message::Ping(Default::default());
        let sent = within(self.keepalive(), self.socket.send(ping)).await;
        self.settle(sent, true)
    }

    /// Sends what the WebSocket layer queued itself (its pong to a ping), within the keepalive.
    pub(super) async fn send_replies(&mut self) -> Result<(), End> {
        let sent = within(self.keepalive(), self.socket.flush()).await;
        self.settle(sent, true)
    }

    /// Flushes what was queued, within the keepalive.
    pub(super) async fn flush(&mut self) -> Result<(), End> {
        let bound = self.keepalive();
        let flush = poll_fn(|cx| self.socket.poll_flush_text(cx));
        let flushed = within(bound, flush).await;
        self.settle(flushed, true)
    }

    /// What a write bounded by the keepalive came to; `flushed`: whatever was queued went out with it.
    fn settle(
        &mut self,
        written: Result<Result<(), Error>, Elapsed>,
        flushed: bool,
    ) -> Result<(), End> {
        match written {
            Ok(Ok(())) => {
                self.unflushed = !flushed;
                Ok(())
            }
            Ok(Err(error)) => Err(End::Socket(error)),
            Err(Elapsed) => Err(End::Unresponsive),
        }
    }

    /// Waits until the socket can queue a frame, without a timeout of its own: only inside a caller's
    /// bound (a burst of live events shares one). With [`Outbound::queue`], a `feed` in two steps: the
    /// frame is made after the wait, so a waiting burst does not hold it (nor two copies of it).
    pub(super) async fn ready_untimed(&mut self) -> Result<(), End> {
        poll_fn(|cx| self.socket.poll_text_ready(cx))
            .await
            .map_err(End::Socket)
    }

    /// Queues a text frame once [`Outbound::ready_untimed`] said the socket can take it.
    pub(super) fn queue(&mut self, text: Utf8Bytes) -> Result<(), End> {
        self.unflushed = true;
        self.socket.queue_text(text).map_err(End::Socket)
    }

    /// Flushes without a timeout of its own: only inside a caller's bound.
    pub(super) async fn flush_untimed(&mut self) -> Result<(), End> {
        poll_fn(|cx| self.socket.poll_flush_text(cx))
            .await
            .map_err(End::Socket)?;
        self.unflushed = false;
        Ok(())
    }

    /// Sends a close with `code` and `reason`, waiting for it at most [`CLOSE_WAIT`].
    pub(super) async fn close(&mut self, code: CloseCode, reason: &str) {
        let close = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = timeout(CLOSE_WAIT, self.socket.send(close)).await;
    }

    /// Sends what the WebSocket layer queued (its reply to the peer's close), waiting at most
    /// [`CLOSE_WAIT`].
    pub(super) async fn flush_briefly(&mut self) {
        let _ = timeout(CLOSE_WAIT, self.socket.flush()).await;
    }
}

#[cfg(test)]
mod tests {
    //! A peer without a server: what the connection wrote, what the peer sends, and a peer that stops
    //! taking writes.

    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures_util::{Sink, Stream};

    use super::*;

    /// A socket's stand-in: records what it is sent, hands out `incoming`, and takes nothing while
    /// `stuck`.
    #[derive(Default)]
    struct Peer {
        sent: Vec<Message>,
        incoming: VecDeque<Message>,
        stuck: bool,
    }

    impl Sink<Message> for Peer {
        type Error = Error;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            // A stuck peer never wakes the writer: only its timeout ends the wait.
            if self.stuck {
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        }

        fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
            self.sent.push(message);
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.poll_ready(cx)
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    impl Stream for Peer {
        type Item = Result<Message, Error>;

        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.incoming.pop_front().map(Ok))
        }
    }

    impl Socket for Peer {}

    const KEEPALIVE: Duration = Duration::from_millis(30);

    #[tokio::test]
    async fn frames_go_out_in_the_order_written_and_the_peer_is_read() {
        let peer = Peer {
            incoming: VecDeque::from([Message::Text("hi".into())]),
            ..Peer::default()
        };
        let mut outbound = Outbound::new(peer, KEEPALIVE);
        outbound.feed("1".into()).await.expect("taken");
        outbound.ready_untimed().await.expect("room for a frame");
        outbound.queue("2".into()).expect("taken");
        outbound.write_text("3".into(), true).await.expect("taken");
        let sent: Vec<String> = outbound
            .socket
            .sent
            .iter()
            .filter_map(|m| m.to_text().ok().map(str::to_owned))
            .collect();
        assert_eq!(sent, ["1", "2", "3"]);
        assert!(matches!(outbound.recv().await, Some(Ok(Message::Text(t))) if t == "hi"));
        assert!(outbound.recv().await.is_none(), "then the peer is gone");
    }

    /// What waits for the loop's flush is known: a queued frame until a flush, and nothing after one.
    #[tokio::test]
    async fn a_frame_queued_without_a_flush_is_known_to_wait_until_one() {
        let mut outbound = Outbound::new(Peer::default(), KEEPALIVE);
        assert!(!outbound.unflushed());
        outbound
            .write_text("answer".into(), false)
            .await
            .expect("taken");
        assert!(outbound.unflushed());
        outbound.flush().await.expect("flushed");
        assert!(!outbound.unflushed());
        outbound.ready_untimed().await.expect("room");
        outbound.queue("live".into()).expect("taken");
        assert!(outbound.unflushed());
        outbound.ping().await.expect("sent");
        assert!(
            !outbound.unflushed(),
            "a write that flushes takes the queued frames with it"
        );
        assert_eq!(outbound.keepalive(), KEEPALIVE);
    }

    #[tokio::test]
    async fn a_peer_that_takes_no_write_within_the_keepalive_is_unresponsive() {
        let peer = Peer {
            stuck: true,
            ..Peer::default()
        };
        let mut outbound = Outbound::new(peer, KEEPALIVE);
        assert!(matches!(outbound.ping().await, Err(End::Unresponsive)));
        assert!(matches!(
            outbound.write_text("1".into(), true).await,
            Err(End::Unresponsive)
        ));
        assert!(matches!(outbound.flush().await, Err(End::Unresponsive)));
    }

    #[test]
    fn a_peer_silent_for_longer_than_the_keepalive_is_noticed_and_hearing_it_resets_that() {
        let mut outbound = Outbound::new(Peer::default(), KEEPALIVE);
        assert!(!outbound.silent());
        outbound.last_heard = Instant::now() - KEEPALIVE * 2;
        assert!(outbound.silent());
        outbound.heard();
        assert!(!outbound.silent());
    }
}
