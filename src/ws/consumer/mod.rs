//! One task per socket (Channels' consumer): a `select!` over the client's frames, the room's live events,
//! the store's answers to this client's sends, a ping tick and the shutdown signal.
//!
//! The connection remembers `last`, the last room sequence number it delivered, and only ever delivers
//! `last + 1` next (docs/ARCHITECTURE.md, invariant 3). A live event further ahead, or a `Lagged` receiver,
//! means "read the missing range from the store first", at the socket's own pace, a page per turn of the
//! loop (`delivery.rs`); a slow reader holds a cursor, never a queue, and is never skipped. The answers to
//! the client's sends go out in the order it sent them (`answers.rs`).

use futures_util::FutureExt;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::Instrument;

mod answers;
mod bounded;
mod closing;
mod delivery;
mod end;
mod frames;
mod inbound;
mod limited;
mod outbound;

use answers::Answers;
use delivery::{Delivery, Offer, PAGE};
use end::End;
use outbound::Outbound;
pub(super) use outbound::Socket;

use super::upgrade::ChatStream;
use crate::accounts::{Identity, Watch};
use crate::channels::Event;
use crate::domain::{ClientIdOwner, RoomName};
use crate::limits::ConnectionLimits;
use crate::presence::Attendance;
use crate::protocol::{ServerFrame, message_frame};
use crate::state::AppState;
use crate::stats::Stats;
use crate::storage::{StoreError, StoredMessage};

/// Live events written before one flush.
const LIVE_BURST: usize = 64;

/// A catch-up page being read from the store: where it starts, and what the store answered.
type PageRead =
    std::pin::Pin<Box<dyn Future<Output = (u64, Result<Vec<StoredMessage>, StoreError>)> + Send>>;

/// A checked handshake, ready to serve.
pub(super) struct Connection {
    /// The node's state, shared by every connection (a pointer, not a copy of its ~900 bytes each).
    pub state: AppState,
    pub room: RoomName,
    pub identity: Identity,
    pub since: Option<u64>,
    /// The client asked for the `chatweb.v2` subprotocol.
    pub v2: bool,
    /// Fires when a signed-in client's credential is revoked (boxed: guests, most connections, hold
    /// only the pointer's worth of `None`).
    pub watch: Option<Box<Watch>>,
    /// The connection's rate limits and its open-connection slot (src/limits/).
    pub limits: ConnectionLimits,
    /// The room's moderation as it holds for this socket (src/moderation/).
    pub rules: crate::moderation::Seat,
}

/// The close code once the connection's credential is revoked; pending while it is not.
async fn revoked(watch: &mut Option<Box<Watch>>) -> u16 {
    match watch {
        Some(watch) => match (&mut watch.revoked).await {
            Ok(code) => code,
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Serves `socket` until the peer leaves, stops answering, or the node stops. The consumer is built
/// before the task's future, which then holds only the consumer: the handshake's values are not kept
/// twice for the life of an idle connection (issue 5 measures bytes per connection).
// The box is the caller's: its task holds the pointer while it waits for the upgrade.
#[allow(clippy::boxed_local)]
pub(super) fn run(socket: ChatStream, conn: Box<Connection>) -> impl Future<Output = ()> + Send {
    // At debug level: an enabled span costs each connection about 350 bytes for its life (a slot in the
    // subscriber's registry, its extensions, the formatted fields), a tenth of an idle connection. The
    // warnings a connection logs name its room and user themselves.
    let span = tracing::debug_span!("ws", room = %conn.room, user = %conn.identity.name());
    let Connection {
        state,
        room,
        identity,
        since,
        v2,
        watch,
        limits,
        rules,
    } = *conn;
    Stats::add(&state.stats.connections, 1);
    let mut consumer = Consumer {
        outbound: Outbound::new(socket, state.config.keepalive()),
        state,
        room,
        identity,
        owner: None,
        watch,
        limits,
        rules,
        delivery: Delivery::new(v2),
        attendance: None,
        answers: Answers::default(),
    };
    async move {
        let end = consumer.serve(since).await;
        // Gone from presence before the close handshake ends: a peer whose close completed is no longer
        // listed anywhere.
        consumer.attendance = None;
        // Boxed: rare paths keep their state on the heap only while they run, so an idle
        // connection's task stays small.
        Box::pin(consumer.close(end)).await;
        consumer
            .state
            .stats
            .connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
    .instrument(span)
}

struct Consumer<S> {
    /// The socket, written within the keepalive.
    outbound: Outbound<S>,
    /// The node's state, one for every connection.
    state: AppState,
    room: RoomName,
    /// Who is speaking: every message this connection sends is theirs.
    identity: Identity,
    /// Whose `client_id`s its sends carry: a repeat is recognised per room and owner. Built at the first
    /// send and shared by the later ones; a connection that only listens (most) holds none.
    owner: Option<ClientIdOwner>,
    /// The registration that fires when a signed-in client's credential is revoked.
    watch: Option<Box<Watch>>,
    /// This connection's buckets; dropping it gives its open-connection slot back.
    limits: ConnectionLimits,
    /// What its sends are checked against (mutes, slow mode), and where it hears of a ban or a kick.
    rules: crate::moderation::Seat,
    /// What the client has been shown (the cursor), the catch-up in progress, the `chatweb.v2` filter.
    delivery: Delivery,
    /// This socket's place in the room's presence (leaves when dropped).
    attendance: Option<Attendance>,
    /// The answers owed to this client's frames, in the order it sent them.
    answers: Answers,
}

impl<S: Socket> Consumer<S> {
    /// Whose `client_id`s this connection's sends carry (built at the first send).
    fn owner(&mut self) -> &ClientIdOwner {
        self.owner
            .get_or_insert_with(|| self.identity.client_id_owner())
    }

    /// Enters the room's presence, subscribes to its live events and sends what comes before them.
    async fn begin(&mut self, since: Option<u64>) -> Result<crate::channels::Receiver, End> {
        // In presence before subscribing: the others hear the join, this socket does not; its snapshot,
        // taken after subscribing, lists it and anyone who came or went meanwhile.
        let guest = self.identity.user().is_none();
        self.attendance = Some(self.state.presence.enter(
            &self.room,
            self.identity.name().as_str(),
            guest,
            self.delivery.v2(),
        ));
        // Subscribe first, then read the store: nothing committed in between can be missed.
        let live = match self.state.channels.subscribe(&self.room).await {
            Ok(live) => live,
            Err(error) => return Err(End::Layer(error.to_string())),
        };
        // The reads before the loop (read mark, history, the room's head) answer no ping meanwhile: they
        // are bounded like every read of the store (from their first wait: a join the recent cache
        // answers makes no timer).
        let bound = self.state.config.store_settings().timeout;
        match bounded::within(bound, Box::pin(self.start(since))).await {
            Ok(Ok(())) => Ok(live),
            Ok(Err(end)) => Err(end),
            Err(_) => Err(End::Store(StoreError::TimedOut(bound))),
        }
    }

    async fn serve(&mut self, since: Option<u64>) -> End {
        // Boxed: what it holds while it runs is not kept in the loop's state (issue 22).
        let mut live = match Box::pin(self.begin(since)).await {
            Ok(live) => live,
            Err(end) => return end,
        };
        // A timer of the task's own, reset at each tick, not an `Interval` (which boxes its timer): the
        // next ping a third of the keepalive after the last (and never a burst of missed ones).
        let ping = tokio::time::sleep(self.ping_period());
        tokio::pin!(ping);
        let shutdown = self.state.shutdown.clone();
        // Registered once: re-creating it on every wake would lock the token's waiter list, shared by
        // every connection of the node.
        let stopping = shutdown.cancelled();
        tokio::pin!(stopping);
        // Likewise: a ban or a kick of this socket's person (its room's channel, polled, not re-joined).
        let moderated = self.rules.closes();
        tokio::pin!(moderated);
        let mut reading: Option<PageRead> = None;
        loop {
            let step = tokio::select! {
                biased;
                () = &mut stopping => Err(End::Shutdown),
                code = revoked(&mut self.watch), if self.watch.is_some() => Err(End::Revoked(code)),
                code = &mut moderated => Err(End::Moderated(code)),
                answer = self.answers.next(), if !self.answers.is_empty() => {
                    self.send_answer(answer).await
                }
                // The client's frames before live events: a busy room must not starve its pongs.
                frame = self.outbound.recv(), if self.answers.len() < self.max_in_flight() => {
                    Box::pin(self.on_frame(frame)).await
                }
                // Ready once per third of the keepalive: it starves nothing, and nothing starves it.
                () = &mut ping => {
                    ping.as_mut().reset(tokio::time::Instant::now() + self.ping_period());
                    Box::pin(self.on_ping_tick()).await
                }
                // A catch-up reads one page at a time, beside the branches above: a read that waits
                // on the store holds up no pong, ping or answer.
                () = std::future::ready(()), if self.delivery.catching_up() && reading.is_none() => {
                    self.read_page().map(|read| reading = Some(read))
                }
                (after, page) = async { reading.as_mut().expect("a read in flight").await },
                    if reading.is_some() =>
                {
                    reading = None;
                    Box::pin(self.write_page(after, page)).await
                }
                // Live events wait in the ring while the store is read.
                event = live.recv(), if !self.delivery.catching_up() => {
                    self.on_live(event, &mut live).await
                }
                // Last: answers queued by the branches above go out once nothing else is ready.
                () = std::future::ready(()), if self.outbound.unflushed() => {
                    self.outbound.flush().await
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// How often a ping goes out: a third of the keepalive.
    fn ping_period(&self) -> std::time::Duration {
        self.outbound.keepalive() / 3
    }

    /// How many of the client's sends may wait for the store at once before its frames wait unread.
    fn max_in_flight(&self) -> usize {
        self.state.config.max_in_flight.max(1)
    }

    /// What a client gets before live events: its read mark (v2, signed in), the history or replay, and
    /// the room's presence (v2).
    async fn start(&mut self, since: Option<u64>) -> Result<(), End> {
        if let (true, Some(user_id)) = (self.delivery.v2(), self.identity.user_id()) {
            let id = self
                .state
                .store
                .last_read(user_id, &self.room)
                .await
                .map_err(End::Store)?;
            let frame = ServerFrame::Read {
                room: self.room.as_str(),
                id,
            };
            self.outbound.feed(frame.encode()).await?;
        }
        match since {
            Some(since) => self.resume(since).await?,
            None => self.join().await?,
        }
        // After the history: once the replay, which the loop reads page by page, is done.
        if self.delivery.v2() && !self.delivery.presence_after_catch_up() {
            let snapshot = self.state.presence.snapshot(&self.room);
            self.outbound.write_text(snapshot, true).await?;
        }
        Ok(())
    }

    /// A plain join: the recent history, marked as such. Its frames are rendered once per cached message
    /// and shared by every join of the room; they are written within one keepalive, then flushed.
    async fn join(&mut self) -> Result<(), End> {
        let history = self.state.config.history;
        let room = &self.room;
        let v2 = self.delivery.v2();
        let (frames, newest) = self
            .state
            .store
            .recent_frames(
                room,
                history,
                |message| Delivery::shows_to(v2, message),
                |message| Utf8Bytes::from(message_frame(room.as_str(), message, true)),
            )
            .await
            .map_err(End::Store)?;
        match newest {
            Some(newest) => {
                self.delivery.start_at(newest);
                Stats::add(&self.state.stats.deliveries, frames.len() as u64);
                self.outbound.write_all(frames).await
            }
            // The room was empty when read: everything from 1 on comes live (or by catch-up). Reading
            // its head now instead would skip messages committed since the read.
            None if history > 0 => Ok(()),
            // No history wanted: start after whatever the room holds now.
            None => {
                let head = self.state.store.last_seq(&self.room).await;
                self.delivery.start_at(head.map_err(End::Store)?);
                Ok(())
            }
        }
    }

    /// Replays everything after `since` (clamped to the room's head), then live: the loop reads it page
    /// by page.
    async fn resume(&mut self, since: u64) -> Result<(), End> {
        Stats::add(&self.state.stats.resumes, 1);
        // One read of the room's row, on the store's read pool: its head and where retention cut it.
        let (first, head) = self
            .state
            .store
            .kept(&self.room)
            .await
            .map_err(End::Store)?;
        if head > 0 {
            // Whatever the cursor says while the catch-up runs, a send here creates no room.
            self.limits.room_has_messages();
        }
        // From before a retention cut: `truncated` (v2), then what is kept, even when nothing is.
        match self.delivery.resume(&self.room, since, first, head) {
            Some(truncated) => self.outbound.feed(truncated).await,
            None => Ok(()),
        }
    }

    /// Delivers a burst of live events (at most [`LIVE_BURST`]) and flushes them, all within one keepalive
    /// time from the burst's first wait: a peer that cannot take them by then is unresponsive. One bound
    /// for the burst, not one per frame (a timeout for every write cost the node about 8% of its CPU in a
    /// big room), and its timer made only when the burst has to wait (`bounded::within`).
    ///
    /// Written as one flat future (no `async fn` nested in another): each layer of `async fn` keeps its
    /// own copy of its arguments, and the largest branch of the loop sets the size of every connection's
    /// task, idle or not (issue 22: 584 bytes as three layers, the idle loop itself needs less).
    fn on_live<'a>(
        &'a mut self,
        next: Result<Event, broadcast::error::RecvError>,
        live: &'a mut crate::channels::Receiver,
    ) -> impl Future<Output = Result<(), End>> + Send + 'a {
        bounded::within(self.outbound.keepalive(), self.live_burst(next, live))
            .map(|burst| burst.unwrap_or(Err(End::Unresponsive)))
    }

    /// The burst of [`Consumer::on_live`], untimed: `next` is taken in place (an `async move` block over
    /// the argument, not an `async fn`, which would hold it twice).
    #[allow(clippy::manual_async_fn)]
    fn live_burst<'a>(
        &'a mut self,
        mut next: Result<Event, broadcast::error::RecvError>,
        live: &'a mut crate::channels::Receiver,
    ) -> impl Future<Output = Result<(), End>> + Send + 'a {
        async move {
            // One count for the whole burst: an atomic add shared by every connection of the node, per
            // frame, cost more than the frame.
            let mut delivered = 0;
            for taken in 1..=LIVE_BURST {
                // The socket's room first, the frame after: nothing of the event waits across it.
                if let Err(end) = self.outbound.ready_untimed().await {
                    Stats::add(&self.state.stats.deliveries, delivered);
                    return Err(end);
                }
                match next {
                    Ok(event) => {
                        if let Some((frame, counted)) = self.offer(event) {
                            if let Err(end) = self.outbound.queue(frame) {
                                Stats::add(&self.state.stats.deliveries, delivered);
                                return Err(end);
                            }
                            delivered += u64::from(counted);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::debug!(
                            skipped,
                            last = self.delivery.last(),
                            "fell behind the live stream; catching up from the store"
                        );
                        Stats::add(&self.state.stats.catch_ups, 1);
                        self.delivery.lagged();
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(End::Layer("room stream closed".into()));
                    }
                }
                if taken == LIVE_BURST || self.delivery.catching_up() {
                    break; // the rest waits in the ring (or in the store) for the next turns of the loop
                }
                next = match live.try_recv() {
                    Ok(event) => Ok(event),
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        Err(broadcast::error::RecvError::Lagged(n))
                    }
                    Err(_) => break,
                };
            }
            Stats::add(&self.state.stats.deliveries, delivered);
            self.outbound.flush_untimed().await
        }
    }

    /// What to write for a live event, if anything: the frame, and whether it is a delivery (a message,
    /// not an ephemeral frame). A gap starts a catch-up from the store and writes nothing.
    #[inline]
    fn offer(&mut self, event: Event) -> Option<(Utf8Bytes, bool)> {
        match self.delivery.offer(event) {
            Offer::Message(frame) => Some((frame, true)),
            Offer::Ephemeral(frame) => Some((frame, false)),
            Offer::Skip => None,
            Offer::Gap => {
                Stats::add(&self.state.stats.catch_ups, 1);
                self.limits.room_has_messages();
                None
            }
        }
    }

    /// Starts reading the catch-up's next page (after [`Delivery::last`]) from the store.
    fn read_page(&self) -> Result<PageRead, End> {
        // A long replay must not hold up a stop.
        if self.state.shutdown.is_cancelled() {
            return Err(End::Shutdown);
        }
        let after = self.delivery.last();
        let (store, room) = (self.state.store.clone(), self.room.clone());
        Ok(Box::pin(async move {
            (after, store.after(&room, after, PAGE).await)
        }))
    }

    /// Delivers a page of the running catch-up read after `after` (dropped if the cursor moved meanwhile:
    /// the next read starts from where it is now); a short page ends the catch-up (and sends the presence
    /// snapshot it was asked to).
    async fn write_page(
        &mut self,
        after: u64,
        page: Result<Vec<StoredMessage>, StoreError>,
    ) -> Result<(), End> {
        let page = page.map_err(End::Store)?;
        if after != self.delivery.last() {
            return Ok(());
        }
        let page = self.delivery.page(&self.room, &page);
        for frame in page.frames {
            self.outbound.feed(frame).await?;
        }
        Stats::add(&self.state.stats.deliveries, page.shown);
        self.outbound.flush().await?;
        if page.presence {
            let snapshot = self.state.presence.snapshot(&self.room);
            self.outbound.write_text(snapshot, true).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every idle connection's task holds its `Consumer` for its whole life (issue 22: it once held a
    /// copy of the node's `AppState`, 880 bytes of the 3.1 KB task).
    #[test]
    fn a_connection_holds_the_node_state_by_pointer_and_stays_small() {
        let consumer = std::mem::size_of::<Consumer<ChatStream>>();
        assert!(
            consumer <= 824,
            "Consumer<ChatStream> is {consumer} bytes (824 since its socket frames text itself, 800 \
             since issue 22's second pass; 816 before)"
        );
        assert_eq!(std::mem::size_of::<AppState>(), 8);
    }

    /// The idle loop's state is the other half of every idle connection's task.
    #[test]
    fn a_connection_s_loop_stays_small() {
        fn output_size<R>(_: fn(&'static mut Consumer<ChatStream>, Option<u64>) -> R) -> usize {
            std::mem::size_of::<R>()
        }
        let serve = output_size(Consumer::serve);
        assert!(
            serve <= 800,
            "Consumer::serve's future is {serve} bytes (776 in a debug build since issue 22's third \
             pass, 960 before: the live burst's timer and frame, the close listener's wait)"
        );
    }
}
