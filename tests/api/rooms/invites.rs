//! Invite links: one use joins once; used-up and expired links are refused; the token is stored only
//! hashed; a guest is sent to log in first; a GET never joins anyone.

use serde_json::json;

use super::{api, person};
use crate::helpers::{TempDir, spawn_app};
use crate::people::Browser;

#[tokio::test]
async fn an_invite_link_joins_once_and_its_token_is_not_stored() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = person(app.addr, "ada").await;
    let mut bob = person(app.addr, "bob").await;
    let mut carol = person(app.addr, "carol").await;
    let room = json!({"name": "club", "kind": "private"});
    assert_eq!(
        api(app.addr, &mut ada, "POST", "/api/rooms/", Some(room))
            .await
            .0,
        201
    );
    let (status, link) = api(
        app.addr,
        &mut ada,
        "POST",
        "/api/rooms/club/invites",
        Some(json!({"max_uses": 1, "expires_in_secs": 3600})),
    )
    .await;
    assert_eq!(status, 201, "{link}");
    let url = link["url"].as_str().expect("url").to_owned();
    let token = url
        .trim_start_matches("/invite/")
        .trim_end_matches('/')
        .to_owned();
    assert!(token.len() >= 32, "at least 128 random bits: {token}");

    // A guest is sent to log in; a GET shows the room and joins nobody.
    let page = Browser::new(app.addr).get(&url).await;
    assert_eq!(page.status, 303);
    assert!(
        page.location
            .unwrap_or_default()
            .starts_with("/accounts/login/?next=")
    );
    let page = bob.get(&url).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("club"));
    assert_eq!(
        bob.join("/ws/chat/club/").await.err(),
        Some(403),
        "a GET joins nobody"
    );
    let page = bob.post(&url, &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/chat/club/"));
    assert!(
        bob.join("/ws/chat/club/").await.is_ok(),
        "bob is a member now"
    );
    let page = carol.post(&url, &[]).await;
    assert_eq!(page.status, 410, "used up: {}", page.body);
    assert!(page.body.contains("used up or has expired"));
    assert_eq!(carol.join("/ws/chat/club/").await.err(), Some(403));

    // An expired link says so too; an unknown one is 404.
    let (_, link) = api(
        app.addr,
        &mut ada,
        "POST",
        "/api/rooms/club/invites",
        Some(json!({"max_uses": 5})),
    )
    .await;
    let expiring = link["url"].as_str().expect("url").to_owned();
    let pool = sqlx::SqlitePool::connect(&dir.sqlite_url())
        .await
        .expect("db");
    sqlx::query("UPDATE room_invites SET expires_at = 0 WHERE uses = 0")
        .execute(&pool)
        .await
        .expect("expire");
    assert_eq!(carol.post(&expiring, &[]).await.status, 410);
    assert_eq!(
        carol
            .get(&format!("/invite/{}/", "0".repeat(64)))
            .await
            .status,
        404
    );

    // The database holds the tokens' hashes only.
    let rows: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM room_invites")
        .fetch_all(&pool)
        .await
        .expect("invites");
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|(hash,)| hash != &token && !hash.contains(&token))
    );
    let dump: Vec<(String,)> =
        sqlx::query_as("SELECT quote(token_hash) || quote(room_id) FROM room_invites")
            .fetch_all(&pool)
            .await
            .expect("rows");
    assert!(dump.iter().all(|(row,)| !row.contains(&token)));
    app.stop().await;
}
