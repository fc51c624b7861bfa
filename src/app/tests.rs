//! The node as a whole: a background task's panic stops it in order and names the task.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::App;
use super::tasks::StopOn;
use crate::config::Config;

#[tokio::test]
async fn a_panicking_background_task_stops_the_node_with_its_name_in_the_error() {
    let dir = std::env::temp_dir().join(format!("chatweb-app-panic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = Config {
        port: 0,
        bind: "127.0.0.1".into(),
        database_url: format!("sqlite://{}", dir.join("db.sqlite3").display()),
        limits: crate::limits::LimitSettings::off(),
        ..Config::default()
    };
    let mut app = App::build(config).await.expect("the node builds");
    // The table's own spawn, as every task of the node goes through it; only the panic is the test's.
    app.tasks
        .spawn("doomed chore", StopOn::Watchers, |stop| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(!stop.is_cancelled(), "the node was serving");
            panic!("the chore's invariant broke");
        });
    let stopped = tokio::time::timeout(
        Duration::from_secs(30),
        app.run_until_stopped(std::future::pending()),
    )
    .await
    .expect("the node stops by itself");
    let error = stopped
        .expect_err("a panicked task is an error")
        .to_string();
    assert!(error.contains("`doomed chore` panicked"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}
