//! Rooms another PostgreSQL connection holds: one stuck room must not stop the others (issue 22).
//!
//! A batch locks its rooms' rows (in name order) for its transaction. When another connection holds one of
//! them and does not let go (a node cut off inside its transaction), the writer's `lock_timeout` ends the
//! wait and the whole transaction fails, storing nothing. The writer then asks which of the batch's rooms
//! are held (`FOR UPDATE SKIP LOCKED` takes the free ones without waiting and gives them back at once),
//! stores the batch again without those rooms, and answers their sends `store_unavailable` (not stored:
//! the client sends again, with the same `client_id`). It remembers them, so the next batches do not wait
//! for them again: each asks first whether they are still held (one round trip, no wait), and includes a
//! room again as soon as it is free. Ids stay gap-free: a failed transaction uses none.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use super::{NewMessage, Outcome, StoreError};

/// What this needs of the store (PostgreSQL's backend): a batch in one transaction, and a look at which
/// rooms other connections hold.
#[async_trait::async_trait]
pub(super) trait LockingStore: Sync {
    /// The rooms remembered as held.
    fn held(&self) -> &HeldRooms;
    /// Stores `batch` in one transaction, waiting at most the lock timeout for each room.
    async fn write(&self, batch: &[NewMessage], now_ms: i64) -> Result<Vec<Outcome>, StoreError>;
    /// Which of `names` another connection holds now, without waiting for any. The answer may be stale
    /// by the time the batch runs, which costs at most one more lock wait.
    async fn look(&self, names: &[String]) -> Result<HashSet<String>, StoreError>;
}

/// Rooms remembered as held, at most: past it the oldest half is forgotten (each is asked again when it
/// next fails to lock, so forgetting costs one more wait, never a wrong answer).
const REMEMBERED: usize = 1024;

/// Stores without the held rooms at most this many times per batch (each round that finds a new held
/// room waited one lock timeout for it).
const ROUNDS: usize = 3;

/// The rooms the writer found held by other connections, and since when.
#[derive(Default)]
pub struct HeldRooms(Mutex<HashMap<String, Instant>>);

impl HeldRooms {
    /// Which rooms of `batch` are remembered as held (none, without a look at the batch, while none is).
    fn suspects(&self, batch: &[NewMessage]) -> Vec<String> {
        let held = self.0.lock().expect("held rooms");
        if held.is_empty() {
            return Vec::new();
        }
        let names: HashSet<&str> = batch.iter().map(|m| m.room.as_str()).collect();
        names
            .into_iter()
            .filter(|name| held.contains_key(*name))
            .map(str::to_owned)
            .collect()
    }

    /// Records what a look at `asked` found: `held` are held now, the others are free again.
    fn update(&self, asked: &[String], held: &HashSet<String>) {
        let mut remembered = self.0.lock().expect("held rooms");
        for name in asked {
            if !held.contains(name) {
                remembered.remove(name);
            }
        }
        let now = Instant::now();
        for name in held {
            remembered.entry(name.clone()).or_insert(now);
        }
        if remembered.len() > REMEMBERED {
            let mut since: Vec<Instant> = remembered.values().copied().collect();
            since.sort_unstable();
            let cutoff = since[since.len() / 2];
            remembered.retain(|_, at| *at > cutoff);
        }
    }
}

/// Whether `error` is PostgreSQL's `lock_not_available` (a `lock_timeout` ran out).
fn lock_timed_out(error: &StoreError) -> bool {
    match error {
        StoreError::Database(error) => match error.as_ref() {
            sqlx::Error::Database(db) => db.code().as_deref() == Some("55P03"),
            _ => false,
        },
        _ => false,
    }
}

/// [`super::Backend::append`] for PostgreSQL: the batch in one transaction, or, when rooms of it are held
/// by another connection, the rest of it, with the held rooms' sends answered
/// [`StoreError::RoomBusy`].
pub(super) async fn append(
    backend: &impl LockingStore,
    batch: &[NewMessage],
    now_ms: i64,
) -> Result<Vec<Outcome>, StoreError> {
    let suspects = backend.held().suspects(batch);
    let mut skip = HashSet::new();
    if !suspects.is_empty() {
        skip = backend.look(&suspects).await?;
        backend.held().update(&suspects, &skip);
    }
    if skip.is_empty() {
        // The common path: one transaction, as before.
        match backend.write(batch, now_ms).await {
            Err(error) if lock_timed_out(&error) => {}
            other => return other,
        }
    }
    without_held(backend, batch, now_ms, skip).await
}

/// Stores the messages of `batch` whose rooms are not in `skip`, finding (and then skipping) the rooms held
/// by others each time a lock times out, at most [`ROUNDS`] times. Entered after a lock timed out (`skip`
/// empty: look first) or with rooms known to be held (try without them first).
async fn without_held(
    backend: &impl LockingStore,
    batch: &[NewMessage],
    now_ms: i64,
    mut skip: HashSet<String>,
) -> Result<Vec<Outcome>, StoreError> {
    let mut must_look = skip.is_empty();
    for _ in 0..ROUNDS {
        if must_look {
            let asked: Vec<String> = batch
                .iter()
                .map(|m| m.room.as_str())
                .filter(|name| !skip.contains(*name))
                .collect::<HashSet<_>>()
                .into_iter()
                .map(str::to_owned)
                .collect();
            let held = backend.look(&asked).await?;
            backend.held().update(&asked, &held);
            skip.extend(held);
        }
        let keep: Vec<usize> = (0..batch.len())
            .filter(|&i| !skip.contains(batch[i].room.as_str()))
            .collect();
        if keep.is_empty() {
            break;
        }
        // Rare (a room is held): the messages kept are copied into a batch of their own.
        let part: Vec<NewMessage> = keep.iter().map(|&i| batch[i].clone()).collect();
        match backend.write(&part, now_ms).await {
            Ok(stored) => {
                let mut outcomes: Vec<Outcome> = vec![Err(StoreError::RoomBusy); batch.len()];
                for (i, outcome) in keep.into_iter().zip(stored) {
                    outcomes[i] = outcome;
                }
                return Ok(outcomes);
            }
            Err(error) if lock_timed_out(&error) => must_look = true,
            Err(error) => return Err(error),
        }
    }
    // Every room of the batch is held, or the rounds ran out: nothing of it was stored.
    tracing::warn!(
        messages = batch.len(),
        held = skip.len(),
        "rooms held by another database connection: their sends were not stored"
    );
    Ok(vec![Err(StoreError::RoomBusy); batch.len()])
}
