//! [`Admission`]: the extractor a WebSocket handshake takes first. It resolves the client's address
//! ([`ClientIp`]), counts the handshake against the address's rate and takes one of its open-connection
//! slots; over either limit the handshake is answered 429 before any other work (no session lookup, no
//! upgrade).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::address::{AddressKey, ClientIp};
use super::open::Slot;
use super::refusal::Refusal;
use crate::state::AppState;

/// A handshake let through: the client's address and its connection's slot (`None` when uncounted).
pub struct Admission {
    /// What limits per address count this client by.
    pub address: AddressKey,
    /// Held by the connection for its life.
    pub slot: Option<Slot>,
}

impl FromRequestParts<AppState> for Admission {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        let ClientIp(ip) = match ClientIp::from_request_parts(parts, state).await {
            Ok(ip) => ip,
            Err(never) => match never {},
        };
        let address = ip.map_or_else(AddressKey::unknown, AddressKey::of);
        let slot = state.limits.admit(address)?;
        Ok(Self { address, slot })
    }
}
