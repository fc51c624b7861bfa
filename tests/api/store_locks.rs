//! A room whose row another PostgreSQL connection holds locked (issue 22's partition defect): the other
//! rooms go on storing, that room's sends are answered (never left silent), readiness shows the stalled
//! writer, and a node cut off inside its own transaction lets go of the room within its store timeout.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;
use tokio::time::Instant;

use crate::helpers::{
    Client, PATIENCE, StallProxy, TestApp, TestDatabase, spawn_app_with, test_config,
};

/// Sends `text` with `client_id` and waits for its answer; returns it and how long it took.
async fn send(client: &mut Client, text: &str, client_id: &str) -> (Value, Duration) {
    let started = Instant::now();
    client
        .send_json(json!({"message": text, "client_id": client_id}))
        .await;
    let answer = client.next_answer().await;
    (answer, started.elapsed())
}

/// Sends until acked (a `store_unavailable` answer is resent, as a client does); returns the ack.
async fn send_until_acked(client: &mut Client, text: &str, client_id: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (answer, _) = send(client, text, client_id).await;
        if answer["type"] == "ack" {
            return answer;
        }
        assert_eq!(answer["code"], "store_unavailable", "{answer}");
        assert!(Instant::now() < deadline, "never acked: {answer}");
    }
}

/// Polls `/readyz` until its body contains `word` (bounded); returns its status.
async fn readyz_saying(app: &TestApp, word: &str) -> u16 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let response = app.get("/readyz", None).await;
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        if body.contains(word) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never said {word:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_another_connection_holds_stops_only_that_room() {
    let Some(db) = TestDatabase::create("held_room").await else {
        return;
    };
    // A lock wait of 4 s: longer than readiness allows a send to wait (2 s), so the stall shows there.
    let config = chatweb::config::Config {
        store_lock_timeout_ms: 4000,
        ..test_config(db.url.clone())
    };
    let app = spawn_app_with(config).await;
    let (mut held, mut free, mut other) = (
        app.join("held").await,
        app.join("free").await,
        app.join("other").await,
    );
    for client in [&mut held, &mut free, &mut other] {
        client.send_acked("warm", 1).await;
    }

    // Another connection (a node cut off inside its transaction) holds the room's row.
    let mut locker = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut locker)
        .await
        .expect("begin");
    sqlx::query("SELECT 1 FROM rooms WHERE name = 'held' FOR UPDATE")
        .execute(&mut locker)
        .await
        .expect("lock the room");

    let started = Instant::now();
    for (client, id) in [(&mut held, "h1"), (&mut free, "f1"), (&mut other, "o1")] {
        client
            .send_json(json!({"message": id, "client_id": id}))
            .await;
    }
    // While the writer waits for the room, readiness says so, and /metrics shows how long.
    assert_eq!(readyz_saying(&app, "writer stalled").await, 503);
    let metrics = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    let waited: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("chatweb_store_oldest_unanswered_seconds "))
        .expect("the gauge is shown")
        .parse()
        .expect("a number");
    assert!(waited >= 2.0, "{waited}");

    // The other rooms are stored after one lock wait; the held room's send is answered, not stored.
    for client in [&mut free, &mut other] {
        let answer = client.next_answer().await;
        assert_eq!(answer["type"], "ack", "{answer}");
        assert_eq!(answer["id"], 2);
    }
    let answer = held.next_answer().await;
    assert_eq!(
        (answer["code"].as_str(), answer["client_id"].as_str()),
        (Some("store_unavailable"), Some("h1")),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(readyz_saying(&app, "writer up").await, 200);

    // The writer remembers the room: the next sends do not wait for it again.
    let (answer, took) = send(&mut free, "f2", "f2").await;
    assert_eq!(
        (answer["type"].as_str(), answer["id"].as_u64()),
        (Some("ack"), Some(3))
    );
    assert!(took < Duration::from_secs(3), "waited again: {took:?}");
    let (answer, took) = send(&mut held, "h1", "h1").await;
    assert_eq!(answer["code"], "store_unavailable", "{answer}");
    assert!(took < Duration::from_secs(3), "waited again: {took:?}");

    // Let go: the room is written again, with the next id (nothing was used by the refused sends).
    sqlx::query("COMMIT")
        .execute(&mut locker)
        .await
        .expect("commit");
    let answer = send_until_acked(&mut held, "h1", "h1").await;
    assert_eq!(answer["id"], 2, "{answer}");
    let _ = locker.close().await;
    app.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_waiting_on_the_store_still_answers_pings() {
    let Some(db) = TestDatabase::create("catch_up_pings").await else {
        return;
    };
    let app = spawn_app_with(test_config(db.url.clone())).await;
    let mut writer = app.join("deep").await;
    writer.send_acked("old", 3).await;

    // The messages table is locked: a replay's read of it waits (a store that does not answer).
    let mut locker = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut locker)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .expect("lock");
    let mut replaying = app.join_path("/ws/chat/deep/?since=0", None).await;
    // While its read waits, the connection answers every ping at once.
    for _ in 0..5 {
        let took = replaying.ping(b"still there?").await;
        assert!(took < Duration::from_secs(1), "a pong took {took:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sqlx::query("COMMIT")
        .execute(&mut locker)
        .await
        .expect("commit");
    let ids: Vec<u64> = replaying
        .messages(3)
        .await
        .iter()
        .map(|m| m["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    let _ = locker.close().await;
    app.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_inside_its_transaction_lets_go_of_the_room() {
    let Some(db) = TestDatabase::create("cut_in_tx").await else {
        return;
    };
    // Node A reaches PostgreSQL through a proxy the test stalls (a cut link: nothing refused, nothing
    // arrives); node B directly. A's store timeout (2 s) is also its sessions' idle-in-transaction bound.
    let proxy = StallProxy::start(db.server_addr().await).await;
    let a = spawn_app_with(chatweb::config::Config {
        store_timeout_ms: 2000,
        ..test_config(db.url_via(proxy.port))
    })
    .await;
    let b = spawn_app_with(test_config(db.url.clone())).await;
    let (mut on_a, mut b_held, mut b_free) =
        (a.join("r0").await, b.join("r0").await, b.join("r1").await);
    on_a.send_acked("warm", 1).await;
    b_free.send_acked("warm", 1).await;

    // One insert of A's is slow, so the cut lands inside its transaction, with r0's row locked.
    let mut admin = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    for sql in [
        "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.body = 'slow' THEN PERFORM pg_sleep(1.5); END IF; RETURN NEW; END $$",
        "CREATE TRIGGER slow_insert BEFORE INSERT ON messages FOR EACH ROW \
         EXECUTE FUNCTION slow_insert()",
    ] {
        sqlx::query(sql).execute(&mut admin).await.expect("trigger");
    }
    on_a.send_json(json!({"message": "slow", "client_id": "slow"}))
        .await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let sleeping: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' \
             AND datname = current_database()",
        )
        .fetch_one(&mut admin)
        .await
        .expect("activity");
        if sleeping > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the slow insert never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.stall(true);
    let cut = Instant::now();

    // B: the room A holds is answered, the other room is stored after one lock wait (1 s).
    b_held
        .send_json(json!({"message": "b0", "client_id": "b0"}))
        .await;
    let (answer, took) = send(&mut b_free, "b1", "b1").await;
    assert_eq!(
        (answer["type"].as_str(), answer["id"].as_u64()),
        (Some("ack"), Some(2)),
        "{answer}"
    );
    assert!(took < Duration::from_secs(4), "r1 waited for r0: {took:?}");
    let answer = b_held.next_answer().await;
    assert!(
        answer["type"] == "ack" || answer["code"] == "store_unavailable",
        "{answer}"
    );

    // A answers its own sender (it cannot tell whether the commit happened) within its bound.
    let answer = on_a.next_answer().await;
    assert_eq!(
        (answer["code"].as_str(), answer["client_id"].as_str()),
        (Some("outcome_unknown"), Some("slow")),
        "{answer}"
    );
    // The server ends A's session idle in its transaction: B gets r0 while A is still cut off.
    let answer = send_until_acked(&mut b_held, "b0", "b0").await;
    assert_eq!(answer["id"], 2, "A's insert was rolled back: {answer}");
    assert!(
        cut.elapsed() < Duration::from_secs(8),
        "{:?}",
        cut.elapsed()
    );

    // Heal: A stores again (a fresh connection), with the next id.
    proxy.stall(false);
    let answer = send_until_acked(&mut on_a, "after", "after").await;
    assert_eq!(answer["id"], 3, "{answer}");
    let _ = admin.close().await;
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}
