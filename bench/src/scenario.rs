//! `Scenario`: what every load scenario provides, so that one generic driver sizes, checks and runs each of
//! them against chatweb and the relay the same way.

use tokio::time::Instant;

use crate::report::Outcome;
use crate::server::Server;

/// A load scenario's parameters and how to run it once against one server.
pub trait Scenario: serde::Serialize {
    /// The subcommand's name in the JSON line.
    const NAME: &'static str;
    /// The figure the ratio compares.
    const HEADLINE: &'static str;
    /// Whether the relay can run it too (it has no store and sends no acks).
    const WITH_RELAY: bool = true;

    /// Shrinks the run to the CI size: a few seconds at most.
    fn quick(&mut self);

    /// Connections the run opens at once (checked against the open-file limit).
    fn connections(&self) -> u64;

    /// Why the relay does not run these parameters, if it does not.
    fn no_relay_reason(&self) -> Option<&'static str> {
        (!Self::WITH_RELAY).then_some("the relay stores nothing and sends no acks: no relay run")
    }

    /// Refuses parameters that make no sense.
    fn validate(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Runs once against `server`, with `sources` source addresses, until `deadline` at the latest.
    async fn run(&self, server: &Server, sources: u8, deadline: Instant)
    -> anyhow::Result<Outcome>;
}
