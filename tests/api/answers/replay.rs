//! A long replay answers the sender's acks and pings between its pages, not after them.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use chatweb::domain::{ClientIdOwner, MessageBody, RoomName, Username};
use chatweb::storage::{NewMessage, Store};

use super::Db;
use crate::helpers::{PATIENCE, spawn_app_with};

/// A room of many thousand messages; a client resumes from 0 and at once sends a message and a ping: the
/// ack and the pong come while the replay is still going, not after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_replay_lets_the_senders_ack_and_pong_through() {
    const ROOM_SIZE: u64 = 30_000;
    let db = Db::sqlite();
    fill(&db.url(), "long", ROOM_SIZE).await;
    let app = spawn_app_with(db.config()).await;
    let mut ws = raw_socket(app.addr, "/ws/chat/long/?since=0").await;
    let send = json!({"message": "mine", "client_id": "mine"}).to_string();
    ws.send(Message::text(send)).await.expect("send");
    ws.send(Message::Ping(Bytes::from_static(b"still there?")))
        .await
        .expect("ping");

    // How many history messages had arrived when the ack and the pong did.
    let (mut replayed, mut ack_at, mut pong_at, mut own) = (0_u64, None, None, None);
    while replayed < ROOM_SIZE || ack_at.is_none() || pong_at.is_none() || own.is_none() {
        let frame = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame");
        match frame {
            Message::Text(text) => {
                let frame: Value = serde_json::from_str(&text).expect("json");
                match frame["type"].as_str() {
                    Some("message") if frame["message"] == "mine" => own = frame["id"].as_u64(),
                    Some("message") => {
                        replayed += 1;
                        assert_eq!(frame["id"], replayed, "in order");
                    }
                    Some("ack") => ack_at = Some(replayed),
                    _ => panic!("unexpected {frame}"),
                }
            }
            Message::Pong(payload) => {
                assert_eq!(&payload[..], b"still there?");
                pong_at = Some(replayed);
            }
            _ => {}
        }
    }
    let (ack_at, pong_at) = (ack_at.expect("ack"), pong_at.expect("pong"));
    assert!(
        ack_at < ROOM_SIZE,
        "the ack came after {ack_at} of {ROOM_SIZE} replayed messages"
    );
    assert!(
        pong_at < ROOM_SIZE,
        "the pong came after {pong_at} of {ROOM_SIZE} replayed messages"
    );
    assert_eq!(
        own,
        Some(ROOM_SIZE + 1),
        "the own message follows the replay"
    );
    app.stop().await;
}

/// Writes `count` messages to `room` straight through the store, before the node starts.
async fn fill(url: &str, room: &str, count: u64) {
    const BATCH: u64 = 2_000;
    let store = Store::connect(url).await.expect("store");
    let room = RoomName::parse(room).expect("room");
    let author = Username::parse("ada").expect("user");
    for start in (0..count).step_by(BATCH as usize) {
        let batch: Vec<_> = (start..count.min(start + BATCH))
            .map(|i| NewMessage {
                bot: false,
                room: room.clone(),
                author: author.clone(),
                body: MessageBody::parse(&format!("old-{i}"), 64).expect("body"),
                client_id: None,
                owner: ClientIdOwner::import(),
                author_id: None,
                reply_to: None,
                mentions: Default::default(),
                files: Default::default(),
            })
            .collect();
        let outcomes = store.append(&batch, 1).await.expect("append");
        assert!(outcomes.iter().all(Result::is_ok));
    }
    store.close().await;
}

/// A socket of the room at `path` without the test client's handling of pings and pongs.
async fn raw_socket(
    addr: SocketAddr,
    path: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&format!("http://{addr}")).expect("origin"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake")
        .0
}
