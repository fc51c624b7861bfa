//! Bots through export, import and backup: a bot account's messages and an incoming webhook's carry
//! `"bot": true` in the export and keep it when imported (SQLite and PostgreSQL), linked to the bot
//! account of the same name; a person who has a bot's name where it is imported does not get its lines.
//! A backup holds the bot account and its messages as they were.

use chatweb::domain::Username;
use chatweb::storage::{NewMessage, NewUser};
use serde_json::Value;

use super::{BASE_MS, account, append, export, import, message, open, room, write_lines};
use crate::helpers::{TempDir, TestDatabase};
use crate::manage::run_chatweb;

/// Creates the bot account `name`; returns its id.
async fn bot_account(store: &std::sync::Arc<dyn chatweb::storage::Backend>, name: &str) -> i64 {
    let user = NewUser {
        is_bot: true,
        username: name,
        username_key: name,
        email: "",
        password_hash: "!",
        is_staff: false,
    };
    let id = store.db().create_user(&user, BASE_MS).await.expect("user");
    id.expect("a new name")
}

fn by_bot(room_name: &str, author: &str, author_id: Option<i64>, text: &str) -> NewMessage {
    NewMessage {
        bot: true,
        ..message(room_name, author, author_id, text)
    }
}

/// Seeds `url` with room `den`: ada's message, the bot account deploybot's, and the incoming webhook
/// CI's (a bot with no account).
async fn seed_bots(url: &str) {
    let store = open(url).await;
    let ada = account(&store, "ada").await;
    let bot = bot_account(&store, "deploybot").await;
    append(
        &store,
        &[
            message("den", "ada", Some(ada), "deploy, please"),
            by_bot("den", "deploybot", Some(bot), "deployed 1.4"),
            by_bot("den", "CI", None, "build 7 is green"),
        ],
        BASE_MS,
    )
    .await;
    store.close().await;
}

/// (user, guest, bot) of each line.
fn authors(lines: &[Value]) -> Vec<(String, bool, bool)> {
    lines
        .iter()
        .map(|l| {
            (
                l["user"].as_str().unwrap_or_default().to_owned(),
                l["guest"] == true,
                l["bot"] == true,
            )
        })
        .collect()
}

fn expected(deploybot_guest: bool) -> Vec<(String, bool, bool)> {
    [
        ("ada", false, false),
        ("deploybot", deploybot_guest, true),
        ("CI", true, true),
    ]
    .map(|(u, g, b)| (u.to_owned(), g, b))
    .to_vec()
}

/// Exports the seeded SQLite database and imports it into `target`, which has ada and the bot account
/// deploybot: the lines come back as they were, bots and all, and the stored messages say `bot`.
async fn bots_round_trip(target: &str) {
    let dir = TempDir::new();
    let source = dir.sqlite_url();
    seed_bots(&source).await;
    let exported = export(&source, &[]).await;
    assert_eq!(authors(&exported), expected(false));
    assert!(
        exported[0].get("bot").is_none(),
        "a person's line says nothing of bots"
    );
    let file = dir.path().join("export.jsonl");
    write_lines(&file, &exported);

    let store = open(target).await;
    account(&store, "ada").await;
    let bot = bot_account(&store, "deploybot").await;
    store.close().await;
    import(target, &file).await;
    assert_eq!(export(target, &[]).await, exported, "bots and all");
    let store = open(target).await;
    let stored = store.recent(&room("den"), 10).await.expect("history");
    let bots: Vec<_> = stored.iter().map(|m| (m.author.as_str(), m.bot)).collect();
    assert_eq!(bots, [("ada", false), ("deploybot", true), ("CI", true)]);
    let account = store
        .db()
        .user_by_id(bot)
        .await
        .expect("user")
        .expect("bot");
    assert!(account.is_bot, "the account is a bot still");
    store.close().await;
}

#[tokio::test]
async fn a_bots_messages_stay_a_bots_through_export_and_import_into_sqlite() {
    let dir = TempDir::new();
    bots_round_trip(&dir.sqlite_url()).await;

    // Where deploybot is a person's name, the bot's line is no message of theirs: a guest's, a bot's.
    let source = TempDir::new();
    seed_bots(&source.sqlite_url()).await;
    let file = source.path().join("export.jsonl");
    write_lines(&file, &export(&source.sqlite_url(), &[]).await);
    let target = TempDir::new();
    let store = open(&target.sqlite_url()).await;
    account(&store, "ada").await;
    account(&store, "deploybot").await;
    store.close().await;
    import(&target.sqlite_url(), &file).await;
    assert_eq!(
        authors(&export(&target.sqlite_url(), &[]).await),
        expected(true)
    );
}

#[tokio::test]
async fn a_bots_messages_stay_a_bots_through_export_and_import_into_postgres() {
    let test = "a_bots_messages_stay_a_bots_through_export_and_import_into_postgres";
    let Some(db) = TestDatabase::create(test).await else {
        return;
    };
    bots_round_trip(&db.url).await;
    db.drop_database().await;
}

#[tokio::test]
async fn a_backup_keeps_a_bot_account_and_its_messages() {
    let dir = TempDir::new();
    seed_bots(&dir.sqlite_url()).await;
    let path = dir.path().join("backup.sqlite3");
    let backup = run_chatweb(
        &[
            "backup",
            path.to_str().expect("path"),
            "--database-url",
            &dir.sqlite_url(),
        ],
        &[],
        None,
    )
    .await;
    assert!(backup.status.success(), "backup failed: {}", backup.stderr);
    let store = open(&format!("sqlite://{}", path.display())).await;
    let key = Username::from_stored("deploybot").key();
    let account = store.db().user_by_key(&key).await.expect("user");
    assert!(account.expect("the bot account").is_bot);
    let stored = store.recent(&room("den"), 10).await.expect("history");
    let bots: Vec<_> = stored.iter().map(|m| (m.author.as_str(), m.bot)).collect();
    assert_eq!(bots, [("ada", false), ("deploybot", true), ("CI", true)]);
    store.close().await;
}
