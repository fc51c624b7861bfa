//! What staff do that ends a user's sessions: deactivating a user closes their socket with 4403 and
//! refuses their login until they are reactivated; setting a password ends their sessions and only the
//! new one logs in; an API token is shown once, signs a bot in as its user and stops working when revoked.

use crate::accounts::{assert_login_refused, member, signed_in};
use crate::helpers::TempDir;
use crate::people::{Browser, PASSWORD, Page, bot_join};

use super::{
    STAFF, admin_app, audit_actions, audit_rows, audited, chatting_member, page_of, post_flag,
    redirected, said, set_flag, table, text_of, user_id, user_rows,
};

/// The token a token-creation page shows once.
fn new_token(body: &str) -> String {
    let start = body
        .find("id=\"new-token\"")
        .unwrap_or_else(|| panic!("no new token shown: {body}"));
    let shown = &body[start..];
    let code = shown.split_once("<code>").expect("the token's <code>").1;
    code.split_once("</code>").expect("</code>").0.to_owned()
}

/// Submits the set-password form of the user `id`.
async fn set_password(staff: &mut Browser, id: i64, password1: &str, password2: &str) -> Page {
    staff
        .post(
            &format!("/admin/users/{id}/password"),
            &[("password1", password1), ("password2", password2)],
        )
        .await
}

#[tokio::test]
async fn deactivating_a_user_closes_their_socket_with_4403_and_refuses_their_login_until_reactivated()
 {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let (mut ada, mut socket, id) = chatting_member(&app, &mut staff, "ada").await;

    let location = set_flag(&mut staff, id, "active", "false").await;
    assert_eq!(socket.closed().await, Some(4403), "her open socket closes");
    let detail = page_of(&mut staff, &location).await;
    assert!(detail.contains("user deactivated"), "{detail}");
    assert!(detail.contains("id=\"user-active\">no<"), "{detail}");
    assert!(detail.contains("Reactivate"), "{detail}");
    assert!(!signed_in(&mut ada).await, "her session ended");
    let refused = Browser::new(app.addr).log_in("ada", PASSWORD).await;
    assert_login_refused(&refused, "no session for an inactive user");
    assert_eq!(user_rows(&mut staff, "ada").await[0][3], "no");
    audited(&mut staff, STAFF, "user.deactivate", "ada").await;

    set_flag(&mut staff, id, "active", "true").await;
    let detail = page_of(&mut staff, &format!("/admin/users/{id}/")).await;
    assert!(detail.contains("id=\"user-active\">yes<"), "{detail}");
    let mut back = Browser::new(app.addr);
    redirected(&back.log_in("ada", PASSWORD).await, "/");
    let mut socket = back.join("/ws/chat/lobby/").await.expect("joined");
    assert_eq!(socket.next_message().await["message"], "hi", "history");
    assert_eq!(said(&mut socket, "back").await["user"], "ada");
    audited(&mut staff, STAFF, "user.reactivate", "ada").await;
    assert_eq!(
        audit_actions(&mut staff).await,
        ["user.reactivate", "user.deactivate"],
        "newest first"
    );
    let page = post_flag(&mut staff, id, "active", "maybe").await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = post_flag(&mut staff, 9999, "active", "false").await;
    assert_eq!(page.status, 404, "{}", page.body);
    app.stop().await;
}

#[tokio::test]
async fn setting_a_password_ends_the_users_sessions_and_only_the_new_one_logs_in() {
    const NEW: &str = "a much newer passphrase";
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let (mut ada, mut socket, id) = chatting_member(&app, &mut staff, "ada").await;

    let mismatch = set_password(&mut staff, id, NEW, "something else entirely").await;
    assert_eq!(mismatch.status, 200);
    assert!(
        text_of(&mismatch.body).contains("The two password fields didn't match."),
        "{}",
        mismatch.body
    );
    assert!(signed_in(&mut ada).await, "a refused change ends nothing");
    assert!(audit_rows(&mut staff).await.is_empty());

    let page = set_password(&mut staff, id, NEW, NEW).await;
    redirected(&page, &format!("/admin/users/{id}/?notice="));
    assert_eq!(
        socket.closed().await,
        Some(4401),
        "her session's socket closes"
    );
    assert!(!signed_in(&mut ada).await, "her session ended");
    let old = Browser::new(app.addr).log_in("ada", PASSWORD).await;
    assert_login_refused(&old, "the old password no longer works");
    redirected(&Browser::new(app.addr).log_in("ada", NEW).await, "/");
    audited(&mut staff, STAFF, "user.password", "ada").await;
    app.stop().await;
}

#[tokio::test]
async fn a_new_token_is_shown_once_signs_a_bot_in_as_its_user_and_stops_working_when_revoked() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    member(&app, "ada").await;
    let id = user_id(&mut staff, "ada").await;

    let created = staff
        .post(&format!("/admin/users/{id}/tokens"), &[("name", "ci-bot")])
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let token = new_token(&created.body);
    assert!(token.starts_with("cwt_"), "{token}");
    let detail = page_of(&mut staff, &format!("/admin/users/{id}/")).await;
    assert!(!detail.contains("id=\"new-token\""), "shown once");
    assert!(!detail.contains(&token), "the token is never shown again");
    let rows = table(&detail, "token-list");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0][1].as_str(), rows[0][3].as_str()),
        ("ci-bot", "live")
    );
    let token_id = rows[0][0].clone();
    let row = audited(&mut staff, STAFF, "token.create", "ada").await;
    assert_eq!(row[4], format!("token {token_id}"));

    let mut bot = bot_join(app.addr, "/ws/chat/lobby/", &token)
        .await
        .expect("the token works");
    let frame = said(&mut bot, "beep").await;
    assert_eq!(frame["user"], "ada", "a bot speaks as the token's user");
    assert!(frame.get("guest").is_none());

    let page = staff
        .post(
            &format!("/admin/tokens/{token_id}/revoke"),
            &[("next", &format!("/admin/users/{id}/"))],
        )
        .await;
    let location = redirected(&page, &format!("/admin/users/{id}/?notice="));
    assert_eq!(bot.closed().await, Some(4401), "the token's socket closes");
    assert_eq!(
        bot_join(app.addr, "/ws/chat/lobby/", &token).await.err(),
        Some(401)
    );
    let detail = page_of(&mut staff, &location).await;
    assert!(detail.contains("token revoked"), "{detail}");
    assert!(
        table(&detail, "token-list")[0][3].starts_with("revoked "),
        "{detail}"
    );
    let row = audited(&mut staff, STAFF, "token.revoke", "ada").await;
    assert_eq!(row[4], format!("token {token_id}"));
    let again = staff
        .post(&format!("/admin/tokens/{token_id}/revoke"), &[])
        .await;
    assert_eq!(again.status, 404, "already revoked: {}", again.body);
    assert_eq!(
        staff.post("/admin/tokens/999/revoke", &[]).await.status,
        404
    );
    assert_eq!(
        audit_rows(&mut staff).await.len(),
        2,
        "refusals are not audited"
    );
    app.stop().await;
}
