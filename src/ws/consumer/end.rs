//! Why a connection ended: each way out of the connection's loop, and what `closing.rs` tells the peer
//! for it.

use crate::storage::StoreError;

/// Why a connection ended.
#[derive(Debug)]
pub(super) enum End {
    /// The client closed or went away.
    PeerClosed,
    /// The node is stopping.
    Shutdown,
    /// The peer did not answer a ping or take a write in time.
    Unresponsive,
    /// Reading or writing the socket failed.
    Socket(tokio_tungstenite::tungstenite::Error),
    /// The store could not be read; the client may come back with `since`.
    Store(StoreError),
    /// The channel layer refused the subscription or closed.
    Layer(String),
    /// The client's credential was revoked; close with this code.
    Revoked(u16),
    /// A moderator banned or kicked the client's person from the room; close with this code.
    Moderated(u16),
}
