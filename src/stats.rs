//! Counters an operator watches: open connections, messages, deliveries, catch-ups. Plain atomics owned by
//! the app state (no global registry, so two nodes in one test process keep separate counts).

use std::sync::atomic::{AtomicU64, Ordering};

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
}

impl Stats {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads `counter`.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The counters in Prometheus text format; `rooms` is the number of rooms with members on this node.
    pub fn render(&self, rooms: usize) -> String {
        let rows = [
            (
                "chatweb_connections",
                "gauge",
                "Open WebSocket connections.",
                Self::get(&self.connections),
            ),
            (
                "chatweb_rooms",
                "gauge",
                "Rooms with members on this node.",
                rooms as u64,
            ),
            (
                "chatweb_messages_received_total",
                "counter",
                "Chat messages accepted for storage.",
                Self::get(&self.messages_received),
            ),
            (
                "chatweb_deliveries_total",
                "counter",
                "Message frames written to sockets.",
                Self::get(&self.deliveries),
            ),
            (
                "chatweb_catch_ups_total",
                "counter",
                "Slow or gapped connections caught up from the store.",
                Self::get(&self.catch_ups),
            ),
            (
                "chatweb_rejected_frames_total",
                "counter",
                "Client frames answered with an error frame.",
                Self::get(&self.rejected_frames),
            ),
            (
                "chatweb_keepalive_closes_total",
                "counter",
                "Connections closed for not answering pings or taking writes.",
                Self::get(&self.keepalive_closes),
            ),
            (
                "chatweb_layer_errors_total",
                "counter",
                "Channel layer failures (lost connections, failed publishes).",
                Self::get(&self.layer_errors),
            ),
            (
                "chatweb_store_write_errors_total",
                "counter",
                "Store write transactions that failed.",
                Self::get(&self.store_write_errors),
            ),
            (
                "chatweb_store_write_seconds_count",
                "counter",
                "Store write transactions.",
                Self::get(&self.store_writes),
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        let seconds = Self::get(&self.store_write_micros) as f64 / 1e6;
        out.push_str(&format!(
            "# HELP chatweb_store_write_seconds_sum Time spent in store write transactions.\n\
             # TYPE chatweb_store_write_seconds_sum counter\nchatweb_store_write_seconds_sum {seconds}\n"
        ));
        out
    }

    /// Records one store write transaction.
    pub fn record_write(&self, elapsed: std::time::Duration, ok: bool) {
        Self::add(&self.store_writes, 1);
        Self::add(
            &self.store_write_micros,
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        );
        if !ok {
            Self::add(&self.store_write_errors, 1);
        }
    }
}
