//! The management commands (Django's `manage.py createsuperuser` and `changepassword`), API token and bot
//! commands. Each opens the database (migrating it), does its work and returns an error whose text is the
//! message a script sees on stderr, with a non-zero exit. Every change writes an audit row by `cli`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};

use crate::accounts::{AccountError, Accounts};
use crate::cli::{ChangePasswordArgs, CreateBotArgs, CreateSuperuserArgs, TokenCommand};
use crate::config::Config;
use crate::domain::rfc3339_ms;
use crate::redaction::redacted;
use crate::storage::{Store, now_ms};

/// The env var `createsuperuser --noinput` reads the password from (Django's is DJANGO_SUPERUSER_PASSWORD).
pub const SUPERUSER_PASSWORD_ENV: &str = "CHATWEB_SUPERUSER_PASSWORD";

/// The actor name audit rows of these commands carry.
const CLI_ACTOR: &str = "cli";

async fn open(database_url: &str) -> anyhow::Result<Accounts> {
    let backend = Store::connect(database_url)
        .await
        .with_context(|| format!("opening the database {}", redacted(database_url)))?;
    Ok(Accounts::new(
        backend.db(),
        Config::default().account_settings(),
    ))
}

async fn audit(
    accounts: &Accounts,
    action: &str,
    target: &str,
    detail: &str,
) -> anyhow::Result<()> {
    accounts
        .db()
        .audit(None, CLI_ACTOR, action, target, detail, now_ms())
        .await?;
    Ok(())
}

/// `chatweb createsuperuser`. `password_env` is the value of [`SUPERUSER_PASSWORD_ENV`], read by `main`.
pub async fn create_superuser(
    args: CreateSuperuserArgs,
    password_env: Option<String>,
) -> anyhow::Result<()> {
    let accounts = open(&args.database.database_url).await?;
    let (username, email, password) = if args.noinput {
        let Some(username) = args.username else {
            bail!("--username is required with --noinput");
        };
        let Some(password) = password_env.filter(|p| !p.is_empty()) else {
            bail!("{SUPERUSER_PASSWORD_ENV} must hold the password with --noinput");
        };
        (username, args.email.unwrap_or_default(), password)
    } else {
        let username = match args.username {
            Some(username) => username,
            None => prompt("Username: ")?,
        };
        let email = match args.email {
            Some(email) => email,
            None => prompt("Email address: ")?,
        };
        let password = new_password()?;
        (username, email, password)
    };
    match accounts
        .create_user(&username, &email, &password, true)
        .await
    {
        Ok(user) => {
            audit(
                &accounts,
                "user.create",
                &user.username,
                "staff (createsuperuser)",
            )
            .await?;
            println!("Superuser {} created successfully.", user.username);
            Ok(())
        }
        Err(AccountError::UsernameTaken) => bail!("That username is already taken."),
        Err(error) => Err(error.into()),
    }
}

/// `chatweb changepassword USERNAME`.
pub async fn change_password(args: ChangePasswordArgs) -> anyhow::Result<()> {
    let accounts = open(&args.database.database_url).await?;
    let user = match accounts.user_named(&args.username).await {
        Ok(user) => user,
        Err(AccountError::NotFound(_)) => bail!("user '{}' does not exist", args.username),
        Err(error) => return Err(error.into()),
    };
    println!("Changing password for user '{}'", user.username);
    let password = new_password()?;
    accounts.set_password(user.id, &password).await?;
    audit(&accounts, "user.password", &user.username, "changepassword").await?;
    println!("Password changed successfully for user '{}'", user.username);
    Ok(())
}

/// `chatweb token ...`.
/// `chatweb createbot NAME`: a bot account and one API token for it, printed once.
pub async fn create_bot(args: CreateBotArgs) -> anyhow::Result<()> {
    let accounts = open(&args.database.database_url).await?;
    let bot = match accounts.create_bot(&args.name).await {
        Ok(bot) => bot,
        Err(AccountError::UsernameTaken) => bail!("the name '{}' is taken", args.name),
        Err(error) => return Err(error.into()),
    };
    audit(&accounts, "user.create_bot", &bot.username, "").await?;
    let (id, token) = accounts.create_token(bot.id, "bot").await?;
    audit(
        &accounts,
        "token.create",
        &bot.username,
        &format!("token {id}"),
    )
    .await?;
    eprintln!(
        "Bot {} created with token {id}; the token is shown only now:",
        bot.username
    );
    println!("{token}");
    Ok(())
}

pub async fn token(database_url: &str, command: TokenCommand) -> anyhow::Result<()> {
    let accounts = open(database_url).await?;
    match command {
        TokenCommand::Create { username, name } => {
            let user = match accounts.user_named(&username).await {
                Ok(user) => user,
                Err(AccountError::NotFound(_)) => bail!("user '{username}' does not exist"),
                Err(error) => return Err(error.into()),
            };
            let (id, token) = accounts.create_token(user.id, &name).await?;
            audit(
                &accounts,
                "token.create",
                &user.username,
                &format!("token {id}"),
            )
            .await?;
            eprintln!("Token {id} for {}; it is shown only now:", user.username);
            println!("{token}");
        }
        TokenCommand::Revoke { id } => {
            let owner = match accounts.revoke_token(id).await {
                Ok(owner) => owner,
                Err(AccountError::NotFound(_)) => bail!("no live token with id {id}"),
                Err(error) => return Err(error.into()),
            };
            audit(
                &accounts,
                "token.revoke",
                &owner.username,
                &format!("token {id}"),
            )
            .await?;
            println!("Token {id} revoked.");
        }
        TokenCommand::List { username } => {
            let user_id = match username {
                Some(name) => Some(accounts.user_named(&name).await?.id),
                None => None,
            };
            for t in accounts.tokens(user_id).await? {
                let state = t.revoked_at.map_or("live".to_owned(), |at| {
                    format!("revoked {}", rfc3339_ms(at))
                });
                let owner = accounts.user(t.user_id).await?.username;
                println!(
                    "{}\t{owner}\t{}\t{}\t{state}",
                    t.id,
                    t.name,
                    rfc3339_ms(t.created_at)
                );
            }
        }
    }
    Ok(())
}

/// Asks for a line of text.
fn prompt(question: &str) -> anyhow::Result<String> {
    let mut stdout = std::io::stdout();
    write!(stdout, "{question}")?;
    stdout.flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("no input: use --noinput with --username and {SUPERUSER_PASSWORD_ENV}");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Asks for a password: without echo on a terminal, else one line of stdin.
fn password(question: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        Ok(rpassword::prompt_password(question)?)
    } else {
        prompt(question)
    }
}

/// A new password, typed twice.
fn new_password() -> anyhow::Result<String> {
    let first = password("Password: ")?;
    let second = password("Password (again): ")?;
    if first != second {
        bail!("Your passwords didn't match.");
    }
    Ok(first)
}
