//! Accounts end to end: sign-up, login and logout at Django's URLs, and the socket speaking as the account.

use crate::helpers::{TempDir, spawn_app};
use crate::people::{Browser, PASSWORD};

#[tokio::test]
async fn a_signed_up_user_chats_under_their_account_name_and_logout_ends_the_session() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = Browser::new(app.addr);
    ada.sign_up("Ada").await;
    let lobby = ada.get("/").await;
    assert!(lobby.body.contains("Signed in as"), "{}", lobby.body);
    assert!(!lobby.body.contains("id=\"nickname-input\""), "no nickname box when logged in");

    let mut socket = ada.join("/ws/chat/lobby/").await.expect("joined");
    socket.send_json(serde_json::json!({"message": "hi", "user": "mallory"})).await;
    let frame = socket.next_message().await;
    assert_eq!(frame["user"], "Ada", "the server says who is speaking");
    assert!(frame.get("guest").is_none());

    let session = ada.cookie("sessionid").expect("session cookie").to_owned();
    let page = ada.log_out().await;
    assert_eq!(page.status, 303);
    assert!(ada.cookie("sessionid").is_none());
    assert_eq!(socket.closed().await, Some(4401), "the logged-out session's socket closes");

    // The old cookie no longer signs anyone in, on the pages or the socket.
    let mut replay = Browser::new(app.addr);
    replay.set_cookie("sessionid", Some(&session));
    assert!(!replay.get("/").await.body.contains("Signed in as"));
    let mut guest = replay.join("/ws/chat/lobby/").await.expect("joined as a guest");
    guest.say("who am I").await;
    let frames = guest.messages(2).await;
    assert_eq!(frames[1]["user"], "anonymous");
    assert_eq!(frames[1]["guest"], true);

    let again = Browser::new(app.addr).log_in("ada", PASSWORD).await;
    assert_eq!(again.status, 303, "usernames are case-insensitive at login");
    app.stop().await;
}
