//! The admin's message list: filters by room, by account (in any case; guests' messages belong to no
//! account and are tagged) and by text (case-insensitive, `%` literal), and fifty messages a page, newest
//! first, with a pager that keeps the filters.

use crate::accounts::member;
use crate::helpers::TempDir;

use super::{admin_app, assert_two_pages, message_rows, page_of, said, table};

#[tokio::test]
async fn the_message_list_filters_by_room_by_account_and_by_text() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let ada = member(&app, "ada").await;
    let grace = member(&app, "grace").await;
    said(
        &mut ada.join("/ws/chat/lobby/").await.expect("ada"),
        "Hello World",
    )
    .await;
    let mut grace_lobby = grace.join("/ws/chat/lobby/").await.expect("grace");
    assert_eq!(grace_lobby.next_message().await["message"], "Hello World");
    said(&mut grace_lobby, "goodbye").await;
    said(
        &mut grace.join("/ws/chat/kitchen/").await.expect("grace"),
        "50% off",
    )
    .await;
    let mut guest = app.join("kitchen").await;
    assert_eq!(guest.next_message().await["message"], "50% off");
    said(&mut guest, "hello from a guest").await;

    let texts_of =
        |rows: Vec<Vec<String>>| rows.into_iter().map(|r| r[4].clone()).collect::<Vec<_>>();
    let lobby = message_rows(&mut staff, "room=lobby").await;
    assert!(lobby.iter().all(|r| r[0] == "lobby"), "{lobby:?}");
    assert_eq!(
        texts_of(lobby.clone()),
        ["goodbye", "Hello World"],
        "newest first"
    );
    assert_eq!(
        (lobby[0][3].as_str(), lobby[1][3].as_str()),
        ("grace", "ada")
    );
    assert_eq!(
        texts_of(message_rows(&mut staff, "user=ada").await),
        ["Hello World"]
    );
    let mut by_grace = texts_of(message_rows(&mut staff, "user=GRACE").await);
    by_grace.sort();
    assert_eq!(by_grace, ["50% off", "goodbye"], "names in any case");
    assert!(message_rows(&mut staff, "user=nobody").await.is_empty());
    assert!(
        message_rows(&mut staff, "user=anonymous").await.is_empty(),
        "guests' messages belong to no account"
    );
    let hello = message_rows(&mut staff, "q=HELLO").await;
    let mut found = texts_of(hello.clone());
    found.sort();
    assert_eq!(
        found,
        ["Hello World", "hello from a guest"],
        "case-insensitive"
    );
    let by_guest = hello
        .iter()
        .find(|r| r[4] == "hello from a guest")
        .expect("row");
    assert_eq!(
        by_guest[3], "anonymous guest",
        "a guest's message is tagged"
    );
    assert_eq!(
        texts_of(message_rows(&mut staff, "q=%25").await),
        ["50% off"],
        "% is literal"
    );
    assert_eq!(
        texts_of(message_rows(&mut staff, "room=kitchen&user=&q=hello").await),
        ["hello from a guest"]
    );
    assert_eq!(
        texts_of(message_rows(&mut staff, "room=lobby&user=grace&q=").await),
        ["goodbye"]
    );
    assert_eq!(message_rows(&mut staff, "room=&user=&q=").await.len(), 4);
    let body = page_of(&mut staff, "/admin/messages/?room=kitchen&user=&q=hello").await;
    assert!(
        body.contains("id=\"filter-room\" type=\"text\" name=\"room\" value=\"kitchen\""),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_message_list_shows_fifty_messages_a_page_newest_first() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut sender = app.join("lobby").await;
    let acked = sender.send_acked("m", 60).await;
    assert_eq!(acked.len(), 60);
    let first = page_of(&mut staff, "/admin/messages/?room=lobby").await;
    let rows = table(&first, "message-list");
    assert_eq!(rows.len(), 50);
    assert_eq!((rows[0][1].as_str(), rows[49][1].as_str()), ("60", "11"));
    let second = page_of(&mut staff, "/admin/messages/?room=lobby&user=&q=&page=2").await;
    let rows = table(&second, "message-list");
    assert_eq!(rows.len(), 10);
    assert_eq!((rows[0][1].as_str(), rows[9][1].as_str()), ("10", "1"));
    let beyond = page_of(&mut staff, "/admin/messages/?room=lobby&page=9").await;
    assert_eq!(
        table(&beyond, "message-list"),
        rows,
        "a page past the end shows the last"
    );

    // The pager says where this is and links on, keeping the filters.
    assert_two_pages(&first, &second, 60);
    assert!(beyond.contains("page 2 of 2 (60)"), "{beyond}");
    app.stop().await;
}
