//! Delivery: signed batches in room order, retries that lose and reorder nothing, a removed hook stops.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{Receiver, deliveries, names_and_ids, node, node_with, register, room_of, verifies};
use crate::engines::{Database, on_both_engines};
use crate::rooms::{api, person};

const ALL: [&str; 5] = [
    "message_created",
    "message_edited",
    "message_deleted",
    "member_added",
    "member_removed",
];

async fn signed_batches_arrive_in_room_order(db: &Database) {
    let receiver = Receiver::start(0).await;
    let app = node(db, &[&receiver]).await;
    let mut ada = room_of(&app, "ada", "ci", "public").await;
    person(app.addr, "bob").await;
    let (status, hook) = register(&app, &mut ada, Some("ci"), &receiver.url(), &ALL).await;
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = hook["id"].as_i64().expect("id");

    // Room creation was id 1, before the hook: it is not sent. Then 2, 3, 4; the edit 5, the delete 6.
    let mut ws = ada.join_v2("/ws/chat/ci/").await.expect("join");
    assert_eq!(ws.send_acked("m", 3).await, [2, 3, 4]);
    ws.send_json(json!({"type": "edit", "id": 2, "message": "m-0, fixed", "client_id": "e1"}))
        .await;
    assert_eq!(ws.next_answer().await["type"], "ack");
    ws.send_json(json!({"type": "delete", "id": 3, "client_id": "d1"}))
        .await;
    assert_eq!(ws.next_answer().await["type"], "ack");
    let (status, body) = api(
        app.addr,
        &mut ada,
        "POST",
        "/api/rooms/ci/members",
        Some(json!({"user": "bob"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let events = receiver
        .until("member_added", |events| {
            events.iter().any(|e| e["name"] == "member_added")
        })
        .await;
    let expected: Vec<(String, u64)> = [
        ("message_created", 2),
        ("message_created", 3),
        ("message_created", 4),
        ("message_edited", 2),
        ("message_deleted", 3),
        ("member_added", 7),
    ]
    .iter()
    .map(|(name, id)| ((*name).to_owned(), *id))
    .collect();
    assert_eq!(names_and_ids(&events), expected);
    assert!(events.iter().all(|e| e["room"] == "ci"));
    let edit = &events[3];
    assert_eq!(
        (edit["message"].as_str(), edit["seq"].as_u64()),
        (Some("m-0, fixed"), Some(5))
    );
    assert_eq!(
        (events[5]["user"].as_str(), events[5]["by"].as_str()),
        (Some("bob"), Some("ada"))
    );
    let event_ids: HashSet<&str> = events
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(event_ids.len(), events.len(), "event ids are unique");
    assert!(
        events[0]["event_id"]
            .as_str()
            .is_some_and(|e| e.starts_with(&format!("{id}-")))
    );

    for request in receiver.requests() {
        assert_eq!(request.content_type, "application/json");
        assert!(
            verifies(&secret, &request.signature, &request.body),
            "{request:?}"
        );
        let batch: Value = serde_json::from_slice(&request.body).expect("json");
        assert!(batch["time_ms"].as_i64().is_some_and(|t| t > 0));
        // A body changed on the way, or another secret, does not verify.
        let mut tampered = request.body.to_vec();
        tampered.extend_from_slice(b" ");
        assert!(!verifies(&secret, &request.signature, &tampered));
        let changed = String::from_utf8(request.body.to_vec())
            .expect("utf-8")
            .replacen("ci", "cj", 1);
        assert!(!verifies(&secret, &request.signature, changed.as_bytes()));
        assert!(!verifies("whsec_other", &request.signature, &request.body));
    }

    // The owner sees the hook (never its secret) and its deliveries.
    let (status, hooks) = api(
        app.addr,
        &mut ada,
        "GET",
        "/api/rooms/ci/hooks/outgoing",
        None,
    )
    .await;
    assert_eq!(status, 200, "{hooks}");
    assert_eq!(hooks[0]["id"], id);
    assert_eq!(hooks[0]["events"].as_array().map(Vec::len), Some(5));
    assert!(hooks[0].get("secret").is_none() && !hooks.to_string().contains(&secret));
    // Every batch is recorded; the last one covers the member's event.
    let deliveries = deliveries(&app, &mut ada, &hook["id"], |rows| {
        rows.first().is_some_and(|d| d["last_id"] == 7)
    })
    .await;
    assert!(
        deliveries
            .iter()
            .all(|d| d["result"] == "delivered" && d["status"] == 200)
    );
    let metrics = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    assert!(
        metrics.contains("chatweb_webhook_deliveries_total{result=\"delivered\"}"),
        "{metrics}"
    );
    app.stop().await;
}

on_both_engines!(
    signed_batches_arrive_in_room_order,
    a_loopback_receiver_gets_signed_batches_of_messages_edits_deletes_and_members_in_room_order_on_sqlite,
    a_loopback_receiver_gets_signed_batches_of_messages_edits_deletes_and_members_in_room_order_on_postgres
);

async fn failures_are_retried_in_order(db: &Database) {
    let receiver = Receiver::start(3).await;
    let app = node(db, &[&receiver]).await;
    let mut ada = room_of(&app, "ada", "ci", "public").await;
    let (status, hook) = register(
        &app,
        &mut ada,
        Some("ci"),
        &receiver.url(),
        &["message_created"],
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"].as_str().expect("secret").to_owned();
    let mut ws = ada.join_v2("/ws/chat/ci/").await.expect("join");
    let sent = ws.send_acked("m", 10).await;
    assert_eq!(sent, (2..=11).collect::<Vec<u64>>());

    let distinct = |events: &[Value]| {
        events
            .iter()
            .filter_map(|e| e["event_id"].as_str())
            .collect::<HashSet<_>>()
            .len()
    };
    let events = receiver
        .until("all ten messages", |events| distinct(events) == 10)
        .await;
    // In order, never behind what came before; once each by event_id, none lost.
    let ids: Vec<u64> = events.iter().filter_map(|e| e["id"].as_u64()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] <= w[1]),
        "in room order: {ids:?}"
    );
    let mut seen = HashSet::new();
    let once: Vec<u64> = events
        .iter()
        .filter(|e| seen.insert(e["event_id"].as_str().unwrap_or_default().to_owned()))
        .filter_map(|e| e["id"].as_u64())
        .collect();
    assert_eq!(once, sent);
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(texts.first(), Some(&"m-0"));

    // Three refusals, each a retry of the same batch (the same first event), then success.
    let requests = receiver.requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..4], [500, 500, 500, 200], "{statuses:?}");
    let first_event = |body: &[u8]| {
        let batch: Value = serde_json::from_slice(body).expect("json");
        batch["events"][0]["event_id"].as_str().map(str::to_owned)
    };
    let first = first_event(&requests[0].body);
    assert!(requests[..4].iter().all(|r| first_event(&r.body) == first));
    assert!(
        requests
            .iter()
            .all(|r| verifies(&secret, &r.signature, &r.body))
    );

    let deliveries = deliveries(&app, &mut ada, &hook["id"], |rows| {
        rows.iter().any(|d| d["result"] == "delivered")
    })
    .await;
    let mut attempts: Vec<(String, u64, u64)> = deliveries
        .iter()
        .map(|d| {
            (
                d["result"].as_str().unwrap_or_default().to_owned(),
                d["status"].as_u64().unwrap_or_default(),
                d["attempt"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    attempts.reverse();
    let expected: Vec<(String, u64, u64)> = vec![
        ("failed".into(), 500, 1),
        ("failed".into(), 500, 2),
        ("failed".into(), 500, 3),
        ("delivered".into(), 200, 4),
    ];
    assert_eq!(attempts[..4], expected[..]);
    let metrics = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    assert!(
        metrics.contains("chatweb_webhook_deliveries_total{result=\"failed\"} 3"),
        "{metrics}"
    );
    app.stop().await;
}

on_both_engines!(
    failures_are_retried_in_order,
    a_receiver_that_fails_three_times_then_recovers_gets_every_event_once_in_order_on_sqlite,
    a_receiver_that_fails_three_times_then_recovers_gets_every_event_once_in_order_on_postgres
);

async fn a_removed_hook_stops(db: &Database) {
    let (removed, witness) = (Receiver::start(0).await, Receiver::start(0).await);
    let app = node(db, &[&removed, &witness]).await;
    let mut ada = room_of(&app, "ada", "ci", "public").await;
    let mut ids = Vec::new();
    for receiver in [&removed, &witness] {
        let (status, hook) = register(
            &app,
            &mut ada,
            Some("ci"),
            &receiver.url(),
            &["message_created"],
        )
        .await;
        assert_eq!(status, 201, "{hook}");
        ids.push(hook["id"].as_i64().expect("id"));
    }
    let mut ws = ada.join_v2("/ws/chat/ci/").await.expect("join");
    let has = |id: u64| move |events: &[Value]| events.iter().any(|e| e["id"] == id);
    let [first] = ws.send_acked("a", 1).await[..] else {
        panic!("one ack")
    };
    removed.until("the first message", has(first)).await;
    witness.until("the first message", has(first)).await;

    let path = format!("/api/hooks/outgoing/{}", ids[0]);
    let (status, body) = api(app.addr, &mut ada, "DELETE", &path, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = api(app.addr, &mut ada, "DELETE", &path, None).await;
    assert_eq!(status, 404, "removed once");
    let (status, _) = api(
        app.addr,
        &mut ada,
        "GET",
        &format!("{path}/deliveries"),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // A pass that began before the removal may still carry the next message; the one after cannot.
    let [second] = ws.send_acked("b", 1).await[..] else {
        panic!("one ack")
    };
    witness.until("the second message", has(second)).await;
    let [third] = ws.send_acked("c", 1).await[..] else {
        panic!("one ack")
    };
    witness.until("the third message", has(third)).await;
    assert!(
        removed.accepted().iter().all(|e| e["id"] != third),
        "a removed hook delivers nothing more"
    );
    let (status, hooks) = api(
        app.addr,
        &mut ada,
        "GET",
        "/api/rooms/ci/hooks/outgoing",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(hooks.as_array().map(Vec::len), Some(1));
    app.stop().await;
}

on_both_engines!(
    a_removed_hook_stops,
    a_removed_hook_stops_delivering_on_sqlite,
    a_removed_hook_stops_delivering_on_postgres
);

/// A hook acts for whoever made it, as they are now: an owner removed from a private room takes their
/// hook's view of it along (the creator's access is asked before each batch).
#[tokio::test]
async fn a_hook_whose_maker_lost_the_room_hears_nothing_more() {
    let db = Database::sqlite();
    let (bobs, witness) = (Receiver::start(0).await, Receiver::start(0).await);
    let app = node(&db, &[&bobs, &witness]).await;
    let mut ada = room_of(&app, "ada", "vault", "private").await;
    let mut bob = crate::rooms::person(app.addr, "bob").await;
    let add = json!({"user": "bob", "role": "owner"});
    let (status, body) = api(
        app.addr,
        &mut ada,
        "POST",
        "/api/rooms/vault/members",
        Some(add),
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    for (who, receiver) in [(&mut bob, &bobs), (&mut ada, &witness)] {
        let (status, hook) = register(
            &app,
            who,
            Some("vault"),
            &receiver.url(),
            &["message_created"],
        )
        .await;
        assert_eq!(status, 201, "{hook}");
    }
    let mut ws = ada.join_v2("/ws/chat/vault/").await.expect("join");
    let has = |id: u64| move |events: &[Value]| events.iter().any(|e| e["id"] == id);
    let [first] = ws.send_acked("while bob is an owner", 1).await[..] else {
        panic!("one ack")
    };
    bobs.until("the first message", has(first)).await;
    witness.until("the first message", has(first)).await;

    let (status, body) = api(
        app.addr,
        &mut ada,
        "DELETE",
        "/api/rooms/vault/members/bob",
        None,
    )
    .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    // A pass that began before the removal may still carry the next message; the one after cannot.
    let [second] = ws.send_acked("bob is gone", 1).await[..] else {
        panic!("one ack")
    };
    witness.until("the second message", has(second)).await;
    let [third] = ws.send_acked("the vault code is 4711", 1).await[..] else {
        panic!("one ack")
    };
    witness.until("the third message", has(third)).await;
    assert!(
        bobs.accepted().iter().all(|e| e["id"] != third),
        "a hook whose maker may no longer read the room hears nothing more of it"
    );
    app.stop().await;
}

/// Two nodes on one PostgreSQL database: one holds the hook's lease, so each event goes out once.
#[tokio::test]
async fn two_nodes_on_one_postgres_database_send_each_event_once_in_order() {
    let Some(db) = crate::helpers::TestDatabase::create("hooks_two_nodes").await else {
        return;
    };
    let db = Database::Postgres(db);
    let receiver = Receiver::start(0).await;
    let (a, b) = (node(&db, &[&receiver]).await, node(&db, &[&receiver]).await);
    let mut ada = room_of(&a, "ada", "ci", "public").await;
    let (status, hook) = register(
        &a,
        &mut ada,
        Some("ci"),
        &receiver.url(),
        &["message_created"],
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let mut on_a = ada.join_v2("/ws/chat/ci/").await.expect("join a");
    let mut on_b = ada
        .on(b.addr)
        .join_v2("/ws/chat/ci/")
        .await
        .expect("join b");
    let mut sent = on_a.send_acked("a", 5).await;
    sent.extend(on_b.send_acked("b", 5).await);
    let events = receiver
        .until("ten messages", |events| events.len() >= 10)
        .await;
    let ids: Vec<u64> = events.iter().filter_map(|e| e["id"].as_u64()).collect();
    assert_eq!(ids, sent, "each once, in room order");
    a.stop().await;
    b.stop().await;
    db.done().await;
}

async fn a_batch_refused_past_the_limit_is_given_up(db: &Database) {
    // Refuses everything; the node gives a batch up at its first failure (`--webhook-give-up-secs 0`).
    let receiver = Receiver::start(usize::MAX).await;
    let app = node_with(db, &[&receiver], |config| {
        config.webhooks.webhook_give_up_secs = 0;
    })
    .await;
    let mut ada = room_of(&app, "ada", "ci", "public").await;
    let (status, hook) = register(
        &app,
        &mut ada,
        Some("ci"),
        &receiver.url(),
        &["message_created"],
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let mut ws = ada.join_v2("/ws/chat/ci/").await.expect("join");
    ws.send_acked("first", 1).await;
    let given_up =
        |rows: &[Value], n: usize| rows.iter().filter(|d| d["result"] == "gave_up").count() >= n;
    let rows = deliveries(&app, &mut ada, &hook["id"], |rows| given_up(rows, 1)).await;
    assert_eq!(
        (rows[0]["status"].as_u64(), rows[0]["last_id"].as_u64()),
        (Some(500), Some(2))
    );
    // The hook went on: the next message is its own batch, given up in its turn.
    ws.send_acked("second", 1).await;
    let rows = deliveries(&app, &mut ada, &hook["id"], |rows| given_up(rows, 2)).await;
    assert_eq!(rows[0]["first_id"].as_u64(), Some(3));
    let metrics = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    assert!(
        metrics.contains("chatweb_webhook_deliveries_total{result=\"gave_up\"} 2"),
        "{metrics}"
    );
    app.stop().await;
}

on_both_engines!(
    a_batch_refused_past_the_limit_is_given_up,
    a_batch_refused_past_the_give_up_time_is_recorded_and_passed_over_on_sqlite,
    a_batch_refused_past_the_give_up_time_is_recorded_and_passed_over_on_postgres
);
