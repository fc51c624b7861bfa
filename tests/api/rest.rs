//! The JSON history API end to end (docs/PROTOCOL.md, "HTTP API"), against real nodes on SQLite and
//! PostgreSQL: the room list (order, last id, live member counts, a signed-in user's unread counts after
//! their read mark), pages of a room's messages (`before`/`limit`, the cap of 200, tombstones, the edited
//! flag, no events), JSON errors for every bad input, members-only servers and bearer tokens.

use chatweb::config::Config;
use serde_json::{Value, json};

use crate::accounts::member;
use crate::helpers::{Client, TempDir, TestDatabase, spawn_app, spawn_app_with, test_config};
use crate::people::Browser;
use crate::tokens::accounts_on;

/// An answer of the API.
pub struct Answer {
    /// Its status code.
    pub status: u16,
    /// Its body, which is always JSON.
    pub body: Value,
    /// Its headers.
    pub headers: reqwest::header::HeaderMap,
}

/// Sends `method path` to the node at `addr` with `headers`; asserts the answer is JSON, whatever its status.
pub async fn api_request(
    addr: std::net::SocketAddr,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, String)],
) -> Answer {
    let mut request =
        reqwest::Client::new().request(method.clone(), format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{method} {path} answers JSON (status {status})"
    );
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{method} {path} is never cached"
    );
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    Answer {
        status,
        body,
        headers,
    }
}

/// GETs `path` with `headers`.
pub async fn api_get(addr: std::net::SocketAddr, path: &str, headers: &[(&str, String)]) -> Answer {
    api_request(addr, reqwest::Method::GET, path, headers).await
}

/// GETs `path` and asserts 200; returns the body.
async fn ok(addr: std::net::SocketAddr, path: &str, headers: &[(&str, String)]) -> Value {
    let answer = api_get(addr, path, headers).await;
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    answer.body
}

/// Asserts `answer` is the error `code` with `status` and a detail.
fn assert_error(answer: &Answer, status: u16, code: &str, context: &str) {
    assert_eq!(answer.status, status, "{context}: {}", answer.body);
    assert_eq!(answer.body["error"], code, "{context}: {}", answer.body);
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{context}: a detail for people: {}",
        answer.body
    );
}

/// The cookie header of a signed-in browser.
fn session(browser: &Browser) -> Vec<(&'static str, String)> {
    vec![("cookie", browser.cookie_header())]
}

/// An `Authorization: Bearer` header.
fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

/// Sends `frame` (which carries a `client_id`) and waits for its ack, skipping every other frame; returns
/// the id the ack gives.
pub async fn acked(client: &mut Client, frame: Value) -> u64 {
    let client_id = frame["client_id"].as_str().expect("a client_id").to_owned();
    client.send_json(frame).await;
    loop {
        let reply = client.next_json().await;
        if reply["client_id"] == client_id.as_str() {
            assert_eq!(reply["type"], "ack", "{reply}");
            return reply["id"].as_u64().expect("the ack's id");
        }
    }
}

/// Says `text` (with `text` as its client id) and returns its id.
pub async fn say(client: &mut Client, text: &str) -> u64 {
    acked(client, json!({"message": text, "client_id": text})).await
}

/// Sends `{"type":"read","id":id}` and waits until the socket has handled it (a frame the server refuses
/// is answered in order, so its error comes after the read was taken).
pub async fn read_up_to(client: &mut Client, id: u64) {
    client.send_json(json!({"type": "read", "id": id})).await;
    client.send_json(json!({"type": "barrier"})).await;
    loop {
        let reply = client.next_json().await;
        if reply["type"] == "error" {
            assert_eq!(reply["code"], "unknown_type", "{reply}");
            return;
        }
    }
}

/// The ids of a page's messages.
fn page_ids(page: &Value) -> Vec<u64> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_u64().expect("id"))
        .collect()
}

/// The (name, last_id, members, unread) of each listed room.
fn room_rows(list: &Value) -> Vec<(String, u64, u64, Value)> {
    list["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_owned(),
                r["last_id"].as_u64().expect("last_id"),
                r["members"].as_u64().expect("members"),
                r["unread"].clone(),
            )
        })
        .collect()
}

/// Parses an RFC 3339 time of an answer.
fn time_of(value: &Value) -> time::OffsetDateTime {
    let text = value.as_str().expect("a time");
    assert!(
        text.ends_with('Z') && text.len() == 24,
        "UTC with ms: {text}"
    );
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).expect(text)
}

/// The whole history scenario on a node with `config` (SQLite or PostgreSQL): ada and bob (members) and
/// a guest talk in `history`, ada edits, bob deletes, ada reads up to 2; bob talks in `annex` last. The
/// node is then restarted (which writes the read marks) to check the unread counts.
async fn history_scenario(config: Config) {
    let app = spawn_app_with(config.clone()).await;
    let ada = member(&app, "ada").await;
    let bob = member(&app, "bob").await;
    let mut ada_socket = ada.join_v2("/ws/chat/history/").await.expect("ada joins");
    let mut bob_socket = bob.join_v2("/ws/chat/history/").await.expect("bob joins");
    let mut guest = app.join("history").await;

    assert_eq!(say(&mut ada_socket, "a1").await, 1);
    assert_eq!(say(&mut bob_socket, "b2").await, 2);
    assert_eq!(say(&mut bob_socket, "b3").await, 3);
    assert_eq!(say(&mut guest, "g4").await, 4);
    let edit = json!({"type": "edit", "id": 1, "message": "a1 edited", "client_id": "e1"});
    assert_eq!(acked(&mut ada_socket, edit).await, 5, "the edit is event 5");
    let delete = json!({"type": "delete", "id": 3, "client_id": "d3"});
    assert_eq!(
        acked(&mut bob_socket, delete).await,
        6,
        "the delete is event 6"
    );
    assert_eq!(say(&mut ada_socket, "a7").await, 7);
    read_up_to(&mut ada_socket, 2).await;
    // `annex` sorts before `history`, so a tie of the two rooms' times still lists it first.
    let mut bob_annex = bob.join("/ws/chat/annex/").await.expect("bob joins annex");
    assert_eq!(say(&mut bob_annex, "n1").await, 1);

    // The rooms, live: the latest first, three people in `history`, no unread counts for a guest.
    let list = ok(app.addr, "/api/rooms/", &[]).await;
    assert_eq!(
        room_rows(&list),
        [
            ("annex".into(), 1, 1, Value::Null),
            ("history".into(), 7, 3, Value::Null)
        ],
        "{list}"
    );
    assert!(
        time_of(&list["rooms"][0]["last_activity"]) >= time_of(&list["rooms"][1]["last_activity"])
    );

    // The messages: edits applied, the deletion a tombstone, no events, oldest first.
    let page = ok(app.addr, "/api/rooms/history/messages", &[]).await;
    assert_eq!(page["room"], "history");
    assert_eq!(page["before"], Value::Null, "no older page: {page}");
    let mut messages = page["messages"].as_array().expect("messages").clone();
    for message in &mut messages {
        let ts = message
            .as_object_mut()
            .expect("object")
            .remove("ts")
            .expect("ts");
        time_of(&ts);
    }
    assert_eq!(
        messages,
        [
            json!({"id": 1, "room": "history", "user": "ada", "message": "a1 edited", "edited": true}),
            json!({"id": 2, "room": "history", "user": "bob", "message": "b2"}),
            json!({"id": 3, "room": "history", "user": "bob", "message": "", "deleted": true}),
            json!({"id": 4, "room": "history", "user": "anonymous", "message": "g4", "guest": true}),
            json!({"id": 7, "room": "history", "user": "ada", "message": "a7"}),
        ]
    );

    // Paging back from the newest, two at a time; `before` counts messages only.
    let newest = ok(app.addr, "/api/rooms/history/messages?limit=2", &[]).await;
    assert_eq!(
        (page_ids(&newest), newest["before"].as_u64()),
        (vec![4, 7], Some(4))
    );
    let older = ok(
        app.addr,
        "/api/rooms/history/messages?before=4&limit=2",
        &[],
    )
    .await;
    assert_eq!(
        (page_ids(&older), older["before"].as_u64()),
        (vec![2, 3], Some(2))
    );
    let oldest = ok(
        app.addr,
        "/api/rooms/history/messages?before=2&limit=2",
        &[],
    )
    .await;
    assert_eq!(
        (page_ids(&oldest), oldest["before"].clone()),
        (vec![1], Value::Null)
    );
    let below_events = ok(app.addr, "/api/rooms/history/messages?before=7", &[]).await;
    assert_eq!(page_ids(&below_events), [1, 2, 3, 4]);
    let first = ok(app.addr, "/api/rooms/history/messages?before=1", &[]).await;
    assert_eq!(
        (page_ids(&first), first["before"].clone()),
        (vec![], Value::Null)
    );
    let signed_in = ok(app.addr, "/api/rooms/history/messages", &session(&bob)).await;
    assert_eq!(signed_in, page, "members read the same history");

    // Stopping writes the read marks; a node on the same database counts ada's unread messages: after
    // 2, not hers (1, 7), not deleted (3): only the guest's 4. Bob has no mark anywhere: null.
    drop((ada_socket, bob_socket, guest, bob_annex));
    app.stop().await;
    let app = spawn_app_with(config.clone()).await;
    let (ada, bob) = (ada.on(app.addr), bob.on(app.addr));
    let for_ada = ok(app.addr, "/api/rooms/", &session(&ada)).await;
    assert_eq!(
        room_rows(&for_ada),
        [
            ("annex".into(), 1, 0, Value::Null),
            ("history".into(), 7, 0, json!(1))
        ],
        "{for_ada}"
    );
    let for_bob = ok(app.addr, "/api/rooms/", &session(&bob)).await;
    assert!(
        room_rows(&for_bob).iter().all(|r| r.3.is_null()),
        "{for_bob}"
    );
    let for_guest = ok(app.addr, "/api/rooms/", &[]).await;
    assert!(
        room_rows(&for_guest).iter().all(|r| r.3.is_null()),
        "{for_guest}"
    );

    // The same with ada's API token instead of her session.
    let accounts = accounts_on(&config.database_url).await;
    let ada_row = accounts.user_named("ada").await.expect("ada");
    let (_, token) = accounts
        .create_token(ada_row.id, "api")
        .await
        .expect("token");
    assert_eq!(ok(app.addr, "/api/rooms/", &bearer(&token)).await, for_ada);

    // A mark from the last second counts at once, before the writer has stored it.
    let mut ada_socket = ada.join_v2("/ws/chat/history/").await.expect("ada");
    read_up_to(&mut ada_socket, 7).await;
    let now = ok(app.addr, "/api/rooms/", &session(&ada)).await;
    assert_eq!(room_rows(&now)[1].3, json!(0), "{now}");
    drop(ada_socket);
    app.stop().await;
}

#[tokio::test]
async fn rooms_and_pages_of_history_on_sqlite() {
    let dir = TempDir::new();
    history_scenario(test_config(dir.sqlite_url())).await;
}

#[tokio::test]
async fn rooms_and_pages_of_history_on_postgres() {
    let Some(db) = TestDatabase::create("rooms_and_pages_of_history_on_postgres").await else {
        return;
    };
    history_scenario(test_config(db.url.clone())).await;
    db.drop_database().await;
}

#[tokio::test]
async fn a_page_holds_50_by_default_and_never_more_than_200() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut client = app.join("busy").await;
    let ids = client.send_acked("m", 205).await;
    assert_eq!(ids, (1..=205).collect::<Vec<_>>());

    let default = ok(app.addr, "/api/rooms/busy/messages", &[]).await;
    assert_eq!(page_ids(&default), (156..=205).collect::<Vec<_>>());
    assert_eq!(default["before"], 156);
    for limit in [200, 201, 1000, i32::MAX as u64] {
        let page = ok(
            app.addr,
            &format!("/api/rooms/busy/messages?limit={limit}"),
            &[],
        )
        .await;
        assert_eq!(
            page_ids(&page),
            (6..=205).collect::<Vec<_>>(),
            "limit={limit}"
        );
        assert_eq!(page["before"], 6, "limit={limit}");
    }
    let rest = ok(app.addr, "/api/rooms/busy/messages?before=6&limit=200", &[]).await;
    assert_eq!(
        (page_ids(&rest), rest["before"].clone()),
        ((1..=5).collect(), Value::Null)
    );
    let one = ok(
        app.addr,
        "/api/rooms/busy/messages?limit=1&before=9223372036854775807",
        &[],
    )
    .await;
    assert_eq!(
        (page_ids(&one), one["before"].as_u64()),
        (vec![205], Some(205))
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_json_error_never_a_server_error() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut client = app.join("lobby").await;
    say(&mut client, "hello").await;

    let base = "/api/rooms/lobby/messages";
    for query in [
        "limit=0",
        "limit=-1",
        "limit=abc",
        "limit=",
        "limit=1.5",
        "limit=%2B5",
        "limit=2147483648",
        "before=0",
        "before=x",
        "before=",
        "before=-3",
        "before=9223372036854775808",
        "before=1e3",
        "limit=1&limit=2",
        "limit=%FF",
    ] {
        let answer = api_get(app.addr, &format!("{base}?{query}"), &[]).await;
        assert_error(&answer, 400, "invalid_parameter", query);
    }
    let unknown_ok = ok(app.addr, &format!("{base}?since=1&limit=1"), &[]).await;
    assert_eq!(page_ids(&unknown_ok), [1], "unknown parameters are ignored");

    for room in ["a%20b", "%FF", "x!", &"x".repeat(65), "a%2Fb"] {
        let answer = api_get(app.addr, &format!("/api/rooms/{room}/messages"), &[]).await;
        assert_error(&answer, 404, "invalid_room", room);
    }
    let empty = ok(app.addr, "/api/rooms/caf%C3%A9/messages", &[]).await;
    assert_eq!(
        empty,
        json!({"room": "café", "messages": [], "before": null})
    );

    for path in [
        "/api",
        "/api/",
        "/api/rooms",
        "/api/nothing",
        "/api/rooms/lobby/messages/",
    ] {
        assert_error(&api_get(app.addr, path, &[]).await, 404, "not_found", path);
    }
    // A room's own path only changes it (its topic).
    let answer = api_get(app.addr, "/api/rooms/lobby", &[]).await;
    assert_error(&answer, 405, "method_not_allowed", "/api/rooms/lobby");
    assert_eq!(answer.headers["allow"], "PATCH");
    for method in [
        reqwest::Method::POST,
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
    ] {
        for (path, allow) in [
            ("/api/rooms/", "GET, HEAD, POST"),
            (base, "GET, HEAD"),
            ("/api/openapi.json", "GET, HEAD"),
        ] {
            if method == reqwest::Method::POST && path == "/api/rooms/" {
                // Creating a room: a guest is told to log in.
                let answer = api_request(app.addr, method.clone(), path, &[]).await;
                assert_error(&answer, 401, "login_required", path);
                continue;
            }
            let answer = api_request(app.addr, method.clone(), path, &[]).await;
            assert_error(&answer, 405, "method_not_allowed", path);
            assert_eq!(answer.headers["allow"], allow);
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_members_only_server_answers_guests_401_and_members_200() {
    let dir = TempDir::new();
    let app = spawn_app_with(Config {
        guests: false,
        ..test_config(dir.sqlite_url())
    })
    .await;
    let ada = member(&app, "ada").await;
    let mut socket = ada.join("/ws/chat/lobby/").await.expect("a member joins");
    say(&mut socket, "members only").await;
    let accounts = accounts_on(&dir.sqlite_url()).await;
    let row = accounts.user_named("ada").await.expect("ada");
    let (_, token) = accounts.create_token(row.id, "api").await.expect("token");

    for path in ["/api/rooms/", "/api/rooms/lobby/messages"] {
        let answer = api_get(app.addr, path, &[]).await;
        assert_error(&answer, 401, "login_required", path);
        assert_eq!(answer.headers["www-authenticate"], "Bearer");
        let forged = api_get(app.addr, path, &[("cookie", "sessionid=nope".into())]).await;
        assert_error(&forged, 401, "login_required", path);
        ok(app.addr, path, &session(&ada)).await;
        ok(app.addr, path, &bearer(&token)).await;
    }
    let page = ok(app.addr, "/api/rooms/lobby/messages", &bearer(&token)).await;
    assert_eq!(page["messages"][0]["message"], "members only");
    // The document is not data: anyone may read it.
    ok(app.addr, "/api/openapi.json", &[]).await;
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_or_revoked_bearer_token_is_401_even_where_guests_may_read() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let accounts = accounts_on(&dir.sqlite_url()).await;
    let user = accounts
        .create_user("RoboCop", "", crate::people::PASSWORD, false)
        .await
        .expect("user");
    let (_, token) = accounts.create_token(user.id, "kept").await.expect("token");
    let revoked = accounts
        .create_token(user.id, "revoked")
        .await
        .expect("token");
    accounts.revoke_token(revoked.0).await.expect("revoke");

    ok(app.addr, "/api/rooms/", &[]).await;
    ok(app.addr, "/api/rooms/", &bearer(&token)).await;
    for bad in [
        "cwt_nope".to_owned(),
        format!("cwt_{}", crate::accounts::forged_secret()),
        revoked.1.clone(),
    ] {
        for path in ["/api/rooms/", "/api/rooms/lobby/messages"] {
            let answer = api_get(app.addr, path, &bearer(&bad)).await;
            assert_error(&answer, 401, "login_required", &bad);
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let document = ok(app.addr, "/api/openapi.json", &[]).await;
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{document}"
    );
    let paths = document["paths"].as_object().expect("paths");
    let mut routes: Vec<_> = paths.keys().map(String::as_str).collect();
    routes.sort_unstable();
    assert_eq!(
        routes,
        [
            "/api/dms/",
            "/api/openapi.json",
            "/api/rooms/",
            "/api/rooms/{room}",
            "/api/rooms/{room}/invites",
            "/api/rooms/{room}/members",
            "/api/rooms/{room}/members/{user}",
            "/api/rooms/{room}/messages"
        ]
    );
    let methods = |path: &str| {
        let mut methods: Vec<String> = paths[path]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        methods.sort_unstable();
        methods
    };
    assert_eq!(methods("/api/rooms/"), ["get", "post"]);
    assert_eq!(
        methods("/api/rooms/{room}/members/{user}"),
        ["delete", "patch"]
    );
    assert_eq!(methods("/api/rooms/{room}/messages"), ["get"]);
    let messages = &paths["/api/rooms/{room}/messages"]["get"];
    let params: Vec<_> = messages["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default(),
                p["in"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        params,
        [("room", "path"), ("before", "query"), ("limit", "query")]
    );
    for status in ["200", "400", "401", "404", "500"] {
        assert!(
            messages["responses"].get(status).is_some(),
            "{status} is documented"
        );
    }
    let schemas = &document["components"]["schemas"];
    for schema in [
        "RoomList",
        "RoomEntry",
        "MessagePage",
        "Message",
        "ErrorBody",
        "ErrorCode",
        "RoomInfo",
        "Member",
        "RoomKind",
        "Role",
    ] {
        assert!(schemas.get(schema).is_some(), "{schema} is described");
    }
    let codes = schemas["ErrorCode"]["enum"].as_array().expect("codes");
    for code in [
        "invalid_room",
        "invalid_parameter",
        "login_required",
        "internal",
    ] {
        assert!(codes.contains(&json!(code)), "{code}");
    }
    app.stop().await;
}
