//! Web Push (issue 21; docs/PROTOCOL.md, "Web Push"): a person who is away from a room (no socket on it on
//! any node) gets a browser notification for a message that mentions them, or for any message in a direct
//! room, through their browser's push service, with no vendor account: VAPID (RFC 8292, `vapid`) and
//! message encryption (RFC 8291, `crypto`). The store writer's completer feeds the queue (`notifier`);
//! the node that stored a message is the one that pushes it; `deliver` sends, retries and forgets dead
//! subscriptions. Endpoints pass the outbound guard (`--push-hosts`) when stored and when used.

pub mod crypto;
pub mod deliver;
pub mod notifier;
pub mod payload;
pub mod settings;
pub mod vapid;

use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;

use crate::domain::RoomName;
use crate::outbound::{Outbound, Reach};
use crate::stats::Stats;
use crate::storage::{CommitListener, StoredMessage};

pub use deliver::Sent;
pub use notifier::Feed;
pub use settings::PushSettings;
pub use vapid::Vapid;

/// How long one request to a push service may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Web Push as the handlers and the notifier share it.
#[derive(Clone)]
pub struct Push {
    /// The signing key.
    pub vapid: Arc<Vapid>,
    /// The guarded client (`--push-hosts`, listed hosts only).
    pub outbound: Outbound,
    /// The queue the writer feeds.
    pub feed: Feed,
    /// The flags.
    pub settings: PushSettings,
    /// The counters.
    pub counters: Counters,
}

impl Push {
    /// Loads (or makes) the VAPID key and builds the guarded client.
    pub async fn new(
        db: &crate::storage::Db,
        settings: PushSettings,
        stats: &Stats,
    ) -> anyhow::Result<(Self, tokio::sync::mpsc::Receiver<payload::Job>)> {
        let hosts = crate::outbound::parse_hosts(&settings.push_hosts)
            .map_err(|error| anyhow::anyhow!("--push-hosts: {error}"))?;
        let outbound = Outbound::new(hosts, Reach::OnlyListed, REQUEST_TIMEOUT)?;
        let vapid = Arc::new(Vapid::load(db, &settings.vapid_subject).await?);
        let counters = Counters::new(stats);
        let (feed, jobs) = Feed::new(counters.clone());
        let push = Self {
            vapid,
            outbound,
            feed,
            settings,
            counters,
        };
        Ok((push, jobs))
    }
}

/// Web Push's counters in `/metrics`.
#[derive(Clone)]
pub struct Counters {
    delivered: Counter,
    gone: Counter,
    rejected: Counter,
    failed: Counter,
    refused: Counter,
    /// Retries after a 429, a 5xx or a failed connection.
    pub retries: Counter,
    /// Messages not queued for pushes because the queue was full.
    pub dropped: Counter,
}

impl Counters {
    fn new(stats: &Stats) -> Self {
        let sent = |result| {
            stats.counter(
                "chatweb_push_sent_total",
                &[("result", result)],
                "Pushes sent, by what the push service answered (delivered, gone, rejected, failed) or \
                 refused before sending.",
            )
        };
        Self {
            delivered: sent("delivered"),
            gone: sent("gone"),
            rejected: sent("rejected"),
            failed: sent("failed"),
            refused: sent("refused"),
            retries: stats.counter(
                "chatweb_push_retries_total",
                &[],
                "Pushes tried again after a 429, a 5xx or a failed connection.",
            ),
            dropped: stats.counter(
                "chatweb_push_dropped_total",
                &[],
                "Messages not considered for pushes because the push queue was full.",
            ),
        }
    }

    fn sent(&self, result: Sent) {
        match result {
            Sent::Delivered => &self.delivered,
            Sent::Gone => &self.gone,
            Sent::Rejected => &self.rejected,
            Sent::Failed => &self.failed,
            Sent::Refused => &self.refused,
        }
        .increment(1);
    }
}

/// The writer's listener: the fan-out first, then the push queue.
pub struct WithPush {
    /// The fan-out.
    pub inner: Arc<dyn CommitListener>,
    /// The push queue.
    pub feed: Feed,
}

#[async_trait::async_trait]
impl CommitListener for WithPush {
    async fn committed(&self, messages: &[(RoomName, StoredMessage)]) {
        self.inner.committed(messages).await;
        self.feed.offer(messages);
    }
}
