//! Conversations over HTTP: the history gives each message its aggregates (`replies`, `last_reply_id`,
//! `reactions` with exact counts and at most 20 names, `pinned`) as of `as_of`; a deletion takes its
//! message's reactions and pin out of every view; a thread pages its replies; the pins come newest first;
//! `GET /api/rooms/` counts unread mentions; `PATCH` of a topic is an event; and a history page costs the
//! same number of queries whatever its replies and reactions.

use serde_json::{Value, json};

use super::{PATH, ROOM, Town, acked, events, said, shapes, town, v2};
use crate::engines::{Database, on_both_engines};
use crate::helpers::{spawn_app_with, test_config};
use crate::people::Browser;
use crate::rooms::{api, person};
use chatweb::stats::Stats;

on_both_engines!(
    history_gives_aggregates_as_of_its_read,
    history_gives_aggregates_as_of_its_read_on_sqlite,
    history_gives_aggregates_as_of_its_read_on_postgres
);
on_both_engines!(
    reaction_names_stop_at_twenty_and_the_count_is_exact,
    reaction_names_stop_at_twenty_on_sqlite,
    reaction_names_stop_at_twenty_on_postgres
);
on_both_engines!(
    a_thread_pages_its_replies_oldest_first,
    a_thread_pages_its_replies_oldest_first_on_sqlite,
    a_thread_pages_its_replies_oldest_first_on_postgres
);
on_both_engines!(
    pins_come_newest_first_and_a_deletion_unpins,
    pins_come_newest_first_and_a_deletion_unpins_on_sqlite,
    pins_come_newest_first_and_a_deletion_unpins_on_postgres
);
on_both_engines!(
    the_room_list_counts_unread_mentions,
    the_room_list_counts_unread_mentions_on_sqlite,
    the_room_list_counts_unread_mentions_on_postgres
);
on_both_engines!(
    a_tombstone_does_not_say_whom_it_mentioned,
    a_tombstone_does_not_say_whom_it_mentioned_on_sqlite,
    a_tombstone_does_not_say_whom_it_mentioned_on_postgres
);
on_both_engines!(
    a_topic_set_over_http_is_an_event,
    a_topic_set_over_http_is_an_event_on_sqlite,
    a_topic_set_over_http_is_an_event_on_postgres
);
on_both_engines!(
    a_history_page_costs_the_same_queries_whatever_it_holds,
    a_history_page_costs_the_same_queries_on_sqlite,
    a_history_page_costs_the_same_queries_on_postgres
);

/// GETs `path` of the API as `who`, expecting 200.
async fn get(town: &mut Town, who: Who, path: &str) -> Value {
    let addr = town.app.addr;
    let browser = match who {
        Who::Ada => &mut town.ada,
        Who::Bob => &mut town.bob,
        Who::Carol => &mut town.carol,
    };
    let (status, body) = api(addr, browser, "GET", path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

#[derive(Clone, Copy)]
enum Who {
    Ada,
    Bob,
    Carol,
}

/// The room's history page (newest 50).
async fn history(town: &mut Town) -> Value {
    get(town, Who::Carol, &format!("/api/rooms/{ROOM}/messages")).await
}

/// The message of id `id` in a history page.
fn message(page: &Value, id: u64) -> Value {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("message {id} in {page}"))
        .clone()
}

fn react(id: u64, emoji: &str, cid: &str) -> Value {
    json!({"type": "react", "id": id, "emoji": emoji, "client_id": cid})
}

async fn history_gives_aggregates_as_of_its_read(db: &Database) {
    let mut town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut bob = v2(&town.bob, PATH).await;
    let mut carol = v2(&town.carol, PATH).await;

    let root = said(&mut ada, "the plan", "a1").await;
    let first = acked(
        &mut bob,
        json!({"message": "agreed", "reply_to": root, "client_id": "b1"}),
    )
    .await;
    let second = acked(
        &mut carol,
        json!({"message": "@bob me too", "reply_to": first, "client_id": "c1"}),
    )
    .await;
    acked(&mut bob, react(root, "👍", "b2")).await;
    acked(&mut carol, react(root, "🎉", "c2")).await;
    acked(&mut carol, react(root, "👍", "c3")).await;
    acked(&mut ada, react(first, "👍", "a2")).await;
    let last = acked(
        &mut ada,
        json!({"type": "pin", "id": root, "client_id": "a3"}),
    )
    .await;

    let page = history(&mut town).await;
    assert_eq!(page["as_of"], last, "as of the room's last id: {page}");
    let ids: Vec<u64> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["id"].as_u64())
        .collect();
    assert_eq!(ids, [root, first, second], "messages only, no events");
    let the_root = message(&page, root);
    assert_eq!(the_root["replies"], 2, "{the_root}");
    assert_eq!(the_root["last_reply_id"], second, "{the_root}");
    assert_eq!(
        the_root["reactions"],
        json!([
            {"emoji": "👍", "count": 2, "users": ["bob", "carol"]},
            {"emoji": "🎉", "count": 1, "users": ["carol"]}
        ]),
        "emoji in the order first used, people in the order they reacted"
    );
    assert_eq!(the_root["pinned"], true, "{the_root}");
    assert_eq!(the_root.get("reply_to"), None, "{the_root}");
    assert_eq!(the_root.get("mentions"), None, "{the_root}");
    let reply = message(&page, first);
    assert_eq!(reply["reply_to"], root, "{reply}");
    assert_eq!(
        reply["reactions"],
        json!([{"emoji": "👍", "count": 1, "users": ["ada"]}])
    );
    for absent in ["replies", "last_reply_id", "pinned"] {
        assert_eq!(reply.get(absent), None, "{absent}: {reply}");
    }
    let nested = message(&page, second);
    assert_eq!(nested["reply_to"], root, "{nested}");
    assert_eq!(nested["mentions"], json!(["bob"]), "{nested}");
    assert_eq!(nested.get("reactions"), None, "{nested}");

    // Taken back: counted out, and `as_of` moves on.
    let unreacted = acked(
        &mut carol,
        json!({"type": "unreact", "id": root, "emoji": "👍", "client_id": "c4"}),
    )
    .await;
    let page = history(&mut town).await;
    assert_eq!(page["as_of"], unreacted);
    assert_eq!(
        message(&page, root)["reactions"],
        json!([
            {"emoji": "👍", "count": 1, "users": ["bob"]},
            {"emoji": "🎉", "count": 1, "users": ["carol"]}
        ])
    );

    // A deleted reply still counts in its thread (its tombstone stays), but keeps no reactions.
    let deleted_reply = acked(
        &mut bob,
        json!({"type": "delete", "id": first, "client_id": "b3"}),
    )
    .await;
    let page = history(&mut town).await;
    assert_eq!(page["as_of"], deleted_reply);
    let reply = message(&page, first);
    assert_eq!(reply["deleted"], true, "{reply}");
    assert_eq!(reply.get("reactions"), None, "{reply}");
    assert_eq!(message(&page, root)["replies"], 2);

    // The root deleted: its reactions and its pin are gone from history and the pins.
    let deleted_root = acked(
        &mut ada,
        json!({"type": "delete", "id": root, "client_id": "a4"}),
    )
    .await;
    let page = history(&mut town).await;
    assert_eq!(page["as_of"], deleted_root);
    let gone = message(&page, root);
    assert_eq!(gone["deleted"], true, "{gone}");
    assert_eq!(gone.get("reactions"), None, "{gone}");
    assert_eq!(gone.get("pinned"), None, "{gone}");
    let pins = get(&mut town, Who::Bob, &format!("/api/rooms/{ROOM}/pins")).await;
    assert_eq!(pins["pins"], json!([]), "{pins}");
    assert_eq!(pins["as_of"], deleted_root);
    town.app.stop().await;
}

async fn reaction_names_stop_at_twenty_and_the_count_is_exact(db: &Database) {
    let mut town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let target = said(&mut ada, "vote here", "a1").await;
    let mut names = Vec::new();
    for i in 0..21 {
        let name = format!("voter{i:02}");
        let voter = person(town.app.addr, &name).await;
        let mut socket = v2(&voter, PATH).await;
        acked(&mut socket, react(target, "👍", "v")).await;
        socket.close().await;
        names.push(name);
    }
    acked(&mut ada, react(target, "👍", "a2")).await;
    let page = history(&mut town).await;
    let reactions = &message(&page, target)["reactions"];
    assert_eq!(reactions[0]["count"], 22, "{reactions}");
    let users: Vec<&str> = reactions[0]["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(users, names[..20], "the first twenty, in order");
    town.app.stop().await;
}

async fn a_thread_pages_its_replies_oldest_first(db: &Database) {
    let mut town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut bob = v2(&town.bob, PATH).await;
    let root = said(&mut ada, "thread", "a1").await;
    let noise = said(&mut ada, "not in it", "a2").await;
    let mut replies = Vec::new();
    for i in 0..5 {
        // Every other reply answers the previous reply: all join the root's thread.
        let to = if i % 2 == 1 { replies[i - 1] } else { root };
        let reply = acked(
            &mut bob,
            json!({"message": format!("reply {i}"), "reply_to": to, "client_id": format!("r{i}")}),
        )
        .await;
        replies.push(reply);
    }
    acked(&mut ada, react(replies[1], "👀", "a3")).await;
    let last = said(&mut ada, "also not in it", "a4").await;
    let thread_path =
        |id: u64, query: &str| format!("/api/rooms/{ROOM}/messages/{id}/thread{query}");

    let whole = get(&mut town, Who::Carol, &thread_path(root, "")).await;
    assert_eq!(whole["root"]["id"], root, "{whole}");
    assert_eq!(whole["root"]["replies"], 5, "{whole}");
    assert_eq!(whole["root"]["last_reply_id"], replies[4], "{whole}");
    let reply_ids = |page: &Value| -> Vec<u64> {
        page["replies"]
            .as_array()
            .expect("replies")
            .iter()
            .filter_map(|m| m["id"].as_u64())
            .collect()
    };
    assert_eq!(reply_ids(&whole), replies, "oldest first, nothing else");
    assert_eq!(whole["after"], Value::Null);
    assert_eq!(whole["as_of"], last);
    assert_eq!(
        whole["replies"][1]["reactions"],
        json!([{"emoji": "👀", "count": 1, "users": ["ada"]}])
    );
    assert!(
        whole["replies"]
            .as_array()
            .expect("replies")
            .iter()
            .all(|r| r["reply_to"] == root),
        "{whole}"
    );

    // Page by page.
    let page = get(&mut town, Who::Carol, &thread_path(root, "?limit=2")).await;
    assert_eq!(reply_ids(&page), replies[..2]);
    assert_eq!(page["after"], replies[1]);
    let page = get(
        &mut town,
        Who::Carol,
        &thread_path(root, &format!("?limit=2&after={}", replies[1])),
    )
    .await;
    assert_eq!(reply_ids(&page), replies[2..4]);
    assert_eq!(page["after"], replies[3]);
    assert_eq!(page["root"]["id"], root, "every page has its root");
    let page = get(
        &mut town,
        Who::Carol,
        &thread_path(root, &format!("?limit=2&after={}", replies[3])),
    )
    .await;
    assert_eq!(reply_ids(&page), replies[4..]);
    assert_eq!(page["after"], Value::Null, "the last page");

    // A reply's id answers its root's thread; a message without replies is a thread of one.
    let via_reply = get(&mut town, Who::Ada, &thread_path(replies[3], "")).await;
    assert_eq!(via_reply["root"]["id"], root);
    assert_eq!(reply_ids(&via_reply), replies);
    let alone = get(&mut town, Who::Ada, &thread_path(noise, "")).await;
    assert_eq!(
        (alone["root"]["id"].as_u64(), reply_ids(&alone)),
        (Some(noise), vec![])
    );
    // What is not a message of the room: 404 not_found.
    let event = last - 1;
    for id in [event, 9999] {
        let (status, body) = api(
            town.app.addr,
            &mut town.carol,
            "GET",
            &thread_path(id, ""),
            None,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("not_found")),
            "{id}: {body}"
        );
    }
    let (status, body) = api(
        town.app.addr,
        &mut town.carol,
        "GET",
        &thread_path(root, "?limit=0"),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // A long thread: at most 200 replies a page, whatever the limit asked.
    let long = said(&mut ada, "a long thread", "long").await;
    let mut many = Vec::new();
    for i in 0..201 {
        let frame =
            json!({"message": format!("n{i}"), "reply_to": long, "client_id": format!("n{i}")});
        many.push(acked(&mut bob, frame).await);
    }
    let page = get(&mut town, Who::Carol, &thread_path(long, "?limit=1000")).await;
    assert_eq!(reply_ids(&page), many[..200], "capped at 200");
    assert_eq!(page["after"], many[199]);
    assert_eq!(page["root"]["replies"], 201);
    let page = get(&mut town, Who::Carol, &thread_path(long, "")).await;
    assert_eq!(reply_ids(&page), many[..50], "50 by default");
    assert_eq!(page["after"], many[49]);
    let page = get(
        &mut town,
        Who::Carol,
        &thread_path(long, &format!("?after={}&limit=1000", many[199])),
    )
    .await;
    assert_eq!(reply_ids(&page), many[200..]);
    assert_eq!(page["after"], Value::Null);
    town.app.stop().await;
}

async fn pins_come_newest_first_and_a_deletion_unpins(db: &Database) {
    let mut town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut bob = v2(&town.bob, PATH).await;
    let one = said(&mut ada, "one", "a1").await;
    let two = said(&mut ada, "two", "a2").await;
    let three = said(&mut ada, "three", "a3").await;
    let pin = |id: u64, add: bool, cid: &str| json!({"type": if add { "pin" } else { "unpin" }, "id": id, "client_id": cid});
    acked(&mut ada, pin(two, true, "p1")).await;
    acked(&mut bob, pin(one, true, "p2")).await;
    acked(&mut ada, pin(three, true, "p3")).await;
    acked(&mut bob, react(three, "📌", "b1")).await;
    let pins_path = format!("/api/rooms/{ROOM}/pins");
    let pinned = |answer: &Value| -> Vec<(u64, String)> {
        answer["pins"]
            .as_array()
            .expect("pins")
            .iter()
            .map(|p| {
                (
                    p["message"]["id"].as_u64().expect("an id"),
                    p["pinned_by"].as_str().expect("pinned_by").to_owned(),
                )
            })
            .collect()
    };
    let answer = get(&mut town, Who::Carol, &pins_path).await;
    assert_eq!(
        pinned(&answer),
        [
            (three, "ada".into()),
            (one, "bob".into()),
            (two, "ada".into())
        ],
        "newest pin first: {answer}"
    );
    let first = &answer["pins"][0];
    assert_eq!(first["message"]["message"], "three");
    assert_eq!(first["message"]["pinned"], true, "as history gives it");
    assert_eq!(
        first["message"]["reactions"],
        json!([{"emoji": "📌", "count": 1, "users": ["bob"]}])
    );
    let at = first["pinned_at"].as_str().expect("pinned_at");
    assert!(
        at.ends_with('Z')
            && time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .is_ok(),
        "{at}"
    );

    // Unpinned and pinned again: newest again.
    acked(&mut ada, pin(two, false, "u1")).await;
    acked(&mut ada, pin(two, true, "p4")).await;
    let answer = get(&mut town, Who::Carol, &pins_path).await;
    assert_eq!(
        pinned(&answer).iter().map(|p| p.0).collect::<Vec<_>>(),
        [two, three, one]
    );
    // Deleted: unpinned everywhere.
    let deleted = acked(
        &mut ada,
        json!({"type": "delete", "id": three, "client_id": "d1"}),
    )
    .await;
    let answer = get(&mut town, Who::Carol, &pins_path).await;
    assert_eq!(
        pinned(&answer).iter().map(|p| p.0).collect::<Vec<_>>(),
        [two, one]
    );
    assert_eq!(answer["as_of"], deleted);
    let page = history(&mut town).await;
    assert_eq!(message(&page, three).get("pinned"), None);
    assert_eq!(message(&page, two)["pinned"], true);
    town.app.stop().await;
}

/// The `mentions` count `GET /api/rooms/` gives `who` for `room`.
async fn mention_count(addr: std::net::SocketAddr, who: &mut Browser, room: &str) -> Value {
    let (status, body) = api(addr, who, "GET", "/api/rooms/", None).await;
    assert_eq!(status, 200, "{body}");
    body["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["name"] == room)
        .unwrap_or_else(|| panic!("{room} listed: {body}"))["mentions"]
        .clone()
}

async fn the_room_list_counts_unread_mentions(db: &Database) {
    let mut town = town(db).await;
    let addr = town.app.addr;
    let mut ada = v2(&town.ada, PATH).await;
    said(&mut ada, "@bob one", "a1").await;
    said(&mut ada, "nothing for bob", "a2").await;
    let deleted = said(&mut ada, "@bob two", "a3").await;
    said(&mut ada, "@BOB three", "a4").await;
    let last = said(&mut ada, "@carol four", "a5").await;
    // Never read: counted from the room's beginning.
    assert_eq!(mention_count(addr, &mut town.bob, ROOM).await, 3);
    assert_eq!(mention_count(addr, &mut town.carol, ROOM).await, 1);
    assert_eq!(mention_count(addr, &mut town.ada, ROOM).await, 0);
    let mut guest = Browser::new(addr);
    assert_eq!(mention_count(addr, &mut guest, ROOM).await, 0, "guests: 0");
    // A deleted message mentions nobody any more.
    acked(
        &mut ada,
        json!({"type": "delete", "id": deleted, "client_id": "d1"}),
    )
    .await;
    assert_eq!(mention_count(addr, &mut town.bob, ROOM).await, 2);

    // bob reads up to the first mention: one is left; then past everything: none.
    let mut bob = v2(&town.bob, PATH).await;
    bob.send_json(json!({"type": "read", "id": deleted})).await;
    said(&mut bob, "reading", "b1").await;
    assert_eq!(mention_count(addr, &mut town.bob, ROOM).await, 1);
    bob.send_json(json!({"type": "read", "id": last})).await;
    said(&mut bob, "read it all", "b2").await;
    assert_eq!(mention_count(addr, &mut town.bob, ROOM).await, 0);
    assert_eq!(
        mention_count(addr, &mut town.carol, ROOM).await,
        1,
        "carol has not read"
    );

    // The same from the database's marks, after a restart.
    bob.close().await;
    ada.close().await;
    town.app.stop().await;
    let app = spawn_app_with(test_config(db.url())).await;
    let mut bob_browser = town.bob.on(app.addr);
    let mut carol_browser = town.carol.on(app.addr);
    assert_eq!(mention_count(app.addr, &mut bob_browser, ROOM).await, 0);
    assert_eq!(mention_count(app.addr, &mut carol_browser, ROOM).await, 1);
    // A clear takes every mention with its message.
    let mut staff = town.boss.on(app.addr);
    let page = staff.post(&format!("/admin/rooms/{ROOM}/clear"), &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(mention_count(app.addr, &mut carol_browser, ROOM).await, 0);
    app.stop().await;
}

/// A deleted message's text is gone, and so is whom it mentioned: neither the history API nor a socket's
/// tombstone names them (its mention rows go with it, docs/ARCHITECTURE.md).
async fn a_tombstone_does_not_say_whom_it_mentioned(db: &Database) {
    let mut town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let deleted = said(&mut ada, "@bob the secret is 42", "a1").await;
    acked(
        &mut ada,
        json!({"type": "delete", "id": deleted, "client_id": "d1"}),
    )
    .await;
    let page = history(&mut town).await;
    let tombstone = message(&page, deleted);
    assert_eq!(tombstone["deleted"], true, "{tombstone}");
    assert_eq!(tombstone["message"], "", "{tombstone}");
    let mut replay = super::Sock::new(
        town.carol
            .join_v2(&format!("{PATH}?since={}", deleted - 1))
            .await
            .expect("a v2 resume"),
    );
    let frame = replay.next_event().await;
    assert_eq!(
        (frame["id"].as_u64(), frame["deleted"].as_bool()),
        (Some(deleted), Some(true)),
        "{frame}"
    );
    assert_eq!(
        (tombstone.get("mentions"), frame.get("mentions")),
        (None, None),
        "the API's tombstone: {tombstone}; the socket's: {frame}"
    );
    replay.close().await;
    town.app.stop().await;
}

async fn a_topic_set_over_http_is_an_event(db: &Database) {
    let mut town = town(db).await;
    let addr = town.app.addr;
    let mut carol = v2(&town.carol, PATH).await;
    let mut plain = town.app.join(ROOM).await;
    let before = said(&mut carol, "what is this room about?", "c1").await;
    let patch = |topic: &str| Some(json!({"topic": topic}));
    let (status, body) = api(
        addr,
        &mut town.ada,
        "PATCH",
        &format!("/api/rooms/{ROOM}"),
        patch("Release 2.0"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["topic"], "Release 2.0");
    // A moderator sets it too; the same topic again stores nothing; a member may not.
    let (status, body) = api(
        addr,
        &mut town.bob,
        "PATCH",
        &format!("/api/rooms/{ROOM}"),
        patch("Release 2.1"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(
        addr,
        &mut town.ada,
        "PATCH",
        &format!("/api/rooms/{ROOM}"),
        patch("Release 2.1"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(
        addr,
        &mut town.carol,
        "PATCH",
        &format!("/api/rooms/{ROOM}"),
        patch("mine"),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = api(
        addr,
        &mut town.ada,
        "PATCH",
        &format!("/api/rooms/{ROOM}"),
        patch(&"x".repeat(251)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let after = said(&mut carol, "I see", "c2").await;
    assert_eq!(after, before + 3, "two topic events, no more");
    let frames = events(&mut carol, 4).await;
    assert_eq!(
        shapes(&frames),
        [
            ("message".into(), before),
            ("topic".into(), before + 1),
            ("topic".into(), before + 2),
            ("message".into(), after)
        ]
    );
    assert_eq!(
        (frames[1]["topic"].as_str(), frames[1]["user"].as_str()),
        (Some("Release 2.0"), Some("ada"))
    );
    assert_eq!(
        (frames[2]["topic"].as_str(), frames[2]["user"].as_str()),
        (Some("Release 2.1"), Some("bob"))
    );
    let listed = get(&mut town, Who::Carol, "/api/rooms/").await;
    let room = listed["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["name"] == ROOM)
        .expect("listed")
        .clone();
    assert_eq!(room["topic"], "Release 2.1");
    // Set over the socket, the list shows it as well.
    let mut ada = v2(&town.ada, PATH).await;
    acked(
        &mut ada,
        json!({"type": "topic", "topic": "Release 3", "client_id": "a1"}),
    )
    .await;
    let listed = get(&mut town, Who::Carol, "/api/rooms/").await;
    let topics: Vec<&Value> = listed["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .filter(|r| r["name"] == ROOM)
        .map(|r| &r["topic"])
        .collect();
    assert_eq!(topics, [&json!("Release 3")]);
    drop(ada);
    // A plain client gets the messages only.
    let seen = super::plain_frames_until(&mut plain, &mut carol, "bye").await;
    assert_eq!(
        crate::helpers::texts(&seen),
        ["what is this room about?", "I see", "bye"]
    );
    town.app.stop().await;
}

/// How many queries `GET path` cost the node.
async fn queries_of(town: &mut Town, path: &str) -> (u64, Value) {
    let before = Stats::get(&town.app.stats.history_queries);
    let page = get(town, Who::Carol, path).await;
    let cost = Stats::get(&town.app.stats.history_queries) - before;
    (cost, page)
}

async fn a_history_page_costs_the_same_queries_whatever_it_holds(db: &Database) {
    let mut town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut bob = v2(&town.bob, PATH).await;
    let mut quiet = v2(&town.ada, "/ws/chat/quiet/").await;
    for i in 0..50 {
        said(&mut quiet, &format!("plain {i}"), &format!("q{i}")).await;
    }
    // Fifty messages of which twenty are roots with replies, all with reactions, some pinned.
    let mut roots = Vec::new();
    for i in 0..20 {
        roots.push(said(&mut ada, &format!("root {i}"), &format!("r{i}")).await);
    }
    for i in 0..30 {
        acked(
            &mut bob,
            json!({"message": format!("reply {i}"), "reply_to": roots[i % 20], "client_id": format!("p{i}")}),
        )
        .await;
    }
    let page = history(&mut town).await;
    let all: Vec<u64> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["id"].as_u64())
        .collect();
    assert_eq!(all.len(), 50);
    for (i, id) in all.iter().enumerate() {
        acked(&mut ada, react(*id, "👍", &format!("a{i}"))).await;
        acked(&mut bob, react(*id, super::EMOJI[i % 21], &format!("b{i}"))).await;
        if i % 5 == 0 {
            acked(
                &mut ada,
                json!({"type": "pin", "id": id, "client_id": format!("pin{i}")}),
            )
            .await;
        }
    }

    let (busy, page) = queries_of(&mut town, &format!("/api/rooms/{ROOM}/messages?limit=50")).await;
    let messages = page["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 50);
    assert!(messages.iter().all(|m| m["reactions"].is_array()), "{page}");
    assert!(messages.iter().any(|m| m["replies"].as_u64() >= Some(1)));
    assert!(messages.iter().any(|m| m["pinned"] == true));
    let (calm, page) = queries_of(&mut town, "/api/rooms/quiet/messages?limit=50").await;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(50));
    assert!(calm > 0, "the counter counts");
    assert_eq!(
        busy, calm,
        "a page with replies, reactions and pins costs what a plain page does"
    );
    assert!(busy <= 6, "a small fixed number of queries: {busy}");
    // And /metrics shows the counter.
    let metrics = town.app.get("/metrics", None).await;
    let text = metrics.text().await.expect("metrics");
    assert!(
        text.lines()
            .any(|l| l.starts_with("chatweb_history_queries_total ")),
        "{text}"
    );
    drop((ada, bob, quiet));
    town.app.stop().await;
}
