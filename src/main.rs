//! The `chatweb` binary: parse the command line, set up logging, run the chosen command.

use std::process::ExitCode;

use chatweb::app::App;
use chatweb::archive::files::FilesCopy;
use chatweb::cli::{Cli, Command};
use chatweb::manage;
use chatweb::storage::Store;
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    chatweb::telemetry::init(std::io::stderr);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("Error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(cli));
    // A stop that reached its bound leaves tasks behind (a socket that never took its close frame, a
    // blocking call): they are dropped, not waited for, so `--shutdown-secs` bounds the whole exit.
    runtime.shutdown_background();
    code
}

/// Runs the chosen command; a failure is logged (serving) or printed (a management command).
async fn run(cli: Cli) -> ExitCode {
    let serving = matches!(cli.command, None | Some(Command::Serve(_)));
    let result = match cli.command {
        Some(Command::Serve(config)) => serve(*config).await,
        None => serve(cli.serve).await,
        Some(Command::Migrate(args)) => migrate(&args.database_url).await,
        Some(Command::Createsuperuser(args)) => {
            let password = std::env::var(manage::SUPERUSER_PASSWORD_ENV).ok();
            manage::create_superuser(args, password).await
        }
        Some(Command::Changepassword(args)) => manage::change_password(args).await,
        Some(Command::Createbot(args)) => manage::create_bot(args).await,
        Some(Command::Token(args)) => manage::token(&args.database_url, args.command).await,
        Some(Command::Backup(args)) => backup(args).await,
        Some(Command::Export(args)) => export(args).await,
        Some(Command::Import(args)) => import(args).await,
        Some(Command::Reindex(args)) => reindex(&args.database_url).await,
        Some(Command::ImportDjango(args)) => chatweb::django::import(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if serving => {
            tracing::error!(
                error = format!("{error:#}"),
                "chatweb stopped with an error"
            );
            ExitCode::FAILURE
        }
        // A management command's one line for the person or script that ran it.
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: chatweb::config::Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    app.run_until_stopped(chatweb::app::shutdown_signal()).await
}

async fn migrate(database_url: &str) -> anyhow::Result<()> {
    let applied = Store::migrate(database_url).await?;
    let database = chatweb::redaction::redacted(database_url);
    tracing::info!(%database, applied, "migrations are up to date");
    Ok(())
}

async fn backup(args: chatweb::cli::BackupArgs) -> anyhow::Result<()> {
    let url = &args.database.database_url;
    let files = args.file_store.location(url);
    let backup = chatweb::archive::backup::run(url, &args.path, files).await?;
    println!("{backup}");
    Ok(())
}

async fn export(args: chatweb::cli::ExportArgs) -> anyhow::Result<()> {
    let url = &args.database.database_url;
    let with_files = args
        .with_files
        .map(|dir| FilesCopy::open(&args.file_store, url, dir))
        .transpose()?;
    let options = chatweb::archive::export::ExportOptions {
        room: args.room,
        since_ms: args.since,
        output: args.output,
        with_files,
    };
    let dir = options.with_files.as_ref().map(|copy| copy.dir.clone());
    let exported = chatweb::archive::export::run(url, options).await?;
    eprintln!("{exported}");
    if let Some(dir) = dir {
        eprintln!("{}", exported.files_summary(&dir));
    }
    Ok(())
}

async fn reindex(database_url: &str) -> anyhow::Result<()> {
    let backend = Store::connect(database_url).await?;
    let rooms = chatweb::search::indexer::reindex(&backend.db()).await?;
    println!("reindexed {rooms} rooms");
    Ok(())
}

async fn import(args: chatweb::cli::ImportArgs) -> anyhow::Result<()> {
    let url = &args.database.database_url;
    let files = chatweb::archive::import::ImportFiles {
        location: args.file_store.location(url),
        with_files: args.with_files,
    };
    let imported = chatweb::archive::import::run(url, &args.file, files).await?;
    println!("{imported}");
    Ok(())
}
