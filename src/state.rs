//! `AppState`: what every handler and connection shares. It lives apart from `app.rs` (which assembles
//! it), so `http/`, `ws/` and `admin/` depend on it and on nothing of each other's.

use std::sync::Arc;

use axum::extract::FromRef;
use minijinja::Environment;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::Access;
use crate::accounts::Accounts;
use crate::channels::ChannelLayer;
use crate::config::Config;
use crate::limits::Limits;
use crate::moderation::Moderation;
use crate::presence::Presence;
use crate::stats::Stats;
use crate::storage::Store;

/// What every handler and connection shares: one pointer to the node's [`Node`]. axum clones the state
/// for every request (and every middleware layer again); as a struct of twenty shared pointers that was
/// twenty atomic counts up and down per clone, on counters every request of the node shares (issue 22's
/// churn profile: the clone and its drop about 1.5% of the node's CPU).
#[derive(Clone)]
pub struct AppState(Arc<Node>);

impl AppState {
    /// The state of `node`.
    pub fn new(node: Node) -> Self {
        Self(Arc::new(node))
    }
}

impl std::ops::Deref for AppState {
    type Target = Node;

    fn deref(&self) -> &Node {
        &self.0
    }
}

/// The node's shared parts.
pub struct Node {
    /// The node's settings.
    pub config: Arc<Config>,
    /// Hosts an `Origin` may name (computed once from the config).
    pub origin_hosts: Arc<[String]>,
    /// The message store.
    pub store: Store,
    /// Users, sessions and tokens.
    pub accounts: Accounts,
    /// The fan-out of committed messages.
    pub channels: Arc<dyn ChannelLayer>,
    /// Who is in each room.
    pub presence: Arc<Presence>,
    /// The page templates.
    pub templates: Arc<Environment<'static>>,
    /// Counters for `/metrics`.
    pub stats: Arc<Stats>,
    /// Rate and connection limits, and whose `X-Forwarded-For` is believed.
    pub limits: Arc<Limits>,
    /// The one check of who may read and write a room.
    pub access: Access,
    /// Mutes, bans, kicks and slow mode per room, held in memory and kept in step with every node.
    pub moderation: Moderation,
    /// Cancelled when the node starts to stop.
    pub shutdown: CancellationToken,
    /// Uploaded files: where they are kept, the thumbnail queue, the limits.
    pub files: crate::files::Files,
    /// Web Push: the VAPID key, the guarded client for push services, the queue.
    pub push: crate::push::Push,
    /// Outgoing webhooks: registration and the guarded client their receivers are asked with.
    pub webhooks: crate::hooks::Webhooks,
    /// Tracks WebSocket tasks so shutdown can wait for them.
    pub tracker: TaskTracker,
}

impl FromRef<AppState> for Accounts {
    fn from_ref(state: &AppState) -> Self {
        state.accounts.clone()
    }
}
