//! Login throttling: at most `max_failures` wrong passwords are checked per username and per client address
//! within the lockout window; once that many have failed, further attempts are answered 429 until the window
//! has passed. Each attempt takes a slot of both its keys *before* its password is hashed and verified, and
//! gives it back if it succeeds (or never finishes), so any number of attempts sent at once cannot get more
//! than `max_failures` guesses checked: the ones beyond the free slots are refused without hashing. A
//! success clears the username's count, and every lock expires, so the real owner is never locked out for
//! good.
//!
//! Kept in memory per node and bounded: a username counts by its SHA-256 (a name of any length costs 32
//! bytes), an address by its [`AddressKey`] (IPv6 per /64), and at most [`MAX_ENTRIES`] keys are held. A
//! full map first drops what has expired, then counts that locked nothing (oldest first); only when every
//! key left is locked does the lock that ends soonest go, one at a time.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::limits::AddressKey;

/// Keys kept at most.
const MAX_ENTRIES: usize = 100_000;

/// What a count is kept for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// A username, by the SHA-256 of its case-insensitive key.
    User([u8; 32]),
    /// A client address (an IPv6 /64).
    Address(AddressKey),
}

impl ThrottleKey {
    /// The key of the username whose case-insensitive form is `key`.
    pub fn user(key: &str) -> Self {
        Self::User(Sha256::digest(key.as_bytes()).into())
    }

    /// The key of a client address.
    pub fn address(address: AddressKey) -> Self {
        Self::Address(address)
    }
}

/// Failed-login counters by key.
pub struct LoginThrottle {
    /// A std mutex: held for a few map operations, never across an await.
    entries: Mutex<HashMap<ThrottleKey, Entry>>,
    max_failures: u32,
    window: Duration,
    /// [`MAX_ENTRIES`]; smaller in unit tests.
    capacity: usize,
}

/// One key's count in its current window.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Attempts that failed in this window.
    failures: u32,
    /// Attempts being checked now: their slots are taken until they end.
    in_flight: u32,
    /// When this window began.
    since: Instant,
    /// Set when `failures` reached the limit.
    locked_until: Option<Instant>,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            in_flight: 0,
            since: now,
            locked_until: None,
        }
    }

    /// Starts a new window when the old one, or its lock, has passed.
    fn roll(&mut self, now: Instant, window: Duration) {
        let over = match self.locked_until {
            Some(until) => until <= now,
            None => now.duration_since(self.since) >= window,
        };
        if over {
            *self = Self {
                in_flight: self.in_flight,
                ..Self::new(now)
            };
        }
    }

    /// The wait before this key may be tried again, if it may not now.
    fn wait(&self, now: Instant, max_failures: u32, window: Duration) -> Option<Duration> {
        if let Some(until) = self.locked_until.filter(|u| *u > now) {
            return Some(until - now);
        }
        // Every slot is held by attempts being checked; if they fail, the key locks for a window.
        (self.failures + self.in_flight >= max_failures).then_some(window)
    }

    /// Nothing held and nothing that counts any more: the same as no entry at all.
    fn idle(&self, now: Instant, window: Duration) -> bool {
        let expired = match self.locked_until {
            Some(until) => until <= now,
            None => self.failures == 0 || now.duration_since(self.since) >= window,
        };
        self.in_flight == 0 && expired
    }

    fn locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|u| u > now)
    }
}

/// How an attempt ended, for [`LoginThrottle::end`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A wrong password (or no such user): counted.
    Failed,
    /// The right password: the username's count is cleared, the address's slot given back.
    Succeeded,
    /// Not checked to the end (an error, or the request went away): the slots are given back.
    Abandoned,
}

/// The slots one login attempt holds while its password is checked. Dropped without an outcome, it gives
/// them back.
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    keys: [ThrottleKey; 2],
    ended: bool,
}

impl Attempt<'_> {
    /// The password was wrong: the attempt counts against both keys.
    pub fn failed(mut self) {
        self.end(Outcome::Failed);
    }

    /// The password was right: the username's count is cleared.
    pub fn succeeded(mut self) {
        self.end(Outcome::Succeeded);
    }

    fn end(&mut self, outcome: Outcome) {
        if !self.ended {
            self.ended = true;
            self.throttle.end(&self.keys, outcome);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.end(Outcome::Abandoned);
    }
}

impl LoginThrottle {
    /// Locks a key for `window` after `max_failures` failures within `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self::with_capacity(max_failures, window, MAX_ENTRIES)
    }

    fn with_capacity(max_failures: u32, window: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max_failures: max_failures.max(1),
            window,
            capacity: capacity.max(2),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ThrottleKey, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot of the username key and of the address key for one attempt, or says how long until
    /// one of them may be tried again. Nothing is taken when either is refused.
    pub fn begin(&self, user: ThrottleKey, address: ThrottleKey) -> Result<Attempt<'_>, Duration> {
        let keys = [user, address];
        let now = Instant::now();
        let mut entries = self.lock();
        let mut wait = None;
        for key in &keys {
            if let Some(entry) = entries.get_mut(key) {
                entry.roll(now, self.window);
                wait = wait.max(entry.wait(now, self.max_failures, self.window));
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        let missing = keys.iter().filter(|k| !entries.contains_key(k)).count();
        if !self.make_room(&mut entries, now, missing) {
            // Every key held is being checked right now: refuse rather than grow.
            return Err(self.window);
        }
        for key in keys {
            entries
                .entry(key)
                .or_insert_with(|| Entry::new(now))
                .in_flight += 1;
        }
        Ok(Attempt {
            throttle: self,
            keys,
            ended: false,
        })
    }

    /// Gives back the slots of an attempt that ended with `outcome`, counting a failure.
    fn end(&self, keys: &[ThrottleKey; 2], outcome: Outcome) {
        let now = Instant::now();
        let mut entries = self.lock();
        for (i, key) in keys.iter().enumerate() {
            let Some(entry) = entries.get_mut(key) else {
                continue; // evicted meanwhile (only ever an entry nothing else held)
            };
            entry.in_flight = entry.in_flight.saturating_sub(1);
            entry.roll(now, self.window);
            match outcome {
                Outcome::Failed => {
                    entry.failures += 1;
                    if entry.failures >= self.max_failures {
                        entry.locked_until = Some(now + self.window);
                    }
                }
                // The username is `keys[0]`.
                Outcome::Succeeded if i == 0 => {
                    *entry = Entry {
                        in_flight: entry.in_flight,
                        ..Entry::new(now)
                    };
                }
                Outcome::Succeeded | Outcome::Abandoned => {}
            }
            if entry.idle(now, self.window) {
                entries.remove(key);
            }
        }
    }

    /// Makes room for `missing` new keys; false if every key held is in flight.
    fn make_room(
        &self,
        entries: &mut HashMap<ThrottleKey, Entry>,
        now: Instant,
        missing: usize,
    ) -> bool {
        let fits = |entries: &HashMap<ThrottleKey, Entry>| entries.len() + missing <= self.capacity;
        if fits(entries) {
            return true;
        }
        let window = self.window;
        entries.retain(|_, e| !e.idle(now, window));
        if fits(entries) {
            return true;
        }
        // Counts that lock nothing yet, oldest first, down to nine tenths of the cap, so this sort runs
        // once per tenth of the cap of new keys, not on every attempt.
        let mut unlocked: Vec<(Instant, ThrottleKey)> = entries
            .iter()
            .filter(|(_, e)| e.in_flight == 0 && !e.locked(now))
            .map(|(k, e)| (e.since, *k))
            .collect();
        unlocked.sort_unstable_by_key(|(since, _)| *since);
        let low_water = self.capacity - self.capacity / 10;
        for (_, key) in unlocked {
            if entries.len() + missing <= low_water {
                break;
            }
            entries.remove(&key);
        }
        // Only locks (and attempts in flight) left: the lock that ends soonest goes, one per new key.
        while !fits(entries) {
            let soonest = entries
                .iter()
                .filter(|(_, e)| e.in_flight == 0)
                .min_by_key(|(_, e)| e.locked_until)
                .map(|(k, _)| *k);
            let Some(key) = soonest else {
                return false;
            };
            entries.remove(&key);
        }
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    #[cfg(test)]
    fn retry_after(&self, key: ThrottleKey) -> Option<Duration> {
        let now = Instant::now();
        let mut entries = self.lock();
        let entry = entries.get_mut(&key)?;
        entry.roll(now, self.window);
        entry.wait(now, self.max_failures, self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn user(name: &str) -> ThrottleKey {
        ThrottleKey::user(name)
    }

    fn address(ip: &str) -> ThrottleKey {
        ThrottleKey::address(AddressKey::of(ip.parse::<IpAddr>().expect("ip")))
    }

    fn fail(throttle: &LoginThrottle, name: &str, ip: &str) {
        throttle
            .begin(user(name), address(ip))
            .expect("a free slot")
            .failed();
    }

    #[test]
    fn repeated_failures_lock_a_key_until_a_success_or_the_window_passes() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(60));
        for n in 0..3 {
            assert!(throttle.retry_after(user("ada")).is_none(), "{n}");
            fail(&throttle, "ada", &format!("192.0.2.{n}"));
        }
        assert!(throttle.retry_after(user("ada")).is_some());
        assert!(throttle.begin(user("ada"), address("192.0.2.9")).is_err());
        assert!(throttle.begin(user("bob"), address("192.0.2.9")).is_ok());
        // A success (here: of an attempt that began before the lock) clears the username's count.
        let throttle = LoginThrottle::new(3, Duration::from_secs(60));
        let owner = throttle
            .begin(user("ada"), address("192.0.2.50"))
            .expect("free");
        fail(&throttle, "ada", "192.0.2.1");
        fail(&throttle, "ada", "192.0.2.2");
        owner.succeeded();
        assert!(throttle.retry_after(user("ada")).is_none());
    }

    #[test]
    fn a_lock_ends_when_its_window_has_passed() {
        // A zero window has passed as soon as the lock is set.
        let throttle = LoginThrottle::new(1, Duration::ZERO);
        fail(&throttle, "ada", "192.0.2.1");
        let attempt = throttle.begin(user("ada"), address("192.0.2.1"));
        assert!(attempt.is_ok());
        assert_eq!(throttle.len(), 2, "the attempt just begun holds both keys");
        drop(attempt);
        assert_eq!(throttle.len(), 0, "given back, nothing is left");
    }

    #[test]
    fn attempts_in_flight_take_the_slots_so_no_more_than_the_limit_are_checked_at_once() {
        let throttle = LoginThrottle::new(5, Duration::from_secs(60));
        let held: Vec<Attempt<'_>> = (0..5)
            .map(|n| {
                throttle
                    .begin(user("ada"), address(&format!("192.0.2.{n}")))
                    .expect("a free slot")
            })
            .collect();
        for n in 5..300 {
            let refused = throttle.begin(user("ada"), address(&format!("198.51.100.{}", n % 250)));
            assert!(refused.is_err(), "attempt {n} got a slot");
        }
        // Given back (a request that went away, an error): the slots are free again.
        drop(held);
        assert!(throttle.retry_after(user("ada")).is_none());
        let attempts: Vec<Attempt<'_>> = (0..5)
            .map(|n| {
                throttle
                    .begin(user("ada"), address(&format!("192.0.2.{n}")))
                    .expect("free again")
            })
            .collect();
        attempts.into_iter().for_each(Attempt::failed);
        assert!(
            throttle.retry_after(user("ada")).is_some(),
            "five failures lock"
        );
        assert_eq!(throttle.len(), 6, "the username and five addresses");
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_long_names_cost_a_fixed_key() {
        let throttle = LoginThrottle::new(2, Duration::from_secs(60));
        fail(&throttle, "a", "2001:db8:1:2::1");
        fail(&throttle, "b", "2001:db8:1:2:ffff::9");
        assert!(
            throttle
                .begin(user("c"), address("2001:db8:1:2::3"))
                .is_err()
        );
        assert!(
            throttle
                .begin(user("c"), address("2001:db8:1:3::1"))
                .is_ok()
        );
        let long = "x".repeat(1 << 20);
        assert_eq!(ThrottleKey::user(&long), ThrottleKey::user(&long));
        assert!(std::mem::size_of::<ThrottleKey>() <= 40);
    }

    #[test]
    fn a_full_map_drops_stale_and_unlocked_counts_before_any_lock() {
        let throttle = LoginThrottle::with_capacity(2, Duration::from_secs(60), 20);
        // Four locked usernames, each failed twice from one address (which is locked too).
        for n in 0..4 {
            let ip = format!("192.0.2.{n}");
            fail(&throttle, &format!("locked{n}"), &ip);
            fail(&throttle, &format!("locked{n}"), &ip);
        }
        // New keys with one failure each fill the map many times over.
        for n in 0..200 {
            fail(
                &throttle,
                &format!("once{n}"),
                &format!("198.51.100.{}", n % 250),
            );
            assert!(throttle.len() <= 20);
        }
        for n in 0..4 {
            assert!(
                throttle.retry_after(user(&format!("locked{n}"))).is_some(),
                "locked{n} was dropped"
            );
            assert!(
                throttle
                    .retry_after(address(&format!("192.0.2.{n}")))
                    .is_some()
            );
        }
    }

    #[test]
    fn a_map_of_nothing_but_locks_drops_the_one_that_ends_first() {
        let throttle = LoginThrottle::with_capacity(1, Duration::from_secs(60), 4);
        fail(&throttle, "first", "192.0.2.1");
        fail(&throttle, "second", "192.0.2.2");
        assert_eq!(throttle.len(), 4);
        fail(&throttle, "third", "192.0.2.3");
        assert_eq!(throttle.len(), 4);
        assert!(throttle.retry_after(user("first")).is_none(), "ends first");
        for key in [user("second"), user("third"), address("192.0.2.3")] {
            assert!(throttle.retry_after(key).is_some());
        }
        // Keys in flight are never dropped: with all of them held, a new attempt is refused.
        let throttle = LoginThrottle::with_capacity(1, Duration::from_secs(60), 2);
        let _held = throttle
            .begin(user("a"), address("192.0.2.1"))
            .expect("free");
        assert!(throttle.begin(user("b"), address("192.0.2.2")).is_err());
    }
}
