//! Open WebSocket connections per address: a count taken at the handshake and given back when the
//! connection's [`Slot`] drops (the connection ended, or its handshake failed after the count). The map
//! holds only addresses with open connections, so it is bounded by them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::address::AddressKey;

/// Open connections by address.
#[derive(Debug, Default)]
pub struct OpenConnections {
    counts: Mutex<HashMap<AddressKey, u32>>,
}

impl OpenConnections {
    fn lock(&self) -> MutexGuard<'_, HashMap<AddressKey, u32>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one more connection from `address` unless it already has `max` open.
    pub fn take(self: &Arc<Self>, address: AddressKey, max: u32) -> Option<Slot> {
        let mut counts = self.lock();
        let count = counts.entry(address).or_insert(0);
        if *count >= max {
            if *count == 0 {
                counts.remove(&address);
            }
            return None;
        }
        *count += 1;
        Some(Slot {
            open: self.clone(),
            address,
        })
    }

    /// Connections open from `address`.
    #[cfg(test)]
    pub fn count(&self, address: AddressKey) -> u32 {
        self.lock().get(&address).copied().unwrap_or(0)
    }

    /// Addresses with open connections.
    #[cfg(test)]
    pub fn addresses(&self) -> usize {
        self.lock().len()
    }

    fn give_back(&self, address: AddressKey) {
        let mut counts = self.lock();
        if let Some(count) = counts.get_mut(&address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&address);
            }
        }
    }
}

/// One counted connection; dropping it gives the count back.
#[derive(Debug)]
pub struct Slot {
    open: Arc<OpenConnections>,
    address: AddressKey,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.give_back(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_address_and_given_back() {
        let open = Arc::new(OpenConnections::default());
        let a = AddressKey::of("192.0.2.1".parse().expect("ip"));
        let b = AddressKey::of("192.0.2.2".parse().expect("ip"));
        let first = open.take(a, 2).expect("first");
        let second = open.take(a, 2).expect("second");
        assert!(open.take(a, 2).is_none());
        let other = open.take(b, 2).expect("another address");
        drop(first);
        assert_eq!(open.count(a), 1);
        let third = open.take(a, 2).expect("a slot came back");
        drop((second, third, other));
        assert_eq!(open.addresses(), 0, "no entry outlives its connections");
        assert!(open.take(a, 0).is_none());
        assert_eq!(open.addresses(), 0);
    }
}
