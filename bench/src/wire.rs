//! The subscribers' side of the wire, lean: a WebSocket client that reads server frames in place from one
//! buffer per connection and hands out borrowed text, with no allocation, copy or task hand-off per frame.
//! Measured on the 2-core machine, tungstenite's reader cost the bench about as much CPU per delivery as the
//! relay spends serving it, so the bench could not drive the relay anywhere near its ceiling and reported a
//! ratio that said as much about itself as about chatweb (issue 11). Publishers, churn and the other
//! scenarios send far fewer frames and keep tungstenite.
//!
//! What it speaks is the part of RFC 6455 a subscriber meets: the opening handshake (checked with
//! tungstenite's own accept-key function), unmasked server frames of any length, text frames (UTF-8
//! checked), pings answered with pongs, and the close frame. It sends masked text frames (a live client's
//! typing and read frames). A fragmented or masked server frame is an error: chatweb and the relay send
//! neither.

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Bytes of a connection's read buffer; it grows for a frame that does not fit.
const BUFFER: usize = 16 * 1024;
/// Bytes a handshake response may take.
const MAX_RESPONSE: usize = 16 * 1024;

/// What a read gave.
pub enum Incoming<'a> {
    /// A text frame's payload.
    Text(&'a str),
    /// A binary frame, a pong, or a ping (answered already).
    Other,
    /// The server closed the connection (with a close frame or by ending the stream).
    Closed,
}

/// One client connection after its handshake.
pub struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Frames the server sent before the last one handed out are consumed up to here.
    consumed: usize,
    mask: u32,
}

/// The handshake request's parts.
pub struct Request<'a> {
    /// `Host` header and the address's text: `127.0.0.1:PORT`.
    pub host: &'a str,
    /// The path: `/ws/chat/<room>/`.
    pub path: &'a str,
    /// The `Origin` header.
    pub origin: &'a str,
    /// A `Cookie` header, if any.
    pub cookie: Option<&'a str>,
    /// A `Sec-WebSocket-Protocol` the server must select, if any.
    pub protocol: Option<&'a str>,
}

impl Wire {
    /// Runs the opening handshake on `stream`.
    pub async fn connect(mut stream: TcpStream, request: &Request<'_>) -> anyhow::Result<Self> {
        let key = generate_key();
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {}\r\n",
            request.path, request.host, request.origin
        );
        if let Some(cookie) = request.cookie {
            head.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        if let Some(protocol) = request.protocol {
            head.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;

        let mut buf = vec![0u8; BUFFER];
        let mut end = 0;
        let header_end = loop {
            if let Some(at) = buf[..end].windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if end >= MAX_RESPONSE {
                bail!("the handshake response is over {MAX_RESPONSE} bytes");
            }
            let n = stream.read(&mut buf[end..]).await?;
            if n == 0 {
                bail!("the server closed the connection during the handshake");
            }
            end += n;
        };
        let response = std::str::from_utf8(&buf[..header_end]).context("handshake response")?;
        let mut lines = response.split("\r\n");
        let status = lines.next().unwrap_or_default();
        if !status.starts_with("HTTP/1.1 101") {
            bail!("the server refused the WebSocket handshake: {status}");
        }
        let accept = derive_accept_key(key.as_bytes());
        let mut accepted = false;
        let mut selected = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("sec-websocket-accept") {
                accepted = value == accept;
            } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
                selected = Some(value.to_owned());
            }
        }
        if !accepted {
            bail!("the handshake response has no valid Sec-WebSocket-Accept");
        }
        if request.protocol.is_some() && selected.as_deref() != request.protocol {
            bail!("the server did not select {:?}", request.protocol);
        }
        let seed = key.bytes().fold(0x9e37_79b9u32, |h, b| {
            h.rotate_left(5) ^ u32::from(b).wrapping_mul(0x0100_0193)
        });
        Ok(Self {
            stream,
            buf,
            start: header_end,
            end,
            consumed: header_end,
            mask: seed | 1,
        })
    }

    /// Reads the next frame. The text it returns borrows the connection's buffer until the next call.
    pub async fn next(&mut self) -> anyhow::Result<Incoming<'_>> {
        // The frame handed out last time is done with now.
        self.start = self.consumed;
        loop {
            match self.parse()? {
                Parsed::Frame {
                    opcode,
                    payload,
                    next,
                } => {
                    self.consumed = next;
                    match opcode {
                        0x1 => {
                            let text = std::str::from_utf8(&self.buf[payload.clone()])
                                .context("a text frame that is not UTF-8")?;
                            return Ok(Incoming::Text(text));
                        }
                        0x8 => return Ok(Incoming::Closed),
                        0x9 => {
                            let ping = self.buf[payload].to_vec();
                            self.start = next;
                            self.send(0xA, &ping).await?;
                            return Ok(Incoming::Other);
                        }
                        0x2 | 0xA => {
                            self.start = next;
                            return Ok(Incoming::Other);
                        }
                        other => bail!("unexpected WebSocket opcode {other:#x}"),
                    }
                }
                Parsed::Need(total) => {
                    if !self.fill(total).await? {
                        return Ok(Incoming::Closed);
                    }
                }
            }
        }
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.send(0x1, text.as_bytes()).await
    }

    /// Parses the frame at `start`: where its payload is and where the next begins, or how many bytes
    /// from `start` it needs before it can tell.
    fn parse(&self) -> anyhow::Result<Parsed> {
        let unread = &self.buf[self.start..self.end];
        if unread.len() < 2 {
            return Ok(Parsed::Need(2));
        }
        let (b0, b1) = (unread[0], unread[1]);
        if b0 & 0x80 == 0 {
            bail!("a fragmented server frame (the bench does not reassemble)");
        }
        if b1 & 0x80 != 0 {
            bail!("a masked server frame");
        }
        let (len, header) = match b1 & 0x7f {
            126 if unread.len() >= 4 => (u64::from(u16::from_be_bytes([unread[2], unread[3]])), 4),
            126 => return Ok(Parsed::Need(4)),
            127 if unread.len() >= 10 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&unread[2..10]);
                (u64::from_be_bytes(be), 10)
            }
            127 => return Ok(Parsed::Need(10)),
            len => (u64::from(len), 2),
        };
        let total = header + usize::try_from(len).context("a frame too large")?;
        if unread.len() < total {
            return Ok(Parsed::Need(total));
        }
        let payload = self.start + header..self.start + total;
        Ok(Parsed::Frame {
            opcode: b0 & 0x0f,
            payload,
            next: self.start + total,
        })
    }

    /// Reads until `total` bytes from `start` are in the buffer (moving them to its front, growing it
    /// when a frame does not fit); false when the server ended the stream.
    async fn fill(&mut self, total: usize) -> anyhow::Result<bool> {
        if self.start + total > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.consumed -= self.start.min(self.consumed);
            self.start = 0;
            if total > self.buf.len() {
                self.buf.resize(total.next_power_of_two(), 0);
            }
        }
        while self.end - self.start < total {
            let n = self.stream.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return Ok(false);
            }
            self.end += n;
        }
        Ok(true)
    }

    /// Sends one masked frame of `opcode`.
    async fn send(&mut self, opcode: u8, payload: &[u8]) -> anyhow::Result<()> {
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode);
        match payload.len() {
            len @ 0..=125 => frame.push(0x80 | len as u8),
            len @ 126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        // xorshift: a new key per frame, as RFC 6455 asks of clients.
        self.mask ^= self.mask << 13;
        self.mask ^= self.mask >> 17;
        self.mask ^= self.mask << 5;
        let key = self.mask.to_be_bytes();
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.stream.write_all(&frame).await?;
        Ok(())
    }
}

/// Where parsing the buffer got.
enum Parsed {
    /// A whole frame: its opcode, where its payload lies in the buffer, where the next frame begins.
    Frame {
        opcode: u8,
        payload: std::ops::Range<usize>,
        next: usize,
    },
    /// The frame needs this many bytes from `start`.
    Need(usize),
}
