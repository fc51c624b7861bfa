//! Who may read: a members-only server answers guests 401 and members 200, and an unknown or revoked bearer
//! token is 401 even where guests may read.

use chatweb::config::Config;

use super::{api_get, assert_error, bearer, ok, say, session};
use crate::accounts::member;
use crate::helpers::{TempDir, spawn_app, spawn_app_with, test_config};
use crate::tokens::accounts_on;

#[tokio::test]
async fn a_members_only_server_answers_guests_401_and_members_200() {
    let dir = TempDir::new();
    let app = spawn_app_with(Config {
        guests: false,
        ..test_config(dir.sqlite_url())
    })
    .await;
    let ada = member(&app, "ada").await;
    let mut socket = ada.join("/ws/chat/lobby/").await.expect("a member joins");
    say(&mut socket, "members only").await;
    let accounts = accounts_on(&dir.sqlite_url()).await;
    let row = accounts.user_named("ada").await.expect("ada");
    let (_, token) = accounts.create_token(row.id, "api").await.expect("token");

    for path in ["/api/rooms/", "/api/rooms/lobby/messages"] {
        let answer = api_get(app.addr, path, &[]).await;
        assert_error(&answer, 401, "login_required", path);
        assert_eq!(answer.headers["www-authenticate"], "Bearer");
        let forged = api_get(app.addr, path, &[("cookie", "sessionid=nope".into())]).await;
        assert_error(&forged, 401, "login_required", path);
        ok(app.addr, path, &session(&ada)).await;
        ok(app.addr, path, &bearer(&token)).await;
    }
    let page = ok(app.addr, "/api/rooms/lobby/messages", &bearer(&token)).await;
    assert_eq!(page["messages"][0]["message"], "members only");
    // The document is not data: anyone may read it.
    ok(app.addr, "/api/openapi.json", &[]).await;
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_or_revoked_bearer_token_is_401_even_where_guests_may_read() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let accounts = accounts_on(&dir.sqlite_url()).await;
    let user = accounts
        .create_user("RoboCop", "", crate::people::PASSWORD, false)
        .await
        .expect("user");
    let (_, token) = accounts.create_token(user.id, "kept").await.expect("token");
    let revoked = accounts
        .create_token(user.id, "revoked")
        .await
        .expect("token");
    accounts.revoke_token(revoked.0).await.expect("revoke");

    ok(app.addr, "/api/rooms/", &[]).await;
    ok(app.addr, "/api/rooms/", &bearer(&token)).await;
    for bad in [
        "cwt_nope".to_owned(),
        format!("cwt_{}", crate::accounts::forged_secret()),
        revoked.1.clone(),
    ] {
        for path in ["/api/rooms/", "/api/rooms/lobby/messages"] {
            let answer = api_get(app.addr, path, &bearer(&bad)).await;
            assert_error(&answer, 401, "login_required", &bad);
        }
    }
    app.stop().await;
}
