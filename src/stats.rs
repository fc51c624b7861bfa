//! Counters an operator watches: open connections, messages, deliveries, catch-ups, refusals. The hot ones
//! are plain atomics owned by the app state (tests read them); `/metrics` is rendered by the `metrics`
//! crate's Prometheus exporter, into which those atomics are mirrored at each scrape. Each node owns its
//! own recorder: none is installed as the process's global, so two nodes in one test process keep
//! separate counts, and other parts register their own counters here ([`Stats::counter`]).

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// Counters of one node.
#[derive(Debug, Default)]
pub struct Stats {
    /// WebSocket connections open now.
    pub connections: AtomicU64,
    /// Chat messages received and accepted for storage.
    pub messages_received: AtomicU64,
    /// Message frames written to sockets (live and replayed).
    pub deliveries: AtomicU64,
    /// Times a connection fell behind the live stream and caught up from the store.
    pub catch_ups: AtomicU64,
    /// Connections that resumed after a `since` (a replay, then live): set beside `store_reads`, it tells
    /// whether the resumes of a reconnect storm shared their reads.
    pub resumes: AtomicU64,
    /// Client frames refused with an error frame.
    pub rejected_frames: AtomicU64,
    /// Connections closed because the peer stopped answering or taking writes.
    pub keepalive_closes: AtomicU64,
    /// Channel layer failures: lost connections, failed or dropped publishes.
    pub layer_errors: AtomicU64,
    /// Store write transactions committed (or failed).
    pub store_writes: AtomicU64,
    /// Total time spent in store write transactions, in microseconds.
    pub store_write_micros: AtomicU64,
    /// Store write transactions that failed.
    pub store_write_errors: AtomicU64,
    /// When (ms since the Unix epoch) the oldest send of the batch the writer is storing was queued; 0
    /// while it stores nothing. With `answering_since_ms`: the oldest unanswered send's age.
    pub storing_since_ms: AtomicU64,
    /// The same for the batch whose senders the completer is answering (after its commit).
    pub answering_since_ms: AtomicU64,
    /// History and catch-up reads of the message store that reached the database (each shared by every
    /// connection that asked the same at once).
    pub store_reads: AtomicU64,
    /// Queries the HTTP API's reads of messages with their aggregates ran (history pages, threads, pins):
    /// a page costs the same number whatever its replies and reactions.
    pub history_queries: AtomicU64,
    /// Rooms in the recent-history cache now.
    pub cache_rooms: AtomicU64,
    /// Bytes the recent-history cache counts now (at most `--cache-bytes`).
    pub cache_bytes: AtomicU64,
    /// Retention runs completed (src/retention/).
    pub retention_runs: AtomicU64,
    /// Rows (messages and events) retention removed.
    pub retention_rows_removed: AtomicU64,
    /// Woken at the end of every completed retention run (what tests await instead of sleeping).
    pub retention_ran: tokio::sync::Notify,
    /// Woken at the end of every pass of the search indexer (what tests await instead of sleeping).
    pub search_indexed: tokio::sync::Notify,
    /// Woken when a thumbnail is made or given up on (what tests await instead of sleeping).
    pub thumbnailed: tokio::sync::Notify,
    /// Woken at the end of every pass of the file janitor (what tests await instead of sleeping).
    pub files_swept: tokio::sync::Notify,
    /// The node's Prometheus registry.
    exporter: Exporter,
}

/// An atomic of [`Stats`] shown as a Prometheus counter of the same value.
struct Mirrored {
    name: &'static str,
    help: &'static str,
    value: fn(&Stats) -> &AtomicU64,
}

/// The counters `/metrics` has always shown, under the same names.
const MIRRORED: [Mirrored; 12] = [
    Mirrored {
        name: "chatweb_messages_received_total",
        help: "Chat messages accepted for storage.",
        value: |s| &s.messages_received,
    },
    Mirrored {
        name: "chatweb_deliveries_total",
        help: "Message frames written to sockets.",
        value: |s| &s.deliveries,
    },
    Mirrored {
        name: "chatweb_catch_ups_total",
        help: "Slow or gapped connections caught up from the store.",
        value: |s| &s.catch_ups,
    },
    Mirrored {
        name: "chatweb_resumes_total",
        help: "Connections that resumed after a since (replay, then live).",
        value: |s| &s.resumes,
    },
    Mirrored {
        name: "chatweb_history_queries_total",
        help: "Queries run by the API's reads of messages with their replies, reactions and pins.",
        value: |s| &s.history_queries,
    },
    Mirrored {
        name: "chatweb_rejected_frames_total",
        help: "Client frames answered with an error frame.",
        value: |s| &s.rejected_frames,
    },
    Mirrored {
        name: "chatweb_keepalive_closes_total",
        help: "Connections closed for not answering pings or taking writes.",
        value: |s| &s.keepalive_closes,
    },
    Mirrored {
        name: "chatweb_layer_errors_total",
        help: "Channel layer failures (lost connections, failed publishes).",
        value: |s| &s.layer_errors,
    },
    Mirrored {
        name: "chatweb_store_write_errors_total",
        help: "Store write transactions that failed.",
        value: |s| &s.store_write_errors,
    },
    Mirrored {
        name: "chatweb_store_reads_total",
        help: "History and catch-up reads that went to the database (shared reads count once).",
        value: |s| &s.store_reads,
    },
    Mirrored {
        name: "chatweb_retention_runs_total",
        help: "Retention runs completed.",
        value: |s| &s.retention_runs,
    },
    Mirrored {
        name: "chatweb_retention_rows_removed_total",
        help: "Messages and events removed by retention.",
        value: |s| &s.retention_rows_removed,
    },
];

/// Seconds a store write transaction took: the histogram's bucket bounds.
const WRITE_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// One node's recorder and the handles of what it mirrors.
struct Exporter {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    mirrored: Vec<Counter>,
    connections: Gauge,
    rooms: Gauge,
    cache_rooms: Gauge,
    cache_bytes: Gauge,
    oldest_unanswered: Gauge,
    write_seconds: Histogram,
}

impl Default for Exporter {
    fn default() -> Self {
        let builder = PrometheusBuilder::new();
        // Bounds that are finite and increasing are always accepted.
        let builder = match builder.set_buckets_for_metric(
            Matcher::Full("chatweb_store_write_seconds".into()),
            &WRITE_BUCKETS,
        ) {
            Ok(with_buckets) => with_buckets,
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let gauge = |name: &'static str, help: &'static str| {
            recorder.describe_gauge(KeyName::from(name), None, help.into());
            recorder.register_gauge(&Key::from_name(name), &METADATA)
        };
        let connections = gauge("chatweb_connections", "Open WebSocket connections.");
        let rooms = gauge("chatweb_rooms", "Rooms with members on this node.");
        let cache_rooms = gauge("chatweb_cache_rooms", "Rooms in the recent-history cache.");
        let cache_bytes = gauge(
            "chatweb_cache_bytes",
            "Bytes the recent-history cache counts against --cache-bytes.",
        );
        let oldest_unanswered = gauge(
            "chatweb_store_oldest_unanswered_seconds",
            "Age of the oldest send the store has not answered yet (0 when none waits): a writer that \
             has stalled shows here.",
        );
        let mirrored = MIRRORED
            .iter()
            .map(|m| register_counter(&recorder, m.name, &[], m.help))
            .collect();
        recorder.describe_histogram(
            KeyName::from("chatweb_store_write_seconds"),
            None,
            "Time spent in store write transactions.".into(),
        );
        let write_seconds =
            recorder.register_histogram(&Key::from_name("chatweb_store_write_seconds"), &METADATA);
        Self {
            recorder,
            handle,
            mirrored,
            connections,
            rooms,
            cache_rooms,
            cache_bytes,
            oldest_unanswered,
            write_seconds,
        }
    }
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}

fn register_counter(
    recorder: &PrometheusRecorder,
    name: &'static str,
    labels: &[(&'static str, &'static str)],
    help: &'static str,
) -> Counter {
    recorder.describe_counter(KeyName::from(name), None, help.into());
    let labels: Vec<Label> = labels.iter().map(|(k, v)| Label::new(*k, *v)).collect();
    recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
}

impl Stats {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets `gauge` to `ms` (a time in ms since the Unix epoch; 0 or less: none).
    pub fn set(gauge: &AtomicU64, ms: i64) {
        gauge.store(u64::try_from(ms).unwrap_or(0), Ordering::Relaxed);
    }

    /// Reads `counter`.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// A counter of this node named `name` with `labels`, shown by `/metrics` (at 0 until counted).
    pub fn counter(
        &self,
        name: &'static str,
        labels: &[(&'static str, &'static str)],
        help: &'static str,
    ) -> Counter {
        register_counter(&self.exporter.recorder, name, labels, help)
    }

    /// The node's metrics in Prometheus text format; `rooms` is the number of rooms with members on this
    /// node.
    pub fn render(&self, rooms: usize) -> String {
        let exporter = &self.exporter;
        for (mirror, counter) in MIRRORED.iter().zip(&exporter.mirrored) {
            counter.absolute(Self::get((mirror.value)(self)));
        }
        exporter
            .connections
            .set(Self::get(&self.connections) as f64);
        exporter.rooms.set(rooms as f64);
        exporter
            .cache_rooms
            .set(Self::get(&self.cache_rooms) as f64);
        exporter
            .cache_bytes
            .set(Self::get(&self.cache_bytes) as f64);
        exporter
            .oldest_unanswered
            .set(self.oldest_unanswered().as_secs_f64());
        exporter.handle.render()
    }

    /// Folds recorded samples into the histograms, so they hold no more than their buckets between
    /// scrapes (run it every few seconds).
    pub fn upkeep(&self) {
        self.exporter.handle.run_upkeep();
    }

    /// How long the oldest send the store has not answered has waited (zero when none waits).
    pub fn oldest_unanswered(&self) -> std::time::Duration {
        let since = [&self.storing_since_ms, &self.answering_since_ms]
            .into_iter()
            .map(Self::get)
            .filter(|&ms| ms > 0)
            .min();
        since.map_or(std::time::Duration::ZERO, |since| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| {
                    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
                });
            std::time::Duration::from_millis(now.saturating_sub(since))
        })
    }

    /// Records one store write transaction.
    pub fn record_write(&self, elapsed: std::time::Duration, ok: bool) {
        Self::add(&self.store_writes, 1);
        Self::add(
            &self.store_write_micros,
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        );
        self.exporter.write_seconds.record(elapsed.as_secs_f64());
        if !ok {
            Self::add(&self.store_write_errors, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_keep_their_names_and_two_nodes_keep_their_own() {
        let (a, b) = (Stats::default(), Stats::default());
        Stats::add(&a.messages_received, 3);
        Stats::add(&a.connections, 2);
        a.record_write(std::time::Duration::from_millis(2), true);
        let refused = a.counter("chatweb_test_total", &[("limit", "x")], "A test counter.");
        refused.increment(1);
        let text = a.render(1);
        for line in [
            "chatweb_messages_received_total 3",
            "chatweb_connections 2",
            "chatweb_rooms 1",
            "chatweb_deliveries_total 0",
            "chatweb_store_write_seconds_count 1",
            "chatweb_store_write_seconds_sum 0.002",
            "chatweb_store_write_seconds_bucket{le=\"0.0025\"} 1",
            "chatweb_test_total{limit=\"x\"} 1",
            "# HELP chatweb_messages_received_total Chat messages accepted for storage.",
            "# TYPE chatweb_connections gauge",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        let other = b.render(0);
        assert!(
            other.contains("chatweb_messages_received_total 0"),
            "{other}"
        );
        assert!(!other.contains("chatweb_test_total"), "{other}");
    }
}
