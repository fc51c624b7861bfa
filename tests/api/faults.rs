//! Faults: Redis restarted mid-conversation, PostgreSQL unreachable, readiness following both. Each test
//! breaks only what it started itself: its own redis-server, or a proxy in front of the shared PostgreSQL.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    PATIENCE, RedisServer, TcpProxy, TestApp, TestDatabase, ids, node_config, spawn_app_with,
    test_config, unique_prefix,
};

/// Polls `/readyz` until it answers `status` (bounded): readiness has no push notification.
async fn wait_ready(app: &TestApp, status: u16) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        if app.get("/readyz", None).await.status() == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never answered {status}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_conversation_loses_nothing_on_either_node() {
    let Some(mut redis) = RedisServer::start("redis_restart").await else {
        return;
    };
    let Some(db) = TestDatabase::create("redis_restart").await else {
        return;
    };
    let prefix = unique_prefix("redis_restart");
    let a = spawn_app_with(node_config(&db.url, &redis.url(), &prefix)).await;
    let b = spawn_app_with(node_config(&db.url, &redis.url(), &prefix)).await;
    let (mut on_a, mut on_b) = (a.join("storm").await, b.join("storm").await);
    let (mut send_a, mut send_b) = (a.join("storm").await, b.join("storm").await);

    send_a.send_acked("before", 10).await;
    assert_eq!(
        ids(&on_b.messages(10).await),
        (1..=10).collect::<Vec<u64>>()
    );

    // Redis goes away; both nodes keep serving their own clients and storing everything.
    redis.stop();
    send_a.send_acked("during-a", 5).await;
    send_b.send_acked("during-b", 5).await;

    // Redis comes back: the nodes reconnect and resync, and every client on either node ends with
    // every message exactly once, in order.
    redis.restart().await;
    assert_eq!(
        ids(&on_a.messages(20).await),
        (1..=20).collect::<Vec<u64>>()
    );
    assert_eq!(
        ids(&on_b.messages(10).await),
        (11..=20).collect::<Vec<u64>>()
    );

    // And live traffic crosses nodes again.
    wait_ready(&a, 200).await;
    wait_ready(&b, 200).await;
    on_b.say("after").await;
    assert_eq!(on_a.next_message().await["id"], 21);
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_unready_while_redis_is_down_and_ready_after() {
    let Some(mut redis) = RedisServer::start("readyz_redis").await else {
        return;
    };
    let dir = crate::helpers::TempDir::new();
    let config = chatweb::config::Config {
        redis_url: Some(redis.url()),
        redis_prefix: unique_prefix("readyz_redis"),
        ..test_config(dir.sqlite_url())
    };
    let app = spawn_app_with(config).await;
    wait_ready(&app, 200).await;
    redis.stop();
    wait_ready(&app, 503).await;
    let body = app.get("/readyz", None).await.text().await.expect("body");
    assert!(
        body.contains("layer down") && body.contains("store up"),
        "{body}"
    );
    assert_eq!(
        app.get("/healthz", None).await.status(),
        200,
        "alive all along"
    );
    redis.restart().await;
    wait_ready(&app, 200).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_gets_error_frames_and_the_node_recovers() {
    let Some(db) = TestDatabase::create("postgres_down").await else {
        return;
    };
    // The node reaches PostgreSQL through a proxy this test can cut.
    let (server, name) = db.url.rsplit_once('/').expect("database url");
    let host = server.rsplit('@').next().expect("host");
    let target = tokio::net::lookup_host(host)
        .await
        .expect("resolve")
        .next()
        .expect("address");
    let proxy = TcpProxy::start(target).await;
    let user = server
        .split("://")
        .nth(1)
        .and_then(|s| s.split('@').next())
        .unwrap_or("postgres");
    let proxied = format!("postgres://{user}@127.0.0.1:{}/{name}", proxy.port);
    let app = spawn_app_with(test_config(proxied)).await;
    let mut client = app.join("fragile").await;
    client.send_acked("ok", 1).await;
    assert_eq!(client.next_message().await["id"], 1);

    proxy.cut();
    client
        .send_json(json!({"message": "lost?", "client_id": "retry-me"}))
        .await;
    let error = client.next_json().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["code"], "store_unavailable");
    assert_eq!(error["client_id"], "retry-me");
    wait_ready(&app, 503).await;
    assert_eq!(
        app.get("/healthz", None).await.status(),
        200,
        "the node stays up"
    );

    proxy.restore();
    wait_ready(&app, 200).await;
    client
        .send_json(json!({"message": "lost?", "client_id": "retry-me"}))
        .await;
    let mut frames = [client.next_json().await, client.next_json().await];
    frames.sort_by_key(|f| f["type"].as_str().map(str::to_owned));
    assert_eq!(
        (frames[0]["type"].as_str(), frames[0]["id"].as_u64()),
        (Some("ack"), Some(2))
    );
    assert_eq!(frames[1]["message"], "lost?");
    app.stop().await;
    drop(proxy);
    db.drop_database().await;
}
