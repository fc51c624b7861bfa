//! The admin on PostgreSQL with two nodes on one database: a lock holds for sends through either node
//! (it is read in the writer's transaction), and a deletion keeps ids gap-free for both kinds of client.

use crate::helpers::{TestDatabase, ids, spawn_app_with, test_config, texts};
use crate::people::staff_browser;

use super::{
    STAFF, assert_plain_message, audit_actions, delete_message, message_rows, next_frames,
    redirected, room_action, room_row, said, send_to_locked, send_with_id, v2_join,
};

#[tokio::test]
async fn on_postgresql_a_lock_holds_on_every_node_and_a_deletion_keeps_ids_gap_free() {
    let test = "admin_lock_and_delete";
    let Some(db) = TestDatabase::create(test).await else {
        return;
    };
    let app = spawn_app_with(test_config(db.url.clone())).await;
    // A second node on the same database, used only to send: the lock is read in its writer's
    // transaction, not from anything the first node holds.
    let other = spawn_app_with(test_config(db.url.clone())).await;
    let mut staff = staff_browser(app.addr, &db.url, STAFF).await;
    let mut v2 = v2_join(&app, "/ws/chat/hall/").await;
    let mut plain = app.join("hall").await;
    let mut speaker = app.join("hall").await;
    said(&mut speaker, "one").await;
    said(&mut speaker, "two").await;
    assert_eq!(ids(&v2.messages(2).await), [1, 2]);
    assert_eq!(ids(&plain.messages(2).await), [1, 2]);

    room_action(&mut staff, "hall", "lock").await;
    let mut remote = other.join("hall").await;
    assert_eq!(remote.messages(2).await.len(), 2, "history");
    send_to_locked(&mut remote, "from the other node", "r1").await;
    send_to_locked(&mut speaker, "from this node", "l1").await;
    assert_eq!(room_row(&mut staff, "hall").await[4], "locked");
    room_action(&mut staff, "hall", "unlock").await;
    // The refused send, sent again, is new: nothing was stored while the room was locked.
    let (ack, _) = send_with_id(&mut speaker, "three", "l1").await;
    assert_eq!(
        (ack["id"].as_u64(), ack["duplicate"].as_bool()),
        (Some(3), Some(false))
    );
    assert_plain_message(&plain.next_message().await, 3, "three");
    assert_eq!(v2.next_message().await["id"], 3);

    let page = delete_message(&mut staff, "hall", 2).await;
    redirected(&page, "/admin/messages/");
    let event = v2.next_json().await;
    assert_eq!(
        (
            event["type"].as_str(),
            event["id"].as_u64(),
            event["target"].as_u64()
        ),
        (Some("delete"), Some(4), Some(2)),
        "{event}"
    );
    assert_eq!(delete_message(&mut staff, "hall", 2).await.status, 404);
    assert_eq!(delete_message(&mut staff, "hall", 77).await.status, 404);
    said(&mut speaker, "five").await;
    assert_plain_message(&plain.next_message().await, 5, "five");
    assert_eq!(v2.next_message().await["id"], 5);

    let mut replay = app.join_path("/ws/chat/hall/?since=0", None).await;
    let got = replay.messages(3).await;
    assert_eq!(ids(&got), [1, 3, 5]);
    assert_eq!(texts(&got), ["one", "three", "five"]);
    let mut v2_replay = v2_join(&app, "/ws/chat/hall/?since=0").await;
    let frames = next_frames(&mut v2_replay, 5).await;
    let shape: Vec<(u64, &str, bool)> = frames
        .iter()
        .map(|f| {
            (
                f["id"].as_u64().expect("id"),
                f["type"].as_str().expect("type"),
                f["deleted"] == true,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (1, "message", false),
            (2, "message", true),
            (3, "message", false),
            (4, "delete", false),
            (5, "message", false)
        ]
    );
    assert_eq!(frames[1]["message"], "");
    let rows = message_rows(&mut staff, "room=hall").await;
    assert_eq!(
        rows.iter().find(|r| r[1] == "2").expect("message 2")[4],
        "deleted"
    );
    assert_eq!(
        audit_actions(&mut staff).await,
        ["message.delete", "room.unlock", "room.lock"]
    );
    other.stop().await;
    app.stop().await;
    db.drop_database().await;
}
