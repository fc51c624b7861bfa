//! Search (issue 20) end to end, on SQLite and PostgreSQL: what a query finds (words, prefixes, file names,
//! code, URLs, accents, CJK), only in rooms the searcher may read, never a deleted message, an edit by its
//! new text only, pages by `next`, and `chatweb reindex` giving the same answers. Messages are sent over a
//! real socket; each search waits for the indexer's next pass (`search_indexed`), never for a time.

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::conversations::{PATH, ROOM, Town, acked, said, town, v2};
use crate::engines::{Database, on_both_engines};
use crate::helpers::PATIENCE;
use crate::people::Browser;
use crate::rooms::api;

/// `q` searched on the node at `addr` by `who` (`None`: a guest): the answer's status and body.
async fn search_as(addr: SocketAddr, who: Option<&mut Browser>, q: &str) -> (u16, Value) {
    let path = format!("/api/search?q={}", urlencode(q));
    let mut guest = Browser::new(addr);
    api(addr, who.unwrap_or(&mut guest), "GET", &path, None).await
}

fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The ids `q` finds for `who`, once the indexer has passed over everything acked before the call
/// (searches again after each pass until `expected` shows, or the patience runs out).
async fn found(town: &mut Town, who: Who, q: &str, expected: &[u64]) -> Vec<u64> {
    found_when(town, who, q, |ids| ids == expected).await
}

/// [`found`], for hits of several rooms: waits until the ids are `expected` in any order (their order
/// is the order the indexer reached the rooms in).
async fn found_in_any_order(town: &mut Town, who: Who, q: &str, expected: &[u64]) -> Vec<u64> {
    let mut want = expected.to_vec();
    want.sort_unstable();
    found_when(town, who, q, |ids| {
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        sorted == want
    })
    .await
}

/// The ids `q` finds for `who`, searched again after each indexer pass until `done` holds of them (or
/// the patience runs out).
async fn found_when(town: &mut Town, who: Who, q: &str, done: impl Fn(&[u64]) -> bool) -> Vec<u64> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let stats = town.app.stats.clone();
    loop {
        let woken = stats.search_indexed.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let addr = town.app.addr;
        let browser = match who {
            Who::Ada => Some(&mut town.ada),
            Who::Carol => Some(&mut town.carol),
            Who::Guest => None,
        };
        let (status, body) = search_as(addr, browser, q).await;
        assert_eq!(status, 200, "{q}: {body}");
        let ids: Vec<u64> = body["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .filter_map(|h| h["id"].as_u64())
            .collect();
        if done(&ids) || tokio::time::Instant::now() > deadline {
            return ids;
        }
        let _ = tokio::time::timeout_at(deadline, woken).await;
    }
}

#[derive(Clone, Copy)]
enum Who {
    Ada,
    Carol,
    Guest,
}

on_both_engines!(
    search_finds_words_prefixes_substrings_accents_and_cjk,
    a_search_finds_words_prefixes_substrings_accents_and_cjk_on_sqlite,
    a_search_finds_words_prefixes_substrings_accents_and_cjk_on_postgres
);

async fn search_finds_words_prefixes_substrings_accents_and_cjk(db: &Database) {
    let mut town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let deploy = said(&mut ada, "Deploy with `make deploy` now", "s1").await;
    let png = said(&mut ada, "see foo.png and C++20 features", "s2").await;
    let url = said(&mut ada, "docs at https://example.com/a?b=1", "s3").await;
    let cafe = said(&mut ada, "Café au lait", "s4").await;
    let cjk = said(&mut ada, "東京タワーに行きます", "s5").await;
    let snake = said(&mut ada, "rename snake_case_name please", "s6").await;
    let number = said(&mut ada, "ticket 4711 is done", "s7").await;
    // A message is searchable within 2 s of its ack (issue 20).
    let acked_at = std::time::Instant::now();
    assert_eq!(
        found(&mut town, Who::Carol, "4711", &[number]).await,
        [number]
    );
    let waited = acked_at.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(2),
        "searchable after {waited:?}"
    );

    for (q, ids) in [
        ("depl", vec![deploy]),
        ("DEPLOY", vec![deploy]),
        ("foo.png", vec![png]),
        ("C++20", vec![png]),
        ("example.com/a", vec![url]),
        ("cafe", vec![cafe]),
        ("CAFÉ", vec![cafe]),
        ("東京", vec![cjk]),
        ("タワー", vec![cjk]),
        ("snake_case_name", vec![snake]),
        ("4711", vec![number]),
        ("\"au lait\"", vec![cafe]),
        ("au lait", vec![cafe]),
        ("lait deploy", vec![]),
        ("from:ada 4711", vec![number]),
        ("from:bob 4711", vec![]),
        (&format!("in:{ROOM} png"), vec![png]),
        ("nothing-like-this", vec![]),
    ] {
        assert_eq!(found(&mut town, Who::Carol, q, &ids).await, ids, "{q}");
    }
    // Newest first, and the highlights are offsets in characters into the text.
    assert_eq!(
        found(
            &mut town,
            Who::Carol,
            &format!("e in:{ROOM}"),
            &[number, snake, cafe, url, png, deploy]
        )
        .await,
        [number, snake, cafe, url, png, deploy]
    );
    let (_, body) = search_as(town.app.addr, None, "café").await;
    let hit = &body["hits"][0];
    assert_eq!(hit["message"], "Café au lait");
    assert_eq!(hit["highlights"], json!([[0, 4]]));
    assert_eq!(hit["room"], ROOM);
    assert_eq!(hit["user"], "ada");
    town.app.stop().await;
}

on_both_engines!(
    search_keeps_to_the_rooms_one_may_read,
    search_keeps_to_the_rooms_one_may_read_on_sqlite,
    search_keeps_to_the_rooms_one_may_read_on_postgres
);

async fn search_keeps_to_the_rooms_one_may_read(db: &Database) {
    let mut town = town(db).await;
    let (status, body) = api(
        town.app.addr,
        &mut town.ada,
        "POST",
        "/api/rooms/",
        Some(json!({"name": "vault", "kind": "private"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mut vault = v2(&town.ada, "/ws/chat/vault/").await;
    let secret = said(&mut vault, "the launch code is zebra", "v1").await;
    let mut town_room = v2(&town.ada, PATH).await;
    let open = said(&mut town_room, "zebra crossing ahead", "t1").await;

    // Two rooms' hits: their order is the order the indexer reached them in (one pass may index `vault`
    // before `town`'s message exists, or both in room order), so only the set is asserted.
    let mut both = found_in_any_order(&mut town, Who::Ada, "zebra", &[secret, open]).await;
    both.sort_unstable();
    assert_eq!(both, [secret.min(open), secret.max(open)]);
    assert_eq!(found(&mut town, Who::Carol, "zebra", &[open]).await, [open]);
    assert_eq!(found(&mut town, Who::Guest, "zebra", &[open]).await, [open]);
    // Asking for the room by name finds nothing in it either.
    assert_eq!(
        found(&mut town, Who::Carol, "in:vault zebra", &[]).await,
        Vec::<u64>::new()
    );
    town.app.stop().await;
}

on_both_engines!(
    deleted_messages_are_never_found_and_edits_by_their_new_text,
    deleted_messages_are_never_found_and_edits_by_their_new_text_on_sqlite,
    deleted_messages_are_never_found_and_edits_by_their_new_text_on_postgres
);

async fn deleted_messages_are_never_found_and_edits_by_their_new_text(db: &Database) {
    let mut town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let gone = said(&mut ada, "remove this marmalade", "d1").await;
    let edited = said(&mut ada, "old wording", "d2").await;
    assert_eq!(
        found(&mut town, Who::Carol, "marmalade", &[gone]).await,
        [gone]
    );
    acked(
        &mut ada,
        json!({"type": "delete", "id": gone, "client_id": "x1"}),
    )
    .await;
    acked(
        &mut ada,
        json!({"type": "edit", "id": edited, "message": "new phrasing", "client_id": "x2"}),
    )
    .await;
    assert_eq!(
        found(&mut town, Who::Carol, "marmalade", &[]).await,
        Vec::<u64>::new()
    );
    assert_eq!(
        found(&mut town, Who::Carol, "phrasing", &[edited]).await,
        [edited]
    );
    assert_eq!(
        found(&mut town, Who::Carol, "wording", &[]).await,
        Vec::<u64>::new()
    );

    // Pages: `next` leads to the older hits, and the pages hold them all once.
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(said(&mut ada, &format!("paging quokka {i}"), &format!("p{i}")).await);
    }
    ids.reverse();
    assert_eq!(found(&mut town, Who::Carol, "quokka", &ids).await, ids);
    let mut seen = Vec::new();
    let mut path = "/api/search?q=quokka&limit=2".to_owned();
    loop {
        let (status, body) = api(town.app.addr, &mut town.carol, "GET", &path, None).await;
        assert_eq!(status, 200, "{body}");
        seen.extend(
            body["hits"]
                .as_array()
                .expect("hits")
                .iter()
                .filter_map(|h| h["id"].as_u64()),
        );
        match body["next"].as_str() {
            Some(next) => path = format!("/api/search?q=quokka&limit=2&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    // Rebuilt from the messages, the index answers the same.
    let backend = chatweb::storage::Store::connect(&db.url())
        .await
        .expect("store");
    let rooms = chatweb::search::indexer::reindex(&backend.db())
        .await
        .expect("reindex");
    assert!(rooms >= 1);
    assert_eq!(found(&mut town, Who::Carol, "quokka", &ids).await, ids);
    assert_eq!(
        found(&mut town, Who::Carol, "phrasing", &[edited]).await,
        [edited]
    );
    assert_eq!(
        found(&mut town, Who::Carol, "marmalade", &[]).await,
        Vec::<u64>::new()
    );
    backend.close().await;
    town.app.stop().await;
}

on_both_engines!(
    bad_queries_get_a_clear_answer,
    bad_queries_get_a_clear_answer_on_sqlite,
    bad_queries_get_a_clear_answer_on_postgres
);

async fn bad_queries_get_a_clear_answer(db: &Database) {
    let mut town = town(db).await;
    for (path, status) in [
        ("/api/search", 400),
        ("/api/search?q=", 400),
        // Nothing to look for, or one-character terms alone: nothing found.
        ("/api/search?q=%20%20", 200),
        ("/api/search?q=x", 200),
        ("/api/search?q=%22%22", 200),
        // U+0000 is no character of any text or name: nothing found, no error.
        ("/api/search?q=ab%00cd", 200),
        ("/api/search?q=in:a%00b", 200),
        ("/api/search?q=from:%00", 200),
        ("/api/search?q=xyz&room=a%00&user=%00", 200),
        ("/api/search?q=xy&limit=0", 400),
        ("/api/search?q=xy&before=abc", 400),
        ("/api/search?q=xy&limit=1000", 200),
    ] {
        let (got, body) = api(town.app.addr, &mut town.carol, "GET", path, None).await;
        assert_eq!(got, status, "{path}: {body}");
        if status == 400 {
            assert_eq!(body["error"], "invalid_parameter", "{path}: {body}");
        } else if !path.contains("xy") {
            assert_eq!(body, json!({"hits": [], "next": null}), "{path}");
        }
    }
    let long = "x".repeat(201);
    let (got, _) = search_as(town.app.addr, None, &long).await;
    assert_eq!(got, 400);
    town.app.stop().await;
}

on_both_engines!(
    history_opens_around_a_message,
    history_opens_around_a_message_on_sqlite,
    history_opens_around_a_message_on_postgres
);

/// `GET /api/rooms/{room}/messages?around=ID`: what a search hit opens the room at.
async fn history_opens_around_a_message(db: &Database) {
    let mut town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(said(&mut ada, &format!("line {i}"), &format!("l{i}")).await);
    }
    let page = |around: u64, limit: u32| {
        format!("/api/rooms/{ROOM}/messages?around={around}&limit={limit}")
    };
    let ids_of = |body: &Value| -> Vec<u64> {
        body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["id"].as_u64())
            .collect()
    };
    let (status, body) = api(
        town.app.addr,
        &mut town.carol,
        "GET",
        &page(ids[4], 4),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids_of(&body), ids[3..7]);
    assert_eq!(
        (body["before"].as_u64(), body["after"].as_u64()),
        (Some(ids[3]), Some(ids[6]))
    );
    let (_, body) = api(
        town.app.addr,
        &mut town.carol,
        "GET",
        &page(ids[0], 4),
        None,
    )
    .await;
    assert_eq!(ids_of(&body), ids[0..3]);
    assert_eq!(
        (body["before"].as_u64(), body["after"].as_u64()),
        (None, Some(ids[2]))
    );
    let (_, body) = api(
        town.app.addr,
        &mut town.carol,
        "GET",
        &page(ids[9], 4),
        None,
    )
    .await;
    assert_eq!(ids_of(&body), ids[8..10]);
    assert!(body.get("after").is_none(), "{body}");
    // `around` overrides `before`.
    let both = format!(
        "/api/rooms/{ROOM}/messages?around={}&before={}&limit=4",
        ids[4], ids[1]
    );
    let (status, body) = api(town.app.addr, &mut town.carol, "GET", &both, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids_of(&body), ids[3..7]);
    town.app.stop().await;
}
