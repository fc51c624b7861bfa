//! The live room page in two real browsers: two members see each other come, type, edit, delete and go.

use fantoccini::{Client, Locator};

use super::{
    ARROW_DOWN, ARROW_UP, CONTROL, RELEASE, enter, id_of, input, script, sign_up, wait_for_people,
    wait_for_system_line,
};
use crate::chromium::{ENTER, type_message, wait_for_room_log, wait_until, with_browsers};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_in_a_room_see_each_other_arrive_type_edit_delete_and_leave() {
    with_browsers(2, |browsers, node| async move {
        let origin = node.origin;
        let [ada, bob]: [Client; 2] = browsers.try_into().expect("two browsers");
        sign_up(&ada, &origin, "ada").await;
        sign_up(&bob, &origin, "bob").await;
        enter(&ada, &origin, "live").await;
        enter(&bob, &origin, "live").await;

        // Presence: both pages list both; ada, there first, sees bob arrive.
        wait_for_people(&ada, &["ada", "bob"]).await;
        wait_for_people(&bob, &["ada", "bob"]).await;
        wait_for_system_line(&ada, "bob joined").await;

        // Typing shows on the other page, not on your own; the message itself clears it.
        input(&bob).await.send_keys("hello ad").await.expect("type");
        let typing = wait_until(
            &ada,
            "return document.getElementById('typing').textContent",
            "ada sees bob typing",
        )
        .await;
        assert_eq!(typing, "bob is typing…");
        let own = script(&bob, "return document.getElementById('typing').textContent").await;
        assert_eq!(own, "", "your own typing is not shown to you");
        input(&bob)
            .await
            .send_keys(&format!("a{ENTER}"))
            .await
            .expect("type");
        wait_for_room_log(&ada, "bob: hello ada\n").await;
        wait_for_room_log(&bob, "bob: hello ada\n").await;
        wait_until(
            &ada,
            "return document.getElementById('typing').textContent === ''",
            "the typing line clears when bob's message arrives",
        )
        .await;
        let id = id_of(&bob, "hello ada").await;
        let own_on = |page: &Client| {
            let page = page.clone();
            async move {
                script(
                    &page,
                    &format!("return document.querySelector('li.msg[data-id=\"{id}\"]').classList.contains('own')"),
                )
                .await
            }
        };
        assert_eq!(own_on(&bob).await, true, "bob's message is marked as his on his page");
        assert_eq!(own_on(&ada).await, false, "and not on ada's");

        // An edit with the keyboard: Up in the empty box takes bob's last message; Enter saves it.
        input(&bob).await.send_keys(ARROW_UP).await.expect("up");
        wait_until(
            &bob,
            "return document.getElementById('chat-message-input').value === 'hello ada'",
            "Up puts bob's last message in the box",
        )
        .await;
        input(&bob)
            .await
            .send_keys(&format!("{CONTROL}a{RELEASE}hello ada, edited{ENTER}"))
            .await
            .expect("type the edit");
        for page in [&ada, &bob] {
            let log = wait_for_room_log(page, "bob: hello ada, edited [edited]\n").await;
            assert_eq!(log.matches("hello ada").count(), 1, "edited in place:\n{log}");
        }

        // A delete from the message's menu, keyboard only: Enter opens it on Edit, Down, Enter, Enter.
        type_message(&ada, "a mistake").await;
        let mistake = id_of(&bob, "a mistake").await;
        let button = format!("li.msg[data-id=\"{mistake}\"] .msg-menu-button");
        assert_eq!(
            script(&bob, &format!("return document.querySelector('{button}') === null")).await,
            true,
            "bob gets no menu on ada's message (not his, and he is not staff)"
        );
        ada.find(Locator::Css(&button))
            .await
            .expect("ada's menu button")
            .send_keys(ENTER)
            .await
            .expect("open the menu");
        wait_until(
            &ada,
            "return document.activeElement?.dataset.action === 'edit'",
            "the menu opens with focus on Edit",
        )
        .await;
        for (key, then) in [
            (ARROW_DOWN, "delete"),
            (ENTER, "confirm-delete"),
        ] {
            ada.active_element()
                .await
                .expect("focus")
                .send_keys(key)
                .await
                .expect("key");
            wait_until(
                &ada,
                &format!("return document.activeElement?.dataset.action === '{then}'"),
                &format!("focus on {then}"),
            )
            .await;
        }
        ada.active_element()
            .await
            .expect("focus")
            .send_keys(ENTER)
            .await
            .expect("confirm");
        for page in [&ada, &bob] {
            let log = wait_for_room_log(page, "ada: [deleted]\n").await;
            assert!(!log.contains("a mistake"), "{log}");
        }
        assert_eq!(
            script(&ada, "return document.getElementById('message-menu').hidden").await,
            true,
            "the menu closed"
        );

        // Near the byte limit a counter shows (multi-byte text counted in bytes); over it nothing is
        // sent and a notice says why.
        let counter = script(
            &ada,
            "const box = document.getElementById('chat-message-input');
             const max = Number(document.getElementById('room').dataset.maxBytes);
             box.value = 'é'.repeat(Math.ceil(max * 0.45));
             box.dispatchEvent(new Event('input'));
             return [document.getElementById('byte-counter').textContent, Math.ceil(max * 0.45) * 2, max];",
        )
        .await;
        assert_eq!(
            counter[0],
            format!("{} / {} bytes", counter[1], counter[2]),
            "{counter}"
        );
        script(
            &ada,
            "const box = document.getElementById('chat-message-input');
             box.value = 'x'.repeat(Number(document.getElementById('room').dataset.maxBytes) + 1);
             box.dispatchEvent(new Event('input'));
             return true;",
        )
        .await;
        input(&ada).await.send_keys(ENTER).await.expect("Enter");
        wait_until(
            &ada,
            "return Array.from(document.querySelectorAll('#chat-log li.system.notice'))
                 .some((li) => li.textContent.includes('limited to'))",
            "a notice about the limit",
        )
        .await;
        assert_eq!(
            script(&ada, "return document.querySelectorAll('#chat-log li.pending, #chat-log li.failed').length").await,
            0,
            "nothing was sent"
        );

        // Closing bob's browser: ada sees him leave.
        bob.close().await.expect("close bob's browser");
        wait_for_system_line(&ada, "bob left").await;
        wait_for_people(&ada, &["ada"]).await;
    })
    .await;
}
