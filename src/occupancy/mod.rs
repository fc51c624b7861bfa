//! Room occupancy for outgoing webhooks (issue 21): `room_occupied` when a room that had nobody gets its
//! first socket on any node, `room_vacated` when its last one anywhere goes, or when the node holding it
//! dies (its claim runs out after the presence TTL).
//!
//! Presence stays ephemeral and each node only knows the rooms it serves (it hears other nodes' news of a
//! room only while it holds a socket there), so no node can see a room go empty everywhere. Instead each
//! node keeps a claim per room it holds sockets in (`room_occupancy_claims`, migration 0017), written by
//! this task off the join path: presence hints it through a bounded channel when the node's first socket
//! in a room arrives or its last one goes ([`Presence::with_occupancy`](crate::presence::Presence::with_occupancy)), and each change goes through
//! [`Db::settle`], which flips the room's stored state, writing the transition as an event, only when
//! whether some claim is live changed. Every presence heartbeat renews this node's claims in one statement
//! and repairs what a dropped hint missed; every sweep any node vacates the occupied rooms whose claims
//! all ran out (a node that died, or this one after a restart: presence is empty at boot). A stopping node
//! lets go of its claims, so its rooms are vacated at once.
//!
//! While no outgoing hook anywhere asks for occupancy (a [`Switch`] the task keeps: it looks at the store
//! every heartbeat, and at most every [`LOOK_EVERY`] when a hint comes while it is off; registering such a
//! hook on this node turns it on at once), the node writes no claims: a join and a leave cost the store
//! nothing. Once one does, the next hint or heartbeat claims every room the node holds, so rooms occupied
//! when the hook was registered are announced as occupied then; when none does any more, the node lets
//! go of its claims.
//!
//! Transitions are level-triggered: each hint is applied as the node's hold is when the task reads it, so
//! a join and a leave quicker than one write may make no event at all; the events a room gets always
//! alternate (occupied, vacated, occupied, ...), in order, and end where the rooms are.
//!
//! [`Db::settle`]: crate::storage::Db::settle

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::domain::RoomName;
use crate::presence::Presence;
use crate::storage::{Claim, Db, StoreError, Transition, now_ms};
use crate::switch::Switch;

/// Hints waiting for the task before presence drops them (the heartbeat repairs those).
pub const HINTS: usize = 1024;
/// Abandoned rooms vacated per sweep.
const ABANDONED_PER_SWEEP: i64 = 500;
/// How often the outbox is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// While no hook asks for occupancy, how long a hint's look at the store that said so stands for the next
/// hints (another node's registration is seen by a hint within this, or at the next heartbeat).
pub const LOOK_EVERY: Duration = Duration::from_secs(1);

/// How the task paces itself (from the config).
#[derive(Clone, Copy, Debug)]
pub struct OccupancySettings {
    /// A claim's life without renewal: presence's TTL.
    pub ttl: Duration,
    /// How often claims are renewed (presence's heartbeat).
    pub heartbeat: Duration,
    /// How often rooms whose claims ran out are looked for (presence's sweep).
    pub sweep: Duration,
    /// Events older than this are pruned (`--webhook-give-up-secs`).
    pub keep: Duration,
}

/// This node's side of occupancy: its id in the claims, and the rooms it has a claim on.
struct Claims {
    db: Db,
    presence: Arc<Presence>,
    settings: OccupancySettings,
    node: String,
    /// Rooms this node has a stored claim on, with their ids.
    claimed: HashMap<RoomName, i64>,
    /// Whether any hook asks for occupancy.
    wanted: Arc<Switch>,
    /// When the store was last asked whether any does.
    looked: Option<Instant>,
}

/// What the task reads: the store, presence, its pacing, and whether any hook asks for occupancy.
pub struct Occupancy {
    /// The store of claims and events.
    pub db: Db,
    /// Which rooms this node holds.
    pub presence: Arc<Presence>,
    /// The pacing.
    pub settings: OccupancySettings,
    /// On while any hook asks for occupancy (turned on at once by a registration on this node).
    pub wanted: Arc<Switch>,
}

/// Runs until `stop`, then lets go of this node's claims.
pub async fn run(
    occupancy: Occupancy,
    mut hints: mpsc::Receiver<RoomName>,
    stop: CancellationToken,
) {
    let settings = occupancy.settings;
    let wanted = occupancy.wanted.clone();
    let mut claims = Claims {
        db: occupancy.db,
        presence: occupancy.presence,
        settings,
        node: crate::accounts::secret::new_secret(),
        claimed: HashMap::new(),
        wanted: occupancy.wanted,
        looked: None,
    };
    let mut heartbeat = tokio::time::interval(settings.heartbeat);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(settings.sweep);
    sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let done = tokio::select! {
            () = stop.cancelled() => break,
            hint = hints.recv() => match hint {
                Some(room) => claims.apply(&room).await,
                None => break,
            },
            _ = heartbeat.tick() => claims.renew().await,
            // A hook asking for occupancy was registered on this node: the rooms it holds, now.
            () = wanted.switched_on() => claims.renew().await,
            _ = sweep.tick() => claims.vacate_abandoned().await,
            _ = prune.tick() => claims.prune().await,
        };
        if let Err(error) = done {
            tracing::warn!(%error, "room occupancy: a write failed; the next heartbeat repairs it");
        }
    }
    claims.release_all().await;
    tracing::debug!("room occupancy stopped");
}

impl Claims {
    fn expires_ms(&self) -> i64 {
        now_ms().saturating_add(i64::try_from(self.settings.ttl.as_millis()).unwrap_or(i64::MAX))
    }

    /// Whether any hook asks for occupancy: the switch, and while it is off, the store again at most
    /// every [`LOOK_EVERY`].
    async fn wanted(&mut self) -> Result<bool, StoreError> {
        if self.wanted.on() {
            return Ok(true);
        }
        if self.looked.is_some_and(|at| at.elapsed() < LOOK_EVERY) {
            return Ok(false);
        }
        self.looked = Some(Instant::now());
        self.look().await
    }

    /// Asks the store whether any hook asks for occupancy (a heartbeat's look does not hold hints back:
    /// only hints' own looks are spaced).
    async fn look(&mut self) -> Result<bool, StoreError> {
        let before = self.wanted.turned_on();
        let found = self.db.occupancy_wanted().await?;
        self.wanted.looked(before, found);
        Ok(self.wanted.on())
    }

    /// Brings this node's claim on `room` in line with whether it holds a socket there now (nothing
    /// while no hook asks for occupancy).
    async fn apply(&mut self, room: &RoomName) -> Result<(), StoreError> {
        if !self.wanted().await? {
            return Ok(());
        }
        let held = self.presence.holds(room);
        match (held, self.claimed.get(room).copied()) {
            (true, None) => {
                // A room without a row (nobody wrote in it, nobody made it) has no hooks: it is counted
                // from when it has one, at a heartbeat.
                let Some(room_id) = self.db.room_id(room.as_str()).await? else {
                    return Ok(());
                };
                let claim = Claim::Hold {
                    node: &self.node,
                    expires_ms: self.expires_ms(),
                };
                let transition = self.db.settle(room_id, claim, now_ms()).await?;
                log(room, transition);
                self.claimed.insert(room.clone(), room_id);
            }
            (false, Some(room_id)) => {
                let claim = Claim::Release { node: &self.node };
                let transition = self.db.settle(room_id, claim, now_ms()).await?;
                log(room, transition);
                self.claimed.remove(room);
            }
            _ => {}
        }
        Ok(())
    }

    /// Renews this node's claims, forgets those another node's sweep dropped as run out, and applies every
    /// room whose hold differs from the claims (hints the channel dropped, or all of them when a hook
    /// began to ask for occupancy); lets go of them all when none asks any more.
    async fn renew(&mut self) -> Result<(), StoreError> {
        if !self.look().await? {
            self.release_all().await;
            return Ok(());
        }
        let stored: HashSet<i64> = self
            .db
            .renew_claims(&self.node, self.expires_ms())
            .await?
            .into_iter()
            .collect();
        self.claimed.retain(|_, id| stored.contains(id));
        let held: HashSet<RoomName> = self.presence.held_rooms().into_iter().collect();
        let mut differ: Vec<RoomName> = held
            .iter()
            .filter(|room| !self.claimed.contains_key(*room))
            .cloned()
            .collect();
        differ.extend(
            self.claimed
                .keys()
                .filter(|room| !held.contains(*room))
                .cloned(),
        );
        for room in differ {
            self.apply(&room).await?;
        }
        Ok(())
    }

    /// Vacates the occupied rooms no live claim holds (their nodes died or stopped without letting go).
    async fn vacate_abandoned(&mut self) -> Result<(), StoreError> {
        let now = now_ms();
        for room_id in self.db.abandoned_rooms(now, ABANDONED_PER_SWEEP).await? {
            let transition = self.db.settle(room_id, Claim::Expire, now).await?;
            if let Transition::Vacated(seq) = transition {
                tracing::debug!(room_id, seq, "room vacated: its claims ran out");
            }
        }
        Ok(())
    }

    /// Removes the events every hook has passed, and those older than a batch is retried.
    async fn prune(&mut self) -> Result<(), StoreError> {
        let keep = i64::try_from(self.settings.keep.as_millis()).unwrap_or(i64::MAX);
        let removed = self
            .db
            .prune_occupancy(now_ms().saturating_sub(keep))
            .await?;
        if removed > 0 {
            tracing::debug!(removed, "room occupancy: events pruned");
        }
        Ok(())
    }

    /// Lets go of every claim (the node is stopping): rooms nobody else holds are vacated now.
    async fn release_all(&mut self) {
        for (room, room_id) in std::mem::take(&mut self.claimed) {
            let claim = Claim::Release { node: &self.node };
            match self.db.settle(room_id, claim, now_ms()).await {
                Ok(transition) => log(&room, transition),
                Err(error) => {
                    tracing::debug!(%error, %room, "room occupancy: a claim was not released (it runs out)");
                }
            }
        }
    }
}

fn log(room: &RoomName, transition: Transition) {
    match transition {
        Transition::Occupied(seq) => tracing::debug!(%room, seq, "room occupied"),
        Transition::Vacated(seq) => tracing::debug!(%room, seq, "room vacated"),
        Transition::Unchanged => {}
    }
}
