//! The wire protocol of the chat socket, in one place (docs/PROTOCOL.md is the reference): what a client
//! sends and how it is parsed ([`client`]), what the server sends and how it is encoded ([`server`]). The
//! rest of the server hands values here and gets text back; nothing else writes a frame's JSON.

pub mod client;
pub mod server;

pub use client::{
    ClientFrame, INVALID_CHARACTER, MAX_CLIENT_ID_BYTES, ProtocolError, parse_client_frame,
};
pub use server::{ServerFrame, message_frame};

/// The WebSocket subprotocol a client asks for to receive chatweb's richer frames (deletions, tombstones).
/// Without it a client gets only what the Channels chat protocol can print: message frames, and acks and
/// errors for its own sends.
pub const V2_PROTOCOL: &str = "chatweb.v2";
