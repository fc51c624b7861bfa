//! `chatweb backup` while a server takes a burst of sends, and its refusals (an existing file, PostgreSQL).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{export, seed};
use crate::helpers::{PATIENCE, TempDir, connect, spawn_app, spawn_app_with, test_config};
use crate::manage::run_chatweb;

/// Acked sends of the burst: id -> text.
type Acked = Arc<Mutex<BTreeMap<u64, String>>>;

/// One client of the burst: sends rounds of five acked messages until `stop`, recording each ack.
async fn burst(
    addr: std::net::SocketAddr,
    tag: usize,
    acked: Acked,
    count: tokio::sync::watch::Sender<usize>,
    stop: CancellationToken,
) {
    let mut client = connect(addr, "/ws/chat/burst/").await;
    let mut n = 0;
    while !stop.is_cancelled() {
        for _ in 0..5 {
            let text = format!("c{tag}-{n}");
            n += 1;
            client
                .send_json(json!({"message": text, "client_id": text}))
                .await;
        }
        let mut pending = 5;
        while pending > 0 {
            let frame = client.next_json().await;
            if frame["type"] == "ack" {
                let id = frame["id"].as_u64().expect("ack id");
                let text = frame["client_id"].as_str().expect("client id").to_owned();
                let total = {
                    let mut acked = acked.lock().expect("acked");
                    acked.insert(id, text);
                    acked.len()
                };
                count.send_replace(total);
                pending -= 1;
            }
        }
    }
    client.close().await;
}

#[tokio::test]
async fn a_backup_taken_during_a_burst_starts_a_server_with_every_message_acked_before_it() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let acked: Acked = Arc::default();
    let (count, mut counted) = tokio::sync::watch::channel(0);
    let stop = CancellationToken::new();
    let clients: Vec<_> = (0..3)
        .map(|tag| {
            tokio::spawn(burst(
                app.addr,
                tag,
                acked.clone(),
                count.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::timeout(PATIENCE, counted.wait_for(|&n| n >= 150))
        .await
        .expect("the burst gets going")
        .expect("counter");
    let before = acked.lock().expect("acked").clone();

    let path = dir.path().join("backup.sqlite3");
    let backup = run_chatweb(
        &[
            "backup",
            path.to_str().expect("path"),
            "--database-url",
            &dir.sqlite_url(),
        ],
        &[],
        None,
    )
    .await;
    let during = acked.lock().expect("acked").len() - before.len();
    stop.cancel();
    for client in clients {
        client.await.expect("burst client");
    }
    app.stop().await;
    assert!(backup.status.success(), "backup failed: {}", backup.stderr);
    assert!(
        backup.stdout.contains("wrote ") && backup.stdout.contains(" rooms, "),
        "{}",
        backup.stdout
    );
    println!(
        "{} acked before the backup, {during} while it ran: {}",
        before.len(),
        backup.stdout.trim()
    );

    let restored = spawn_app_with(test_config(format!("sqlite://{}", path.display()))).await;
    let last = *before.keys().last().expect("acked ids");
    let mut reader = connect(restored.addr, "/ws/chat/burst/?since=0").await;
    let mut replayed = BTreeMap::new();
    let mut expected_id = 1;
    while expected_id <= last {
        let frame = reader.next_message().await;
        assert_eq!(frame["id"], expected_id, "in order, gap-free");
        replayed.insert(
            expected_id,
            frame["message"].as_str().expect("text").to_owned(),
        );
        expected_id += 1;
    }
    for (id, text) in &before {
        assert_eq!(
            replayed.get(id),
            Some(text),
            "message {id}, acked before the backup, is in it"
        );
    }
    let mut writer = connect(restored.addr, "/ws/chat/burst/").await;
    writer
        .send_json(json!({"message": "restored", "client_id": "restored"}))
        .await;
    let ack = writer.next_of_type("ack").await;
    assert!(
        ack["id"].as_u64().expect("id") > last,
        "the restored server numbers on: {ack}"
    );
    restored.stop().await;
}

#[tokio::test]
async fn a_backup_never_overwrites_and_postgres_gets_the_pg_dump_recipe() {
    let dir = TempDir::new();
    let url = dir.sqlite_url();
    seed(&url).await;
    let path = dir.path().join("taken.sqlite3");
    std::fs::write(&path, "precious").expect("write");
    let out = run_chatweb(
        &[
            "backup",
            path.to_str().expect("path"),
            "--database-url",
            &url,
        ],
        &[],
        None,
    )
    .await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "precious");

    let fresh = dir.path().join("fresh.sqlite3");
    let out = run_chatweb(
        &[
            "backup",
            fresh.to_str().expect("path"),
            "--database-url",
            &url,
        ],
        &[],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains("2 rooms, 6 messages (8 rows"),
        "{}",
        out.stdout
    );
    // The files are not in the copy: it says where they live (beside the database by default).
    let files = dir.path().join("files");
    assert!(
        out.stdout.contains(&format!(
            "files: 0 attached files are not in this copy; their bytes live in the directory {}: \
             copy the directory with it",
            files.display()
        )),
        "{}",
        out.stdout
    );
    assert_eq!(
        export(&format!("sqlite://{}", fresh.display()), &[]).await,
        export(&url, &[]).await
    );

    let pg = dir.path().join("pg.sqlite3");
    let pg_url = "postgres://chatweb:s3cret@127.0.0.1:5432/chatweb";
    let out = run_chatweb(
        &[
            "backup",
            pg.to_str().expect("path"),
            "--database-url",
            pg_url,
        ],
        &[],
        None,
    )
    .await;
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("pg_dump --format=custom"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("pg_restore"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("s3cret"),
        "the password is never printed: {}",
        out.stderr
    );
    assert!(!pg.exists());
}
