//! Moderation: staff mute a person in a room for a time (their sends get `muted`), ban them from it (their
//! sockets there close with 4403, a rejoin is refused with 403), kick them (close with 4408; they may come
//! back), and put a room in slow mode (one message per person every N seconds; staff exempt). From the
//! admin and from staff clients' socket commands alike.
//!
//! Every change is stored with an entry in the moderation log and an audit row, in one transaction
//! (`storage/moderation.rs`). The node that made it applies it at once; every node polls the log each
//! second ([`watch_log`]) and reloads the rooms it names, as the revocation log does for credentials. So
//! the message path never queries: each socket holds a [`Seat`] on its room's rules in memory, and a send
//! is checked by one atomic load when the room has no rules, a short lock of that room's rules when it has.
//! A socket hears of its ban or kick on a small broadcast channel of its room ([`Seat::closes`]).
//!
//! Room owners and moderators (issue 18) may do here what staff do, in their room. Who is staff, and who
//! holds which role, is read afresh for every action; an open socket's exemptions follow its user's
//! [`StaffFlag`] and the room's roles as this node last read them, reloaded on every node whenever the
//! membership changes (the writer logs each change here), which also closes the sockets of anyone who
//! may no longer read the room with 4403.

pub mod action;
mod command;
mod room;
mod watch;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::accounts::revocation::StaffFlag;
use crate::accounts::{Identity, SignedIn};
use crate::domain::rfc3339_ms;
use crate::domain::{Role, RoomKind, RoomName, Username};
use crate::storage::{
    Db, ModerationChange, ModerationEvent, SanctionRow, SanctionWrite, StoreError, now_ms,
};

pub use action::{
    Action, Done, Hold, MAX_BAN_SECS, MAX_MUTE_SECS, MAX_SLOW_MODE_SECS, MAX_TARGET_CHARS,
    ModerationError, Via,
};
pub use room::{Roles, Subject};
pub use watch::watch_log;

use room::{Close, Room, Stored, Whom};

/// The close code of a socket whose person was banned from its room (as for a deactivated account: the
/// client should not reconnect).
pub const CLOSE_BANNED: u16 = 4403;
/// The close code of a kicked socket (the client may reconnect).
pub const CLOSE_KICKED: u16 = 4408;

/// The reason sent with a moderation close code.
pub fn close_reason(code: u16) -> &'static str {
    match code {
        CLOSE_BANNED => "banned from this room",
        CLOSE_KICKED => "kicked from this room",
        _ => "closed by a moderator",
    }
}

/// This node's view of every room's moderation; cheap to clone.
#[derive(Clone)]
pub struct Moderation {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    /// Rooms with rules, or with a socket on this node.
    rooms: Mutex<HashMap<RoomName, Arc<Room>>>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<RoomName, Arc<Room>>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets `room` when it has no rules and the caller holds the last reference besides the map.
    fn release(&self, room: &Arc<Room>) {
        let mut rooms = self.lock();
        let ours = rooms.get(room.name()).is_some_and(|r| Arc::ptr_eq(r, room));
        if ours && room.is_idle() && Arc::strong_count(room) <= 2 {
            rooms.remove(room.name());
        }
    }
}

/// A handshake refused because the person is banned from the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Banned {
    /// When the ban ends (`None`: until lifted).
    pub until_ms: Option<i64>,
}

/// One socket's place in its room's moderation: what its sends are checked against, and where it hears
/// that it is to close. Dropping it leaves.
pub struct Seat {
    inner: Arc<Inner>,
    room: Arc<Room>,
    subject: Subject,
    /// Whether the user has staff rights now (never held, never closed by moderation).
    staff: StaffFlag,
    opened_ms: i64,
    /// Listening since the seat was taken; handed to [`Seat::closes`].
    closes: Option<broadcast::Receiver<Close>>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.inner.release(&self.room);
    }
}

impl Seat {
    /// Whether the person may be in the room by what this node holds of its roles, reading them again
    /// once when they say no (a member added on another node a moment ago is in the database already).
    pub async fn admitted(&self) -> bool {
        if self.me().may_stay(&self.room) {
            return true;
        }
        match self.inner.db.room_roles(self.room.name().as_str()).await {
            Ok((kind, members)) => self.room.set_roles(Roles {
                kind,
                members: members.into_iter().collect(),
            }),
            Err(error) => {
                tracing::warn!(%error, room = %self.room.name(), "cannot read the room's roles");
                return false;
            }
        }
        self.me().may_stay(&self.room)
    }

    fn me(&self) -> Me {
        Me {
            subject: self.subject.clone(),
            staff: self.staff.clone(),
            opened_ms: self.opened_ms,
        }
    }

    /// Whether the person may moderate the room now: staff, or one of its owners or moderators.
    pub fn privileged(&self) -> bool {
        self.staff.get()
            || matches!(self.subject, Subject::User(id) if self.room.role(id) >= Some(Role::Moderator))
    }

    /// Whether the person may pin and unpin messages now: whoever moderates the room, and the members of
    /// a direct room (which has no moderators).
    pub fn may_pin(&self) -> bool {
        self.privileged()
            || (self.room.kind() == RoomKind::Direct
                && matches!(self.subject, Subject::User(id) if self.room.role(id).is_some()))
    }

    /// Whether the person may set the room's topic now: whoever moderates it, in any room but a direct one.
    pub fn may_set_topic(&self) -> bool {
        self.room.kind() != RoomKind::Direct && self.privileged()
    }

    /// Checks a send before it is queued for the store (an in-memory lookup, never a query; the rights
    /// are only looked at in a room with rules).
    pub fn check_send(&self) -> Result<(), Hold> {
        if self.room.is_idle() || self.privileged() {
            return Ok(());
        }
        self.room
            .check_send(&self.subject, now_ms(), Instant::now())
    }

    /// Checks an edit (muted and banned people cannot edit either; slow mode does not count edits).
    pub fn check_edit(&self) -> Result<(), Hold> {
        if self.room.is_idle() || self.privileged() {
            return Ok(());
        }
        self.room.check_edit(&self.subject, now_ms())
    }

    /// A future that completes with a close code once this socket is to close (a ban or a kick of its
    /// person); it owns what it needs, so the connection creates it once and polls it in every turn of its
    /// loop without registering anew each time. Only the first call listens; later ones never complete.
    ///
    /// One flat future over its own captures, borrowed in place: every idle socket holds it for its life,
    /// and an `async fn` inside it would keep a second copy of what it is handed (issue 22).
    pub fn closes(&mut self) -> impl Future<Output = u16> + Send + 'static {
        let mut receiver = self.closes.take();
        let room = Arc::downgrade(&self.room);
        let me = self.me();
        async move {
            let Some(receiver) = receiver.as_mut() else {
                return std::future::pending().await;
            };
            loop {
                let next = receiver.recv().await;
                // The room (held by the seat) is gone: so is the socket. Out of the loop first, so that
                // the wait below holds nothing (every idle socket's task holds this future).
                if matches!(next, Err(broadcast::error::RecvError::Closed)) {
                    break;
                }
                if let Some(code) = close_code(next, &room, &me) {
                    return code;
                }
            }
            std::future::pending().await
        }
    }
}

/// What a socket's close listener knows of its person.
struct Me {
    subject: Subject,
    staff: StaffFlag,
    opened_ms: i64,
}

impl Me {
    /// Whether the person may stay in `room`: a member of a members-only room, or staff (except in a
    /// direct room, which is its members' alone).
    fn may_stay(&self, room: &Room) -> bool {
        room.admits(&self.subject) || (self.staff.get() && room.kind() != RoomKind::Direct)
    }
}

/// The code to close this socket with after `next` from its room's closes, if it is to close: a ban or
/// kick of its person opened by `opened_ms`, or its person no longer admitted (or, when closes were
/// missed, a ban still in force or the admission gone). Staff are never banned or kicked; they leave a
/// room only as its members do.
fn close_code(
    next: Result<Close, broadcast::error::RecvError>,
    room: &Weak<Room>,
    me: &Me,
) -> Option<u16> {
    match next {
        Ok(close) => {
            let applies = match &close.whom {
                Whom::One(subject) => {
                    *subject == me.subject && me.opened_ms <= close.opened_by_ms && !me.staff.get()
                }
                Whom::Outsiders => room.upgrade().is_some_and(|room| !me.may_stay(&room)),
            };
            applies.then_some(close.code)
        }
        // Closes were missed: a ban still shows in the rules, a lost admission in the roles (a missed
        // kick is let go).
        Err(broadcast::error::RecvError::Lagged(_)) => {
            let gone = room.upgrade().is_some_and(|room| {
                !me.may_stay(&room)
                    || (!me.staff.get() && room.banned(&me.subject, now_ms()).is_some())
            });
            gone.then_some(CLOSE_BANNED)
        }
        Err(broadcast::error::RecvError::Closed) => None,
    }
}

/// Whom an action names, once resolved.
struct Target {
    /// The account of that name, else the guest nickname.
    primary: Subject,
    /// The guest nickname of the same key, when `primary` is an account (lifts lift both).
    also: Option<Subject>,
    /// The name as shown.
    name: String,
    staff: bool,
}

impl Moderation {
    /// Reads every room's rules from `db`; returns the service and the log position they reflect (where
    /// [`watch_log`] starts).
    pub async fn load(db: Db) -> Result<(Self, i64), StoreError> {
        // The position first: whatever is logged while the rules are read is applied again, not missed.
        let last = db.last_moderation_event().await?;
        let now = now_ms();
        let mut stored: HashMap<String, Stored> = HashMap::new();
        for row in db.sanctions(None, now).await? {
            stored.entry(row.room.clone()).or_default().add(&row);
        }
        for (room, seconds) in db.slow_modes(None).await? {
            stored.entry(room).or_default().slow_mode_secs = u64::try_from(seconds).unwrap_or(0);
        }
        let mut rooms = HashMap::new();
        for (name, rules) in stored {
            let Some(name) = RoomName::parse(&name) else {
                tracing::warn!(room = %name, "skipping the moderation of an invalid room name");
                continue;
            };
            let room = Arc::new(Room::new(name.clone()));
            room.replace(rules, now);
            rooms.insert(name, room);
        }
        let inner = Inner {
            db,
            rooms: Mutex::new(rooms),
        };
        Ok((
            Self {
                inner: Arc::new(inner),
            },
            last,
        ))
    }

    /// The database.
    fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Seats a socket of `identity` in `room` (with its user's live `staff` rights), or refuses it when
    /// they are banned there. The seat listens before the ban is checked and before the room's roles are
    /// read (when this node has not read them yet), so a ban or a removal that lands in between still
    /// closes it.
    ///
    /// `known` is the room's roles when the caller already knows them without a query (a public room
    /// nobody holds a role in: every room from before issue 18), so such a handshake reads nothing more.
    pub async fn enter(
        &self,
        room: &RoomName,
        identity: &Identity,
        staff: StaffFlag,
        known: Option<Roles>,
    ) -> Result<Seat, Banned> {
        let shared = self
            .inner
            .lock()
            .entry(room.clone())
            .or_insert_with(|| Arc::new(Room::new(room.clone())))
            .clone();
        let seat = Seat {
            inner: self.inner.clone(),
            closes: Some(shared.subscribe()),
            room: shared,
            subject: Subject::of(identity),
            staff,
            opened_ms: now_ms(),
        };
        if let (false, Some(roles)) = (seat.room.has_roles(), known) {
            seat.room.set_roles(roles);
        }
        if !seat.room.has_roles() {
            match self.db().room_roles(room.as_str()).await {
                Ok((kind, members)) => seat.room.set_roles(Roles {
                    kind,
                    members: members.into_iter().collect(),
                }),
                // The handshake's own check read the database just now; the next change reloads these.
                Err(error) => tracing::warn!(%error, %room, "cannot read the room's roles"),
            }
        }
        if !seat.staff.get()
            && let Some(until_ms) = seat.room.banned(&seat.subject, seat.opened_ms)
        {
            return Err(Banned { until_ms });
        }
        Ok(seat)
    }

    /// The rooms `identity` is banned from now (none for staff): what a search leaves out.
    pub fn banned_rooms(&self, identity: &Identity) -> Vec<String> {
        if identity.is_staff() {
            return Vec::new();
        }
        let subject = Subject::of(identity);
        let now = now_ms();
        let rooms: Vec<Arc<Room>> = self.inner.lock().values().cloned().collect();
        rooms
            .into_iter()
            .filter(|room| room.banned(&subject, now).is_some())
            .map(|room| room.name().as_str().to_owned())
            .collect()
    }

    /// Whether account `user_id` (staff when `staff`) is banned from `room` now.
    pub fn user_banned(&self, room: &RoomName, user_id: i64, staff: bool) -> bool {
        if staff {
            return false;
        }
        let shared = self.inner.lock().get(room).cloned();
        shared.is_some_and(|room| room.banned(&Subject::User(user_id), now_ms()).is_some())
    }

    /// Whether `identity` is banned from `room` now (staff never are).
    pub fn banned(&self, room: &RoomName, identity: &Identity) -> bool {
        if identity.is_staff() {
            return false;
        }
        let shared = self.inner.lock().get(room).cloned();
        shared.is_some_and(|room| room.banned(&Subject::of(identity), now_ms()).is_some())
    }

    /// The mutes and bans in force in `room`, and its slow mode in seconds (0: off), as stored.
    pub async fn listing(&self, room: &RoomName) -> Result<(Vec<SanctionRow>, u64), StoreError> {
        let sanctions = self.db().sanctions(Some(room.as_str()), now_ms()).await?;
        let slow = self.db().slow_modes(Some(room.as_str())).await?;
        let seconds = slow
            .first()
            .map_or(0, |(_, s)| u64::try_from(*s).unwrap_or(0));
        Ok((sanctions, seconds))
    }

    /// Carries out `action` on `room` for `actor` (staff): stores it with its log entry and audit row,
    /// applies it on this node at once (the others follow within a poll), and says what was done.
    pub async fn act(
        &self,
        actor: &SignedIn,
        room: &RoomName,
        action: &Action,
        via: Via,
    ) -> Result<Done, ModerationError> {
        // Rights as they are now, never as the actor's session or socket remembers them.
        let staff = self
            .db()
            .user_by_id(actor.id)
            .await?
            .is_some_and(|u| u.is_staff && u.is_active);
        if !staff && self.room_role(room, actor.id).await? < Some(Role::Moderator) {
            return Err(ModerationError::NotStaff);
        }
        action.validate()?;
        let target = match action.user() {
            Some(name) => Some(self.resolve(name).await?),
            None => None,
        };
        if let Some(target) = &target
            && matches!(
                action,
                Action::Mute { .. } | Action::Ban { .. } | Action::Kick { .. }
            )
        {
            // Staff are beyond moderation; a room's managers are beyond its moderators' (staff's only).
            let manager = match &target.primary {
                Subject::User(id) if !staff => {
                    self.room_role(room, *id).await? >= Some(Role::Moderator)
                }
                _ => false,
            };
            if target.staff || manager {
                return Err(ModerationError::StaffTarget(target.name.clone()));
            }
        }
        let now = now_ms();
        let until_ms = match action {
            Action::Mute { seconds, .. } => Some(until(now, *seconds)),
            Action::Ban { seconds, .. } => seconds.map(|s| until(now, s)),
            _ => None,
        };
        let seconds = match action {
            Action::Mute { seconds, .. } | Action::SlowMode { seconds } => Some(*seconds),
            Action::Ban { seconds, .. } => *seconds,
            _ => None,
        };
        let primary = target.as_ref().map(|t| t.primary.key()).unwrap_or_default();
        let also = target
            .as_ref()
            .and_then(|t| t.also.as_ref())
            .map_or_else(|| primary.clone(), Subject::key);
        let name = target.as_ref().map_or("", |t| t.name.as_str());
        let write = match action {
            Action::Mute { .. } | Action::Ban { .. } => SanctionWrite::Set {
                kind: action.name(),
                subject: &primary,
                name,
                until_ms,
            },
            Action::Unmute { .. } => SanctionWrite::Lift {
                kind: "mute",
                subjects: [&primary, &also],
            },
            Action::Unban { .. } => SanctionWrite::Lift {
                kind: "ban",
                subjects: [&primary, &also],
            },
            Action::Kick { .. } => SanctionWrite::EventOnly,
            Action::SlowMode { seconds } => SanctionWrite::SlowMode {
                seconds: i64::try_from(*seconds).unwrap_or(i64::MAX),
            },
        };
        let guest = target.as_ref().is_some_and(|t| t.primary.is_guest());
        let audit_action = format!("room.{}", action.name());
        let audit_target = match &target {
            Some(_) if guest => format!("{name} (guest) in {room}"),
            Some(_) => format!("{name} in {room}"),
            None => room.to_string(),
        };
        let detail = audit_detail(action, until_ms, via);
        let change = ModerationChange {
            room: room.as_str(),
            write,
            action: action.name(),
            subject: &primary,
            actor_id: actor.id,
            actor: actor.name.as_str(),
            audit: [&audit_action, &audit_target, &detail],
            now_ms: now,
        };
        tracing::info!(actor = %actor.name, action = action.name(), target = %audit_target, "moderation");
        if !self.db().moderate(&change).await? {
            let what = if matches!(action, Action::Unmute { .. }) {
                "muted"
            } else {
                "banned"
            };
            return Err(ModerationError::NotFound(format!(
                "{name} is not {what} in {room}"
            )));
        }
        // Here at once; if this read fails, the poll of the log applies it within a second.
        if let Err(error) = self.refresh(room).await {
            tracing::warn!(%error, %room, "cannot reload the room's moderation; the log poll will");
        }
        if let (Action::Kick { .. }, Some(target)) = (action, &target) {
            self.kick_here(room, target.primary.clone(), now);
        }
        Ok(Done {
            action: action.name(),
            user: target.map(|t| t.name),
            guest,
            until_ms,
            seconds,
        })
    }

    /// `user_id`'s role in `room`, read now.
    async fn room_role(&self, room: &RoomName, user_id: i64) -> Result<Option<Role>, StoreError> {
        Ok(self
            .db()
            .room_access(room.as_str(), Some(user_id))
            .await?
            .and_then(|row| row.role))
    }

    /// The account named `name`, else the guest nickname `name`.
    async fn resolve(&self, name: &str) -> Result<Target, ModerationError> {
        let name = name.trim();
        let account = match Username::parse_account(name) {
            Ok(account) => self.db().user_named(name, &account).await?,
            Err(_) => None,
        };
        let guest = Username::parse(name);
        match (account, guest) {
            (Some(user), guest) => Ok(Target {
                primary: Subject::User(user.id),
                also: guest.as_ref().map(Subject::guest),
                name: user.username,
                staff: user.is_staff,
            }),
            (None, Some(guest)) => Ok(Target {
                primary: Subject::guest(&guest),
                also: None,
                name: guest.as_str().to_owned(),
                staff: false,
            }),
            (None, None) => Err(ModerationError::InvalidUser(name.to_owned())),
        }
    }

    /// Reloads `room`'s rules from the database and closes the sockets of anyone newly banned.
    async fn refresh(&self, room: &RoomName) -> Result<(), StoreError> {
        let now = now_ms();
        let mut stored = Stored::default();
        for row in self.db().sanctions(Some(room.as_str()), now).await? {
            stored.add(&row);
        }
        if let Some((_, seconds)) = self.db().slow_modes(Some(room.as_str())).await?.first() {
            stored.slow_mode_secs = u64::try_from(*seconds).unwrap_or(0);
        }
        let shared = {
            let mut rooms = self.inner.lock();
            match rooms.get(room) {
                Some(shared) => shared.clone(),
                None if stored.is_empty() => return Ok(()),
                None => rooms
                    .entry(room.clone())
                    .or_insert_with(|| Arc::new(Room::new(room.clone())))
                    .clone(),
            }
        };
        for subject in shared.replace(stored, now) {
            shared.close(Close {
                whom: Whom::One(subject),
                code: CLOSE_BANNED,
                opened_by_ms: i64::MAX,
            });
        }
        // The roles too, when a socket here has read them: a removal closes its sockets here.
        if shared.has_roles() {
            let (kind, members) = self.db().room_roles(room.as_str()).await?;
            shared.set_roles(Roles {
                kind,
                members: members.into_iter().collect(),
            });
            if kind.members_only() {
                shared.close(Close {
                    whom: Whom::Outsiders,
                    code: CLOSE_BANNED,
                    opened_by_ms: i64::MAX,
                });
            }
        }
        self.inner.release(&shared);
        Ok(())
    }

    /// Closes this node's sockets of `subject` in `room` opened by `at_ms`.
    fn kick_here(&self, room: &RoomName, subject: Subject, at_ms: i64) {
        let shared = self.inner.lock().get(room).cloned();
        if let Some(shared) = shared {
            shared.close(Close {
                whom: Whom::One(subject),
                code: CLOSE_KICKED,
                opened_by_ms: at_ms,
            });
        }
    }

    /// Applies log entries from any node: reloads each room they name and carries out kicks. Returns the
    /// rooms that could not be reloaded (to try again).
    async fn apply(&self, events: &[ModerationEvent]) -> Vec<RoomName> {
        let mut rooms: Vec<RoomName> = Vec::new();
        for event in events {
            match RoomName::parse(&event.room) {
                Some(room) if !rooms.contains(&room) => rooms.push(room),
                Some(_) => {}
                None => {
                    tracing::warn!(room = %event.room, "a moderation entry names an invalid room")
                }
            }
        }
        let mut failed = Vec::new();
        for room in rooms {
            if let Err(error) = self.refresh(&room).await {
                tracing::warn!(%error, %room, "cannot reload the room's moderation");
                failed.push(room);
            }
        }
        for event in events.iter().filter(|e| e.action == "kick") {
            if let (Some(room), Some(subject)) =
                (RoomName::parse(&event.room), Subject::parse(&event.subject))
            {
                self.kick_here(&room, subject, event.at);
            }
        }
        failed
    }

    /// Drops ended mutes and bans from memory, and rooms left with neither rules nor sockets.
    fn prune(&self, now_ms: i64) {
        let mut rooms = self.inner.lock();
        rooms.retain(|_, room| {
            room.prune(now_ms);
            !room.is_idle() || Arc::strong_count(room) > 1
        });
    }
}

/// `seconds` after `now_ms`.
fn until(now_ms: i64, seconds: u64) -> i64 {
    now_ms.saturating_add(i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX))
}

/// The audit row's detail of `action`.
fn audit_detail(action: &Action, until_ms: Option<i64>, via: Via) -> String {
    let via = via.as_str();
    match (action, until_ms) {
        (
            Action::Mute { seconds, .. }
            | Action::Ban {
                seconds: Some(seconds),
                ..
            },
            Some(until),
        ) => {
            format!("{seconds} s, until {}; {via}", rfc3339_ms(until))
        }
        (Action::Ban { .. }, _) => format!("until lifted; {via}"),
        (Action::SlowMode { seconds: 0 }, _) => format!("off; {via}"),
        (Action::SlowMode { seconds }, _) => {
            format!("one message per person every {seconds} s; {via}")
        }
        _ => via.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every idle socket holds its close listener for its life (issue 22: 240 bytes when it was an
    /// `async fn` inside an `async` block, each with its own copy of the receiver).
    #[test]
    fn a_socket_s_close_listener_stays_small() {
        fn output_size<R>(_: fn(&'static mut Seat) -> R) -> usize {
            std::mem::size_of::<R>()
        }
        let size = output_size(Seat::closes);
        assert!(
            size <= 140,
            "the close listener is {size} bytes (136 in a debug build; 176 while its wait for ever \
             kept the last result)"
        );
    }

    #[test]
    fn close_codes_say_why() {
        assert_eq!(close_reason(CLOSE_BANNED), "banned from this room");
        assert_eq!(close_reason(CLOSE_KICKED), "kicked from this room");
    }

    #[test]
    fn audit_details_name_the_time_and_the_way() {
        let mute = Action::Mute {
            user: "bob".into(),
            seconds: 60,
        };
        assert_eq!(
            audit_detail(&mute, Some(until(0, 60)), Via::Socket),
            "60 s, until 1970-01-01T00:01:00.000Z; via a socket"
        );
        let ban = Action::Ban {
            user: "bob".into(),
            seconds: None,
        };
        assert_eq!(
            audit_detail(&ban, None, Via::Admin),
            "until lifted; via the admin"
        );
        assert_eq!(
            audit_detail(&Action::SlowMode { seconds: 0 }, None, Via::Admin),
            "off; via the admin"
        );
    }
}
