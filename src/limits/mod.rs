//! How hard one client may push a node (issue 10, "Limits"): token buckets (the `governor` crate's GCRA)
//! for sends per connection and per sender, frames per connection, handshakes and new rooms per address,
//! and full-history replays per client; a count of open connections per address. Each refusal is counted
//! in `chatweb_limit_refusals_total{limit="..."}`. `--limits off` turns all of them off.
//!
//! Who a client is: a signed-in user is their account, across all their connections on this node (and
//! their publish API requests); an incoming webhook is itself; a guest is their address ([`AddressKey`]: an IPv4 address or an IPv6 /64, as the peer or the trusted proxy's
//! `X-Forwarded-For` entry gives it). Counts are per node.
//!
//! What a new room is: rooms come into existence with their first stored message (a join of a room that
//! has none creates nothing in the database, and the recent cache keeps no room that does not exist), so a
//! connection that sends into a room it found empty counts one new room against its address, once. Found
//! empty: it has delivered nothing, and neither a resume (which reads the room's head) nor a live event
//! showed that the room has messages; a catch-up still running does not exempt the send.
//!
//! Memory: the keyed buckets live in sharded maps; [`Limits::forget_idle`], run every few seconds, drops
//! every key whose bucket is full again (indistinguishable from a key never seen), so the maps hold only
//! clients active within the last bucket's refill time.

mod address;
mod handshake;
mod open;
pub mod refusal;
mod settings;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics::Counter;

use crate::stats::Stats;

pub use address::{AddressKey, TrustedProxies};
pub use handshake::{Admission, ClientIp};
pub use open::Slot;
pub use refusal::{Limit, Refusal};
pub use settings::{LimitSettings, Switch};

/// Whose sends and replays a bucket counts: an account, or a guest's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SenderKey {
    /// A signed-in user, whatever their connections.
    User(i64),
    /// Guests, per address.
    Guest(AddressKey),
    /// An incoming webhook, by its id: rate limited like a person, whoever calls it.
    Hook(i64),
}

impl SenderKey {
    /// The key of a user (`Some(id)`) or of a guest at `address`.
    pub fn new(user_id: Option<i64>, address: AddressKey) -> Self {
        match user_id {
            Some(id) => Self::User(id),
            None => Self::Guest(address),
        }
    }
}

/// The limits of one node, shared by every handshake and connection.
pub struct Limits {
    settings: LimitSettings,
    trusted: TrustedProxies,
    /// Each bucket is `None` when its limit is off.
    send_quota: Option<Quota>,
    frame_quota: Option<Quota>,
    senders: Option<DefaultKeyedRateLimiter<SenderKey>>,
    handshakes: Option<DefaultKeyedRateLimiter<AddressKey>>,
    new_rooms: Option<DefaultKeyedRateLimiter<AddressKey>>,
    replays: Option<DefaultKeyedRateLimiter<SenderKey>>,
    open: Arc<open::OpenConnections>,
    /// One counter per [`Limit`], in [`Limit::ALL`]'s order.
    refusals: Vec<Counter>,
}

/// A quota's unit: [`Quota::per_second`] or [`Quota::per_minute`].
type Per = fn(NonZeroU32) -> Quota;

/// A quota of `rate` per unit with bursts of `burst`; `None` when `rate` is 0 (the limit is off).
fn quota(rate: u32, burst: u32, per: Per) -> Option<Quota> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(per(rate).allow_burst(burst))
}

/// A keyed bucket per key under `quota`, if there is one.
fn keyed<K: Clone + std::hash::Hash + Eq>(
    quota: Option<Quota>,
) -> Option<DefaultKeyedRateLimiter<K>> {
    quota.map(RateLimiter::keyed)
}

impl Limits {
    /// The limits `settings` describe, counting refusals in `stats`' registry.
    pub fn new(settings: &LimitSettings, stats: &Stats) -> anyhow::Result<Self> {
        let trusted = TrustedProxies::parse(&settings.trusted_proxies)?;
        let refusals = Limit::ALL
            .iter()
            .map(|limit| {
                stats.counter(
                    "chatweb_limit_refusals_total",
                    &[("limit", limit.name())],
                    "Requests, frames and handshakes refused by a limit (--limits).",
                )
            })
            .collect();
        let on = settings.on();
        let (second, minute): (Per, Per) = (Quota::per_second, Quota::per_minute);
        let enabled = |q: Option<Quota>| q.filter(|_| on);
        let send_quota = enabled(quota(settings.send_rate, settings.send_burst, second));
        let frame_quota = enabled(quota(settings.frame_rate, settings.frame_rate, second));
        Ok(Self {
            trusted,
            send_quota,
            frame_quota,
            senders: keyed(send_quota),
            handshakes: keyed(enabled(quota(
                settings.handshake_rate,
                settings.handshake_rate,
                second,
            ))),
            new_rooms: keyed(enabled(quota(
                settings.new_rooms_per_min,
                settings.new_rooms_per_min,
                minute,
            ))),
            replays: keyed(enabled(quota(
                settings.replays_per_min,
                settings.replays_per_min,
                minute,
            ))),
            open: Arc::default(),
            refusals,
            settings: settings.clone(),
        })
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted
    }

    /// The client's address for a request from `peer` (unknown without connection info).
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        peer.map(|peer| self.trusted.client(peer, headers))
    }

    fn refused(&self, limit: Limit, retry_after: Duration) -> Refusal {
        let index = Limit::ALL.iter().position(|l| *l == limit);
        if let Some(counter) = index.and_then(|i| self.refusals.get(i)) {
            counter.increment(1);
        }
        Refusal { limit, retry_after }
    }

    /// A handshake from `address`: within the handshake rate and under the open-connection cap, it gets
    /// the [`Slot`] its connection holds until it ends (`None` when that cap is off).
    pub fn admit(&self, address: AddressKey) -> Result<Option<Slot>, Refusal> {
        if let Some(handshakes) = &self.handshakes
            && let Err(not_until) = handshakes.check_key(&address)
        {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(self.refused(Limit::Handshakes, wait));
        }
        let max = self.settings.connections_per_address;
        if !self.settings.on() || max == 0 {
            return Ok(None);
        }
        match self.open.take(address, max) {
            Some(slot) => Ok(Some(slot)),
            None => Err(self.refused(Limit::Connections, Duration::ZERO)),
        }
    }

    /// Whether a replay from `since` in a room whose newest id is `head` must be counted at all.
    pub fn counts_as_replay(&self, since: u64, head: u64) -> bool {
        self.replays.is_some()
            && head > since
            && (since == 0 || head - since > self.settings.replay_far_back)
    }

    /// A replay by `sender` from `since` with the room's newest id `head`: passes unless it is a full
    /// replay (`since=0`, or further back than `--replay-far-back`) over `--replays-per-min`.
    pub fn replay(&self, sender: SenderKey, since: u64, head: u64) -> Result<(), Refusal> {
        if !self.counts_as_replay(since, head) {
            return Ok(());
        }
        match self.replays.as_ref().map(|r| r.check_key(&sender)) {
            Some(Err(not_until)) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(self.refused(Limit::Replays, wait))
            }
            _ => Ok(()),
        }
    }

    /// Whether replays are limited at all (a handshake reads the room's head only then).
    pub fn replays_limited(&self) -> bool {
        self.replays.is_some()
    }

    /// The limits of one new connection of `sender` from `address`, holding `slot`.
    pub fn connection(
        &self,
        sender: SenderKey,
        address: AddressKey,
        slot: Option<Slot>,
    ) -> ConnectionLimits {
        ConnectionLimits {
            sender,
            address,
            sends: self.send_quota.map(RateLimiter::direct),
            frames: self.frame_quota.map(RateLimiter::direct),
            told: false,
            room_not_new: false,
            _slot: slot,
        }
    }

    /// Drops every key whose bucket has refilled (a key never seen behaves the same), and gives the
    /// maps' spare capacity back.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.senders {
            l.retain_recent();
            l.shrink_to_fit();
        }
        for l in [&self.handshakes, &self.new_rooms].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.replays {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Keys held in the keyed buckets now.
    pub fn tracked_keys(&self) -> usize {
        let senders = self.senders.as_ref().map_or(0, |l| l.len());
        let replays = self.replays.as_ref().map_or(0, |l| l.len());
        let addresses: usize = [&self.handshakes, &self.new_rooms]
            .into_iter()
            .flatten()
            .map(|l| l.len())
            .sum();
        senders + replays + addresses
    }
}

/// What a connection's next frame may do.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameVerdict {
    /// Within the budget: handle it.
    Pass,
    /// Over the budget, the first of a run: drop it and tell the client.
    Tell(Refusal),
    /// Over the budget, already told: drop it silently.
    Drop,
}

/// One connection's buckets (`None` when off) and what it has counted.
pub struct ConnectionLimits {
    sender: SenderKey,
    address: AddressKey,
    sends: Option<DefaultDirectRateLimiter>,
    frames: Option<DefaultDirectRateLimiter>,
    /// The client was told about the current run of dropped frames.
    told: bool,
    /// This connection's sends create no room: it counted its room as new once already, or learnt that
    /// the room has messages.
    room_not_new: bool,
    /// The open-connection count, given back when the connection ends.
    _slot: Option<Slot>,
}

impl ConnectionLimits {
    /// Who the connection counts as.
    pub fn sender(&self) -> SenderKey {
        self.sender
    }

    /// Counts one frame of any kind against the connection's frame budget.
    pub fn frame(&mut self, limits: &Limits) -> FrameVerdict {
        let Some(frames) = &self.frames else {
            return FrameVerdict::Pass;
        };
        match frames.check() {
            Ok(()) => {
                self.told = false;
                FrameVerdict::Pass
            }
            Err(_) if self.told => FrameVerdict::Drop,
            Err(not_until) => {
                self.told = true;
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                FrameVerdict::Tell(limits.refused(Limit::Frames, wait))
            }
        }
    }

    /// Counts one send (a message, an edit, a deletion) against the connection's and the sender's
    /// buckets; `room_was_empty` when the connection has seen nothing in the room, so this send may
    /// create it (counted once per connection against the address's new rooms).
    pub fn send(&mut self, limits: &Limits, room_was_empty: bool) -> Result<(), Refusal> {
        let now = || DefaultClock::default().now();
        // The connection's own bucket first: a flood from one socket is refused on its own atomic,
        // without touching the shared map.
        if let Some(Err(not_until)) = self.sends.as_ref().map(|b| b.check()) {
            return Err(limits.refused(Limit::Sends, not_until.wait_time_from(now())));
        }
        if let Some(Err(not_until)) = limits.senders.as_ref().map(|b| b.check_key(&self.sender)) {
            return Err(limits.refused(Limit::Sends, not_until.wait_time_from(now())));
        }
        if room_was_empty && !self.room_not_new {
            if let Some(Err(not_until)) = limits
                .new_rooms
                .as_ref()
                .map(|b| b.check_key(&self.address))
            {
                return Err(limits.refused(Limit::NewRooms, not_until.wait_time_from(now())));
            }
            self.room_not_new = true;
        }
        Ok(())
    }

    /// The connection learnt that its room has messages (a resume read its head, a live event came): its
    /// sends create no room, whatever it has delivered so far.
    pub fn room_has_messages(&mut self) {
        self.room_not_new = true;
    }

    /// A resume frame from `since` with the room's newest id `head` (see [`Limits::replay`]).
    pub fn replay(&self, limits: &Limits, since: u64, head: u64) -> Result<(), Refusal> {
        limits.replay(self.sender, since, head)
    }
}

/// Every few seconds until `stop`: forgets idle keys and folds metric samples (bounded memory).
pub async fn housekeeping(
    limits: Arc<Limits>,
    stats: Arc<Stats>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                limits.forget_idle();
                stats.upkeep();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(s: &str) -> AddressKey {
        AddressKey::of(s.parse().expect("ip"))
    }

    fn limits(settings: LimitSettings) -> (Limits, Stats) {
        let stats = Stats::default();
        (Limits::new(&settings, &stats).expect("limits"), stats)
    }

    #[test]
    fn sends_are_bounded_per_connection_and_per_sender() {
        let (limits, stats) = limits(LimitSettings {
            send_rate: 1,
            send_burst: 3,
            ..LimitSettings::default()
        });
        let ip = address("192.0.2.1");
        let user = SenderKey::new(Some(7), ip);
        let mut first = limits.connection(user, ip, None);
        let mut second = limits.connection(user, ip, None);
        assert!(first.send(&limits, false).is_ok());
        assert!(second.send(&limits, false).is_ok());
        assert!(first.send(&limits, false).is_ok());
        // The user's bucket is shared: the third send took its last token.
        let refusal = second.send(&limits, false).expect_err("over the burst");
        assert_eq!(refusal.limit, Limit::Sends);
        assert!(
            refusal.retry_after > Duration::ZERO && refusal.retry_after <= Duration::from_secs(1)
        );
        // Another user from the same address is not held back; a guest there neither.
        let mut other = limits.connection(SenderKey::new(Some(8), ip), ip, None);
        assert!(other.send(&limits, false).is_ok());
        let mut guest = limits.connection(SenderKey::new(None, ip), ip, None);
        assert!(guest.send(&limits, false).is_ok());
        assert!(
            stats
                .render(0)
                .contains("chatweb_limit_refusals_total{limit=\"sends\"} 1"),
            "{}",
            stats.render(0)
        );
    }

    #[test]
    fn a_frame_flood_is_told_once_per_run() {
        let (limits, _) = limits(LimitSettings {
            frame_rate: 2,
            ..LimitSettings::default()
        });
        let ip = address("192.0.2.1");
        let mut conn = limits.connection(SenderKey::Guest(ip), ip, None);
        assert_eq!(conn.frame(&limits), FrameVerdict::Pass);
        assert_eq!(conn.frame(&limits), FrameVerdict::Pass);
        assert!(matches!(conn.frame(&limits), FrameVerdict::Tell(r) if r.limit == Limit::Frames));
        assert_eq!(conn.frame(&limits), FrameVerdict::Drop);
    }

    #[test]
    fn a_connection_counts_one_new_room_and_addresses_are_separate() {
        let (limits, _) = limits(LimitSettings {
            new_rooms_per_min: 1,
            ..LimitSettings::default()
        });
        let ip = address("192.0.2.1");
        let mut first = limits.connection(SenderKey::Guest(ip), ip, None);
        assert!(first.send(&limits, true).is_ok());
        assert!(
            first.send(&limits, true).is_ok(),
            "the same room counts once"
        );
        let mut second = limits.connection(SenderKey::Guest(ip), ip, None);
        assert!(
            second.send(&limits, false).is_ok(),
            "a room with messages is not new"
        );
        let refusal = second.send(&limits, true).expect_err("a second new room");
        assert_eq!(refusal.limit, Limit::NewRooms);
        let mut resumed = limits.connection(SenderKey::Guest(ip), ip, None);
        resumed.room_has_messages();
        assert!(
            resumed.send(&limits, true).is_ok(),
            "a room known to have messages is not new"
        );
        let elsewhere = address("192.0.2.2");
        let mut third = limits.connection(SenderKey::Guest(elsewhere), elsewhere, None);
        assert!(third.send(&limits, true).is_ok());
    }

    #[test]
    fn only_full_replays_count() {
        let (limits, _) = limits(LimitSettings {
            replays_per_min: 1,
            replay_far_back: 100,
            ..LimitSettings::default()
        });
        let sender = SenderKey::User(1);
        assert!(
            limits.replay(sender, 0, 0).is_ok(),
            "an empty room replays nothing"
        );
        assert!(
            limits.replay(sender, 950, 1000).is_ok(),
            "a near resume is not counted"
        );
        assert!(limits.replay(sender, 0, 5).is_ok());
        assert_eq!(
            limits.replay(sender, 1, 1000).expect_err("far back").limit,
            Limit::Replays
        );
        assert!(limits.replay(SenderKey::User(2), 0, 5).is_ok());
    }

    #[test]
    fn handshakes_and_open_connections_per_address() {
        let (limits, _) = limits(LimitSettings {
            handshake_rate: 3,
            connections_per_address: 2,
            ..LimitSettings::default()
        });
        let ip = address("192.0.2.1");
        let a = limits.admit(ip).expect("first");
        let _b = limits.admit(ip).expect("second");
        assert_eq!(limits.admit(ip).expect_err("cap").limit, Limit::Connections);
        drop(a);
        assert_eq!(limits.admit(ip).expect_err("rate").limit, Limit::Handshakes);
        assert!(limits.admit(address("192.0.2.9")).is_ok());
    }

    #[test]
    fn off_lets_everything_through_and_holds_no_state() {
        let (limits, _) = limits(LimitSettings {
            send_rate: 1,
            send_burst: 1,
            handshake_rate: 1,
            connections_per_address: 1,
            ..LimitSettings::off()
        });
        let ip = address("192.0.2.1");
        let mut conn = limits.connection(SenderKey::Guest(ip), ip, None);
        for _ in 0..100 {
            assert!(limits.admit(ip).expect("admitted").is_none());
            assert!(conn.send(&limits, true).is_ok());
            assert_eq!(conn.frame(&limits), FrameVerdict::Pass);
            assert!(limits.replay(SenderKey::Guest(ip), 0, 10_000).is_ok());
        }
        assert_eq!(limits.tracked_keys(), 0);
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let (limits, _) = limits(LimitSettings {
            handshake_rate: 1000,
            connections_per_address: 0,
            ..LimitSettings::default()
        });
        for i in 0..50u8 {
            assert!(limits.admit(address(&format!("192.0.2.{i}"))).is_ok());
        }
        assert_eq!(limits.tracked_keys(), 50);
        // One handshake refills in a millisecond at 1000/s.
        std::thread::sleep(Duration::from_millis(5));
        limits.forget_idle();
        assert_eq!(limits.tracked_keys(), 0);
    }
}
