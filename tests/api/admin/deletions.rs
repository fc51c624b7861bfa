//! Deleting a message in the admin: `chatweb.v2` clients get a `delete` event live and a tombstone (same
//! id, no text) in history, plain Channels clients get neither and never the old text; the admin lists it
//! as deleted; an unknown or already deleted message is 404 and uses no id, so ids stay gap-free.

use crate::accounts::member;
use crate::helpers::{Client, TempDir, TestApp, ids, texts};
use crate::people::Browser;

use super::{
    STAFF, admin_app, assert_plain_message, audit_rows, audited, delete_message, follow,
    ids_and_texts, message_rows, next_frames, page_of, redirected, room_row, said, v2_join,
};

/// A room where `ada` (a signed-in member) said "first" (1) and "secret" (2), watched by a `chatweb.v2`
/// client and a plain Channels client that have both read the two messages.
struct Deletion {
    app: TestApp,
    staff: Browser,
    speaker: Client,
    v2: Client,
    plain: Client,
}

/// Sets up a [`Deletion`] room on a fresh node.
async fn deletion_room(dir: &TempDir) -> Deletion {
    let (app, staff) = admin_app(dir).await;
    let mut v2 = v2_join(&app, "/ws/chat/lobby/").await;
    let mut plain = app.join("lobby").await;
    let ada = member(&app, "ada").await;
    let mut speaker = ada.join("/ws/chat/lobby/").await.expect("ada joins");
    said(&mut speaker, "first").await;
    said(&mut speaker, "secret").await;
    assert_eq!(texts(&v2.messages(2).await), ["first", "secret"]);
    assert_eq!(texts(&plain.messages(2).await), ["first", "secret"]);
    Deletion {
        app,
        staff,
        speaker,
        v2,
        plain,
    }
}

#[tokio::test]
async fn deleting_a_message_sends_v2_clients_a_delete_event_and_plain_clients_nothing() {
    let dir = TempDir::new();
    let mut lobby = deletion_room(&dir).await;

    let page = lobby
        .staff
        .post(
            "/admin/messages/lobby/2/delete",
            &[("next", "/admin/messages/?room=lobby")],
        )
        .await;
    assert!(
        follow(
            &mut lobby.staff,
            &page,
            "/admin/messages/?room=lobby&notice="
        )
        .await
        .contains("message deleted")
    );
    let event = lobby.v2.next_json().await;
    assert_eq!(event["type"], "delete", "{event}");
    assert_eq!(
        (event["id"].as_u64(), event["target"].as_u64()),
        (Some(3), Some(2)),
        "{event}"
    );
    assert_eq!(
        (event["user"].as_str(), event["room"].as_str()),
        (Some(STAFF), Some("lobby"))
    );
    assert_eq!(event["history"], false);
    assert!(
        event.get("message").is_none(),
        "not a printable chat line: {event}"
    );
    let row = audited(&mut lobby.staff, STAFF, "message.delete", "lobby#2").await;
    assert_eq!(row[4], "event 3");

    // The plain client's next frame is the next message, with the id after the event's.
    said(&mut lobby.speaker, "after").await;
    let next = lobby.plain.next_json().await;
    assert_plain_message(&next, 4, "after");
    assert_eq!(next["user"], "ada");
    let next = lobby.v2.next_message().await;
    assert_eq!(
        (next["id"].as_u64(), next["message"].as_str()),
        (Some(4), Some("after"))
    );
    lobby.app.stop().await;
}

#[tokio::test]
async fn after_a_deletion_history_holds_a_tombstone_for_v2_clients_and_skips_it_for_plain_ones() {
    let dir = TempDir::new();
    let mut lobby = deletion_room(&dir).await;
    let page = delete_message(&mut lobby.staff, "lobby", 2).await;
    redirected(&page, "/admin/messages/?notice=");
    said(&mut lobby.speaker, "after").await;

    // Plain clients: neither the tombstone nor the event, and never the old text.
    let mut replay = lobby.app.join_path("/ws/chat/lobby/?since=0", None).await;
    let got = replay.messages(2).await;
    assert_eq!(
        (ids(&got), texts(&got)),
        (vec![1, 4], vec!["first".to_owned(), "after".to_owned()])
    );
    let mut joined = lobby.app.join("lobby").await;
    let got = joined.messages(2).await;
    assert_eq!(ids(&got), [1, 4]);
    assert!(got.iter().all(|f| f["history"] == true));
    let mut resumed = lobby.app.join_path("/ws/chat/lobby/?since=1", None).await;
    said(&mut lobby.speaker, "probe").await;
    for client in [&mut replay, &mut joined] {
        assert_plain_message(&client.next_message().await, 5, "probe");
    }
    let got = resumed.messages(2).await;
    assert_eq!(ids(&got), [4, 5], "a resume past the deletion skips it too");

    // v2 clients: the message as a tombstone (same id, no text), then the deletion event.
    for path in ["/ws/chat/lobby/?since=0", "/ws/chat/lobby/"] {
        let mut v2 = v2_join(&lobby.app, path).await;
        let first = v2.next_message().await;
        assert_eq!(
            (first["id"].as_u64(), first["message"].as_str()),
            (Some(1), Some("first"))
        );
        assert!(first.get("deleted").is_none());
        let tombstone = v2.next_json().await;
        assert_eq!(tombstone["type"], "message", "{path}: {tombstone}");
        assert_eq!(tombstone["id"], 2);
        assert_eq!(tombstone["deleted"], true);
        assert_eq!(tombstone["message"], "");
        assert_eq!(tombstone["user"], "ada", "the author stays");
        assert_eq!(tombstone["history"], true);
        let event = v2.next_json().await;
        assert_eq!(event["type"], "delete", "{path}: {event}");
        assert_eq!(
            (event["id"].as_u64(), event["target"].as_u64()),
            (Some(3), Some(2))
        );
        assert_eq!(event["history"], true);
        assert_eq!(ids(&v2.messages(2).await), [4, 5], "{path}");
    }

    // The admin lists it as deleted, without its text, and counts only what is left.
    assert_eq!(
        ids_and_texts(&mut lobby.staff, "room=lobby").await,
        [
            ["5", "probe"],
            ["4", "after"],
            ["2", "deleted"],
            ["1", "first"]
        ]
    );
    assert!(
        !page_of(&mut lobby.staff, "/admin/messages/")
            .await
            .contains("secret")
    );
    assert!(
        message_rows(&mut lobby.staff, "q=secret").await.is_empty(),
        "the text is gone, not just hidden"
    );
    let row = room_row(&mut lobby.staff, "lobby").await;
    assert_eq!(&row[1..3], ["3", "5"], "three messages left; last id 5");
    lobby.app.stop().await;
}

#[tokio::test]
async fn deleting_an_unknown_or_already_deleted_message_is_404_and_uses_no_id() {
    let dir = TempDir::new();
    let mut lobby = deletion_room(&dir).await;
    for path in [
        "/admin/messages/lobby/99/delete",
        "/admin/messages/lobby/0/delete",
        "/admin/messages/nowhere/1/delete",
        "/admin/messages/no%20such%20room!/1/delete",
    ] {
        assert_eq!(lobby.staff.post(path, &[]).await.status, 404, "{path}");
    }
    redirected(
        &delete_message(&mut lobby.staff, "lobby", 2).await,
        "/admin/messages/",
    );
    assert_eq!(lobby.v2.next_json().await["id"], 3);
    let again = delete_message(&mut lobby.staff, "lobby", 2).await;
    assert_eq!(again.status, 404, "already deleted: {}", again.body);
    let event = delete_message(&mut lobby.staff, "lobby", 3).await;
    assert_eq!(
        event.status, 404,
        "an event is not a message: {}",
        event.body
    );

    // No refusal used an id: the next message is 4, and it is the next thing a v2 client gets.
    assert_eq!(said(&mut lobby.speaker, "next").await["id"], 4);
    let next = lobby.v2.next_json().await;
    assert_eq!(
        (next["type"].as_str(), next["id"].as_u64()),
        (Some("message"), Some(4)),
        "{next}"
    );
    let mut replay = v2_join(&lobby.app, "/ws/chat/lobby/?since=0").await;
    let all: Vec<u64> = next_frames(&mut replay, 4)
        .await
        .iter()
        .map(|f| f["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(all, [1, 2, 3, 4], "gap-free");
    let deletions = audit_rows(&mut lobby.staff).await;
    assert_eq!(
        deletions.len(),
        1,
        "only the deletion that happened is audited: {deletions:?}"
    );
    assert_eq!(
        &deletions[0][1..5],
        [STAFF, "message.delete", "lobby#2", "event 3"]
    );
    lobby.app.stop().await;
}
