//! Guests beside accounts: a guest cannot chat under a registered name in any case, spelling or width (a
//! zero-width look-alike becomes "anonymous", a free nickname is used as is), and with guests off a guest
//! is refused and sent to log in, then lands in the room as a member.

use std::net::SocketAddr;

use chatweb::config::Config;

use crate::helpers::{TempDir, spawn_app, spawn_app_with, test_config};
use crate::people::{Browser, PASSWORD};

use super::{member, text_of};

/// A new browser whose only cookie is the guest nickname `nickname` (percent-encoded, as the lobby writes
/// it).
fn guest_named(addr: SocketAddr, nickname: &str) -> Browser {
    let mut guest = Browser::new(addr);
    guest.set_cookie("chatweb_nickname", Some(nickname));
    guest
}

#[tokio::test]
async fn a_guest_cannot_chat_under_a_registered_name_in_any_case_spelling_or_width() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("Alice").await;
    Browser::new(app.addr).sign_up("José").await;
    let origin = app.origin();

    // Percent-encoded as the lobby writes the cookie; the last two are fullwidth (NFKC: "alice").
    for nickname in [
        "Alice",
        "alice",
        "ALICE",
        "%20alice%20",
        "Jose%CC%81",
        "JOS%C3%89",
        "%EF%BD%81%EF%BD%8C%EF%BD%89%EF%BD%83%EF%BD%85",
        "%EF%BC%A1lice",
    ] {
        let refused = app
            .handshake("/ws/chat/lobby/", Some(&origin), Some(nickname))
            .await;
        assert_eq!(refused.err(), Some(403), "{nickname}");
        let page = guest_named(app.addr, nickname).get("/chat/lobby/").await;
        assert_eq!(page.status, 303, "{nickname}");
        assert_eq!(
            page.location.as_deref(),
            Some("/?error=nickname_taken"),
            "{nickname}"
        );
    }
    let lobby = guest_named(app.addr, "alice")
        .get("/?error=nickname_taken")
        .await;
    assert!(
        lobby
            .body
            .contains("That nickname belongs to a registered user"),
        "{}",
        lobby.body
    );

    // A zero-width space does not make a look-alike: the nickname is dropped for "anonymous".
    let mut lookalike = app
        .handshake("/ws/chat/lobby/", Some(&origin), Some("ali%E2%80%8Bce"))
        .await
        .expect("joined as anonymous");
    lookalike.say("it is me, alice").await;
    let frame = lookalike.next_message().await;
    assert_eq!(
        (frame["user"].as_str(), frame["guest"].as_bool()),
        (Some("anonymous"), Some(true))
    );
    let lookalike_page = guest_named(app.addr, "ali%E2%80%8Bce")
        .get("/chat/lobby/")
        .await;
    assert_eq!(lookalike_page.status, 200);

    // A free nickname is used as is.
    let mut bob = app
        .handshake("/ws/chat/lobby/", Some(&origin), Some("bob"))
        .await
        .expect("joined as bob");
    bob.say("hello").await;
    let frames = bob.messages(2).await;
    assert_eq!(
        (frames[1]["user"].as_str(), frames[1]["guest"].as_bool()),
        (Some("bob"), Some(true))
    );
    app.stop().await;
}

#[tokio::test]
async fn with_guests_off_a_guest_is_refused_and_sent_to_log_in_while_a_member_chats() {
    let dir = TempDir::new();
    let app = spawn_app_with(Config {
        guests: false,
        ..test_config(dir.sqlite_url())
    })
    .await;
    let origin = app.origin();
    for nickname in [None, Some("bob")] {
        assert_eq!(
            app.handshake("/ws/chat/room/", Some(&origin), nickname)
                .await
                .err(),
            Some(403),
            "{nickname:?}"
        );
    }
    let mut guest = Browser::new(app.addr);
    let page = guest.get("/chat/room/").await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location.as_deref(),
        Some("/accounts/login/?next=%2Fchat%2Froom%2F")
    );

    // Sign up, log out, then log in from the page the redirect leads to, and land in the room.
    let mut ada = member(&app, "Ada").await;
    assert_eq!(ada.log_out().await.status, 303);
    let form = ada.get("/accounts/login/?next=%2Fchat%2Froom%2F").await;
    assert_eq!(form.status, 200);
    assert!(
        text_of(&form.body).contains("value=\"/chat/room/\""),
        "{}",
        form.body
    );
    let page = ada
        .post(
            "/accounts/login/",
            &[
                ("username", "Ada"),
                ("password", PASSWORD),
                ("next", "/chat/room/"),
            ],
        )
        .await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/chat/room/"))
    );
    assert_eq!(ada.get("/chat/room/").await.status, 200);
    let mut socket = ada.join("/ws/chat/room/").await.expect("a member joins");
    socket.say("members only").await;
    let frame = socket.next_message().await;
    assert_eq!(frame["user"], "Ada");
    assert!(frame.get("guest").is_none());
    app.stop().await;
}
