//! Nothing lost: clients cut off mid-stream resume with `since` and end with every message exactly once;
//! a client that stops reading never slows the room and later catches up from the store.

use std::collections::HashSet;

use chatweb::stats::Stats;
use serde_json::json;

use crate::helpers::{
    Client, TempDir, connect, connect_small_buffer, ids, spawn_app, spawn_app_with, test_config,
};
use crate::people::Browser;

/// A small deterministic generator for cut-off points (xorshift64*).
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Sends `n` messages with client ids and waits for every ack; returns the acked ids.
async fn publish(mut client: Client, tag: &'static str, n: usize) -> Vec<u64> {
    client.send_acked(tag, n).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_cut_off_at_random_points_resume_and_end_with_every_message_once_in_order() {
    const PER_PUBLISHER: usize = 400;
    const TOTAL: u64 = 2 * PER_PUBLISHER as u64;
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let addr = app.addr;

    let mut readers = Vec::new();
    for seed in 1..=4u64 {
        readers.push(tokio::spawn(async move {
            let mut dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut seen: Vec<u64> = Vec::new();
            let mut reconnects = 0;
            while (seen.len() as u64) < TOTAL {
                let since = seen.last().copied().unwrap_or(0);
                let mut client = connect(addr, &format!("/ws/chat/fire/?since={since}")).await;
                let budget = 1 + dice.below(150);
                for _ in 0..budget {
                    if seen.len() as u64 == TOTAL {
                        break;
                    }
                    seen.push(client.next_message().await["id"].as_u64().expect("id"));
                }
                // Cut off without a close frame: the TCP connection just goes away.
                drop(client);
                reconnects += 1;
            }
            (seen, reconnects)
        }));
    }
    let a = tokio::spawn(publish(
        connect(addr, "/ws/chat/fire/").await,
        "a",
        PER_PUBLISHER,
    ));
    let b = tokio::spawn(publish(
        connect(addr, "/ws/chat/fire/").await,
        "b",
        PER_PUBLISHER,
    ));
    let mut acked: Vec<u64> = a.await.expect("publisher a");
    acked.extend(b.await.expect("publisher b"));
    acked.sort_unstable();
    assert_eq!(acked, (1..=TOTAL).collect::<Vec<_>>(), "ids are gap-free");

    for reader in readers {
        let (seen, reconnects) = reader.await.expect("reader");
        assert!(reconnects > 2, "the reader was cut off several times");
        assert_eq!(
            seen,
            (1..=TOTAL).collect::<Vec<_>>(),
            "every message once, in order"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_never_slows_the_room_and_catches_up_later() {
    const MESSAGES: usize = 3000;
    let dir = TempDir::new();
    let config = chatweb::config::Config {
        room_buffer: 64,
        ..test_config(dir.sqlite_url())
    };
    let app = spawn_app_with(config).await;
    let addr = app.addr;
    let mut slow = connect_small_buffer(addr, "/ws/chat/slow/", 4096).await;
    let mut fast = connect(addr, "/ws/chat/slow/").await;

    // Publish about 3 MB, many times the room buffer (64) and the socket buffers, while `slow` reads nothing.
    let padding = "p".repeat(1000);
    let publisher = connect(addr, "/ws/chat/slow/").await;
    let sending = tokio::spawn(async move {
        let mut publisher = publisher;
        for i in 0..MESSAGES {
            publisher
                .send_json(
                    json!({"message": format!("{i} {padding}"), "client_id": format!("c{i}")}),
                )
                .await;
        }
        publisher
    });
    let got = fast.messages(MESSAGES).await;
    assert_eq!(ids(&got), (1..=MESSAGES as u64).collect::<Vec<_>>());
    drop(sending.await.expect("publisher"));

    // Now the slow client reads: everything, in order, healed from the store.
    let got = slow.messages(MESSAGES).await;
    assert_eq!(ids(&got), (1..=MESSAGES as u64).collect::<Vec<_>>());
    assert!(
        Stats::get(&app.stats.catch_ups) >= 1,
        "the slow client fell behind the live buffer and was caught up from the store"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_client_id_is_stored_once_even_across_connections() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    // The room's page gives the browser its guest id; its sockets carry it, so its client ids are its own
    // on every connection.
    let mut browser = Browser::new(app.addr);
    browser.get("/chat/idem/").await;
    assert!(browser.cookie("chatweb_guest").is_some());
    let mut first = browser.join("/ws/chat/idem/").await.expect("joins");
    first
        .send_json(json!({"message": "only once", "client_id": "k"}))
        .await;
    let mut acks = HashSet::new();
    loop {
        let frame = first.next_json().await;
        if frame["type"] == "ack" {
            acks.insert(frame["id"].as_u64());
            break;
        }
    }
    drop(first);
    // The page resends after a reconnect when it never saw the ack: same id, nothing new.
    let mut second = browser
        .join("/ws/chat/idem/?since=1")
        .await
        .expect("joins again");
    second
        .send_json(json!({"message": "only once", "client_id": "k"}))
        .await;
    let ack = second.next_json().await;
    assert_eq!(
        (ack["type"].as_str(), ack["duplicate"].as_bool()),
        (Some("ack"), Some(true))
    );
    acks.insert(ack["id"].as_u64());
    assert_eq!(acks.len(), 1);
    second.say("next").await;
    assert_eq!(second.next_message().await["id"], 2);
    assert_eq!(Stats::get(&app.stats.messages_received), 3);
    app.stop().await;
}
