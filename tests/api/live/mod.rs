//! The live room over the socket (issue 9): presence, typing, edits, deletions and read marks for
//! `chatweb.v2` clients, and the plain Channels client that must see none of the new frames.

mod cluster;
mod edits;
mod presence;

use std::net::SocketAddr;

use crate::helpers::Client;
use crate::people::socket;

/// A `chatweb.v2` guest socket named `nickname`.
pub async fn v2_guest(addr: SocketAddr, path: &str, nickname: &str) -> Client {
    socket(
        addr,
        path,
        &[
            ("origin", format!("http://{addr}")),
            ("cookie", format!("chatweb_nickname={nickname}")),
        ],
        true,
    )
    .await
    .expect("handshake accepted")
}
