//! Conversations (issue 19) end to end, on SQLite and PostgreSQL: replies, reactions, pins, topics and
//! mentions over the socket (each an event of the room's sequence: gap-free ids, idempotent by
//! `client_id`, refusals use no id, a plain Channels client gets the messages and nothing else), a
//! `since=0` replay in their place, the history API's aggregates as of a point of the sequence, and two
//! nodes on Redis. The people are browsers signed up on a real node; sockets are `chatweb.v2` unless a
//! test says plain.

mod archive;
mod cluster;
mod http;
mod mentions;
mod pins;
mod reactions;
mod replay;
mod replies;
mod retention;

use std::collections::VecDeque;

use chatweb::config::Config;
use serde_json::{Value, json};

use crate::engines::Database;
use crate::helpers::{Client, TestApp, is_answer, spawn_app_with, test_config};
use crate::people::{Browser, staff_browser};
use crate::rooms::{api, person};

/// The public room every scenario here talks in, made by its owner ada.
pub const ROOM: &str = "town";

/// Its socket path.
pub const PATH: &str = "/ws/chat/town/";

/// A node on `db` with the public room [`ROOM`]: ada owns it, bob moderates it, carol is a signed-in
/// person without a role there, boss is staff.
pub struct Town {
    pub app: TestApp,
    pub ada: Browser,
    pub bob: Browser,
    pub carol: Browser,
    pub boss: Browser,
}

/// Starts a node on `db` and sets up [`Town`].
pub async fn town(db: &Database) -> Town {
    town_with(db, test_config(db.url())).await
}

/// Starts a node with `config` (on `db`) and sets up [`Town`].
pub async fn town_with(db: &Database, config: Config) -> Town {
    let app = spawn_app_with(config).await;
    let mut ada = person(app.addr, "ada").await;
    let bob = person(app.addr, "bob").await;
    let carol = person(app.addr, "carol").await;
    let boss = staff_browser(app.addr, &db.url(), "boss").await;
    let (status, body) = api(
        app.addr,
        &mut ada,
        "POST",
        "/api/rooms/",
        Some(json!({"name": ROOM})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let add = json!({"user": "bob", "role": "moderator"});
    let (status, body) = api(
        app.addr,
        &mut ada,
        "POST",
        &format!("/api/rooms/{ROOM}/members"),
        Some(add),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    Town {
        app,
        ada,
        bob,
        carol,
        boss,
    }
}

/// A `chatweb.v2` socket that keeps the room's frames it reads while awaiting an answer, so that none
/// is lost to a test that reads answers and frames separately.
pub struct Sock {
    client: Client,
    pending: VecDeque<Value>,
}

impl Sock {
    /// Wraps a socket whose history and presence snapshot are in.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            pending: VecDeque::new(),
        }
    }

    /// Sends a JSON frame.
    pub async fn send_json(&mut self, frame: Value) {
        self.client.send_json(frame).await;
    }

    /// Sends `frames` in one write (see [`Client::send_together`]).
    pub async fn send_together(&mut self, frames: &[Value]) {
        self.client.send_together(frames).await;
    }

    /// The next answer to this socket's frames; the room's frames read meanwhile are kept.
    pub async fn next_answer(&mut self) -> Value {
        loop {
            let frame = self.client.next_json().await;
            if is_answer(&frame) {
                return frame;
            }
            self.pending.push_back(frame);
        }
    }

    /// The next frame of the room's sequence (a message or an event), skipping answers and ephemeral
    /// frames.
    pub async fn next_event(&mut self) -> Value {
        if let Some(frame) = self.pending.pop_front() {
            return frame;
        }
        loop {
            let frame = self.client.next_json().await;
            if !is_answer(&frame) {
                return frame;
            }
        }
    }

    /// Waits until the room tells this socket `user` came in (a `join` frame; call it while no room
    /// frame is due, as the frames before it are dropped).
    pub async fn joined(&mut self, user: &str) {
        loop {
            let frame = self.client.next_of_type("join").await;
            if frame["user"] == user {
                return;
            }
        }
    }

    /// Closes the socket.
    pub async fn close(self) {
        self.client.close().await;
    }
}

/// Opens `who`'s `chatweb.v2` socket at `path` and waits until its history and presence snapshot are
/// in: every room frame it reads afterwards is newer than the join.
pub async fn v2(who: &Browser, path: &str) -> Sock {
    let mut client = who.join_v2(path).await.expect("a v2 socket");
    ready(&mut client).await;
    Sock::new(client)
}

/// Waits for a v2 socket's presence snapshot, which follows its history.
pub async fn ready(client: &mut Client) {
    client.next_of_type("presence").await;
}

/// Sends `frame` and returns its answer (an ack or an error), keeping the room's frames.
pub async fn act(client: &mut Sock, frame: Value) -> Value {
    client.send_json(frame).await;
    client.next_answer().await
}

/// Sends `frame` (which carries a `client_id`) and returns the id of its ack; panics on anything else.
pub async fn acked(client: &mut Sock, frame: Value) -> u64 {
    let answer = act(client, frame.clone()).await;
    assert_eq!(answer["type"], "ack", "{frame} was answered {answer}");
    assert_eq!(answer["client_id"], frame["client_id"], "{answer}");
    assert_ne!(
        answer["duplicate"], true,
        "{frame} was a duplicate: {answer}"
    );
    answer["id"].as_u64().expect("an ack's id")
}

/// Says `text` with client id `cid` and returns the new message's id.
pub async fn said(client: &mut Sock, text: &str, cid: &str) -> u64 {
    acked(client, json!({"message": text, "client_id": cid})).await
}

/// Sends `frame` and asserts it is refused with `code`, echoing its `client_id`.
pub async fn refused(client: &mut Sock, frame: Value, code: &str) {
    let answer = act(client, frame.clone()).await;
    assert_eq!(
        (answer["type"].as_str(), answer["code"].as_str()),
        (Some("error"), Some(code)),
        "{frame} was answered {answer}"
    );
    if let Some(cid) = frame.get("client_id") {
        assert_eq!(
            &answer["client_id"], cid,
            "the error names the frame: {answer}"
        );
    }
}

/// Sends `frame` (with a `client_id`) and asserts it changed nothing: acked `duplicate: true` naming
/// `id`.
pub async fn unchanged(client: &mut Sock, frame: Value, id: u64) {
    let answer = act(client, frame.clone()).await;
    assert_eq!(
        (
            answer["type"].as_str(),
            answer["duplicate"].as_bool(),
            answer["id"].as_u64()
        ),
        (Some("ack"), Some(true), Some(id)),
        "{frame} was answered {answer}"
    );
}

/// The next frame of the room's sequence.
pub async fn next_event(client: &mut Sock) -> Value {
    client.next_event().await
}

/// The next `n` frames of the room's sequence.
pub async fn events(client: &mut Sock, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(client.next_event().await);
    }
    out
}

/// Says a last message `text` with `sender` and returns every frame `plain` (a plain Channels client)
/// gets up to and including it: what it was shown of everything before.
pub async fn plain_frames_until(plain: &mut Client, sender: &mut Sock, text: &str) -> Vec<Value> {
    said(sender, text, text).await;
    let mut frames = Vec::new();
    loop {
        let frame = plain.next_json().await;
        let last = frame["message"] == text;
        frames.push(frame);
        if last {
            return frames;
        }
    }
}

/// The `(type, id)` of each frame.
pub fn shapes(frames: &[Value]) -> Vec<(String, u64)> {
    frames
        .iter()
        .map(|f| {
            (
                f["type"].as_str().unwrap_or("?").to_owned(),
                f["id"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Twenty-one distinct emoji (every one shown as an emoji by default).
pub const EMOJI: [&str; 21] = [
    "😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗",
    "😙", "😚", "🙂", "🤗", "🤩",
];
