//! Two nodes on PostgreSQL and Redis: what staff do on one node holds on the other within about a second.

use std::time::Duration;

use serde_json::json;

use super::{
    STAFF, assert_audited, assert_back_to_room, assert_error, assert_moderated, command, send,
    send_when_allowed,
};
use crate::accounts::member;
use crate::helpers::{Client, PATIENCE, ids, two_nodes};
use crate::people::{Browser, staff_browser};

/// Tries the handshake until it is accepted (an unban reaches another node at its next poll of the log;
/// nothing can be awaited), within the test's patience.
async fn join_when_allowed(browser: &Browser, path: &str) -> Client {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match browser.join(path).await {
            Ok(client) => return client,
            Err(status) => {
                assert_eq!(status, 403, "only the ban refuses it");
                assert!(tokio::time::Instant::now() < deadline, "still refused");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_two_nodes_mutes_bans_and_kicks_hold_on_both_within_about_a_second() {
    let test = "moderation_across_nodes";
    let Some((db, a, b)) = two_nodes(test).await else {
        return;
    };
    let mut staff = staff_browser(a.addr, &db.url, STAFF).await;
    let mut mod_socket = staff.join_v2("/ws/chat/hall/").await.expect("staff on A");
    let bob_on_a = member(&a, "bob").await;
    let bob_on_b = bob_on_a.on(b.addr);
    let carol_on_b = member(&a, "carol").await.on(b.addr);
    let mut bob_a = bob_on_a.join("/ws/chat/hall/").await.expect("bob on A");
    let mut bob_b = bob_on_b.join("/ws/chat/hall/").await.expect("bob on B");
    let mut carol_b = carol_on_b.join("/ws/chat/hall/").await.expect("carol on B");
    let mut watcher = b.join("hall").await;
    assert_eq!(send(&mut bob_b, "one", "b0").await["id"], 1);

    let started = tokio::time::Instant::now();
    let mute = json!({"type": "mute", "user": "bob", "seconds": 600});
    assert_moderated(&command(&mut mod_socket, mute, "m1").await, "mute");
    // The kick is logged after the mute: once B has closed carol's socket, it has applied the mute too.
    let kick = json!({"type": "kick", "user": "carol"});
    assert_moderated(&command(&mut mod_socket, kick, "k1").await, "kick");
    assert_eq!(carol_b.closed().await, Some(4408), "B applies the kick");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "B polls the log about once a second: {:?}",
        started.elapsed()
    );
    assert_error(&send(&mut bob_b, "held", "h1").await, "muted", "h1");
    assert_error(&send(&mut bob_a, "held", "h2").await, "muted", "h2");

    let page = staff
        .post("/admin/rooms/hall/ban", &[("user", "bob")])
        .await;
    assert_back_to_room(&page, "hall");
    assert_eq!(bob_a.closed().await, Some(4403), "on A");
    assert_eq!(bob_b.closed().await, Some(4403), "on B");
    assert_eq!(bob_on_a.join("/ws/chat/hall/").await.err(), Some(403));
    assert_eq!(bob_on_b.join("/ws/chat/hall/").await.err(), Some(403));

    let mut carol_back = carol_on_b
        .join("/ws/chat/hall/")
        .await
        .expect("kicked, not banned");
    assert_eq!(send(&mut carol_back, "two", "c1").await["id"], 2);
    let seen = watcher.messages(2).await;
    assert_eq!(ids(&seen), [1, 2], "nothing held was stored");

    let unban = json!({"type": "unban", "user": "bob"});
    assert_moderated(&command(&mut mod_socket, unban, "u1").await, "unban");
    let unmute = json!({"type": "unmute", "user": "bob"});
    assert_moderated(&command(&mut mod_socket, unmute, "u2").await, "unmute");
    let mut bob_back = join_when_allowed(&bob_on_b, "/ws/chat/hall/").await;
    assert_eq!(
        send_when_allowed(&mut bob_back, "three", "b3").await["id"],
        3
    );

    for (action, target) in [
        ("room.mute", "bob in hall"),
        ("room.kick", "carol in hall"),
        ("room.ban", "bob in hall"),
        ("room.unban", "bob in hall"),
        ("room.unmute", "bob in hall"),
    ] {
        assert_audited(&mut staff, action, target).await;
    }
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}
