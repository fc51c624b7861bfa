//! A message the database refuses fails alone, never its batch, on SQLite and PostgreSQL: the honest messages
//! sent beside it are acked and stored once, ids gap-free.

use serde_json::json;

use super::{Db, REFUSED, handled, stored};
use crate::helpers::{ids, is_answer, spawn_app_with, texts};
use crate::live::v2_guest;

/// Connections sending honest messages while another's message, in the same batch, is refused by the
/// database: every honest one is acked and stored once, ids gap-free; only the refused one gets
/// `message_refused`, and its sender's next message is stored.
async fn a_refused_message_fails_alone(db: Db) {
    const HONEST: usize = 4;
    const EACH: usize = 3;
    let app = spawn_app_with(db.config()).await;
    db.refuse_one_text().await;
    let room = "batch";
    let path = format!("/ws/chat/{room}/");
    let mut plugger = v2_guest(app.addr, &path, "plugger").await;
    let mut honest = Vec::new();
    for n in 0..HONEST {
        honest.push(v2_guest(app.addr, &path, &format!("honest{n}")).await);
    }
    let mut bad = v2_guest(app.addr, &path, "bad").await;
    assert_eq!(plugger.send_acked("seed", 1).await, [1]);

    let plug = db.plug(room).await;
    // Its batch waits on the plug; everything below queues behind it and goes in the next batch.
    plugger
        .send_json(json!({"message": "plug", "client_id": "plug"}))
        .await;
    handled(&mut plugger, "plugger").await;
    for (n, client) in honest.iter_mut().enumerate() {
        for i in 0..EACH {
            let text = format!("honest{n}-{i}");
            client
                .send_json(json!({"message": text, "client_id": text}))
                .await;
        }
    }
    bad.send_json(json!({"message": REFUSED, "client_id": "refused"}))
        .await;
    bad.send_json(json!({"message": "bad-after", "client_id": "bad-after"}))
        .await;
    for (n, client) in honest.iter_mut().enumerate() {
        let early = handled(client, &format!("honest{n}")).await;
        assert!(!early.iter().any(is_answer), "nothing committed yet");
    }
    let early = handled(&mut bad, "bad").await;
    assert!(!early.iter().any(is_answer), "nothing committed yet");
    plug.release().await;

    assert_eq!(plugger.next_answer().await["id"], 2, "the plug");
    let mut acked = Vec::new();
    for client in &mut honest {
        for _ in 0..EACH {
            let ack = client.next_answer().await;
            assert_eq!(ack["type"], "ack", "an honest message is stored: {ack}");
            acked.push(ack["id"].as_u64().expect("id"));
        }
    }
    let refused = bad.next_answer().await;
    assert_eq!(
        (
            refused["type"].as_str(),
            refused["code"].as_str(),
            refused["client_id"].as_str()
        ),
        (Some("error"), Some("message_refused"), Some("refused")),
        "{refused}"
    );
    let after = bad.next_answer().await;
    assert_eq!(after["type"], "ack", "{after}");
    acked.push(after["id"].as_u64().expect("id"));
    acked.sort_unstable();
    let total = 2 + HONEST * EACH + 1;
    assert_eq!(acked, (3..=total as u64).collect::<Vec<_>>(), "gap-free");

    let frames = stored(&app, room, total).await;
    assert_eq!(ids(&frames), (1..=total as u64).collect::<Vec<_>>());
    let stored_texts = texts(&frames);
    assert!(!stored_texts.iter().any(|t| t == REFUSED));
    for (n, _) in honest.iter().enumerate() {
        for i in 0..EACH {
            let text = format!("honest{n}-{i}");
            let copies = stored_texts.iter().filter(|t| **t == text).count();
            assert_eq!(copies, 1, "{text} is stored once");
        }
    }
    // The room goes on: the next message has the next id.
    assert_eq!(
        plugger.send_acked("next", 1).await,
        [total as u64 + 1],
        "the next id"
    );
    app.stop().await;
    db.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sqlite_refuses_fails_alone_in_its_batch() {
    a_refused_message_fails_alone(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_postgres_refuses_fails_alone_in_its_batch() {
    if let Some(db) = Db::postgres("refused_alone").await {
        a_refused_message_fails_alone(db).await;
    }
}
