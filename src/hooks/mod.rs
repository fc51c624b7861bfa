//! Outgoing webhooks (issue 21): room owners and staff register a receiver's URL and the events it wants
//! (`registry.rs`); a background task on one node at a time (`deliver.rs`) follows each room's sequence
//! from the hook's own marks, turns the stored rows into events (`events.rs`), and POSTs them in signed
//! batches (`sign.rs`) in room order, retrying with backoff, at least once. Nothing is added to the message
//! path: messages, edits, deletions and membership changes are already events of the room's sequence
//! (docs/ARCHITECTURE.md, invariant 5), so the sender reads them from the store like the search indexer.
//! Every receiver URL passes `crate::outbound` (the SSRF guard) when registered and at each connect.

pub mod deliver;
pub mod events;
mod registry;
pub mod sign;

use std::time::Duration;

use crate::outbound::{HostRule, Outbound, Reach, parse_hosts};

pub use events::EventName;
pub use registry::{HookError, Registered, Scope, Webhooks};

/// The outgoing webhooks' settings, flattened into `Config`.
#[derive(Clone, Debug, clap::Args)]
pub struct WebhookArgs {
    /// Hosts outgoing webhooks may reach even when they are private or loopback (`host` or `host:port`,
    /// comma-separated); a listed loopback host may use plain http. Default: none, so only public
    /// https receivers.
    #[arg(long, env = "CHATWEB_WEBHOOK_HOSTS", default_value = "")]
    pub webhook_hosts: String,

    /// Milliseconds before the first retry of a batch a receiver refused; each next wait doubles, up to
    /// `--webhook-retry-max-secs`.
    #[arg(long, env = "CHATWEB_WEBHOOK_RETRY_MS", default_value_t = 1000)]
    pub webhook_retry_ms: u64,

    /// Longest wait between two attempts, in seconds.
    #[arg(long, env = "CHATWEB_WEBHOOK_RETRY_MAX_SECS", default_value_t = 600)]
    pub webhook_retry_max_secs: u64,

    /// Seconds a batch is retried before it is given up (recorded as `gave_up`) and the hook moves on.
    #[arg(long, env = "CHATWEB_WEBHOOK_GIVE_UP_SECS", default_value_t = 86_400)]
    pub webhook_give_up_secs: u64,

    /// Milliseconds between two looks for new events: an event reaches its hook about this long after it
    /// is stored.
    #[arg(long, env = "CHATWEB_WEBHOOK_POLL_MS", default_value_t = 500)]
    pub webhook_poll_ms: u64,

    /// Seconds a receiver has to answer a batch.
    #[arg(long, env = "CHATWEB_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub webhook_timeout_secs: u64,
}

impl Default for WebhookArgs {
    fn default() -> Self {
        Self {
            webhook_hosts: String::new(),
            webhook_retry_ms: 1000,
            webhook_retry_max_secs: 600,
            webhook_give_up_secs: 86_400,
            webhook_poll_ms: 500,
            webhook_timeout_secs: 10,
        }
    }
}

impl WebhookArgs {
    /// The listed hosts, or why the list is malformed.
    pub fn hosts(&self) -> Result<Vec<HostRule>, String> {
        parse_hosts(&self.webhook_hosts)
    }

    /// The client and check for receivers' URLs.
    pub fn outbound(&self) -> anyhow::Result<Outbound> {
        let hosts = self
            .hosts()
            .map_err(|error| anyhow::anyhow!("--webhook-hosts: {error}"))?;
        Ok(Outbound::new(
            hosts,
            Reach::AnyPublic,
            Duration::from_secs(self.webhook_timeout_secs.max(1)),
        )?)
    }

    /// How the sender paces itself.
    pub fn pacing(&self) -> deliver::Pacing {
        deliver::Pacing {
            poll: Duration::from_millis(self.webhook_poll_ms.max(10)),
            retry_base: Duration::from_millis(self.webhook_retry_ms.max(1)),
            retry_max: Duration::from_secs(self.webhook_retry_max_secs.max(1)),
            give_up: Duration::from_secs(self.webhook_give_up_secs),
            timeout: Duration::from_secs(self.webhook_timeout_secs.max(1)),
        }
    }
}
