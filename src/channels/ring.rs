//! A room's live buffer: a broadcast ring bounded both in events and in bytes (docs/ARCHITECTURE.md,
//! invariant 7). tokio's broadcast channel bounds only the count, so 1,024 frames of 25 KB (a 4 KB body of
//! control characters, each escaped as `\u00XX`) would hold 25 MB per room; this ring drops its oldest
//! events as soon as either bound is passed, and always keeps at least the newest one.
//!
//! Its receivers behave like tokio's: each reads every event in order, and one that fell behind the oldest
//! kept event gets [`RecvError::Lagged`] and catches up from the store. Like tokio's, an event is freed as
//! soon as every receiver that existed when it was sent has read it, so a room whose members keep up holds
//! no frames at all. One std mutex guards a room's ring (never held across an await); waiting receivers
//! park on a [`Notify`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
pub use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::Event;

/// Bytes one buffered event costs beyond its frame: the slot, the queue entry, the shared buffer's header.
pub const EVENT_OVERHEAD_BYTES: usize = 96;

/// The sending side of a room's ring (the layer keeps one per room with members).
pub struct Ring {
    shared: Arc<Shared>,
}

/// One subscriber's place in a room's ring.
pub struct Receiver {
    shared: Arc<Shared>,
    /// Position of the next event this receiver takes from the ring.
    next: u64,
    /// Events taken from the ring but not handed out yet: one lock takes up to [`TAKE_EVENTS`] events or
    /// [`TAKE_BYTES`] bytes of frames, not one lock per event (in a room of 500 the ring's mutex was taken
    /// a million times a second and was 10% of the node's CPU). Empty, it holds no allocation.
    taken: VecDeque<Event>,
}

/// Most events one receiver takes from the ring at once.
const TAKE_EVENTS: usize = 16;
/// Most bytes of frames one receiver takes from the ring at once (always at least one event): what a
/// connection holds beyond the ring's own bound.
const TAKE_BYTES: usize = 16 * 1024;

struct Shared {
    state: Mutex<State>,
    ready: Notify,
    max_events: usize,
    max_bytes: usize,
}

struct State {
    slots: VecDeque<Slot>,
    /// Position of `slots[0]`.
    first: u64,
    /// Bytes of the buffered events (frames plus [`EVENT_OVERHEAD_BYTES`] each).
    bytes: usize,
    receivers: usize,
    /// The newest stored sequence number sent through the ring.
    newest_seq: u64,
    closed: bool,
}

struct Slot {
    event: Event,
    /// Receivers that have not read it yet.
    unread: usize,
    bytes: usize,
}

impl State {
    fn end(&self) -> u64 {
        self.first + self.slots.len() as u64
    }

    /// Frees the events every receiver has read. They always form a prefix: receivers read in order, and
    /// one that has not read an event has not read any later one.
    fn free_read(&mut self) {
        while self.slots.front().is_some_and(|slot| slot.unread == 0) {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some(slot) = self.slots.pop_front() {
            self.bytes -= slot.bytes;
            self.first += 1;
        }
    }
}

impl Ring {
    /// A ring keeping at most `max_events` events and `max_bytes` bytes (but always the newest event).
    pub fn new(max_events: usize, max_bytes: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    slots: VecDeque::new(),
                    first: 0,
                    bytes: 0,
                    receivers: 0,
                    newest_seq: 0,
                    closed: false,
                }),
                ready: Notify::new(),
                max_events: max_events.max(1),
                max_bytes,
            }),
        }
    }

    /// Sends `event` to every receiver; gives it back when there is none.
    pub fn send(&self, event: Event) -> Result<(), Event> {
        {
            let mut state = self.shared.lock();
            if !event.ephemeral {
                state.newest_seq = state.newest_seq.max(event.seq);
            }
            if state.receivers == 0 {
                return Err(event);
            }
            let bytes = event.frame.as_str().len() + EVENT_OVERHEAD_BYTES;
            while !state.slots.is_empty()
                && (state.slots.len() >= self.shared.max_events
                    || state.bytes + bytes > self.shared.max_bytes)
            {
                state.pop_front();
            }
            let unread = state.receivers;
            state.slots.push_back(Slot {
                event,
                unread,
                bytes,
            });
            state.bytes += bytes;
        }
        self.shared.ready.notify_waiters();
        Ok(())
    }

    /// A receiver that gets every event sent from now on.
    pub fn subscribe(&self) -> Receiver {
        let mut state = self.shared.lock();
        state.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            next: state.end(),
            taken: VecDeque::new(),
        }
    }

    /// Receivers of this ring.
    pub fn receiver_count(&self) -> usize {
        self.shared.lock().receivers
    }

    /// The newest stored sequence number this ring carried (0 if none).
    pub fn newest_seq(&self) -> u64 {
        self.shared.lock().newest_seq
    }

    /// Events and bytes buffered now.
    pub fn buffered(&self) -> (usize, usize) {
        let state = self.shared.lock();
        (state.slots.len(), state.bytes)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_waiters();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update keeps the state consistent before anything can panic: keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves the events after `next` into `taken` (at most [`TAKE_EVENTS`] of them and [`TAKE_BYTES`] of
    /// frames, at least one), under one lock.
    fn take(&self, next: &mut u64, taken: &mut VecDeque<Event>) -> Result<(), TryRecvError> {
        let mut state = self.lock();
        if *next < state.first {
            let skipped = state.first - *next;
            *next = state.first;
            return Err(TryRecvError::Lagged(skipped));
        }
        let index = (*next - state.first) as usize;
        if index >= state.slots.len() {
            return Err(match state.closed {
                true => TryRecvError::Closed,
                false => TryRecvError::Empty,
            });
        }
        if taken.capacity() == 0 {
            taken.reserve_exact((state.slots.len() - index).min(TAKE_EVENTS));
        }
        let mut bytes = 0;
        for slot in state.slots.iter_mut().skip(index).take(TAKE_EVENTS) {
            if !taken.is_empty() && bytes + slot.bytes > TAKE_BYTES {
                break;
            }
            bytes += slot.bytes;
            slot.unread -= 1;
            taken.push_back(slot.event.clone());
            *next += 1;
        }
        if index == 0 {
            state.free_read();
        }
        Ok(())
    }
}

impl Receiver {
    /// The next event, waiting for one if need be; `Lagged` when this receiver fell behind the ring (the
    /// next call reads from the oldest event kept). Cancel-safe: nothing is taken until it returns.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        loop {
            if let Some(event) = self.pop() {
                return Ok(event);
            }
            // Registered before looking: a send between the look and the wait still wakes it.
            let ready = self.shared.ready.notified();
            match self.shared.take(&mut self.next, &mut self.taken) {
                Ok(()) => {}
                Err(TryRecvError::Lagged(skipped)) => return Err(RecvError::Lagged(skipped)),
                Err(TryRecvError::Closed) => return Err(RecvError::Closed),
                Err(TryRecvError::Empty) => ready.await,
            }
        }
    }

    /// The next event if one is buffered.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        if let Some(event) = self.pop() {
            return Ok(event);
        }
        self.shared.take(&mut self.next, &mut self.taken)?;
        self.pop().ok_or(TryRecvError::Empty)
    }

    /// The next event already taken from the ring; the buffer's allocation goes once it is empty, so an
    /// idle connection holds none.
    fn pop(&mut self) -> Option<Event> {
        let event = self.taken.pop_front()?;
        if self.taken.is_empty() {
            self.taken = VecDeque::new();
        }
        Some(event)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let start = self.next.saturating_sub(state.first) as usize;
        for slot in state.slots.iter_mut().skip(start) {
            slot.unread -= 1;
        }
        state.receivers -= 1;
        state.free_read();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, bytes: usize) -> Event {
        Event::stored(seq, "x".repeat(bytes).into(), true)
    }

    #[tokio::test]
    async fn every_receiver_reads_every_event_in_order() {
        let ring = Ring::new(8, 1 << 20);
        let mut a = ring.subscribe();
        let mut b = ring.subscribe();
        for seq in 1..=3 {
            ring.send(event(seq, 10)).expect("receivers");
        }
        for receiver in [&mut a, &mut b] {
            for seq in 1..=3 {
                assert_eq!(receiver.recv().await.expect("event").seq, seq);
            }
            assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
        }
        assert_eq!(ring.buffered(), (0, 0), "read by all: freed");
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_on_send() {
        let ring = Arc::new(Ring::new(8, 1 << 20));
        let mut receiver = ring.subscribe();
        let waiting = tokio::spawn(async move { receiver.recv().await.map(|e| e.seq) });
        tokio::task::yield_now().await;
        ring.send(event(7, 1)).expect("receiver");
        assert_eq!(waiting.await.expect("task").expect("event"), 7);
    }

    #[test]
    fn the_ring_is_bounded_in_bytes_and_a_slow_receiver_lags() {
        let frame = 25_000;
        let budget = 10 * (frame + EVENT_OVERHEAD_BYTES);
        let ring = Ring::new(1024, budget);
        let mut slow = ring.subscribe();
        for seq in 1..=100 {
            ring.send(event(seq, frame)).expect("receiver");
        }
        let (events, bytes) = ring.buffered();
        assert_eq!(events, 10);
        assert!(bytes <= budget, "{bytes} > {budget}");
        assert!(matches!(slow.try_recv(), Err(TryRecvError::Lagged(90))));
        assert_eq!(slow.try_recv().expect("oldest kept").seq, 91);
    }

    #[test]
    fn the_count_bound_still_holds_and_the_newest_event_is_always_kept() {
        let ring = Ring::new(4, 1 << 20);
        let _receiver = ring.subscribe();
        for seq in 1..=10 {
            ring.send(event(seq, 1)).expect("receiver");
        }
        assert_eq!(ring.buffered().0, 4);
        let tiny = Ring::new(4, 10);
        let mut receiver = tiny.subscribe();
        tiny.send(event(1, 100)).expect("receiver");
        tiny.send(event(2, 100)).expect("receiver");
        assert_eq!(tiny.buffered().0, 1);
        assert!(matches!(receiver.try_recv(), Err(TryRecvError::Lagged(1))));
        assert_eq!(receiver.try_recv().expect("newest").seq, 2);
    }

    #[test]
    fn dropping_a_receiver_frees_what_only_it_had_left_to_read() {
        let ring = Ring::new(8, 1 << 20);
        let mut fast = ring.subscribe();
        let slow = ring.subscribe();
        ring.send(event(1, 10)).expect("receivers");
        ring.send(event(2, 10)).expect("receivers");
        assert_eq!(fast.try_recv().expect("event").seq, 1);
        assert_eq!(fast.try_recv().expect("event").seq, 2);
        assert_eq!(ring.buffered().0, 2, "the slow one has not read them");
        drop(slow);
        assert_eq!(ring.buffered(), (0, 0));
        assert_eq!(ring.receiver_count(), 1);
        // A late subscriber starts at the end; without receivers nothing is kept.
        drop(fast);
        assert!(ring.send(event(3, 1)).is_err());
        assert_eq!(ring.newest_seq(), 3);
    }

    #[test]
    fn a_receiver_takes_events_in_bounded_batches_and_keeps_nothing_once_drained() {
        let ring = Ring::new(1024, 1 << 20);
        let mut rx = ring.subscribe();
        for seq in 1..=40 {
            ring.send(event(seq, 4000)).expect("a receiver");
        }
        let first = rx.try_recv().expect("an event");
        assert_eq!(first.seq, 1);
        // One lock took the first events; bounded in bytes (4,096 bytes each with the overhead).
        let taken = 1 + rx.taken.len();
        assert!((1..=TAKE_BYTES / 4000).contains(&taken), "took {taken}");
        assert_eq!(
            ring.buffered().0,
            40 - taken,
            "what it took is freed from the ring"
        );
        let mut seqs = vec![first.seq];
        while let Ok(event) = rx.try_recv() {
            seqs.push(event.seq);
        }
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
        assert_eq!(rx.taken.capacity(), 0, "an idle receiver holds no buffer");
        assert_eq!(ring.buffered(), (0, 0));
    }

    #[tokio::test]
    async fn receivers_see_the_ring_close() {
        let ring = Ring::new(8, 1 << 20);
        let mut receiver = ring.subscribe();
        drop(ring);
        assert!(matches!(receiver.recv().await, Err(RecvError::Closed)));
    }
}
