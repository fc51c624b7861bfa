//! The room page in a real browser (tests/api/chromium.rs drives it): messages between pages and rooms,
//! markup kept as text, and a page that rides out a server restart. The message list is read line by
//! line as the old textarea printed it (`room_log_of`).

use fantoccini::{Client, Locator};

use crate::chromium::{
    Chromedriver, SCENARIO_LIMIT, browser_installed, close_all, not_pwned, rethrow, room_log_of,
    type_message, wait_for_room_log, wait_open, with_browsers,
};
use crate::helpers::{PATIENCE, TempDir, spawn_app};

const FIRST: &str = "hello from page one";
const OTHER: &str = "hello from other";
const SCRIPT: &str = "<script>window.__pwned=1</script>";
const BREAKOUT: &str = "</textarea><img src=x onerror=\"window.__pwned=2\">";

fn line(text: &str) -> String {
    format!("anonymous (guest): {text}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_page_shows_a_message_sent_from_another_page_in_the_same_room_and_not_in_another_room()
 {
    with_browsers(3, |browsers, node| async move {
        let origin = node.origin;
        let [one, two, three]: [Client; 3] = browsers.try_into().expect("three browsers");
        one.goto(&format!("{origin}/chat/lobby/"))
            .await
            .expect("open lobby page one");
        two.goto(&format!("{origin}/chat/lobby/"))
            .await
            .expect("open lobby page two");
        three
            .goto(&format!("{origin}/chat/other/"))
            .await
            .expect("open other page");
        for page in [&one, &two, &three] {
            wait_open(page).await;
        }

        // Same room: page 2 sees page 1's message, and page 1 gets its own message back.
        type_message(&one, FIRST).await;
        wait_for_room_log(&two, &line(FIRST)).await;
        wait_for_room_log(&one, &line(FIRST)).await;

        // Other room: page 1's message was published before page 3's own, so had it been routed to page 3
        // it would already be in page 3's log.
        type_message(&three, OTHER).await;
        let other_log = wait_for_room_log(&three, &line(OTHER)).await;
        assert!(
            !other_log.contains(FIRST),
            "a lobby message reached the other room:\n{other_log}"
        );

        // Markup in a message is text: shown literally, never run.
        type_message(&one, SCRIPT).await;
        let lobby_log = wait_for_room_log(&two, &line(SCRIPT)).await;
        assert!(
            !lobby_log.contains(OTHER),
            "a message of the other room reached the lobby:\n{lobby_log}"
        );
        assert_eq!(
            lobby_log.matches(FIRST).count(),
            1,
            "the first message is shown once:\n{lobby_log}"
        );
        assert!(
            not_pwned(&two).await,
            "a script in a message ran on page two"
        );
        assert!(
            not_pwned(&one).await,
            "a script in a message ran on page one"
        );

        // The same in the server-rendered history: a reload shows every line once, literally.
        type_message(&one, BREAKOUT).await;
        wait_for_room_log(&two, &line(BREAKOUT)).await;
        two.refresh().await.expect("reload page two");
        wait_open(&two).await;
        assert_eq!(
            room_log_of(&two).await,
            [FIRST, SCRIPT, BREAKOUT].map(line).concat(),
            "the reloaded page shows the history once, as text"
        );
        assert!(
            not_pwned(&two).await,
            "markup in the history ran on the reloaded page"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_page_keeps_working_across_a_server_restart_and_shows_what_was_sent_meanwhile() {
    if !browser_installed() {
        return;
    }
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let addr = app.addr;
    let driver = Chromedriver::start(&dir).await;
    let browsers = driver.open_browsers(&dir, 1).await;
    let page = browsers[0].clone();
    let database_url = dir.sqlite_url();
    let task = tokio::spawn(async move {
        page.goto(&format!("http://{addr}/chat/restart/"))
            .await
            .expect("open the room page");
        wait_open(&page).await;
        type_message(&page, "before the restart").await;
        wait_for_room_log(&page, &line("before the restart")).await;

        // The server stops: the page notices and shows it is offline.
        app.stop().await;
        page.wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("#room[data-state=offline]"))
            .await
            .expect("the page shows it is offline");
        // Typed while offline: kept and sent once the page is back.
        type_message(&page, "typed while offline").await;

        // The same node comes back on the same port and database; someone speaks before the page returns.
        let config = chatweb::config::Config {
            port: addr.port(),
            ..crate::helpers::test_config(database_url)
        };
        let app = crate::helpers::spawn_app_with(config).await;
        let mut other = app.join("restart").await;
        other.say("sent meanwhile").await;

        let log = wait_for_room_log(&page, &line("typed while offline")).await;
        let log = if log.contains("sent meanwhile") {
            log
        } else {
            wait_for_room_log(&page, &line("sent meanwhile")).await
        };
        wait_open(&page).await;
        for text in [
            "before the restart",
            "typed while offline",
            "sent meanwhile",
        ] {
            assert_eq!(log.matches(text).count(), 1, "{text:?} once in:\n{log}");
        }
        assert!(log.starts_with(&line("before the restart")), "{log}");
        // Stored once: the other client sees exactly three messages, ids 1 to 3.
        let mut back = app.join_path("/ws/chat/restart/?since=0", None).await;
        let ids: Vec<_> = back
            .messages(3)
            .await
            .iter()
            .map(|f| f["id"].as_u64())
            .collect();
        assert_eq!(ids, [Some(1), Some(2), Some(3)]);
        back.say("after").await;
        assert_eq!(
            back.next_message().await["id"],
            4,
            "nothing else was stored"
        );
        app.stop().await;
    });
    let abort = task.abort_handle();
    let outcome = tokio::time::timeout(SCENARIO_LIMIT, task).await;
    abort.abort();
    close_all(browsers).await;
    drop(driver);
    rethrow(outcome);
}
