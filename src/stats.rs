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

    /// The counters in Prometheus text format.
    pub fn render(&self) -> String {
        let rows = [
            (
                "chatweb_connections",
                "gauge",
                "Open WebSocket connections.",
                &self.connections,
            ),
            (
                "chatweb_messages_received_total",
                "counter",
                "Chat messages accepted for storage.",
                &self.messages_received,
            ),
            (
                "chatweb_deliveries_total",
                "counter",
                "Message frames written to sockets.",
                &self.deliveries,
            ),
            (
                "chatweb_catch_ups_total",
                "counter",
                "Connections caught up from the store after falling behind.",
                &self.catch_ups,
            ),
            (
                "chatweb_rejected_frames_total",
                "counter",
                "Client frames answered with an error frame.",
                &self.rejected_frames,
            ),
            (
                "chatweb_keepalive_closes_total",
                "counter",
                "Connections closed for not answering pings or taking writes.",
                &self.keepalive_closes,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}\n",
                Self::get(value)
            ));
        }
        out
    }
}
