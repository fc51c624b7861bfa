//! Who may moderate: only staff, and staff cannot be moderated.

use serde_json::json;

use super::{STAFF, assert_error, command, moderated_room, send};
use crate::accounts::member;
use crate::helpers::TempDir;

#[tokio::test]
async fn only_staff_may_moderate_and_staff_cannot_be_moderated() {
    let dir = TempDir::new();
    let (app, mut staff, mut mod_socket) = moderated_room(&dir, "lobby").await;
    let mut bob = member(&app, "bob").await;
    let mut bob_socket = bob.join_v2("/ws/chat/lobby/").await.expect("bob joins");
    let mut guest = app.join("lobby").await;

    let mute = json!({"type": "mute", "user": STAFF, "seconds": 60});
    for (socket, client_id) in [(&mut bob_socket, "x1"), (&mut guest, "x2")] {
        assert_error(
            &command(socket, mute.clone(), client_id).await,
            "forbidden",
            client_id,
        );
        let ban = json!({"type": "ban", "user": "bob"});
        let id = format!("{client_id}-ban");
        assert_error(&command(socket, ban, &id).await, "forbidden", &id);
    }
    assert_eq!(
        send(&mut bob_socket, "not banned", "b1").await["type"],
        "ack"
    );
    // Staff are never muted, banned or kicked; a name that cannot be anyone's is refused.
    let self_mute = command(&mut mod_socket, mute, "x3").await;
    assert_error(&self_mute, "forbidden", "x3");
    let invisible = json!({"type": "kick", "user": "b\u{200B}ob"});
    assert_error(
        &command(&mut mod_socket, invisible, "x4").await,
        "invalid_user",
        "x4",
    );
    let no_seconds = json!({"type": "mute", "user": "bob"});
    assert_error(
        &command(&mut mod_socket, no_seconds, "x5").await,
        "invalid_seconds",
        "x5",
    );

    // The admin's pages and forms: staff only, and a form without its CSRF token is refused.
    assert_eq!(bob.get("/admin/rooms/lobby/").await.status, 403);
    assert_eq!(
        bob.post("/admin/rooms/lobby/ban", &[("user", "carol")])
            .await
            .status,
        403
    );
    let forged = staff
        .post_raw("/admin/rooms/lobby/ban", &[("user", "bob")])
        .await;
    assert_eq!(forged.status, 403, "no CSRF token");
    assert_eq!(
        send(&mut bob_socket, "still fine", "b2").await["type"],
        "ack"
    );
    let audit = staff.get("/admin/audit/").await.body;
    assert!(
        !audit.contains("room.ban"),
        "nothing refused is audited: {audit}"
    );
    assert!(!audit.contains("room.mute"), "{audit}");
    app.stop().await;
}
