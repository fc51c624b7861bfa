//! A Redis ACL user allowed only its own channels and PING is enough for a node.

use chatweb::config::Config;
use futures_util::StreamExt;
use serde_json::json;

use super::{join_and_echo, wait_ready};
use crate::helpers::{PATIENCE, TempDir, node_config, spawn_app_with, unique_prefix};

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
