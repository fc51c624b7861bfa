//! A payload of another cluster on the same channel is ignored.

use chatweb::config::Config;
use serde_json::json;

use super::{join_and_echo, redis_url};
use crate::helpers::{TempDir, node_config, spawn_app_with, unique_prefix};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_clusters_payload_on_the_same_channel_is_ignored() {
    let Some(redis) = redis_url("foreign_cluster") else {
        return;
    };
    let dir = TempDir::new();
    let prefix = unique_prefix("foreign_cluster");
    let app = spawn_app_with(Config {
        cluster_id: Some("blue".into()),
        ..node_config(&dir.sqlite_url(), &redis, &prefix)
    })
    .await;
    let mut member = join_and_echo(&app, "mixed").await;
    let client = ::redis::Client::open(redis.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to redis");
    let frame = |text: &str| {
        json!({"type": "message", "id": 2, "ts": "2026-01-01T00:00:00Z", "user": "mallory",
               "message": text, "history": false})
    };
    let channel = format!("{prefix}:room:mixed");
    // Another deployment on the same prefix, then a payload of ours naming another room: both ignored.
    // Then one from another node of this cluster, on the same channel: delivered, so the others were seen.
    for payload in [
        format!("green 1 mixed 2 p {}", frame("intruder")),
        format!("blue 1 other 2 p {}", frame("elsewhere")),
        format!("blue 1 mixed 2 p {}", frame("relayed")),
    ] {
        let receivers: i64 = ::redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async(&mut conn)
            .await
            .expect("publish");
        assert_eq!(receivers, 1, "the node is subscribed");
    }
    let got = member.next_message().await;
    assert_eq!(
        (got["id"].as_u64(), got["message"].as_str()),
        (Some(2), Some("relayed"))
    );
    app.stop().await;
}
