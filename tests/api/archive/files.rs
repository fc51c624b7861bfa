//! Files travel with an export (issue 20): a message's files are in its line, `export --with-files DIR`
//! copies their bytes, and `import --with-files DIR` into a fresh database with another files directory
//! gives a node that serves them as uploaded (same bytes, name and type); a deleted message's file stays
//! behind; an import without the bytes records the files and counts them, one with them copies them in,
//! and importing again adds nothing. On SQLite and PostgreSQL.

use std::path::Path;

use serde_json::{Value, json};

use super::export;
use crate::conversations::{PATH, ROOM, acked, act, town_with, v2};
use crate::engines::{Database, on_both_engines};
use crate::files::{fetch, png, uploaded};
use crate::helpers::{TempDir, TestDatabase, spawn_app_with, test_config};
use crate::manage::{Output, run_chatweb};
use crate::rooms::person;

on_both_engines!(
    files_travel_with_an_export_and_an_import,
    files_travel_with_an_export_and_an_import_on_sqlite,
    files_travel_with_an_export_and_an_import_on_postgres
);

/// A database of `db`'s engine, for the import.
async fn another(db: &Database) -> Database {
    match db {
        Database::Sqlite(_) => Database::sqlite(),
        Database::Postgres(_) => Database::Postgres(
            TestDatabase::create("files_travel_with_an_export_and_an_import_target")
                .await
                .expect("PostgreSQL is configured"),
        ),
    }
}

/// `chatweb import FILE --with-files DIR` (unless `None`) into `url`, its files in `files_dir`.
async fn import(url: &str, file: &Path, with_files: Option<&Path>, files_dir: &Path) -> Output {
    let mut args = vec![
        "import".to_owned(),
        file.display().to_string(),
        "--database-url".to_owned(),
        url.to_owned(),
        "--files-dir".to_owned(),
        files_dir.display().to_string(),
    ];
    if let Some(dir) = with_files {
        args.extend(["--with-files".to_owned(), dir.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_chatweb(&args, &[], None).await;
    assert!(out.status.success(), "import failed: {}", out.stderr);
    out
}

async fn files_travel_with_an_export_and_an_import(db: &Database) {
    // A node with its files in a directory of the test's own, so the export can be pointed at it.
    let work = TempDir::new();
    let source_files = work.path().join("source-files");
    let mut config = test_config(db.url());
    config.file_store.files_dir = Some(source_files.clone());
    let mut town = town_with(db, config).await;
    let addr = town.app.addr;
    let image = png(800, 600);
    let cat = uploaded(addr, &mut town.ada, ROOM, "cat.png", &image).await;
    let notes = uploaded(addr, &mut town.ada, ROOM, "notes.txt", b"plain notes\n").await;
    let gone = uploaded(addr, &mut town.ada, ROOM, "gone.txt", b"deleted\n").await;
    let mut ada = v2(&town.ada, PATH).await;
    let look = json!({"message": "look", "files": [cat["id"], notes["id"]], "client_id": "f1"});
    acked(&mut ada, look).await;
    let bye = json!({"message": "bye", "files": [gone["id"]], "client_id": "f2"});
    let deleted = acked(&mut ada, bye).await;
    let answer = act(
        &mut ada,
        json!({"type": "delete", "id": deleted, "client_id": "f3"}),
    )
    .await;
    assert_eq!(answer["type"], "ack", "{answer}");
    town.app.stop().await;

    // The export: the message's line carries its files; the deleted one's carries none.
    let bundle = work.path().join("bundle");
    let export_file = work.path().join("export.jsonl");
    let source_dir = source_files.display().to_string();
    let out = run_chatweb(
        &[
            "export",
            "--database-url",
            &db.url(),
            "--files-dir",
            &source_dir,
            "--with-files",
            &bundle.display().to_string(),
            "--output",
            &export_file.display().to_string(),
        ],
        &[],
        None,
    )
    .await;
    assert!(out.status.success(), "export failed: {}", out.stderr);
    assert!(
        out.stderr.contains("files: 2 copied into") && out.stderr.contains("0 without bytes"),
        "{}",
        out.stderr
    );
    let lines = export(&db.url(), &["--room", ROOM]).await;
    let with_text = |text: &str| -> Value {
        lines
            .iter()
            .find(|l| l["message"] == text && l.get("kind").is_none())
            .cloned()
            .unwrap_or_else(|| panic!("no line {text}: {lines:?}"))
    };
    let expected = json!([
        {"id": cat["id"], "name": "cat.png", "size": image.len(), "type": "image/png",
         "width": 800, "height": 600},
        {"id": notes["id"], "name": "notes.txt", "size": 12, "type": notes["type"]},
    ]);
    assert_eq!(with_text("look")["files"], expected);
    let tombstone = lines
        .iter()
        .find(|l| l["id"] == deleted)
        .expect("the deleted message's line");
    assert_eq!(tombstone["deleted"], true);
    assert!(tombstone.get("files").is_none(), "{tombstone}");
    let id = |file: &Value| file["id"].as_str().expect("id").to_owned();
    assert_eq!(
        std::fs::read(bundle.join(id(&cat))).expect("the image's bytes"),
        image
    );
    assert!(
        !bundle.join(id(&gone)).exists(),
        "a deleted file is not exported"
    );

    // Into a fresh database with another files directory: first without the bytes (the rows import,
    // the summary counts what has none), then with them, then again: nothing twice.
    let target = another(db).await;
    let target_files = work.path().join("target-files");
    let bare = import(&target.url(), &export_file, None, &target_files).await;
    assert!(
        bare.stdout.contains(
            "2 files: 2 recorded, 0 copied into the file store, 0 there already, 2 without bytes"
        ),
        "{}",
        bare.stdout
    );
    assert!(bare.stderr.contains(&id(&cat)), "{}", bare.stderr);
    let full = import(&target.url(), &export_file, Some(&bundle), &target_files).await;
    assert!(
        full.stdout.contains("0 stored with their ids, 0 appended")
            && full.stdout.contains(
                "2 files: 0 recorded, 2 copied into the file store, 0 there already, 0 without bytes"
            ),
        "{}",
        full.stdout
    );
    let again = import(&target.url(), &export_file, Some(&bundle), &target_files).await;
    assert!(
        again
            .stdout
            .contains("2 files: 0 recorded, 0 copied into the file store, 2 there already"),
        "{}",
        again.stdout
    );
    // The same ids, texts and files (authors without an account here are guests').
    let shown = |lines: &[Value]| -> Vec<(Value, Value, Value)> {
        lines
            .iter()
            .map(|l| (l["id"].clone(), l["message"].clone(), l["files"].clone()))
            .collect()
    };
    assert_eq!(
        shown(&export(&target.url(), &["--room", ROOM]).await),
        shown(&lines)
    );

    // A node on the new database serves the files as uploaded; the image's thumbnail URL serves the
    // image itself (an import makes no thumbnails).
    let mut config = test_config(target.url());
    config.file_store.files_dir = Some(target_files.clone());
    let app = spawn_app_with(config).await;
    let reader = person(app.addr, "reader").await;
    let got = fetch(
        app.addr,
        Some(&reader),
        &format!("/files/{}/cat.png", id(&cat)),
        &[],
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, image);
    assert_eq!(got.header("content-type"), "image/png");
    assert!(got.header("content-disposition").contains("cat.png"));
    let thumb = format!("/files/{}/thumb/cat.png", id(&cat));
    assert_eq!(
        fetch(app.addr, Some(&reader), &thumb, &[]).await.body,
        image
    );
    let got = fetch(
        app.addr,
        Some(&reader),
        &format!("/files/{}/notes.txt", id(&notes)),
        &[],
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, b"plain notes\n");
    assert!(
        got.header("content-type")
            .starts_with(notes["type"].as_str().expect("type")),
        "{}",
        got.header("content-type")
    );
    assert!(got.header("content-disposition").contains("notes.txt"));
    let gone_url = format!("/files/{}/gone.txt", id(&gone));
    assert_eq!(
        fetch(app.addr, Some(&reader), &gone_url, &[]).await.status,
        404
    );
    app.stop().await;
    target.done().await;
}
