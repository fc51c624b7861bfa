//! What reaches the other nodes when a PUBLISH is lost (the quiet room heals within the period) or when a
//! node stops (it drains its outbox).

use std::time::Duration;

use chatweb::config::Config;
use tokio::time::Instant;

use super::{join_and_echo, redis_addr, redis_url};
use crate::helpers::{
    TcpProxy, TestDatabase, node_config, spawn_app_with, test_config, unique_prefix,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_publish_in_a_quiet_room_heals_on_the_other_node_within_the_period() {
    const PERIOD: Duration = Duration::from_millis(300);
    let Some(redis) = redis_url("lost_publish") else {
        return;
    };
    let Some(db) = TestDatabase::create("lost_publish").await else {
        return;
    };
    let prefix = unique_prefix("lost_publish");
    let b = spawn_app_with(Config {
        redis_heal_ms: PERIOD.as_millis() as u64,
        ..node_config(&db.url, &redis, &prefix)
    })
    .await;
    // A node that commits to the same store but whose PUBLISH never reaches Redis (as if it crashed
    // between the two): nothing but the heads check can tell B.
    let silent = spawn_app_with(test_config(db.url.clone())).await;
    let mut reader = join_and_echo(&b, "quiet").await;
    let mut writer = silent.join("quiet").await;
    assert_eq!(writer.next_message().await["id"], 1, "history");
    let started = Instant::now();
    writer.say("never published").await;
    let got = reader.next_message().await;
    assert_eq!(
        (got["id"].as_u64(), got["message"].as_str()),
        (Some(2), Some("never published"))
    );
    let took = started.elapsed();
    assert!(
        took < 2 * PERIOD + Duration::from_secs(1),
        "healed after {took:?}, more than two periods of {PERIOD:?}"
    );
    silent.stop().await;
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_drains_its_outbox_to_the_other_nodes() {
    let Some(redis) = redis_url("drain") else {
        return;
    };
    let Some(db) = TestDatabase::create("drain").await else {
        return;
    };
    let prefix = unique_prefix("drain");
    let proxy = TcpProxy::start(redis_addr(&redis).await).await;
    let no_heal = |url: &str| Config {
        redis_heal_ms: 3_600_000,
        ..node_config(&db.url, url, &prefix)
    };
    let a = spawn_app_with(no_heal(&format!("redis://127.0.0.1:{}", proxy.port))).await;
    let b = spawn_app_with(no_heal(&redis)).await;
    let mut reader = join_and_echo(&b, "tail").await;
    let mut sender = join_and_echo(&a, "tail").await;
    assert_eq!(reader.next_message().await["id"], 2, "the live path works");
    // A cannot publish: its last message waits in the outbox.
    proxy.cut();
    assert_eq!(sender.send_acked("last words", 1).await, [3]);
    proxy.restore();
    // A stops at once; its drain publishes what waited, before the layer stops.
    a.stop().await;
    let got = reader.next_message().await;
    assert_eq!(
        (got["id"].as_u64(), got["message"].as_str()),
        (Some(3), Some("last words-0"))
    );
    b.stop().await;
    db.drop_database().await;
}
