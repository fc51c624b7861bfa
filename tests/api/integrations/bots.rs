//! Bot accounts: `chatweb createbot NAME` makes one and prints a token, once; the token posts through
//! the publish API and the socket, and every frame of the bot says `"bot": true`, as history does; no
//! password ever logs a bot in.

use serde_json::json;

use super::{next_message, publish};
use crate::accounts::INVALID_LOGIN;
use crate::conversations::{PATH, ROOM, town, v2};
use crate::engines::{Database, on_both_engines};
use crate::manage::run_chatweb;
use crate::people::{Browser, PASSWORD, bot_join};
use crate::tokens::accounts_on;

on_both_engines!(
    a_bot_made_by_createbot_posts_with_its_token_and_its_frames_say_bot,
    a_bot_made_by_createbot_posts_with_its_token_and_its_frames_say_bot_on_sqlite,
    a_bot_made_by_createbot_posts_with_its_token_and_its_frames_say_bot_on_postgres
);

async fn a_bot_made_by_createbot_posts_with_its_token_and_its_frames_say_bot(db: &Database) {
    let town = town(db).await;
    let addr = town.app.addr;
    let url = db.url();
    let made = run_chatweb(&["createbot", "herald", "--database-url", &url], &[], None).await;
    assert!(made.status.success(), "{}", made.stderr);
    let token = made.stdout.trim().to_owned();
    assert!(token.starts_with("cwt_"), "{}", made.stdout);
    let again = run_chatweb(&["createbot", "herald", "--database-url", &url], &[], None).await;
    assert!(!again.status.success(), "the name is taken");

    let mut listener = v2(&town.carol, PATH).await;
    let posted = publish(
        addr,
        &token,
        ROOM,
        json!({"message": "hear ye", "client_id": "h1"}),
    )
    .await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    let frame = next_message(&mut listener).await;
    assert_eq!(
        (
            frame["user"].as_str(),
            frame["message"].as_str(),
            frame["bot"].as_bool()
        ),
        (Some("herald"), Some("hear ye"), Some(true)),
        "{frame}"
    );

    // Its socket (plain, by bearer token) speaks as a bot too.
    let mut socket = bot_join(addr, PATH, &token).await.expect("joined");
    socket.say("from the socket").await;
    let frame = next_message(&mut listener).await;
    assert_eq!(
        (frame["message"].as_str(), frame["bot"].as_bool()),
        (Some("from the socket"), Some(true))
    );
    let page = town
        .app
        .get(&format!("/api/rooms/{ROOM}/messages"), None)
        .await;
    let page: serde_json::Value =
        serde_json::from_str(&page.text().await.expect("body")).expect("json");
    assert!(
        page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .all(|m| m["bot"] == true),
        "{page}"
    );

    // No password logs it in: not "!" (its hash), nor one set for it later.
    let mut browser = Browser::new(addr);
    let page = browser.log_in("herald", "!").await;
    assert!(page.body.contains(INVALID_LOGIN), "{}", page.status);
    let accounts = accounts_on(&url).await;
    let bot = accounts.user_named("herald").await.expect("bot");
    assert!(bot.is_bot);
    accounts.set_password(bot.id, PASSWORD).await.expect("set");
    let page = browser.log_in("herald", PASSWORD).await;
    assert!(page.body.contains(INVALID_LOGIN), "{}", page.status);
    assert!(browser.cookie("sessionid").is_none());
    town.app.stop().await;
}

#[tokio::test]
async fn staff_make_a_person_a_bot_in_the_admin_and_their_password_stops_working() {
    let db = Database::sqlite();
    let mut town = town(&db).await;
    let addr = town.app.addr;
    let accounts = accounts_on(&db.url()).await;
    let carol = accounts.user_named("carol").await.expect("carol");
    let made = town
        .boss
        .post(
            &format!("/admin/users/{}/bot", carol.id),
            &[("value", "true")],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let page = town.boss.get(&format!("/admin/users/{}/", carol.id)).await;
    assert!(page.body.contains("signs in by API token only"));
    assert!(accounts.user(carol.id).await.expect("carol").is_bot);

    // Her session ended, no password logs her in, her token posts as a bot.
    let page = town.carol.log_in("carol", PASSWORD).await;
    assert!(page.body.contains(INVALID_LOGIN), "{}", page.status);
    let token = super::token_of(&db.url(), "carol").await;
    let posted = publish(addr, &token, ROOM, json!({"message": "beep"})).await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    let page = town
        .app
        .get(&format!("/api/rooms/{ROOM}/messages"), None)
        .await;
    let page: serde_json::Value =
        serde_json::from_str(&page.text().await.expect("body")).expect("json");
    assert_eq!(page["messages"][0]["bot"], true, "{page}");
    town.app.stop().await;
}
