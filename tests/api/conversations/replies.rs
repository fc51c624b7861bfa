//! Replies: every v2 socket gets a reply with `reply_to`; a reply to a reply joins its root's thread; a
//! reply to what is not a message of the room (missing, deleted, an event) is refused with `not_found`
//! and uses no id; a plain Channels client gets the replies as the messages they are, and nothing else.

use serde_json::json;

use super::{
    PATH, ROOM, acked, events, next_event, plain_frames_until, refused, said, shapes, town, v2,
};
use crate::engines::{Database, on_both_engines};
use crate::helpers::texts;

on_both_engines!(
    replies_reach_every_socket_with_their_root,
    replies_reach_every_socket_with_their_root_on_sqlite,
    replies_reach_every_socket_with_their_root_on_postgres
);

async fn replies_reach_every_socket_with_their_root(db: &Database) {
    let town = town(db).await;
    let mut plain = town.app.join(ROOM).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut bob = v2(&town.bob, PATH).await;
    let mut carol = v2(&town.carol, PATH).await;

    let root = said(&mut ada, "the plan", "a1").await;
    let reply = acked(
        &mut bob,
        json!({"type": "message", "message": "agreed", "reply_to": root, "client_id": "b1"}),
    )
    .await;
    assert_eq!(reply, root + 1);
    // A reply to the reply joins the root's thread.
    let nested = acked(
        &mut carol,
        json!({"type": "message", "message": "me too", "reply_to": reply, "client_id": "c1"}),
    )
    .await;
    assert_eq!(nested, reply + 1);
    for (who, socket) in [("ada", &mut ada), ("bob", &mut bob), ("carol", &mut carol)] {
        let frames = events(socket, 3).await;
        assert_eq!(
            shapes(&frames),
            [
                ("message".into(), root),
                ("message".into(), reply),
                ("message".into(), nested)
            ],
            "{who}"
        );
        assert_eq!(frames[0].get("reply_to"), None, "a root is no reply");
        assert_eq!(frames[1]["reply_to"], root, "{who}: {}", frames[1]);
        assert_eq!(
            frames[2]["reply_to"], root,
            "{who}: a reply to a reply names the root: {}",
            frames[2]
        );
    }

    // Not a message of the room: refused, no id used.
    let doomed = said(&mut ada, "doomed", "a2").await;
    let deletion = acked(
        &mut ada,
        json!({"type": "delete", "id": doomed, "client_id": "a3"}),
    )
    .await;
    assert_eq!(deletion, doomed + 1);
    for (target, cid) in [(9999, "x1"), (doomed, "x2"), (deletion, "x3")] {
        let frame =
            json!({"type": "message", "message": "lost", "reply_to": target, "client_id": cid});
        refused(&mut bob, frame, "not_found").await;
    }
    // An id that cannot be one is a malformed frame.
    refused(
        &mut bob,
        json!({"message": "lost", "reply_to": 0, "client_id": "x4"}),
        "invalid_id",
    )
    .await;
    // A message of another room, whose id this room has not reached.
    let mut elsewhere = v2(&town.carol, "/ws/chat/hall/").await;
    let mut far = 0;
    for i in 0..(deletion + 3) {
        far = said(&mut elsewhere, &format!("hall {i}"), &format!("h{i}")).await;
    }
    assert!(far > deletion + 1);
    refused(
        &mut bob,
        json!({"message": "lost", "reply_to": far, "client_id": "x6"}),
        "not_found",
    )
    .await;
    // Also a reply to a reaction event.
    let reaction = acked(
        &mut carol,
        json!({"type": "react", "id": root, "emoji": "👍", "client_id": "c2"}),
    )
    .await;
    assert_eq!(reaction, deletion + 1);
    refused(
        &mut bob,
        json!({"message": "lost", "reply_to": reaction, "client_id": "x5"}),
        "not_found",
    )
    .await;
    // Without a client id the refusal is an error all the same.
    bob.send_json(json!({"message": "lost", "reply_to": 9999}))
        .await;
    let answer = bob.next_answer().await;
    assert_eq!(
        (answer["type"].as_str(), answer["code"].as_str()),
        (Some("error"), Some("not_found")),
        "{answer}"
    );
    let next = said(&mut bob, "next", "b2").await;
    assert_eq!(next, reaction + 1, "the refusals used no id");
    let frames = events(&mut carol, 4).await;
    assert_eq!(
        shapes(&frames),
        [
            ("message".into(), doomed),
            ("delete".into(), deletion),
            ("reaction".into(), reaction),
            ("message".into(), next)
        ]
    );

    // A pin and a topic too, then the plain client's whole view: the messages, replies included, and
    // nothing else.
    acked(
        &mut ada,
        json!({"type": "pin", "id": root, "client_id": "a4"}),
    )
    .await;
    acked(
        &mut ada,
        json!({"type": "topic", "topic": "plans", "client_id": "a5"}),
    )
    .await;
    let seen = plain_frames_until(&mut plain, &mut ada, "the end").await;
    assert_eq!(
        texts(&seen),
        ["the plan", "agreed", "me too", "doomed", "next", "the end"],
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|f| f.get("type").is_none_or(|t| t == "message")),
        "{seen:?}"
    );
    assert_eq!(seen[1]["reply_to"], root, "plain clients get reply_to too");
    assert_eq!(seen[2]["reply_to"], root);
    let last = next_event(&mut carol).await;
    assert_eq!(last["type"], "pin");

    // A plain client replies too (the frame is the same), and every socket gets it as a reply.
    plain
        .send_json(json!({"message": "from a plain page", "reply_to": nested}))
        .await;
    let own = plain.next_json().await;
    assert_eq!(
        (own["message"].as_str(), own["reply_to"].as_u64()),
        (Some("from a plain page"), Some(root)),
        "{own}"
    );
    let frames = events(&mut carol, 3).await;
    assert_eq!(
        frames
            .iter()
            .map(|f| f["type"].as_str())
            .collect::<Vec<_>>(),
        [Some("topic"), Some("message"), Some("message")]
    );
    assert_eq!(frames[2]["reply_to"], root, "{}", frames[2]);
    assert_eq!(frames[2]["id"], own["id"]);
    town.app.stop().await;
}
