//! Keepalive: a peer that answers pings stays, one that cannot answer is closed.

use std::time::Duration;

use chatweb::stats::Stats;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{PATIENCE, TempDir, spawn_app_with, test_config};

fn config(dir: &TempDir) -> chatweb::config::Config {
    chatweb::config::Config {
        keepalive_secs: 1,
        ..test_config(dir.sqlite_url())
    }
}

#[tokio::test]
async fn a_peer_that_never_answers_pings_is_closed() {
    let dir = TempDir::new();
    let app = spawn_app_with(config(&dir)).await;
    // A raw socket: handshake, then read bytes without ever answering a ping.
    let mut socket = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let request = format!(
        "GET /ws/chat/quiet/ HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        addr = app.addr
    );
    socket
        .write_all(request.as_bytes())
        .await
        .expect("handshake");
    let mut received = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 512];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server closed the silent peer");
    assert!(received.starts_with(b"HTTP/1.1 101"));
    assert!(
        received.windows(2).any(|w| w == [0x89, 0x00]),
        "pings were sent"
    );
    assert_eq!(Stats::get(&app.stats.keepalive_closes), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_peer_that_answers_pings_stays_connected_while_idle() {
    let dir = TempDir::new();
    let app = spawn_app_with(config(&dir)).await;
    let mut client = app.join("idle").await;
    // Being idle for more than twice the keepalive is the thing under test.
    let idle = tokio::time::timeout(Duration::from_millis(2500), client.next_json()).await;
    assert!(idle.is_err(), "nothing but pings arrives while idle");
    client.say("still here").await;
    assert_eq!(client.next_message().await["message"], "still here");
    assert_eq!(Stats::get(&app.stats.keepalive_closes), 0);
    app.stop().await;
}
