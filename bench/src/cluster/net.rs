//! The cluster's network, made with `ip` as root: one network namespace per host (`cwc-<pid>-<host>`), two
//! bridges in the root namespace (`cwc-<pid>-bb`, the back network of the nodes, Redis and PostgreSQL;
//! `cwc-<pid>-bf`, the front network of the nodes and the clients), and one veth pair per host and network.
//! Addresses (10.213.1.0/24 back, 10.213.2.0/24 front) exist only inside the namespaces; the root namespace
//! gets none. [`Net`] deletes everything it made when dropped (a namespace takes its veth ends and
//! processes' sockets with it), and [`clean_leftovers`] removes what a killed earlier run left behind.
//!
//! Faults are made here too: a link taken down (`ip link set <veth> down`, a cable pulled), or a silent
//! route between two hosts only (`ip route add <peer>/32 dev sink`, where `sink` is an `ifb` device that
//! drops everything it is given, in both namespaces: packets vanish as in a real partition, neither side gets
//! an error). Without `ifb`, a `blackhole` route stands in (the local sender then gets an error).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// The harness's own private range: 10.213.1.0/24 (back) and 10.213.2.0/24 (front).
const BACK: [u8; 3] = [10, 213, 1];
const FRONT: [u8; 3] = [10, 213, 2];

/// One host of the cluster: a namespace with an address on one or both networks.
#[derive(Clone, Debug)]
pub struct Host {
    /// Short name (`rd`, `pg`, `n1`, `cl`), part of the namespace's and links' names (a link name has at most 15 bytes).
    pub name: String,
    /// The namespace's name: `cwc-<pid>-<name>`.
    pub ns: String,
    /// Its address on the back network (nodes, Redis, PostgreSQL).
    pub back: Option<Ipv4Addr>,
    /// Its address on the front network (nodes and clients).
    pub front: Option<Ipv4Addr>,
}

/// The back network's address (10.213.1.0).
pub fn back_network() -> Ipv4Addr {
    Ipv4Addr::new(BACK[0], BACK[1], BACK[2], 0)
}

/// The front network's address (10.213.2.0).
pub fn front_network() -> Ipv4Addr {
    Ipv4Addr::new(FRONT[0], FRONT[1], FRONT[2], 0)
}

/// Whether `addr` is on the front network (where the clients find the nodes).
pub fn is_front(addr: Ipv4Addr) -> bool {
    addr.octets()[..3] == FRONT
}

/// Everything the harness made on the network; deleted on drop.
pub struct Net {
    prefix: String,
    /// Every host, in the order made.
    pub hosts: Vec<Host>,
    bridges: Vec<String>,
    /// The root-namespace ends of the veth pairs.
    veths: Vec<String>,
    namespaces: Vec<String>,
    /// Whether `ifb` sink devices exist (silent cuts) or `blackhole` routes stand in.
    sinks: bool,
}

/// The prefix of everything this process makes.
pub fn prefix() -> String {
    format!("cwc-{}", std::process::id())
}

/// Runs `ip` with `args`; its stderr becomes the error.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (iproute2)")?;
    if !output.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// `ip`'s standard output.
fn ip_output(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (iproute2)")?;
    if !output.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

impl Net {
    /// Makes the bridges and an empty list of hosts. Fails (nothing left behind) when this process may not
    /// make network namespaces (not root, or no `ip`).
    pub fn new() -> anyhow::Result<Self> {
        let prefix = prefix();
        let mut net = Self {
            bridges: Vec::new(),
            veths: Vec::new(),
            namespaces: Vec::new(),
            hosts: Vec::new(),
            sinks: true,
            prefix,
        };
        for side in ["bb", "bf"] {
            let bridge = format!("{}-{side}", net.prefix);
            ip(&["link", "add", &bridge, "type", "bridge"])
                .context("making a bridge (the cluster needs root and iproute2)")?;
            net.bridges.push(bridge.clone());
            ip(&["link", "set", &bridge, "up"])?;
        }
        Ok(net)
    }

    /// Adds host `name` with its address number `n` on the back and/or front network.
    pub fn add_host(
        &mut self,
        name: &str,
        back: Option<u8>,
        front: Option<u8>,
    ) -> anyhow::Result<Host> {
        let ns = format!("{}-{name}", self.prefix);
        ip(&["netns", "add", &ns]).context("making a network namespace (needs root)")?;
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        let mut host = Host {
            name: name.to_owned(),
            ns: ns.clone(),
            back: None,
            front: None,
        };
        for (n, net, bridge, inner, suffix) in [
            (back, BACK, &self.bridges[0], "back", "b"),
            (front, FRONT, &self.bridges[1], "front", "f"),
        ] {
            let Some(n) = n else { continue };
            let addr = Ipv4Addr::new(net[0], net[1], net[2], n);
            let veth = format!("{}-{name}{suffix}", self.prefix);
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", inner, "netns", &ns,
            ])?;
            self.veths.push(veth.clone());
            ip(&["link", "set", &veth, "master", bridge, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                inner,
            ])?;
            ip(&["-n", &ns, "link", "set", inner, "up"])?;
            if inner == "back" {
                host.back = Some(addr);
            } else {
                host.front = Some(addr);
            }
        }
        if self.sinks && ip(&["-n", &ns, "link", "add", "sink", "type", "ifb"]).is_ok() {
            ip(&["-n", &ns, "link", "set", "sink", "up"])?;
        } else {
            self.sinks = false;
        }
        self.hosts.push(host.clone());
        Ok(host)
    }

    /// How cuts between two hosts are made, for the report.
    pub fn cut_kind(&self) -> &'static str {
        if self.sinks {
            "silent /32 routes to an ifb sink in both namespaces"
        } else {
            "blackhole /32 routes in both namespaces"
        }
    }

    /// Takes `host`'s back-network link down (`up == false`: a cable pulled) or up again; its front
    /// link, to its clients, stays.
    pub fn set_link(&self, host: &Host, up: bool) -> anyhow::Result<()> {
        let veth = format!("{}-{}b", self.prefix, host.name);
        ip(&["link", "set", &veth, if up { "up" } else { "down" }])
    }

    /// Cuts (or, with `cut == false`, heals) the back-network path between `a` and `b` only, in both
    /// directions.
    pub fn set_path(&self, a: &Host, b: &Host, cut: bool) -> anyhow::Result<()> {
        for (from, to) in [(a, b), (b, a)] {
            let to = to.back.context("a host without a back address")?;
            let target = format!("{to}/32");
            let verb = if cut { "add" } else { "del" };
            if self.sinks {
                ip(&["-n", &from.ns, "route", verb, &target, "dev", "sink"])?;
            } else {
                ip(&["-n", &from.ns, "route", verb, "blackhole", &target])?;
            }
        }
        Ok(())
    }
}

impl Drop for Net {
    /// Heals every cut first, so that the sockets of the processes killed here (and of those killed
    /// before) can finish their closing handshakes: a namespace whose socket still retransmits a FIN into
    /// a cut link lives on, with its veth, until TCP gives up. Then the namespaces, veths and bridges go.
    fn drop(&mut self) {
        for veth in &self.veths {
            let _ = ip(&["link", "set", veth, "up"]);
        }
        for ns in &self.namespaces {
            if self.sinks {
                let _ = ip(&["-n", ns, "route", "flush", "dev", "sink"]);
            } else {
                let _ = ip(&["-n", ns, "route", "flush", "type", "blackhole"]);
            }
            kill_processes(ns);
        }
        for ns in &self.namespaces {
            settle(ns);
        }
        for ns in self.namespaces.drain(..).rev() {
            let _ = ip(&["netns", "del", &ns]);
        }
        // Gone with their namespaces already, unless one lingers: then deleting the root end frees them.
        for veth in self.veths.drain(..) {
            let _ = ip(&["link", "del", &veth]);
        }
        for bridge in self.bridges.drain(..) {
            let _ = ip(&["link", "del", &bridge]);
        }
    }
}

/// Kills every process in namespace `ns`.
fn kill_processes(ns: &str) {
    if let Ok(pids) = ip_output(&["netns", "pids", ns]) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }
}

/// Waits (at most 3 s) until no TCP socket of `ns` is open or closing (TIME_WAIT holds no namespace alive).
fn settle(ns: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let ss = [
        "netns",
        "exec",
        ns,
        "ss",
        "-H",
        "-tn",
        "state",
        "connected",
        "exclude",
        "time-wait",
    ];
    while std::time::Instant::now() < deadline {
        let busy = Command::new("ip")
            .args(ss)
            .output()
            .is_ok_and(|o| o.status.success() && o.stdout.iter().any(|b| !b.is_ascii_whitespace()));
        if !busy {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Kills whatever still runs in namespace `ns`, then deletes it.
fn kill_namespace(ns: &str) {
    kill_processes(ns);
    let _ = ip(&["netns", "del", ns]);
}

/// Whether process `pid` exists and is no zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// The pid in a `cwc-<pid>-...` name, when it is one.
fn owner(name: &str) -> Option<u32> {
    name.strip_prefix("cwc-")?.split('-').next()?.parse().ok()
}

/// What the harness may have made: namespaces, links and temporary directories whose name passes `pick`.
fn made(pick: impl Fn(&str) -> bool) -> anyhow::Result<(Vec<String>, Vec<String>, Vec<PathBuf>)> {
    let namespaces = ip_output(&["netns", "list"])?
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|ns| pick(ns))
        .map(str::to_owned)
        .collect();
    // "12: cwc-123-bb: <...": the name, without a veth's "@peer".
    let links = ip_output(&["-o", "link", "show"])?
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .filter_map(|name| name.split('@').next())
        .filter(|name| pick(name))
        .map(str::to_owned)
        .collect();
    let dirs = std::fs::read_dir(std::env::temp_dir())
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| pick(&e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    Ok((namespaces, links, dirs))
}

/// Removes namespaces (with whatever runs in them), links and temporary directories of earlier runs whose
/// harness is gone (a run killed with -9 cannot clean up after itself). Live runs are left alone.
pub fn clean_leftovers() -> anyhow::Result<Vec<String>> {
    let (namespaces, links, dirs) = made(|name| owner(name).is_some_and(|pid| !alive(pid)))?;
    for ns in &namespaces {
        kill_namespace(ns);
    }
    for link in &links {
        let _ = ip(&["link", "del", link]);
    }
    for dir in &dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
    let dirs = dirs.iter().map(|d| d.display().to_string());
    Ok(namespaces.into_iter().chain(links).chain(dirs).collect())
}

/// What this process made and has not removed (empty once a [`Net`] and its cluster are dropped).
pub fn own_leftovers() -> anyhow::Result<Vec<String>> {
    let mine = prefix();
    let (namespaces, links, dirs) = made(|name| {
        name == mine
            || name
                .strip_prefix(&mine)
                .is_some_and(|rest| rest.starts_with('-'))
    })?;
    let dirs = dirs.iter().map(|d| d.display().to_string());
    Ok(namespaces.into_iter().chain(links).chain(dirs).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tell_their_owner() {
        assert_eq!(owner("cwc-123-n1"), Some(123));
        assert_eq!(owner("cwc-77-bb"), Some(77));
        assert_eq!(owner("cwtest-1"), None);
        assert_eq!(owner("cwc-x-1"), None);
    }
}
