//! Idempotency keys belong to their sender (shared/DESIGN.md, invariant 8): a repeated `client_id` is
//! recognised per room and sender, never per room alone. Two signed-in people sending the same
//! `client_id` (a message, an edit) both have theirs stored, while each one's repeat is still a duplicate
//! (SQLite and PostgreSQL); so do two guests with guest cookies of their own, and a guest's cookie carries
//! their `client_id`s across connections. The server sets the cookie (HttpOnly, SameSite=Lax, 128 random
//! bits) on a guest's page or handshake that came without one; a client that keeps no cookie (a plain
//! Channels client) is idempotent within its connection only. Rows stored before migration 0007 keep
//! their idempotency: a user's, by account; an import's, for the next run of the import.

use chatweb::domain::{ClientIdOwner, MessageBody, RoomName, Username};
use chatweb::storage::{Db, NewMessage, Store};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::accounts::member;
use crate::engines::{Database, on_both_engines};
use crate::helpers::{Client, TempDir, TestApp, spawn_app, spawn_app_with, test_config};
use crate::people::socket;

/// The cookie a guest's browser keeps its guest id in.
const GUEST_COOKIE: &str = "chatweb_guest";
/// Two guest ids as the server makes them (32 hex digits).
const GUEST_A: &str = "0123456789abcdef0123456789abcdef";
const GUEST_B: &str = "fedcba9876543210fedcba9876543210";

on_both_engines!(
    one_persons_client_id_never_swallows_anothers,
    one_persons_client_id_never_swallows_anothers_on_sqlite,
    one_persons_client_id_never_swallows_anothers_on_postgres
);
on_both_engines!(
    rows_from_before_0007_keep_their_idempotency,
    rows_from_before_0007_keep_their_idempotency_on_sqlite,
    rows_from_before_0007_keep_their_idempotency_on_postgres
);

/// Sends `frame` (which carries `client_id`) and returns its ack's id and `duplicate`.
async fn acked(client: &mut Client, frame: Value) -> (u64, bool) {
    let client_id = frame["client_id"].clone();
    client.send_json(frame).await;
    let ack = client.next_answer().await;
    assert_eq!(
        (&ack["type"], &ack["client_id"]),
        (&json!("ack"), &client_id),
        "{ack}"
    );
    let id = ack["id"].as_u64().expect("ack id");
    (id, ack["duplicate"].as_bool().expect("duplicate"))
}

/// `{"message": text, "client_id": client_id}`.
fn say(text: &str, client_id: &str) -> Value {
    json!({"message": text, "client_id": client_id})
}

/// (user, text) of every message stored in `room`, oldest first (the HTTP API).
async fn stored(app: &TestApp, room: &str) -> Vec<(String, String)> {
    let body = app
        .get(&format!("/api/rooms/{room}/messages?limit=200"), None)
        .await
        .text()
        .await
        .expect("history");
    let page: Value = serde_json::from_str(&body).expect("history JSON");
    let text = |m: &Value, k: &str| m[k].as_str().expect("text").to_owned();
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| (text(m, "user"), text(m, "message")))
        .collect()
}

/// The handshake headers of a guest's page holding guest id `id`.
fn guest(app: &TestApp, id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("origin", app.origin()),
        ("cookie", format!("{GUEST_COOKIE}={id}")),
    ]
}

/// Opens the chat socket of `room` as the guest holding guest id `id`.
async fn guest_joins(app: &TestApp, room: &str, id: &str) -> Client {
    socket(
        app.addr,
        &format!("/ws/chat/{room}/"),
        &guest(app, id),
        false,
    )
    .await
    .expect("guest joins")
}

async fn one_persons_client_id_never_swallows_anothers(db: &Database) {
    let app = spawn_app_with(test_config(db.url())).await;
    let (ann, bob) = (member(&app, "ann").await, member(&app, "bob").await);
    let mut ann_socket = ann.join("/ws/chat/shared/").await.expect("ann joins");
    let mut bob_socket = bob.join("/ws/chat/shared/").await.expect("bob joins");
    assert_eq!(acked(&mut ann_socket, say("a", "x")).await, (1, false));
    assert_eq!(
        acked(&mut bob_socket, say("b", "x")).await,
        (2, false),
        "bob's x is his own, not a repeat of ann's"
    );
    assert_eq!(
        acked(&mut ann_socket, say("a", "x")).await,
        (1, true),
        "ann's repeat is still hers"
    );
    assert_eq!(acked(&mut bob_socket, say("b", "x")).await, (2, true));
    // Edits are keyed the same way.
    let edit =
        |id: u64, text: &str| json!({"type": "edit", "id": id, "message": text, "client_id": "e"});
    assert_eq!(acked(&mut ann_socket, edit(1, "a2")).await, (3, false));
    assert_eq!(acked(&mut bob_socket, edit(2, "b2")).await, (4, false));
    assert_eq!(acked(&mut bob_socket, edit(2, "b2")).await, (4, true));
    // Two guests, each with a guest cookie of their own, under the same (default) nickname.
    let mut first = guest_joins(&app, "shared", GUEST_A).await;
    let mut second = guest_joins(&app, "shared", GUEST_B).await;
    assert_eq!(acked(&mut first, say("g1", "x")).await, (5, false));
    assert_eq!(acked(&mut second, say("g2", "x")).await, (6, false));
    // A guest's cookie carries their client ids to their next connection.
    first.close().await;
    let mut again = guest_joins(&app, "shared", GUEST_A).await;
    assert_eq!(acked(&mut again, say("g1", "x")).await, (5, true));
    let pairs = [
        ("ann", "a2"),
        ("bob", "b2"),
        ("anonymous", "g1"),
        ("anonymous", "g2"),
    ];
    let expected: Vec<_> = pairs
        .iter()
        .map(|(u, m)| ((*u).to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(stored(&app, "shared").await, expected);
    app.stop().await;
}

/// The `chatweb_guest` value a response sets, after checking its attributes.
fn guest_cookie_set<'a>(set_cookies: impl Iterator<Item = &'a HeaderValue>) -> Option<String> {
    let set = set_cookies
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{GUEST_COOKIE}=")))?;
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    assert!(set.contains("Path=/"), "{set}");
    let value = set.split(';').next()?.split_once('=')?.1.to_owned();
    assert!(
        value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        "128 random bits as hex: {set}"
    );
    Some(value)
}

/// Opens the chat socket of `room` with an allowed origin and `cookie`; returns the client and the guest
/// id the handshake's response set, if any.
async fn handshake(app: &TestApp, room: &str, cookie: Option<&str>) -> (Client, Option<String>) {
    let mut request = format!("ws://{}/ws/chat/{room}/", app.addr)
        .into_client_request()
        .expect("request");
    let headers = request.headers_mut();
    headers.insert(
        "origin",
        HeaderValue::from_str(&app.origin()).expect("origin"),
    );
    if let Some(cookie) = cookie {
        headers.insert("cookie", HeaderValue::from_str(cookie).expect("cookie"));
    }
    let (ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake accepted");
    let set = guest_cookie_set(response.headers().get_all("set-cookie").iter());
    (Client::from_stream(ws), set)
}

#[tokio::test]
async fn a_guests_page_and_handshake_set_the_guest_cookie_when_it_is_missing() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let page = app.get("/chat/lobby/", None).await;
    let made = guest_cookie_set(page.headers().get_all("set-cookie").iter()).expect("set");
    let page = app
        .get("/chat/lobby/", Some(&format!("{GUEST_COOKIE}={made}")))
        .await;
    assert_eq!(
        guest_cookie_set(page.headers().get_all("set-cookie").iter()),
        None,
        "a page that brought one keeps it"
    );
    let (_, set) = handshake(&app, "lobby", None).await;
    let other = set.expect("a handshake without one sets one");
    assert_ne!(other, made, "each browser its own");
    let (_, set) = handshake(&app, "lobby", Some(&format!("{GUEST_COOKIE}={made}"))).await;
    assert_eq!(set, None);
    // Junk is not a guest id: a new one replaces it.
    let (_, set) = handshake(&app, "lobby", Some(&format!("{GUEST_COOKIE}=junk"))).await;
    assert!(set.is_some());
    app.stop().await;
}

#[tokio::test]
async fn a_client_without_cookies_is_idempotent_within_its_connection_only() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut first = app.join("plain").await;
    assert_eq!(acked(&mut first, say("one", "k")).await, (1, false));
    assert_eq!(acked(&mut first, say("one", "k")).await, (1, true));
    // Another connection without a cookie is another sender: its "k" is its own.
    let mut second = app.join("plain").await;
    assert_eq!(acked(&mut second, say("two", "k")).await, (2, false));
    // With the cookie its first handshake was given, a client is the same sender again.
    let (_, made) = handshake(&app, "plain", None).await;
    let cookie = format!("{GUEST_COOKIE}={}", made.expect("set"));
    let (mut third, _) = handshake(&app, "plain", Some(&cookie)).await;
    assert_eq!(acked(&mut third, say("three", "k")).await, (3, false));
    let (mut fourth, _) = handshake(&app, "plain", Some(&cookie)).await;
    assert_eq!(acked(&mut fourth, say("three", "k")).await, (3, true));
    app.stop().await;
}

/// Runs `sql` (no parameters) on `db`'s database, from outside chatweb.
async fn execute(db: &Database, sql: &str) {
    use sqlx::Connection;
    match db {
        Database::Sqlite(dir) => {
            let mut conn = sqlx::SqliteConnection::connect(&dir.sqlite_url())
                .await
                .expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .expect(sql);
        }
        Database::Postgres(pg) => {
            let mut conn = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .expect(sql);
        }
    }
}

/// How many of `db`'s engine's shipped migrations are 0007 or later.
fn migrations_from_0007(db: &Database) -> usize {
    let engine = match db {
        Database::Sqlite(_) => "sqlite",
        Database::Postgres(_) => "postgres",
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(engine);
    std::fs::read_dir(source)
        .expect("migrations")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().as_ref() >= "0007")
        })
        .count()
}

/// Brings `db` to the schema of migrations 0001 to 0006 only, from the shipped files.
async fn schema_before_0007(db: &Database) {
    use sqlx::Connection;
    let engine = match db {
        Database::Sqlite(_) => "sqlite",
        Database::Postgres(_) => "postgres",
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(engine);
    let before = TempDir::new();
    for entry in std::fs::read_dir(&source).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.as_str() < "0007" {
            std::fs::copy(&path, before.path().join(&name)).expect("copy");
        }
    }
    let migrator = sqlx::migrate::Migrator::new(before.path())
        .await
        .expect("migrator");
    match db {
        Database::Sqlite(dir) => {
            let url = format!("{}?mode=rwc", dir.sqlite_url());
            let mut conn = sqlx::SqliteConnection::connect(&url)
                .await
                .expect("connect");
            migrator.run(&mut conn).await.expect("0001 to 0006");
        }
        Database::Postgres(pg) => {
            let mut conn = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
            migrator.run(&mut conn).await.expect("0001 to 0006");
        }
    }
}

async fn rows_from_before_0007_keep_their_idempotency(db: &Database) {
    schema_before_0007(db).await;
    execute(
        db,
        "INSERT INTO users (id, username, username_key, password_hash, created_at) \
         VALUES (1, 'ann', 'ann', '!', 0); \
         INSERT INTO rooms (id, name, last_seq, updated_at) VALUES (1, 'old', 3, 0); \
         INSERT INTO messages (room_id, seq, author, body, client_id, created_at, author_id) VALUES \
         (1, 1, 'ann', 'a', 'x', 0, 1), (1, 2, 'anonymous', 'g', 'y', 0, NULL), \
         (1, 3, 'ann', 'imported', 'django:5', 0, 1);",
    )
    .await;
    // 0007, and every migration after it that this engine has (room access, conversations, search, files,
    // ...).
    assert_eq!(
        Store::migrate(&db.url()).await.expect("0007"),
        migrations_from_0007(db)
    );
    let backend = Store::connect(&db.url()).await.expect("store");
    let sql = "SELECT sender_key FROM messages ORDER BY seq";
    let keys: Vec<String> = match backend.db() {
        Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(&pool).await,
        Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(&pool).await,
    }
    .expect("sender keys");
    assert_eq!(keys, ["u:1", "n:anonymous", "import"]);
    let send = |owner: ClientIdOwner, client_id: &str| NewMessage {
        bot: false,
        room: RoomName::parse("old").expect("room"),
        author: Username::parse("someone").expect("name"),
        body: MessageBody::parse("again", 64).expect("body"),
        client_id: Some(client_id.into()),
        owner,
        author_id: None,
        reply_to: None,
        mentions: Default::default(),
        files: Default::default(),
    };
    let batch = [
        send(ClientIdOwner::user(1), "x"),
        send(ClientIdOwner::user(2), "x"),
    ];
    let seen: Vec<_> = backend
        .append(&batch, 1)
        .await
        .expect("append")
        .into_iter()
        .map(|o| o.map(|a| (a.message.seq, a.duplicate)).expect("stored"))
        .collect();
    assert_eq!(seen, [(1, true), (4, false)], "ann's x is still hers");
    let state = backend.db().import_room_state("old").await.expect("state");
    assert!(
        state.imported.contains(&5),
        "a second Django import finds what the first stored"
    );
    backend.close().await;
}
