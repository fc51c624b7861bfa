//! A stuck Redis: joins complete within their bound, and readiness probes reuse one connection.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{StallProxy, join_and_echo, redis_addr, redis_url, wait_ready};
use crate::helpers::{TempDir, node_config, spawn_app_with, unique_prefix};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_complete_within_the_bound_while_redis_is_stuck() {
    const JOINS: usize = 20;
    // A join waits at most JOIN_WAIT (2 s) for Redis; the rest is the handshake and one echo.
    const BOUND: Duration = Duration::from_secs(4);
    let Some(redis) = redis_url("stuck_redis") else {
        return;
    };
    let proxy = StallProxy::start(redis_addr(&redis).await).await;
    let dir = TempDir::new();
    let app = Arc::new(
        spawn_app_with(node_config(
            &dir.sqlite_url(),
            &proxy.url(),
            &unique_prefix("stuck_redis"),
        ))
        .await,
    );
    wait_ready(&app, 200).await;
    let mut before = join_and_echo(&app, "before").await;
    proxy.stall(true);
    // Joins of rooms never subscribed, at once and then one by one across several reconnect attempts.
    let started = Instant::now();
    let mut joins = Vec::new();
    for i in 0..JOINS {
        let app = app.clone();
        joins.push(tokio::spawn(async move {
            let started = Instant::now();
            let client = join_and_echo(&app, &format!("stuck{i}")).await;
            (started.elapsed(), client)
        }));
    }
    let mut clients = Vec::new();
    for join in joins {
        let (took, client) = join.await.expect("join");
        assert!(took < BOUND, "a join took {took:?} while redis was stuck");
        clients.push(client);
    }
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
    for i in 0..8 {
        let started = Instant::now();
        clients.push(join_and_echo(&app, &format!("later{i}")).await);
        let took = started.elapsed();
        assert!(took < BOUND, "join {i} took {took:?} while redis was stuck");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The room joined before keeps working locally, and everything recovers once Redis answers.
    before.say("still here").await;
    assert_eq!(before.next_message().await["message"], "still here");
    proxy.stall(false);
    wait_ready(&app, 200).await;
    drop(clients);
    let app = Arc::into_inner(app).expect("joins done");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_readiness_probes_reuse_one_redis_connection() {
    let Some(redis) = redis_url("readyz_reuse") else {
        return;
    };
    let proxy = StallProxy::start(redis_addr(&redis).await).await;
    let dir = TempDir::new();
    let app = spawn_app_with(node_config(
        &dir.sqlite_url(),
        &proxy.url(),
        &unique_prefix("readyz_reuse"),
    ))
    .await;
    wait_ready(&app, 200).await;
    let opened = proxy.accepted();
    // Sequential probes across more than a second (the answer is reused for one), at least 60 of them
    // however slow the machine, then a burst at once.
    let deadline = Instant::now() + Duration::from_millis(2500);
    let mut probes = 0;
    while probes < 60 || Instant::now() < deadline {
        assert_eq!(app.get("/readyz", None).await.status(), 200);
        probes += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let burst: Vec<_> = (0..50)
        .map(|_| {
            let url = app.url("/readyz");
            tokio::spawn(async move { reqwest::get(url).await.expect("probe").status() })
        })
        .collect();
    for probe in burst {
        assert_eq!(probe.await.expect("probe task"), 200);
    }
    let new = proxy.accepted() - opened;
    assert!(
        new <= 1,
        "{} probes opened {new} redis connections",
        probes + 50
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_subscriber_link_is_noticed_and_replaced() {
    let Some(redis) = redis_url("cut_subscriber") else {
        return;
    };
    let proxy = StallProxy::start(redis_addr(&redis).await).await;
    let dir = TempDir::new();
    let app = spawn_app_with(node_config(
        &dir.sqlite_url(),
        &proxy.url(),
        &unique_prefix("cut_subscriber"),
    ))
    .await;
    wait_ready(&app, 200).await;
    let mut client = join_and_echo(&app, "cut").await;
    // The link goes silent (nothing refused, nothing arrives). Nothing is published or probed meanwhile:
    // only the subscriber's own liveness check can notice, and it opens a new connection.
    let opened = proxy.accepted();
    proxy.stall(true);
    let cut = Instant::now();
    while proxy.accepted() == opened {
        assert!(
            cut.elapsed() < Duration::from_secs(10),
            "the subscriber never noticed the cut"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let noticed = cut.elapsed();
    assert!(
        noticed < Duration::from_secs(8),
        "noticed after {noticed:?}"
    );
    proxy.stall(false);
    wait_ready(&app, 200).await;
    client.say("after the cut").await;
    assert_eq!(client.next_message().await["message"], "after the cut");
    app.stop().await;
}
