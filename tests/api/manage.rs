//! The management commands of the binary, as a deploy script runs them: `createsuperuser --noinput` with
//! the password in `CHATWEB_SUPERUSER_PASSWORD`, and `changepassword` reading the new password from stdin.
//! Each either does its work and exits 0, or exits non-zero with a message that says what was wrong.

use tokio::io::AsyncWriteExt;

use crate::accounts::INVALID_LOGIN;
use crate::helpers::{PATIENCE, TempDir, spawn_app};
use crate::people::{Browser, PASSWORD};

/// The env var `createsuperuser --noinput` reads the password from.
const PASSWORD_ENV: &str = "CHATWEB_SUPERUSER_PASSWORD";

/// What a run of the binary printed and how it exited.
pub struct Output {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `chatweb` binary with `args`, extra `env` (and none of the settings' env vars of the test's
/// own environment), and `stdin` written to its input (none when `None`); waits until it exits.
pub async fn run_chatweb(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_chatweb"));
    command
        .args(args)
        .env_remove(PASSWORD_ENV)
        .env_remove("CHATWEB_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("start chatweb");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("chatweb exits in time")
        .expect("run chatweb");
    Output {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `chatweb createsuperuser --noinput` for `name` with `password` in the env var (unset when `None`).
async fn create_superuser(dir: &TempDir, name: &str, password: Option<&str>) -> Output {
    let url = dir.sqlite_url();
    let args = [
        "createsuperuser",
        "--username",
        name,
        "--email",
        "root@example.com",
        "--noinput",
        "--database-url",
        &url,
    ];
    let env: Vec<(&str, &str)> = password.map(|p| (PASSWORD_ENV, p)).into_iter().collect();
    run_chatweb(&args, &env, None).await
}

/// `chatweb changepassword name` with `stdin` as what is typed.
async fn change_password(dir: &TempDir, name: &str, stdin: &str) -> Output {
    let url = dir.sqlite_url();
    run_chatweb(
        &["changepassword", name, "--database-url", &url],
        &[],
        Some(stdin),
    )
    .await
}

#[tokio::test]
async fn createsuperuser_with_noinput_creates_a_staff_user_who_can_open_the_admin() {
    let dir = TempDir::new();
    let created = create_superuser(&dir, "Root", Some(PASSWORD)).await;
    assert!(created.status.success(), "{}", created.stderr);
    assert!(
        created
            .stdout
            .contains("Superuser Root created successfully."),
        "{:?}",
        created.stdout
    );

    let app = spawn_app(&dir).await;
    let mut root = Browser::new(app.addr);
    let page = root.log_in("root", PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let admin = root.get("/admin/").await;
    assert_eq!(admin.status, 200, "{}", admin.body);

    // The admin is for staff: a plain account is refused, and a guest is sent to log in.
    let mut plain = Browser::new(app.addr);
    plain.sign_up("Ada").await;
    assert_eq!(plain.get("/admin/").await.status, 403);
    let guest = Browser::new(app.addr).get("/admin/").await;
    assert_eq!(guest.status, 303);
    assert!(
        guest
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/accounts/login/")),
        "{:?}",
        guest.location
    );
    app.stop().await;
}

#[tokio::test]
async fn createsuperuser_refuses_a_name_that_is_taken_in_any_case_or_width() {
    let dir = TempDir::new();
    assert!(
        create_superuser(&dir, "Root", Some(PASSWORD))
            .await
            .status
            .success()
    );
    for name in ["Root", "ROOT", "root", "ｒｏｏｔ", "Ｒｏｏｔ"] {
        let again = create_superuser(&dir, name, Some("another password")).await;
        assert!(!again.status.success(), "{name}: {}", again.stdout);
        assert!(
            again.stderr.contains("That username is already taken."),
            "{name}: {}",
            again.stderr
        );
        assert!(!again.stdout.contains("created successfully"), "{name}");
    }
    // The first account is unchanged: its password works, the second one does not.
    let app = spawn_app(&dir).await;
    assert_eq!(
        Browser::new(app.addr).log_in("Root", PASSWORD).await.status,
        303
    );
    let page = Browser::new(app.addr)
        .log_in("Root", "another password")
        .await;
    assert!(page.body.contains(INVALID_LOGIN), "{}", page.body);
    app.stop().await;
}

#[tokio::test]
async fn createsuperuser_with_noinput_and_no_password_fails_naming_the_variable() {
    let dir = TempDir::new();
    for password in [None, Some("")] {
        let failed = create_superuser(&dir, "Root", password).await;
        assert!(!failed.status.success(), "{password:?}: {}", failed.stdout);
        assert!(
            failed.stderr.contains(PASSWORD_ENV),
            "{password:?}: {}",
            failed.stderr
        );
        assert!(!failed.stdout.contains("created successfully"));
    }
    // A password the policy refuses fails with the policy's reason.
    let weak = create_superuser(&dir, "Root", Some("short")).await;
    assert!(!weak.status.success());
    assert!(weak.stderr.contains("too short"), "{}", weak.stderr);
    // None of these created the user: the name is still free.
    let created = create_superuser(&dir, "Root", Some(PASSWORD)).await;
    assert!(created.status.success(), "{}", created.stderr);
}

#[tokio::test]
async fn changepassword_reads_the_new_password_twice_from_stdin_and_ends_the_users_sessions() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = Browser::new(app.addr);
    ada.sign_up("Ada").await;
    let mut socket = ada.join("/ws/chat/lobby/").await.expect("joined");

    let changed = change_password(&dir, "ada", "brand new secret\nbrand new secret\n").await;
    assert!(changed.status.success(), "{}", changed.stderr);
    assert!(
        changed.stdout.contains("Password changed successfully"),
        "{}",
        changed.stdout
    );

    // The session that was open ends, on the page and on its socket.
    assert_eq!(socket.closed().await, Some(4401));
    assert!(!ada.get("/").await.body.contains("Signed in as"));
    let old = Browser::new(app.addr).log_in("Ada", PASSWORD).await;
    assert_eq!(old.status, 200);
    assert!(old.body.contains(INVALID_LOGIN), "{}", old.body);
    let new = Browser::new(app.addr)
        .log_in("Ada", "brand new secret")
        .await;
    assert_eq!(new.status, 303, "{}", new.body);
    app.stop().await;
}

#[tokio::test]
async fn changepassword_fails_clearly_on_a_mismatch_a_weak_password_or_an_unknown_user() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("Ada").await;

    let mismatch = change_password(&dir, "Ada", "first password\nsecond password\n").await;
    assert!(!mismatch.status.success());
    assert!(
        mismatch.stderr.contains("didn't match"),
        "{}",
        mismatch.stderr
    );
    let weak = change_password(&dir, "Ada", "short\nshort\n").await;
    assert!(!weak.status.success());
    assert!(weak.stderr.contains("too short"), "{}", weak.stderr);
    let silent = change_password(&dir, "Ada", "").await;
    assert!(!silent.status.success(), "no input is no password");
    let unknown = change_password(&dir, "nobody", "brand new secret\nbrand new secret\n").await;
    assert!(!unknown.status.success());
    assert!(unknown.stderr.contains("nobody"), "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("does not exist"),
        "{}",
        unknown.stderr
    );

    // The password is still the old one.
    assert_eq!(
        Browser::new(app.addr).log_in("Ada", PASSWORD).await.status,
        303
    );
    for attempted in ["first password", "second password"] {
        let page = Browser::new(app.addr).log_in("Ada", attempted).await;
        assert!(page.body.contains(INVALID_LOGIN), "{attempted}");
    }
    app.stop().await;
}
