//! The command line. A bare `chatweb` serves, like `chatweb serve`; `chatweb migrate` brings the database
//! schema up to date without serving (Django's `manage.py runserver` / `manage.py migrate`).

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

/// chatweb: a real-time chat server with lobby, rooms and stored history.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; serving is the default.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings for a bare `chatweb`, which serves.
    #[command(flatten)]
    pub serve: Config,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Serve the lobby, the rooms and the WebSocket endpoint (runs migrations first).
    Serve(Config),
    /// Create or update the database schema, then exit.
    Migrate(MigrateArgs),
}

/// Settings for `chatweb migrate`.
#[derive(Args)]
pub struct MigrateArgs {
    /// Database to migrate: `sqlite://path` (created when missing) or `postgres://...`.
    #[arg(long, env = "CHATWEB_DATABASE_URL", default_value = crate::config::DEFAULT_DATABASE_URL)]
    pub database_url: String,
}
