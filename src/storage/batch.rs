//! Planning one committed batch, shared by every backend: group the batch by room (in name order, so that
//! nodes writing to the same rooms lock them in the same order), recognise repeated `client_id`s, and hand
//! out sequence numbers after the room's last one. The backend does the I/O; this does the arithmetic.

use std::collections::{BTreeMap, HashMap};

use super::{Appended, NewMessage, StoredMessage};

/// The batch's messages by room name, in name order; each holds indexes into the batch.
pub(super) fn by_room(batch: &[NewMessage]) -> BTreeMap<&str, Vec<usize>> {
    let mut rooms: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, message) in batch.iter().enumerate() {
        rooms.entry(message.room.as_str()).or_default().push(i);
    }
    rooms
}

/// The `client_id`s of the messages at `indexes`.
pub(super) fn client_ids<'a>(batch: &'a [NewMessage], indexes: &[usize]) -> Vec<&'a str> {
    indexes
        .iter()
        .filter_map(|&i| batch[i].client_id.as_deref())
        .collect()
}

/// What to write for one room.
pub(super) struct RoomPlan {
    /// The room's last sequence number after the batch.
    pub last_seq: u64,
    /// Each message's outcome, by batch index.
    pub outcomes: Vec<(usize, Appended)>,
    /// The batch indexes to insert, with their sequence numbers.
    pub inserts: Vec<(usize, u64)>,
}

/// Assigns sequence numbers after `last_seq` to the messages at `indexes`, except those whose `client_id`
/// is already stored (`stored`, by client id) or appears earlier in the batch: those are duplicates.
pub(super) fn plan_room(
    batch: &[NewMessage],
    indexes: &[usize],
    mut last_seq: u64,
    mut stored: HashMap<String, StoredMessage>,
    now_ms: i64,
) -> RoomPlan {
    let mut outcomes = Vec::with_capacity(indexes.len());
    let mut inserts = Vec::with_capacity(indexes.len());
    for &i in indexes {
        let message = &batch[i];
        if let Some(original) = message.client_id.as_deref().and_then(|id| stored.get(id)) {
            outcomes.push((
                i,
                Appended {
                    message: original.clone(),
                    duplicate: true,
                },
            ));
            continue;
        }
        last_seq += 1;
        let appended = StoredMessage {
            seq: last_seq,
            ts_ms: now_ms,
            author: message.author.as_str().to_owned(),
            body: message.body.as_str().to_owned(),
        };
        if let Some(id) = message.client_id.as_deref() {
            stored.insert(id.to_owned(), appended.clone());
        }
        inserts.push((i, last_seq));
        outcomes.push((
            i,
            Appended {
                message: appended,
                duplicate: false,
            },
        ));
    }
    RoomPlan {
        last_seq,
        outcomes,
        inserts,
    }
}

/// Puts per-room outcomes back in batch order.
pub(super) fn in_batch_order(len: usize, outcomes: Vec<(usize, Appended)>) -> Vec<Appended> {
    let mut slots: Vec<Option<Appended>> = vec![None; len];
    for (i, outcome) in outcomes {
        slots[i] = Some(outcome);
    }
    // Every index was planned exactly once by `plan_room`.
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageBody, RoomName, Username};

    fn message(room: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            room: RoomName::parse(room).expect("room"),
            author: Username::anonymous(),
            body: MessageBody::parse("hi", 10).expect("body"),
            client_id: client_id.map(Into::into),
        }
    }

    #[test]
    fn rooms_are_planned_in_name_order_with_repeats_recognised() {
        let batch = [
            message("b", Some("x")),
            message("a", None),
            message("b", Some("x")),
            message("b", None),
        ];
        let rooms = by_room(&batch);
        assert_eq!(rooms.keys().copied().collect::<Vec<_>>(), ["a", "b"]);
        let plan = plan_room(&batch, &rooms["b"], 7, HashMap::new(), 1);
        assert_eq!(plan.last_seq, 9);
        assert_eq!(plan.inserts, [(0, 8), (3, 9)]);
        let dup = plan
            .outcomes
            .iter()
            .find(|(i, _)| *i == 2)
            .expect("outcome");
        assert!(dup.1.duplicate);
        assert_eq!(dup.1.message.seq, 8);
    }
}
