//! `room_occupied` and `room_vacated`: the first socket anywhere, the last one anywhere, on one node and on
//! two nodes sharing Redis and PostgreSQL; a node that dies holding the only socket has its room vacated
//! once its claim runs out; hooks that did not ask, or whose maker lost the room, hear nothing of it.

use serde_json::{Value, json};

use super::{Receiver, names_and_ids, node, node_with, register, room_of};
use crate::engines::{Database, on_both_engines};
use crate::live::v2_guest;
use crate::rooms::{api, person};
use crate::services::{ProcessNode, node_config, test_service, unique_prefix};

const OCCUPANCY: [&str; 2] = ["room_occupied", "room_vacated"];

/// The occupancy events among `events`, as (name, id).
fn occupancy(events: &[Value]) -> Vec<(String, u64)> {
    names_and_ids(events)
        .into_iter()
        .filter(|(name, _)| name.starts_with("room_"))
        .collect()
}

/// `n` alternating transitions from the first: occupied 1, vacated 2, occupied 3, ...
fn alternating(from: u64, n: u64) -> Vec<(String, u64)> {
    (from..from + n)
        .map(|id| {
            let name = if id % 2 == 1 {
                "room_occupied"
            } else {
                "room_vacated"
            };
            (name.to_owned(), id)
        })
        .collect()
}

fn has(id: u64, name: &'static str) -> impl Fn(&[Value]) -> bool {
    move |events: &[Value]| events.iter().any(|e| e["name"] == name && e["id"] == id)
}

async fn first_in_and_last_out(db: &Database) {
    let (receiver, witness) = (Receiver::start(0).await, Receiver::start(0).await);
    let app = node(db, &[&receiver, &witness]).await;
    let mut ada = room_of(&app, "ada", "ci", "public").await;
    for who in ["carol", "dan"] {
        person(app.addr, who).await;
    }
    let (status, hook) = register(&app, &mut ada, Some("ci"), &receiver.url(), &OCCUPANCY).await;
    assert_eq!(status, 201, "{hook}");
    let hook_id = hook["id"].as_i64().expect("id");
    let (status, body) = register(
        &app,
        &mut ada,
        Some("ci"),
        &witness.url(),
        &["member_added"],
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let first = ada.join_v2("/ws/chat/ci/").await.expect("join");
    let events = receiver
        .until("room_occupied", has(1, "room_occupied"))
        .await;
    assert_eq!(
        events[0],
        json!({"event_id": format!("{hook_id}-occ-1-1"), "name": "room_occupied", "room": "ci",
               "id": 1, "time_ms": events[0]["time_ms"]})
    );
    assert!(events[0]["time_ms"].as_i64().is_some_and(|t| t > 0));
    // A second socket (another person), then the first one goes: the room still has someone.
    let second = v2_guest(app.addr, "/ws/chat/ci/", "bob").await;
    first.close().await;
    second.close().await;
    let events = receiver.until("room_vacated", has(2, "room_vacated")).await;
    assert_eq!(occupancy(&events), alternating(1, 2));

    // The hook that asked only for members hears members, never occupancy: two of its passes go by after
    // the room was vacated (a pass sends every stream a hook asked for).
    for (n, who) in ["carol", "dan"].into_iter().enumerate() {
        let (status, body) = api(
            app.addr,
            &mut ada,
            "POST",
            "/api/rooms/ci/members",
            Some(json!({"user": who})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        witness
            .until("member_added", |events| events.len() > n)
            .await;
    }
    assert!(
        witness
            .accepted()
            .iter()
            .all(|e| e["name"] == "member_added"),
        "{:#?}",
        witness.accepted()
    );
    // Nothing more came to the occupancy hook meanwhile (the members are not its events).
    assert_eq!(occupancy(&receiver.accepted()), alternating(1, 2));
    assert_eq!(receiver.accepted().len(), 2);
    app.stop().await;
}

on_both_engines!(
    first_in_and_last_out,
    a_hook_hears_the_first_socket_arrive_and_the_last_one_leave_and_nothing_between_on_sqlite,
    a_hook_hears_the_first_socket_arrive_and_the_last_one_leave_and_nothing_between_on_postgres
);

/// A hook acts for whoever made it, as they are now: an owner removed from a private room hears no more
/// of who comes and goes there.
#[tokio::test]
async fn a_hook_whose_maker_lost_the_room_hears_no_more_occupancy() {
    let db = Database::sqlite();
    let (bobs, witness) = (Receiver::start(0).await, Receiver::start(0).await);
    let app = node(&db, &[&bobs, &witness]).await;
    let mut ada = room_of(&app, "ada", "vault", "private").await;
    let mut bob = person(app.addr, "bob").await;
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
        let (status, hook) = register(&app, who, Some("vault"), &receiver.url(), &OCCUPANCY).await;
        assert_eq!(status, 201, "{hook}");
    }
    // While bob is an owner, his hook hears a visit.
    ada.join_v2("/ws/chat/vault/")
        .await
        .expect("join")
        .close()
        .await;
    bobs.until("the first visit", has(2, "room_vacated")).await;
    witness
        .until("the first visit", has(2, "room_vacated"))
        .await;

    let (status, body) = api(
        app.addr,
        &mut ada,
        "DELETE",
        "/api/rooms/vault/members/bob",
        None,
    )
    .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    // Two more visits: the witness hears both; the pass that carried the last one came after every pass
    // that could have carried the second to bob's hook.
    for visit in [3, 5] {
        ada.join_v2("/ws/chat/vault/")
            .await
            .expect("join")
            .close()
            .await;
        witness
            .until("another visit", has(visit + 1, "room_vacated"))
            .await;
    }
    assert_eq!(occupancy(&witness.accepted()), alternating(1, 6));
    assert_eq!(
        occupancy(&bobs.accepted()),
        alternating(1, 2),
        "a hook whose maker may no longer read the room hears nothing more of it"
    );
    app.stop().await;
}

/// Waits until the database at `url` holds `n` claims (one per node holding a socket in a room).
async fn claims(url: &str, n: i64) {
    let backend = chatweb::storage::Store::connect(url)
        .await
        .expect("the test's database");
    let sql = "SELECT COUNT(*) FROM room_occupancy_claims";
    let deadline = tokio::time::Instant::now() + super::DEADLINE;
    loop {
        let held: i64 = match backend.db() {
            chatweb::storage::Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(&pool).await,
            chatweb::storage::Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(&pool).await,
        }
        .expect("claims");
        if held == n {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{held} claims, not {n}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    backend.close().await;
}

/// While no hook asks for occupancy, people coming and going write nothing (no claim, no event: the
/// churn of joins costs the store nothing); the first hook that asks hears the room from then on, its
/// first event numbered 1.
#[tokio::test]
async fn joins_and_leaves_before_any_hook_asks_for_occupancy_store_nothing() {
    let db = Database::sqlite();
    let receiver = Receiver::start(0).await;
    let app = node(&db, &[&receiver]).await;
    let mut ada = room_of(&app, "ada", "ci", "public").await;
    // A hook for messages only does not count.
    let (status, body) = register(
        &app,
        &mut ada,
        Some("ci"),
        &receiver.url(),
        &["member_added"],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for _ in 0..3 {
        let socket = ada.join_v2("/ws/chat/ci/").await.expect("join");
        socket.close().await;
    }
    // A socket held while the hook is registered: claimed at once (the registration turns the switch on
    // on this node), announced as the room's first event.
    let held = v2_guest(app.addr, "/ws/chat/ci/", "bob").await;
    let (status, hook) = register(&app, &mut ada, Some("ci"), &receiver.url(), &OCCUPANCY).await;
    assert_eq!(status, 201, "{hook}");
    let again = ada.join_v2("/ws/chat/ci/").await.expect("join");
    receiver
        .until("room_occupied", has(1, "room_occupied"))
        .await;
    claims(&db.url(), 1).await;
    held.close().await;
    again.close().await;
    let events = receiver.until("room_vacated", has(2, "room_vacated")).await;
    assert_eq!(occupancy(&events), alternating(1, 2));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_on_two_nodes_make_one_occupied_and_one_vacated() {
    let test = "occupancy_two_nodes";
    let Some(redis) = test_service("CHATWEB_TEST_REDIS_URL", test) else {
        return;
    };
    let Some(db) = crate::helpers::TestDatabase::create(test).await else {
        return;
    };
    let prefix = unique_prefix(test);
    let receiver = Receiver::start(0).await;
    let database = Database::Postgres(db);
    let on_redis = |config: &mut chatweb::config::Config| {
        let clustered = node_config(&config.database_url, &redis, &prefix);
        config.redis_url = clustered.redis_url;
        config.redis_prefix = clustered.redis_prefix;
    };
    let a = node_with(&database, &[&receiver], on_redis).await;
    let b = node_with(&database, &[&receiver], on_redis).await;
    let mut ada = room_of(&a, "ada", "ci", "public").await;
    let (status, hook) = register(&a, &mut ada, Some("ci"), &receiver.url(), &OCCUPANCY).await;
    assert_eq!(status, 201, "{hook}");

    let on_a = ada.join_v2("/ws/chat/ci/").await.expect("join a");
    receiver
        .until("room_occupied", has(1, "room_occupied"))
        .await;
    let on_b = v2_guest(b.addr, "/ws/chat/ci/", "bob").await;
    // Both nodes' claims are stored: the room is held on A and on B.
    claims(&database.url(), 2).await;
    on_a.close().await;
    claims(&database.url(), 1).await;
    on_b.close().await;
    let events = receiver.until("room_vacated", has(2, "room_vacated")).await;
    assert_eq!(occupancy(&events), alternating(1, 2));
    let ids: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "each once: {events:#?}");
    a.stop().await;
    b.stop().await;
    database.done().await;
}

/// A node killed (SIGKILL: no goodbye to anyone) while it holds a room's only socket: another node vacates
/// the room once the dead node's claim has run out (`--presence-ttl-secs`), not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_holding_the_only_socket_has_its_room_vacated_after_the_ttl() {
    let test = "occupancy_killed_node";
    let Some(redis) = test_service("CHATWEB_TEST_REDIS_URL", test) else {
        return;
    };
    let Some(db) = crate::helpers::TestDatabase::create(test).await else {
        return;
    };
    let prefix = unique_prefix(test);
    let receiver = Receiver::start(0).await;
    let database = Database::Postgres(db);
    let a = node_with(&database, &[&receiver], |config| {
        let clustered = node_config(&config.database_url, &redis, &prefix);
        config.redis_url = clustered.redis_url;
        config.redis_prefix = clustered.redis_prefix;
        config.presence_ttl_secs = 2;
    })
    .await;
    let mut ada = room_of(&a, "ada", "ci", "public").await;
    let (status, hook) = register(&a, &mut ada, Some("ci"), &receiver.url(), &OCCUPANCY).await;
    assert_eq!(status, 201, "{hook}");
    // B sends no webhooks (its sender's next look is an hour away, and the hook did not exist at its
    // first): A holds the hook's lease and survives.
    let url = database.url();
    let mut b = ProcessNode::start_with(&[
        "--database-url",
        &url,
        "--redis-url",
        &redis,
        "--redis-prefix",
        &prefix,
        "--presence-ttl-secs",
        "2",
        "--webhook-poll-ms",
        "3600000",
    ]);
    let b_addr = b.addr().await;
    let on_b = v2_guest(b_addr, "/ws/chat/ci/", "bob").await;
    receiver
        .until("room_occupied", has(1, "room_occupied"))
        .await;
    let killed = std::time::Instant::now();
    drop(b); // SIGKILL
    drop(on_b);
    let events = receiver.until("room_vacated", has(2, "room_vacated")).await;
    assert!(
        killed.elapsed() >= std::time::Duration::from_secs(1),
        "not before the claim ran out: {:?}",
        killed.elapsed()
    );
    assert_eq!(occupancy(&events), alternating(1, 2));
    a.stop().await;
    database.done().await;
}

/// A node that stops gracefully lets go of its rooms at once: no wait for a TTL.
async fn a_stopping_node_vacates_its_rooms(db: &Database) {
    let receiver = Receiver::start(0).await;
    let app = node(db, &[&receiver]).await;
    let mut ada = room_of(&app, "ada", "ci", "public").await;
    let (status, hook) = register(&app, &mut ada, Some("ci"), &receiver.url(), &OCCUPANCY).await;
    assert_eq!(status, 201, "{hook}");
    let _socket = ada.join_v2("/ws/chat/ci/").await.expect("join");
    receiver
        .until("room_occupied", has(1, "room_occupied"))
        .await;
    app.stop().await;
    // The next node (the presence TTL is the default 45 s: only a release explains a vacated room now)
    // delivers what the stopped one wrote.
    let next = node(db, &[&receiver]).await;
    let events = receiver.until("room_vacated", has(2, "room_vacated")).await;
    // At least once: the stop may cut the sender between the receiver's answer and its record, and the
    // next node sends that batch again, with the same `event_id`.
    let mut seen = std::collections::HashSet::new();
    let once: Vec<Value> = events
        .into_iter()
        .filter(|e| seen.insert(e["event_id"].to_string()))
        .collect();
    assert_eq!(occupancy(&once), alternating(1, 2));
    next.stop().await;
}

on_both_engines!(
    a_stopping_node_vacates_its_rooms,
    a_node_that_stops_lets_go_of_its_rooms_at_once_on_sqlite,
    a_node_that_stops_lets_go_of_its_rooms_at_once_on_postgres
);

/// Applies `claims` to room `room_id` all at once.
async fn settle_all(
    store: &chatweb::storage::Db,
    room_id: i64,
    now: i64,
    claims: Vec<chatweb::storage::Claim<'_>>,
) -> Vec<chatweb::storage::Transition> {
    let settles = claims.into_iter().map(|claim| {
        let store = store.clone();
        async move { store.settle(room_id, claim, now).await.expect("settle") }
    });
    futures_util::future::join_all(settles).await
}

/// The store's side, with ten nodes at once: whatever the interleaving, one occupied when the first claims
/// and one vacated when the last lets go; a claim that runs out vacates the room at the first look after.
async fn ten_nodes_claiming_at_once_make_one_event_each_way(db: &Database) {
    use chatweb::storage::{Claim, Store, Transition};
    let backend = Store::connect(&db.url()).await.expect("store");
    let store = backend.db();
    let sql = "INSERT INTO rooms (name, last_seq, updated_at) VALUES ('busy', 0, 0) RETURNING id";
    let room_id: i64 = match &store {
        chatweb::storage::Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        chatweb::storage::Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .expect("a room");
    let now = chatweb::storage::now_ms();
    let nodes: Vec<String> = (0..10).map(|n| format!("node-{n}")).collect();
    let held = settle_all(
        &store,
        room_id,
        now,
        nodes
            .iter()
            .map(|node| Claim::Hold {
                node,
                expires_ms: now + 10_000,
            })
            .collect(),
    )
    .await;
    let changed: Vec<Transition> = held
        .into_iter()
        .filter(|t| *t != Transition::Unchanged)
        .collect();
    assert_eq!(changed, [Transition::Occupied(1)]);
    let released = settle_all(
        &store,
        room_id,
        now,
        nodes.iter().map(|node| Claim::Release { node }).collect(),
    )
    .await;
    let changed: Vec<Transition> = released
        .into_iter()
        .filter(|t| *t != Transition::Unchanged)
        .collect();
    assert_eq!(changed, [Transition::Vacated(2)]);

    // A node that dies holding the room: nothing before its claim runs out, vacated at the first look after.
    let dead = Claim::Hold {
        node: "dead",
        expires_ms: now + 1_000,
    };
    assert_eq!(
        store.settle(room_id, dead, now).await.expect("hold"),
        Transition::Occupied(3)
    );
    assert!(
        store
            .abandoned_rooms(now + 500, 10)
            .await
            .expect("abandoned")
            .is_empty()
    );
    assert_eq!(
        store
            .abandoned_rooms(now + 1_001, 10)
            .await
            .expect("abandoned"),
        [room_id]
    );
    assert_eq!(
        store
            .settle(room_id, Claim::Expire, now + 500)
            .await
            .expect("look"),
        Transition::Unchanged
    );
    assert_eq!(
        store
            .settle(room_id, Claim::Expire, now + 1_001)
            .await
            .expect("look"),
        Transition::Vacated(4)
    );
    let events = store.occupancy_after(room_id, 0, 10).await.expect("events");
    let names: Vec<(u64, &str)> = events.iter().map(|e| (e.seq, e.name.as_str())).collect();
    assert_eq!(
        names,
        [
            (1, "room_occupied"),
            (2, "room_vacated"),
            (3, "room_occupied"),
            (4, "room_vacated")
        ]
    );
    // No hook wants them: the outbox keeps none.
    assert_eq!(store.prune_occupancy(0).await.expect("prune"), 4);
    backend.close().await;
}

on_both_engines!(
    ten_nodes_claiming_at_once_make_one_event_each_way,
    ten_nodes_claiming_a_room_at_once_store_one_occupied_and_one_vacated_on_sqlite,
    ten_nodes_claiming_a_room_at_once_store_one_occupied_and_one_vacated_on_postgres
);

/// One node on SQLite, killed (SIGKILL) while a socket holds a room, then started again: presence is empty
/// at boot, and the room the store says is occupied is vacated once the dead process's claim has run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_and_restarted_vacates_the_room_it_held_after_the_ttl() {
    let db = Database::sqlite();
    let receiver = Receiver::start(0).await;
    let url = db.url();
    let hosts = receiver.addr.to_string();
    // Its sender looks for hooks once at start (there are none yet), then not for an hour: the hook's lease
    // stays free for the node that comes after.
    let mut first = ProcessNode::start_with(&[
        "--database-url",
        &url,
        "--presence-ttl-secs",
        "2",
        "--webhook-poll-ms",
        "3600000",
        "--webhook-hosts",
        &hosts,
    ]);
    let addr = first.addr().await;
    let mut ada = person(addr, "ada").await;
    let (status, body) = api(
        addr,
        &mut ada,
        "POST",
        "/api/rooms/",
        Some(json!({"name": "ci", "kind": "public"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let events = json!({"url": receiver.url(), "events": OCCUPANCY});
    let (status, body) = api(
        addr,
        &mut ada,
        "POST",
        "/api/rooms/ci/hooks/outgoing",
        Some(events),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let socket = v2_guest(addr, "/ws/chat/ci/", "bob").await;
    claims(&url, 1).await;
    let killed = std::time::Instant::now();
    drop(first); // SIGKILL: no goodbye, the claim stays behind
    drop(socket);
    let again = node_with(&db, &[&receiver], |config| config.presence_ttl_secs = 2).await;
    let events = receiver.until("room_vacated", has(2, "room_vacated")).await;
    assert!(
        killed.elapsed() >= std::time::Duration::from_secs(1),
        "not before the claim ran out: {:?}",
        killed.elapsed()
    );
    assert_eq!(occupancy(&events), alternating(1, 2));
    again.stop().await;
}
