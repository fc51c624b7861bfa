//! Closing sockets whose credentials stopped working, on every node. Each signed-in connection registers
//! here and gets a [`Watch`] that fires with a close code; revocations (a deactivated user, an ended
//! session, a revoked token) are written to the database's revocation log, applied at once on the node
//! that made them, and picked up by every other node's [`watch_log`] task within a poll interval.
//!
//! The same log carries staff rights: a `staff:1` or `staff:0` entry sets the [`StaffFlag`] every open
//! connection of the user holds, so taking staff rights away reaches open sockets on every node within a
//! poll (their moderation commands, deletions of others' messages and exemptions stop), without closing them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::identity::Credential;
use crate::storage::{AuthEvent, Db};

/// The close code for a deactivated user.
pub const CLOSE_DEACTIVATED: u16 = 4403;
/// The close code for an ended session or a revoked token.
pub const CLOSE_SIGNED_OUT: u16 = 4401;

/// How often each node reads the revocation log.
const POLL: Duration = Duration::from_secs(1);
/// How often expired sessions and old log entries are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long revocation log entries are kept (a node that was away longer reconnects its sockets anyway).
const LOG_KEEP_MS: i64 = 24 * 3600 * 1000;

/// The signed-in connections of this node, by user.
#[derive(Default)]
pub struct Revocations {
    users: Mutex<HashMap<i64, Vec<Watcher>>>,
    next: AtomicU64,
}

struct Watcher {
    id: u64,
    credential: Credential,
    fire: oneshot::Sender<u16>,
    staff: StaffFlag,
}

/// Whether a connection's user has staff rights now: set at the handshake, changed by the log.
#[derive(Clone, Debug, Default)]
pub struct StaffFlag(Arc<AtomicBool>);

impl StaffFlag {
    /// A flag starting at `staff`.
    pub fn new(staff: bool) -> Self {
        Self(Arc::new(AtomicBool::new(staff)))
    }

    /// Whether the user has staff rights.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, staff: bool) {
        self.0.store(staff, Ordering::Relaxed);
    }
}

/// The log entry that grants (`staff:1`) or takes away (`staff:0`) staff rights.
pub(super) fn staff_entry(staff: bool) -> &'static str {
    if staff { "staff:1" } else { "staff:0" }
}

/// One connection's registration; dropping it unregisters.
pub struct Watch {
    registry: Arc<Revocations>,
    user_id: i64,
    id: u64,
    /// Yields the close code when the connection's credential is revoked.
    pub revoked: oneshot::Receiver<u16>,
    /// The user's staff rights, kept current by the log.
    pub staff: StaffFlag,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut users = self.registry.lock();
        if let Some(watchers) = users.get_mut(&self.user_id) {
            watchers.retain(|w| w.id != self.id);
            if watchers.is_empty() {
                users.remove(&self.user_id);
            }
        }
    }
}

/// What a revocation log entry's `credential` names.
pub(super) fn credential_key(credential: &Credential) -> String {
    match credential {
        Credential::Session(hash) => format!("s:{hash}"),
        Credential::Token(id) => format!("t:{id}"),
    }
}

impl Revocations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<Watcher>>> {
        self.users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection of `user_id` signed in with `credential`, staff or not when it signed in.
    pub fn watch(self: &Arc<Self>, user_id: i64, credential: Credential, staff: bool) -> Watch {
        let (fire, revoked) = oneshot::channel();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let staff = StaffFlag::new(staff);
        self.lock().entry(user_id).or_default().push(Watcher {
            id,
            credential,
            fire,
            staff: staff.clone(),
        });
        Watch {
            registry: self.clone(),
            user_id,
            id,
            revoked,
            staff,
        }
    }

    /// Fires the watches a log entry covers: `""` every credential of the user (deactivation), `"s"` every
    /// session, or one session or token.
    pub fn apply(&self, user_id: i64, credential: &str) {
        let mut users = self.lock();
        let Some(watchers) = users.get_mut(&user_id) else {
            return;
        };
        if let Some(staff) = credential.strip_prefix("staff:") {
            for watcher in watchers.iter() {
                watcher.staff.set(staff == "1");
            }
            return;
        }
        let covered = |w: &Watcher| match credential {
            "" => true,
            "s" => matches!(w.credential, Credential::Session(_)),
            one => credential_key(&w.credential) == one,
        };
        let code = if credential.is_empty() {
            CLOSE_DEACTIVATED
        } else {
            CLOSE_SIGNED_OUT
        };
        let (fired, kept): (Vec<_>, Vec<_>) = watchers.drain(..).partition(|w| covered(w));
        *watchers = kept;
        if watchers.is_empty() {
            users.remove(&user_id);
        }
        drop(users);
        for watcher in fired {
            let _ = watcher.fire.send(code);
        }
    }

    /// Signed-in connections on this node.
    pub fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// Whether no signed-in connection is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Applies every revocation logged by any node, polling the log until `stop`; also deletes expired
/// sessions and old log entries now and then.
pub async fn watch_log(db: Db, registry: Arc<Revocations>, stop: CancellationToken) {
    let mut last = match db.last_revocation().await {
        Ok(last) => last,
        Err(error) => {
            tracing::warn!(%error, "cannot read the revocation log; starting from its beginning");
            0
        }
    };
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut purged = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = poll.tick() => {}
        }
        match db.revocations_after(last).await {
            Ok(events) => {
                for AuthEvent {
                    id,
                    user_id,
                    credential,
                } in events
                {
                    registry.apply(user_id, &credential);
                    last = id;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read the revocation log"),
        }
        if purged.elapsed() >= PURGE_EVERY {
            purged = tokio::time::Instant::now();
            let now = crate::storage::now_ms();
            match db.purge(now, now - LOG_KEEP_MS).await {
                Ok(sessions) => tracing::debug!(sessions, "expired sessions deleted"),
                Err(error) => tracing::warn!(%error, "cannot delete expired sessions"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_fires_the_watches_it_covers_and_no_others() {
        let registry = Arc::new(Revocations::default());
        let mut session = registry.watch(1, Credential::Session("abc".into()), false);
        let mut token = registry.watch(1, Credential::Token(7), true);
        let mut other = registry.watch(2, Credential::Session("def".into()), true);
        registry.apply(1, staff_entry(false));
        assert!(
            !token.staff.get(),
            "staff rights taken away reach the open connection"
        );
        assert!(other.staff.get(), "and only the user's");
        assert!(session.revoked.try_recv().is_err(), "without closing it");
        registry.apply(1, staff_entry(true));
        assert!(session.staff.get());
        registry.apply(1, "s:abc");
        assert_eq!(session.revoked.try_recv(), Ok(CLOSE_SIGNED_OUT));
        assert!(token.revoked.try_recv().is_err());
        registry.apply(1, "");
        assert_eq!(token.revoked.try_recv(), Ok(CLOSE_DEACTIVATED));
        assert!(other.revoked.try_recv().is_err());
        drop(other);
        assert!(registry.is_empty());
    }
}
