//! Defects 1, 10 and 12 of issue 10: what a sender is told. U+0000 is refused at validation with its own
//! code; a message the database refuses fails alone, never its batch (SQLite and PostgreSQL); a long
//! replay answers the sender's acks and pings between pages; a send whose outcome is not known at shutdown
//! is not called failed; and the answers to one connection's frames keep their order.
//!
//! To hold several sends in one batch, a test "plugs" the store writer from outside chatweb: it takes the
//! database's write lock (SQLite) or the room's row lock (PostgreSQL), so the writer's current batch waits
//! on it and everything sent meanwhile queues for the next one. A `typing` frame after each send shows the
//! connection has handed the send to the writer: the connection's own typing event comes back only once
//! the frames before it were handled.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use chatweb::config::Config;
use chatweb::domain::{ClientIdOwner, MessageBody, RoomName, Username};
use chatweb::storage::{NewMessage, Store};

use crate::helpers::{
    Client, PATIENCE, TempDir, TestApp, TestDatabase, ids, is_answer, spawn_app_with, test_config,
    texts,
};
use crate::live::v2_guest;

/// The text the database is made to refuse (validation lets it through).
const REFUSED: &str = "the database refuses this one";

/// A database for one test: a SQLite file, or a fresh PostgreSQL database.
enum Db {
    Sqlite(TempDir),
    Postgres(TestDatabase),
}

impl Db {
    fn sqlite() -> Self {
        Self::Sqlite(TempDir::new())
    }

    /// `None` (skip) without `CHATWEB_TEST_DATABASE_URL`, except on CI.
    async fn postgres(test: &str) -> Option<Self> {
        Some(Self::Postgres(TestDatabase::create(test).await?))
    }

    fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => dir.sqlite_url(),
            Self::Postgres(db) => db.url.clone(),
        }
    }

    fn config(&self) -> Config {
        test_config(self.url())
    }

    /// Makes the database itself refuse every message whose text is [`REFUSED`], from outside chatweb:
    /// a trigger on SQLite, a check constraint on PostgreSQL. Call it once the schema exists.
    async fn refuse_one_text(&self) {
        match self {
            Self::Sqlite(dir) => {
                let mut db = sqlx::SqliteConnection::connect(&dir.sqlite_url())
                    .await
                    .expect("connect");
                let sql = format!(
                    "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.body = '{REFUSED}' \
                     BEGIN SELECT RAISE(ABORT, 'refused'); END"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut db)
                    .await
                    .expect("trigger");
                db.close().await.expect("close");
            }
            Self::Postgres(pg) => {
                let mut db = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
                let sql = format!(
                    "ALTER TABLE messages ADD CONSTRAINT refuse CHECK (body <> '{REFUSED}')"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut db)
                    .await
                    .expect("constraint");
                db.close().await.expect("close");
            }
        }
    }

    /// Holds up the store writer's next write to `room` (which must exist) until [`Plug::release`].
    async fn plug(&self, room: &str) -> Plug {
        match self {
            Self::Sqlite(dir) => {
                let mut db = sqlx::SqliteConnection::connect(&dir.sqlite_url())
                    .await
                    .expect("connect");
                // The writer waits on the lock (its busy timeout is 5 s) rather than failing.
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut db)
                    .await
                    .expect("write lock");
                Plug::Sqlite(db)
            }
            Self::Postgres(pg) => {
                let mut db = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
                sqlx::query("BEGIN").execute(&mut db).await.expect("begin");
                let locked: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM rooms WHERE name = $1 FOR UPDATE")
                        .bind(room)
                        .fetch_optional(&mut db)
                        .await
                        .expect("row lock");
                assert!(locked.is_some(), "the room exists before it is plugged");
                Plug::Postgres(db)
            }
        }
    }

    async fn done(self) {
        if let Self::Postgres(db) = self {
            db.drop_database().await;
        }
    }
}

/// A lock held on the database from outside chatweb.
enum Plug {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Plug {
    async fn release(self) {
        match self {
            Self::Sqlite(mut db) => {
                sqlx::query("COMMIT")
                    .execute(&mut db)
                    .await
                    .expect("unlock");
                db.close().await.expect("close");
            }
            Self::Postgres(mut db) => {
                sqlx::query("COMMIT")
                    .execute(&mut db)
                    .await
                    .expect("unlock");
                db.close().await.expect("close");
            }
        }
    }
}

/// Sends `typing` and waits for `nickname`'s own typing event: every frame `client` sent before it has
/// been handled (a send is queued on the writer). Returns the frames read meanwhile.
async fn handled(client: &mut Client, nickname: &str) -> Vec<Value> {
    client.send_json(json!({"type": "typing"})).await;
    let mut seen = Vec::new();
    loop {
        let frame = client.next_frame().await;
        if frame["type"] == "typing" && frame["user"] == nickname {
            return seen;
        }
        seen.push(frame);
    }
}

/// Every stored message of `room`, by replaying it from 0.
async fn stored(app: &TestApp, room: &str, count: usize) -> Vec<Value> {
    let mut reader = app
        .join_path(&format!("/ws/chat/{room}/?since=0"), None)
        .await;
    let frames = reader.messages(count).await;
    reader.close().await;
    frames
}

/// U+0000 in a message, an edit or a `client_id` is refused with `invalid_character` (naming the
/// `client_id` when it is itself valid), nothing is stored, and the next message gets the next id.
async fn nul_is_refused_at_validation(db: Db) {
    let app = spawn_app_with(db.config()).await;
    let mut client = app.join("nul").await;
    assert_eq!(client.send_acked("before", 1).await, [1]);

    client
        .send_text(r#"{"message": "a\u0000b", "client_id": "with-nul"}"#)
        .await;
    let error = client.next_answer().await;
    assert_eq!(
        (error["code"].as_str(), error["client_id"].as_str()),
        (Some("invalid_character"), Some("with-nul")),
        "{error}"
    );
    client
        .send_text(r#"{"message": "fine", "client_id": "bad\u0000id"}"#)
        .await;
    let error = client.next_answer().await;
    assert_eq!(error["code"], "invalid_character", "{error}");
    assert!(error.get("client_id").is_none(), "{error}");
    client
        .send_text(r#"{"type": "edit", "id": 1, "message": "\u0000", "client_id": "edit"}"#)
        .await;
    let error = client.next_answer().await;
    assert_eq!(
        (error["code"].as_str(), error["client_id"].as_str()),
        (Some("invalid_character"), Some("edit")),
        "{error}"
    );

    assert_eq!(client.send_acked("after", 1).await, [2], "the next id");
    let frames = stored(&app, "nul", 2).await;
    assert_eq!(texts(&frames), ["before-0", "after-0"]);
    client.close().await;
    app.stop().await;
    db.done().await;
}

#[tokio::test]
async fn nul_is_refused_with_its_own_code_on_sqlite() {
    nul_is_refused_at_validation(Db::sqlite()).await;
}

#[tokio::test]
async fn nul_is_refused_with_its_own_code_on_postgres() {
    if let Some(db) = Db::postgres("nul_refused").await {
        nul_is_refused_at_validation(db).await;
    }
}

/// Connections sending honest messages while another's message, in the same batch, is refused by the
/// database: every honest one is acked and stored once, ids gap-free; only the refused one gets
/// `message_refused`, and its sender's next message is stored.
async fn a_refused_message_fails_alone(db: Db) {
    const HONEST: usize = 4;
    const EACH: usize = 3;
    let app = spawn_app_with(db.config()).await;
    db.refuse_one_text().await;
    let room = "batch";
    let path = format!("/ws/chat/{room}/");
    let mut plugger = v2_guest(app.addr, &path, "plugger").await;
    let mut honest = Vec::new();
    for n in 0..HONEST {
        honest.push(v2_guest(app.addr, &path, &format!("honest{n}")).await);
    }
    let mut bad = v2_guest(app.addr, &path, "bad").await;
    assert_eq!(plugger.send_acked("seed", 1).await, [1]);

    let plug = db.plug(room).await;
    // Its batch waits on the plug; everything below queues behind it and goes in the next batch.
    plugger
        .send_json(json!({"message": "plug", "client_id": "plug"}))
        .await;
    handled(&mut plugger, "plugger").await;
    for (n, client) in honest.iter_mut().enumerate() {
        for i in 0..EACH {
            let text = format!("honest{n}-{i}");
            client
                .send_json(json!({"message": text, "client_id": text}))
                .await;
        }
    }
    bad.send_json(json!({"message": REFUSED, "client_id": "refused"}))
        .await;
    bad.send_json(json!({"message": "bad-after", "client_id": "bad-after"}))
        .await;
    for (n, client) in honest.iter_mut().enumerate() {
        let early = handled(client, &format!("honest{n}")).await;
        assert!(!early.iter().any(is_answer), "nothing committed yet");
    }
    let early = handled(&mut bad, "bad").await;
    assert!(!early.iter().any(is_answer), "nothing committed yet");
    plug.release().await;

    assert_eq!(plugger.next_answer().await["id"], 2, "the plug");
    let mut acked = Vec::new();
    for client in &mut honest {
        for _ in 0..EACH {
            let ack = client.next_answer().await;
            assert_eq!(ack["type"], "ack", "an honest message is stored: {ack}");
            acked.push(ack["id"].as_u64().expect("id"));
        }
    }
    let refused = bad.next_answer().await;
    assert_eq!(
        (
            refused["type"].as_str(),
            refused["code"].as_str(),
            refused["client_id"].as_str()
        ),
        (Some("error"), Some("message_refused"), Some("refused")),
        "{refused}"
    );
    let after = bad.next_answer().await;
    assert_eq!(after["type"], "ack", "{after}");
    acked.push(after["id"].as_u64().expect("id"));
    acked.sort_unstable();
    let total = 2 + HONEST * EACH + 1;
    assert_eq!(acked, (3..=total as u64).collect::<Vec<_>>(), "gap-free");

    let frames = stored(&app, room, total).await;
    assert_eq!(ids(&frames), (1..=total as u64).collect::<Vec<_>>());
    let stored_texts = texts(&frames);
    assert!(!stored_texts.iter().any(|t| t == REFUSED));
    for (n, _) in honest.iter().enumerate() {
        for i in 0..EACH {
            let text = format!("honest{n}-{i}");
            let copies = stored_texts.iter().filter(|t| **t == text).count();
            assert_eq!(copies, 1, "{text} is stored once");
        }
    }
    // The room goes on: the next message has the next id.
    assert_eq!(
        plugger.send_acked("next", 1).await,
        [total as u64 + 1],
        "the next id"
    );
    app.stop().await;
    db.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sqlite_refuses_fails_alone_in_its_batch() {
    a_refused_message_fails_alone(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_postgres_refuses_fails_alone_in_its_batch() {
    if let Some(db) = Db::postgres("refused_alone").await {
        a_refused_message_fails_alone(db).await;
    }
}

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
                room: room.clone(),
                author: author.clone(),
                body: MessageBody::parse(&format!("old-{i}"), 64).expect("body"),
                client_id: None,
                owner: ClientIdOwner::import(),
                author_id: None,
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

/// A send the writer is still storing when the node stops: the client is told its outcome is unknown
/// (never `shutting_down`, which says it failed), and indeed the stopping writer stores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_still_being_stored_at_shutdown_is_not_called_failed() {
    let db = Db::sqlite();
    let app = spawn_app_with(Config {
        shutdown_secs: 2,
        ..db.config()
    })
    .await;
    let mut client = v2_guest(app.addr, "/ws/chat/stop/", "sender").await;
    assert_eq!(client.send_acked("first", 1).await, [1]);
    let plug = db.plug("stop").await;
    // No client_id: a client told it failed would send it again, and it would be stored twice.
    client.say("maybe").await;
    handled(&mut client, "sender").await;

    let stopping = tokio::spawn(app.stop());
    let answer = client.next_answer().await;
    assert_eq!(
        (answer["type"].as_str(), answer["code"].as_str()),
        (Some("error"), Some("outcome_unknown")),
        "{answer}"
    );
    // Now the writer may go on: it stores the message while the node stops.
    plug.release().await;
    assert_eq!(client.closed().await, Some(1001));
    stopping.await.expect("stop");

    let app = spawn_app_with(db.config()).await;
    let frames = stored(&app, "stop", 2).await;
    assert_eq!(texts(&frames), ["first-0", "maybe"]);
    app.stop().await;
}

/// A frame refused at once, sent after a send still waiting for the store, is answered after it: the
/// answers come in the order of the frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_keep_the_order_of_the_frames_they_answer() {
    let db = Db::sqlite();
    let app = spawn_app_with(db.config()).await;
    let mut client = v2_guest(app.addr, "/ws/chat/order/", "orderly").await;
    assert_eq!(client.send_acked("first", 1).await, [1]);
    let plug = db.plug("order").await;
    client
        .send_json(json!({"message": "waits for the store", "client_id": "stored"}))
        .await;
    client
        .send_json(json!({"message": "  ", "client_id": "blank"}))
        .await;
    // Without a client_id only the order tells which send an error answers.
    client.send_json(json!({"message": ""})).await;
    let early = handled(&mut client, "orderly").await;
    assert!(
        !early.iter().any(is_answer),
        "no answer overtakes the pending send: {early:?}"
    );
    plug.release().await;
    let answers = [
        client.next_answer().await,
        client.next_answer().await,
        client.next_answer().await,
    ];
    let seen: Vec<_> = answers
        .iter()
        .map(|a| {
            (
                a["type"].as_str(),
                a["client_id"].as_str(),
                a["code"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some("ack"), Some("stored"), None),
            (Some("error"), Some("blank"), Some("empty_message")),
            (Some("error"), None, Some("empty_message")),
        ]
    );
    app.stop().await;
}
