//! What is pushed, to whom, and when. The store writer's completer hands each committed batch to
//! [`Feed::offer`] (on the node that stored it, after the commit): each plain message becomes a small
//! [`Job`] on a bounded queue (`try_send`: a full queue drops the job and counts it; the message path
//! never waits). The notifier task takes the jobs in order and, for each:
//! - finds the subscriptions of the people it is for: the accounts it mentions and, in a direct room, its
//!   members (one query, [`crate::storage::Db::push_targets`]); never the author;
//! - leaves out whoever has a socket open on the room on any node (presence), and whoever may not read
//!   the room now (the one access check, asked afresh);
//! - coalesces per (person, room): the first push goes at once and opens a window of
//!   `--push-coalesce-ms`; messages within it are held, and at its end the newest is sent as one push
//!   ("and 4 more"), after the same checks, and a new window opens.
//!
//! The deliveries run as tasks of their own (at most [`MAX_SENDING`] at once), so a slow or retrying push
//! service never holds up the queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::crypto::BrowserKeys;
use super::deliver::Sender;
use super::payload::{Job, Payload};
use crate::access::Access;
use crate::accounts::{Credential, Identity, SignedIn};
use crate::domain::{RoomKind, RoomName, Username};
use crate::presence::Presence;
use crate::storage::{Db, PushTarget, StoredMessage};
use crate::switch::Switch;

/// Jobs that may wait for the notifier.
pub const QUEUE: usize = 4096;
/// Pushes being sent (or waiting to retry) at once.
pub const MAX_SENDING: usize = 64;
/// (person, room) windows kept; past this, pushes are sent without coalescing.
const MAX_WINDOWS: usize = 65_536;
/// How often the notifier asks whether anyone has a subscription at all (a node learns of the first
/// subscription made through another node within this).
const REFRESH: Duration = Duration::from_secs(2);
/// How long a room without anyone to push to for its plain messages is remembered as such.
const QUIET_FOR: Duration = Duration::from_secs(10);
/// Rooms remembered as quiet (forgotten all at once past this).
const MAX_QUIET: usize = 16_384;

/// Rooms with nobody to push to for their plain messages (not direct, nobody subscribed among their
/// people), until when: shared by the notifier, which finds them, and the feed, which then makes no job of
/// such a room's messages that mention no one (one lock per committed batch).
#[derive(Default)]
pub struct Quiet(std::sync::Mutex<HashMap<RoomName, Instant>>);

impl Quiet {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomName, Instant>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `room` is known to be quiet at `now`.
    fn holds(&self, room: &RoomName, now: Instant) -> bool {
        self.lock().get(room).is_some_and(|until| *until > now)
    }

    /// Remembers `room` as quiet until `until`.
    fn remember(&self, room: &RoomName, until: Instant) {
        let mut quiet = self.lock();
        if quiet.len() >= MAX_QUIET {
            quiet.clear();
        }
        quiet.insert(room.clone(), until);
    }
}

/// The writer's side: offers committed messages to the notifier.
#[derive(Clone)]
pub struct Feed {
    jobs: mpsc::Sender<Job>,
    /// Rooms whose plain messages go to no one for now.
    quiet: Arc<Quiet>,
    /// Anyone has a subscription (refreshed by the notifier; set at once by a subscribe on this node).
    active: Arc<Switch>,
    counters: super::Counters,
}

impl Feed {
    /// A feed and the receiving end for the notifier.
    pub fn new(counters: super::Counters) -> (Self, mpsc::Receiver<Job>) {
        let (jobs, receiver) = mpsc::channel(QUEUE);
        let feed = Self {
            jobs,
            // On until the notifier's first look says nobody has a subscription.
            active: Arc::new(Switch::new()),
            quiet: Arc::default(),
            counters,
        };
        (feed, receiver)
    }

    /// The quiet rooms, which the notifier finds.
    pub fn quiet(&self) -> Arc<Quiet> {
        self.quiet.clone()
    }

    /// The switch the notifier keeps up to date.
    pub fn switch(&self) -> Arc<Switch> {
        self.active.clone()
    }

    /// Someone just subscribed on this node.
    pub fn activate(&self) {
        self.active.switch_on();
    }

    /// Queues the plain messages of a committed batch (nothing at all while nobody has a subscription).
    pub fn offer(&self, messages: &[(RoomName, StoredMessage)]) {
        if !self.active.on() {
            return;
        }
        let now = Instant::now();
        let quiet = self.quiet.lock();
        for (room, message) in messages.iter().filter(|(_, m)| m.kind.plain()) {
            if message.mentioned().next().is_none()
                && quiet.get(room).is_some_and(|until| *until > now)
            {
                continue;
            }
            let job = Job {
                room: room.clone(),
                id: message.seq,
                author: message.author.clone(),
                guest: message.guest,
                text: super::payload::cut(&message.body, super::payload::TEXT_CHARS),
                mentions: message.mentioned().map(str::to_owned).collect(),
            };
            if self.jobs.try_send(job).is_err() {
                self.counters.dropped.increment(1);
            }
        }
    }
}

/// What the notifier reads and asks.
pub struct Notifier {
    /// Who is in each room, on every node.
    pub presence: Arc<Presence>,
    /// The one access check.
    pub access: Access,
    /// The subscriptions.
    pub db: Db,
    /// Sends the pushes.
    pub sender: Arc<Sender>,
    /// The coalescing window.
    pub window: Duration,
    /// Put text in pushes.
    pub preview: bool,
    /// The feed's switch.
    pub active: Arc<Switch>,
    /// The rooms with nobody to push to, shared with the feed.
    pub quiet: Arc<Quiet>,
}

/// A person's subscriptions.
struct Person {
    user_id: i64,
    name: String,
    is_staff: bool,
    subscriptions: Vec<(String, BrowserKeys)>,
}

/// One (person, room)'s window.
struct Window {
    until: Instant,
    /// Messages held since the last push.
    held: u32,
    /// The newest of them.
    last: Option<Job>,
    person: Arc<Person>,
}

/// Runs the notifier until `stop`.
pub async fn run(notifier: Notifier, mut jobs: mpsc::Receiver<Job>, stop: CancellationToken) {
    let sending = Arc::new(Semaphore::new(MAX_SENDING));
    let mut windows: HashMap<(i64, RoomName), Window> = HashMap::new();
    let mut refresh = tokio::time::interval(REFRESH);
    loop {
        let next = windows.values().map(|w| w.until).min();
        tokio::select! {
            () = stop.cancelled() => break,
            _ = refresh.tick() => {
                let before = notifier.active.turned_on();
                match notifier.db.any_push_subscription().await {
                    Ok(any) => notifier.active.looked(before, any),
                    Err(error) => tracing::debug!(%error, "cannot tell whether anyone subscribed to pushes"),
                }
            }
            job = jobs.recv() => match job {
                Some(job) => notifier.take(job, &mut windows, &sending).await,
                None => break,
            },
            () = sleep_until(next) => notifier.close_windows(&mut windows, &sending).await,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl Notifier {
    async fn take(
        &self,
        job: Job,
        windows: &mut HashMap<(i64, RoomName), Window>,
        sending: &Arc<Semaphore>,
    ) {
        let now = Instant::now();
        let names: Vec<String> = job
            .mentions
            .iter()
            .filter(|name| job.guest || !name.eq_ignore_ascii_case(&job.author))
            .cloned()
            .collect();
        if names.is_empty() && self.quiet.holds(&job.room, now) {
            return;
        }
        let targets = match self.db.push_targets(&names, job.room.as_str()).await {
            Ok(targets) => targets,
            Err(error) => {
                tracing::warn!(%error, room = %job.room, "cannot read whom to push a message to");
                return;
            }
        };
        if names.is_empty() && targets.is_empty() {
            self.quiet.remember(&job.room, now + QUIET_FOR);
            return;
        }
        for person in people(targets) {
            if !job.guest && person.name == job.author {
                continue;
            }
            let key = (person.user_id, job.room.clone());
            // A window past its end is closed next (it is due): what comes now still joins it.
            if let Some(window) = windows.get_mut(&key) {
                window.held += 1;
                window.last = Some(job.clone());
                window.person = person;
                continue;
            }
            let Some(kind) = self.eligible(&person, &job.room).await else {
                continue;
            };
            self.send(&person, &job, 0, kind, sending).await;
            if windows.len() < MAX_WINDOWS {
                windows.insert(
                    key,
                    Window {
                        until: now + self.window,
                        held: 0,
                        last: None,
                        person,
                    },
                );
            }
        }
    }

    /// Ends the windows that are due: sends what each held, and opens a new window after a push.
    async fn close_windows(
        &self,
        windows: &mut HashMap<(i64, RoomName), Window>,
        sending: &Arc<Semaphore>,
    ) {
        let now = Instant::now();
        let due: Vec<(i64, RoomName)> = windows
            .iter()
            .filter(|(_, w)| w.until <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            let Some(window) = windows.remove(&key) else {
                continue;
            };
            let Some(last) = window.last else {
                continue;
            };
            let Some(kind) = self.eligible(&window.person, &last.room).await else {
                continue;
            };
            // Their subscriptions as they are now (one may have been removed during the window).
            let person = match self
                .db
                .push_targets(
                    std::slice::from_ref(&window.person.name),
                    last.room.as_str(),
                )
                .await
            {
                Ok(targets) => people(targets)
                    .into_iter()
                    .find(|p| p.user_id == window.person.user_id),
                Err(error) => {
                    tracing::warn!(%error, "cannot read a person's push subscriptions");
                    None
                }
            };
            let Some(person) = person else {
                continue;
            };
            self.send(&person, &last, window.held - 1, kind, sending)
                .await;
            windows.insert(
                key,
                Window {
                    until: now + self.window,
                    held: 0,
                    last: None,
                    person,
                },
            );
        }
    }

    /// The room's kind, if `person` is away from it (no socket on any node) and may read it now.
    async fn eligible(&self, person: &Person, room: &RoomName) -> Option<RoomKind> {
        if self.presence.is_here(room, &person.name) {
            return None;
        }
        let identity = Identity::User(Arc::new(SignedIn {
            id: person.user_id,
            name: Username::from_stored(&person.name),
            is_staff: person.is_staff,
            // Whether they are a bot does not change what they may read.
            is_bot: false,
            credential: Credential::Token(0),
        }));
        match self.access.grant(&identity, room).await {
            Ok(grant) if grant.may_read() => Some(grant.kind),
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(%error, %room, "cannot check who may read a room for a push");
                None
            }
        }
    }

    /// Sends `job` (and `more` held before it) to each of `person`'s subscriptions, in tasks of their own.
    async fn send(
        &self,
        person: &Person,
        job: &Job,
        more: u32,
        kind: RoomKind,
        sending: &Arc<Semaphore>,
    ) {
        let payload = Payload::of(job, more, self.preview).encode();
        let urgent = kind == RoomKind::Direct;
        for (endpoint, keys) in &person.subscriptions {
            let Ok(permit) = sending.clone().acquire_owned().await else {
                return;
            };
            let sender = self.sender.clone();
            let (endpoint, keys, payload) = (endpoint.clone(), keys.clone(), payload.clone());
            tokio::spawn(async move {
                sender.send(&endpoint, &keys, &payload, urgent).await;
                drop(permit);
            });
        }
    }
}

/// The targets grouped by person (subscriptions whose stored keys no longer parse are skipped).
fn people(targets: Vec<PushTarget>) -> Vec<Arc<Person>> {
    let mut people: Vec<Person> = Vec::new();
    for target in targets {
        let Ok(keys) = BrowserKeys::parse(&target.p256dh, &target.auth) else {
            continue;
        };
        match people.iter_mut().find(|p| p.user_id == target.user_id) {
            Some(person) => {
                if !person
                    .subscriptions
                    .iter()
                    .any(|(e, _)| *e == target.endpoint)
                {
                    person.subscriptions.push((target.endpoint, keys));
                }
            }
            None => people.push(Person {
                user_id: target.user_id,
                name: target.username,
                is_staff: target.is_staff,
                subscriptions: vec![(target.endpoint, keys)],
            }),
        }
    }
    people.into_iter().map(Arc::new).collect()
}
