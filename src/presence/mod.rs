//! Who is in each room (presence) and who is typing: ephemeral state, never stored, never numbered, never
//! replayed (docs/ARCHITECTURE.md, invariant 5).
//!
//! One entry per person: a person's sockets on this node are counted, and other nodes' claims on them are
//! kept with an expiry. A person joins the room when their first socket anywhere arrives and leaves when
//! their last one goes. Nodes tell each other through the channel layer ([`remote`]): a join or leave of
//! a person on that node, and every heartbeat (a third of the TTL) the full list of the people it holds
//! per room. A node that dies stops sending, and its people expire after the TTL (`--presence-ttl-secs`),
//! so presence heals without a list that only grows. Presence costs grow with the square of a room (every
//! change goes to every member), so a room above `list_max` people sends only its count, at most every
//! sweep.
//!
//! When this node's first socket in a room arrives or its last one goes, presence hints the occupancy task
//! (`src/occupancy/`) through a bounded channel, without waiting: a full channel drops the hint, which the
//! task's heartbeat repairs from [`Presence::held_rooms`].

mod remote;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::channels::{ChannelLayer, Event};
use crate::domain::RoomName;
use crate::protocol::server::ServerFrame;

pub use crate::protocol::server::Member;
pub use remote::{Announcement, run};

/// Longest time between two sweeps (expired claims dropped, big rooms' counts sent).
const SWEEP_MAX: Duration = Duration::from_secs(5);

/// How presence behaves (from the config).
#[derive(Clone, Copy, Debug)]
pub struct PresenceSettings {
    /// Rooms with more people than this send counts, not names.
    pub list_max: usize,
    /// Least time between two typing broadcasts of one person in one room.
    pub typing_every: Duration,
    /// How long another node's claim on a person lasts without a heartbeat.
    pub ttl: Duration,
}

impl PresenceSettings {
    /// How often a node tells the others whom it holds in each room.
    pub fn heartbeat(&self) -> Duration {
        self.ttl / 3
    }

    /// How often expired claims are dropped.
    pub fn sweep(&self) -> Duration {
        (self.ttl / 3).min(SWEEP_MAX)
    }
}

/// A person as presence knows them: case-insensitive name, and whether a guest.
type Key = (bool, Box<str>);

/// The rooms' people as this node knows them.
pub struct Presence {
    layer: Arc<dyn ChannelLayer>,
    settings: PresenceSettings,
    rooms: Mutex<HashMap<RoomName, Room>>,
    /// Where a room this node starts or stops holding sockets in is hinted (the occupancy task); bounded,
    /// never awaited on a join.
    occupancy: Option<mpsc::Sender<RoomName>>,
}

#[derive(Default)]
struct Room {
    people: HashMap<Key, Person>,
    /// This node's sockets in the room (all people's).
    sockets: u32,
    /// This node's sockets in the room that get ephemeral frames (`chatweb.v2`): none, nothing is sent.
    listeners: u32,
    /// The count last sent to a big room.
    counted: usize,
}

struct Person {
    name: Arc<str>,
    guest: bool,
    /// This node's sockets of this person in the room.
    local: u32,
    /// Other nodes holding this person, and when their claim expires.
    remote: HashMap<u64, Instant>,
    /// When this person's typing was last broadcast from this node.
    typed: Option<Instant>,
}

impl Person {
    fn here(&self) -> bool {
        self.local > 0 || !self.remote.is_empty()
    }
}

/// The ephemeral event carrying `frame` (only `chatweb.v2` clients get it; docs/PROTOCOL.md).
fn ephemeral(frame: &ServerFrame<'_>) -> Event {
    Event::ephemeral(Utf8Bytes::from(frame.encode()))
}

/// A socket's attendance in a room's presence: the socket leaves the room when it is dropped.
pub struct Attendance {
    presence: Arc<Presence>,
    room: RoomName,
    key: Key,
    listens: bool,
}

impl Drop for Attendance {
    fn drop(&mut self) {
        self.presence.leave(&self.room, &self.key, self.listens);
    }
}

fn key(name: &str, guest: bool) -> Key {
    (guest, name.to_lowercase().into_boxed_str())
}

/// What a heartbeat tells the other nodes.
enum Heartbeat {
    /// Whom this node holds in each room.
    Serving,
    /// That it holds nobody: the node is stopping.
    Stopping,
}

/// What changed at the room's level after an update.
enum Change {
    Joined,
    Left,
    None,
}

impl Presence {
    /// Presence over `layer` (which carries the frames and the announcements between nodes).
    pub fn new(layer: Arc<dyn ChannelLayer>, settings: PresenceSettings) -> Self {
        Self {
            layer,
            settings,
            rooms: Mutex::new(HashMap::new()),
            occupancy: None,
        }
    }

    /// The same presence, hinting `hints` when this node starts or stops holding sockets in a room.
    #[must_use]
    pub fn with_occupancy(self, hints: mpsc::Sender<RoomName>) -> Self {
        Self {
            occupancy: Some(hints),
            ..self
        }
    }

    /// Tells the occupancy task that this node's hold on `room` changed, unless its channel is full (its
    /// heartbeat finds the change then).
    fn hint(&self, room: &RoomName) {
        if let Some(hints) = &self.occupancy {
            let _ = hints.try_send(room.clone());
        }
    }

    /// Rooms this node holds at least one socket in.
    pub fn held_rooms(&self) -> Vec<RoomName> {
        self.lock()
            .iter()
            .filter(|(_, state)| state.sockets > 0)
            .map(|(room, _)| room.clone())
            .collect()
    }

    /// Whether this node holds at least one socket in `room`.
    pub fn holds(&self, room: &RoomName) -> bool {
        self.lock().get(room).is_some_and(|state| state.sockets > 0)
    }

    /// A socket of `name` enters `room`; the person joins unless already here. Dropping the attendance
    /// leaves. `listens`: the socket gets ephemeral frames (a `chatweb.v2` client); a room where no socket
    /// does gets none sent.
    pub fn enter(
        self: &Arc<Self>,
        room: &RoomName,
        name: &str,
        guest: bool,
        listens: bool,
    ) -> Attendance {
        let key = key(name, guest);
        let (first_here, joined, big, held) = {
            let mut rooms = self.lock();
            let first_in_room = !rooms.contains_key(room);
            let state = rooms.entry(room.clone()).or_default();
            state.listeners += u32::from(listens);
            state.sockets += 1;
            let held = state.sockets == 1;
            let person = state.people.entry(key.clone()).or_insert_with(|| Person {
                name: Arc::from(name),
                guest,
                local: 0,
                remote: HashMap::new(),
                typed: None,
            });
            let joined = !person.here();
            person.local += 1;
            let first_here = person.local == 1;
            let big = state.people.len() > self.settings.list_max;
            (first_here.then_some(first_in_room), joined, big, held)
        };
        if held {
            self.hint(room);
        }
        if let Some(first_in_room) = first_here {
            if first_in_room {
                // Ask the others whom they hold here, so this node's list is whole at once.
                self.layer.announce(room, Announcement::Ask.encode());
            }
            let join = Announcement::Join(Member {
                user: name.to_owned(),
                guest,
            });
            self.layer.announce(room, join.encode());
        }
        if joined && !big {
            self.send(
                room,
                &ServerFrame::Join {
                    room: room.as_str(),
                    user: name,
                    guest,
                },
            );
        }
        Attendance {
            presence: self.clone(),
            room: room.clone(),
            key,
            listens,
        }
    }

    fn leave(&self, room: &RoomName, key: &Key, listened: bool) {
        let mut left = None;
        let mut last_here = None;
        let released = {
            let mut rooms = self.lock();
            let Some(state) = rooms.get_mut(room) else {
                return;
            };
            state.listeners = state.listeners.saturating_sub(u32::from(listened));
            state.sockets = state.sockets.saturating_sub(1);
            let released = state.sockets == 0;
            let big = state.people.len() > self.settings.list_max;
            if let Some(person) = state.people.get_mut(key) {
                person.local = person.local.saturating_sub(1);
                if person.local == 0 {
                    last_here = Some(Member {
                        user: person.name.to_string(),
                        guest: person.guest,
                    });
                    if !person.here() {
                        left = last_here.clone().filter(|_| !big);
                        state.people.remove(key);
                    }
                }
            }
            if state.people.is_empty() {
                rooms.remove(room);
            }
            released
        };
        if released {
            self.hint(room);
        }
        if let Some(member) = last_here {
            self.layer
                .announce(room, Announcement::Leave(member).encode());
        }
        if let Some(member) = left {
            self.send(
                room,
                &ServerFrame::Leave {
                    room: room.as_str(),
                    user: &member.user,
                    guest: member.guest,
                },
            );
        }
    }

    /// The `presence` frame for a socket that just joined `room`.
    pub fn snapshot(&self, room: &RoomName) -> Utf8Bytes {
        let (users, count) = {
            let rooms = self.lock();
            match rooms.get(room) {
                Some(state) => {
                    let here = state.people.values().filter(|p| p.here());
                    let count = here.clone().count();
                    let users: Vec<Member> = if count > self.settings.list_max {
                        Vec::new()
                    } else {
                        here.map(|p| Member {
                            user: p.name.to_string(),
                            guest: p.guest,
                        })
                        .collect()
                    };
                    (users, count)
                }
                None => (Vec::new(), 0),
            }
        };
        let partial = count > self.settings.list_max;
        let mut users = users;
        users.sort_by_key(|m| m.user.to_lowercase());
        Utf8Bytes::from(
            ServerFrame::Presence {
                room: room.as_str(),
                users: &users,
                count,
                partial,
            }
            .encode(),
        )
    }

    /// `name` is typing in `room`: tells every node's members, at most once per `typing_every`.
    pub fn typing(&self, room: &RoomName, name: &str, guest: bool) {
        let now = Instant::now();
        {
            let mut rooms = self.lock();
            let Some(person) = rooms
                .get_mut(room)
                .and_then(|state| state.people.get_mut(&key(name, guest)))
            else {
                return;
            };
            if person
                .typed
                .is_some_and(|at| now.duration_since(at) < self.settings.typing_every)
            {
                return;
            }
            person.typed = Some(now);
        }
        let frame = ServerFrame::Typing {
            room: room.as_str(),
            user: name,
            guest,
        };
        self.layer.publish_ephemeral(room, ephemeral(&frame));
    }

    /// How presence behaves.
    pub fn settings(&self) -> PresenceSettings {
        self.settings
    }

    /// People in `room` now (one per person, whatever their number of tabs or nodes).
    pub fn member_count(&self, room: &RoomName) -> usize {
        self.lock().get(room).map_or(0, |state| {
            state.people.values().filter(|p| p.here()).count()
        })
    }

    /// Whether the signed-in person `name` has a socket on `room` now, on any node (who gets no push).
    pub fn is_here(&self, room: &RoomName, name: &str) -> bool {
        self.lock().get(room).is_some_and(|state| {
            state
                .people
                .get(&key(name, false))
                .is_some_and(Person::here)
        })
    }

    /// The signed-in people in `room` now (on any node), at most `limit` of them: whom `@here` mentions.
    pub fn accounts_here(&self, room: &RoomName, limit: usize) -> Vec<String> {
        self.lock().get(room).map_or_else(Vec::new, |state| {
            state
                .people
                .values()
                .filter(|p| p.here() && !p.guest)
                .take(limit)
                .map(|p| p.name.to_string())
                .collect()
        })
    }

    /// Another node's news about `room`.
    fn remote(&self, room: &RoomName, node: u64, announcement: Announcement) {
        let now = Instant::now();
        let mut changes = Vec::new();
        let mut answer = None;
        {
            let mut rooms = self.lock();
            match announcement {
                Announcement::Join(member) => {
                    let state = rooms.entry(room.clone()).or_default();
                    if let Change::Joined = claim(state, &member, node, now + self.settings.ttl) {
                        changes.push((Change::Joined, member));
                    }
                }
                Announcement::Leave(member) => {
                    if let Some(state) = rooms.get_mut(room)
                        && let Change::Left = release(state, &key(&member.user, member.guest), node)
                    {
                        changes.push((Change::Left, member));
                    }
                }
                Announcement::Here(members) => {
                    let state = rooms.entry(room.clone()).or_default();
                    let listed: std::collections::HashSet<Key> =
                        members.iter().map(|m| key(&m.user, m.guest)).collect();
                    let dropped: Vec<Key> = state
                        .people
                        .iter()
                        .filter(|(k, p)| p.remote.contains_key(&node) && !listed.contains(*k))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for key in dropped {
                        if let Some(member) = member_of(state, &key)
                            && let Change::Left = release(state, &key, node)
                        {
                            changes.push((Change::Left, member));
                        }
                    }
                    for member in members {
                        if let Change::Joined = claim(state, &member, node, now + self.settings.ttl)
                        {
                            changes.push((Change::Joined, member));
                        }
                    }
                }
                Announcement::Gone => {
                    if let Some(state) = rooms.get_mut(room) {
                        let held: Vec<Key> = state
                            .people
                            .iter()
                            .filter(|(_, p)| p.remote.contains_key(&node))
                            .map(|(k, _)| k.clone())
                            .collect();
                        for key in held {
                            if let Some(member) = member_of(state, &key)
                                && let Change::Left = release(state, &key, node)
                            {
                                changes.push((Change::Left, member));
                            }
                        }
                    }
                }
                Announcement::Ask => answer = rooms.get(room).map(local_members),
            }
            if rooms.get(room).is_some_and(|state| state.people.is_empty()) {
                rooms.remove(room);
            }
        }
        if let Some(members) = answer.filter(|m| !m.is_empty()) {
            self.layer
                .announce(room, Announcement::Here(members).encode());
        }
        self.send_changes(room, changes);
    }

    /// Drops other nodes' expired claims (a node that died) and sends big rooms their new counts.
    fn sweep(&self) {
        let now = Instant::now();
        let mut changed = Vec::new();
        let mut counts = Vec::new();
        {
            let mut rooms = self.lock();
            for (room, state) in rooms.iter_mut() {
                let mut left = Vec::new();
                state.people.retain(|_, person| {
                    let had = person.here();
                    person.remote.retain(|_, expires| *expires > now);
                    if had && !person.here() {
                        left.push(Member {
                            user: person.name.to_string(),
                            guest: person.guest,
                        });
                    }
                    person.here()
                });
                if !left.is_empty() {
                    changed.push((
                        room.clone(),
                        left.into_iter().map(|m| (Change::Left, m)).collect(),
                    ));
                }
                let count = state.people.len();
                let max = self.settings.list_max;
                // A big room's new count; or a room back under the limit: its list, whole again.
                if (count > max && count != state.counted) || (count <= max && state.counted > max)
                {
                    state.counted = count;
                    counts.push(room.clone());
                }
            }
            rooms.retain(|_, state| !state.people.is_empty());
        }
        for (room, changes) in changed {
            self.send_changes(&room, changes);
        }
        for room in counts {
            if self
                .lock()
                .get(&room)
                .is_some_and(|state| state.listeners > 0)
            {
                let frame = self.snapshot(&room);
                self.layer.send_local(&room, Event::ephemeral(frame));
            }
        }
    }

    /// Tells the other nodes whom this node holds in each room (or, when stopping, that it holds nobody).
    fn heartbeat(&self, beat: Heartbeat) {
        let held: Vec<(RoomName, Vec<Member>)> = self
            .lock()
            .iter()
            .map(|(room, state)| (room.clone(), local_members(state)))
            .filter(|(_, members)| !members.is_empty())
            .collect();
        for (room, members) in held {
            let announcement = match beat {
                Heartbeat::Stopping => Announcement::Gone,
                Heartbeat::Serving => Announcement::Here(members),
            };
            self.layer.announce(&room, announcement.encode());
        }
    }

    fn send_changes(&self, room: &RoomName, changes: Vec<(Change, Member)>) {
        if changes.is_empty() || self.member_count(room) > self.settings.list_max {
            return;
        }
        for (change, member) in changes {
            let (name, user, guest) = (room.as_str(), member.user.as_str(), member.guest);
            let frame = match change {
                Change::Joined => ServerFrame::Join {
                    room: name,
                    user,
                    guest,
                },
                Change::Left => ServerFrame::Leave {
                    room: name,
                    user,
                    guest,
                },
                Change::None => continue,
            };
            self.send(room, &frame);
        }
    }

    fn send(&self, room: &RoomName, frame: &ServerFrame<'_>) {
        if self
            .lock()
            .get(room)
            .is_some_and(|state| state.listeners > 0)
        {
            self.layer.send_local(room, ephemeral(frame));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomName, Room>> {
        // Nothing here can be left half-changed by a panic: keep serving.
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn member_of(state: &Room, key: &Key) -> Option<Member> {
    state.people.get(key).map(|p| Member {
        user: p.name.to_string(),
        guest: p.guest,
    })
}

fn local_members(state: &Room) -> Vec<Member> {
    state
        .people
        .values()
        .filter(|p| p.local > 0)
        .map(|p| Member {
            user: p.name.to_string(),
            guest: p.guest,
        })
        .collect()
}

/// `node` holds `member` until `expires`.
fn claim(state: &mut Room, member: &Member, node: u64, expires: Instant) -> Change {
    let person = state
        .people
        .entry(key(&member.user, member.guest))
        .or_insert_with(|| Person {
            name: Arc::from(member.user.as_str()),
            guest: member.guest,
            local: 0,
            remote: HashMap::new(),
            typed: None,
        });
    let joined = !person.here();
    person.remote.insert(node, expires);
    if joined { Change::Joined } else { Change::None }
}

/// `node` no longer holds the person `key`.
fn release(state: &mut Room, key: &Key, node: u64) -> Change {
    let Some(person) = state.people.get_mut(key) else {
        return Change::None;
    };
    if person.remote.remove(&node).is_none() || person.here() {
        return Change::None;
    }
    state.people.remove(key);
    Change::Left
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::MemoryLayer;

    fn setup(list_max: usize) -> (Arc<Presence>, crate::channels::Receiver, RoomName) {
        let layer = Arc::new(MemoryLayer::new(64));
        let room = RoomName::parse("den").expect("room");
        let receiver = layer.subscribe_local(&room);
        let settings = PresenceSettings {
            list_max,
            typing_every: Duration::from_secs(3),
            ttl: Duration::from_secs(45),
        };
        (Arc::new(Presence::new(layer, settings)), receiver, room)
    }

    fn frames(receiver: &mut crate::channels::Receiver) -> Vec<serde_json::Value> {
        std::iter::from_fn(|| receiver.try_recv().ok())
            .map(|e| serde_json::from_str(e.frame.as_str()).expect("json"))
            .collect()
    }

    #[tokio::test]
    async fn a_person_on_two_nodes_leaves_only_when_both_let_go() {
        let (presence, mut rx, room) = setup(100);
        let _listener = presence.enter(&room, "ada", false, true);
        let bob = Member {
            user: "Bob".into(),
            guest: true,
        };
        presence.remote(&room, 7, Announcement::Join(bob.clone()));
        presence.remote(&room, 8, Announcement::Here(vec![bob.clone()]));
        assert_eq!(presence.member_count(&room), 2);
        // Node 7 lets go: bob is still on node 8.
        presence.remote(&room, 7, Announcement::Leave(bob.clone()));
        assert_eq!(presence.member_count(&room), 2);
        // Node 8's heartbeat no longer lists him: he leaves.
        presence.remote(&room, 8, Announcement::Here(Vec::new()));
        assert_eq!(presence.member_count(&room), 1);
        let seen: Vec<_> = frames(&mut rx)
            .iter()
            .map(|f| format!("{} {}", f["type"].as_str().unwrap_or(""), f["user"]))
            .collect();
        assert_eq!(seen, ["join \"ada\"", "join \"Bob\"", "leave \"Bob\""]);
    }

    #[tokio::test]
    async fn a_node_that_goes_takes_its_people_and_nothing_is_sent_without_listeners() {
        let (presence, mut rx, room) = setup(100);
        let plain = presence.enter(&room, "carol", true, false);
        presence.remote(
            &room,
            9,
            Announcement::Join(Member {
                user: "dan".into(),
                guest: false,
            }),
        );
        assert!(
            frames(&mut rx).is_empty(),
            "no chatweb.v2 socket: no frames"
        );
        assert_eq!(presence.member_count(&room), 2);
        presence.remote(&room, 9, Announcement::Gone);
        assert_eq!(presence.member_count(&room), 1);
        drop(plain);
        assert_eq!(presence.member_count(&room), 0);
        assert!(presence.lock().is_empty(), "an empty room is forgotten");
    }

    #[tokio::test]
    async fn names_are_case_insensitive_and_guests_apart() {
        let (presence, _rx, room) = setup(100);
        let _a = presence.enter(&room, "Ada", false, true);
        let _b = presence.enter(&room, "ada", false, true);
        let _c = presence.enter(&room, "ada", true, true);
        assert_eq!(presence.member_count(&room), 2);
    }

    #[tokio::test]
    async fn the_first_socket_in_and_the_last_one_out_hint_occupancy_and_no_other() {
        let (presence, _rx, room) = setup(100);
        let (hints, mut hinted) = mpsc::channel(8);
        let presence = Arc::new(
            Arc::into_inner(presence)
                .expect("one owner")
                .with_occupancy(hints),
        );
        let ada = presence.enter(&room, "ada", false, true);
        assert_eq!(hinted.try_recv().ok(), Some(room.clone()));
        assert!(presence.holds(&room) && presence.held_rooms() == [room.clone()]);
        let bob = presence.enter(&room, "bob", true, false);
        let ada_again = presence.enter(&room, "ada", false, false);
        // Someone on another node: not this node's hold.
        presence.remote(
            &room,
            7,
            Announcement::Join(Member {
                user: "cy".into(),
                guest: false,
            }),
        );
        drop(ada);
        drop(bob);
        assert!(hinted.try_recv().is_err(), "the room is still held here");
        drop(ada_again);
        assert_eq!(hinted.try_recv().ok(), Some(room.clone()));
        assert!(!presence.holds(&room) && presence.held_rooms().is_empty());
        assert_eq!(presence.member_count(&room), 1, "cy is still there");
    }
}
