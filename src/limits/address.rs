//! Who the client is on the network: the peer's address, or, when the peer is a proxy named in
//! `--trusted-proxies` (none by default, not even loopback), the address that proxy put in
//! `X-Forwarded-For`. Walking the header from its right
//! end, each entry added by a trusted proxy is skipped, so a chain of trusted proxies (a load balancer in
//! front of nginx) still yields the client, while anything the client wrote itself further left is never
//! believed.
//!
//! Limits count per [`AddressKey`]: an IPv4 address, or the /64 network of an IPv6 one (one subscriber
//! usually holds a whole /64, so counting single IPv6 addresses would limit nothing).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` entries are believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `--trusted-proxies` entries: IP addresses or CIDR ranges. No entries (the default), or
    /// `none`, trusts no one.
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        let mut nets = Vec::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if entry.eq_ignore_ascii_case("none") {
                continue;
            }
            let net = match IpNet::from_str(entry) {
                Ok(net) => net,
                Err(_) => IpAddr::from_str(entry).map(IpNet::from).map_err(|_| {
                    anyhow::anyhow!(
                        "--trusted-proxies: {entry:?} is not an IP address or a CIDR range \
                         (like 10.0.0.0/8)"
                    )
                })?,
            };
            nets.push(net.trunc());
        }
        Ok(Self(nets))
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: `peer`, or the first `X-Forwarded-For` entry from the right that was not
    /// added by a trusted proxy. An entry that is not an address stops the walk at the last good one.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let values: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        // Several headers count as one list, in order.
        for entry in values.iter().rev().flat_map(|v| v.rsplit(',')) {
            let Some(hop) = parse_hop(entry) else { break };
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`, `[2001:db8::1]:80`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = IpAddr::from_str(entry) {
        return Some(ip.to_canonical());
    }
    std::net::SocketAddr::from_str(entry)
        .ok()
        .map(|s| s.ip().to_canonical())
}

/// What limits per address count by: an IPv4 address, or an IPv6 address's /64 network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressKey(IpAddr);

impl AddressKey {
    /// The key of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
        }
    }

    /// The key used when the peer's address is unknown (a router served without connection info).
    pub fn unknown() -> Self {
        Self(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

impl std::fmt::Display for AddressKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn no_proxy_is_trusted_by_default_not_even_loopback() {
        let proxies = TrustedProxies::parse(&[]).expect("parse");
        let forged = headers(&["203.0.113.9"]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &forged), ip("127.0.0.1"));
        assert_eq!(proxies.client(ip("::1"), &forged), ip("::1"));
    }

    #[test]
    fn a_listed_loopback_proxy_is_trusted_and_nothing_else() {
        let proxies = TrustedProxies::parse(&["127.0.0.0/8".into(), "::1".into()]).expect("parse");
        let forwarded = headers(&["203.0.113.9"]);
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &forwarded),
            ip("203.0.113.9")
        );
        assert_eq!(proxies.client(ip("::1"), &forwarded), ip("203.0.113.9"));
        // A client cannot name itself: its peer address is not a trusted proxy.
        assert_eq!(
            proxies.client(ip("198.51.100.4"), &forwarded),
            ip("198.51.100.4")
        );
        // A proxy that adds nothing: the proxy is the client.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_walk_skips_trusted_hops_and_never_believes_the_client() {
        let proxies =
            TrustedProxies::parse(&["10.0.0.0/8".into(), " 127.0.0.1 ".into()]).expect("parse");
        // client-written junk, the real client, then a trusted load balancer
        let forwarded = headers(&["6.6.6.6, 203.0.113.9", "10.1.2.3"]);
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &forwarded),
            ip("203.0.113.9")
        );
        let ported = headers(&["[2001:db8::5]:443"]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &ported), ip("2001:db8::5"));
        // Garbage stops the walk at the last good hop.
        let junk = headers(&["not-an-ip, 10.9.9.9"]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &junk), ip("10.9.9.9"));
    }

    #[test]
    fn none_trusts_no_one_and_bad_entries_are_refused() {
        let proxies = TrustedProxies::parse(&["none".into()]).expect("parse");
        assert!(!proxies.trusts(ip("127.0.0.1")));
        let error = TrustedProxies::parse(&["10.0.0.0/33".into()]).expect_err("bad");
        assert!(error.to_string().contains("10.0.0.0/33"));
        assert!(TrustedProxies::parse(&["example.org".into()]).is_err());
        // IPv4-mapped peers (a dual-stack socket) are their IPv4 address.
        let loopback = TrustedProxies::parse(&["127.0.0.0/8".into()]).expect("parse");
        assert!(loopback.trusts(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_network() {
        assert_eq!(
            AddressKey::of(ip("2001:db8:1:2::1")),
            AddressKey::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            AddressKey::of(ip("2001:db8:1:2::1")),
            AddressKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            AddressKey::of(ip("::ffff:192.0.2.1")),
            AddressKey::of(ip("192.0.2.1"))
        );
        assert_eq!(
            AddressKey::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
    }
}
