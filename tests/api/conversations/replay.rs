//! A `since=0` resume replays replies, reactions, pins and topics in their place, in id order, exactly
//! as they were sent live (but marked history); a plain client's replay holds the messages only.

use serde_json::{Value, json};

use super::{PATH, acked, events, plain_frames_until, said, town, v2};
use crate::engines::{Database, on_both_engines};
use crate::helpers::texts;

on_both_engines!(
    a_replay_from_zero_holds_every_event_in_its_place,
    a_replay_from_zero_holds_every_event_in_its_place_on_sqlite,
    a_replay_from_zero_holds_every_event_in_its_place_on_postgres
);

/// `frame` without its `history` mark.
fn unmarked(frame: &Value) -> Value {
    let mut frame = frame.clone();
    frame.as_object_mut().expect("an object").remove("history");
    frame
}

async fn a_replay_from_zero_holds_every_event_in_its_place(db: &Database) {
    let town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut bob = v2(&town.bob, PATH).await;
    let mut carol = v2(&town.carol, PATH).await;

    let root = said(&mut ada, "release on friday?", "a1").await;
    acked(
        &mut bob,
        json!({"message": "@carol can you?", "reply_to": root, "client_id": "b1"}),
    )
    .await;
    acked(
        &mut carol,
        json!({"type": "react", "id": root, "emoji": "👍", "client_id": "c1"}),
    )
    .await;
    acked(
        &mut ada,
        json!({"type": "pin", "id": root, "client_id": "a2"}),
    )
    .await;
    acked(
        &mut bob,
        json!({"type": "react", "id": root, "emoji": "🚀", "client_id": "b2"}),
    )
    .await;
    acked(
        &mut ada,
        json!({"type": "topic", "topic": "Release 2.0", "client_id": "a3"}),
    )
    .await;
    acked(
        &mut carol,
        json!({"type": "unreact", "id": root, "emoji": "👍", "client_id": "c2"}),
    )
    .await;
    acked(
        &mut bob,
        json!({"type": "unpin", "id": root, "client_id": "b3"}),
    )
    .await;
    let last = said(&mut carol, "friday it is", "c3").await;
    let count = usize::try_from(last - root + 1).expect("a count");
    let live = events(&mut ada, count).await;
    let kinds: Vec<&str> = live
        .iter()
        .map(|f| f["type"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        kinds,
        [
            "message", "message", "reaction", "pin", "reaction", "topic", "reaction", "pin",
            "message"
        ]
    );

    let mut fresh = super::Sock::new(
        town.bob
            .join_v2(&format!("{PATH}?since=0"))
            .await
            .expect("a v2 resume"),
    );
    let replayed = events(&mut fresh, usize::try_from(last).expect("a count")).await;
    let ids: Vec<u64> = replayed.iter().filter_map(|f| f["id"].as_u64()).collect();
    let expected: Vec<u64> = (1..=last).collect();
    assert_eq!(ids, expected, "every id once, in order: {replayed:?}");
    assert!(
        replayed.iter().all(|f| f["history"] == true),
        "{replayed:?}"
    );
    let tail: Vec<Value> = replayed[replayed.len() - count..]
        .iter()
        .map(unmarked)
        .collect();
    let live: Vec<Value> = live.iter().map(unmarked).collect();
    assert_eq!(tail, live, "the replay says what live said");
    assert_eq!(tail[1]["reply_to"], root);
    assert_eq!(tail[1]["mentions"], json!(["carol"]));
    // The socket gives no aggregates: the events rebuild them.
    for frame in &replayed {
        for key in ["replies", "last_reply_id", "reactions", "pinned"] {
            assert_eq!(frame.get(key), None, "{key} on the socket: {frame}");
        }
    }

    // A join without `since` (the recent history, from the node's cache) says the same.
    let mut joined = super::Sock::new(town.carol.join_v2(PATH).await.expect("a v2 join"));
    let recent = events(&mut joined, usize::try_from(last).expect("a count")).await;
    let recent: Vec<Value> = recent.iter().map(unmarked).collect();
    let from_store: Vec<Value> = replayed.iter().map(unmarked).collect();
    assert_eq!(recent, from_store, "the cache and the store agree");

    // A plain client's replay: the messages, the reply included, and nothing else.
    let mut plain = town.app.join_path(&format!("{PATH}?since=0"), None).await;
    let seen = plain_frames_until(&mut plain, &mut carol, "done").await;
    assert_eq!(
        texts(&seen),
        [
            "release on friday?",
            "@carol can you?",
            "friday it is",
            "done"
        ],
        "{seen:?}"
    );
    town.app.stop().await;
}
