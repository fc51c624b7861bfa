//! Mentions, as the server resolves them: `@name` in any case, never the author, never someone who
//! cannot read the room, never the client's claim; no `mentions` field without one; `@here` reaches the
//! signed-in people present, and in a room bigger than `--mention-all-max` only from those who moderate
//! it.

use chatweb::config::Config;
use serde_json::{Value, json};

use super::{PATH, Sock, acked, next_event, said, town, town_with, v2};
use crate::engines::{Database, on_both_engines};
use crate::helpers::test_config;
use crate::live::v2_guest;
use crate::rooms::api;

on_both_engines!(
    names_are_mentioned_as_the_server_resolves_them,
    names_are_mentioned_as_the_server_resolves_them_on_sqlite,
    names_are_mentioned_as_the_server_resolves_them_on_postgres
);
on_both_engines!(
    nobody_who_cannot_read_a_private_room_is_mentioned_there,
    nobody_who_cannot_read_a_private_room_is_mentioned_on_sqlite,
    nobody_who_cannot_read_a_private_room_is_mentioned_on_postgres
);
on_both_engines!(
    here_mentions_the_signed_in_people_present,
    here_mentions_the_signed_in_people_present_on_sqlite,
    here_mentions_the_signed_in_people_present_on_postgres
);

/// Says `text` with `sender`, and returns the `mentions` of the message frame `watcher` gets (sorted;
/// `None` when the frame has no such field), checking the sender's own frame says the same.
async fn mentioned(sender: &mut Sock, watcher: &mut Sock, text: &str) -> Option<Vec<String>> {
    let id = said(sender, text, text).await;
    let seen = mentions_of(&frame_of(watcher, id).await);
    assert_eq!(mentions_of(&frame_of(sender, id).await), seen, "{text}");
    seen
}

/// The frame of id `id` `client` gets, skipping the room's frames before it.
async fn frame_of(client: &mut Sock, id: u64) -> Value {
    loop {
        let frame = next_event(client).await;
        if frame["id"].as_u64() >= Some(id) {
            assert_eq!(
                (frame["type"].as_str(), frame["id"].as_u64()),
                (Some("message"), Some(id)),
                "{frame}"
            );
            return frame;
        }
    }
}

/// A message frame's `mentions`, sorted; `None` without the field.
fn mentions_of(frame: &Value) -> Option<Vec<String>> {
    frame.get("mentions").map(|list| {
        let mut names: Vec<String> = list
            .as_array()
            .unwrap_or_else(|| panic!("a list: {frame}"))
            .iter()
            .map(|n| n.as_str().expect("a name").to_owned())
            .collect();
        names.sort();
        names
    })
}

fn list(names: &[&str]) -> Option<Vec<String>> {
    Some(names.iter().map(|n| (*n).to_owned()).collect())
}

async fn names_are_mentioned_as_the_server_resolves_them(db: &Database) {
    let town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut carol = v2(&town.carol, PATH).await;

    assert_eq!(
        mentioned(&mut ada, &mut carol, "@bob lunch?").await,
        list(&["bob"])
    );
    assert_eq!(
        mentioned(&mut ada, &mut carol, "hey @BOB, lunch?").await,
        list(&["bob"]),
        "any case, spelled as the account is"
    );
    assert_eq!(
        mentioned(&mut ada, &mut carol, "@Carol and @bob.").await,
        list(&["bob", "carol"])
    );
    assert_eq!(
        mentioned(&mut ada, &mut carol, "a note to self, @ada").await,
        None,
        "the author is never mentioned"
    );
    assert_eq!(mentioned(&mut ada, &mut carol, "no one at all").await, None);
    assert_eq!(
        mentioned(&mut ada, &mut carol, "write to bob@example.com or @nobody").await,
        None,
        "an address and an unknown name mention nobody"
    );
    // Staff read every public room: a mention like anyone's.
    assert_eq!(
        mentioned(&mut carol, &mut ada, "@boss help").await,
        list(&["boss"])
    );
    // The client's claim counts for nothing.
    let claim = json!({"message": "psst", "mentions": ["bob"], "client_id": "claim"});
    let id = acked(&mut ada, claim).await;
    let frame = frame_of(&mut carol, id).await;
    assert_eq!(frame.get("mentions"), None, "{frame}");
    town.app.stop().await;
}

async fn nobody_who_cannot_read_a_private_room_is_mentioned_there(db: &Database) {
    let mut town = town(db).await;
    let addr = town.app.addr;
    let room = json!({"name": "plans", "kind": "private"});
    let (status, body) = api(addr, &mut town.ada, "POST", "/api/rooms/", Some(room)).await;
    assert_eq!(status, 201, "{body}");
    let add = json!({"user": "bob"});
    let (status, body) = api(
        addr,
        &mut town.ada,
        "POST",
        "/api/rooms/plans/members",
        Some(add),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mut ada = v2(&town.ada, "/ws/chat/plans/").await;
    let mut bob = v2(&town.bob, "/ws/chat/plans/").await;
    // Nor do the thread and pins of a private room open to outsiders.
    let root = said(&mut ada, "secret", "s").await;
    for path in [
        format!("/api/rooms/plans/messages/{root}/thread"),
        "/api/rooms/plans/pins".to_owned(),
    ] {
        let (status, body) = api(addr, &mut town.carol, "GET", &path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.to_string().contains("secret"), "{body}");
        let (status, body) = api(addr, &mut town.bob, "GET", &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let _ = (next_event(&mut ada).await, next_event(&mut bob).await);
    assert_eq!(
        mentioned(&mut ada, &mut bob, "@carol @bob have a look").await,
        list(&["bob"]),
        "carol cannot read the room"
    );
    assert_eq!(
        mentioned(&mut bob, &mut ada, "@carol?").await,
        None,
        "nor is she mentioned alone"
    );
    // Removed from the room, bob is no longer mentioned there.
    let (status, _) = api(
        addr,
        &mut town.ada,
        "DELETE",
        "/api/rooms/plans/members/bob",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let mut carol_in_town = v2(&town.carol, PATH).await;
    let id = said(&mut ada, "@bob are you there?", "gone").await;
    let frame = frame_of(&mut ada, id).await;
    assert_eq!(frame.get("mentions"), None, "{frame}");
    // In the public room, carol is a name like any.
    let mut ada_in_town = v2(&town.ada, PATH).await;
    assert_eq!(
        mentioned(&mut ada_in_town, &mut carol_in_town, "@carol see plans").await,
        list(&["carol"])
    );
    town.app.stop().await;
}

async fn here_mentions_the_signed_in_people_present(db: &Database) {
    // In a room of at most 4 people present anyone may use `@here`; above, its moderators only.
    let config = Config {
        mention_all_max: 4,
        ..test_config(db.url())
    };
    let town = town_with(db, config).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut carol = v2(&town.carol, PATH).await;
    let mut guest = v2_guest(town.app.addr, PATH, "visitor").await;
    super::ready(&mut guest).await;
    let guest = Sock::new(guest);
    // bob and boss are signed in, not present: not mentioned.
    assert_eq!(
        mentioned(&mut carol, &mut ada, "@here standup").await,
        list(&["ada"]),
        "the people present, signed in, but not the author"
    );
    assert_eq!(
        mentioned(&mut ada, &mut carol, "@here standup").await,
        list(&["carol"])
    );
    // bob comes in: four present (three signed in, one guest).
    let mut bob = v2(&town.bob, PATH).await;
    assert_eq!(
        mentioned(&mut carol, &mut bob, "@HERE now").await,
        list(&["ada", "bob"])
    );
    // A fifth person present: the room is now bigger than the limit, and carol has no role there.
    let mut boss = v2(&town.boss, PATH).await;
    assert_eq!(
        mentioned(&mut carol, &mut boss, "@here again").await,
        None,
        "plain text for a member of a big room"
    );
    assert_eq!(
        mentioned(&mut carol, &mut boss, "@here and @bob").await,
        list(&["bob"])
    );
    assert_eq!(
        mentioned(&mut bob, &mut boss, "@here from a moderator").await,
        list(&["ada", "boss", "carol"])
    );
    drop(guest);
    town.app.stop().await;
}

on_both_engines!(
    room_a_ban_and_an_edit,
    room_a_ban_and_an_edit_on_sqlite,
    room_a_ban_and_an_edit_on_postgres
);

/// `@room` in a public room reaches the people present and those who hold a role there; someone banned
/// from the room is mentioned by no one; an edit does not change who was mentioned.
async fn room_a_ban_and_an_edit(db: &Database) {
    let town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut carol = v2(&town.carol, PATH).await;
    // bob (a moderator) is away, carol present, boss (staff, no role) away.
    assert_eq!(
        mentioned(&mut ada, &mut carol, "@room meeting").await,
        list(&["bob", "carol"])
    );
    assert_eq!(
        mentioned(&mut ada, &mut carol, "@Room and @ALL and @channel").await,
        list(&["bob", "carol"]),
        "any case; @all and @channel are @room"
    );

    // An edit that adds a name mentions nobody new, one that drops it keeps the mention.
    let quiet = said(&mut ada, "hello", "q").await;
    let loud = said(&mut ada, "hello @carol", "l").await;
    for (id, text, cid) in [(quiet, "hello @carol", "e1"), (loud, "hello", "e2")] {
        acked(
            &mut ada,
            json!({"type": "edit", "id": id, "message": text, "client_id": cid}),
        )
        .await;
    }
    let mut fresh = Sock::new(
        town.bob
            .join_v2(&format!("{PATH}?since={}", quiet - 1))
            .await
            .expect("a v2 resume"),
    );
    let replayed = [
        frame_of(&mut fresh, quiet).await,
        frame_of(&mut fresh, loud).await,
    ];
    assert_eq!(replayed[0]["message"], "hello @carol");
    assert_eq!(mentions_of(&replayed[0]), None, "{}", replayed[0]);
    assert_eq!(replayed[1]["message"], "hello");
    assert_eq!(
        mentions_of(&replayed[1]),
        list(&["carol"]),
        "{}",
        replayed[1]
    );

    // Banned from the room, carol cannot read it: no longer mentioned there.
    let answer = super::act(
        &mut ada,
        json!({"type": "ban", "user": "carol", "seconds": 600, "client_id": "ban"}),
    )
    .await;
    assert_eq!(answer["type"], "moderated", "{answer}");
    assert_eq!(
        mentioned(&mut ada, &mut fresh, "@carol @bob are you there?").await,
        list(&["bob"]),
        "a banned person is not mentioned"
    );
    drop(carol);
    town.app.stop().await;
}
