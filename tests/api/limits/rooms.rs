//! New rooms per address: a refused room is not created, and a resume before the first send does not skip the
//! limit.

use chatweb::limits::LimitSettings;
use serde_json::json;

use super::{
    assert_rate_limited, behind_local_proxy, guest, node, open, refusals, send_and_answer, stored,
};
use crate::helpers::TempDir;

#[tokio::test]
async fn new_rooms_per_address_are_limited_and_a_refused_room_is_not_created() {
    let dir = TempDir::new();
    let app = node(
        &dir,
        behind_local_proxy(LimitSettings {
            new_rooms_per_min: 2,
            ..LimitSettings::default()
        }),
    )
    .await;
    let headers = guest(&app, "ann", None);
    for room in ["n1", "n2"] {
        let mut client = open(&app, &format!("/ws/chat/{room}/"), &headers).await;
        assert_eq!(send_and_answer(&mut client, room).await["type"], "ack");
        // More messages in a room it created count no more rooms.
        assert_eq!(
            send_and_answer(&mut client, &format!("{room}-2")).await["type"],
            "ack"
        );
    }
    // Joining a room creates nothing: only its first message would.
    let mut third = open(&app, "/ws/chat/n3/", &headers).await;
    assert_rate_limited(&send_and_answer(&mut third, "n3").await, "new_rooms");
    assert!(
        stored(&app, "n3").await.is_empty(),
        "the room was not created"
    );
    // A room that exists takes messages from the same address.
    let mut back = open(&app, "/ws/chat/n1/", &headers).await;
    assert_eq!(send_and_answer(&mut back, "n1-3").await["type"], "ack");
    // Another address may create rooms.
    let mut other = open(
        &app,
        "/ws/chat/n4/",
        &guest(&app, "bea", Some("198.51.100.3")),
    )
    .await;
    assert_eq!(send_and_answer(&mut other, "n4").await["type"], "ack");
    assert_eq!(refusals(&app, "new_rooms").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_resume_before_the_first_send_does_not_skip_the_new_rooms_limit() {
    let dir = TempDir::new();
    let app = node(
        &dir,
        LimitSettings {
            new_rooms_per_min: 1,
            ..LimitSettings::default()
        },
    )
    .await;
    let headers = guest(&app, "ann", None);
    let mut first = open(&app, "/ws/chat/r1/", &headers).await;
    assert_eq!(send_and_answer(&mut first, "r1").await["type"], "ack");
    // A resume starts a catch-up from the store; a send read while it runs is still a new room's first.
    for room in ["r2", "r3"] {
        let mut client = open(&app, &format!("/ws/chat/{room}/"), &headers).await;
        client
            .send_together(&[
                json!({"type": "resume", "since": 0}),
                json!({"type": "message", "message": room, "client_id": room}),
            ])
            .await;
        assert_rate_limited(&client.next_answer().await, "new_rooms");
        assert!(
            stored(&app, room).await.is_empty(),
            "{room} was not created"
        );
    }
    // A resume in a room that has messages, then a send: the room is not new, nothing is refused.
    let mut back = open(&app, "/ws/chat/r1/", &headers).await;
    back.send_together(&[
        json!({"type": "resume", "since": 0}),
        json!({"type": "message", "message": "r1-2", "client_id": "r1-2"}),
    ])
    .await;
    assert_eq!(back.next_answer().await["type"], "ack");
    assert_eq!(stored(&app, "r1").await, ["r1", "r1-2"]);
    assert_eq!(refusals(&app, "new_rooms").await, 2);
    app.stop().await;
}
