//! What one fault run's clients saw, and the verdict on it: per client, the ids delivered (duplicates and
//! ids older than the newest already delivered are counted, never delivered twice in the tally) and every
//! send with its answer; per room, what was acked. [`report`] turns them into the figures of one table row:
//! an acked message is *lost* when some client of its room never got it, a *gap* is an id below the room's
//! head that some client never got although nobody saw it acked, a message is *duplicated* when a client
//! got its id twice or its text (its `client_id`) is stored under two ids.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// How a send was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged with this room id.
    Acked(u64),
    /// An error frame with this code.
    Error(String),
}

/// One send (and its resends).
#[derive(Clone, Debug)]
pub struct SendRecord {
    /// When it was first sent, in ms since the clients started.
    pub sent_ms: u64,
    /// Whether it was first sent while the fault was on.
    pub during: bool,
    /// When its answer came.
    pub answered_ms: Option<u64>,
    /// The answer.
    pub outcome: Option<Outcome>,
    /// Its text (the `client_id`, and the marker for the slow one).
    pub text: String,
}

/// What one client saw and sent.
#[derive(Default)]
pub struct ClientRecord {
    /// Its node's index.
    pub node: usize,
    /// Its room's index.
    pub room: usize,
    /// The highest id delivered: the next connection resumes after it.
    pub last: u64,
    /// `seen[id]`: id was delivered.
    seen: Vec<bool>,
    /// Every id up to this one was delivered.
    contiguous: u64,
    /// Deliveries of an id already delivered.
    pub duplicated: u64,
    /// Deliveries of an id below the newest already delivered.
    pub reordered: u64,
    /// The text of each id delivered.
    pub texts: Vec<(u64, String)>,
    /// Every send, in order.
    pub sends: Vec<SendRecord>,
    /// Connections after the first.
    pub reconnects: u64,
    /// Connection attempts that failed.
    pub failed_connects: u64,
    /// Sends sent again after a reconnect.
    pub resends: u64,
    /// Error frames that named no send.
    pub bare_errors: u64,
    /// Sends without an answer when the run stopped.
    pub unanswered: u64,
}

impl ClientRecord {
    /// An empty record of a client of `node` in `room`.
    pub fn new(node: usize, room: usize) -> Self {
        Self {
            node,
            room,
            ..Self::default()
        }
    }

    /// Notes the delivery of `id` with `text`.
    pub fn deliver(&mut self, id: u64, text: &str) {
        let at = id as usize;
        if self.seen.len() <= at {
            self.seen.resize(at + 1, false);
        }
        if self.seen[at] {
            self.duplicated += 1;
            return;
        }
        if id < self.last {
            self.reordered += 1;
        }
        self.seen[at] = true;
        self.last = self.last.max(id);
        while self.seen.get(self.contiguous as usize + 1) == Some(&true) {
            self.contiguous += 1;
        }
        self.texts.push((id, text.to_owned()));
    }

    /// Every id up to this one was delivered.
    pub fn contiguous(&self) -> u64 {
        self.contiguous
    }

    fn has(&self, id: u64) -> bool {
        self.seen.get(id as usize) == Some(&true)
    }
}

/// The run's shape and times, besides the clients' records.
pub struct RoomView {
    /// Rooms.
    pub rooms: usize,
    /// Indices of the nodes the fault hit directly.
    pub affected: Vec<usize>,
    /// When the run stopped.
    pub end_ms: u64,
    /// Seconds from the heal until every client had every id (None: not within the bound).
    pub converge_s: Option<f64>,
    /// Seconds from the heal until every send had its answer (None: not within the bound).
    pub answered_s: Option<f64>,
}

/// One fault run's figures (the clients' JSON line).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// Sends.
    pub sends: u64,
    /// Distinct messages acked.
    pub acked: u64,
    /// Acked messages some client of their room never got.
    pub lost: u64,
    /// (client, acked message) pairs missing.
    pub lost_deliveries: u64,
    /// (client, id) pairs missing below the room's head, for ids nobody saw acked.
    pub gaps: u64,
    /// Deliveries of an id a client had, plus messages stored under more than one id.
    pub duplicated: u64,
    /// Deliveries of an id below one already delivered.
    pub reordered: u64,
    /// Acked ids delivered with another text than the one acked.
    pub mismatched: u64,
    /// Sends without an answer at the end.
    pub unanswered: u64,
    /// Error answers by code.
    pub errors: BTreeMap<String, u64>,
    /// Error frames that named no send.
    pub bare_errors: u64,
    /// Sends sent again after a reconnect.
    pub resends: u64,
    /// Reconnections.
    pub reconnects: u64,
    /// Failed connection attempts.
    pub failed_connects: u64,
    /// Seconds from the heal until every client had every id.
    pub converge_s: Option<f64>,
    /// Seconds from the heal until every send was answered.
    pub answered_s: Option<f64>,
    /// Sends made during the fault on nodes it did not hit.
    pub sends_during_unaffected: u64,
    /// p99 send->answer of those, in ms (an unanswered one counts until the end).
    pub p99_during_ms: Option<f64>,
    /// p99 send->answer of every send made during the fault, in ms.
    pub p99_during_all_ms: Option<f64>,
    /// The slowest answer of the run, in ms.
    pub max_answer_ms: Option<f64>,
}

/// The `q` quantile of `values` (sorted here).
fn quantile(values: &mut [u64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1] as f64)
}

/// The figures of one run.
pub fn report(view: &RoomView, clients: &[ClientRecord]) -> Report {
    let mut out = Report {
        converge_s: view.converge_s,
        answered_s: view.answered_s,
        ..Report::default()
    };
    let mut during_unaffected = Vec::new();
    let mut during_all = Vec::new();
    let mut answers = Vec::new();
    for client in clients {
        out.duplicated += client.duplicated;
        out.reordered += client.reordered;
        out.unanswered += client.unanswered;
        out.resends += client.resends;
        out.reconnects += client.reconnects;
        out.failed_connects += client.failed_connects;
        out.bare_errors += client.bare_errors;
        for send in &client.sends {
            out.sends += 1;
            let took = send
                .answered_ms
                .unwrap_or(view.end_ms)
                .saturating_sub(send.sent_ms);
            if send.answered_ms.is_some() {
                answers.push(took);
            }
            if send.during {
                during_all.push(took);
                if !view.affected.contains(&client.node) {
                    during_unaffected.push(took);
                }
            }
            if let Some(Outcome::Error(code)) = &send.outcome {
                *out.errors.entry(code.clone()).or_default() += 1;
            }
        }
    }
    out.sends_during_unaffected = during_unaffected.len() as u64;
    out.p99_during_ms = quantile(&mut during_unaffected, 0.99);
    out.p99_during_all_ms = quantile(&mut during_all, 0.99);
    out.max_answer_ms = quantile(&mut answers, 1.0);
    for room in 0..view.rooms {
        tally_room(room, clients, &mut out);
    }
    out
}

/// Lost, gaps, stored twice and mismatched texts of one room.
fn tally_room(room: usize, clients: &[ClientRecord], out: &mut Report) {
    let members: Vec<&ClientRecord> = clients.iter().filter(|c| c.room == room).collect();
    let mut acked: BTreeMap<u64, &str> = BTreeMap::new();
    for client in &members {
        for send in &client.sends {
            if let Some(Outcome::Acked(id)) = send.outcome {
                acked.insert(id, &send.text);
            }
        }
    }
    let mut texts: HashMap<u64, &str> = HashMap::new();
    let mut ids_of: HashMap<&str, BTreeSet<u64>> = HashMap::new();
    for client in &members {
        for (id, text) in &client.texts {
            texts.insert(*id, text);
            ids_of.entry(text).or_default().insert(*id);
        }
    }
    out.acked += acked.len() as u64;
    out.duplicated += ids_of.values().map(|ids| ids.len() as u64 - 1).sum::<u64>();
    out.mismatched += acked
        .iter()
        .filter(|(id, text)| texts.get(id).is_some_and(|seen| seen != *text))
        .count() as u64;
    let head = acked
        .keys()
        .copied()
        .chain(members.iter().map(|c| c.last))
        .max()
        .unwrap_or(0);
    for id in 1..=head {
        let missing = members.iter().filter(|c| !c.has(id)).count() as u64;
        if missing == 0 {
            continue;
        }
        if acked.contains_key(&id) {
            out.lost += 1;
            out.lost_deliveries += missing;
        } else {
            out.gaps += missing;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(room: usize, ids: &[u64]) -> ClientRecord {
        let mut c = ClientRecord::new(0, room);
        for id in ids {
            c.deliver(*id, &format!("m{id}"));
        }
        c
    }

    fn acked(c: &mut ClientRecord, id: u64) {
        c.sends.push(SendRecord {
            sent_ms: 0,
            during: false,
            answered_ms: Some(5),
            outcome: Some(Outcome::Acked(id)),
            text: format!("m{id}"),
        });
    }

    fn view() -> RoomView {
        RoomView {
            rooms: 1,
            affected: Vec::new(),
            end_ms: 10,
            converge_s: Some(0.1),
            answered_s: Some(0.1),
        }
    }

    #[test]
    fn a_clean_room_has_nothing_to_report() {
        let mut a = client(0, &[1, 2, 3]);
        acked(&mut a, 1);
        acked(&mut a, 3);
        let b = client(0, &[1, 2, 3]);
        let r = report(&view(), &[a, b]);
        assert_eq!(
            (r.acked, r.lost, r.gaps, r.duplicated, r.reordered),
            (2, 0, 0, 0, 0)
        );
    }

    #[test]
    fn missing_duplicate_and_late_ids_are_counted() {
        let mut a = client(0, &[1, 3, 2, 3]);
        acked(&mut a, 2);
        let b = client(0, &[1, 3]);
        let r = report(&view(), &[a, b]);
        assert_eq!(r.lost, 1, "2 was acked and b never got it");
        assert_eq!(r.lost_deliveries, 1);
        assert_eq!(r.reordered, 1, "a got 2 after 3");
        assert_eq!(r.duplicated, 1, "a got 3 twice");
        assert_eq!(r.gaps, 0);
        let c = client(0, &[2]);
        let r = report(&view(), &[c]);
        assert_eq!(
            r.gaps, 1,
            "1 is below the head, never acked, never delivered"
        );
    }

    #[test]
    fn one_text_under_two_ids_is_a_duplicate() {
        let mut a = ClientRecord::default();
        a.deliver(1, "same");
        a.deliver(2, "same");
        assert_eq!(report(&view(), &[a]).duplicated, 1);
    }
}
