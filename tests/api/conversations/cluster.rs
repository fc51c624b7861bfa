//! Two nodes on PostgreSQL and Redis: a reaction or a reply made on one node reaches the v2 sockets on
//! the other live, with the ids the store gave them, and a plain client there gets the messages only.

use serde_json::json;

use super::{acked, events, plain_frames_until, said, shapes, v2};
use crate::helpers::{connect, texts};
use crate::rooms::person;
use crate::services::two_nodes;

#[tokio::test]
async fn a_reaction_on_one_node_reaches_the_other_live() {
    let Some((db, a, b)) = two_nodes("a_reaction_on_one_node_reaches_the_other_live").await else {
        return;
    };
    let ada_browser = person(a.addr, "ada").await;
    let bob_browser = person(a.addr, "bob").await.on(b.addr);
    let path = "/ws/chat/hall/";
    let mut ada = v2(&ada_browser, path).await;
    let mut bob = v2(&bob_browser, path).await;
    let mut plain = connect(b.addr, path).await;

    let message = said(&mut ada, "ship it?", "a1").await;
    let reaction = acked(
        &mut ada,
        json!({"type": "react", "id": message, "emoji": "🚀", "client_id": "a2"}),
    )
    .await;
    let reply = acked(
        &mut bob,
        json!({"message": "shipped", "reply_to": message, "client_id": "b1"}),
    )
    .await;
    let back = acked(
        &mut bob,
        json!({"type": "react", "id": reply, "emoji": "🎉", "client_id": "b2"}),
    )
    .await;
    assert_eq!(
        [reaction, reply, back],
        [message + 1, message + 2, message + 3]
    );

    let on_b = events(&mut bob, 4).await;
    assert_eq!(
        shapes(&on_b),
        [
            ("message".into(), message),
            ("reaction".into(), reaction),
            ("message".into(), reply),
            ("reaction".into(), back)
        ]
    );
    assert_eq!(
        (
            on_b[1]["user"].as_str(),
            on_b[1]["target"].as_u64(),
            on_b[1]["emoji"].as_str(),
            on_b[1]["action"].as_str(),
            on_b[1]["history"].as_bool()
        ),
        (
            Some("ada"),
            Some(message),
            Some("🚀"),
            Some("add"),
            Some(false)
        ),
        "{}",
        on_b[1]
    );
    let on_a = events(&mut ada, 4).await;
    assert_eq!(shapes(&on_a), shapes(&on_b));
    assert_eq!(on_a[2]["reply_to"], message);
    assert_eq!(
        (on_a[3]["user"].as_str(), on_a[3]["target"].as_u64()),
        (Some("bob"), Some(reply))
    );

    // The same frame again from bob's other tab, on the other node: the one event it made.
    let mut bob_on_a = v2(&bob_browser.on(a.addr), path).await;
    let again = super::act(
        &mut bob_on_a,
        json!({"type": "react", "id": reply, "emoji": "🎉", "client_id": "b2"}),
    )
    .await;
    assert_eq!(
        (again["duplicate"].as_bool(), again["id"].as_u64()),
        (Some(true), Some(back)),
        "{again}"
    );
    // And the same reaction under another client id changes nothing either.
    let repeat = super::act(
        &mut bob_on_a,
        json!({"type": "react", "id": reply, "emoji": "🎉", "client_id": "b3"}),
    )
    .await;
    assert_eq!(
        (repeat["duplicate"].as_bool(), repeat["id"].as_u64()),
        (Some(true), Some(reply)),
        "{repeat}"
    );
    let seen = plain_frames_until(&mut plain, &mut ada, "done").await;
    assert_eq!(texts(&seen), ["ship it?", "shipped", "done"], "{seen:?}");
    let done = super::next_event(&mut bob).await;
    assert_eq!(
        (done["message"].as_str(), done["id"].as_u64()),
        (Some("done"), Some(back + 1)),
        "no repeat reached node b, nor used an id: {done}"
    );
    bob_on_a.close().await;
    ada.close().await;
    bob.close().await;
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn here_mentions_the_people_present_on_the_other_node() {
    let Some((db, a, b)) = two_nodes("here_mentions_the_people_present_on_the_other_node").await
    else {
        return;
    };
    let ada_browser = person(a.addr, "ada").await;
    let bob_browser = person(a.addr, "bob").await.on(b.addr);
    let _carol = person(a.addr, "carol").await;
    let path = "/ws/chat/hall/";
    let mut ada = v2(&ada_browser, path).await;
    let mut bob = v2(&bob_browser, path).await;
    // Node a knows bob is present once ada hears him come in.
    ada.joined("bob").await;
    let id = said(&mut ada, "@here standup, @carol too", "a1").await;
    let frame = super::next_event(&mut bob).await;
    assert_eq!(frame["id"], id, "{frame}");
    let mut names: Vec<&str> = frame["mentions"]
        .as_array()
        .unwrap_or_else(|| panic!("mentions: {frame}"))
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["bob", "carol"],
        "bob, present on node b, and carol by name"
    );
    ada.close().await;
    bob.close().await;
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}

/// Two people on two nodes add new emoji to a message at the same time: the store's row lock holds the
/// limit of 20 distinct emoji, and every id is used once.
#[tokio::test]
async fn the_emoji_limit_holds_under_a_race_between_nodes() {
    let Some((db, a, b)) = two_nodes("the_emoji_limit_holds_under_a_race_between_nodes").await
    else {
        return;
    };
    let ada_browser = person(a.addr, "ada").await;
    let bob_browser = person(a.addr, "bob").await.on(b.addr);
    let path = "/ws/chat/hall/";
    let mut ada = v2(&ada_browser, path).await;
    let mut bob = v2(&bob_browser, path).await;
    let message = said(&mut ada, "vote", "a0").await;
    for (i, emoji) in super::EMOJI[..17].iter().enumerate() {
        acked(
            &mut ada,
            json!({"type": "react", "id": message, "emoji": emoji, "client_id": format!("a{}", i + 1)}),
        )
        .await;
    }
    // Three places left, six new emoji tried at once from both nodes.
    let tries = |who: &str, emoji: &[&str]| -> Vec<serde_json::Value> {
        emoji
            .iter()
            .enumerate()
            .map(|(i, e)| json!({"type": "react", "id": message, "emoji": e, "client_id": format!("{who}{i}")}))
            .collect()
    };
    let from_a = tries("race-a", &["🍎", "🍐", "🍊"]);
    let from_b = tries("race-b", &["🍋", "🍌", "🍉"]);
    let (answers_a, answers_b) = tokio::join!(
        async {
            ada.send_together(&from_a).await;
            let mut answers = Vec::new();
            for _ in 0..3 {
                answers.push(ada.next_answer().await);
            }
            answers
        },
        async {
            bob.send_together(&from_b).await;
            let mut answers = Vec::new();
            for _ in 0..3 {
                answers.push(bob.next_answer().await);
            }
            answers
        }
    );
    let all: Vec<&serde_json::Value> = answers_a.iter().chain(&answers_b).collect();
    let mut ids: Vec<u64> = all
        .iter()
        .filter(|a| a["type"] == "ack")
        .filter_map(|a| a["id"].as_u64())
        .collect();
    ids.sort_unstable();
    let refused = all
        .iter()
        .filter(|a| a["code"] == "too_many_reactions")
        .count();
    assert_eq!((ids.len(), refused), (3, 3), "{all:?}");
    let last = message + 17;
    assert_eq!(ids, [last + 1, last + 2, last + 3], "gap-free: {all:?}");
    let after = said(&mut ada, "counted", "after").await;
    assert_eq!(after, last + 4, "the refusals used no id");
    ada.close().await;
    bob.close().await;
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}

/// A topic set over HTTP on one node is an event that reaches a v2 socket on the other at once, with no
/// message after it to show a gap.
#[tokio::test]
async fn a_topic_set_over_http_on_one_node_reaches_the_other_live() {
    let Some((db, a, b)) =
        two_nodes("a_topic_set_over_http_on_one_node_reaches_the_other_live").await
    else {
        return;
    };
    let mut ada_browser = person(a.addr, "ada").await;
    let bob_browser = person(a.addr, "bob").await.on(b.addr);
    let (status, body) = crate::rooms::api(
        a.addr,
        &mut ada_browser,
        "POST",
        "/api/rooms/",
        Some(json!({"name": "plans"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mut ada = v2(&ada_browser, "/ws/chat/plans/").await;
    let mut bob = v2(&bob_browser, "/ws/chat/plans/").await;
    let (status, body) = crate::rooms::api(
        a.addr,
        &mut ada_browser,
        "PATCH",
        "/api/rooms/plans",
        Some(json!({"topic": "Release 2.0"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for (node, socket) in [("a", &mut ada), ("b", &mut bob)] {
        let frame = super::next_event(socket).await;
        assert_eq!(
            (
                frame["type"].as_str(),
                frame["topic"].as_str(),
                frame["user"].as_str(),
                frame["history"].as_bool()
            ),
            (Some("topic"), Some("Release 2.0"), Some("ada"), Some(false)),
            "node {node}: {frame}"
        );
    }
    ada.close().await;
    bob.close().await;
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}
