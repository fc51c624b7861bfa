//! Buffers bounded in bytes: a room's live buffer under a flood of escaped frames (a slow reader catches up
//! from the store), and a full outbox that keeps each room's newest event.

use chatweb::config::Config;
use chatweb::stats::Stats;

use super::{join_and_echo, redis_url, send_flood};
use crate::helpers::{
    TempDir, TestDatabase, connect, connect_small_buffer, ids, node_config, spawn_app_with,
    test_config, texts, unique_prefix,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_escaped_frames_is_bounded_by_the_room_buffers_bytes_and_a_slow_reader_catches_up()
 {
    const MESSAGES: usize = 300;
    let dir = TempDir::new();
    let config = Config {
        // 300 events fit the count bound (1,024) many times; 300 frames of 25 KB do not fit 256 KB.
        room_buffer_bytes: 256 * 1024,
        ..test_config(dir.sqlite_url())
    };
    let app = spawn_app_with(config).await;
    let mut slow = connect_small_buffer(app.addr, "/ws/chat/flood/", 4096).await;
    let mut fast = connect(app.addr, "/ws/chat/flood/").await;
    let mut sender = connect(app.addr, "/ws/chat/flood/").await;
    let sending = tokio::spawn(async move {
        send_flood(&mut sender, MESSAGES).await;
        sender
    });
    let got = fast.messages(MESSAGES).await;
    assert_eq!(ids(&got), (1..=MESSAGES as u64).collect::<Vec<_>>());
    assert!(texts(&got)[7].starts_with("7\u{1}\u{1}"));
    drop(sending.await.expect("sender"));
    // The slow reader fell out of the byte-bounded buffer and healed from the store: everything, in order.
    let got = slow.messages(MESSAGES).await;
    assert_eq!(ids(&got), (1..=MESSAGES as u64).collect::<Vec<_>>());
    assert!(
        Stats::get(&app.stats.catch_ups) >= 1,
        "the slow reader fell behind a buffer that held fewer than 300 events"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_keeps_each_rooms_newest_event_and_the_other_node_gets_everything() {
    const MESSAGES: usize = 200;
    let Some(redis) = redis_url("outbox_full") else {
        return;
    };
    let Some(db) = TestDatabase::create("outbox_full").await else {
        return;
    };
    let prefix = unique_prefix("outbox_full");
    // No heads check here: only the outbox's kept newest event can bring the tail to the other node.
    let a = spawn_app_with(Config {
        redis_outbox_bytes: 64 * 1024,
        redis_heal_ms: 3_600_000,
        ..node_config(&db.url, &redis, &prefix)
    })
    .await;
    let b = spawn_app_with(Config {
        redis_heal_ms: 3_600_000,
        ..node_config(&db.url, &redis, &prefix)
    })
    .await;
    let mut reader = join_and_echo(&b, "overflow").await;
    let mut sender = join_and_echo(&a, "overflow").await;
    assert_eq!(reader.next_message().await["id"], 2, "the live path works");
    // 200 frames of 25 KB, 20 at a time: about 5 MB through a 64 KB outbox.
    let sending = tokio::spawn(async move {
        send_flood(&mut sender, MESSAGES).await;
        sender
    });
    let got = reader.messages(MESSAGES).await;
    drop(sending.await.expect("sender"));
    assert_eq!(ids(&got), (3..3 + MESSAGES as u64).collect::<Vec<_>>());
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}
