//! What a sender is told and in which order: a send whose outcome is not known at shutdown is not called
//! failed, and the answers to one connection's frames keep the order of the frames.

use serde_json::json;

use chatweb::config::Config;

use super::{Db, handled, stored};
use crate::helpers::{is_answer, spawn_app_with, texts};
use crate::live::v2_guest;

/// A send the writer is still storing when the node stops: the client is told its outcome is unknown
/// (never `shutting_down`, which says it failed), and indeed the stopping writer stores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_still_being_stored_at_shutdown_is_not_called_failed() {
    let db = Db::sqlite();
    let app = spawn_app_with(Config {
        shutdown_secs: 2,
        ..db.config()
    })
    .await;
    let mut client = v2_guest(app.addr, "/ws/chat/stop/", "sender").await;
    assert_eq!(client.send_acked("first", 1).await, [1]);
    let plug = db.plug("stop").await;
    // No client_id: a client told it failed would send it again, and it would be stored twice.
    client.say("maybe").await;
    handled(&mut client, "sender").await;

    let stopping = tokio::spawn(app.stop());
    let answer = client.next_answer().await;
    assert_eq!(
        (answer["type"].as_str(), answer["code"].as_str()),
        (Some("error"), Some("outcome_unknown")),
        "{answer}"
    );
    // Now the writer may go on: it stores the message while the node stops.
    plug.release().await;
    assert_eq!(client.closed().await, Some(1001));
    stopping.await.expect("stop");

    let app = spawn_app_with(db.config()).await;
    let frames = stored(&app, "stop", 2).await;
    assert_eq!(texts(&frames), ["first-0", "maybe"]);
    app.stop().await;
}

/// A frame refused at once, sent after a send still waiting for the store, is answered after it: the
/// answers come in the order of the frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_keep_the_order_of_the_frames_they_answer() {
    let db = Db::sqlite();
    let app = spawn_app_with(db.config()).await;
    let mut client = v2_guest(app.addr, "/ws/chat/order/", "orderly").await;
    assert_eq!(client.send_acked("first", 1).await, [1]);
    let plug = db.plug("order").await;
    client
        .send_json(json!({"message": "waits for the store", "client_id": "stored"}))
        .await;
    client
        .send_json(json!({"message": "  ", "client_id": "blank"}))
        .await;
    // Without a client_id only the order tells which send an error answers.
    client.send_json(json!({"message": ""})).await;
    let early = handled(&mut client, "orderly").await;
    assert!(
        !early.iter().any(is_answer),
        "no answer overtakes the pending send: {early:?}"
    );
    plug.release().await;
    let answers = [
        client.next_answer().await,
        client.next_answer().await,
        client.next_answer().await,
    ];
    let seen: Vec<_> = answers
        .iter()
        .map(|a| {
            (
                a["type"].as_str(),
                a["client_id"].as_str(),
                a["code"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some("ack"), Some("stored"), None),
            (Some("error"), Some("blank"), Some("empty_message")),
            (Some("error"), None, Some("empty_message")),
        ]
    );
    app.stop().await;
}
