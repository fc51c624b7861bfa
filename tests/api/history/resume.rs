//! Resumes after a restart (issue 22, reconnect storms): every client of a room comes back at about the
//! same time asking for the same few ids. The node just started, so nothing of the room is cached; the
//! first resume's read must then serve the others (the room is loaded into the recent cache), not each of
//! them make a read of its own, one after another, as they trickle in over the backoff's jitter.

use chatweb::stats::Stats;

use crate::helpers::{TempDir, ids, spawn_app};

/// Clients resuming one after another (none at the same instant, so no read is in flight to share).
const RESUMES: u64 = 30;

#[tokio::test]
async fn resumes_of_a_room_after_a_restart_cost_one_store_read_not_one_each() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut writer = app.join("storm").await;
    for i in 1..=10 {
        writer.say(&format!("m{i}")).await;
    }
    assert_eq!(
        ids(&writer.messages(10).await),
        (1..=10).collect::<Vec<_>>()
    );
    app.stop().await;

    let app = spawn_app(&dir).await;
    let reads_before = Stats::get(&app.stats.store_reads);
    for _ in 0..RESUMES {
        let mut client = app.join_path("/ws/chat/storm/?since=7", None).await;
        assert_eq!(
            ids(&client.messages(3).await),
            [8, 9, 10],
            "the gap, in order"
        );
        client.close().await;
    }
    let reads = Stats::get(&app.stats.store_reads) - reads_before;
    assert_eq!(Stats::get(&app.stats.resumes), RESUMES);
    assert!(
        reads <= 2,
        "{reads} store reads for {RESUMES} resumes of one room and gap"
    );

    // A room with nothing in it is never cached: a resume there costs its one read, not two.
    let reads_before = Stats::get(&app.stats.store_reads);
    for i in 0..5 {
        let mut client = app
            .join_path(&format!("/ws/chat/quiet-{i}/?since=0"), None)
            .await;
        // Live messages wait until the replay is done: this one comes back after it.
        client.say("first").await;
        assert_eq!(ids(&client.messages(1).await), [1]);
        client.close().await;
    }
    assert_eq!(Stats::get(&app.stats.store_reads) - reads_before, 5);
    app.stop().await;
}
