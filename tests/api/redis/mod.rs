//! Redis and the live buffers under heavy and hostile use (issue 10, defects 3, 5, 6, 7 and 9): buffers
//! bounded in bytes, lost tails that heal, a stopping node that drains, foreign payloads ignored, joins
//! that never hang on a stuck Redis, readiness probes that reuse one connection. Each test breaks only what
//! it owns: its own proxy in front of the Redis `CHATWEB_TEST_REDIS_URL` names, its own databases.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chatweb::config::Config;
use chatweb::stats::Stats;
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::helpers::{
    Client, PATIENCE, TcpProxy, TempDir, TestApp, TestDatabase, connect, connect_small_buffer, ids,
    node_config, spawn_app_with, test_config, test_service, texts, unique_prefix,
};

/// A body of 4,090 control characters (with its number in front, within the 4,096-byte limit): each
/// becomes `\u00XX` in the frame, about 25 KB.
fn control_flood() -> String {
    "\u{1}".repeat(4090)
}

/// Sends `n` messages of [`control_flood`] with client ids, in rounds of 20 whose acks (and echoes) it reads
/// before the next round, so the sender's own socket never fills.
async fn send_flood(client: &mut Client, n: usize) {
    let body = control_flood();
    let mut sent = 0;
    while sent < n {
        let round = (n - sent).min(20);
        for i in sent..sent + round {
            client
                .send_json(json!({"message": format!("{i}{body}"), "client_id": format!("c{i}")}))
                .await;
        }
        let mut acked = 0;
        while acked < round {
            if client.next_json().await["type"] == "ack" {
                acked += 1;
            }
        }
        sent += round;
    }
}

/// The shared test Redis, or `None` to skip (never on CI).
fn redis_url(test: &str) -> Option<String> {
    test_service("CHATWEB_TEST_REDIS_URL", test)
}

/// The address `redis://host:port` names.
async fn redis_addr(url: &str) -> std::net::SocketAddr {
    let host = url
        .trim_start_matches("redis://")
        .rsplit('@')
        .next()
        .expect("host")
        .trim_end_matches('/');
    tokio::net::lookup_host(host)
        .await
        .expect("resolve redis")
        .next()
        .expect("redis address")
}

/// A loopback TCP proxy that counts the connections it accepts and can stall: while stalled it forwards
/// nothing either way and keeps every connection open, which is what a stuck Redis looks like.
struct StallProxy {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stalled: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl StallProxy {
    async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stalled, watch) = tokio::sync::watch::channel(false);
        let task = tokio::spawn({
            let accepted = accepted.clone();
            async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let watch = watch.clone();
                    tokio::spawn(async move {
                        let Ok(outbound) = TcpStream::connect(target).await else {
                            return;
                        };
                        let (in_read, in_write) = inbound.into_split();
                        let (out_read, out_write) = outbound.into_split();
                        tokio::select! {
                            () = pipe(in_read, out_write, watch.clone()) => {}
                            () = pipe(out_read, in_write, watch) => {}
                        }
                    });
                }
            }
        });
        Self {
            port,
            accepted,
            stalled,
            task,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn stall(&self, stalled: bool) {
        self.stalled.send_replace(stalled);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, holding every byte while the proxy is stalled.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if stalled.wait_for(|s| !*s).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stalled.wait_for(|s| !*s).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Polls `/readyz` until it answers `status` (bounded): readiness has no push notification.
async fn wait_ready(app: &TestApp, status: u16) {
    let deadline = Instant::now() + PATIENCE;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        if app.get("/readyz", None).await.status() == status {
            return;
        }
        assert!(Instant::now() < deadline, "/readyz never answered {status}");
    }
}

/// Joins `room`, says something and reads it back: done once the node serves the socket live.
async fn join_and_echo(app: &TestApp, room: &str) -> Client {
    let mut client = app.join(room).await;
    client.say("here").await;
    assert_eq!(client.next_message().await["message"], "here");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_escaped_frames_is_bounded_by_the_room_buffers_bytes_and_a_slow_reader_catches_up()
 {
    const MESSAGES: usize = 300;
    let dir = TempDir::new();
    let config = Config {
        // 300 events fit the count bound (1,024) many times; 300 frames of 25 KB do not fit 256 KB.
        room_buffer_bytes: 256 * 1024,
        ..test_config(dir.sqlite_url())
    };
    let app = spawn_app_with(config).await;
    let mut slow = connect_small_buffer(app.addr, "/ws/chat/flood/", 4096).await;
    let mut fast = connect(app.addr, "/ws/chat/flood/").await;
    let mut sender = connect(app.addr, "/ws/chat/flood/").await;
    let sending = tokio::spawn(async move {
        send_flood(&mut sender, MESSAGES).await;
        sender
    });
    let got = fast.messages(MESSAGES).await;
    assert_eq!(ids(&got), (1..=MESSAGES as u64).collect::<Vec<_>>());
    assert!(texts(&got)[7].starts_with("7\u{1}\u{1}"));
    drop(sending.await.expect("sender"));
    // The slow reader fell out of the byte-bounded buffer and healed from the store: everything, in order.
    let got = slow.messages(MESSAGES).await;
    assert_eq!(ids(&got), (1..=MESSAGES as u64).collect::<Vec<_>>());
    assert!(
        Stats::get(&app.stats.catch_ups) >= 1,
        "the slow reader fell behind a buffer that held fewer than 300 events"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_keeps_each_rooms_newest_event_and_the_other_node_gets_everything() {
    const MESSAGES: usize = 200;
    let Some(redis) = redis_url("outbox_full") else {
        return;
    };
    let Some(db) = TestDatabase::create("outbox_full").await else {
        return;
    };
    let prefix = unique_prefix("outbox_full");
    // No heads check here: only the outbox's kept newest event can bring the tail to the other node.
    let a = spawn_app_with(Config {
        redis_outbox_bytes: 64 * 1024,
        redis_heal_ms: 3_600_000,
        ..node_config(&db.url, &redis, &prefix)
    })
    .await;
    let b = spawn_app_with(Config {
        redis_heal_ms: 3_600_000,
        ..node_config(&db.url, &redis, &prefix)
    })
    .await;
    let mut reader = join_and_echo(&b, "overflow").await;
    let mut sender = join_and_echo(&a, "overflow").await;
    assert_eq!(reader.next_message().await["id"], 2, "the live path works");
    // 200 frames of 25 KB, 20 at a time: about 5 MB through a 64 KB outbox.
    let sending = tokio::spawn(async move {
        send_flood(&mut sender, MESSAGES).await;
        sender
    });
    let got = reader.messages(MESSAGES).await;
    drop(sending.await.expect("sender"));
    assert_eq!(ids(&got), (3..3 + MESSAGES as u64).collect::<Vec<_>>());
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_publish_in_a_quiet_room_heals_on_the_other_node_within_the_period() {
    const PERIOD: Duration = Duration::from_millis(300);
    let Some(redis) = redis_url("lost_publish") else {
        return;
    };
    let Some(db) = TestDatabase::create("lost_publish").await else {
        return;
    };
    let prefix = unique_prefix("lost_publish");
    let b = spawn_app_with(Config {
        redis_heal_ms: PERIOD.as_millis() as u64,
        ..node_config(&db.url, &redis, &prefix)
    })
    .await;
    // A node that commits to the same store but whose PUBLISH never reaches Redis (as if it crashed
    // between the two): nothing but the heads check can tell B.
    let silent = spawn_app_with(test_config(db.url.clone())).await;
    let mut reader = join_and_echo(&b, "quiet").await;
    let mut writer = silent.join("quiet").await;
    assert_eq!(writer.next_message().await["id"], 1, "history");
    let started = Instant::now();
    writer.say("never published").await;
    let got = reader.next_message().await;
    assert_eq!(
        (got["id"].as_u64(), got["message"].as_str()),
        (Some(2), Some("never published"))
    );
    let took = started.elapsed();
    assert!(
        took < 2 * PERIOD + Duration::from_secs(1),
        "healed after {took:?}, more than two periods of {PERIOD:?}"
    );
    silent.stop().await;
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_drains_its_outbox_to_the_other_nodes() {
    let Some(redis) = redis_url("drain") else {
        return;
    };
    let Some(db) = TestDatabase::create("drain").await else {
        return;
    };
    let prefix = unique_prefix("drain");
    let proxy = TcpProxy::start(redis_addr(&redis).await).await;
    let no_heal = |url: &str| Config {
        redis_heal_ms: 3_600_000,
        ..node_config(&db.url, url, &prefix)
    };
    let a = spawn_app_with(no_heal(&format!("redis://127.0.0.1:{}", proxy.port))).await;
    let b = spawn_app_with(no_heal(&redis)).await;
    let mut reader = join_and_echo(&b, "tail").await;
    let mut sender = join_and_echo(&a, "tail").await;
    assert_eq!(reader.next_message().await["id"], 2, "the live path works");
    // A cannot publish: its last message waits in the outbox.
    proxy.cut();
    assert_eq!(sender.send_acked("last words", 1).await, [3]);
    proxy.restore();
    // A stops at once; its drain publishes what waited, before the layer stops.
    a.stop().await;
    let got = reader.next_message().await;
    assert_eq!(
        (got["id"].as_u64(), got["message"].as_str()),
        (Some(3), Some("last words-0"))
    );
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_clusters_payload_on_the_same_channel_is_ignored() {
    let Some(redis) = redis_url("foreign_cluster") else {
        return;
    };
    let dir = TempDir::new();
    let prefix = unique_prefix("foreign_cluster");
    let app = spawn_app_with(Config {
        cluster_id: Some("blue".into()),
        ..node_config(&dir.sqlite_url(), &redis, &prefix)
    })
    .await;
    let mut member = join_and_echo(&app, "mixed").await;
    let client = ::redis::Client::open(redis.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to redis");
    let frame = |text: &str| {
        json!({"type": "message", "id": 2, "ts": "2026-01-01T00:00:00Z", "user": "mallory",
               "message": text, "history": false})
    };
    let channel = format!("{prefix}:room:mixed");
    // Another deployment on the same prefix, then a payload of ours naming another room: both ignored.
    // Then one from another node of this cluster, on the same channel: delivered, so the others were seen.
    for payload in [
        format!("green 1 mixed 2 p {}", frame("intruder")),
        format!("blue 1 other 2 p {}", frame("elsewhere")),
        format!("blue 1 mixed 2 p {}", frame("relayed")),
    ] {
        let receivers: i64 = ::redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async(&mut conn)
            .await
            .expect("publish");
        assert_eq!(receivers, 1, "the node is subscribed");
    }
    let got = member.next_message().await;
    assert_eq!(
        (got["id"].as_u64(), got["message"].as_str()),
        (Some(2), Some("relayed"))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_complete_within_the_bound_while_redis_is_stuck() {
    const JOINS: usize = 20;
    // A join waits at most JOIN_WAIT (2 s) for Redis; the rest is the handshake and one echo.
    const BOUND: Duration = Duration::from_secs(4);
    let Some(redis) = redis_url("stuck_redis") else {
        return;
    };
    let proxy = StallProxy::start(redis_addr(&redis).await).await;
    let dir = TempDir::new();
    let app = Arc::new(
        spawn_app_with(node_config(
            &dir.sqlite_url(),
            &proxy.url(),
            &unique_prefix("stuck_redis"),
        ))
        .await,
    );
    wait_ready(&app, 200).await;
    let mut before = join_and_echo(&app, "before").await;
    proxy.stall(true);
    // Joins of rooms never subscribed, at once and then one by one across several reconnect attempts.
    let started = Instant::now();
    let mut joins = Vec::new();
    for i in 0..JOINS {
        let app = app.clone();
        joins.push(tokio::spawn(async move {
            let started = Instant::now();
            let client = join_and_echo(&app, &format!("stuck{i}")).await;
            (started.elapsed(), client)
        }));
    }
    let mut clients = Vec::new();
    for join in joins {
        let (took, client) = join.await.expect("join");
        assert!(took < BOUND, "a join took {took:?} while redis was stuck");
        clients.push(client);
    }
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
    for i in 0..8 {
        let started = Instant::now();
        clients.push(join_and_echo(&app, &format!("later{i}")).await);
        let took = started.elapsed();
        assert!(took < BOUND, "join {i} took {took:?} while redis was stuck");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The room joined before keeps working locally, and everything recovers once Redis answers.
    before.say("still here").await;
    assert_eq!(before.next_message().await["message"], "still here");
    proxy.stall(false);
    wait_ready(&app, 200).await;
    drop(clients);
    let app = Arc::into_inner(app).expect("joins done");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_readiness_probes_reuse_one_redis_connection() {
    let Some(redis) = redis_url("readyz_reuse") else {
        return;
    };
    let proxy = StallProxy::start(redis_addr(&redis).await).await;
    let dir = TempDir::new();
    let app = spawn_app_with(node_config(
        &dir.sqlite_url(),
        &proxy.url(),
        &unique_prefix("readyz_reuse"),
    ))
    .await;
    wait_ready(&app, 200).await;
    let opened = proxy.accepted();
    // Sequential probes across more than a second (the answer is reused for one), then a burst at once.
    let deadline = Instant::now() + Duration::from_millis(2500);
    let mut probes = 0;
    while Instant::now() < deadline {
        assert_eq!(app.get("/readyz", None).await.status(), 200);
        probes += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let burst: Vec<_> = (0..50)
        .map(|_| {
            let url = app.url("/readyz");
            tokio::spawn(async move { reqwest::get(url).await.expect("probe").status() })
        })
        .collect();
    for probe in burst {
        assert_eq!(probe.await.expect("probe task"), 200);
    }
    let new = proxy.accepted() - opened;
    assert!(
        probes > 50 && new <= 1,
        "{} probes opened {new} redis connections",
        probes + 50
    );
    app.stop().await;
}

/// A redis-server this test owns, requiring a password for the default user and with an ACL user `chat`
/// allowed only pub/sub on `<prefix>:room:*` and PING (docs/DEPLOY.md); `None` to skip when redis-server
/// is not installed (never on CI).
struct AclRedis {
    port: u16,
    child: std::process::Child,
}

impl AclRedis {
    async fn start(test: &str, prefix: &str) -> Option<Self> {
        if std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                !crate::services::on_ci(),
                "{test}: redis-server is not installed, and CI must run every test"
            );
            println!("skipping {test}: redis-server not installed");
            return None;
        }
        let port = crate::services::free_port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                "admin-pw",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        crate::services::wait_listening(port).await;
        let admin = Self { port, child };
        let mut conn = admin.connect("default", "admin-pw").await;
        let channels = format!("&{prefix}:room:*");
        let mut acl = ::redis::cmd("ACL");
        for arg in [
            "SETUSER",
            "chat",
            "on",
            ">s3cret",
            "resetchannels",
            &channels,
            "-@all",
            "+publish",
            "+subscribe",
            "+unsubscribe",
            "+ping",
        ] {
            acl.arg(arg);
        }
        let _: () = acl.query_async(&mut conn).await.expect("ACL SETUSER");
        Some(admin)
    }

    fn url(&self, user: &str, password: &str) -> String {
        format!("redis://{user}:{password}@127.0.0.1:{}", self.port)
    }

    async fn connect(&self, user: &str, password: &str) -> ::redis::aio::MultiplexedConnection {
        ::redis::Client::open(self.url(user, password).as_str())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test redis")
    }
}

impl Drop for AclRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_with_only_its_channels_and_ping_is_enough_for_a_node() {
    let prefix = unique_prefix("acl_user");
    let Some(redis) = AclRedis::start("acl_user", &prefix).await else {
        return;
    };
    let dir = TempDir::new();
    let app = spawn_app_with(Config {
        cluster_id: Some("blue".into()),
        ..node_config(&dir.sqlite_url(), &redis.url("chat", "s3cret"), &prefix)
    })
    .await;
    // PING and SUBSCRIBE as `chat`: ready.
    wait_ready(&app, 200).await;
    let mut member = join_and_echo(&app, "guarded").await;
    // PUBLISH as `chat`: the member's message reaches Redis.
    let channel = format!("{prefix}:room:guarded");
    let watcher = ::redis::Client::open(redis.url("default", "admin-pw").as_str()).expect("url");
    let mut watch = watcher.get_async_pubsub().await.expect("pubsub");
    watch.subscribe(&channel).await.expect("subscribe");
    member.say("out loud").await;
    assert_eq!(member.next_message().await["id"], 2);
    let mut published = Box::pin(watch.on_message());
    let heard = loop {
        let message = tokio::time::timeout(PATIENCE, published.next())
            .await
            .expect("the node publishes in time")
            .expect("pubsub open");
        let payload: String = message.get_payload().expect("text payload");
        if payload.contains("out loud") {
            break payload;
        }
    };
    assert!(heard.starts_with("blue "), "{heard}");
    // SUBSCRIBE as `chat`: another node's payload reaches the member.
    let mut admin = redis.connect("default", "admin-pw").await;
    let frame = json!({"type": "message", "id": 3, "ts": "2026-01-01T00:00:00Z", "user": "bo",
                       "message": "from afar", "history": false});
    let _: i64 = ::redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(format!("blue 1 guarded 3 p {frame}"))
        .query_async(&mut admin)
        .await
        .expect("publish");
    let got = member.next_message().await;
    assert_eq!(
        (got["id"].as_u64(), got["message"].as_str()),
        (Some(3), Some("from afar"))
    );
    drop(published);
    app.stop().await;
}
