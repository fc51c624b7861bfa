//! Registration: the SSRF guard's refusals, unknown events, and who may register, list and remove hooks.

use serde_json::json;

use super::{Receiver, deliveries, node, register, room_of};
use crate::engines::{Database, on_both_engines};
use crate::people::{Browser, staff_browser};
use crate::rooms::{api, person};

async fn registration_is_refused(db: &Database) {
    let receiver = Receiver::start(0).await;
    let app = node(db, &[&receiver]).await;
    let mut ada = room_of(&app, "ada", "ci", "public").await;
    for (url, code) in [
        ("http://10.0.0.1/", "not_https"),
        ("https://10.0.0.1/", "private_address"),
        // Only the receiver's own port is listed.
        ("https://127.0.0.1/", "private_address"),
        ("https://[::1]/hook", "private_address"),
        ("https://169.254.169.254/latest", "private_address"),
        ("not a url", "invalid_url"),
        ("ftp://example.com/", "not_https"),
    ] {
        let (status, body) = register(&app, &mut ada, Some("ci"), url, &["message_created"]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some(code)),
            "{url}: {body}"
        );
    }
    for events in [vec![], vec!["bogus"], vec!["room_entered"]] {
        let (status, body) = register(&app, &mut ada, Some("ci"), &receiver.url(), &events).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_parameter")),
            "{events:?}: {body}"
        );
    }

    // Not the owner: refused; a private room they cannot read: not even there; every room: staff only.
    let mut bob = person(app.addr, "bob").await;
    let (status, body) = register(
        &app,
        &mut bob,
        Some("ci"),
        &receiver.url(),
        &["message_created"],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let mut eve = room_of(&app, "eve", "hidden", "private").await;
    let (status, _) = register(
        &app,
        &mut bob,
        Some("hidden"),
        &receiver.url(),
        &["message_created"],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = register(&app, &mut bob, None, &receiver.url(), &["message_created"]).await;
    assert_eq!(status, 403);
    let mut guest = Browser::new(app.addr);
    let (status, _) = register(
        &app,
        &mut guest,
        Some("ci"),
        &receiver.url(),
        &["message_created"],
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = api(
        app.addr,
        &mut bob,
        "GET",
        "/api/rooms/ci/hooks/outgoing",
        None,
    )
    .await;
    assert_eq!(status, 403);

    // The owner's hook: others can neither remove it nor read its deliveries.
    let (status, hook) = register(
        &app,
        &mut eve,
        Some("hidden"),
        &receiver.url(),
        &["message_created"],
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let path = format!("/api/hooks/outgoing/{}", hook["id"]);
    let (status, _) = api(app.addr, &mut bob, "DELETE", &path, None).await;
    assert_eq!(status, 404);
    let (status, _) = api(
        app.addr,
        &mut bob,
        "GET",
        &format!("{path}/deliveries"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = api(
        app.addr,
        &mut ada,
        "GET",
        "/api/hooks/outgoing/x/deliveries",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Staff register a hook of every room; it hears public and private rooms alike.
    let mut boss = staff_browser(app.addr, &db.url(), "boss").await;
    let (status, everywhere) =
        register(&app, &mut boss, None, &receiver.url(), &["message_created"]).await;
    assert_eq!(status, 201, "{everywhere}");
    let (status, listed) = api(app.addr, &mut boss, "GET", "/api/hooks/outgoing", None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(
        (listed[0]["id"].clone(), listed[0]["room"].clone()),
        (everywhere["id"].clone(), json!(null))
    );
    assert!(listed[0].get("secret").is_none());
    let mut ws = ada.join_v2("/ws/chat/ci/").await.expect("join");
    let [id] = ws.send_acked("hello", 1).await[..] else {
        panic!("one ack")
    };
    let prefix = format!("{}-", everywhere["id"]);
    receiver
        .until("the message through the hook of every room", |events| {
            events.iter().any(|e| {
                e["room"] == "ci"
                    && e["id"] == id
                    && e["event_id"]
                        .as_str()
                        .is_some_and(|x| x.starts_with(&prefix))
            })
        })
        .await;
    // The admin shows both hooks and their deliveries.
    deliveries(&app, &mut boss, &everywhere["id"], |rows| !rows.is_empty()).await;
    let page = boss.get("/admin/hooks/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&receiver.addr.to_string()) && page.body.contains("every room"),
        "{}",
        page.body
    );
    assert!(page.body.contains("delivered"), "{}", page.body);
    app.stop().await;
}

on_both_engines!(
    registration_is_refused,
    registration_refuses_private_and_unlisted_urls_unknown_events_and_people_who_do_not_own_the_room_on_sqlite,
    registration_refuses_private_and_unlisted_urls_unknown_events_and_people_who_do_not_own_the_room_on_postgres
);
