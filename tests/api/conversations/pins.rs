//! Pins and topics: who may (owners, moderators, staff; members of a direct room pin; a room without an
//! owner is staff's), what everyone gets (an event with the room's next id), what is refused (a 51st pin,
//! a topic over 250 characters) and what changes nothing (a pin of a pinned message, the same topic).

use serde_json::{Value, json};

use super::{PATH, acked, act, events, refused, said, shapes, town, unchanged, v2};
use crate::engines::{Database, on_both_engines};
use crate::rooms::api;

on_both_engines!(
    owners_moderators_and_staff_pin_and_set_the_topic,
    owners_moderators_and_staff_pin_and_set_the_topic_on_sqlite,
    owners_moderators_and_staff_pin_and_set_the_topic_on_postgres
);
on_both_engines!(
    a_room_holds_fifty_pins,
    a_room_holds_fifty_pins_on_sqlite,
    a_room_holds_fifty_pins_on_postgres
);
on_both_engines!(
    rights_follow_roles_on_open_sockets,
    rights_follow_roles_on_open_sockets_on_sqlite,
    rights_follow_roles_on_open_sockets_on_postgres
);
on_both_engines!(
    direct_rooms_and_rooms_without_an_owner,
    direct_rooms_and_rooms_without_an_owner_on_sqlite,
    direct_rooms_and_rooms_without_an_owner_on_postgres
);

fn pin(id: u64, add: bool, cid: &str) -> Value {
    let kind = if add { "pin" } else { "unpin" };
    json!({"type": kind, "id": id, "client_id": cid})
}

fn topic(text: &str, cid: &str) -> Value {
    json!({"type": "topic", "topic": text, "client_id": cid})
}

async fn owners_moderators_and_staff_pin_and_set_the_topic(db: &Database) {
    let town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut bob = v2(&town.bob, PATH).await;
    let mut carol = v2(&town.carol, PATH).await;
    let mut boss = v2(&town.boss, PATH).await;

    let message = said(&mut carol, "remember this", "c1").await;
    // A member without a role does neither.
    refused(&mut carol, pin(message, true, "c2"), "forbidden").await;
    refused(&mut carol, pin(message, false, "c3"), "forbidden").await;
    refused(&mut carol, topic("mine", "c4"), "forbidden").await;

    let pinned = acked(&mut ada, pin(message, true, "a1")).await;
    assert_eq!(pinned, message + 1, "the refusals used no id");
    unchanged(&mut bob, pin(message, true, "b1"), message).await;
    let unpinned = acked(&mut bob, pin(message, false, "b2")).await;
    assert_eq!(unpinned, pinned + 1);
    unchanged(&mut boss, pin(message, false, "s1"), message).await;
    let repinned = acked(&mut boss, pin(message, true, "s2")).await;
    assert_eq!(repinned, unpinned + 1);
    // Events and missing messages are not pinned.
    refused(&mut ada, pin(repinned, true, "a2"), "not_found").await;
    refused(&mut ada, pin(9999, true, "a3"), "not_found").await;

    let first = acked(&mut ada, topic("Release 2.0", "a4")).await;
    assert_eq!(first, repinned + 1);
    let second = acked(&mut bob, topic("Release 2.1", "b3")).await;
    assert_eq!(second, first + 1);
    // The topic it has already: nothing changes, the ack names the room's last id.
    unchanged(&mut boss, topic("Release 2.1", "s3"), second).await;
    refused(&mut ada, topic(&"x".repeat(251), "a5"), "invalid_topic").await;
    refused(
        &mut ada,
        json!({"type": "topic", "topic": 7, "client_id": "a6"}),
        "invalid_topic",
    )
    .await;
    let longest = "é".repeat(250);
    let third = acked(&mut boss, topic(&longest, "s4")).await;
    assert_eq!(third, second + 1);
    let cleared = acked(&mut ada, topic("", "a7")).await;
    assert_eq!(cleared, third + 1);
    let next = said(&mut carol, "next", "c5").await;
    assert_eq!(next, cleared + 1, "no refusal or repeat used an id");

    let frames = events(&mut carol, 9).await;
    assert_eq!(
        shapes(&frames),
        [
            ("message".into(), message),
            ("pin".into(), pinned),
            ("pin".into(), unpinned),
            ("pin".into(), repinned),
            ("topic".into(), first),
            ("topic".into(), second),
            ("topic".into(), third),
            ("topic".into(), cleared),
            ("message".into(), next),
        ]
    );
    let pin_of = |f: &Value| {
        (
            f["target"].as_u64(),
            f["user"].as_str().map(str::to_owned),
            f["action"].as_str().map(str::to_owned),
        )
    };
    assert_eq!(
        pin_of(&frames[1]),
        (Some(message), Some("ada".into()), Some("add".into()))
    );
    assert_eq!(
        pin_of(&frames[2]),
        (Some(message), Some("bob".into()), Some("remove".into()))
    );
    assert_eq!(
        pin_of(&frames[3]),
        (Some(message), Some("boss".into()), Some("add".into()))
    );
    let topic_of = |f: &Value| {
        (
            f["topic"].as_str().map(str::to_owned),
            f["user"].as_str().map(str::to_owned),
        )
    };
    assert_eq!(
        topic_of(&frames[4]),
        (Some("Release 2.0".into()), Some("ada".into()))
    );
    assert_eq!(
        topic_of(&frames[5]),
        (Some("Release 2.1".into()), Some("bob".into()))
    );
    assert_eq!(topic_of(&frames[6]), (Some(longest), Some("boss".into())));
    assert_eq!(
        topic_of(&frames[7]),
        (Some(String::new()), Some("ada".into()))
    );
    town.app.stop().await;
}

async fn a_room_holds_fifty_pins(db: &Database) {
    let town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut messages = Vec::new();
    for i in 0..51 {
        messages.push(said(&mut ada, &format!("p-{i}"), &format!("p-{i}")).await);
    }
    let mut last = *messages.last().expect("messages");
    for (i, id) in messages[..50].iter().enumerate() {
        let pinned = acked(&mut ada, pin(*id, true, &format!("pin{i}"))).await;
        assert_eq!(pinned, last + 1);
        last = pinned;
    }
    refused(&mut ada, pin(messages[50], true, "pin50"), "too_many_pins").await;
    // Pinning a pinned one is no 51st.
    unchanged(&mut ada, pin(messages[7], true, "again"), messages[7]).await;
    let unpinned = acked(&mut ada, pin(messages[0], false, "unpin0")).await;
    assert_eq!(unpinned, last + 1, "the refusal used no id");
    let pinned = acked(&mut ada, pin(messages[50], true, "pin50-again")).await;
    assert_eq!(pinned, unpinned + 1);
    refused(
        &mut ada,
        pin(messages[0], true, "pin0-again"),
        "too_many_pins",
    )
    .await;
    assert_eq!(said(&mut ada, "full", "last").await, pinned + 1);
    town.app.stop().await;
}

async fn direct_rooms_and_rooms_without_an_owner(db: &Database) {
    let mut town = town(db).await;
    let addr = town.app.addr;
    let (status, dm) = api(
        addr,
        &mut town.ada,
        "POST",
        "/api/dms/",
        Some(json!({"users": ["bob"]})),
    )
    .await;
    assert_eq!(status, 200, "{dm}");
    let path = format!("/ws/chat/{}/", dm["name"].as_str().expect("a name"));
    let mut ada = v2(&town.ada, &path).await;
    let mut bob = v2(&town.bob, &path).await;
    let message = said(&mut ada, "our secret", "a1").await;
    // Either member of a direct room pins, and unpins what the other pinned.
    let pinned = acked(&mut bob, pin(message, true, "b1")).await;
    assert_eq!(pinned, message + 1);
    let unpinned = acked(&mut ada, pin(message, false, "a2")).await;
    assert_eq!(unpinned, pinned + 1);
    // A direct room has no topic.
    refused(&mut ada, topic("us", "a3"), "forbidden").await;
    let frames = events(&mut bob, 3).await;
    assert_eq!(
        shapes(&frames),
        [
            ("message".into(), message),
            ("pin".into(), pinned),
            ("pin".into(), unpinned)
        ]
    );

    // A room made by its first message has no owner: staff only, not the owner of another room.
    let mut carol = v2(&town.carol, "/ws/chat/hall/").await;
    let first = said(&mut carol, "first!", "c1").await;
    refused(&mut carol, pin(first, true, "c2"), "forbidden").await;
    let mut owner_elsewhere = v2(&town.ada, "/ws/chat/hall/").await;
    refused(&mut owner_elsewhere, pin(first, true, "a4"), "forbidden").await;
    refused(&mut owner_elsewhere, topic("hall", "a5"), "forbidden").await;
    let mut boss = v2(&town.boss, "/ws/chat/hall/").await;
    assert_eq!(acked(&mut boss, pin(first, true, "s1")).await, first + 1);
    assert_eq!(acked(&mut boss, topic("the hall", "s2")).await, first + 2);
    let answer = act(&mut carol, json!({"message": "ok", "client_id": "c3"})).await;
    assert_eq!(answer["id"], first + 3, "{answer}");
    town.app.stop().await;
}

/// A role given or taken while the socket is open counts at once: bob, no longer a moderator, pins no
/// more; carol, made one, may.
async fn rights_follow_roles_on_open_sockets(db: &Database) {
    let mut town = town(db).await;
    let addr = town.app.addr;
    let mut bob = v2(&town.bob, PATH).await;
    let mut carol = v2(&town.carol, PATH).await;
    let message = said(&mut carol, "pin me", "c1").await;
    refused(&mut carol, pin(message, true, "c2"), "forbidden").await;
    let room = super::ROOM;
    let (status, body) = api(
        addr,
        &mut town.ada,
        "PATCH",
        &format!("/api/rooms/{room}/members/bob"),
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(
        addr,
        &mut town.ada,
        "POST",
        &format!("/api/rooms/{room}/members"),
        Some(json!({"user": "carol", "role": "moderator"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // Roles reach open sockets within about a second (docs/PROTOCOL.md), through each node's poll of the
    // moderation log, and no frame tells a socket: probe with an unpin of an unpinned message, which
    // changes nothing either way (an ack `duplicate` while allowed, `forbidden` after).
    assert_eq!(
        answer_within_two_seconds(&mut bob, message, "forbidden").await,
        "forbidden",
        "bob's open socket lost the right"
    );
    assert_eq!(
        answer_within_two_seconds(&mut carol, message, "ack").await,
        "ack",
        "carol's open socket got it"
    );
    refused(&mut bob, pin(message, true, "b1"), "forbidden").await;
    refused(&mut bob, topic("bob's", "b2"), "forbidden").await;
    let pinned = acked(&mut carol, pin(message, true, "c3")).await;
    assert_eq!(
        pinned,
        message + 3,
        "two membership events, and no probe used an id"
    );
    let topic_set = acked(&mut carol, topic("carol's", "c4")).await;
    assert_eq!(topic_set, pinned + 1);
    town.app.stop().await;
}

/// Sends a no-op `unpin` of `message` (not pinned) every 50 ms until it is answered `wanted` (`ack` or
/// an error code), at most 2 seconds; returns the last answer's type or code.
async fn answer_within_two_seconds(socket: &mut super::Sock, message: u64, wanted: &str) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
    let mut probe = 0;
    loop {
        tick.tick().await;
        probe += 1;
        let answer = act(socket, pin(message, false, &format!("probe{probe}"))).await;
        let got = match answer["type"].as_str() {
            Some("ack") => {
                assert_eq!(
                    answer["duplicate"], true,
                    "a probe changes nothing: {answer}"
                );
                "ack".to_owned()
            }
            _ => answer["code"].as_str().unwrap_or("?").to_owned(),
        };
        if got == wanted || tokio::time::Instant::now() >= deadline {
            return got;
        }
    }
}
