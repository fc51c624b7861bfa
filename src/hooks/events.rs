//! The events a hook may ask for, and how a stored row of a room's sequence (or a room's occupancy event,
//! `src/occupancy/`) becomes one. Each event carries a stable `event_id` (`<hook>-<room id>-<seq>`: the
//! hook, the room and the row's id; `<hook>-occ-<room id>-<n>` for the room's `n`th occupancy event), so a
//! receiver that gets a batch twice (at least once) can drop what it has seen.

use serde_json::{Value, json};

use crate::domain::rfc3339_ms;
use crate::storage::{MemberEvent, MessageKind, OccupancyEvent, StoredMessage, Track};

/// An event name, as receivers see it (Pusher-like).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventName {
    /// A message was stored.
    MessageCreated,
    /// A message's text was edited.
    MessageEdited,
    /// A message (or every message up to one) was deleted.
    MessageDeleted,
    /// Someone became a member of the room (its creator too).
    MemberAdded,
    /// Someone stopped being a member (removed, or left).
    MemberRemoved,
    /// The room's first socket anywhere arrived (it had nobody).
    RoomOccupied,
    /// The room's last socket anywhere went (or its node died and its claim ran out).
    RoomVacated,
}

/// Every event, in the order the API lists them.
pub const ALL: [EventName; 7] = [
    EventName::MessageCreated,
    EventName::MessageEdited,
    EventName::MessageDeleted,
    EventName::MemberAdded,
    EventName::MemberRemoved,
    EventName::RoomOccupied,
    EventName::RoomVacated,
];

impl EventName {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageCreated => "message_created",
            Self::MessageEdited => "message_edited",
            Self::MessageDeleted => "message_deleted",
            Self::MemberAdded => "member_added",
            Self::MemberRemoved => "member_removed",
            Self::RoomOccupied => "room_occupied",
            Self::RoomVacated => "room_vacated",
        }
    }

    /// Which of a room's streams the event comes from.
    pub fn track(self) -> Track {
        match self {
            Self::RoomOccupied | Self::RoomVacated => Track::Occupancy,
            _ => Track::Messages,
        }
    }

    /// From the name on the wire.
    pub fn parse(name: &str) -> Option<Self> {
        ALL.into_iter().find(|event| event.as_str() == name)
    }

    /// The names in a stored list (separated by spaces); unknown ones are skipped.
    pub fn list(stored: &str) -> Vec<Self> {
        stored.split(' ').filter_map(Self::parse).collect()
    }
}

/// What stored row `row` of room `room` (id `room_id`) is for hook `hook_id`: its name and its JSON, or
/// `None` for a row that is no event a hook hears of (a reaction, a pin, a topic, a role change).
pub fn event(
    hook_id: i64,
    room_id: i64,
    room: &str,
    row: &StoredMessage,
) -> Option<(EventName, Value)> {
    let ts = rfc3339_ms(row.ts_ms);
    let (name, mut body) = match row.kind {
        MessageKind::Message | MessageKind::Deleted => {
            let mut body = json!({
                "id": row.seq, "user": row.author, "message": row.body, "ts": ts, "guest": row.guest,
            });
            if row.edited {
                body["edited"] = json!(true);
            }
            if row.bot {
                body["bot"] = json!(true);
            }
            if row.kind == MessageKind::Deleted {
                body["deleted"] = json!(true);
            }
            if let Some(root) = row.reply_to {
                body["reply_to"] = json!(root);
            }
            (EventName::MessageCreated, body)
        }
        MessageKind::Edit { target } => (
            EventName::MessageEdited,
            json!({"id": target, "seq": row.seq, "user": row.author, "message": row.body, "ts": ts}),
        ),
        MessageKind::Delete { target } => (
            EventName::MessageDeleted,
            json!({"id": target, "seq": row.seq, "user": row.author, "ts": ts}),
        ),
        MessageKind::Clear { through } => (
            EventName::MessageDeleted,
            json!({"id": through, "through": true, "seq": row.seq, "user": row.author, "ts": ts}),
        ),
        MessageKind::Member => {
            let change = MemberEvent::decode(&row.body)?;
            let name = match change.action.as_str() {
                "added" => EventName::MemberAdded,
                "removed" | "left" => EventName::MemberRemoved,
                _ => return None,
            };
            (
                name,
                json!({
                    "id": row.seq, "user": change.user, "role": change.role, "by": row.author,
                    "action": change.action, "ts": ts,
                }),
            )
        }
        MessageKind::Reaction { .. } | MessageKind::Pin { .. } | MessageKind::Topic => return None,
    };
    body["event_id"] = json!(format!("{hook_id}-{room_id}-{}", row.seq));
    body["name"] = json!(name.as_str());
    body["room"] = json!(room);
    Some((name, body))
}

/// What room `room`'s (id `room_id`) occupancy event `stored` is for hook `hook_id`: its name and JSON.
/// `id` is the event's own number in the room (not a message id).
pub fn occupancy_event(
    hook_id: i64,
    room_id: i64,
    room: &str,
    stored: &OccupancyEvent,
) -> Option<(EventName, Value)> {
    let name = EventName::parse(&stored.name).filter(|n| n.track() == Track::Occupancy)?;
    let body = json!({
        "event_id": format!("{hook_id}-occ-{room_id}-{}", stored.seq),
        "name": name.as_str(),
        "room": room,
        "id": stored.seq,
        "time_ms": stored.time_ms,
    });
    Some((name, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: u64, kind: MessageKind, body: &str) -> StoredMessage {
        StoredMessage {
            seq,
            ts_ms: 0,
            author: "ada".into(),
            body: body.into(),
            guest: false,
            kind,
            edited: false,
            reply_to: None,
            mentions: String::new(),
            files: String::new(),
            bot: false,
        }
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for name in ALL {
            assert_eq!(EventName::parse(name.as_str()), Some(name));
        }
        assert_eq!(EventName::parse("room_entered"), None);
        assert_eq!(
            EventName::list("message_created bogus member_added"),
            vec![EventName::MessageCreated, EventName::MemberAdded]
        );
    }

    #[test]
    fn rows_become_events_with_stable_ids() {
        let (name, created) =
            event(7, 3, "lobby", &row(5, MessageKind::Message, "hi")).expect("event");
        assert_eq!(name, EventName::MessageCreated);
        assert_eq!(created["event_id"], "7-3-5");
        assert_eq!(
            (created["room"].as_str(), created["id"].as_u64()),
            (Some("lobby"), Some(5))
        );
        let (name, edited) = event(
            7,
            3,
            "lobby",
            &row(6, MessageKind::Edit { target: 5 }, "hello"),
        )
        .expect("event");
        assert_eq!(
            (name, edited["id"].as_u64(), edited["seq"].as_u64()),
            (EventName::MessageEdited, Some(5), Some(6))
        );
        let (name, member) = event(
            7,
            3,
            "lobby",
            &row(8, MessageKind::Member, "left member bob"),
        )
        .expect("event");
        assert_eq!(
            (name, member["user"].as_str()),
            (EventName::MemberRemoved, Some("bob"))
        );
        assert!(
            event(
                7,
                3,
                "lobby",
                &row(9, MessageKind::Member, "role moderator bob")
            )
            .is_none()
        );
        assert!(event(7, 3, "lobby", &row(9, MessageKind::Topic, "new")).is_none());
    }

    #[test]
    fn occupancy_events_carry_their_own_number_and_a_stable_id() {
        let stored = OccupancyEvent {
            seq: 3,
            name: "room_occupied".into(),
            time_ms: 1_700_000_000_000,
        };
        let (name, body) = occupancy_event(7, 4, "lobby", &stored).expect("event");
        assert_eq!(name, EventName::RoomOccupied);
        assert_eq!(
            body,
            json!({"event_id": "7-occ-4-3", "name": "room_occupied", "room": "lobby", "id": 3,
                   "time_ms": 1_700_000_000_000_i64})
        );
        let message = OccupancyEvent {
            name: "message_created".into(),
            ..stored
        };
        assert!(occupancy_event(7, 4, "lobby", &message).is_none());
    }
}
