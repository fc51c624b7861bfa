//! Incoming webhooks: the room's owner makes one (its URL shown once, then listed without it), a POST of
//! Slack's JSON or form payload posts under the hook's name with `"bot": true`, a registered user's name
//! is refused, a revoked hook answers 404, and people who do not manage the room make none.

use serde_json::{Value, json};

use super::{next_message, post};
use crate::conversations::{PATH, ROOM, town, v2};
use crate::engines::{Database, on_both_engines};

on_both_engines!(
    an_incoming_hook_posts_as_a_bot_until_it_is_revoked,
    an_incoming_hook_posts_as_a_bot_until_it_is_revoked_on_sqlite,
    an_incoming_hook_posts_as_a_bot_until_it_is_revoked_on_postgres
);

async fn an_incoming_hook_posts_as_a_bot_until_it_is_revoked(db: &Database) {
    let mut town = town(db).await;
    let addr = town.app.addr;
    let hooks = format!("/api/rooms/{ROOM}/hooks/incoming");
    let (status, made) = crate::rooms::api(
        addr,
        &mut town.ada,
        "POST",
        &hooks,
        Some(json!({"name": "CI"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let url = made["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with("/hooks/cwh_"), "{url}");
    let (status, listed) = crate::rooms::api(addr, &mut town.ada, "GET", &hooks, None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed[0]["name"], "CI");
    assert_eq!(listed[0]["id"], made["id"]);
    assert!(
        !listed.to_string().contains("cwh_"),
        "no token is listed: {listed}"
    );

    let mut listener = v2(&town.carol, PATH).await;
    let json_post = |body: Value| post(addr, &url, None, "application/json", body.to_string());
    let posted = json_post(json!({"text": "build 7 is green", "icon_emoji": ":ok:"})).await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    let frame = next_message(&mut listener).await;
    assert_eq!(
        (
            frame["user"].as_str(),
            frame["message"].as_str(),
            frame["bot"].as_bool()
        ),
        (Some("CI"), Some("build 7 is green"), Some(true)),
        "{frame}"
    );
    assert!(frame.get("guest").is_none(), "a hook is no guest: {frame}");

    // Slack's form: the JSON in the field `payload`, renamed by `username`.
    let form = format!(
        "payload={}",
        urlencoding(&json!({"text": "deployed", "username": "Jenkins"}).to_string())
    );
    let posted = post(addr, &url, None, "application/x-www-form-urlencoded", form).await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    let frame = next_message(&mut listener).await;
    assert_eq!(
        (
            frame["user"].as_str(),
            frame["message"].as_str(),
            frame["bot"].as_bool()
        ),
        (Some("Jenkins"), Some("deployed"), Some(true))
    );

    // `curl -d '{"text": ...}'`: JSON labelled as a form.
    let curl = json!({"text": "from curl"}).to_string();
    let posted = post(addr, &url, None, "application/x-www-form-urlencoded", curl).await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert_eq!(next_message(&mut listener).await["message"], "from curl");

    // A registered user's name is not the hook's to take; nor is text optional.
    let taken = json_post(json!({"text": "I am ada", "username": "ADA"})).await;
    assert_eq!(
        (taken.status, taken.body["error"].as_str()),
        (400, Some("username_taken"))
    );
    let empty = json_post(json!({"username": "x"})).await;
    assert_eq!(empty.status, 400);

    // The room page badges it, and shows the hooks section to its owner only.
    let page = town.ada.get(&format!("/chat/{ROOM}/")).await;
    assert!(
        page.body
            .contains(r#"<span class="tag bot-tag">bot</span>"#),
        "a badge"
    );
    assert!(
        page.body.contains(r#"id="hooks-section""#),
        "the owner's section"
    );
    let page = town.bob.get(&format!("/chat/{ROOM}/")).await;
    assert!(
        !page.body.contains(r#"id="hooks-section""#),
        "not a moderator's"
    );

    // History says bot too.
    let page = town
        .app
        .get(&format!("/api/rooms/{ROOM}/messages"), None)
        .await;
    let page: Value = serde_json::from_str(&page.text().await.expect("body")).expect("json");
    let bots: Vec<_> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["user"].as_str().unwrap_or_default().to_owned(),
                m["bot"] == true,
            )
        })
        .collect();
    let expected = [("CI", true), ("Jenkins", true), ("CI", true)].map(|(u, b)| (u.to_owned(), b));
    assert_eq!(bots, expected);

    // Revoked (by staff here): the URL is gone, and so is the hook from the list.
    let revoke = format!("/api/hooks/incoming/{}", made["id"]);
    let (status, _) = crate::rooms::api(addr, &mut town.carol, "DELETE", &revoke, None).await;
    assert_eq!(status, 404, "not carol's to revoke");
    let (status, _) = crate::rooms::api(addr, &mut town.boss, "DELETE", &revoke, None).await;
    assert_eq!(status, 204);
    let gone = json_post(json!({"text": "still here?"})).await;
    assert_eq!(
        (gone.status, gone.body["error"].as_str()),
        (404, Some("not_found"))
    );
    let unknown = post(
        addr,
        "/hooks/cwh_nothing",
        None,
        "application/json",
        "{}".into(),
    )
    .await;
    assert_eq!(unknown.status, 404);
    let (_, listed) = crate::rooms::api(addr, &mut town.ada, "GET", &hooks, None).await;
    assert_eq!(listed, json!([]));
    town.app.stop().await;
}

#[tokio::test]
async fn only_the_rooms_owners_and_staff_make_incoming_hooks() {
    let db = Database::sqlite();
    let mut town = town(&db).await;
    let addr = town.app.addr;
    let hooks = format!("/api/rooms/{ROOM}/hooks/incoming");
    let name = Some(json!({"name": "CI"}));
    let (status, body) =
        crate::rooms::api(addr, &mut town.carol, "POST", &hooks, name.clone()).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let (status, _) = crate::rooms::api(addr, &mut town.bob, "POST", &hooks, name.clone()).await;
    assert_eq!(status, 403, "a moderator is no owner");
    let (status, _) = crate::rooms::api(addr, &mut town.carol, "GET", &hooks, None).await;
    assert_eq!(status, 403);
    let (status, made) = crate::rooms::api(addr, &mut town.boss, "POST", &hooks, name).await;
    assert_eq!(status, 201, "{made}");
    // The admin lists it on the room's page and revokes it.
    let admin = town.boss.get(&format!("/admin/rooms/{ROOM}/")).await;
    assert!(
        admin.body.contains(r#"id="hook-list""#) && admin.body.contains("CI"),
        "{}",
        admin.status
    );
    let revoke = format!("/admin/hooks/incoming/{}/revoke", made["id"]);
    let revoked = town.boss.post(&revoke, &[]).await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    let url = made["url"].as_str().expect("url");
    let gone = post(
        addr,
        url,
        None,
        "application/json",
        r#"{"text": "x"}"#.into(),
    )
    .await;
    assert_eq!(gone.status, 404);
    assert_eq!(
        town.carol.post(&revoke, &[]).await.status,
        403,
        "staff only"
    );
    let taken = Some(json!({"name": "carol"}));
    let (status, body) = crate::rooms::api(addr, &mut town.ada, "POST", &hooks, taken).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("username_taken"))
    );
    // A private room someone is not in: it does not exist for them.
    let (status, _) = crate::rooms::api(
        addr,
        &mut town.ada,
        "POST",
        "/api/rooms/",
        Some(json!({"name": "vault", "kind": "private"})),
    )
    .await;
    assert_eq!(status, 201);
    let vault = "/api/rooms/vault/hooks/incoming";
    let (status, _) = crate::rooms::api(
        addr,
        &mut town.carol,
        "POST",
        vault,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, 404);
    // Without the CSRF header a session may not make one.
    let response = reqwest::Client::new()
        .post(format!("http://{addr}{hooks}"))
        .header("cookie", town.ada.cookie_header())
        .header("content-type", "application/json")
        .body(r#"{"name": "CI"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 403);
    town.app.stop().await;
}

/// Percent-encodes `text` for a form field.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
