//! Requests to URLs that someone else chose: push services' endpoints (a browser's subscription) and
//! outgoing webhooks' receivers (a room owner's). Such a URL is a door into the server's own network
//! (SSRF), so every one passes [`Outbound::check`] when it is given and again (through the resolver) each
//! time it is asked:
//! - `https` only; plain `http` only to a listed host that is loopback (a test's own receiver);
//! - with [`Reach::OnlyListed`] (push) only the listed hosts; with [`Reach::AnyPublic`] (webhooks) any
//!   host whose addresses are all public, and the listed ones whatever their addresses;
//! - a name is resolved and then checked: a private, loopback, link-local, shared (CGNAT), multicast or
//!   unspecified address is refused unless the host is listed. The client's resolver applies the same
//!   rule when it connects, so a name that resolves elsewhere later (DNS rebinding) still cannot reach in;
//! - no redirect is followed.
//!
//! A list entry is `host` (any port) or `host:port` (that port only); `*.example.com` lists every
//! subdomain of example.com, whose addresses must still be public (a name a third party can point
//! anywhere is not trusted with the network inside).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why a URL may not be asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// Not an absolute URL with a host.
    #[error("not an absolute URL with a host")]
    InvalidUrl,
    /// A scheme other than https (or http to a listed loopback host).
    #[error("only https URLs are accepted")]
    NotHttps,
    /// Not on the list, where only listed hosts are reached.
    #[error("{0} is not one of the allowed hosts")]
    HostNotAllowed(String),
    /// Resolves to (or is) an address inside a private network, and is not listed.
    #[error("{0} is a private, loopback or link-local address")]
    PrivateAddress(String),
    /// The name did not resolve.
    #[error("{0} could not be resolved")]
    Unresolvable(String),
}

impl OutboundError {
    /// A stable code for API answers.
    pub fn code(&self) -> &'static str {
        match self {
            OutboundError::InvalidUrl => "invalid_url",
            OutboundError::NotHttps => "not_https",
            OutboundError::HostNotAllowed(_) => "host_not_allowed",
            OutboundError::PrivateAddress(_) => "private_address",
            OutboundError::Unresolvable(_) => "unresolvable",
        }
    }
}

/// One entry of a host list: a name or address, and maybe a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    host: String,
    port: Option<u16>,
}

impl HostRule {
    fn matches(&self, host: &str, port: u16) -> bool {
        let name = match self.host.strip_prefix("*.") {
            // `*.example.com`: any subdomain of example.com (not example.com itself).
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => self.host == host,
        };
        name && self.port.is_none_or(|p| p == port)
    }
}

impl FromStr for HostRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim().to_ascii_lowercase();
        let bad = || format!("{text:?} is not `host` or `host:port`");
        // `[v6]:port`, `[v6]`, `host:port`, `host` (a bare IPv6 address has more than one colon).
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after.strip_prefix(':') {
                Some(port) => (host.to_owned(), Some(port)),
                None if after.is_empty() => (host.to_owned(), None),
                None => return Err(bad()),
            }
        } else if text.matches(':').count() == 1 {
            let (host, port) = text.split_once(':').ok_or_else(bad)?;
            (host.to_owned(), Some(port))
        } else {
            (text.clone(), None)
        };
        if host.is_empty() || host.contains('/') || host.contains('@') {
            return Err(bad());
        }
        let port = port
            .map(|p| p.parse::<u16>().map_err(|_| bad()))
            .transpose()?;
        Ok(HostRule { host, port })
    }
}

impl fmt::Display for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => write!(f, "{host}:{port}"),
            None => write!(f, "{host}"),
        }
    }
}

/// Which hosts may be asked at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Only the listed hosts (push services).
    OnlyListed,
    /// Any host with public addresses, and the listed ones (webhook receivers).
    AnyPublic,
}

/// Whether `ip` is reachable from the public internet (not loopback, private, link-local, shared address
/// space, multicast, unspecified, broadcast or documentation), IPv4-mapped IPv6 judged as its IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10, carrier-grade NAT
    let this_network = a == 0;
    let reserved = a >= 240;
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || shared
        || this_network
        || reserved)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00; // fc00::/7
    let link_local = first & 0xffc0 == 0xfe80; // fe80::/10
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8;
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || unique_local
        || link_local
        || documentation)
}

/// The host list and the rule for the rest.
#[derive(Debug)]
struct Policy {
    hosts: Vec<HostRule>,
    reach: Reach,
}

impl Policy {
    fn listed(&self, host: &str, port: u16) -> bool {
        self.hosts.iter().any(|rule| rule.matches(host, port))
    }

    /// Listed under any port: what the resolver can tell (it is not given the port). A `*.` entry never
    /// counts here: its hosts are allowed, but only at public addresses.
    fn listed_name(&self, host: &str) -> bool {
        self.hosts.iter().any(|rule| rule.host == host)
    }
}

/// The client's resolver: the system's, with non-public addresses dropped for hosts not listed.
struct GuardedResolver(Arc<Policy>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let listed = policy.listed_name(&host);
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| listed || is_public(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(OutboundError::PrivateAddress(host)) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// An HTTP client for URLs someone else chose, and the check they pass.
#[derive(Clone)]
pub struct Outbound {
    policy: Arc<Policy>,
    client: reqwest::Client,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// A client that asks nothing for longer than `timeout` and follows no redirect.
    pub fn new(
        hosts: Vec<HostRule>,
        reach: Reach,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(Policy { hosts, reach });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(GuardedResolver(policy.clone()))
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .user_agent(concat!("chatweb/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Outbound { policy, client })
    }

    /// The client, for URLs that passed [`Outbound::check`].
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `url` parsed, if it may be asked (see the module's rules); resolves its host when not listed.
    pub async fn check(&self, url: &str) -> Result<Url, OutboundError> {
        let url = Url::parse(url).map_err(|_| OutboundError::InvalidUrl)?;
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(OutboundError::InvalidUrl),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::InvalidUrl);
        }
        let port = url
            .port_or_known_default()
            .ok_or(OutboundError::InvalidUrl)?;
        let listed = self.policy.listed(&host, port);
        let literal = host.parse::<IpAddr>().ok();
        match url.scheme() {
            "https" => {}
            "http" if listed && is_loopback_host(&host, literal) => {}
            _ => return Err(OutboundError::NotHttps),
        }
        // Listed by name: any address. Matched by a `*.` entry only: its addresses are checked below.
        if listed && self.policy.listed_name(&host) {
            return Ok(url);
        }
        if !listed && self.policy.reach == Reach::OnlyListed {
            return Err(OutboundError::HostNotAllowed(host));
        }
        let addrs: Vec<IpAddr> = match literal {
            Some(ip) => vec![ip],
            None => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|_| OutboundError::Unresolvable(host.clone()))?
                .map(|addr| addr.ip())
                .collect(),
        };
        if addrs.is_empty() {
            return Err(OutboundError::Unresolvable(host));
        }
        if addrs.iter().any(|ip| !is_public(*ip)) {
            return Err(OutboundError::PrivateAddress(host));
        }
        Ok(url)
    }
}

fn is_loopback_host(host: &str, literal: Option<IpAddr>) -> bool {
    match literal {
        Some(ip) => ip.is_loopback(),
        None => host == "localhost",
    }
}

/// Parses a comma-separated host list (a flag's value).
pub fn parse_hosts(text: &str) -> Result<Vec<HostRule>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(HostRule::from_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbound(hosts: &str, reach: Reach) -> Outbound {
        Outbound::new(
            parse_hosts(hosts).expect("hosts"),
            reach,
            Duration::from_secs(5),
        )
        .expect("client")
    }

    #[test]
    fn host_rules_parse_names_ports_and_v6() {
        let rules = parse_hosts("fcm.googleapis.com, 127.0.0.1:8443,[::1]:90,[fe80::1], ::1")
            .expect("hosts");
        let shown: Vec<String> = rules.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "fcm.googleapis.com",
                "127.0.0.1:8443",
                "[::1]:90",
                "[fe80::1]",
                "[::1]"
            ]
        );
        assert!(parse_hosts("a:b").is_err());
        assert!(parse_hosts("user@host").is_err());
        assert!(parse_hosts("host/path").is_err());
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "142.250.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[tokio::test]
    async fn only_listed_hosts_and_https_unless_loopback_listed() {
        let push = outbound("fcm.googleapis.com,127.0.0.1:9000", Reach::OnlyListed);
        assert!(
            push.check("https://fcm.googleapis.com/fcm/send/x")
                .await
                .is_ok()
        );
        assert_eq!(
            push.check("http://fcm.googleapis.com/x").await,
            Err(OutboundError::NotHttps)
        );
        assert!(push.check("http://127.0.0.1:9000/push/1").await.is_ok());
        // Another port of a host listed with one is not listed.
        assert_eq!(
            push.check("https://127.0.0.1:9001/").await,
            Err(OutboundError::HostNotAllowed("127.0.0.1".into()))
        );
        assert_eq!(
            push.check("https://evil.example/").await,
            Err(OutboundError::HostNotAllowed("evil.example".into()))
        );
        assert_eq!(
            push.check("not a url").await,
            Err(OutboundError::InvalidUrl)
        );
        assert_eq!(
            push.check("https://user:pw@fcm.googleapis.com/").await,
            Err(OutboundError::InvalidUrl)
        );
    }

    #[tokio::test]
    async fn wildcards_list_subdomains_at_public_addresses_only() {
        let push = outbound("*.notify.windows.com", Reach::OnlyListed);
        let rule: HostRule = "*.notify.windows.com".parse().expect("rule");
        assert!(rule.matches("wns2-par02p.notify.windows.com", 443));
        assert!(!rule.matches("notify.windows.com", 443));
        assert!(!rule.matches("evilnotify.windows.com", 443));
        assert_eq!(
            push.check("https://notify.windows.com.evil.example/").await,
            Err(OutboundError::HostNotAllowed(
                "notify.windows.com.evil.example".into()
            ))
        );
        // A subdomain that is (or resolves to) a private address is still refused.
        let local = outbound("*.localhost", Reach::OnlyListed);
        assert!(matches!(
            local.check("https://a.localhost/").await,
            Err(OutboundError::PrivateAddress(_) | OutboundError::Unresolvable(_))
        ));
    }

    #[tokio::test]
    async fn any_public_refuses_private_addresses_not_listed() {
        let hooks = outbound("127.0.0.1:7000", Reach::AnyPublic);
        for url in [
            "https://10.0.0.1/hook",
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:10.0.0.1]/",
            "https://localhost/hook",
        ] {
            assert!(
                matches!(
                    hooks.check(url).await,
                    Err(OutboundError::PrivateAddress(_))
                ),
                "{url}"
            );
        }
        assert_eq!(
            hooks.check("http://10.0.0.1/hook").await,
            Err(OutboundError::NotHttps)
        );
        assert!(hooks.check("http://127.0.0.1:7000/hook").await.is_ok());
        assert!(hooks.check("https://8.8.8.8/hook").await.is_ok());
    }
}
