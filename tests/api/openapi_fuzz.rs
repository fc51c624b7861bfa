//! A schema-based fuzzer against the live API: schemathesis (from PyPI; `scripts/test` installs it into
//! `target/tools/schemathesis/`) reads `/api/openapi.json` from a node with seeded history and sends both
//! what the document allows and what it does not. Every check it has must pass: no 5xx, every response
//! (status, content type, body) as documented, invalid input refused, valid input accepted, a JSON 405 with
//! `Allow` for undocumented methods. Bounded: a few examples per operation, and killed after three minutes.
//! Without schemathesis the test prints a skip line, and fails under `CI=true`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::accounts::member;
use crate::helpers::{TempDir, spawn_app_with, test_config};
use crate::rest::{acked, read_up_to, say};
use crate::services::{on_ci, python_tool};
use crate::tokens::accounts_on;

/// The longest a fuzzing run may take (about 8 s alone here; one worker on a CI machine busy with the
/// other tests took over 60 s once).
const BOUND: Duration = Duration::from_secs(180);

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_schema() {
    let Some(cli) = python_tool("schemathesis") else {
        assert!(
            !on_ci(),
            "schemathesis is not installed (scripts/test installs it), and CI must run every test"
        );
        println!(
            "skipping schemathesis_finds_no_server_error_and_no_answer_outside_the_schema: \
             run scripts/test to install schemathesis into target/tools/schemathesis"
        );
        return;
    };

    // History worth reading: a member's messages (one edited, one deleted), a guest's, two rooms, and a
    // read mark, so unread counts are numbers in one room and null in the other.
    let dir = TempDir::new();
    let config = test_config(dir.sqlite_url());
    let app = spawn_app_with(config.clone()).await;
    let ada = member(&app, "ada").await;
    let mut socket = ada.join_v2("/ws/chat/lobby/").await.expect("ada joins");
    for text in ["one", "two", "three", "four"] {
        say(&mut socket, text).await;
    }
    let edit = json!({"type": "edit", "id": 2, "message": "two, edited", "client_id": "e"});
    acked(&mut socket, edit).await;
    acked(
        &mut socket,
        json!({"type": "delete", "id": 3, "client_id": "d"}),
    )
    .await;
    read_up_to(&mut socket, 1).await;
    let mut guest = app.join("café").await;
    say(&mut guest, "bonjour").await;
    drop((socket, guest));
    // Stopping writes the read mark; the fuzzed node reads it from the database.
    app.stop().await;
    let app = spawn_app_with(config.clone()).await;
    let accounts = accounts_on(&config.database_url).await;
    let ada_row = accounts.user_named("ada").await.expect("ada");
    let (_, token) = accounts
        .create_token(ada_row.id, "fuzz")
        .await
        .expect("token");

    // Once as a guest and once signed in by the token (unread counts then are numbers and nulls).
    for auth in [None, Some(format!("Authorization: Bearer {token}"))] {
        fuzz(&cli, &app.origin(), auth.as_deref()).await;
    }
    app.stop().await;
}

/// Runs schemathesis against the node at `base`, with the `Authorization` header `auth` when given;
/// fails on any finding, on a run longer than [`BOUND`], or on a run that tested nothing.
async fn fuzz(cli: &Path, base: &str, auth: Option<&str>) {
    let work = TempDir::new();
    let mut command = tokio::process::Command::new(cli);
    command
        .arg("run")
        .arg(format!("{base}/api/openapi.json"))
        .args(["--url", base])
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "40"])
        // One worker: CPython 3.11's parser is not safe when hypothesis describes a strategy in two
        // threads at once ("AST constructor recursion depth mismatch", seen here on the room routes).
        .args(["--workers", "1"])
        .args(["--request-timeout", "5"])
        .args(["--generation-database", "none"])
        .arg("--no-color")
        // Its config lookup and any file it writes stay in a directory of this test's own.
        .current_dir(work.path())
        .kill_on_drop(true);
    if let Some(auth) = auth {
        // The token rides on every request as a plain header, so schemathesis cannot take it away to
        // see whether a request without it is refused: its ignored_auth check belongs to the guest run,
        // which makes it for every route that needs a signed-in caller.
        command
            .args(["--header", auth])
            .args(["--exclude-checks", "ignored_auth"]);
    }
    // Whether a webhook receiver's URL or a push endpoint may be asked depends on DNS and the host
    // lists, and whether a push subscription's key is a point on P-256 is past what a schema can say: a
    // well-formed body may get 422 with the refusal's code (an unresolvable name, `invalid_key`).
    std::fs::write(
        work.path().join("schemathesis.toml"),
        "[[operations]]\n\
         include-operation-id = [\"create_room_hook\", \"create_hook\", \"subscribe_push\"]\n\
         checks.positive_data_acceptance.expected-statuses = \
         [\"2xx\", \"3xx\", \"401\", \"403\", \"404\", \"409\", \"422\", \"429\", \"5xx\"]\n",
    )
    .expect("schemathesis.toml");
    let started = Instant::now();
    let output = tokio::time::timeout(BOUND, command.output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran longer than {BOUND:?}"))
        .expect("schemathesis runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let who = if auth.is_some() {
        "signed in"
    } else {
        "as a guest"
    };
    println!("schemathesis {who} took {:?}:\n{report}", started.elapsed());
    assert!(
        output.status.success(),
        "schemathesis {who} failed:\n{report}"
    );
    assert!(
        report.contains("Tested: ") && !report.contains("Tested: 0"),
        "schemathesis {who} tested the operations:\n{report}"
    );
}
