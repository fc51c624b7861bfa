//! People in a real browser: signing up and chatting under the account's name, a guest who cannot take
//! that name, a message deleted in the admin losing its text on an open page, and the seed app's own room page
//! (the Django template's script, unmodified) chatting as a guest.

use std::net::SocketAddr;

use fantoccini::{Client, Locator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::chromium::{
    ENTER, room_log_of, type_message, wait_for_log, wait_for_room_log, wait_for_room_log_without,
    wait_open, with_browsers,
};
use crate::helpers::PATIENCE;
use crate::people::{PASSWORD, staff_browser};

async fn fill(page: &Client, id: &str, text: &str) {
    page.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .send_keys(text)
        .await
        .expect("type");
}

async fn text_of(page: &Client, css: &str) -> String {
    page.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_up_in_the_browser_chats_under_that_name_and_a_guest_cannot_take_it() {
    with_browsers(2, |browsers, node| async move {
        let addr = node.addr;
        let [ada, guest]: [Client; 2] = browsers.try_into().expect("two browsers");
        let origin = format!("http://{addr}");
        ada.goto(&format!("{origin}/accounts/signup/"))
            .await
            .expect("signup page");
        fill(&ada, "id_username", "ada").await;
        fill(&ada, "id_password1", PASSWORD).await;
        fill(&ada, "id_password2", &format!("{PASSWORD}{ENTER}")).await;
        assert_eq!(
            text_of(&ada, "#whoami").await,
            "ada",
            "signed in after signing up"
        );
        ada.goto(&format!("{origin}/chat/lobby/"))
            .await
            .expect("room page");
        wait_open(&ada).await;
        type_message(&ada, "hello as myself").await;
        wait_for_room_log(&ada, "ada: hello as myself\n").await;

        // A guest who names themself ADA is sent back to the lobby with a message.
        guest.goto(&origin).await.expect("lobby");
        fill(&guest, "nickname-input", "ADA").await;
        fill(&guest, "room-name-input", &format!("lobby{ENTER}")).await;
        let error = text_of(&guest, "#lobby-error").await;
        assert!(error.contains("registered user"), "{error}");
        // As a guest under another name they chat, marked as a guest.
        let nickname = guest
            .find(Locator::Id("nickname-input"))
            .await
            .expect("nickname box");
        nickname.clear().await.expect("clear");
        nickname.send_keys("bob").await.expect("type");
        fill(&guest, "room-name-input", &format!("lobby{ENTER}")).await;
        wait_open(&guest).await;
        type_message(&guest, "hi ada").await;
        wait_for_room_log(&ada, "bob (guest): hi ada\n").await;

        // Logging out ends the session: the page's socket closes and the lobby offers a login again.
        ada.goto(&origin).await.expect("lobby");
        ada.find(Locator::Id("logout-button"))
            .await
            .expect("logout")
            .click()
            .await
            .expect("click");
        text_of(&ada, "#login-link").await;
    })
    .await;
}

/// The room page after the admin deleted the first of two messages.
const TOMBSTONE_AND_FINE: &str =
    "anonymous (guest): [deleted]\nanonymous (guest): something fine\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_deleted_in_the_admin_loses_its_text_on_an_open_page_and_in_its_history() {
    with_browsers(1, |browsers, node| async move {
        let (addr, database_url) = (node.addr, node.database_url);
        let page = browsers[0].clone();
        let mut speaker = crate::helpers::connect(addr, "/ws/chat/moderated/").await;
        speaker.say("something nasty").await;
        speaker.say("something fine").await;
        speaker.messages(2).await;
        page.goto(&format!("http://{addr}/chat/moderated/"))
            .await
            .expect("room page");
        wait_open(&page).await;
        wait_for_room_log(&page, "anonymous (guest): something fine\n").await;
        assert!(room_log_of(&page).await.contains("something nasty"));

        let mut staff = staff_browser(addr, &database_url, "moderator").await;
        let done = staff.post("/admin/messages/moderated/1/delete", &[]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        // Shown as deleted, its text gone.
        let log = wait_for_room_log_without(&page, "something nasty").await;
        assert_eq!(log, TOMBSTONE_AND_FINE);
        page.refresh().await.expect("reload");
        wait_open(&page).await;
        assert_eq!(
            room_log_of(&page).await,
            TOMBSTONE_AND_FINE,
            "gone from history too"
        );
        // Live messages keep flowing after the deletion event.
        speaker.say("after").await;
        wait_for_room_log(&page, "anonymous (guest): after\n").await;
    })
    .await;
}

/// Serves the seed's room page at every path but `/ws/...`, which it splices through to chatweb, so the
/// page's `ws://` + `window.location.host` reaches the chat server unchanged.
async fn seed_page_server(chatweb: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0_u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match client.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if head.starts_with(b"GET /ws/") {
                    let Ok(mut server) = TcpStream::connect(chatweb).await else {
                        return;
                    };
                    if server.write_all(&head).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                } else {
                    let page = include_str!("../../fixtures/django_room.html");
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{page}",
                        page.len()
                    );
                    let _ = client.write_all(response.as_bytes()).await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_apps_own_room_page_still_chats_as_a_guest() {
    with_browsers(1, |browsers, node| async move {
        let (addr, database_url) = (node.addr, node.database_url);
        let page = browsers[0].clone();
        // Something deleted before the page opens must not reach it in any form it cannot print.
        let mut other = crate::helpers::connect(addr, "/ws/chat/seed/").await;
        other.say("gone soon").await;
        other.next_message().await;
        let mut staff = staff_browser(addr, &database_url, "moderator").await;
        assert_eq!(
            staff
                .post("/admin/messages/seed/1/delete", &[])
                .await
                .status,
            303
        );

        let seed = seed_page_server(addr).await;
        page.goto(&format!("http://{seed}/chat/seed/"))
            .await
            .expect("seed page");
        page.find(Locator::Id("chat-message-input"))
            .await
            .expect("input")
            .send_keys(&format!("hello from 2019{ENTER}"))
            .await
            .expect("type");
        let log = wait_for_log(&page, "anonymous: hello from 2019\n").await;
        other.say("a reply").await;
        let log = if log.contains("a reply") {
            log
        } else {
            wait_for_log(&page, "a reply").await
        };
        assert_eq!(
            log, "anonymous: hello from 2019\nanonymous: a reply\n",
            "every frame prints"
        );
        assert!(!log.contains("undefined"), "{log}");
    })
    .await;
}
