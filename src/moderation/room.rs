//! One room's moderation as this node holds it: who is muted or banned until when, its slow mode and when
//! each person last sent under it, and the channel that tells the room's sockets on this node to close.
//! The per-send check reads one atomic first, so a room nobody moderates costs no lock and no query.
//! It also holds the room's kind and who has which role in it (`src/access/` decides at the handshake;
//! this copy, reloaded whenever the membership changes on any node, keeps open sockets in step: a room
//! moderator's rights, and the close of anyone who may no longer read).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use super::action::Hold;
use crate::accounts::Identity;
use crate::domain::{Role, RoomKind, RoomName, Username};
use crate::storage::SanctionRow;

/// Closes waiting for a room's sockets; one that falls further behind re-checks the bans instead.
const CLOSES_BUFFER: usize = 8;
/// Senders remembered under slow mode before the stale ones are dropped.
const SLOW_MODE_PRUNE_AT: usize = 1024;

/// Whom a mute or a ban holds: an account, or a guest's nickname (by its case-insensitive key).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A registered user, by id (a rename or a guest taking the name later changes nothing).
    User(i64),
    /// A guest, by nickname key (lowercase, NFC): any guest choosing that nickname.
    Guest(Arc<str>),
}

impl Subject {
    /// Who is speaking on a connection.
    pub fn of(identity: &Identity) -> Self {
        match identity {
            Identity::User(user) => Self::User(user.id),
            Identity::Guest(guest) => Self::guest(&guest.name),
        }
    }

    /// A guest under `name`.
    pub fn guest(name: &Username) -> Self {
        Self::Guest(Arc::from(name.key()))
    }

    /// As stored: `u:<id>` or `g:<key>`.
    pub fn key(&self) -> String {
        match self {
            Self::User(id) => format!("u:{id}"),
            Self::Guest(key) => format!("g:{key}"),
        }
    }

    /// From its stored form.
    pub fn parse(key: &str) -> Option<Self> {
        match key.split_once(':')? {
            ("u", id) => id.parse().ok().map(Self::User),
            ("g", name) if !name.is_empty() => Some(Self::Guest(Arc::from(name))),
            _ => None,
        }
    }

    /// Whether this is a guest's nickname.
    pub fn is_guest(&self) -> bool {
        matches!(self, Self::Guest(_))
    }
}

/// Whose sockets a [`Close`] is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Whom {
    /// One person's.
    One(Subject),
    /// Everyone's who may no longer read the room (not a member of a members-only room, unless staff).
    Outsiders,
}

/// A request to close sockets in a room.
#[derive(Clone, Debug)]
pub struct Close {
    /// Whose sockets.
    pub whom: Whom,
    /// The close code.
    pub code: u16,
    /// Only sockets opened at or before this time (ms since the epoch): a kicked person may come back.
    pub opened_by_ms: i64,
}

/// A room's stored mutes, bans and slow mode, as read from the database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Muted subjects and when each mute ends.
    pub mutes: HashMap<Subject, i64>,
    /// Banned subjects and when each ban ends (`None`: until lifted).
    pub bans: HashMap<Subject, Option<i64>>,
    /// Seconds between two messages of one person (0: off).
    pub slow_mode_secs: u64,
}

impl Stored {
    /// Adds a stored mute or ban; rows of another kind or with an unreadable subject are skipped.
    pub fn add(&mut self, row: &SanctionRow) {
        let Some(subject) = Subject::parse(&row.subject) else {
            tracing::warn!(subject = %row.subject, "skipping a sanction with an unreadable subject");
            return;
        };
        match (row.kind.as_str(), row.until_ms) {
            ("mute", Some(until)) => {
                self.mutes.insert(subject, until);
            }
            ("ban", until) => {
                self.bans.insert(subject, until);
            }
            _ => tracing::warn!(kind = %row.kind, "skipping a sanction of an unknown kind"),
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.mutes.is_empty() && self.bans.is_empty() && self.slow_mode_secs == 0
    }
}

#[derive(Default)]
struct Rules {
    stored: Stored,
    /// Under slow mode: when each person's last message was taken on this node.
    last_sent: HashMap<Subject, Instant>,
}

/// A room's kind and its members' roles, as this node last read them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    /// The room's kind.
    pub kind: RoomKind,
    /// Each member's role, by account id.
    pub members: HashMap<i64, Role>,
}

/// One room's moderation on this node.
pub struct Room {
    name: RoomName,
    /// Any mute, ban or slow mode: when false, a send is checked by this alone.
    gated: AtomicBool,
    rules: Mutex<Rules>,
    /// `None` until a socket's handshake (or a membership change) loads them.
    roles: Mutex<Option<Roles>>,
    closes: broadcast::Sender<Close>,
}

fn live(until: Option<i64>, now_ms: i64) -> bool {
    until.is_none_or(|until| until > now_ms)
}

impl Room {
    /// A room with no rules.
    pub fn new(name: RoomName) -> Self {
        Self {
            name,
            gated: AtomicBool::new(false),
            rules: Mutex::new(Rules::default()),
            roles: Mutex::new(None),
            closes: broadcast::channel(CLOSES_BUFFER).0,
        }
    }

    /// The room's name.
    pub fn name(&self) -> &RoomName {
        &self.name
    }

    fn lock(&self) -> MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the rules with what the database holds; returns the subjects banned now that were not
    /// before (their sockets are to close).
    pub fn replace(&self, stored: Stored, now_ms: i64) -> Vec<Subject> {
        let mut rules = self.lock();
        let newly_banned = stored
            .bans
            .iter()
            .filter(|&(subject, &until)| {
                live(until, now_ms)
                    && !rules
                        .stored
                        .bans
                        .get(subject)
                        .is_some_and(|&before| live(before, now_ms))
            })
            .map(|(subject, _)| subject.clone())
            .collect();
        if stored.slow_mode_secs == 0 {
            rules.last_sent = HashMap::new();
        }
        self.gated.store(!stored.is_empty(), Ordering::Release);
        rules.stored = stored;
        newly_banned
    }

    fn roles(&self) -> MutexGuard<'_, Option<Roles>> {
        self.roles.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the roles have been read since the room was first held here.
    pub fn has_roles(&self) -> bool {
        self.roles().is_some()
    }

    /// Replaces the kind and roles with what the database holds.
    pub fn set_roles(&self, roles: Roles) {
        *self.roles() = Some(roles);
    }

    /// `user_id`'s role in the room (as last read).
    pub fn role(&self, user_id: i64) -> Option<Role> {
        self.roles()
            .as_ref()
            .and_then(|r| r.members.get(&user_id).copied())
    }

    /// Whether `subject` may still read the room (staff aside): anyone in a public room, members in
    /// the others. A room whose roles were never read counts as public.
    pub fn admits(&self, subject: &Subject) -> bool {
        match self.roles().as_ref() {
            Some(roles) if roles.kind.members_only() => match subject {
                Subject::User(id) => roles.members.contains_key(id),
                Subject::Guest(_) => false,
            },
            _ => true,
        }
    }

    /// The room's kind (as last read).
    pub fn kind(&self) -> RoomKind {
        self.roles().as_ref().map(|r| r.kind).unwrap_or_default()
    }

    /// Drops the mutes and bans that ended by `now_ms`.
    pub fn prune(&self, now_ms: i64) {
        let mut rules = self.lock();
        rules.stored.mutes.retain(|_, &mut until| until > now_ms);
        rules
            .stored
            .bans
            .retain(|_, &mut until| live(until, now_ms));
        self.gated
            .store(!rules.stored.is_empty(), Ordering::Release);
    }

    /// Whether the room has no rules.
    pub fn is_idle(&self) -> bool {
        !self.gated.load(Ordering::Acquire)
    }

    /// When `subject`'s ban ends (`Some(None)`: until lifted), if banned at `now_ms`.
    pub fn banned(&self, subject: &Subject, now_ms: i64) -> Option<Option<i64>> {
        if self.is_idle() {
            return None;
        }
        let rules = self.lock();
        rules
            .stored
            .bans
            .get(subject)
            .copied()
            .filter(|&until| live(until, now_ms))
    }

    /// Checks an edit: refused while muted or banned.
    pub fn check_edit(&self, subject: &Subject, now_ms: i64) -> Result<(), Hold> {
        if self.is_idle() {
            return Ok(());
        }
        check_sanctions(&self.lock().stored, subject, now_ms)
    }

    /// Checks a send: refused while muted or banned, or sooner than slow mode allows (which then counts
    /// this send as the sender's last).
    pub fn check_send(&self, subject: &Subject, now_ms: i64, now: Instant) -> Result<(), Hold> {
        if self.is_idle() {
            return Ok(());
        }
        let mut rules = self.lock();
        check_sanctions(&rules.stored, subject, now_ms)?;
        let slow = Duration::from_secs(rules.stored.slow_mode_secs);
        if slow.is_zero() {
            return Ok(());
        }
        if let Some(&last) = rules.last_sent.get(subject) {
            let since = now.saturating_duration_since(last);
            if since < slow {
                return Err(Hold::SlowMode {
                    retry_after: slow - since,
                });
            }
        }
        if rules.last_sent.len() >= SLOW_MODE_PRUNE_AT {
            rules
                .last_sent
                .retain(|_, last| now.saturating_duration_since(*last) < slow);
        }
        rules.last_sent.insert(subject.clone(), now);
        Ok(())
    }

    /// A receiver of this room's closes.
    pub fn subscribe(&self) -> broadcast::Receiver<Close> {
        self.closes.subscribe()
    }

    /// Tells this node's sockets of the room to close (those `close.whom` names).
    pub fn close(&self, close: Close) {
        // No receiver: nobody of the room is connected here.
        let _ = self.closes.send(close);
    }
}

fn check_sanctions(stored: &Stored, subject: &Subject, now_ms: i64) -> Result<(), Hold> {
    if stored
        .bans
        .get(subject)
        .is_some_and(|&until| live(until, now_ms))
    {
        return Err(Hold::Banned);
    }
    match stored.mutes.get(subject) {
        Some(&until_ms) if until_ms > now_ms => Err(Hold::Muted { until_ms }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> Room {
        Room::new(RoomName::parse("r").expect("room"))
    }

    fn stored(mutes: &[(Subject, i64)], bans: &[(Subject, Option<i64>)], slow: u64) -> Stored {
        Stored {
            mutes: mutes.iter().cloned().collect(),
            bans: bans.iter().cloned().collect(),
            slow_mode_secs: slow,
        }
    }

    #[test]
    fn subjects_round_trip_through_their_stored_form() {
        for subject in [Subject::User(42), Subject::Guest(Arc::from("bob:x"))] {
            assert_eq!(Subject::parse(&subject.key()), Some(subject));
        }
        assert_eq!(Subject::parse("x:1"), None);
        assert_eq!(Subject::parse("u:abc"), None);
        assert_eq!(Subject::parse("g:"), None);
    }

    #[test]
    fn a_mute_holds_until_it_ends_and_holds_only_its_subject() {
        let room = room();
        let (bob, ann) = (Subject::User(1), Subject::guest(&Username::anonymous()));
        assert!(room.is_idle());
        room.replace(stored(&[(bob.clone(), 1_000)], &[], 0), 0);
        let now = Instant::now();
        assert_eq!(
            room.check_send(&bob, 999, now),
            Err(Hold::Muted { until_ms: 1_000 })
        );
        assert_eq!(
            room.check_edit(&bob, 999),
            Err(Hold::Muted { until_ms: 1_000 })
        );
        assert_eq!(room.check_send(&ann, 999, now), Ok(()));
        assert_eq!(room.check_send(&bob, 1_000, now), Ok(()), "expired");
        room.prune(1_000);
        assert!(room.is_idle());
    }

    #[test]
    fn only_new_bans_close_sockets_and_a_ban_refuses_sends() {
        let room = room();
        let bob = Subject::User(1);
        let eve = Subject::Guest(Arc::from("eve"));
        assert_eq!(
            room.replace(stored(&[], &[(bob.clone(), None)], 0), 0),
            std::slice::from_ref(&bob)
        );
        let again = room.replace(
            stored(&[], &[(bob.clone(), None), (eve.clone(), Some(50))], 0),
            10,
        );
        assert_eq!(again, std::slice::from_ref(&eve), "bob was banned already");
        assert_eq!(room.banned(&bob, 10), Some(None));
        assert_eq!(room.banned(&eve, 50), None, "ended");
        assert_eq!(room.check_send(&bob, 10, Instant::now()), Err(Hold::Banned));
        room.replace(Stored::default(), 20);
        assert_eq!(room.banned(&bob, 20), None);
        assert!(room.is_idle());
    }

    #[test]
    fn slow_mode_takes_one_message_per_person_per_interval() {
        let room = room();
        let (bob, ann) = (Subject::User(1), Subject::User(2));
        room.replace(stored(&[], &[], 10), 0);
        let start = Instant::now();
        assert_eq!(room.check_send(&bob, 0, start), Ok(()));
        assert_eq!(room.check_send(&ann, 0, start), Ok(()), "per person");
        let later = start + Duration::from_secs(4);
        assert_eq!(
            room.check_send(&bob, 0, later),
            Err(Hold::SlowMode {
                retry_after: Duration::from_secs(6)
            })
        );
        assert_eq!(
            room.check_send(&bob, 0, start + Duration::from_secs(10)),
            Ok(())
        );
        room.replace(Stored::default(), 0);
        assert_eq!(room.check_send(&bob, 0, later), Ok(()), "off");
    }
}
