//! Defect 4 of issue 10, on PostgreSQL: the store writer has a connection of its own, so reads can never
//! make a commit wait for one; and when every member of a big room sees the same gap at once, they share a
//! few database reads instead of making one each, while another connection's sends keep being acked.

use std::time::{Duration, Instant};

use chatweb::domain::{ClientIdOwner, MessageBody, RoomName, Username};
use chatweb::stats::Stats;
use chatweb::storage::{Db, NewMessage, Store, now_ms};
use serde_json::json;

use crate::helpers::{Client, TestDatabase, ids, spawn_app_with, test_config};

/// Members of the room on the node, besides the sender.
const MEMBERS: usize = 120;
/// Messages written behind the node's back: the gap every member sees at once. With the sends below it
/// fits one catch-up page (256), so each member needs exactly one read to close it.
const GAP: u64 = 150;
/// Messages the sender sends while the members catch up.
const SENDS: u64 = 50;

fn message(room: &str, text: String) -> NewMessage {
    NewMessage {
        bot: false,
        room: RoomName::parse(room).expect("room"),
        author: Username::parse("ada").expect("user"),
        body: MessageBody::parse(&text, 4096).expect("body"),
        client_id: None,
        owner: ClientIdOwner::import(),
        author_id: None,
        reply_to: None,
        mentions: Default::default(),
        files: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_seen_by_a_whole_room_costs_a_few_shared_reads_and_fails_no_send() {
    let test = "a_gap_seen_by_a_whole_room_costs_a_few_shared_reads_and_fails_no_send";
    let Some(db) = TestDatabase::create(test).await else {
        return;
    };
    let app = spawn_app_with(test_config(db.url.clone())).await;
    let mut sender = app.join("big").await;
    let seeded = acked(&mut sender, "seed", 3).await;
    assert_eq!(seeded, [1, 2, 3]);
    let mut members = Vec::with_capacity(MEMBERS);
    for _ in 0..MEMBERS {
        let mut member = app.join("big").await;
        assert_eq!(ids(&member.messages(3).await), [1, 2, 3], "history");
        members.push(member);
    }

    // Another writer on the same database (a node whose publishes were lost): this node hears nothing.
    let other = Store::connect(&db.url).await.expect("second writer");
    let gap: Vec<_> = (0..GAP)
        .map(|i| message("big", format!("elsewhere {i}")))
        .collect();
    for outcome in other.append(&gap, now_ms()).await.expect("append") {
        outcome.expect("stored");
    }
    other.close().await;

    // The sender's next message shows every member (and the sender) the gap at the same instant.
    let reads_before = Stats::get(&app.stats.store_reads);
    let sending = tokio::spawn(async move {
        let acks = acked(&mut sender, "live", SENDS).await;
        (sender, acks)
    });
    let last = 3 + GAP + SENDS;
    let readers: Vec<_> = members
        .into_iter()
        .map(|mut member| {
            tokio::spawn(async move { ids(&member.messages((GAP + SENDS) as usize).await) })
        })
        .collect();
    for reader in readers {
        let got = reader.await.expect("member");
        assert_eq!(
            got,
            (4..=last).collect::<Vec<_>>(),
            "every member, in order"
        );
    }
    let (sender, acks) = sending.await.expect("sender");
    assert_eq!(
        acks,
        (4 + GAP..=last).collect::<Vec<_>>(),
        "every send acked"
    );
    let reads = Stats::get(&app.stats.store_reads) - reads_before;
    println!(
        "{} members closed one gap with {reads} database reads",
        MEMBERS + 1
    );
    assert!(
        reads * 10 <= MEMBERS as u64,
        "{reads} reads for {} members hitting one gap",
        MEMBERS + 1
    );
    sender.close().await;
    app.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn the_writer_commits_while_every_read_connection_is_taken() {
    let test = "the_writer_commits_while_every_read_connection_is_taken";
    let Some(db) = TestDatabase::create(test).await else {
        return;
    };
    let backend = Store::connect(&db.url).await.expect("connect");
    let Db::Postgres(pool) = backend.db() else {
        panic!("a PostgreSQL URL opens PostgreSQL");
    };
    // Take every connection the reads (and accounts, and the admin) have.
    let mut held = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        held.push(pool.acquire().await.expect("a read connection"));
    }
    let started = Instant::now();
    let outcomes = tokio::time::timeout(
        Duration::from_secs(2),
        backend.append(&[message("busy", "still stored".into())], now_ms()),
    )
    .await
    .expect("the commit does not wait for a read connection")
    .expect("append");
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].as_ref().expect("stored").message.seq, 1);
    println!(
        "committed in {:?} with every read connection taken",
        started.elapsed()
    );
    drop(held);
    assert_eq!(
        backend
            .recent(&RoomName::parse("busy").expect("room"), 5)
            .await
            .expect("recent")[0]
            .body,
        "still stored"
    );
    backend.close().await;
    db.drop_database().await;
}

/// Sends `n` messages `<tag>-<i>` with client ids and returns the acked ids in order; any error frame
/// fails the test.
async fn acked(client: &mut Client, tag: &str, n: u64) -> Vec<u64> {
    for i in 0..n {
        let text = format!("{tag}-{i}");
        client
            .send_json(json!({"message": text, "client_id": text}))
            .await;
    }
    let mut acks = Vec::new();
    while acks.len() < n as usize {
        let frame = client.next_json().await;
        assert_ne!(frame["type"], "error", "a send failed: {frame}");
        if frame["type"] == "ack" {
            acks.push(frame["id"].as_u64().expect("ack id"));
        }
    }
    acks
}
