//! `Delivery`: what this client is shown of the room, and in what order. It holds the connection's
//! [`Cursor`] (the last id delivered: `last + 1` is always the next one, docs/ARCHITECTURE.md, invariant 3),
//! the catch-up from the store in progress, and the `chatweb.v2` filter (a plain Channels client moves
//! past events it cannot print without being sent them, and never gets ephemeral frames).
//!
//! It reads nothing and writes nothing: the connection hands it live events and the pages it read from the
//! store, and writes the frames it hands back. A resume, a gap in the live stream or a lagged receiver
//! starts a catch-up; the connection then reads one page of [`PAGE`] messages per turn of its loop and,
//! between pages, answers the client's sends, reads its frames and keeps its keepalive, so a long replay in a
//! busy room never holds the sender's own acks or pongs behind it (issue 10, defect 10). While it runs the
//! live stream is not read: its events wait in the room's ring (or the receiver lags and catches up again),
//! and the cursor skips those the store already delivered.
//!
//! Retention may have removed the start of what a client asks for (a resume from before the cut, or a slow
//! reader whose next ids were removed meanwhile): the store then starts at the first id still kept. A
//! `chatweb.v2` client hears `{"type":"truncated","first":N}` before the kept messages; a plain Channels
//! client just gets what is kept. Nothing else leaves a hole in a room's ids, so a page whose first id
//! does not follow the cursor is such a cut.

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::channels::Event;
use crate::domain::RoomName;
use crate::protocol::{ServerFrame, message_frame};
use crate::storage::StoredMessage;
use crate::ws::cursor::{Cursor, Step};

/// Messages read from the store per page when replaying or catching up.
pub(super) const PAGE: u32 = 256;

/// What this client has been shown, and what it is still owed from the store.
pub(super) struct Delivery {
    /// The last room sequence number delivered to this client.
    cursor: Cursor,
    /// Gets deletions, tombstones and ephemeral frames (the `chatweb.v2` subprotocol).
    v2: bool,
    /// The catch-up from the store in progress, if any (boxed: most connections have none).
    catching_up: Option<Box<CatchUp>>,
}

/// A catch-up in progress.
struct CatchUp {
    /// Frames are history (a resume) rather than live (a gap).
    history: bool,
    /// Send the room's presence snapshot once done (a `chatweb.v2` client's first replay).
    presence: bool,
    /// The live event that showed the gap: committed before it was published, so the store has it.
    awaited: Option<u64>,
}

/// What to do with a live event.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Offer {
    /// Write this message frame: the next id (a delivery).
    Message(Utf8Bytes),
    /// Write this ephemeral frame (presence, typing; `chatweb.v2` only, not a delivery).
    Ephemeral(Utf8Bytes),
    /// Write nothing: delivered already, or not for this client (its id is passed silently).
    Skip,
    /// Something is missing before it: a catch-up from the store has begun, which reads it too.
    Gap,
}

/// One page of a catch-up, ready to write.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Page {
    /// The frames, in order (a `truncated` notice first, when retention cut what was owed).
    pub frames: Vec<String>,
    /// How many of them are messages (deliveries).
    pub shown: u64,
    /// The catch-up ended with this page.
    pub done: bool,
    /// ... and the room's presence snapshot is to follow it.
    pub presence: bool,
}

impl Delivery {
    /// Nothing delivered yet; `v2` for a `chatweb.v2` client.
    pub(super) fn new(v2: bool) -> Self {
        Self {
            cursor: Cursor::default(),
            v2,
            catching_up: None,
        }
    }

    /// The client asked for `chatweb.v2`.
    pub(super) fn v2(&self) -> bool {
        self.v2
    }

    /// The last id delivered.
    #[inline]
    pub(super) fn last(&self) -> u64 {
        self.cursor.last()
    }

    /// Starts after `last`: a join's history (written by the caller) ended there, or it wants none.
    pub(super) fn start_at(&mut self, last: u64) {
        self.cursor = Cursor::at(last);
    }

    /// Resumes after `since` (clamped to the room's `head`; `first` is its first id still kept): a catch-up
    /// begins. Returns the `truncated` notice a `chatweb.v2` client gets when retention cut what it asks for.
    pub(super) fn resume(
        &mut self,
        room: &RoomName,
        since: u64,
        first: u64,
        head: u64,
    ) -> Option<String> {
        self.cursor = Cursor::at(since.min(head));
        // A client already at the head cannot be before the cut.
        let truncated = if self.cursor.last() < head {
            self.skip_removed(room, first)
        } else {
            None
        };
        self.begin_catch_up(true, None);
        truncated
    }

    /// What to do with a live event (a gap begins a catch-up).
    // Inlined into the connection's loop, as it was before it lived here: it runs once per recipient per
    // event, the hottest call of the message path.
    #[inline]
    pub(super) fn offer(&mut self, event: Event) -> Offer {
        if event.ephemeral {
            // Presence and typing: not history, only for clients that asked for them.
            return if self.v2 {
                Offer::Ephemeral(event.frame)
            } else {
                Offer::Skip
            };
        }
        match self.cursor.step(event.seq) {
            Step::Skip => return Offer::Skip,
            Step::Deliver => {}
            Step::CatchUp => {
                // The event was committed before it was published: the catch-up reads it from the
                // store, with everything missing before it.
                self.begin_catch_up(false, Some(event.seq));
                return Offer::Gap;
            }
        }
        self.cursor.delivered(event.seq);
        if !self.v2 && !event.plain {
            // A plain client cannot print it: move past its id silently.
            return Offer::Skip;
        }
        Offer::Message(event.frame)
    }

    /// The live receiver fell behind the ring: catch up from the store.
    pub(super) fn lagged(&mut self) {
        self.begin_catch_up(false, None);
    }

    /// A catch-up is running: the next page to read starts after [`Delivery::last`].
    #[inline]
    pub(super) fn catching_up(&self) -> bool {
        self.catching_up.is_some()
    }

    /// Has the presence snapshot sent when the running catch-up ends; false when none runs.
    pub(super) fn presence_after_catch_up(&mut self) -> bool {
        match &mut self.catching_up {
            Some(catch_up) => {
                catch_up.presence = true;
                true
            }
            None => false,
        }
    }

    /// The frames of the next page of the running catch-up, read from the store after
    /// [`Delivery::last`]: never an id twice, never out of order. A short page ends the catch-up.
    pub(super) fn page(&mut self, room: &RoomName, page: &[StoredMessage]) -> Page {
        let Some(history) = self.catching_up.as_ref().map(|c| c.history) else {
            return Page::default();
        };
        let mut out = Page::default();
        if let Some(first) = page.first()
            && first.seq > self.cursor.last() + 1
        {
            out.frames.extend(self.skip_removed(room, first.seq));
        }
        for message in page {
            if self.cursor.step(message.seq) == Step::Skip {
                continue;
            }
            if self.shows(message) {
                out.frames
                    .push(message_frame(room.as_str(), message, history));
                out.shown += 1;
            }
            self.cursor.delivered(message.seq);
        }
        if page.len() < PAGE as usize {
            out.done = true;
            out.presence = self.catch_up_done(room);
        }
        out
    }

    /// Whether this client is shown `message` (a plain client only what it can print).
    fn shows(&self, message: &StoredMessage) -> bool {
        Self::shows_to(self.v2, message)
    }

    /// Whether a client (`chatweb.v2` or not) is shown `message`: a plain Channels client only gets what
    /// it can print.
    pub(super) fn shows_to(v2: bool, message: &StoredMessage) -> bool {
        v2 || message.kind.plain()
    }

    /// Reads the store after the cursor from now on, a page per turn; `awaited` is the live event that
    /// showed a gap. A catch-up already running is replaced (keeping its presence snapshot to send).
    fn begin_catch_up(&mut self, history: bool, awaited: Option<u64>) {
        let presence = self.catching_up.as_ref().is_some_and(|c| c.presence);
        self.catching_up = Some(Box::new(CatchUp {
            history,
            presence,
            awaited,
        }));
    }

    /// Moves the cursor to just before `first`, the room's first kept id, when what it still owes begins
    /// before it; a `chatweb.v2` client hears of the cut.
    fn skip_removed(&mut self, room: &RoomName, first: u64) -> Option<String> {
        if self.cursor.last().saturating_add(1) >= first {
            return None;
        }
        self.cursor.skip_to(first);
        let room = room.as_str();
        self.v2
            .then(|| ServerFrame::Truncated { room, first }.encode())
    }

    /// Ends the running catch-up; true when the presence snapshot is to follow.
    fn catch_up_done(&mut self, room: &RoomName) -> bool {
        let Some(done) = self.catching_up.take() else {
            return false;
        };
        if let Some(seq) = done.awaited
            && self.cursor.step(seq) == Step::CatchUp
        {
            // Only possible with a misconfigured cluster: the store is the truth, a gap is never delivered.
            tracing::warn!(
                %room,
                seq,
                last = self.cursor.last(),
                "dropping a live event the store does not have"
            );
        }
        done.presence
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::storage::MessageKind;

    fn room() -> RoomName {
        RoomName::parse("lobby").expect("valid")
    }

    fn stored(seq: u64, kind: MessageKind) -> StoredMessage {
        StoredMessage {
            bot: false,
            seq,
            ts_ms: 0,
            author: "ada".into(),
            body: format!("m{seq}"),
            guest: false,
            kind,
            edited: false,
            reply_to: None,
            mentions: String::new(),
            files: String::new(),
        }
    }

    fn messages(ids: std::ops::RangeInclusive<u64>) -> Vec<StoredMessage> {
        ids.map(|seq| stored(seq, MessageKind::Message)).collect()
    }

    /// A live event as the fan-out publishes it.
    fn live(message: &StoredMessage) -> Event {
        Event::stored(
            message.seq,
            message_frame("lobby", message, false).into(),
            message.kind.plain(),
        )
    }

    fn id_of(frame: &str) -> u64 {
        let frame: Value = serde_json::from_str(frame).expect("json");
        frame["id"].as_u64().expect("an id")
    }

    /// What the client sees of `offer`: the id of a written message frame.
    fn shown(offer: Offer) -> Option<u64> {
        match offer {
            Offer::Message(frame) => Some(id_of(frame.as_str())),
            _ => None,
        }
    }

    #[test]
    fn a_catch_up_never_delivers_an_id_twice_or_out_of_order() {
        let store = messages(1..=9);
        let mut delivery = Delivery::new(false);
        let mut seen = Vec::new();
        seen.extend(shown(delivery.offer(live(&store[0]))));
        // 2 and 3 were lost on the way: 4 shows the gap.
        assert_eq!(delivery.offer(live(&store[3])), Offer::Gap);
        assert!(delivery.catching_up());
        // Meanwhile 5 and 6 were committed; the store's page after 1 has them all.
        let page = delivery.page(&room(), &store[1..6]);
        assert!(page.done, "a short page ends the catch-up");
        assert_eq!(page.shown, 5);
        seen.extend(page.frames.iter().map(|f| id_of(f)));
        // The live events the catch-up delivered come after it: skipped, never twice.
        for message in &store[3..] {
            seen.extend(shown(delivery.offer(live(message))));
        }
        assert_eq!(seen, (1..=9).collect::<Vec<_>>());
    }

    #[test]
    fn a_page_that_repeats_what_was_delivered_only_adds_what_follows() {
        let store = messages(1..=6);
        let mut delivery = Delivery::new(true);
        delivery.start_at(4);
        delivery.lagged();
        let page = delivery.page(&room(), &store[2..]);
        let ids: Vec<u64> = page.frames.iter().map(|f| id_of(f)).collect();
        assert_eq!(ids, [5, 6]);
        assert_eq!(delivery.last(), 6);
    }

    #[test]
    fn the_v2_filter_drops_events_for_plain_clients_but_moves_past_their_ids() {
        let store = [
            stored(1, MessageKind::Message),
            stored(2, MessageKind::Edit { target: 1 }),
            stored(3, MessageKind::Delete { target: 1 }),
            stored(4, MessageKind::Message),
        ];
        let typing = || Event::ephemeral(Utf8Bytes::from_static(r#"{"type":"typing"}"#));
        let mut plain = Delivery::new(false);
        let mut v2 = Delivery::new(true);
        let plain_seen: Vec<u64> = store
            .iter()
            .filter_map(|m| shown(plain.offer(live(m))))
            .collect();
        let v2_seen: Vec<u64> = store
            .iter()
            .filter_map(|m| shown(v2.offer(live(m))))
            .collect();
        assert_eq!(
            plain_seen,
            [1, 4],
            "no gap either: its cursor passed 2 and 3"
        );
        assert_eq!(v2_seen, [1, 2, 3, 4]);
        assert_eq!(plain.offer(typing()), Offer::Skip);
        assert!(matches!(v2.offer(typing()), Offer::Ephemeral(_)));
        // The same from the store (a join's history).
        let shown_to = |v2| store.iter().filter(|m| Delivery::shows_to(v2, m)).count();
        assert_eq!((shown_to(false), shown_to(true)), (2, 4));
    }

    #[test]
    fn a_resume_from_before_a_retention_cut_tells_only_v2_clients() {
        let kept = messages(5..=6);
        let mut v2 = Delivery::new(true);
        let truncated = v2.resume(&room(), 2, 5, 6).expect("told");
        assert_eq!(
            truncated,
            r#"{"type":"truncated","room":"lobby","first":5}"#
        );
        let page = v2.page(&room(), &kept);
        assert_eq!((page.shown, page.done, v2.last()), (2, true, 6));
        let mut plain = Delivery::new(false);
        assert_eq!(plain.resume(&room(), 2, 5, 6), None);
        assert_eq!(plain.page(&room(), &kept).shown, 2);
        // At the head already: nothing was cut from what it asks for.
        assert_eq!(Delivery::new(true).resume(&room(), 9, 5, 6), None);
    }
}
