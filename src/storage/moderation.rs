//! The SQL of moderation: mutes and bans per room and person, slow mode per room, and the log of moderation
//! events every node polls. One text per query for both engines (see [`Db`]). Each change is written with
//! its event and its audit row in one transaction: nothing is in force that is not logged and audited.

use super::{Db, StoreError, on_db};

/// A mute or a ban as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SanctionRow {
    /// The room's name.
    pub room: String,
    /// `mute` or `ban`.
    pub kind: String,
    /// Whom it holds: `u:<user id>` or `g:<nickname key>`.
    pub subject: String,
    /// Their name as shown.
    pub name: String,
    /// When it ends, ms since the epoch (`None`: until lifted).
    pub until_ms: Option<i64>,
    /// Who set it.
    pub actor: String,
    /// When, ms since the epoch.
    pub created_at: i64,
}

/// One entry of the moderation log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModerationEvent {
    /// Its position in the log.
    pub id: i64,
    /// When it was written (the writing node's clock), ms since the epoch.
    pub at: i64,
    /// The room.
    pub room: String,
    /// `mute`, `unmute`, `ban`, `unban`, `kick` or `slow_mode`.
    pub action: String,
    /// Whom it concerns (`""` for slow mode).
    pub subject: String,
}

/// What a moderation change writes besides its event and audit row.
#[derive(Clone, Debug)]
pub enum SanctionWrite<'a> {
    /// Sets (or replaces) a mute or a ban.
    Set {
        /// `mute` or `ban`.
        kind: &'a str,
        /// Whom it holds.
        subject: &'a str,
        /// Their name as shown.
        name: &'a str,
        /// When it ends (`None`: until lifted).
        until_ms: Option<i64>,
    },
    /// Lifts a mute or a ban of any of `subjects`; the change is void when there was none.
    Lift {
        /// `mute` or `ban`.
        kind: &'a str,
        /// Whom (an account and a guest of the same name).
        subjects: [&'a str; 2],
    },
    /// Sets the room's slow mode (0: off).
    SlowMode {
        /// Seconds between two messages of one person.
        seconds: i64,
    },
    /// Nothing stored: the event alone (a kick).
    EventOnly,
}

/// One moderation change, as [`Db::moderate`] writes it.
#[derive(Clone, Debug)]
pub struct ModerationChange<'a> {
    /// The room.
    pub room: &'a str,
    /// The state it changes.
    pub write: SanctionWrite<'a>,
    /// The event's action.
    pub action: &'a str,
    /// The event's subject.
    pub subject: &'a str,
    /// Who made it: their account.
    pub actor_id: i64,
    /// Who made it: their name.
    pub actor: &'a str,
    /// The audit row's action, target and detail.
    pub audit: [&'a str; 3],
    /// Now, ms since the epoch.
    pub now_ms: i64,
}

type SanctionTuple = (String, String, String, String, Option<i64>, String, i64);

impl Db {
    /// Writes `change`, its event and its audit row in one transaction. Returns false, writing nothing,
    /// when a lift found nothing to lift.
    pub async fn moderate(&self, change: &ModerationChange<'_>) -> Result<bool, StoreError> {
        let begin = self.begin_write();
        on_db!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            let changed = match &change.write {
                SanctionWrite::Set {
                    kind,
                    subject,
                    name,
                    until_ms,
                } => {
                    sqlx::query(
                        "INSERT INTO moderation_sanctions (room, kind, subject, name, until_ms, actor, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (room, kind, subject) DO UPDATE \
                         SET name = excluded.name, until_ms = excluded.until_ms, actor = excluded.actor, \
                         created_at = excluded.created_at",
                    )
                    .bind(change.room)
                    .bind(*kind)
                    .bind(*subject)
                    .bind(*name)
                    .bind(*until_ms)
                    .bind(change.actor)
                    .bind(change.now_ms)
                    .execute(&mut *tx)
                    .await?;
                    true
                }
                SanctionWrite::Lift { kind, subjects } => {
                    // An expired one is not lifted: it had ended already.
                    sqlx::query(
                        "DELETE FROM moderation_sanctions WHERE room = $1 AND kind = $2 \
                         AND subject IN ($3, $4) AND (until_ms IS NULL OR until_ms > $5)",
                    )
                    .bind(change.room)
                    .bind(*kind)
                    .bind(subjects[0])
                    .bind(subjects[1])
                    .bind(change.now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        > 0
                }
                SanctionWrite::SlowMode { seconds } if *seconds <= 0 => {
                    sqlx::query("DELETE FROM moderation_rooms WHERE room = $1")
                        .bind(change.room)
                        .execute(&mut *tx)
                        .await?;
                    true
                }
                SanctionWrite::SlowMode { seconds } => {
                    sqlx::query(
                        "INSERT INTO moderation_rooms (room, slow_mode_secs, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (room) DO UPDATE \
                         SET slow_mode_secs = excluded.slow_mode_secs, updated_at = excluded.updated_at",
                    )
                    .bind(change.room)
                    .bind(*seconds)
                    .bind(change.now_ms)
                    .execute(&mut *tx)
                    .await?;
                    true
                }
                SanctionWrite::EventOnly => true,
            };
            if !changed {
                // Dropping the transaction rolls it back.
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO moderation_events (at, room, action, subject) VALUES ($1, $2, $3, $4)",
            )
            .bind(change.now_ms)
            .bind(change.room)
            .bind(change.action)
            .bind(change.subject)
            .execute(&mut *tx)
            .await?;
            let [action, target, detail] = change.audit;
            sqlx::query(
                "INSERT INTO audit_log (at, actor_id, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(change.now_ms)
            .bind(change.actor_id)
            .bind(change.actor)
            .bind(action)
            .bind(target)
            .bind(detail)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The mutes and bans in force at `now_ms`, of one room or (`None`) of every room.
    pub async fn sanctions(
        &self,
        room: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<SanctionRow>, StoreError> {
        let rows: Vec<SanctionTuple> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT room, kind, subject, name, until_ms, actor, created_at FROM moderation_sanctions \
                 WHERE ($1 IS NULL OR room = $1) AND (until_ms IS NULL OR until_ms > $2) \
                 ORDER BY room, kind, created_at DESC, subject",
            )
            .bind(room)
            .bind(now_ms)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(room, kind, subject, name, until_ms, actor, created_at)| SanctionRow {
                    room,
                    kind,
                    subject,
                    name,
                    until_ms,
                    actor,
                    created_at,
                },
            )
            .collect())
    }

    /// The slow modes in force (room, seconds), of one room or (`None`) of every room.
    pub async fn slow_modes(&self, room: Option<&str>) -> Result<Vec<(String, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT room, slow_mode_secs FROM moderation_rooms WHERE ($1 IS NULL OR room = $1) \
                 AND slow_mode_secs > 0 ORDER BY room",
            )
            .bind(room)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Log entries after position `after`, and those written at `since_ms` or later whatever their
    /// position (a sequence's ids may become visible out of order), oldest first; at most 1,000.
    pub async fn moderation_events(
        &self,
        after: i64,
        since_ms: i64,
    ) -> Result<Vec<ModerationEvent>, StoreError> {
        let rows: Vec<(i64, i64, String, String, String)> = on_db!(self, |pool| {
            sqlx::query_as(
                "SELECT id, at, room, action, subject FROM moderation_events \
                 WHERE id > $1 OR at >= $2 ORDER BY id LIMIT 1000",
            )
            .bind(after)
            .bind(since_ms)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, at, room, action, subject)| ModerationEvent {
                id,
                at,
                room,
                action,
                subject,
            })
            .collect())
    }

    /// The newest position in the moderation log (0 when empty).
    pub async fn last_moderation_event(&self) -> Result<i64, StoreError> {
        let last: Option<i64> = on_db!(self, |pool| {
            sqlx::query_scalar("SELECT MAX(id) FROM moderation_events")
                .fetch_one(pool)
                .await?
        });
        Ok(last.unwrap_or(0))
    }

    /// Deletes mutes and bans that ended by `now_ms`, and log entries written before `log_before`.
    pub async fn purge_moderation(&self, now_ms: i64, log_before: i64) -> Result<(), StoreError> {
        on_db!(self, |pool| {
            sqlx::query(
                "DELETE FROM moderation_sanctions WHERE until_ms IS NOT NULL AND until_ms <= $1",
            )
            .bind(now_ms)
            .execute(pool)
            .await?;
            sqlx::query("DELETE FROM moderation_events WHERE at < $1")
                .bind(log_before)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
