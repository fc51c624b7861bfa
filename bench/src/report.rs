//! Turning raw measurements into results: latency percentiles, rates, CPU deltas, and the progress bar
//! shown on stderr (only when stderr is a terminal, and only once a run has lasted two seconds).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::procfs::Proc;

/// One server's results in a scenario.
pub struct Outcome {
    /// The figures, as they appear in the JSON line.
    pub fields: serde_json::Map<String, Value>,
    /// The figure compared across servers (deliveries/s, cycles/s, KB per connection).
    pub headline: Option<f64>,
    /// False when the run lost, duplicated, reordered or failed anything.
    pub clean: bool,
}

/// Runs shorter than this get no progress bar.
const BAR_AFTER: Duration = Duration::from_secs(2);

/// p50, p99 and max of `micros`, in milliseconds (null when there are none).
pub fn latency_ms(mut micros: Vec<u32>) -> Value {
    if micros.is_empty() {
        return json!({ "p50": null, "p99": null, "max": null });
    }
    micros.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
        round3(f64::from(micros[rank - 1]) / 1000.0)
    };
    json!({ "p50": at(0.50), "p99": at(0.99), "max": at(1.0) })
}

/// `x` rounded to three decimals, for readable JSON.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `count` per second over `elapsed` (0 when nothing elapsed).
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        (count as f64 / secs).round()
    } else {
        0.0
    }
}

/// CPU time of the bench and of the server over a measured phase.
pub struct CpuMeter {
    server: Option<Proc>,
    client_start: f64,
    server_start: Option<f64>,
}

impl CpuMeter {
    /// Starts counting now.
    pub fn start(server: Option<Proc>) -> Self {
        Self {
            server,
            client_start: Proc::This.cpu_secs().unwrap_or(0.0),
            server_start: server.and_then(|p| p.cpu_secs().ok()),
        }
    }

    /// `client_cpu_s`, `server_cpu_s` and `server_peak_rss_kb` since the start, added to `out`.
    pub fn stop(&self, out: &mut serde_json::Map<String, Value>) {
        let client = Proc::This.cpu_secs().unwrap_or(0.0) - self.client_start;
        out.insert("client_cpu_s".into(), json!(round3(client)));
        let server = match (self.server, self.server_start) {
            (Some(p), Some(start)) => p.cpu_secs().ok().map(|now| round3(now - start)),
            _ => None,
        };
        out.insert("server_cpu_s".into(), json!(server));
        let peak = self.server.and_then(|p| p.peak_rss_kb().ok());
        out.insert("server_peak_rss_kb".into(), json!(peak));
    }
}

impl CpuMeter {
    /// [`CpuMeter::stop`], plus what the CPU says about the run's bound, for `units` done in `elapsed`:
    /// `client_cores` and `server_cores` (CPU seconds per second), `client_us_per_unit` (the bench's own
    /// cost), `client_ceiling_per_s` (units/s the bench could drive with every core of the machine to
    /// itself), and `bound`: `client` when the bench used most of a saturated machine (the figure says
    /// more about the bench than about the server), `machine` when the server did, `latency` when the
    /// machine had CPU to spare (a serial wait, not CPU, set the pace).
    pub fn stop_rated(
        &self,
        out: &mut serde_json::Map<String, Value>,
        elapsed: Duration,
        units: u64,
    ) {
        self.stop(out);
        let secs = elapsed.as_secs_f64();
        let client = out["client_cpu_s"].as_f64().unwrap_or(0.0);
        let server = out["server_cpu_s"].as_f64();
        if secs <= 0.0 || units == 0 {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let client_cores = client / secs;
        let server_cores = server.map(|s| s / secs);
        let per_unit = client / units as f64;
        out.insert("client_cores".into(), json!(round3(client_cores)));
        out.insert("server_cores".into(), json!(server_cores.map(round3)));
        out.insert("client_us_per_unit".into(), json!(round3(per_unit * 1e6)));
        if per_unit > 0.0 {
            out.insert(
                "client_ceiling_per_s".into(),
                json!((cores / per_unit).round()),
            );
        }
        let used = client_cores + server_cores.unwrap_or(0.0);
        let bound = if used < 0.9 * cores {
            "latency"
        } else if client_cores >= server_cores.unwrap_or(0.0) {
            "client"
        } else {
            "machine"
        };
        out.insert("bound".into(), json!(bound));
    }
}

/// A counter of done units, drawn as a bar on stderr once the run lasts long enough.
pub struct Progress {
    done: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// A bar titled `label` counting up to `total`.
    pub fn start(label: String, total: u64) -> Self {
        let done = Arc::new(AtomicU64::new(0));
        if !std::io::stderr().is_terminal() {
            return Self {
                done,
                stop: None,
                task: None,
            };
        }
        let (stop, mut stopped) = oneshot::channel();
        let counter = done.clone();
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = &mut stopped => return,
                () = tokio::time::sleep(BAR_AFTER) => {}
            }
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix} {elapsed:>4} [{wide_bar}] {human_pos}/{human_len} {per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.set_prefix(label);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => bar.set_position(counter.load(Ordering::Relaxed)),
                }
            }
            bar.finish_and_clear();
        });
        Self {
            done,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The shared counter to add done units to.
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.done.clone()
    }

    /// Clears the bar.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_ranks() {
        let v: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        let l = latency_ms(v);
        assert_eq!(l["p50"], 50.0);
        assert_eq!(l["p99"], 99.0);
        assert_eq!(l["max"], 100.0);
        assert_eq!(latency_ms(vec![1500])["p99"], 1.5);
        assert!(latency_ms(Vec::new())["p50"].is_null());
    }
}
