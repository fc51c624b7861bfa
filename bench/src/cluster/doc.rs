//! The run's table: one row per fault, printed, and written into docs/RELIABILITY.md between two markers
//! (the section is replaced, the rest of the file kept), with the date, the command and the binary.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::tally::Report;

/// Where the harness's section begins and ends.
const BEGIN: &str =
    "<!-- cluster-run:begin (written by chatweb-bench cluster; edits here are replaced) -->";
const END: &str = "<!-- cluster-run:end -->";

/// One fault's row.
pub struct Row {
    /// The fault's name.
    pub fault: String,
    /// What the clients saw.
    pub report: Report,
    /// The largest RSS any node had during the run, in MiB.
    pub max_rss_mb: f64,
    /// Why it failed; empty when it passed.
    pub failures: Vec<String>,
    /// WARN and ERROR lines each node had logged by the end of this fault (cumulative).
    pub logs: String,
    /// What PostgreSQL showed during the fault and until the clients were done.
    pub database: String,
}

fn seconds(s: Option<f64>) -> String {
    s.map_or_else(|| "never".into(), |s| format!("{s:.1}"))
}

fn millis(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".into(), |ms| format!("{ms:.0}"))
}

/// The Markdown table, with the failures' reasons and each row's error answers under it.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| fault | acked | lost | duplicated | reordered | unanswered | converged (s) | p99 during, uncut nodes (ms) | max RSS (MiB) | verdict |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for row in rows {
        let r = &row.report;
        let p99 = if r.sends_during_unaffected > 0 {
            millis(r.p99_during_ms)
        } else {
            format!("(all cut: {})", millis(r.p99_during_all_ms))
        };
        let verdict = if row.failures.is_empty() {
            "pass"
        } else {
            "**FAIL**"
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} |",
            row.fault,
            r.acked,
            r.lost,
            r.duplicated,
            r.reordered,
            r.unanswered,
            seconds(r.converge_s),
            p99,
            row.max_rss_mb,
            verdict
        );
    }
    out.push('\n');
    for row in rows {
        let r = &row.report;
        let mut notes = Vec::new();
        if !row.failures.is_empty() {
            notes.push(format!("failed: {}", row.failures.join("; ")));
        }
        if !r.errors.is_empty() {
            let codes: Vec<String> = r.errors.iter().map(|(c, n)| format!("{c} {n}")).collect();
            notes.push(format!("error answers: {}", codes.join(", ")));
        }
        notes.push(format!(
            "{} sends, {} reconnects, {} resends, all answered after {} s, slowest answer {} ms",
            r.sends,
            r.reconnects,
            r.resends,
            seconds(r.answered_s),
            millis(r.max_answer_ms)
        ));
        notes.push(format!("database: {}", row.database));
        notes.push(format!("node logs so far: {}", row.logs));
        let _ = writeln!(out, "- `{}`: {}.", row.fault, notes.join("; "));
    }
    out
}

/// Replaces the harness's section of `path` (or appends one) with `body`.
pub fn write_section(path: &Path, body: &str) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let section = format!("{BEGIN}\n{body}{END}");
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(begin), Some(end)) if end > begin => {
            format!("{}{section}{}", &old[..begin], &old[end + END.len()..])
        }
        _ if old.is_empty() => format!("# Reliability\n\n{section}\n"),
        _ => format!("{}\n{section}\n", old.trim_end()),
    };
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_replaced_and_the_rest_kept() {
        let dir = std::env::temp_dir().join(format!("cwc-doc-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("R.md");
        std::fs::write(&path, "# R\n\nintro\n").expect("write");
        write_section(&path, "one\n").expect("first");
        write_section(&path, "two\n").expect("second");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("# R\n\nintro\n"), "{text}");
        assert!(text.contains("two\n") && !text.contains("one\n"), "{text}");
        assert_eq!(text.matches(BEGIN).count(), 1, "{text}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
