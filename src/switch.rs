//! `Switch`: whether something in the store wants a node's work at all (anyone subscribed to pushes, any
//! outgoing hook asking for room occupancy), so that while nothing does, the work is skipped. A task
//! looks at the store now and then; an action on this node that makes the work wanted (a subscribe, a
//! hook registered) turns it on at once, and a look that began before that action cannot turn it off.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

/// One atomic: the lowest bit is the answer, the rest counts the actions that turned it on; and who waits
/// for an action.
pub struct Switch(AtomicU64, Notify);

impl Switch {
    /// On, until a first look says otherwise.
    pub fn new() -> Self {
        Self(AtomicU64::new(1), Notify::new())
    }

    /// Off, until an action or a look turns it on.
    pub fn off() -> Self {
        Self(AtomicU64::new(0), Notify::new())
    }

    /// Whether the work is wanted.
    pub fn on(&self) -> bool {
        self.0.load(Ordering::Relaxed) & 1 == 1
    }

    /// Something on this node made the work wanted.
    pub fn switch_on(&self) {
        // Adds one to the count and sets the bit.
        self.0.fetch_add(2, Ordering::SeqCst);
        self.0.fetch_or(1, Ordering::SeqCst);
        self.1.notify_one();
    }

    /// Waits for the next action that turns it on (one waiter: an action while nobody waits is kept for
    /// the next wait).
    pub async fn switched_on(&self) {
        self.1.notified().await;
    }

    /// The count of actions now (what a look at the store starts from).
    pub fn turned_on(&self) -> u64 {
        self.0.load(Ordering::SeqCst) >> 1
    }

    /// What a look at the store that began at count `before` found.
    pub fn looked(&self, before: u64, wanted: bool) {
        if wanted {
            self.0.fetch_or(1, Ordering::SeqCst);
            return;
        }
        let mut now = self.0.load(Ordering::SeqCst);
        while now >> 1 == before {
            match self
                .0
                .compare_exchange(now, now & !1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return,
                Err(changed) => now = changed,
            }
        }
    }
}

impl Default for Switch {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_that_began_before_an_action_does_not_switch_it_off() {
        let switch = Switch::new();
        assert!(switch.on());
        let before = switch.turned_on();
        switch.looked(before, false);
        assert!(!switch.on(), "nothing wants it");
        let before = switch.turned_on();
        switch.switch_on();
        switch.looked(before, false);
        assert!(switch.on(), "the action came after the look began");
        let before = switch.turned_on();
        switch.looked(before, true);
        assert!(switch.on());
        assert!(!Switch::off().on());
    }
}
