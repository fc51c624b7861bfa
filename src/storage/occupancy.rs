//! Room occupancy as stored (issue 21, migration 0017): each node's claims on the rooms it holds sockets in,
//! each room's state, and its transitions (`room_occupied`, `room_vacated`) as an outbox the webhook sender
//! follows with a mark per hook and room. Written by `src/occupancy/`, off the join path; never who is in a
//! room (presence is not stored, docs/ARCHITECTURE.md invariant 5), only whether some node holds it.
//!
//! Every change of a room goes through [`Db::settle`]: one transaction that takes the room's state row
//! first (an `UPDATE` of it: a row lock on PostgreSQL, the write lock on SQLite), applies the claim change,
//! and flips the state, with an event numbered from the row, only when whether a live claim exists differs
//! from it. So changes of one room are serialized, two nodes that see the same change write one event, a
//! room's events commit in the order of their numbers, and occupied and vacated alternate.

use super::{Db, HookRoom, StoreError, on_db, to_i64, to_u64};

/// A change of one node's claim on a room, applied by [`Db::settle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim<'a> {
    /// The node holds a socket in the room until `expires_ms`.
    Hold {
        /// The node.
        node: &'a str,
        /// When the claim runs out unless renewed.
        expires_ms: i64,
    },
    /// The node holds none any more.
    Release {
        /// The node.
        node: &'a str,
    },
    /// No change of a claim: claims that ran out are dropped (a node that died).
    Expire,
}

/// What [`Db::settle`] did to the room's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The room had nobody and now has someone: event `seq` is `room_occupied`.
    Occupied(u64),
    /// The room had someone and now has nobody: event `seq` is `room_vacated`.
    Vacated(u64),
    /// No change.
    Unchanged,
}

/// One stored transition of a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OccupancyEvent {
    /// Its number in the room (1, 2, ...).
    pub seq: u64,
    /// `room_occupied` or `room_vacated`.
    pub name: String,
    /// When it was written, ms since the epoch.
    pub time_ms: i64,
}

/// The names of the two events as stored.
const OCCUPIED: &str = "room_occupied";
const VACATED: &str = "room_vacated";

impl Db {
    /// Applies `claim` to room `room_id` and brings its state in line with whether a claim is live at
    /// `now_ms`, writing the transition's event in the same transaction.
    pub async fn settle(
        &self,
        room_id: i64,
        claim: Claim<'_>,
        now_ms: i64,
    ) -> Result<Transition, StoreError> {
        let begin = self.begin_write();
        on_db!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            sqlx::query(
                "INSERT INTO room_occupancy (room_id, occupied, last_seq, changed_at) \
                 VALUES ($1, $2, 0, $3) ON CONFLICT (room_id) DO NOTHING",
            )
            .bind(room_id)
            .bind(false)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            // Holds the room's row until the commit: every change of the room waits for this one.
            let (occupied, last_seq): (bool, i64) = sqlx::query_as(
                "UPDATE room_occupancy SET changed_at = changed_at WHERE room_id = $1 \
                 RETURNING occupied, last_seq",
            )
            .bind(room_id)
            .fetch_one(&mut *tx)
            .await?;
            match claim {
                Claim::Hold { node, expires_ms } => {
                    sqlx::query(
                        "INSERT INTO room_occupancy_claims (room_id, node, expires_at) \
                         VALUES ($1, $2, $3) ON CONFLICT (room_id, node) \
                         DO UPDATE SET expires_at = excluded.expires_at",
                    )
                    .bind(room_id)
                    .bind(node)
                    .bind(expires_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                Claim::Release { node } => {
                    sqlx::query(
                        "DELETE FROM room_occupancy_claims WHERE room_id = $1 AND node = $2",
                    )
                    .bind(room_id)
                    .bind(node)
                    .execute(&mut *tx)
                    .await?;
                }
                Claim::Expire => {}
            }
            sqlx::query("DELETE FROM room_occupancy_claims WHERE room_id = $1 AND expires_at < $2")
                .bind(room_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            let live: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM room_occupancy_claims WHERE room_id = $1")
                    .bind(room_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let now_occupied = live > 0;
            if now_occupied == occupied {
                tx.commit().await?;
                return Ok(Transition::Unchanged);
            }
            let seq = last_seq + 1;
            sqlx::query(
                "UPDATE room_occupancy SET occupied = $2, last_seq = $3, changed_at = $4 \
                 WHERE room_id = $1",
            )
            .bind(room_id)
            .bind(now_occupied)
            .bind(seq)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO occupancy_events (room_id, seq, name, time_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(room_id)
            .bind(seq)
            .bind(if now_occupied { OCCUPIED } else { VACATED })
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            let seq = to_u64(seq);
            Ok(if now_occupied {
                Transition::Occupied(seq)
            } else {
                Transition::Vacated(seq)
            })
        })
    }

    /// Renews every claim of `node` until `expires_ms`; returns the rooms it has a claim on (a claim another
    /// node's sweep dropped as run out is not among them).
    pub async fn renew_claims(&self, node: &str, expires_ms: i64) -> Result<Vec<i64>, StoreError> {
        Ok(on_db!(self, |pool| {
            sqlx::query("UPDATE room_occupancy_claims SET expires_at = $2 WHERE node = $1")
                .bind(node)
                .bind(expires_ms)
                .execute(pool)
                .await?;
            sqlx::query_scalar("SELECT room_id FROM room_occupancy_claims WHERE node = $1")
                .bind(node)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Whether any outgoing hook asks for `room_occupied` or `room_vacated` (while none does, no node
    /// writes claims).
    pub async fn occupancy_wanted(&self) -> Result<bool, StoreError> {
        let (wanted,): (bool,) = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM outgoing_hooks \
                 WHERE events LIKE '%room_occupied%' OR events LIKE '%room_vacated%')",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(wanted)
    }

    /// Rooms the store says are occupied while no claim on them is live at `now_ms` (their nodes died or
    /// stopped without letting go), at most `limit`.
    pub async fn abandoned_rooms(&self, now_ms: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
        Ok(on_db!(self, |pool| {
            sqlx::query_scalar(
                "SELECT o.room_id FROM room_occupancy o WHERE o.occupied AND NOT EXISTS \
                 (SELECT 1 FROM room_occupancy_claims c WHERE c.room_id = o.room_id \
                 AND c.expires_at >= $1) ORDER BY o.room_id LIMIT $2",
            )
            .bind(now_ms)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Rooms whose occupancy events run past hook `hook_id`'s mark (only `room_id` for a room's hook; never
    /// a direct room), at most `limit`, by id.
    pub async fn occupancy_behind(
        &self,
        hook_id: i64,
        room_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<HookRoom>, StoreError> {
        const BEHIND: &str = "SELECT r.id, r.name, COALESCE(m.seq, 0), o.last_seq \
             FROM room_occupancy o JOIN rooms r ON r.id = o.room_id \
             LEFT JOIN outgoing_hook_occupancy_marks m ON m.hook_id = $1 AND m.room_id = o.room_id \
             WHERE o.last_seq > COALESCE(m.seq, 0) AND r.kind <> 'direct'";
        let sql = match room_id {
            Some(_) => format!("{BEHIND} AND o.room_id = $2 LIMIT $3"),
            None => format!("{BEHIND} AND $2 = 0 ORDER BY o.room_id LIMIT $3"),
        };
        self.rooms_behind(sql, hook_id, room_id, limit).await
    }

    /// Up to `limit` occupancy events of room `room_id` after `after`, oldest first.
    pub async fn occupancy_after(
        &self,
        room_id: i64,
        after: u64,
        limit: i64,
    ) -> Result<Vec<OccupancyEvent>, StoreError> {
        let rows: Vec<(i64, String, i64)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT seq, name, time_ms FROM occupancy_events WHERE room_id = $1 AND seq > $2 \
                 ORDER BY seq LIMIT $3",
            )
            .bind(room_id)
            .bind(to_i64(after))
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(seq, name, time_ms)| OccupancyEvent {
                seq: to_u64(seq),
                name,
                time_ms,
            })
            .collect())
    }

    /// Keeps the outbox bounded: removes the events every hook that wants them has passed, and those
    /// written before `cutoff_ms` (older than a batch is retried); returns how many.
    pub async fn prune_occupancy(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        Ok(on_db!(self, |pool| {
            sqlx::query(
                "DELETE FROM occupancy_events WHERE time_ms < $1 OR NOT EXISTS ( \
                 SELECT 1 FROM outgoing_hooks h \
                 WHERE (h.room_id IS NULL OR h.room_id = occupancy_events.room_id) \
                 AND (h.events LIKE '%room_occupied%' OR h.events LIKE '%room_vacated%') \
                 AND COALESCE((SELECT m.seq FROM outgoing_hook_occupancy_marks m \
                 WHERE m.hook_id = h.id AND m.room_id = occupancy_events.room_id), 0) \
                 < occupancy_events.seq)",
            )
            .bind(cutoff_ms)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }
}
