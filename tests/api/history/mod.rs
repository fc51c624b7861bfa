//! Stored history: what a join shows, what survives a restart, what `since` replays; the recent cache
//! under rooms typed at random (`cache`), catch-up reads shared by a whole room (`catch_up`), and the
//! resumes of a reconnect storm sharing their reads (`resume`).

mod cache;
mod catch_up;
mod resume;

use serde_json::json;

use crate::helpers::{TempDir, ids, spawn_app, spawn_app_with, test_config, texts};

#[tokio::test]
async fn history_survives_a_restart_on_the_same_database_file() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut client = app.join("diary").await;
    let sent: Vec<String> = (1..=5).map(|i| format!("entry {i}")).collect();
    for text in &sent {
        client.say(text).await;
    }
    // Wait for the last one to come back: all five are stored.
    assert_eq!(ids(&client.messages(5).await), [1, 2, 3, 4, 5]);
    app.stop().await;

    let app = spawn_app(&dir).await;
    let mut late = app.join("diary").await;
    let history = late.messages(5).await;
    assert_eq!(texts(&history), sent);
    assert_eq!(ids(&history), [1, 2, 3, 4, 5]);
    assert!(history.iter().all(|f| f["history"] == true));
    // Live messages continue the numbering after the restart.
    late.say("after restart").await;
    let live = late.next_message().await;
    assert_eq!(live["id"], 6);
    assert_eq!(live["history"], false);
    app.stop().await;
}

#[tokio::test]
async fn a_plain_join_shows_only_the_configured_number_of_recent_messages() {
    let dir = TempDir::new();
    let config = chatweb::config::Config {
        history: 3,
        ..test_config(dir.sqlite_url())
    };
    let app = spawn_app_with(config).await;
    let mut writer = app.join("busy").await;
    for i in 1..=10 {
        writer.say(&format!("m{i}")).await;
    }
    writer.messages(10).await;
    let mut reader = app.join("busy").await;
    let history = reader.messages(3).await;
    assert_eq!(ids(&history), [8, 9, 10]);
    reader.say("next").await;
    assert_eq!(
        reader.next_message().await["id"],
        11,
        "nothing older is replayed"
    );
    app.stop().await;
}

/// A join reads a room the recent cache lacks once: the read that would have filled the cache serves the
/// join itself when the room cannot be cached (an empty room never is).
#[tokio::test]
async fn a_join_of_a_room_the_cache_cannot_hold_costs_one_store_read() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let reads_before = chatweb::stats::Stats::get(&app.stats.store_reads);
    for i in 0..5 {
        let mut client = app.join(&format!("empty-{i}")).await;
        // The join's history (none) came before this echo.
        client.say("first").await;
        assert_eq!(ids(&client.messages(1).await), [1]);
        client.close().await;
    }
    assert_eq!(
        chatweb::stats::Stats::get(&app.stats.store_reads) - reads_before,
        5,
        "one read per join of an empty room"
    );
    app.stop().await;
}

#[tokio::test]
async fn since_replays_every_later_message_however_many_then_goes_live() {
    let dir = TempDir::new();
    let config = chatweb::config::Config {
        history: 5,
        ..test_config(dir.sqlite_url())
    };
    let app = spawn_app_with(config).await;
    let mut writer = app.join("long").await;
    for i in 1..=600 {
        writer.say(&format!("m{i}")).await;
    }
    writer.messages(600).await;

    // More than two store pages, from the start.
    let mut all = app.join_path("/ws/chat/long/?since=0", None).await;
    assert_eq!(
        ids(&all.messages(600).await),
        (1..=600).collect::<Vec<u64>>()
    );

    let mut tail = app.join_path("/ws/chat/long/?since=590", None).await;
    assert_eq!(
        ids(&tail.messages(10).await),
        (591..=600).collect::<Vec<u64>>()
    );
    writer.say("live").await;
    let live = tail.next_message().await;
    assert_eq!(
        (live["id"].as_u64(), live["history"].as_bool()),
        (Some(601), Some(false))
    );

    // The resume frame does the same on an open connection.
    tail.send_json(json!({"type": "resume", "since": 598}))
        .await;
    assert_eq!(ids(&tail.messages(3).await), [599, 600, 601]);
    app.stop().await;
}

#[tokio::test]
async fn the_migrate_command_creates_the_schema_and_exits() {
    let dir = TempDir::new();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chatweb"))
        .args(["migrate", "--database-url", &dir.sqlite_url()])
        .env("RUST_LOG", "info")
        .output()
        .expect("run chatweb migrate");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("db.sqlite3").exists());
    // A node starts on the migrated file and finds nothing to do.
    let app = spawn_app(&dir).await;
    let mut client = app.join("fresh").await;
    client.say("works").await;
    assert_eq!(client.next_message().await["id"], 1);
    app.stop().await;
}
