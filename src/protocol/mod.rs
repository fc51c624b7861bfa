//! The wire protocol of the chat socket, in one place (docs/PROTOCOL.md is the reference): what a client
//! sends and how it is parsed ([`client`]), what the server sends and how it is encoded ([`server`], and
//! [`answers`] for the frames that answer the client's own). The rest of the server hands values here and
//! gets text back; nothing else writes a frame's JSON, and every `error` frame's code is an [`ErrorCode`].

pub mod answers;
pub mod client;
pub mod server;

use std::fmt;

use serde::Serialize;

pub use client::{ClientFrame, MAX_CLIENT_ID_BYTES, ProtocolError, parse_client_frame};
pub use server::{ServerFrame, message_frame};

/// The WebSocket subprotocol a client asks for to receive chatweb's richer frames (deletions, tombstones).
/// Without it a client gets only what the Channels chat protocol can print: message frames, and acks and
/// errors for its own sends.
pub const V2_PROTOCOL: &str = "chatweb.v2";

/// Why a frame was refused or an operation failed: the `code` of every `error` frame (docs/PROTOCOL.md,
/// "error"), stable, so clients may match on it. serde writes it (snake_case); nothing else spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON.
    InvalidJson,
    /// JSON, but not an object.
    InvalidFrame,
    /// No `message`, or `message` is not a string.
    MissingMessage,
    /// `message` is empty or white space only.
    EmptyMessage,
    /// `message` is over the size limit.
    MessageTooLong,
    /// `client_id` is not a string of 1 to 64 bytes.
    InvalidClientId,
    /// A text or a `client_id` holds U+0000, which no store can keep (PostgreSQL refuses it in text).
    InvalidCharacter,
    /// A resume without a non-negative integer `since`.
    InvalidSince,
    /// `type` names no frame.
    UnknownType,
    /// An edit, delete or read without a positive integer `id`.
    InvalidId,
    /// No such message (or person to lift a sanction from).
    NotFound,
    /// Not the sender's to do.
    Forbidden,
    /// The sender is muted in the room.
    Muted,
    /// The sender was banned from the room.
    Banned,
    /// Slow mode: the sender's last message was too recent.
    SlowMode,
    /// A moderation command naming no usable person.
    InvalidUser,
    /// A moderation command whose `seconds` is missing or out of bounds.
    InvalidSeconds,
    /// A read frame from a guest.
    LoginRequired,
    /// A binary frame.
    BinaryNotSupported,
    /// The room is read-only.
    RoomLocked,
    /// The message could not be stored; it may be sent again.
    StoreUnavailable,
    /// The database refused this message; sending it again unchanged fails again.
    MessageRefused,
    /// The server is stopping and did not take the message.
    ShuttingDown,
    /// The server stopped before it knew whether the message was stored.
    OutcomeUnknown,
    /// The server cannot deliver right now (the socket closes with 1011).
    Unavailable,
    /// A limit held the frame back.
    RateLimited,
    /// A reaction that is not one emoji.
    InvalidEmoji,
    /// The message has as many distinct reactions as it may.
    TooManyReactions,
    /// The room has as many pins as it may.
    TooManyPins,
    /// A topic longer than allowed.
    InvalidTopic,
    /// `files` is not a list of at most 10 upload ids.
    InvalidFiles,
    /// A file of `files` is not an upload of the sender's to this room waiting to be attached.
    FileNotFound,
}

impl ErrorCode {
    /// Every code, in the order of docs/PROTOCOL.md's table.
    pub const ALL: [Self; 32] = [
        Self::InvalidJson,
        Self::InvalidFrame,
        Self::MissingMessage,
        Self::EmptyMessage,
        Self::MessageTooLong,
        Self::InvalidClientId,
        Self::InvalidCharacter,
        Self::InvalidSince,
        Self::UnknownType,
        Self::InvalidId,
        Self::NotFound,
        Self::Forbidden,
        Self::Muted,
        Self::Banned,
        Self::SlowMode,
        Self::InvalidUser,
        Self::InvalidSeconds,
        Self::LoginRequired,
        Self::BinaryNotSupported,
        Self::RoomLocked,
        Self::StoreUnavailable,
        Self::MessageRefused,
        Self::ShuttingDown,
        Self::OutcomeUnknown,
        Self::Unavailable,
        Self::RateLimited,
        Self::InvalidEmoji,
        Self::TooManyReactions,
        Self::TooManyPins,
        Self::InvalidTopic,
        Self::InvalidFiles,
        Self::FileNotFound,
    ];

    /// The code as the wire spells it (serde writes the same: a unit test holds the two together), for
    /// logs and for callers that hold codes as text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidFrame => "invalid_frame",
            Self::MissingMessage => "missing_message",
            Self::EmptyMessage => "empty_message",
            Self::MessageTooLong => "message_too_long",
            Self::InvalidClientId => "invalid_client_id",
            Self::InvalidCharacter => "invalid_character",
            Self::InvalidSince => "invalid_since",
            Self::UnknownType => "unknown_type",
            Self::InvalidId => "invalid_id",
            Self::NotFound => "not_found",
            Self::Forbidden => "forbidden",
            Self::Muted => "muted",
            Self::Banned => "banned",
            Self::SlowMode => "slow_mode",
            Self::InvalidUser => "invalid_user",
            Self::InvalidSeconds => "invalid_seconds",
            Self::LoginRequired => "login_required",
            Self::BinaryNotSupported => "binary_not_supported",
            Self::RoomLocked => "room_locked",
            Self::StoreUnavailable => "store_unavailable",
            Self::MessageRefused => "message_refused",
            Self::ShuttingDown => "shutting_down",
            Self::OutcomeUnknown => "outcome_unknown",
            Self::Unavailable => "unavailable",
            Self::RateLimited => "rate_limited",
            Self::InvalidEmoji => "invalid_emoji",
            Self::TooManyReactions => "too_many_reactions",
            Self::TooManyPins => "too_many_pins",
            Self::InvalidTopic => "invalid_topic",
            Self::InvalidFiles => "invalid_files",
            Self::FileNotFound => "file_not_found",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_written_as_docs_protocol_lists_it() {
        // docs/PROTOCOL.md, "error", row by row.
        let table = [
            "invalid_json",
            "invalid_frame",
            "missing_message",
            "empty_message",
            "message_too_long",
            "invalid_client_id",
            "invalid_character",
            "invalid_since",
            "unknown_type",
            "invalid_id",
            "not_found",
            "forbidden",
            "muted",
            "banned",
            "slow_mode",
            "invalid_user",
            "invalid_seconds",
            "login_required",
            "binary_not_supported",
            "room_locked",
            "store_unavailable",
            "message_refused",
            "shutting_down",
            "outcome_unknown",
            "unavailable",
            "rate_limited",
            "invalid_emoji",
            "too_many_reactions",
            "too_many_pins",
            "invalid_topic",
            "invalid_files",
            "file_not_found",
        ];
        for (code, text) in ErrorCode::ALL.into_iter().zip(table) {
            assert_eq!(serde_json::to_value(code).expect("json"), text);
            assert_eq!((code.as_str(), code.to_string()), (text, text.to_owned()));
            assert!(table.contains(&code.as_str()));
        }
    }
}
