//! The lobby counts people in a room and a member's unread messages without a reload.

use fantoccini::Client;

use super::{enter, script, sign_up, wait_for_lobby_room};
use crate::chromium::{type_message, wait_for_room_log, wait_until, with_browsers};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lobby_counts_people_in_a_room_and_a_members_unread_messages_without_a_reload() {
    with_browsers(2, |browsers, node| async move {
        let origin = node.origin;
        let [ada, guest]: [Client; 2] = browsers.try_into().expect("two browsers");
        sign_up(&ada, &origin, "ada").await;
        enter(&guest, &origin, "news").await;
        type_message(&guest, "first news").await;
        enter(&ada, &origin, "news").await;
        wait_for_room_log(&ada, "anonymous (guest): first news\n").await;

        // Ada has read it and gone to the lobby: nothing unread there, one person (the guest) in it.
        ada.goto(&origin).await.expect("lobby");
        let news = wait_for_lobby_room(
            &ada,
            "news",
            "li.dataset.unread === '0' && li.dataset.members === '1'",
        )
        .await;
        assert!(news["text"].as_str().unwrap_or_default().contains("1 here"), "{news}");

        // The guest speaks twice: the lobby shows two unread without a reload.
        let marker = script(&ada, "window.__sameLobby = true; return true").await;
        assert_eq!(marker, true);
        type_message(&guest, "second news").await;
        type_message(&guest, "third news").await;
        wait_for_room_log(&guest, "third news\n").await;
        let news = wait_for_lobby_room(&ada, "news", "li.dataset.unread === '2'").await;
        assert_eq!(news["members"], "1", "{news}");
        assert_eq!(
            script(&ada, "return window.__sameLobby === true").await,
            true,
            "updated in place, not by reloading"
        );
        let badge = script(
            &ada,
            "return document.querySelector('#room-list li[data-room=\"news\"] .unread').textContent",
        )
        .await;
        assert_eq!(badge, "2 unread");

        // Back in the room, the divider sits before the first unread message.
        enter(&ada, &origin, "news").await;
        let next = wait_until(
            &ada,
            "const d = document.querySelector('#chat-log .unread-divider');
             return d ? d.nextElementSibling.querySelector('.text').textContent : ''",
            "the unread divider",
        )
        .await;
        assert_eq!(next, "second news");
    })
    .await;
}
