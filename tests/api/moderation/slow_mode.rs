//! Slow mode takes one message per person per interval, and staff are exempt.

use serde_json::json;

use super::{
    assert_audited, assert_back_to_room, assert_error, assert_moderated, command, moderated_room,
    room_page, send, send_when_allowed,
};
use crate::accounts::member;
use crate::helpers::{TempDir, ids};

#[tokio::test]
async fn slow_mode_takes_one_message_per_person_per_interval_and_exempts_staff() {
    let dir = TempDir::new();
    let (app, mut staff, mut mod_socket) = moderated_room(&dir, "slow").await;
    let bob = member(&app, "bob").await;
    let carol = member(&app, "carol").await;
    let mut bob_socket = bob.join("/ws/chat/slow/").await.expect("bob joins");
    let mut carol_socket = carol.join("/ws/chat/slow/").await.expect("carol joins");
    let mut watcher = app.join("slow").await;

    let answer = command(
        &mut mod_socket,
        json!({"type": "slow_mode", "seconds": 2}),
        "s1",
    )
    .await;
    assert_moderated(&answer, "slow_mode");
    assert_eq!(answer["seconds"], 2);
    assert!(room_page(&mut staff, "slow").await.contains("every 2 s"));

    assert_eq!(send(&mut bob_socket, "b-1", "b1").await["id"], 1);
    let held = send(&mut bob_socket, "b-2", "b2").await;
    assert_error(&held, "slow_mode", "b2");
    let wait = held["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!((1..=2000).contains(&wait), "{held}");
    // Per person: carol may speak; staff are exempt.
    assert_eq!(send(&mut carol_socket, "c-1", "c1").await["id"], 2);
    for (i, client_id) in ["s-1", "s-2", "s-3"].into_iter().enumerate() {
        let ack = send(&mut mod_socket, client_id, client_id).await;
        assert_eq!(ack["id"].as_u64(), Some(3 + i as u64), "{ack}");
    }
    assert_eq!(
        send_when_allowed(&mut bob_socket, "b-2", "b2").await["id"],
        6
    );

    let page = staff
        .post("/admin/rooms/slow/slow_mode", &[("seconds", "0")])
        .await;
    assert_back_to_room(&page, "slow");
    assert!(
        room_page(&mut staff, "slow")
            .await
            .contains("id=\"slow-mode\">off")
    );
    assert_eq!(send(&mut bob_socket, "b-3", "b3").await["id"], 7);
    assert_eq!(send(&mut bob_socket, "b-4", "b4").await["id"], 8);
    let seen = watcher.messages(8).await;
    assert_eq!(ids(&seen), (1..=8).collect::<Vec<u64>>(), "gap-free");
    assert_audited(&mut staff, "room.slow_mode", "slow").await;
    app.stop().await;
}
