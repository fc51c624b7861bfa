//! `LeanTcp`: a chat socket's TCP stream, holding a read buffer only while the peer's bytes wait in it.
//! Tungstenite keeps its read buffer for a connection's whole life, allocated when the socket is made, so
//! an idle connection (most of them, most of the time) would hold it for nothing (issue 22 measures bytes
//! per idle connection). Tungstenite is given no buffer of its own to speak of (its read size is
//! [`TUNGSTENITE_READ_BYTES`]) and reads through this one: once the socket is readable, a chunk of
//! [`READ_CHUNK_BYTES`] is read into a fresh buffer, handed out as tungstenite asks, and freed once it is
//! all taken.
//!
//! Writes: the connection's text frames are framed into a [`TextOut`] (text_out.rs), held only while
//! they wait; tungstenite's own writes (pings, its replies, closes) come after every frame waiting
//! there, so the two never interleave within a frame. Tungstenite's writes are watched: while some of its
//! bytes wait half written in its buffer, no text frame may be queued (`tungstenite_waiting`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::text_out::TextOut;

/// Bytes read from the socket at a time: a few chat frames. Small enough for the allocator's per-thread
/// cache (a fresh buffer per read costs next to nothing), and the buffer lives only until it is taken.
pub(super) const READ_CHUNK_BYTES: usize = 512;

/// Tungstenite's own read size: none at the start. It keeps whatever its buffer grows to (a frame's
/// length), and reads at most this much more at a time (at least a frame header's 14 bytes) out of our
/// chunk: copies from memory, no system calls.
pub(super) const TUNGSTENITE_READ_BYTES: usize = 0;

/// A TCP stream whose reads are buffered only while bytes wait.
pub(super) struct LeanTcp {
    tcp: TcpStream,
    /// Bytes read from the socket, not all taken yet; no allocation while none wait.
    chunk: Vec<u8>,
    /// How many of `chunk`'s bytes were taken.
    taken: u32,
    /// Text frames are written once more than this many bytes of them wait.
    flush_at: u32,
    /// The last write tungstenite asked for was not taken whole: the rest waits in its buffer.
    tungstenite_waiting: bool,
    /// Text frames waiting to be written, ahead of any byte of tungstenite's.
    text: TextOut,
}

impl LeanTcp {
    /// Reads `tcp` through a buffer of its own, starting with `read`: bytes already read from it (hyper
    /// read them with the handshake); text frames are written once more than `flush_at` bytes wait.
    pub(super) fn new(tcp: TcpStream, read: Vec<u8>, flush_at: usize) -> Self {
        Self {
            tcp,
            chunk: read,
            taken: 0,
            flush_at: u32::try_from(flush_at).unwrap_or(u32::MAX),
            tungstenite_waiting: false,
            text: TextOut::default(),
        }
    }

    /// Some of tungstenite's bytes wait half written: its flush must come before a text frame is queued.
    pub(super) fn tungstenite_waiting(&self) -> bool {
        self.tungstenite_waiting
    }

    /// Ready once a text frame may be queued: no more than `flush_at` bytes wait (else they are written
    /// first).
    pub(super) fn poll_text_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.text.len() > self.flush_at as usize {
            ready!(self.text.poll_write_to(&mut self.tcp, cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Queues a text frame with `payload` (UTF-8), once [`LeanTcp::poll_text_room`] said so and while
    /// no byte of tungstenite's waits.
    pub(super) fn queue_text(&mut self, payload: &[u8]) {
        debug_assert!(
            !self.tungstenite_waiting,
            "a frame of tungstenite's is half written"
        );
        self.text.push(payload);
    }

    /// Writes every text frame waiting.
    pub(super) fn poll_write_text(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.text.poll_write_to(&mut self.tcp, cx)
    }

    /// A write of tungstenite's, after every text frame waiting; what it leaves unwritten is noted.
    fn poll_write_after_text(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
        write: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        // Until it is written whole, tungstenite keeps what it asked to write in its buffer.
        self.tungstenite_waiting = true;
        ready!(self.text.poll_write_to(&mut self.tcp, cx))?;
        let written = ready!(write(Pin::new(&mut self.tcp), cx))?;
        self.tungstenite_waiting = written < len;
        Poll::Ready(Ok(written))
    }

    /// Hands out what waits in the chunk, as much as `out` takes; frees the chunk once it is all taken.
    fn hand_out(&mut self, out: &mut ReadBuf<'_>) {
        let taken = self.taken as usize;
        let waiting = &self.chunk[taken..];
        let n = waiting.len().min(out.remaining());
        out.put_slice(&waiting[..n]);
        self.taken = (taken + n) as u32;
        if taken + n == self.chunk.len() {
            self.chunk = Vec::new();
            self.taken = 0;
        }
    }
}

impl AsyncRead for LeanTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if (this.taken as usize) < this.chunk.len() {
                this.hand_out(out);
                return Poll::Ready(Ok(()));
            }
            // A reader asking for a chunk or more reads straight from the socket.
            if out.remaining() >= READ_CHUNK_BYTES {
                return Pin::new(&mut this.tcp).poll_read(cx, out);
            }
            // Nothing is allocated until the socket has something (registering for it when it has not).
            ready!(this.tcp.poll_read_ready(cx))?;
            let mut chunk = Vec::with_capacity(READ_CHUNK_BYTES);
            match this.tcp.try_read_buf(&mut chunk) {
                // The end of the stream: `out` gets nothing, which says so.
                Ok(0) => return Poll::Ready(Ok(())),
                Ok(_) => this.chunk = chunk,
                // A spurious readiness, now cleared: poll again (the next poll registers the waker).
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncWrite for LeanTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_after_text(cx, buf.len(), |tcp, cx| tcp.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|buf| buf.len()).sum();
        self.get_mut()
            .poll_write_after_text(cx, len, |tcp, cx| tcp.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_text(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_text(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A connected pair: the lean end (starting with `read`) and the peer's.
    async fn pair(read: &[u8]) -> (LeanTcp, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let addr = listener.local_addr().expect("an address");
        let (peer, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (tcp, _) = accepted.expect("accepted");
        (
            LeanTcp::new(tcp, read.to_vec(), 16 * 1024),
            peer.expect("connected"),
        )
    }

    #[tokio::test]
    async fn bytes_read_with_the_handshake_come_first_then_the_socket_s_in_small_reads() {
        let (mut lean, mut peer) = pair(b"early ").await;
        peer.write_all(b"and later").await.expect("written");
        peer.shutdown().await.expect("shut");
        let mut got = Vec::new();
        let mut small = [0u8; 4];
        loop {
            let n = lean.read(&mut small).await.expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, b"early and later");
    }

    #[tokio::test]
    async fn nothing_is_held_once_the_bytes_are_taken() {
        let (mut lean, mut peer) = pair(b"").await;
        assert_eq!(lean.chunk.capacity(), 0, "nothing before the peer sends");
        peer.write_all(b"0123456789").await.expect("written");
        let mut first = [0u8; 4];
        lean.read_exact(&mut first).await.expect("read");
        assert!(
            lean.chunk.capacity() >= READ_CHUNK_BYTES,
            "the rest waits in a chunk"
        );
        let mut rest = [0u8; 6];
        lean.read_exact(&mut rest).await.expect("read");
        assert_eq!(&rest, b"456789");
        assert_eq!(lean.chunk.capacity(), 0, "freed once taken");
    }

    #[tokio::test]
    async fn a_large_read_goes_straight_to_the_socket_and_writes_pass_through() {
        let (mut lean, mut peer) = pair(b"").await;
        peer.write_all(&[7u8; 100]).await.expect("written");
        let mut large = vec![0u8; READ_CHUNK_BYTES];
        let n = lean.read(&mut large).await.expect("read");
        assert!(n > 0 && large[..n].iter().all(|b| *b == 7));
        assert_eq!(lean.chunk.capacity(), 0);
        lean.write_all(b"pong").await.expect("written");
        let mut back = [0u8; 4];
        peer.read_exact(&mut back).await.expect("read");
        assert_eq!(&back, b"pong");
    }
}
