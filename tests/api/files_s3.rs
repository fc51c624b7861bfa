//! Files on S3 (issue 20): two nodes on one PostgreSQL database, one Redis and one bucket of a real
//! S3-speaking server on loopback (`moto_server`, from PyPI; `scripts/test` installs it into
//! `target/tools/moto/`) serve each other's files, with the access check on every request; a deleted
//! message's file is gone at once on every node, and from the bucket after the janitor's next pass.
//! Without moto the test prints a skip line, and fails under `CI=true`; without the shared PostgreSQL or
//! Redis it skips like the other cluster tests.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chatweb::config::Config;
use serde_json::json;

use crate::conversations::{acked, act, v2};
use crate::files::{png, upload};
use crate::helpers::{
    PATIENCE, TestDatabase, node_config, spawn_app_with, test_service, unique_prefix,
};
use crate::people::Browser;
use crate::rooms::{api, person};
use crate::services::{free_port, on_ci, python_tool};

/// How long `moto_server` may take to answer once started (it imports a lot of Python: about a second
/// here, more on a busy machine).
const MOTO_START: Duration = Duration::from_secs(60);

/// A `moto_server` this test starts on a free loopback port, with one bucket; killed when dropped.
struct S3Server {
    port: u16,
    bucket: &'static str,
    child: Child,
}

impl S3Server {
    /// Starts moto, waits until it answers HTTP and creates `bucket`; `None` (skip) when moto is not
    /// installed, except on CI.
    async fn start(test: &str, bucket: &'static str) -> Option<Self> {
        let Some(moto) = python_tool("moto_server") else {
            assert!(
                !on_ci(),
                "{test}: moto_server is not installed (scripts/test installs it), and CI must run every test"
            );
            println!("skipping {test}: run scripts/test to install moto into target/tools/moto");
            return None;
        };
        let port = free_port();
        let child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", moto.display()));
        let mut server = Self {
            port,
            bucket,
            child,
        };
        server.answering().await;
        let made = reqwest::Client::new()
            .put(server.endpoint() + "/" + bucket)
            .send()
            .await
            .expect("create the bucket");
        assert!(made.status().is_success(), "create the bucket: {made:?}");
        Some(server)
    }

    /// Polls until the server answers an HTTP request, bounded by [`MOTO_START`]; fails at once if it
    /// exits.
    async fn answering(&mut self) {
        let deadline = tokio::time::Instant::now() + MOTO_START;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let http = reqwest::Client::new();
        loop {
            tick.tick().await;
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("moto_server exited before answering: {status}");
            }
            if http.get(self.endpoint()).send().await.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "moto_server did not answer on port {} within {MOTO_START:?}",
                self.port
            );
        }
    }

    /// `http://127.0.0.1:<port>`: what `--s3-endpoint` names.
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `config` with its files in the bucket under `prefix` (a region and keys moto accepts).
    fn files_in(&self, prefix: &str, config: Config) -> Config {
        Config {
            file_store: chatweb::files::FileStoreArgs {
                files_url: Some(format!("s3://{}/{prefix}", self.bucket)),
                s3_endpoint: Some(self.endpoint()),
                s3_region: Some("us-east-1".into()),
                s3_access_key_id: Some("testing".into()),
                s3_secret_access_key: Some("testing".into()),
                ..Default::default()
            },
            ..config
        }
    }

    /// The keys of the bucket's objects under `prefix`, as S3's `ListObjectsV2` gives them.
    async fn keys(&self, prefix: &str) -> Vec<String> {
        let url = format!(
            "{}/{}?list-type=2&prefix={prefix}",
            self.endpoint(),
            self.bucket
        );
        let response = reqwest::get(url).await.expect("list the bucket");
        assert_eq!(response.status(), 200, "list the bucket");
        let xml = response.text().await.expect("the listing");
        xml.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>"))
            .map(|(key, _)| key.to_owned())
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // `Child::kill` signals this child's own pid, nothing else.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A download as `who` sees it.
struct Download {
    status: u16,
    content_type: Option<String>,
    nosniff: bool,
    body: Vec<u8>,
}

/// GETs `path` from the node at `addr` with `who`'s cookies.
async fn download(addr: SocketAddr, who: &Browser, path: &str) -> Download {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .header("cookie", who.cookie_header())
        .send()
        .await
        .expect("GET a file");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, nosniff) = (
        header("content-type"),
        header("x-content-type-options").as_deref() == Some("nosniff"),
    );
    Download {
        status: response.status().as_u16(),
        content_type,
        nosniff,
        body: response.bytes().await.expect("the file").to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_s3_serve_each_others_files_and_a_deleted_messages_file_leaves_the_bucket() {
    const TEST: &str = "two_nodes_on_s3";
    const PREFIX: &str = "uploads";
    let Some(redis) = test_service("CHATWEB_TEST_REDIS_URL", TEST) else {
        return;
    };
    let Some(db) = TestDatabase::create(TEST).await else {
        return;
    };
    let Some(s3) = S3Server::start(TEST, "chatweb-files").await else {
        db.drop_database().await;
        return;
    };
    let channels = unique_prefix(TEST);
    let config = Config {
        files_sweep_ms: 100,
        ..s3.files_in(PREFIX, node_config(&db.url, &redis, &channels))
    };
    let a = spawn_app_with(config.clone()).await;
    let b = spawn_app_with(config).await;

    // ada's private room, with bob in it; carol is signed in but no member.
    let mut ada = person(a.addr, "ada").await;
    let bob = person(a.addr, "bob").await.on(b.addr);
    let carol = person(a.addr, "carol").await.on(b.addr);
    let room = json!({"name": "studio", "kind": "private"});
    let (status, body) = api(a.addr, &mut ada, "POST", "/api/rooms/", Some(room)).await;
    assert_eq!(status, 201, "{body}");
    let add = json!({"user": "bob"});
    let (status, body) = api(
        a.addr,
        &mut ada,
        "POST",
        "/api/rooms/studio/members",
        Some(add),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // ada uploads on A; the bytes are in the bucket, and A makes the thumbnail into it too.
    let bytes = png(800, 600);
    let thumbnailed = a.stats.thumbnailed.notified();
    let (status, file) = upload(a.addr, &mut ada, "studio", "plan.png", &bytes).await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(
        (
            file["type"].as_str(),
            file["size"].as_u64(),
            file["width"].as_u64(),
            file["height"].as_u64()
        ),
        (
            Some("image/png"),
            Some(bytes.len() as u64),
            Some(800),
            Some(600)
        ),
        "{file}"
    );
    let id = file["id"].as_str().expect("the file's id").to_owned();
    tokio::time::timeout(PATIENCE, thumbnailed)
        .await
        .expect("the thumbnail is made in time");
    let (original, thumb) = (format!("{PREFIX}/f/{id}"), format!("{PREFIX}/t/{id}"));
    let mut keys = s3.keys(PREFIX).await;
    keys.sort();
    assert_eq!(keys, [original.clone(), thumb.clone()]);

    // ada sends it on A; bob, on B, gets the message with the file's URLs.
    let mut on_a = v2(&ada, "/ws/chat/studio/").await;
    let mut on_b = v2(&bob, "/ws/chat/studio/").await;
    let sent = acked(
        &mut on_a,
        json!({"message": "the plan", "files": [id], "client_id": "a1"}),
    )
    .await;
    let got = on_b.next_event().await;
    assert_eq!(
        (got["id"].as_u64(), got["text"].as_str()),
        (Some(sent), Some("the plan")),
        "{got}"
    );
    let url = got["files"][0]["url"].as_str().expect("files[0].url");
    let thumb_url = got["files"][0]["thumb_url"]
        .as_str()
        .expect("files[0].thumb_url");
    assert_eq!(url, format!("/files/{id}/plan.png"));

    // B serves what A stored: the file byte for byte, and the thumbnail, as PNGs no browser sniffs.
    let full = download(b.addr, &bob, url).await;
    assert_eq!(
        (full.status, full.content_type.as_deref(), full.nosniff),
        (200, Some("image/png"), true)
    );
    assert!(full.body == bytes, "B serves the uploaded bytes");
    let small = download(b.addr, &bob, thumb_url).await;
    assert_eq!(
        (small.status, small.content_type.as_deref(), small.nosniff),
        (200, Some("image/png"), true)
    );
    let small = image::load_from_memory(&small.body).expect("the thumbnail is an image");
    assert_eq!((small.width(), small.height()), (400, 300));

    // Whoever may not read the room gets 404 from B, for both.
    for path in [url, thumb_url] {
        assert_eq!(download(b.addr, &carol, path).await.status, 404, "{path}");
    }

    // ada deletes the message on B: at once, neither node serves the file.
    let mut ada_on_b = v2(&ada.on(b.addr), "/ws/chat/studio/").await;
    let deleted = act(
        &mut ada_on_b,
        json!({"type": "delete", "id": sent, "client_id": "a2"}),
    )
    .await;
    assert_eq!(deleted["type"], "ack", "{deleted}");
    for (addr, who) in [(a.addr, &ada), (a.addr, &bob), (b.addr, &bob)] {
        for path in [url, thumb_url] {
            assert_eq!(download(addr, who, path).await.status, 404, "{path}");
        }
    }

    // The janitor removes both objects from the bucket on its next pass.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let swept = a.stats.files_swept.notified();
        let keys = s3.keys(PREFIX).await;
        if !keys.contains(&original) && !keys.contains(&thumb) {
            break;
        }
        assert!(
            tokio::time::timeout_at(deadline, swept).await.is_ok(),
            "still in the bucket after {PATIENCE:?}: {keys:?}"
        );
    }

    on_a.close().await;
    on_b.close().await;
    ada_on_b.close().await;
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}
