//! Reactions: `react` and `unreact` are events to every v2 socket with gap-free ids; a change that is
//! already so is acked `duplicate: true`, sends nothing and uses no id; the same `client_id` twice is one
//! event; guests, text that is no emoji, a 21st distinct emoji and what is not a message are refused.

use serde_json::{Value, json};

use super::{
    EMOJI, PATH, ROOM, acked, events, plain_frames_until, refused, said, shapes, town, unchanged,
    v2,
};
use crate::engines::{Database, on_both_engines};
use crate::helpers::texts;
use crate::live::v2_guest;

on_both_engines!(
    reactions_are_events_once_and_repeats_change_nothing,
    reactions_are_events_once_on_sqlite,
    reactions_are_events_once_on_postgres
);
on_both_engines!(
    reactions_that_are_not_allowed_use_no_id,
    reactions_that_are_not_allowed_use_no_id_on_sqlite,
    reactions_that_are_not_allowed_use_no_id_on_postgres
);

/// A `react` (or `unreact` when `add` is false) frame.
fn react(id: u64, emoji: &str, add: bool, cid: &str) -> Value {
    let kind = if add { "react" } else { "unreact" };
    json!({"type": kind, "id": id, "emoji": emoji, "client_id": cid})
}

/// Asserts `frame` is reaction event `id` of `user` with `emoji` on `target`.
fn assert_reaction(frame: &Value, id: u64, target: u64, user: &str, emoji: &str, action: &str) {
    assert_eq!(
        (
            frame["type"].as_str(),
            frame["id"].as_u64(),
            frame["target"].as_u64(),
            frame["user"].as_str(),
            frame["emoji"].as_str(),
            frame["action"].as_str(),
            frame["room"].as_str(),
            frame["history"].as_bool(),
        ),
        (
            Some("reaction"),
            Some(id),
            Some(target),
            Some(user),
            Some(emoji),
            Some(action),
            Some(ROOM),
            Some(false)
        ),
        "{frame}"
    );
}

async fn reactions_are_events_once_and_repeats_change_nothing(db: &Database) {
    let town = town(db).await;
    let mut plain = town.app.join(ROOM).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut bob = v2(&town.bob, PATH).await;
    let mut carol = v2(&town.carol, PATH).await;

    let message = said(&mut ada, "lunch?", "a1").await;
    let thumbs = acked(&mut bob, react(message, "👍", true, "b1")).await;
    assert_eq!(thumbs, message + 1);
    // The same reaction again (another client id): nothing changes, the ack names the message.
    unchanged(&mut bob, react(message, "👍", true, "b2"), message).await;
    // The same frame again (a resend): the one event it made.
    unchanged(&mut bob, react(message, "👍", true, "b1"), thumbs).await;
    let heart = acked(&mut carol, react(message, "❤️", true, "c1")).await;
    assert_eq!(heart, thumbs + 1, "the repeats used no id");
    let taken_back = acked(&mut bob, react(message, "👍", false, "b3")).await;
    assert_eq!(taken_back, heart + 1);
    // Taking back what is not there changes nothing either, twice over.
    unchanged(&mut bob, react(message, "👍", false, "b4"), message).await;
    unchanged(&mut carol, react(message, "🎉", false, "c2"), message).await;
    unchanged(&mut bob, react(message, "👍", false, "b3"), taken_back).await;
    // Someone else's reaction with the same emoji is their own.
    let ada_thumbs = acked(&mut ada, react(message, "👍", true, "a2")).await;
    assert_eq!(ada_thumbs, taken_back + 1);
    // A repeat without a client id: no answer, no frame, no id; the next answer is the next send's.
    ada.send_json(json!({"type": "react", "id": message, "emoji": "👍"}))
        .await;
    ada.send_json(json!({"type": "unreact", "id": message, "emoji": "🦀"}))
        .await;
    let next = said(&mut ada, "so?", "a3").await;
    assert_eq!(next, ada_thumbs + 1);

    for (who, socket) in [("ada", &mut ada), ("bob", &mut bob), ("carol", &mut carol)] {
        let frames = events(socket, 6).await;
        assert_eq!(
            shapes(&frames),
            [
                ("message".into(), message),
                ("reaction".into(), thumbs),
                ("reaction".into(), heart),
                ("reaction".into(), taken_back),
                ("reaction".into(), ada_thumbs),
                ("message".into(), next),
            ],
            "{who} gets each change once, and no repeat"
        );
        assert_reaction(&frames[1], thumbs, message, "bob", "👍", "add");
        assert_reaction(&frames[2], heart, message, "carol", "❤️", "add");
        assert_reaction(&frames[3], taken_back, message, "bob", "👍", "remove");
        assert_reaction(&frames[4], ada_thumbs, message, "ada", "👍", "add");
    }
    let seen = plain_frames_until(&mut plain, &mut ada, "bye").await;
    assert_eq!(
        texts(&seen),
        ["lunch?", "so?", "bye"],
        "a plain client gets no reaction: {seen:?}"
    );
    town.app.stop().await;
}

async fn reactions_that_are_not_allowed_use_no_id(db: &Database) {
    let town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut carol = v2(&town.carol, PATH).await;
    let mut guest = v2_guest(town.app.addr, PATH, "visitor").await;
    super::ready(&mut guest).await;
    let mut guest = super::Sock::new(guest);

    let message = said(&mut ada, "react to me", "a1").await;
    refused(&mut guest, react(message, "👍", true, "g1"), "forbidden").await;
    refused(&mut guest, react(message, "👍", false, "g2"), "forbidden").await;
    for (i, text) in ["ok", "a", "1", "👍👍", "👍 ", "", "©", "<b>", "❤"]
        .iter()
        .enumerate()
    {
        refused(
            &mut carol,
            react(message, text, true, &format!("e{i}")),
            "invalid_emoji",
        )
        .await;
    }
    refused(
        &mut carol,
        json!({"type": "react", "id": message, "client_id": "e-missing"}),
        "invalid_emoji",
    )
    .await;
    refused(&mut carol, react(9999, "👍", true, "n1"), "not_found").await;

    // Twenty distinct emoji fill a message; a 21st is refused, a 20th's repeat by another person is not.
    let full = said(&mut ada, "rate me", "a2").await;
    let mut last = full;
    for (i, emoji) in EMOJI[..20].iter().enumerate() {
        let id = acked(&mut ada, react(full, emoji, true, &format!("r{i}"))).await;
        assert_eq!(id, last + 1, "gap-free");
        last = id;
    }
    refused(
        &mut carol,
        react(full, EMOJI[20], true, "c-21st"),
        "too_many_reactions",
    )
    .await;
    let same = acked(&mut carol, react(full, EMOJI[0], true, "c-same")).await;
    assert_eq!(same, last + 1);
    // An event is no message: nothing to react to.
    refused(&mut carol, react(same, "👍", true, "n2"), "not_found").await;
    // Deleted: nothing to react to either.
    let deletion = acked(
        &mut ada,
        json!({"type": "delete", "id": message, "client_id": "a3"}),
    )
    .await;
    assert_eq!(deletion, same + 1);
    refused(&mut carol, react(message, "👍", true, "n3"), "not_found").await;
    let next = said(&mut ada, "after", "a4").await;
    assert_eq!(next, deletion + 1, "no refusal used an id");

    // The guest saw every event (it may read) and no refusal of anyone's.
    let count = usize::try_from(next - message + 1).expect("a count");
    let frames = events(&mut guest, count).await;
    let ids: Vec<u64> = frames.iter().filter_map(|f| f["id"].as_u64()).collect();
    let expected: Vec<u64> = (message..=next).collect();
    assert_eq!(ids, expected, "{frames:?}");
    town.app.stop().await;
}

on_both_engines!(
    a_locked_room_takes_reactions_from_its_moderators_and_a_muted_person_none,
    locked_rooms_and_muted_people_on_sqlite,
    locked_rooms_and_muted_people_on_postgres
);

async fn a_locked_room_takes_reactions_from_its_moderators_and_a_muted_person_none(db: &Database) {
    let mut town = town(db).await;
    let addr = town.app.addr;
    let mut ada = v2(&town.ada, PATH).await;
    let mut bob = v2(&town.bob, PATH).await;
    let mut carol = v2(&town.carol, PATH).await;
    let message = said(&mut carol, "locked soon", "c1").await;

    let (status, body) = crate::rooms::api(
        addr,
        &mut town.bob,
        "PATCH",
        &format!("/api/rooms/{ROOM}"),
        Some(json!({"locked": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    refused(&mut carol, react(message, "👍", true, "c2"), "room_locked").await;
    let by_moderator = acked(&mut bob, react(message, "👍", true, "b1")).await;
    assert_eq!(by_moderator, message + 1, "the refusal used no id");
    let by_owner = acked(&mut ada, react(message, "👀", true, "a1")).await;
    assert_eq!(by_owner, by_moderator + 1);
    let (status, body) = crate::rooms::api(
        addr,
        &mut town.bob,
        "PATCH",
        &format!("/api/rooms/{ROOM}"),
        Some(json!({"locked": false})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Muted, carol reacts no more (nor takes back); the others still do.
    let answer = super::act(
        &mut bob,
        json!({"type": "mute", "user": "carol", "seconds": 60, "client_id": "m"}),
    )
    .await;
    assert_eq!(answer["type"], "moderated", "{answer}");
    refused(&mut carol, react(message, "🎉", true, "c3"), "muted").await;
    refused(&mut carol, react(message, "👍", false, "c4"), "muted").await;
    let after = acked(&mut ada, react(message, "🎉", true, "a2")).await;
    assert_eq!(after, by_owner + 1, "no refusal used an id");
    town.app.stop().await;
}
