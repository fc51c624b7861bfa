//! `Cursor`: a connection's place in its room, the last sequence number it delivered. It decides what to do
//! with each live event so that a client sees `last + 1` next, always (docs/ARCHITECTURE.md, invariant 3).

/// What to do with a live event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Already delivered (from history, a replay or a catch-up): drop it.
    Skip,
    /// The next one: deliver it.
    Deliver,
    /// Something is missing before it: read the gap from the store first.
    CatchUp,
}

/// The last room sequence number delivered on one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    last: u64,
}

impl Cursor {
    /// A cursor that has delivered everything up to `last`.
    pub fn at(last: u64) -> Self {
        Self { last }
    }

    /// The last sequence number delivered.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// What to do with live event `seq`.
    pub fn step(&self, seq: u64) -> Step {
        if seq <= self.last {
            Step::Skip
        } else if seq == self.last + 1 {
            Step::Deliver
        } else {
            Step::CatchUp
        }
    }

    /// Records that `seq` was delivered.
    pub fn delivered(&mut self, seq: u64) {
        debug_assert!(seq > self.last, "delivered {seq} after {}", self.last);
        self.last = seq;
    }

    /// Moves past the ids before `first` that retention removed: `first` is the next one to deliver.
    pub fn skip_to(&mut self, first: u64) {
        self.last = self.last.max(first.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    //! A model of the whole resume logic: a store, live streams that lag or lose events (as Redis pub/sub
    //! may), and clients that read at random paces, drop their connection and resume with `since`. Each
    //! client must end with every message exactly once, in order.

    use super::*;
    use proptest::prelude::*;
    use tokio::sync::broadcast;

    #[test]
    fn skipping_a_cut_moves_to_just_before_the_first_kept_id_and_never_back() {
        let mut cursor = Cursor::at(2);
        cursor.skip_to(6);
        assert_eq!(cursor.step(6), Step::Deliver);
        cursor.skip_to(3);
        assert_eq!(cursor.last(), 5, "a cut behind the cursor changes nothing");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Send(u8),
        /// A message whose live event never reaches one client.
        SendLost(usize),
        Read(usize, u8),
        Drop(usize),
        Resume(usize),
    }

    fn op(clients: usize) -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1u8..5).prop_map(Op::Send),
            1 => (0..clients).prop_map(Op::SendLost),
            4 => (0..clients, 1u8..20).prop_map(|(c, n)| Op::Read(c, n)),
            1 => (0..clients).prop_map(Op::Drop),
            1 => (0..clients).prop_map(Op::Resume),
        ]
    }

    struct Client {
        cursor: Cursor,
        /// This client's live stream: its sender (the room's fan-out to it) and receiver.
        live: Option<(broadcast::Sender<u64>, broadcast::Receiver<u64>)>,
        seen: Vec<u64>,
    }

    impl Client {
        /// Delivers everything in `store` after the cursor, as the consumer's catch-up does.
        fn catch_up(&mut self, store: &[u64]) {
            for &seq in store
                .iter()
                .skip(usize::try_from(self.cursor.last()).unwrap_or(0))
            {
                self.cursor.delivered(seq);
                self.seen.push(seq);
            }
        }

        fn handle(&mut self, seq: u64, store: &[u64]) {
            match self.cursor.step(seq) {
                Step::Skip => {}
                Step::Deliver => {
                    self.cursor.delivered(seq);
                    self.seen.push(seq);
                }
                Step::CatchUp => self.catch_up(store),
            }
        }

        fn read(&mut self, n: u8, store: &[u64]) {
            for _ in 0..n {
                let Some((_, live)) = self.live.as_mut() else {
                    return;
                };
                match live.try_recv() {
                    Ok(seq) => self.handle(seq, store),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => self.catch_up(store),
                    Err(_) => return,
                }
            }
        }

        /// Reconnects with `since` = the last id this client saw: subscribe, then read the store.
        fn resume(&mut self, capacity: usize, store: &[u64]) {
            self.live = Some(broadcast::channel(capacity));
            let head = store.len() as u64;
            self.cursor = Cursor::at(self.seen.last().copied().unwrap_or(0).min(head));
            self.catch_up(store);
        }
    }

    proptest! {
        #[test]
        fn every_client_sees_every_message_once_in_order(
            capacity in 1usize..8,
            ops in proptest::collection::vec(op(3), 1..200),
        ) {
            let mut store: Vec<u64> = Vec::new();
            let mut clients: Vec<Client> = (0..3)
                .map(|_| Client { cursor: Cursor::default(), live: Some(broadcast::channel(capacity)), seen: Vec::new() })
                .collect();
            // Stored first, then published (invariant 1), to every live client but `lost`.
            let publish = |store: &mut Vec<u64>, clients: &mut [Client], lost: Option<usize>| {
                let seq = store.len() as u64 + 1;
                store.push(seq);
                for (i, client) in clients.iter_mut().enumerate() {
                    if let (Some((sender, _)), false) = (&client.live, lost == Some(i)) {
                        let _ = sender.send(seq);
                    }
                }
            };
            for op in ops {
                match op {
                    Op::Send(n) => for _ in 0..n {
                        publish(&mut store, &mut clients, None);
                    },
                    Op::SendLost(c) => publish(&mut store, &mut clients, Some(c)),
                    Op::Read(c, n) => clients[c].read(n, &store),
                    Op::Drop(c) => clients[c].live = None,
                    Op::Resume(c) => clients[c].resume(capacity, &store),
                }
            }
            // Everyone reconnects, then one more message arrives: a lost tail is healed by the next
            // message (or, across nodes, by the check after a layer reconnect).
            for client in &mut clients {
                if client.live.is_none() {
                    client.resume(capacity, &store);
                }
            }
            publish(&mut store, &mut clients, None);
            let expected: Vec<u64> = (1..=store.len() as u64).collect();
            for client in &mut clients {
                client.read(u8::MAX, &store);
                prop_assert_eq!(&client.seen, &expected);
            }
        }
    }
}
