//! Moving over from the Django app: a real Django database (the schema Django's migrations create, on
//! SQLite and on PostgreSQL, with a password hashed as Django's pbkdf2_sha256 hasher does, by Python's
//! hashlib rather than our code), imported by the `chatweb import-django` binary into a chatweb database
//! that already has a user and a message. Then: the Django password logs in through `/accounts/login/`
//! and is stored again as Argon2id; the history is Django's in timestamp order with gap-free ids and the
//! original timestamps; a dry run changes nothing; a second run imports nothing twice; a name chatweb has
//! is never overwritten, and the account holding it gets none of the Django user's messages (they are
//! imported without an account, and reported); malformed rows are skipped with their ids; an unusable
//! password never logs in.

use serde_json::{Value, json};

use crate::accounts::{assert_login_refused, signed_in};
use crate::helpers::{TempDir, spawn_app_with, test_config};
use crate::manage::{Output, run_chatweb};
use crate::people::{Browser, PASSWORD};
use crate::services::TestDatabase;

use fixture::{ADA_PASSWORD, Engine, django_rows, django_schema};

mod fixture;

/// Runs `sql` (several statements) on the database at `url`.
async fn execute(url: &str, sql: String) {
    use sqlx::Connection;
    if url.starts_with("postgres") {
        let mut db = sqlx::PgConnection::connect(url).await.expect("postgres");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut db)
            .await
            .expect("sql");
        let _ = db.close().await;
    } else {
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)
            .expect("url")
            .create_if_missing(true);
        let mut db = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("sqlite");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut db)
            .await
            .expect("sql");
        let _ = db.close().await;
    }
}

/// One text value of chatweb's database at `url`.
async fn scalar(url: &str, sql: &'static str) -> String {
    use sqlx::Connection;
    if url.starts_with("postgres") {
        let mut db = sqlx::PgConnection::connect(url).await.expect("postgres");
        let value: String = sqlx::query_scalar(sql).fetch_one(&mut db).await.expect(sql);
        let _ = db.close().await;
        value
    } else {
        let mut db = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
        let value: String = sqlx::query_scalar(sql).fetch_one(&mut db).await.expect(sql);
        let _ = db.close().await;
        value
    }
}

/// What a test compares to see that nothing changed: every user and every message, in order.
async fn contents(url: &str) -> String {
    let users = "SELECT COALESCE(string_agg(username || ':' || password_hash || ':' || \
                 CAST(created_at AS TEXT), ',' ORDER BY id), '') FROM users";
    let sqlite_users = "SELECT COALESCE(group_concat(username || ':' || password_hash || ':' || \
                        created_at, ','), '') FROM (SELECT * FROM users ORDER BY id)";
    let messages = "SELECT COALESCE(string_agg(CAST(room_id AS TEXT) || '/' || CAST(seq AS TEXT) \
                    || ':' || body, ',' ORDER BY room_id, seq), '') FROM messages";
    let sqlite_messages = "SELECT COALESCE(group_concat(room_id || '/' || seq || ':' || body, ','), \
                           '') FROM (SELECT * FROM messages ORDER BY room_id, seq)";
    if url.starts_with("postgres") {
        format!(
            "{}\n{}",
            scalar(url, users).await,
            scalar(url, messages).await
        )
    } else {
        format!(
            "{}\n{}",
            scalar(url, sqlite_users).await,
            scalar(url, sqlite_messages).await
        )
    }
}

/// A chatweb database at `url` where Carol has signed up and said something in the lobby.
async fn chatweb_with_carol(url: &str) {
    let app = spawn_app_with(test_config(url.to_owned())).await;
    let mut carol = Browser::new(app.addr);
    carol.sign_up("Carol").await;
    let mut socket = carol.join("/ws/chat/lobby/").await.expect("joins");
    socket.say("before the move").await;
    let echo = socket.next_message().await;
    assert_eq!(echo["message"], "before the move");
    socket.close().await;
    app.stop().await;
}

/// `chatweb import-django SOURCE --database-url TARGET` (with `--dry-run` when asked).
async fn import(source: &str, target: &str, dry_run: bool) -> Output {
    let mut args = vec!["import-django", source, "--database-url", target];
    if dry_run {
        args.push("--dry-run");
    }
    let output = run_chatweb(&args, &[], None).await;
    assert!(output.status.success(), "{}", output.stderr);
    output
}

/// The summary lines of a first import (or of its dry run). Django's `Ada` (a conflict with Django's
/// `ada`) and `carol` (a conflict with chatweb's `Carol`) each wrote a message, which no account gets.
fn first_summary(verb: &str) -> String {
    format!(
        "users: 2 {verb}, 2 conflicts (name taken), 1 skipped\n\
         messages: 6 {verb}, 0 conflicts (already imported), 2 skipped\n\
         unlinked: 2 {verb} without an account (the name is another chatweb account's): \
         \"Ada\" (1), \"carol\" (1)\n\
         rooms: 2 {verb}, 1 new\n"
    )
}

/// A page of a room's history from the API.
async fn history(addr: std::net::SocketAddr, room: &str) -> Vec<Value> {
    let url = format!("http://{addr}/api/rooms/{room}/messages");
    let page: Value = reqwest::get(&url)
        .await
        .expect("GET")
        .text()
        .await
        .map(|body| serde_json::from_str(&body).expect("json"))
        .expect("body");
    page["messages"].as_array().expect("messages").clone()
}

/// The whole move onto chatweb's database at `target` from the Django database at `source`.
async fn moves_over(source: &str, target: &str) {
    chatweb_with_carol(target).await;
    let before = contents(target).await;

    let dry = import(source, target, true).await;
    assert_eq!(
        dry.stdout,
        format!(
            "Dry run: nothing was changed.\n{}",
            first_summary("to import")
        )
    );
    assert_eq!(contents(target).await, before, "a dry run changes nothing");

    let first = import(source, target, false).await;
    assert_eq!(first.stdout, first_summary("imported"));
    for report in [
        "conflict: auth_user id 3: the username \"Ada\"",
        "conflict: auth_user id 5: the username \"carol\" is taken in chatweb (by \"Carol\")",
        "skipped: auth_user id 4: username \"bad name\"",
        "skipped: chatapp_message id 5: the room name \"bad room\" is not valid",
        "skipped: chatapp_message id 6: the text",
    ] {
        assert!(first.stderr.contains(report), "{report}: {}", first.stderr);
    }

    let app = spawn_app_with(test_config(target.to_owned())).await;
    let lobby = history(app.addr, "lobby").await;
    let seen: Vec<(u64, &str, &str, &str, bool)> = lobby
        .iter()
        .map(|m| {
            (
                m["id"].as_u64().expect("id"),
                m["ts"].as_str().expect("ts"),
                m["user"].as_str().expect("user"),
                m["message"].as_str().expect("message"),
                m["guest"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(seen[0].3, "before the move");
    assert_eq!(
        seen[1..],
        [
            (
                2,
                "2021-03-04T05:06:07.123Z",
                "ada",
                "hello from django",
                false
            ),
            (
                3,
                "2021-03-04T05:06:07.123Z",
                "Ada",
                "same time as 1, later id",
                true
            ),
            (4, "2021-03-04T05:06:08.500Z", "bob", "third by time", false),
            (5, "2021-03-04T05:06:09.000Z", "zed", "fourth by time", true),
            (
                6,
                "2021-03-04T05:06:10.000Z",
                "carol",
                "carol from django",
                true
            ),
        ]
    );
    let room_two = history(app.addr, "room-2").await;
    assert_eq!(room_two.len(), 1);
    assert_eq!(
        (&room_two[0]["id"], &room_two[0]["ts"]),
        (&Value::from(1), &Value::from("2021-01-01T00:00:00.000Z"))
    );

    // Ada logs in with her Django password, which is then stored as Argon2id and still works.
    let imported = scalar(
        target,
        "SELECT password_hash FROM users WHERE username = 'ada'",
    )
    .await;
    assert!(imported.starts_with("pbkdf2_sha256$870000$"), "{imported}");
    let mut ada = Browser::new(app.addr);
    assert_eq!(ada.log_in("ada", ADA_PASSWORD).await.status, 303);
    assert!(signed_in(&mut ada).await);
    let upgraded = scalar(
        target,
        "SELECT password_hash FROM users WHERE username = 'ada'",
    )
    .await;
    assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
    let mut again = Browser::new(app.addr);
    assert_eq!(again.log_in("ada", ADA_PASSWORD).await.status, 303);
    assert!(signed_in(&mut again).await);
    let refused = Browser::new(app.addr).log_in("ada", "lètmein").await;
    assert_login_refused(&refused, "a wrong password after the upgrade");
    // Django's superuser is staff here.
    assert_eq!(
        scalar(
            target,
            "SELECT CASE WHEN is_staff THEN 'staff' ELSE 'member' END FROM users WHERE username = 'ada'"
        )
        .await,
        "staff"
    );
    // Bob's unusable password never logs in; Carol is who she was.
    for password in ["!Ux9tVf2Bunusable", ""] {
        let page = Browser::new(app.addr).log_in("bob", password).await;
        assert_login_refused(&page, &format!("bob with {password:?}"));
    }
    assert_eq!(
        Browser::new(app.addr)
            .log_in("Carol", PASSWORD)
            .await
            .status,
        303
    );
    app.stop().await;

    let settled = contents(target).await;
    let second = import(source, target, false).await;
    assert_eq!(
        second.stdout,
        "users: 0 imported, 4 conflicts (name taken), 1 skipped\n\
         messages: 0 imported, 6 conflicts (already imported), 2 skipped\n\
         rooms: 0 imported, 0 new\n"
    );
    assert!(
        second
            .stderr
            .contains("conflict: auth_user id 1: the username \"ada\""),
        "{}",
        second.stderr
    );
    assert_eq!(contents(target).await, settled, "nothing is imported twice");
}

#[tokio::test]
async fn a_django_sqlite_database_moves_over_with_its_passwords_and_history_and_only_once() {
    let dir = TempDir::new();
    let django = dir.path().join("django.sqlite3");
    let source = format!("sqlite://{}", django.display());
    execute(
        &source,
        format!(
            "{}\n{}",
            django_schema(Engine::Sqlite),
            django_rows(Engine::Sqlite)
        ),
    )
    .await;
    // The source is named by its path, as an operator types it.
    moves_over(&django.display().to_string(), &dir.sqlite_url()).await;
}

#[tokio::test]
async fn a_django_postgres_database_moves_over_into_postgres() {
    let Some(django) = TestDatabase::create("a_django_postgres_database_moves_over").await else {
        return;
    };
    let Some(chatweb) = TestDatabase::create("a_django_postgres_database_moves_over").await else {
        return;
    };
    execute(
        &django.url,
        format!(
            "{}\n{}",
            django_schema(Engine::Postgres),
            django_rows(Engine::Postgres)
        ),
    )
    .await;
    moves_over(&django.url, &chatweb.url).await;
    django.drop_database().await;
    chatweb.drop_database().await;
}

#[tokio::test]
async fn an_account_registered_before_the_import_gets_no_messages_of_the_django_user_of_its_name() {
    let dir = TempDir::new();
    let target = dir.sqlite_url();
    // Someone registered `ada` on chatweb before the move; Django's `ada` is another person.
    let app = spawn_app_with(test_config(target.clone())).await;
    Browser::new(app.addr).sign_up("ada").await;
    app.stop().await;
    let django = dir.path().join("django.sqlite3");
    let source = format!("sqlite://{}", django.display());
    execute(
        &source,
        format!(
            "{}\n{}",
            django_schema(Engine::Sqlite),
            django_rows(Engine::Sqlite)
        ),
    )
    .await;

    let report = import(&django.display().to_string(), &target, false).await;
    assert!(
        report
            .stderr
            .contains("conflict: auth_user id 1: the username \"ada\" is taken in chatweb"),
        "{}",
        report.stderr
    );
    // Django's `ada` and `Ada` (id 3, skipped as a conflict with it) each wrote one message.
    assert!(
        report.stdout.contains(
            "unlinked: 2 imported without an account (the name is another chatweb account's): \
             \"Ada\" (1), \"ada\" (1)"
        ),
        "{}",
        report.stdout
    );
    assert!(report.stderr.contains("unlinked: "), "{}", report.stderr);

    let app = spawn_app_with(test_config(target.clone())).await;
    let lobby = history(app.addr, "lobby").await;
    let by_django_ada = lobby
        .iter()
        .find(|m| m["message"] == "hello from django")
        .expect("imported");
    assert_eq!(by_django_ada["user"], "ada");
    assert_eq!(by_django_ada["guest"], true, "no account: {by_django_ada}");
    let id = by_django_ada["id"].as_u64().expect("id");

    // chatweb's ada may neither edit nor delete it.
    let mut ada = Browser::new(app.addr);
    assert_eq!(ada.log_in("ada", PASSWORD).await.status, 303);
    let mut socket = ada.join_v2("/ws/chat/lobby/").await.expect("joins");
    for frame in [
        json!({"type": "edit", "id": id, "message": "mine now", "client_id": "e1"}),
        json!({"type": "delete", "id": id, "client_id": "d1"}),
    ] {
        socket.send_json(frame.clone()).await;
        let answer = socket.next_of_type("error").await;
        assert_eq!(answer["code"], "forbidden", "{frame} -> {answer}");
    }
    let lobby = history(app.addr, "lobby").await;
    assert!(
        lobby.iter().any(|m| m["message"] == "hello from django"),
        "unchanged: {lobby:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_missing_django_database_is_an_error_that_names_it_and_creates_nothing() {
    let dir = TempDir::new();
    let missing = dir.path().join("nowhere.sqlite3");
    let output = run_chatweb(
        &[
            "import-django",
            &missing.display().to_string(),
            "--database-url",
            &dir.sqlite_url(),
        ],
        &[],
        None,
    )
    .await;
    assert!(!output.status.success());
    assert!(
        output.stderr.contains("no Django database at"),
        "{}",
        output.stderr
    );
    assert!(!missing.exists());
}
