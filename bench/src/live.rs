//! The live room of `fanout --live` (issue 9): what live clients send besides messages, and the count of
//! what they receive besides messages. Every live connection is signed in and speaks `chatweb.v2`; while
//! messages flow, each sends `{"type":"typing"}` every `--typing-every` ms (the server broadcasts one per
//! person per 3 s) and each subscriber marks the newest room id it has with `{"type":"read","id":N}` every
//! `--read-every` ms. Clients act when they are awake anyway (a frame arrived, a message is due), so the
//! plain run's clients do exactly the same work as before and a live client needs no timer of its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::wire::Wire;

/// The frame that says "I am typing".
pub const TYPING_FRAME: &str = r#"{"type":"typing"}"#;

/// The frame that marks room id `id` read.
pub fn read_frame(id: u64) -> String {
    format!(r#"{{"type":"read","id":{id}}}"#)
}

/// A repeated action on the run's clock (nanoseconds since its start).
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    every: u64,
    next: u64,
}

impl Pacer {
    /// Due first at `first`, then every `every` after the last time it was due.
    pub fn new(every: Duration, first: Duration) -> Self {
        Self {
            every: every.as_nanos() as u64,
            next: first.as_nanos() as u64,
        }
    }

    /// Whether the action is due at `now`; if so, the next one is due `every` later.
    pub fn due(&mut self, now: u64) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now.saturating_add(self.every);
        true
    }
}

/// Frames sent by live clients, over the whole run.
#[derive(Default)]
pub struct Sent {
    /// `{"type":"typing"}` frames.
    pub typing: AtomicU64,
    /// `{"type":"read"}` frames.
    pub read: AtomicU64,
}

/// Frames other than messages and acks that clients received, by type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FrameCounts {
    /// Error frames (a refused frame or send): a clean run has none.
    pub error: u64,
    /// `read` frames (one on connect to every signed-in `chatweb.v2` client).
    pub read: u64,
    /// `presence` snapshots.
    pub presence: u64,
    /// `join` frames.
    pub join: u64,
    /// `leave` frames.
    pub leave: u64,
    /// `typing` frames.
    pub typing: u64,
    /// Frames of any other type, or none.
    pub other: u64,
}

impl FrameCounts {
    /// Counts one frame of type `kind`.
    pub fn count(&mut self, kind: Option<&str>) {
        let counter = match kind {
            Some("error") => &mut self.error,
            Some("read") => &mut self.read,
            Some("presence") => &mut self.presence,
            Some("join") => &mut self.join,
            Some("leave") => &mut self.leave,
            Some("typing") => &mut self.typing,
            _ => &mut self.other,
        };
        *counter += 1;
    }

    /// Frames only `chatweb.v2` clients may get (a plain client must see none).
    pub fn v2_only(&self) -> u64 {
        self.read + self.presence + self.join + self.leave + self.typing
    }
}

/// What one live subscriber sends, and when.
pub struct LiveSubscriber {
    typing: Pacer,
    read: Pacer,
    /// The highest id marked read so far (marks only move forward).
    marked: u64,
}

impl LiveSubscriber {
    /// Subscriber `index` of `of`: it marks read at once and then every `read_every`; its typing
    /// frames start at a point of the first period set by its index, so that clients do not type in step.
    pub fn new(typing_every: Duration, read_every: Duration, index: usize, of: usize) -> Self {
        let offset = typing_every.mul_f64(index as f64 / of.max(1) as f64);
        Self {
            typing: Pacer::new(typing_every, offset),
            read: Pacer::new(read_every, Duration::ZERO),
            marked: 0,
        }
    }

    /// Sends what is due at `now`, `newest` being the highest room id this client has received.
    pub async fn act(
        &mut self,
        ws: &mut Wire,
        now: u64,
        newest: u64,
        sent: &Sent,
    ) -> anyhow::Result<()> {
        if self.typing.due(now) {
            ws.send_text(TYPING_FRAME).await?;
            sent.typing.fetch_add(1, Ordering::Relaxed);
        }
        if newest > self.marked && self.read.due(now) {
            ws.send_text(&read_frame(newest)).await?;
            self.marked = newest;
            sent.read.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pacer_is_due_once_per_period() {
        let ms = Duration::from_millis;
        let mut pacer = Pacer::new(ms(250), ms(100));
        assert!(!pacer.due(ms(99).as_nanos() as u64));
        assert!(pacer.due(ms(100).as_nanos() as u64));
        assert!(!pacer.due(ms(349).as_nanos() as u64));
        assert!(pacer.due(ms(400).as_nanos() as u64));
        assert!(!pacer.due(ms(500).as_nanos() as u64));
    }

    #[test]
    fn live_frames_are_the_protocol_s() {
        let typing: serde_json::Value = serde_json::from_str(TYPING_FRAME).expect("json");
        assert_eq!(typing["type"], "typing");
        let read: serde_json::Value = serde_json::from_str(&read_frame(42)).expect("json");
        assert_eq!(
            (read["type"].as_str(), read["id"].as_u64()),
            (Some("read"), Some(42))
        );
    }

    #[test]
    fn frames_are_counted_by_type() {
        let mut counts = FrameCounts::default();
        for kind in [
            "presence", "join", "join", "typing", "read", "error", "leave", "edit",
        ] {
            counts.count(Some(kind));
        }
        counts.count(None);
        assert_eq!(counts.join, 2);
        assert_eq!((counts.error, counts.other), (1, 2));
        assert_eq!(counts.v2_only(), 6);
    }
}
