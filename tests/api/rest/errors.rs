//! Every bad input is answered with a JSON error, never a server error.

use serde_json::json;

use super::{api_get, api_request, assert_error, ok, page_ids, say};
use crate::helpers::{TempDir, spawn_app};

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
        json!({"room": "café", "messages": [], "before": null, "as_of": 0})
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
            (base, "GET, HEAD, POST"),
            ("/api/openapi.json", "GET, HEAD"),
        ] {
            if method == reqwest::Method::POST && (path == "/api/rooms/" || path == base) {
                // Creating a room, publishing a message: a guest is told to log in.
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
