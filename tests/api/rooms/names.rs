//! Defect 11 of issue 10: rooms named `.` or `..` (a browser resolves them away, so they could be listed yet
//! never opened) and names holding invisible characters are refused on every route; room names and
//! nicknames are NFC-normalised, so a name typed decomposed reaches the composed room.

use std::net::SocketAddr;

use fantoccini::{Client as Browser, Locator};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::chromium::{ENTER, wait_until, with_browsers};
use crate::helpers::{PATIENCE, TempDir, spawn_app, texts};

/// The status of `GET <path>`, sent byte for byte (an HTTP client library would resolve `.` and `..`).
async fn raw_status(addr: SocketAddr, path: &str) -> u16 {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .expect("read response");
        response
    };
    let response = tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("answered in time");
    let head = String::from_utf8_lossy(&response);
    head.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: not an HTTP response: {head}"))
}

/// Dot rooms, spelled every way a path can carry them, and rooms with invisible characters.
const REFUSED: [&str; 8] = [
    ".",
    "..",
    "%2E",
    "%2e%2E",
    "ali%E2%80%8Bce", // a zero-width space
    "%E2%80%AEmoor",  // a right-to-left override
    "%E3%85%A4",      // a Hangul filler: a letter that shows nothing
    "lobby%EF%B8%8F", // a variation selector
];

#[tokio::test]
async fn dot_rooms_and_invisible_names_are_not_found_on_pages_sockets_and_the_api() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    for room in REFUSED {
        assert_eq!(
            raw_status(app.addr, &format!("/chat/{room}/")).await,
            404,
            "the room page of {room}"
        );
        assert_eq!(
            raw_status(app.addr, &format!("/chat/{room}")).await,
            404,
            "{room} without its slash is not redirected"
        );
        assert_eq!(
            raw_status(app.addr, &format!("/api/rooms/{room}/messages")).await,
            404,
            "the history of {room}"
        );
        assert_eq!(
            app.handshake(&format!("/ws/chat/{room}/"), Some(&app.origin()), None)
                .await
                .err(),
            Some(404),
            "the socket of {room}"
        );
    }
    // Names made of dots that a browser keeps are fine.
    for room in ["...", ".x", "a..b"] {
        assert_eq!(raw_status(app.addr, &format!("/chat/{room}/")).await, 200);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_room_typed_decomposed_is_the_composed_room() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut composed = app.join("caf%C3%A9").await;
    let mut decomposed = app.join("cafe%CC%81").await;
    decomposed.say("bonjour").await;
    assert_eq!(texts(&[composed.next_message().await]), ["bonjour"]);
    assert_eq!(texts(&[decomposed.next_message().await]), ["bonjour"]);

    // One room, listed under its composed name; its page answers to either spelling.
    let rooms = reqwest::get(app.url("/api/rooms/"))
        .await
        .expect("room list")
        .text()
        .await
        .expect("room list body");
    let rooms: Value = serde_json::from_str(&rooms).expect("JSON");
    let names: Vec<&str> = rooms["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["caf\u{E9}"]);
    let page = app.get("/chat/cafe%CC%81/", None).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("room page");
    assert!(
        page.contains("bonjour"),
        "the decomposed page shows the room's history"
    );
    assert!(page.contains("caf\u{E9}") && !page.contains("cafe\u{301}"));
    app.stop().await;
}

#[tokio::test]
async fn a_nickname_is_composed_and_one_with_invisible_characters_is_not_used() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut decomposed = app.join_path("/ws/chat/names/", Some("Jose%CC%81")).await;
    decomposed.say("hola").await;
    assert_eq!(decomposed.next_message().await["user"], "Jos\u{E9}");
    // Each in a room of its own: a join's history would show the others' messages first.
    for (i, evil) in ["%E2%80%AEnimda", "ad%E2%80%8Dmin", "%E3%85%A4", "%E2%A0%80"]
        .into_iter()
        .enumerate()
    {
        let mut client = app
            .join_path(&format!("/ws/chat/evil-{i}/"), Some(evil))
            .await;
        client.say("who am I").await;
        assert_eq!(
            client.next_message().await["user"],
            "anonymous",
            "the nickname {evil}"
        );
    }
    app.stop().await;
}

/// Types `name` in the lobby's room box and presses Enter.
async fn submit_room(page: &Browser, name: &str) {
    let input = page
        .find(Locator::Id("room-name-input"))
        .await
        .expect("room box");
    input.clear().await.expect("clear");
    input
        .send_keys(&format!("{name}{ENTER}"))
        .await
        .expect("type");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lobby_room_form_refuses_dot_rooms_and_invisible_characters_and_composes_names() {
    with_browsers(1, |browsers, node| async move {
        let page = &browsers[0];
        page.goto(&node.origin).await.expect("lobby");
        for name in [".", "..", "ali\u{200B}ce", "\u{3164}"] {
            page.execute(
                "document.getElementById('room-name-error').textContent = ''",
                vec![],
            )
            .await
            .expect("clear the error");
            submit_room(page, name).await;
            let error = wait_until(
                page,
                "return document.getElementById('room-name-error').textContent",
                "the form's error",
            )
            .await;
            assert!(
                error
                    .as_str()
                    .is_some_and(|e| e.contains("not \".\" or \"..\"")),
                "{name:?}: {error}"
            );
            let at = page.current_url().await.expect("url");
            assert_eq!(at.path(), "/", "{name:?} left the lobby");
        }
        submit_room(page, "cafe\u{301}").await;
        wait_until(
            page,
            "return location.pathname === '/chat/caf%C3%A9/'",
            "the composed room's page",
        )
        .await;
    })
    .await;
}
