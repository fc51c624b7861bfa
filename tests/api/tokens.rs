//! API tokens end to end: a bot with `Authorization: Bearer <token>` speaks as its user without an
//! `Origin`; unknown, malformed and revoked tokens are refused at the handshake; revoking a token or
//! deactivating its user closes the sockets already open, on every node; and the binary's `token` commands.

use chatweb::accounts::Accounts;

use crate::accounts::{INVALID_LOGIN, forged_secret};
use crate::helpers::{Client, TempDir, spawn_app, two_nodes};
use crate::manage::run_chatweb;
use crate::people::{Browser, PASSWORD, bot_join, socket};

/// The accounts of the database at `url`, as another process (the admin, a command) would use them.
pub async fn accounts_on(url: &str) -> Accounts {
    let backend = chatweb::storage::Store::connect(url).await.expect("db");
    Accounts::new(
        backend.db(),
        chatweb::config::Config::default().account_settings(),
    )
}

/// Says `text` on `client` and returns the message frame that comes back.
async fn say_and_hear(client: &mut Client, text: &str) -> serde_json::Value {
    client.say(text).await;
    loop {
        let frame = client.next_message().await;
        if frame["message"] == text {
            return frame;
        }
    }
}

/// The user RoboCop with two tokens: one a test revokes (id and value) and one it keeps (value).
async fn robocop_with_two_tokens(
    accounts: &Accounts,
) -> (chatweb::storage::UserRow, (i64, String), String) {
    let user = accounts
        .create_user("RoboCop", "", PASSWORD, false)
        .await
        .expect("user");
    let revoked = accounts.create_token(user.id, "old").await.expect("token");
    let (_, kept) = accounts.create_token(user.id, "new").await.expect("token");
    (user, revoked, kept)
}

#[tokio::test]
async fn a_bot_with_a_token_posts_under_its_users_name_without_an_origin() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let accounts = accounts_on(&dir.sqlite_url()).await;
    let user = accounts
        .create_user("RoboCop", "", PASSWORD, false)
        .await
        .expect("user");
    let (_, token) = accounts.create_token(user.id, "bot").await.expect("token");
    assert!(token.starts_with("cwt_"), "{token}");

    let mut guest = app.join("lobby").await;
    let mut bot = bot_join(app.addr, "/ws/chat/lobby/", &token)
        .await
        .expect("a bearer token needs no Origin");
    bot.send_json(serde_json::json!({"message": "beep", "user": "mallory", "guest": true}))
        .await;
    let frame = bot.next_message().await;
    assert_eq!(frame["user"], "RoboCop");
    assert!(frame.get("guest").is_none(), "{frame}");
    let seen = guest.next_message().await;
    assert_eq!(
        (seen["user"].as_str(), seen["message"].as_str()),
        (Some("RoboCop"), Some("beep"))
    );
    assert!(seen.get("guest").is_none(), "{seen}");

    // With an allowed Origin the token works as well.
    let headers = [
        ("origin", app.origin()),
        ("authorization", format!("Bearer {token}")),
    ];
    let mut with_origin = socket(app.addr, "/ws/chat/lobby/", &headers, false)
        .await
        .expect("joined");
    assert_eq!(
        say_and_hear(&mut with_origin, "boop").await["user"],
        "RoboCop"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_or_malformed_token_is_refused_with_401_at_the_handshake() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let unknown = format!("cwt_{}", forged_secret());
    for token in [
        unknown.as_str(),
        "garbage",
        "cwt_",
        "cwt_not-hex",
        &forged_secret(),
        &format!("{unknown}0"),
    ] {
        assert_eq!(
            bot_join(app.addr, "/ws/chat/lobby/", token).await.err(),
            Some(401),
            "{token:?}"
        );
    }
    // From a page's origin too: a bad token is refused, never taken for a guest.
    let headers = [
        ("origin", app.origin()),
        ("authorization", format!("Bearer {unknown}")),
    ];
    assert_eq!(
        socket(app.addr, "/ws/chat/lobby/", &headers, false)
            .await
            .err(),
        Some(401)
    );
    // Credentials of another scheme (a proxy's Basic) are not a token: that client is a guest.
    let headers = [
        ("origin", app.origin()),
        ("authorization", "Basic YWRhOnB3".to_owned()),
    ];
    let mut guest = socket(app.addr, "/ws/chat/lobby/", &headers, false)
        .await
        .expect("joined as a guest");
    let frame = say_and_hear(&mut guest, "who am I").await;
    assert_eq!(
        (frame["user"].as_str(), frame["guest"].as_bool()),
        (Some("anonymous"), Some(true))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_token_is_refused_and_the_socket_it_opened_closes_with_4401() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let accounts = accounts_on(&dir.sqlite_url()).await;
    let (_, (revoked_id, revoked), kept) = robocop_with_two_tokens(&accounts).await;
    let mut doomed = bot_join(app.addr, "/ws/chat/lobby/", &revoked)
        .await
        .expect("joined");
    let mut other = bot_join(app.addr, "/ws/chat/lobby/", &kept)
        .await
        .expect("joined");
    let mut owner = Browser::new(app.addr);
    assert_eq!(owner.log_in("RoboCop", PASSWORD).await.status, 303);
    let mut session = owner.join("/ws/chat/lobby/").await.expect("joined");

    // Revoked from another process: this node learns it from the revocation log.
    accounts.revoke_token(revoked_id).await.expect("revoke");
    assert_eq!(doomed.closed().await, Some(4401));
    assert_eq!(
        bot_join(app.addr, "/ws/chat/lobby/", &revoked).await.err(),
        Some(401)
    );

    // Only that token's socket closed: the other token and the session still speak as the user.
    assert_eq!(
        say_and_hear(&mut other, "still on").await["user"],
        "RoboCop"
    );
    assert_eq!(
        say_and_hear(&mut session, "me too").await["user"],
        "RoboCop"
    );
    let mut again = bot_join(app.addr, "/ws/chat/lobby/", &kept)
        .await
        .expect("the other token still opens sockets");
    assert_eq!(say_and_hear(&mut again, "and me").await["user"], "RoboCop");
    app.stop().await;
}

#[tokio::test]
async fn deactivating_a_user_closes_their_session_and_token_sockets_with_4403_and_ends_their_login()
{
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut dora = Browser::new(app.addr);
    dora.sign_up("Dora").await;
    let accounts = accounts_on(&dir.sqlite_url()).await;
    let user = accounts.user_named("dora").await.expect("user");
    let (_, token) = accounts.create_token(user.id, "bot").await.expect("token");
    let mut by_session = dora.join("/ws/chat/lobby/").await.expect("joined");
    let mut by_token = bot_join(app.addr, "/ws/chat/lobby/", &token)
        .await
        .expect("joined");
    let mut bystander = app.join("lobby").await;

    accounts
        .set_active(user.id, false)
        .await
        .expect("deactivate");
    assert_eq!(by_session.closed().await, Some(4403));
    assert_eq!(by_token.closed().await, Some(4403));

    // Nothing of theirs works any more: the session, the token, the password.
    assert!(!dora.get("/").await.body.contains("Signed in as"));
    assert_eq!(
        bot_join(app.addr, "/ws/chat/lobby/", &token).await.err(),
        Some(401)
    );
    let mut again = Browser::new(app.addr);
    let page = again.log_in("Dora", PASSWORD).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(INVALID_LOGIN), "{}", page.body);
    assert!(again.cookie("sessionid").is_none());

    // Other people's sockets are untouched.
    assert_eq!(
        say_and_hear(&mut bystander, "still here").await["user"],
        "anonymous"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_token_commands_of_the_binary_create_list_and_revoke_tokens() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let url = dir.sqlite_url();
    Browser::new(app.addr).sign_up("Owner").await;

    let created = run_chatweb(
        &[
            "token",
            "--database-url",
            &url,
            "create",
            "owner",
            "--name",
            "ci-bot",
        ],
        &[],
        None,
    )
    .await;
    assert!(created.status.success(), "{}", created.stderr);
    let token = created.stdout.trim_end().to_owned();
    assert!(
        token.starts_with("cwt_"),
        "only the token on stdout: {:?}",
        created.stdout
    );
    assert!(!token.contains(char::is_whitespace), "{token:?}");
    let mut bot = bot_join(app.addr, "/ws/chat/lobby/", &token)
        .await
        .expect("the new token opens a socket");
    assert_eq!(say_and_hear(&mut bot, "hello").await["user"], "Owner");

    let listed = run_chatweb(
        &["token", "--database-url", &url, "list", "owner"],
        &[],
        None,
    )
    .await;
    assert!(listed.status.success(), "{}", listed.stderr);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{:?}", listed.stdout);
    let fields: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(fields.len(), 5, "{:?}", lines[0]);
    let id = fields[0].to_owned();
    assert!(id.parse::<i64>().is_ok(), "{id:?}");
    assert_eq!(
        (fields[1], fields[2], fields[4]),
        ("Owner", "ci-bot", "live")
    );
    assert!(fields[3].starts_with("20"), "a timestamp: {:?}", fields[3]);

    let revoked = run_chatweb(&["token", "--database-url", &url, "revoke", &id], &[], None).await;
    assert!(revoked.status.success(), "{}", revoked.stderr);
    assert_eq!(
        bot.closed().await,
        Some(4401),
        "the node closes the revoked token's socket"
    );
    assert_eq!(
        bot_join(app.addr, "/ws/chat/lobby/", &token).await.err(),
        Some(401)
    );
    let listed = run_chatweb(&["token", "--database-url", &url, "list"], &[], None).await;
    assert!(listed.status.success(), "{}", listed.stderr);
    let fields: Vec<&str> = listed.stdout.trim_end().split('\t').collect();
    assert_eq!((fields[0], fields[1]), (id.as_str(), "Owner"));
    assert!(fields[4].starts_with("revoked"), "{:?}", listed.stdout);

    // Mistakes fail clearly.
    let twice = run_chatweb(&["token", "--database-url", &url, "revoke", &id], &[], None).await;
    assert!(!twice.status.success());
    assert!(twice.stderr.contains("no live token"), "{}", twice.stderr);
    let nobody = run_chatweb(
        &["token", "--database-url", &url, "create", "nobody"],
        &[],
        None,
    )
    .await;
    assert!(!nobody.status.success());
    assert!(
        nobody.stderr.contains("does not exist"),
        "{}",
        nobody.stderr
    );
    assert!(nobody.stdout.trim().is_empty(), "{:?}", nobody.stdout);
    app.stop().await;
}

#[tokio::test]
async fn the_token_commands_take_the_database_url_after_the_subcommand_as_documented() {
    let dir = TempDir::new();
    let url = dir.sqlite_url();
    let accounts = accounts_on(&url).await;
    accounts
        .create_user("Owner", "", PASSWORD, false)
        .await
        .expect("user");
    let created = run_chatweb(
        &[
            "token",
            "create",
            "Owner",
            "--name",
            "ci-bot",
            "--database-url",
            &url,
        ],
        &[],
        None,
    )
    .await;
    assert!(created.status.success(), "{}", created.stderr);
    assert!(created.stdout.starts_with("cwt_"), "{:?}", created.stdout);
    let listed = run_chatweb(
        &["token", "list", "Owner", "--database-url", &url],
        &[],
        None,
    )
    .await;
    assert!(listed.status.success(), "{}", listed.stderr);
    let id = listed
        .stdout
        .split('\t')
        .next()
        .unwrap_or_default()
        .to_owned();
    let revoked = run_chatweb(&["token", "revoke", &id, "--database-url", &url], &[], None).await;
    assert!(revoked.status.success(), "{}", revoked.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_or_deactivating_its_user_closes_their_sockets_on_every_node() {
    let test = "tokens_across_nodes";
    let Some((db, a, b)) = two_nodes(test).await else {
        return;
    };
    let accounts = accounts_on(&db.url).await;
    let (user, (revoked_id, revoked), kept) = robocop_with_two_tokens(&accounts).await;
    let mut on_a = bot_join(a.addr, "/ws/chat/hall/", &revoked)
        .await
        .expect("joined A");
    let mut on_b = bot_join(b.addr, "/ws/chat/hall/", &revoked)
        .await
        .expect("joined B");
    let mut kept_on_b = bot_join(b.addr, "/ws/chat/hall/", &kept)
        .await
        .expect("joined B");

    accounts.revoke_token(revoked_id).await.expect("revoke");
    assert_eq!(on_a.closed().await, Some(4401), "node A");
    assert_eq!(on_b.closed().await, Some(4401), "node B");
    for node in [a.addr, b.addr] {
        assert_eq!(
            bot_join(node, "/ws/chat/hall/", &revoked).await.err(),
            Some(401)
        );
    }
    assert_eq!(
        say_and_hear(&mut kept_on_b, "still on").await["user"],
        "RoboCop"
    );

    // A session from node A and the other token on node B both end when the user is deactivated.
    let mut browser = Browser::new(a.addr);
    assert_eq!(browser.log_in("RoboCop", PASSWORD).await.status, 303);
    let mut session_on_b = browser
        .on(b.addr)
        .join("/ws/chat/hall/")
        .await
        .expect("joined B");
    accounts
        .set_active(user.id, false)
        .await
        .expect("deactivate");
    assert_eq!(kept_on_b.closed().await, Some(4403));
    assert_eq!(session_on_b.closed().await, Some(4403));
    assert_eq!(
        bot_join(a.addr, "/ws/chat/hall/", &kept).await.err(),
        Some(401)
    );
    drop(accounts);
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}
