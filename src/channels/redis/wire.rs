//! What travels on a room's Redis channel: `<cluster> <node hex> <room> <seq> <p|v|e|n> <text>`. `p` marks a
//! stored frame every client gets, `v` a stored v2-only one, `e` an ephemeral v2 frame (seq 0), `n` presence
//! news between nodes (seq 0). Neither a cluster id nor a room name contains a space.
//!
//! A payload is delivered only if it names this node's cluster and the room of the channel it came on:
//! another deployment on the same prefix, or a payload on the wrong channel, is never shown to anyone.

use std::sync::Arc;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::Outgoing;
use crate::channels::{ClusterId, Event};
use crate::domain::RoomName;

/// Encodes and checks payloads for one node of one cluster.
#[derive(Clone)]
pub(super) struct Wire {
    cluster: Arc<str>,
    node: u64,
    /// How this node's own payloads begin (`<cluster> <node hex> `).
    own: Arc<[u8]>,
}

/// A payload read from a channel.
#[derive(Debug)]
pub(super) enum Incoming {
    /// Another node of this cluster sent it about this channel's room.
    Delivered { node: u64, outgoing: Outgoing },
    /// This node's own echo (delivered locally already).
    Own,
    /// Another deployment's payload on this prefix.
    ForeignCluster(String),
    /// It names another room than its channel's.
    WrongRoom(String),
    /// Not a payload at all.
    Malformed,
}

impl Wire {
    pub(super) fn new(cluster: &ClusterId, node: u64) -> Self {
        Self {
            cluster: Arc::from(cluster.as_str()),
            node,
            own: Arc::from(format!("{} {node:x} ", cluster.as_str()).into_bytes()),
        }
    }

    /// Whether `payload` is this node's own (delivered locally already), told from its first two fields
    /// alone: the subscriber hears every payload it published, one per message a node stores, and needs
    /// neither the channel's room nor the text's checks to drop it. A prefilter: [`Wire::decode`] still
    /// checks a whole payload (its own included) and says what is wrong with it.
    pub(super) fn is_own(&self, payload: &[u8]) -> bool {
        payload.starts_with(&self.own)
    }

    /// This node's cluster id.
    pub(super) fn cluster(&self) -> &str {
        &self.cluster
    }

    pub(super) fn encode(&self, room: &RoomName, outgoing: &Outgoing) -> String {
        let (seq, audience, text) = match outgoing {
            Outgoing::Event(event) => {
                let audience = match (event.ephemeral, event.plain) {
                    (true, _) => 'e',
                    (false, true) => 'p',
                    (false, false) => 'v',
                };
                (event.seq, audience, event.frame.as_str())
            }
            Outgoing::Announce(text) => (0, 'n', &**text),
        };
        format!(
            "{} {:x} {room} {seq} {audience} {text}",
            self.cluster, self.node
        )
    }

    /// Reads a payload that came on `room`'s channel.
    pub(super) fn decode(&self, room: &RoomName, payload: &[u8]) -> Incoming {
        let Some((cluster, node, named, seq, audience, text)) = split(payload) else {
            return Incoming::Malformed;
        };
        if cluster != &*self.cluster {
            return Incoming::ForeignCluster(cluster.to_owned());
        }
        if named != room.as_str() {
            return Incoming::WrongRoom(named.to_owned());
        }
        let (Ok(node), Ok(seq)) = (u64::from_str_radix(node, 16), seq.parse::<u64>()) else {
            return Incoming::Malformed;
        };
        if node == self.node {
            return Incoming::Own;
        }
        let frame = Utf8Bytes::from(text);
        let outgoing = match audience {
            "p" => Outgoing::Event(Event::stored(seq, frame, true)),
            "v" => Outgoing::Event(Event::stored(seq, frame, false)),
            "e" => Outgoing::Event(Event::ephemeral(frame)),
            "n" => Outgoing::Announce(Arc::from(text)),
            _ => return Incoming::Malformed,
        };
        Incoming::Delivered { node, outgoing }
    }
}

type Fields<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, &'a str);

fn split(payload: &[u8]) -> Option<Fields<'_>> {
    let text = std::str::from_utf8(payload).ok()?;
    let (cluster, rest) = text.split_once(' ')?;
    let (node, rest) = rest.split_once(' ')?;
    let (room, rest) = rest.split_once(' ')?;
    let (seq, rest) = rest.split_once(' ')?;
    let (audience, text) = rest.split_once(' ')?;
    Some((cluster, node, room, seq, audience, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(cluster: &str, node: u64) -> Wire {
        Wire::new(&ClusterId::parse(cluster).expect("cluster id"), node)
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).expect("room")
    }

    /// Only this node's own payloads are dropped before decoding: not a node whose id starts with this
    /// one's, not another cluster's node with the same id.
    #[test]
    fn a_node_knows_its_own_payloads_from_their_first_fields() {
        let (a, b) = (wire("blue", 0xabc), wire("blue", 0xabcd));
        let event = Outgoing::Event(Event::stored(7, Utf8Bytes::from("{}"), true));
        let from_a = a.encode(&room("hall"), &event);
        let from_b = b.encode(&room("hall"), &event);
        let from_red = wire("red", 0xabc).encode(&room("hall"), &event);
        assert!(a.is_own(from_a.as_bytes()));
        assert!(!a.is_own(from_b.as_bytes()));
        assert!(!b.is_own(from_a.as_bytes()));
        assert!(!a.is_own(from_red.as_bytes()));
        assert!(
            !a.is_own(b"blue abc"),
            "a truncated payload is not this node's"
        );
    }

    #[test]
    fn payloads_round_trip_between_nodes_of_one_cluster() {
        let (a, b) = (wire("blue", 0xabc), wire("blue", 0xdef));
        let event = Event::stored(42, Utf8Bytes::from(r#"{"message":"a b c"}"#), false);
        let sent = a.encode(&room("hall"), &Outgoing::Event(event.clone()));
        match b.decode(&room("hall"), sent.as_bytes()) {
            Incoming::Delivered {
                node: 0xabc,
                outgoing: Outgoing::Event(back),
            } => assert_eq!(
                (back.seq, back.frame.as_str(), back.plain, back.ephemeral),
                (42, event.frame.as_str(), false, false)
            ),
            other => panic!("{other:?} from {sent}"),
        }
        assert!(matches!(
            a.decode(&room("hall"), sent.as_bytes()),
            Incoming::Own
        ));
        let typing = Outgoing::Event(Event::ephemeral(Utf8Bytes::from("{}")));
        assert!(matches!(
            b.decode(&room("hall"), a.encode(&room("hall"), &typing).as_bytes()),
            Incoming::Delivered {
                outgoing: Outgoing::Event(Event {
                    ephemeral: true,
                    seq: 0,
                    ..
                }),
                ..
            }
        ));
        let news = Outgoing::Announce(Arc::from(r#"{"op":"ask"}"#));
        assert!(matches!(
            b.decode(&room("hall"), a.encode(&room("hall"), &news).as_bytes()),
            Incoming::Delivered { outgoing: Outgoing::Announce(text), .. } if &*text == r#"{"op":"ask"}"#
        ));
    }

    #[test]
    fn other_clusters_other_rooms_and_garbage_are_refused() {
        let ours = wire("blue", 1);
        let event = Outgoing::Event(Event::stored(1, Utf8Bytes::from("{}"), true));
        let foreign = wire("green", 2).encode(&room("hall"), &event);
        assert!(matches!(
            ours.decode(&room("hall"), foreign.as_bytes()),
            Incoming::ForeignCluster(c) if c == "green"
        ));
        let elsewhere = wire("blue", 2).encode(&room("den"), &event);
        assert!(matches!(
            ours.decode(&room("hall"), elsewhere.as_bytes()),
            Incoming::WrongRoom(r) if r == "den"
        ));
        for garbage in [
            &b""[..],
            b"blue zz hall 1 p {}",
            b"blue 1 hall x p {}",
            b"blue 2 hall 2 q {}",
            b"blue 2 hall 2 {}",
            b"blue 2 p {}",
            b"\xff\xfe",
        ] {
            assert!(matches!(
                ours.decode(&room("hall"), garbage),
                Incoming::Malformed
            ));
        }
    }
}
