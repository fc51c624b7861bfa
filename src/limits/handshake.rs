//! [`Admission`]: the extractor a WebSocket handshake takes first. It resolves the client's address
//! ([`ClientIp`]), counts the handshake against the address's rate and takes one of its open-connection
//! slots; over either limit the handshake is answered 429 before any other work (no session lookup, no
//! upgrade).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::address::AddressKey;
use super::open::Slot;
use super::refusal::Refusal;
use crate::state::AppState;

/// The client's address: the peer, or when the peer is a proxy named in `--trusted-proxies` (default:
/// loopback), the client it put in `X-Forwarded-For` (see [`TrustedProxies`](super::TrustedProxies)).
/// `None` only without connection info (a router served without it). The one extractor of the client's
/// address: login throttling and every limit per address use it.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self(state.limits.client_address(peer, &parts.headers)))
    }
}

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
