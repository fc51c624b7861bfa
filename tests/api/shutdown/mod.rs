//! Graceful stop: every socket gets close 1001, sends already accepted are answered and stored; clients
//! holding requests half-sent cannot hold a stop up (`half_open`).

mod half_open;

use crate::helpers::{ProcessNode, TempDir, connect, ids, spawn_app};

#[tokio::test]
async fn stopping_closes_sockets_with_1001_and_keeps_every_acked_message() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut sender = app.join("bye").await;
    let mut idle = app.join("bye").await;
    // Every ack received: all twenty are stored.
    sender.send_acked("m", 20).await;
    app.stop().await;
    assert_eq!(idle.closed().await, Some(1001));
    assert_eq!(sender.closed().await, Some(1001));

    let app = spawn_app(&dir).await;
    let mut back = app.join_path("/ws/chat/bye/?since=0", None).await;
    assert_eq!(
        ids(&back.messages(20).await),
        (1..=20).collect::<Vec<u64>>()
    );
    app.stop().await;
}

#[tokio::test]
async fn sigterm_stops_the_binary_cleanly_and_every_acked_message_is_in_history() {
    const N: usize = 200;
    let dir = TempDir::new();
    let mut node = ProcessNode::start(&dir);
    let addr = node.addr().await;
    let mut sender = connect(addr, "/ws/chat/term/").await;
    sender.send_acked("m", N).await;
    let status = node.terminate();
    assert!(status.success(), "exit status {status}");
    assert_eq!(sender.closed().await, Some(1001));

    let app = spawn_app(&dir).await;
    let mut back = app.join_path("/ws/chat/term/?since=0", None).await;
    assert_eq!(
        ids(&back.messages(N).await),
        (1..=N as u64).collect::<Vec<u64>>()
    );
    app.stop().await;
}
