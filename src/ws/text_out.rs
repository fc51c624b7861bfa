//! `TextOut`: the text frames a chat socket has yet to write, framed here. Tungstenite frames each
//! message through layers made for any frame and any role (its `Message` and `Frame` values, a generic
//! formatter, a check of its state per frame), and keeps its write buffer's capacity for the connection's
//! life: the size of its largest burst (a join's history, 10 KB and more, per connection that ever got
//! one). Here a text frame is its header, made here (2 to 10 bytes: a server's frames are not masked, RFC
//! 6455 section 5.2), and its payload, copied once into a buffer that is freed once written.
//!
//! The frames go out as one contiguous write: writing each frame from the room's shared bytes instead (a
//! vectored write of every header and payload) cost the kernel more than the copy it saved (its copy of
//! many small slices: `_copy_from_iter` 0.7% -> 3.8% of the samples, fan-out 1 x 500, perf).
//!
//! Tungstenite still reads the socket and writes its own frames (pings, its replies to pings and
//! closes, closes): `LeanTcp` writes the frames waiting here before any byte of its (lean.rs), and frames
//! are queued here only while none of its bytes wait half written.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;

/// The first byte of a whole, unfragmented text frame: FIN and the text opcode.
const FIN_TEXT: u8 = 0x81;

/// The buffer's first allocation: a few frames, so that a burst grows it rarely.
const FIRST_BYTES: usize = 2048;

/// The text frames waiting to be written, framed, in order; no allocation while none wait.
#[derive(Default)]
pub(crate) struct TextOut {
    waiting: Vec<u8>,
}

impl TextOut {
    /// Queues a whole text frame of `payload` (UTF-8, as the caller's `Utf8Bytes` guarantees).
    pub(crate) fn push(&mut self, payload: &[u8]) {
        let len = payload.len();
        let mut header = [FIN_TEXT, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let header_len = if len < 126 {
            header[1] = len as u8;
            2
        } else if let Ok(len) = u16::try_from(len) {
            header[1] = 126;
            header[2..4].copy_from_slice(&len.to_be_bytes());
            4
        } else {
            header[1] = 127;
            header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        };
        if self.waiting.capacity() == 0 {
            self.waiting.reserve(FIRST_BYTES.max(header_len + len));
        }
        self.waiting.extend_from_slice(&header[..header_len]);
        self.waiting.extend_from_slice(payload);
    }

    /// Bytes waiting.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Writes every waiting byte to `out`, in order; the buffer is freed once it is all written.
    /// Cancel-safe: what was written is gone from the buffer.
    pub(crate) fn poll_write_to<W: AsyncWrite + Unpin>(
        &mut self,
        out: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if self.waiting.is_empty() {
            return Poll::Ready(Ok(()));
        }
        loop {
            let written = ready!(Pin::new(&mut *out).poll_write(cx, &self.waiting))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if written == self.waiting.len() {
                self.waiting = Vec::new();
                return Poll::Ready(Ok(()));
            }
            self.waiting.drain(..written);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The bytes written must be exactly tungstenite's own framing of the same frames, however the
    //! socket cuts the writes.

    use bytes::Bytes;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    use super::*;

    /// Tungstenite's bytes for a whole text frame of `payload` (as a server writes it, unmasked).
    fn tungstenite_frame(payload: &Bytes) -> Vec<u8> {
        let frame = Frame::message(payload.clone(), OpCode::Data(Data::Text), true);
        let mut out = Vec::new();
        frame.format(&mut out).expect("written to memory");
        out
    }

    /// A socket that takes at most `step` bytes a write, and only every other poll (waking the writer).
    struct Trickle {
        got: Vec<u8>,
        step: usize,
        refuse_next: bool,
        writes: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.refuse_next {
                self.refuse_next = false;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.refuse_next = true;
            self.writes += 1;
            let n = buf.len().min(self.step);
            self.got.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn payloads() -> Vec<Bytes> {
        [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]
            .into_iter()
            .map(|len| Bytes::from("é".repeat(len / 2) + &"x".repeat(len % 2)))
            .collect()
    }

    async fn written(step: usize) -> (Vec<u8>, usize, TextOut) {
        let mut out = TextOut::default();
        for payload in payloads() {
            out.push(&payload);
        }
        let mut socket = Trickle {
            got: Vec::new(),
            step,
            refuse_next: false,
            writes: 0,
        };
        std::future::poll_fn(|cx| out.poll_write_to(&mut socket, cx))
            .await
            .expect("written");
        (socket.got, socket.writes, out)
    }

    #[tokio::test]
    async fn frames_are_tungstenite_s_own_bytes_in_order_however_the_writes_are_cut() {
        let expected: Vec<u8> = payloads().iter().flat_map(tungstenite_frame).collect();
        for step in [1, 3, 7, 100, 4096, usize::MAX] {
            let (got, _, out) = written(step).await;
            assert!(
                got == expected,
                "cut every {step} bytes: not the same bytes"
            );
            assert_eq!(out.len(), 0);
            assert_eq!(
                out.waiting.capacity(),
                0,
                "the buffer is freed once written"
            );
        }
    }

    #[tokio::test]
    async fn a_socket_that_takes_everything_gets_one_write() {
        let (_, writes, _) = written(usize::MAX).await;
        assert_eq!(writes, 1);
    }

    #[test]
    fn nothing_is_allocated_until_a_frame_waits() {
        let out = TextOut::default();
        assert_eq!(out.waiting.capacity(), 0);
        assert_eq!(out.len(), 0);
    }
}
