//! Login throttling: after `max_failures` failed logins for one username or from one address within the
//! lockout window, further attempts for it are answered 429 until the window has passed. A success clears
//! the username's count, and every lock expires, so the real owner is never locked out for good. Kept in
//! memory per node and bounded in entries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before old ones are dropped.
const MAX_ENTRIES: usize = 100_000;

/// Failed-login counters by key (`u:<username key>` or `ip:<address>`).
pub struct LoginThrottle {
    entries: Mutex<HashMap<String, Entry>>,
    max_failures: u32,
    window: Duration,
}

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

impl LoginThrottle {
    /// Locks a key for `window` after `max_failures` failures within `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max_failures: max_failures.max(1),
            window,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long until any of `keys` may try again, if one is locked.
    pub fn retry_after(&self, keys: &[String]) -> Option<Duration> {
        let now = Instant::now();
        let entries = self.lock();
        keys.iter()
            .filter_map(|k| entries.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Counts a failure against each of `keys`.
    pub fn failed(&self, keys: &[String]) {
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            let window = self.window;
            entries
                .retain(|_, e| e.locked_until.is_some_and(|u| u > now) || now - e.since < window);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        for key in keys {
            let entry = entries.entry(key.clone()).or_insert(Entry {
                failures: 0,
                since: now,
                locked_until: None,
            });
            if now - entry.since >= self.window || entry.locked_until.is_some_and(|u| u <= now) {
                *entry = Entry {
                    failures: 0,
                    since: now,
                    locked_until: None,
                };
            }
            entry.failures += 1;
            if entry.failures >= self.max_failures {
                entry.locked_until = Some(now + self.window);
            }
        }
    }

    /// Clears `key` after a successful login.
    pub fn succeeded(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_lock_a_key_until_the_window_passes() {
        let throttle = LoginThrottle::new(3, Duration::from_millis(200));
        let keys = ["u:ada".to_owned()];
        for _ in 0..2 {
            throttle.failed(&keys);
            assert!(throttle.retry_after(&keys).is_none());
        }
        throttle.failed(&keys);
        assert!(throttle.retry_after(&keys).is_some());
        assert!(throttle.retry_after(&["u:bob".to_owned()]).is_none());
        throttle.succeeded("u:ada");
        assert!(throttle.retry_after(&keys).is_none());
    }
}
