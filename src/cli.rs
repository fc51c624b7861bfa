//! The command line. A bare `chatweb` serves, like `chatweb serve`; the other subcommands play the parts of
//! Django's `manage.py`: `migrate`, `createsuperuser`, `changepassword`, and `token` for API tokens.

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
    Serve(Box<Config>),
    /// Create or update the database schema, then exit.
    Migrate(DatabaseArgs),
    /// Create a staff user (prompts, or `--noinput` with the password from CHATWEB_SUPERUSER_PASSWORD).
    Createsuperuser(CreateSuperuserArgs),
    /// Set a user's password (prompted twice; read from stdin when it is not a terminal).
    Changepassword(ChangePasswordArgs),
    /// Create, list and revoke API tokens (for bots and programs: `Authorization: Bearer <token>`).
    Token(TokenArgs),
}

/// The database a command works on.
#[derive(Args)]
pub struct DatabaseArgs {
    /// Database: `sqlite://path` (created when missing) or `postgres://...`.
    #[arg(long, env = "CHATWEB_DATABASE_URL", default_value = crate::config::DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

/// Settings for `chatweb createsuperuser`.
#[derive(Args)]
pub struct CreateSuperuserArgs {
    /// The new user's name (prompted for when missing and input is allowed).
    #[arg(long)]
    pub username: Option<String>,
    /// The new user's email (optional).
    #[arg(long)]
    pub email: Option<String>,
    /// Ask nothing: the username comes from --username, the password from CHATWEB_SUPERUSER_PASSWORD.
    #[arg(long)]
    pub noinput: bool,
    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Settings for `chatweb changepassword`.
#[derive(Args)]
pub struct ChangePasswordArgs {
    /// Whose password.
    pub username: String,
    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `chatweb token ...`.
#[derive(Args)]
pub struct TokenArgs {
    /// What to do with tokens.
    #[command(subcommand)]
    pub command: TokenCommand,
    /// Database: `sqlite://path` or `postgres://...` (before or after the token subcommand).
    #[arg(long, global = true, env = "CHATWEB_DATABASE_URL", default_value = crate::config::DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

/// The token subcommands.
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token for USERNAME and print it (once: only its hash is stored).
    Create {
        /// The token's owner; messages sent with it are theirs.
        username: String,
        /// What the token is for.
        #[arg(long, default_value = "token")]
        name: String,
    },
    /// Revoke token ID: it stops working and the sockets it opened close.
    Revoke {
        /// The token's id (as `token list` shows it).
        id: i64,
    },
    /// List tokens (of USERNAME, or everyone's).
    List {
        /// Only this user's tokens.
        username: Option<String>,
    },
}
