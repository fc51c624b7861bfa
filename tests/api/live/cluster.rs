//! Presence across nodes on the real Redis: people on either node see each other, leaving is heard on
//! the other node, and a node that stops heartbeating (it died) has its people expire.

use serde_json::json;

use super::v2_guest;
use crate::services::{node_config, test_service, two_nodes, unique_prefix};

#[tokio::test]
async fn presence_and_typing_span_two_nodes() {
    let Some((db, a, b)) = two_nodes("presence_and_typing_span_two_nodes").await else {
        return;
    };
    let mut ada = v2_guest(a.addr, "/ws/chat/hall/", "ada").await;
    ada.next_of_type("presence").await;
    let mut bob = v2_guest(b.addr, "/ws/chat/hall/", "bob").await;
    // bob's node learns of ada at once (it asks the others when it starts serving the room): in the
    // snapshot or as a join right after it.
    let snapshot = bob.next_of_type("presence").await;
    let listed = snapshot["users"]
        .as_array()
        .expect("users")
        .iter()
        .any(|u| u["user"] == "ada");
    if !listed {
        let join = bob.next_of_type("join").await;
        assert_eq!(join["user"], "ada");
    }
    assert_eq!(ada.next_of_type("join").await["user"], "bob");
    bob.send_json(json!({"type": "typing"})).await;
    assert_eq!(ada.next_of_type("typing").await["user"], "bob");
    // bob opens a tab on node a too, then closes the one on b: still here; then the last one: gone.
    let mut bob_on_a = v2_guest(a.addr, "/ws/chat/hall/", "bob").await;
    bob_on_a.next_of_type("presence").await;
    bob.close().await;
    bob_on_a.close().await;
    let leave = ada.next_of_type("leave").await;
    assert_eq!(leave["user"], "bob");
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn a_node_that_stops_heartbeating_has_its_people_expire() {
    let test = "a_node_that_stops_heartbeating_has_its_people_expire";
    let Some(redis_url) = test_service("CHATWEB_TEST_REDIS_URL", test) else {
        return;
    };
    let Some(db) = crate::services::TestDatabase::create(test).await else {
        return;
    };
    let prefix = unique_prefix(test);
    let config = chatweb::config::Config {
        presence_ttl_secs: 2,
        cluster_id: Some("ghost-test".into()),
        ..node_config(&db.url, &redis_url, &prefix)
    };
    let node = crate::helpers::spawn_app_with(config).await;
    let mut ada = v2_guest(node.addr, "/ws/chat/hall/", "ada").await;
    ada.next_of_type("presence").await;
    // A node that says it holds "ghost", then dies (never heartbeats again): the test plays it on Redis.
    let client = redis::Client::open(redis_url.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _: i64 = redis::cmd("PUBLISH")
        .arg(format!("{prefix}:room:hall"))
        .arg(r#"ghost-test abcdef hall 0 n {"op":"join","m":{"user":"ghost","guest":true}}"#)
        .query_async(&mut conn)
        .await
        .expect("publish");
    assert_eq!(ada.next_of_type("join").await["user"], "ghost");
    let started = std::time::Instant::now();
    assert_eq!(ada.next_of_type("leave").await["user"], "ghost");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "not before its claim expired"
    );
    node.stop().await;
    db.drop_database().await;
}
