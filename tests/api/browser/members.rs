//! The pages of issue 18 in a real browser (tests/api/chromium.rs drives it): a signed-in person creates a
//! private room from the lobby by keyboard alone, lands in it, adds a member through the room's members
//! panel by keyboard, opens a direct conversation from the lobby, and finds both under "Your rooms" (also
//! after the lobby's live refresh, and never among the public rooms). axe-core finds no serious or critical
//! problem on the lobby or on the room page with its members panel open, wide or narrow, light or dark; the
//! panel's screenshots go to docs/screenshots/.

use fantoccini::{Client, Locator};
use serde_json::Value;

use super::axe::{VIEWS, axe, screenshot_dir};
use super::sign_up;
use crate::chromium::{
    ENTER, axe_source, emulate, screenshot_to, wait_open, wait_until, with_browsers,
};

/// WebDriver key codes.
const TAB: &str = "\u{E004}";
const SHIFT: &str = "\u{E008}";
const ARROW_DOWN: &str = "\u{E015}";
/// Releases held modifier keys.
const RELEASE: &str = "\u{E000}";
/// Most Tab presses a walk to one control may take.
const MAX_TABS: usize = 40;

async fn script(page: &Client, body: &str) -> Value {
    page.execute(body, vec![]).await.expect("script runs")
}

/// Types `keys` into whatever has the focus.
async fn keys(page: &Client, keys: &str) {
    page.active_element()
        .await
        .expect("a focused element")
        .send_keys(keys)
        .await
        .expect("keys");
}

/// The id of the focused element.
async fn focused(page: &Client) -> String {
    let id = script(page, "return document.activeElement?.id ?? ''").await;
    id.as_str().unwrap_or_default().to_owned()
}

/// Presses Tab (Shift+Tab when `backwards`) until `id` has the focus, as a keyboard user would.
async fn tab_to(page: &Client, id: &str, backwards: bool) {
    let key = if backwards {
        format!("{SHIFT}{TAB}{RELEASE}")
    } else {
        TAB.to_owned()
    };
    for _ in 0..MAX_TABS {
        if focused(page).await == id {
            return;
        }
        keys(page, &key).await;
    }
    panic!("#{id} never took the focus within {MAX_TABS} Tab presses");
}

/// Waits until "Your rooms" lists `room` as a `kind` room named `label`, and the public list does not.
async fn wait_for_my_room(page: &Client, room: &str, kind: &str, label: &str) {
    let check = format!(
        "const li = document.querySelector('#my-room-list li[data-room=\"{room}\"]');
         return Boolean(li && li.dataset.kind === {kind:?}
             && li.querySelector('.room-link').textContent === {label:?}
             && !document.querySelector('#room-list li[data-room=\"{room}\"]'));"
    );
    wait_until(page, &check, &format!("Your rooms lists {room} as {label}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_room_is_made_by_keyboard_from_the_lobby_and_the_lobby_and_members_panel_pass_axe()
 {
    with_browsers(1, |browsers, node| async move {
        let origin = node.origin;
        let ada = browsers[0].clone();
        let _bob = crate::rooms::person(node.addr, "bob").await;
        let mut public = crate::helpers::connect(node.addr, "/ws/chat/random/").await;
        public.say("anyone around?").await;
        public.next_message().await;
        sign_up(&ada, &origin, "ada").await;
        ada.goto(&origin).await.expect("lobby");

        // Keyboard only: Tab to the new room's name, the radio group (arrows pick "private"), the topic,
        // Enter.
        tab_to(&ada, "new-room-name", false).await;
        keys(&ada, "plans").await;
        keys(&ada, TAB).await;
        assert_eq!(focused(&ada).await, "new-room-public", "the checked radio takes the focus");
        keys(&ada, ARROW_DOWN).await;
        let private = script(&ada, "return document.getElementById('new-room-private').checked").await;
        assert_eq!(private, true, "the arrow key picked private");
        keys(&ada, TAB).await;
        assert_eq!(focused(&ada).await, "new-room-topic");
        keys(&ada, &format!("Launch plans{ENTER}")).await;
        wait_open(&ada).await;
        let kind = script(&ada, "return document.getElementById('room-kind')?.textContent").await;
        assert_eq!(kind, "private");

        // The members panel, by keyboard: back from the message box to its summary, Enter opens it, Tab
        // to the add form, type a name, Enter.
        tab_to(&ada, "members-summary", true).await;
        keys(&ada, ENTER).await;
        tab_to(&ada, "add-member-user", false).await;
        keys(&ada, &format!("bob{ENTER}")).await;
        wait_until(
            &ada,
            "return document.getElementById('room-notice')?.textContent === 'Member added.'
                && document.querySelector('#member-list li[data-user=\"bob\"]') !== null",
            "bob is added",
        )
        .await;
        wait_open(&ada).await;

        // A direct conversation from the lobby's other form, also by keyboard.
        ada.goto(&origin).await.expect("lobby");
        tab_to(&ada, "dm-users", false).await;
        keys(&ada, &format!("bob{ENTER}")).await;
        wait_open(&ada).await;
        let dm = script(&ada, "return document.getElementById('room').dataset.room").await;
        let dm = dm.as_str().expect("a room name").to_owned();

        // Both are "Your rooms", as the server renders them and after the live refresh.
        ada.goto(&origin).await.expect("lobby");
        wait_for_my_room(&ada, "plans", "private", "plans").await;
        wait_for_my_room(&ada, &dm, "direct", "bob").await;
        wait_until(
            &ada,
            "return Boolean(document.getElementById('my-room-list').dataset.updated)",
            "the lobby refreshed its lists",
        )
        .await;
        wait_for_my_room(&ada, "plans", "private", "plans").await;
        wait_for_my_room(&ada, &dm, "direct", "bob").await;

        let axe_js = axe_source();
        let mut problems = Vec::new();
        for (width, height, scheme) in VIEWS {
            emulate(&ada, width, height, scheme).await;
            ada.refresh().await.expect("reload the lobby");
            wait_for_my_room(&ada, "plans", "private", "plans").await;
            for v in axe(&ada, axe_js.as_deref()).await {
                problems.push(format!("lobby {width} {scheme}: {v}"));
            }
        }

        // The room page with the panel open and a fresh invite link showing.
        ada.goto(&format!("{origin}/chat/plans/")).await.expect("room");
        wait_open(&ada).await;
        ada.find(Locator::Id("members-summary"))
            .await
            .expect("the panel")
            .click()
            .await
            .expect("open the panel");
        ada.find(Locator::Id("invite-submit"))
            .await
            .expect("the invite button")
            .click()
            .await
            .expect("make a link");
        wait_until(
            &ada,
            "return document.getElementById('invite-link')?.getAttribute('href').startsWith('/invite/')",
            "the invite link shows",
        )
        .await;
        wait_open(&ada).await;
        let dir = screenshot_dir();
        for (width, height, scheme) in VIEWS {
            emulate(&ada, width, height, scheme).await;
            for v in axe(&ada, axe_js.as_deref()).await {
                problems.push(format!("room with its members panel {width} {scheme}: {v}"));
            }
            screenshot_to(&ada, &dir.join(format!("members-{width}-{scheme}.png"))).await;
        }
        assert!(
            problems.is_empty(),
            "axe-core found serious or critical problems:\n{}",
            problems.join("\n")
        );
    })
    .await;
}
