//! What the bench reads from `/proc`: a process's resident memory (`VmRSS`, and its peak `VmHWM`) from
//! `/proc/<pid>/status`, its CPU time (utime + stime) from `/proc/<pid>/stat`, and this process's open-file
//! limit from `/proc/self/limits`. Linux only, and no libc: the clock tick is the kernel's usual 100 Hz.

use anyhow::{Context, bail};

/// `sysconf(_SC_CLK_TCK)` on Linux for every architecture the bench runs on.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Which process to read: `self` or a pid.
#[derive(Clone, Copy, Debug)]
pub enum Proc {
    /// The bench itself.
    This,
    /// Another process (a server the bench spawned).
    Pid(u32),
}

impl Proc {
    fn path(self, file: &str) -> String {
        match self {
            Self::This => format!("/proc/self/{file}"),
            Self::Pid(pid) => format!("/proc/{pid}/{file}"),
        }
    }

    /// Whether the process runs: it exists and is not a zombie waiting to be reaped.
    pub fn running(self) -> bool {
        let Ok(stat) = std::fs::read_to_string(self.path("stat")) else {
            return false;
        };
        // The state is the first field after the command name, which is in parentheses.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        !matches!(state, None | Some("Z" | "X"))
    }

    /// Resident set size now, in KiB.
    pub fn rss_kb(self) -> anyhow::Result<u64> {
        self.status_kb("VmRSS:")
    }

    /// The largest resident set size so far, in KiB.
    pub fn peak_rss_kb(self) -> anyhow::Result<u64> {
        self.status_kb("VmHWM:")
    }

    fn status_kb(self, field: &str) -> anyhow::Result<u64> {
        let path = self.path("status");
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let line = status
            .lines()
            .find(|l| l.starts_with(field))
            .with_context(|| format!("no {field} in {path}"))?;
        let kb = line
            .trim_start_matches(field)
            .trim()
            .trim_end_matches("kB")
            .trim();
        kb.parse()
            .with_context(|| format!("parsing {field} {kb:?} in {path}"))
    }

    /// User plus system CPU time so far, in seconds (all threads).
    pub fn cpu_secs(self) -> anyhow::Result<f64> {
        let path = self.path("stat");
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        // Field 2 (the command name) is in parentheses and may hold spaces: count from the last ')'.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .with_context(|| format!("malformed {path}"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
        let ticks = |n: usize| -> anyhow::Result<u64> {
            fields
                .get(n - 3)
                .with_context(|| format!("{path} has no field {n}"))?
                .parse::<u64>()
                .with_context(|| format!("parsing field {n} of {path}"))
        };
        Ok((ticks(14)? + ticks(15)?) as f64 / CLOCK_TICKS_PER_SECOND)
    }
}

/// The soft limit on open files of this process.
pub fn open_file_limit() -> anyhow::Result<u64> {
    let limits =
        std::fs::read_to_string("/proc/self/limits").context("reading /proc/self/limits")?;
    let Some(line) = limits.lines().find(|l| l.starts_with("Max open files")) else {
        bail!("no \"Max open files\" line in /proc/self/limits");
    };
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()
        .context("no soft limit in /proc/self/limits")?;
    if soft == "unlimited" {
        return Ok(u64::MAX);
    }
    soft.parse()
        .with_context(|| format!("parsing the open-file limit {soft:?}"))
}

/// Fails unless this process may open `needed` more files (sockets) than a small reserve.
pub fn check_open_files(needed: u64) -> anyhow::Result<()> {
    let limit = open_file_limit()?;
    if needed.saturating_add(100) > limit {
        bail!(
            "{needed} connections need about {} open files in this process (and as many in the server), \
             but the open-file limit is {limit} (see `ulimit -n`); use fewer connections or raise the limit",
            needed + 100
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_read() {
        assert!(Proc::This.rss_kb().expect("rss") > 0);
        assert!(Proc::This.peak_rss_kb().expect("hwm") >= Proc::This.rss_kb().expect("rss") / 2);
        assert!(Proc::This.cpu_secs().expect("cpu") >= 0.0);
        assert!(open_file_limit().expect("limit") > 0);
        assert!(Proc::This.running());
        assert!(!Proc::Pid(u32::MAX).running());
    }
}
