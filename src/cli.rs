//! The command line. A bare `chatweb` serves, like `chatweb serve`; the other subcommands play the parts of
//! Django's `manage.py`: `migrate`, `createsuperuser`, `changepassword`, `token` for API tokens, and
//! `createbot` for bot accounts.

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
    /// Create a bot account (no password: it signs in only by API token) and print a token for it, once.
    Createbot(CreateBotArgs),
    /// Create, list and revoke API tokens (for bots and programs: `Authorization: Bearer <token>`).
    Token(TokenArgs),
    /// Copy the users and messages of the Django Channels chat app's database into chatweb's. Run it with
    /// the server stopped; running it again imports nothing twice.
    ImportDjango(ImportDjangoArgs),
    /// Copy a SQLite database into PATH while the server runs (PostgreSQL: use pg_dump, see
    /// docs/OPERATIONS.md).
    Backup(BackupArgs),
    /// Write every stored message and event as JSON lines (room, id, ts, user, message, ...).
    Export(ExportArgs),
    /// Read the JSON lines of `chatweb export` back, storing nothing twice. Stop the server first.
    Import(ImportArgs),
    /// Build the search index again from the stored messages (a running server keeps searching what is
    /// indexed meanwhile).
    Reindex(DatabaseArgs),
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

/// Settings for `chatweb createbot`.
#[derive(Args)]
pub struct CreateBotArgs {
    /// The bot's account name (letters, digits and `@ . + - _`).
    pub name: String,
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

/// Settings for `chatweb import-django`.
#[derive(Args)]
pub struct ImportDjangoArgs {
    /// The Django app's database: its SQLite file (a path or `sqlite://path`) or a `postgres://` URL.
    pub source: String,
    /// Print what would be imported (counts, conflicts, skips) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Longest message text imported, in bytes; a longer one is reported and skipped.
    #[arg(long, env = "CHATWEB_MAX_MESSAGE_BYTES", default_value_t = 4096)]
    pub max_message_bytes: usize,
    /// chatweb's database (migrated first, like the other commands).
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

/// Settings for `chatweb backup`.
#[derive(Args)]
pub struct BackupArgs {
    /// The file to write; it must not exist yet.
    pub path: std::path::PathBuf,
    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Where the server keeps files (not in the copy: the summary says where, to back them up too).
    #[command(flatten)]
    pub file_store: crate::files::FileStoreArgs,
}

/// Settings for `chatweb export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Only this room.
    #[arg(long)]
    pub room: Option<String>,
    /// Only what was stored at this time or later: a date (2026-01-31, midnight UTC) or an RFC 3339 time.
    #[arg(long, value_parser = crate::archive::parse_since)]
    pub since: Option<i64>,
    /// Write to this file instead of stdout.
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,
    /// Also copy the exported messages' files from the file store into this directory (created when
    /// missing), each as `DIR/<id>`; files already there are not copied again.
    #[arg(long, value_name = "DIR")]
    pub with_files: Option<std::path::PathBuf>,
    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Where the server keeps files (the same settings as `chatweb serve`).
    #[command(flatten)]
    pub file_store: crate::files::FileStoreArgs,
}

/// Settings for `chatweb import`.
#[derive(Args)]
pub struct ImportArgs {
    /// A file written by `chatweb export`. Run this with the server stopped: rows are written beside the
    /// server's writer, not through it. Rooms that do not exist keep the file's ids; lines for existing
    /// rooms that are already stored are skipped, the others appended with new ids.
    pub file: std::path::PathBuf,
    /// Copy the imported messages' files from this directory (`chatweb export --with-files DIR`) into
    /// the file store; files the store has already are not copied again.
    #[arg(long, value_name = "DIR")]
    pub with_files: Option<std::path::PathBuf>,
    /// The database (created and migrated when missing).
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Where the server keeps files (the same settings as `chatweb serve`).
    #[command(flatten)]
    pub file_store: crate::files::FileStoreArgs,
}
