//! Web Push (issue 21) end to end: a node pushes to a push service of the test's own on loopback
//! (`service.rs`, RFC 8030's receiving side, checking VAPID and decrypting as the browser would). A
//! mention of someone away arrives once with the right fields, a direct message with `Urgency: high`;
//! someone with a socket on the room gets nothing; pushes within the window are held and sent as one
//! ("and N more"); 410 removes the subscription; 429 with `Retry-After` is retried after it; endpoints
//! off the list, private, loopback without the test flag or plain http are refused at subscribe, and
//! guests cannot subscribe. The key and the subscriptions are stored on SQLite and PostgreSQL alike.

mod service;

use std::time::Duration;

use base64ct::Encoding;
use chatweb::config::Config;
use serde_json::{Value, json};

use self::service::{Inbox, PushService};
use crate::conversations::{PATH, ROOM, Sock, said, town_with, v2};
use crate::engines::{Database, on_both_engines};
use crate::helpers::{PATIENCE, spawn_app_with, test_config};
use crate::people::Browser;
use crate::rooms::api;

on_both_engines!(
    a_mention_reaches_an_absent_person_once,
    a_mention_reaches_an_absent_person_once_on_sqlite,
    a_mention_reaches_an_absent_person_once_on_postgres
);
on_both_engines!(
    subscriptions_are_checked_stored_and_removed,
    subscriptions_are_checked_stored_and_removed_on_sqlite,
    subscriptions_are_checked_stored_and_removed_on_postgres
);

/// A node on `db` whose push hosts are `service`'s, coalescing pushes for `window_ms`.
fn config(db: &Database, service: &PushService, window_ms: u64) -> Config {
    let mut config = test_config(db.url());
    config.push.push_hosts = service.host();
    config.push.push_coalesce_ms = window_ms;
    config.push.vapid_subject = "mailto:ops@example.test".into();
    config
}

/// Subscribes `who`'s browser `inbox` (as the page's script does); the status and answer.
async fn subscribe(
    addr: std::net::SocketAddr,
    who: &mut Browser,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
) -> (u16, Value) {
    let body = json!({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}});
    api(addr, who, "POST", "/api/push/subscriptions", Some(body)).await
}

/// Subscribes and expects 201.
async fn subscribed(addr: std::net::SocketAddr, who: &mut Browser, inbox: &Inbox) {
    let (status, body) = subscribe(
        addr,
        who,
        &inbox.endpoint,
        &inbox.device.p256dh(),
        &inbox.device.auth(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// The server's VAPID key, told to the service.
async fn key(addr: std::net::SocketAddr, service: &PushService) -> String {
    let text = reqwest::get(format!("http://{addr}/api/push/key"))
        .await
        .expect("key")
        .text()
        .await
        .expect("text");
    let body: Value = serde_json::from_str(&text).expect("json");
    let key = body["key"].as_str().expect("a key").to_owned();
    service.expect_key(&key);
    key
}

/// `name`'s value in the node's `/metrics` (0 when absent).
async fn metric(addr: std::net::SocketAddr, name: &str) -> u64 {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until `name` reaches `value`.
async fn metric_reaches(addr: std::net::SocketAddr, name: &str, value: u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while metric(addr, name).await < value {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never reached {value}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_mention_reaches_an_absent_person_once(db: &Database) {
    let service = PushService::start().await;
    let mut town = town_with(db, config(db, &service, 30_000)).await;
    let addr = town.app.addr;
    key(addr, &service).await;
    let mut bob_phone = service.device("bob-phone");
    let mut carol_laptop = service.device("carol-laptop");
    subscribed(addr, &mut town.bob, &bob_phone).await;
    subscribed(addr, &mut town.carol, &carol_laptop).await;
    let mut ada = v2(&town.ada, PATH).await;
    let id = said(&mut ada, "lunch at noon, @bob?", "m1").await;
    let push = bob_phone.next().await;
    assert_eq!(
        push.json,
        json!({
            "room": ROOM,
            "id": id,
            "user": "ada",
            "text": "lunch at noon, @bob?",
            "url": format!("/chat/{ROOM}/?at={id}"),
            "more": 0,
        })
    );
    assert_eq!(push.urgency, "normal");
    // Nobody else was mentioned; ada's own mention of herself is nobody's push.
    said(&mut ada, "note to self @ada", "m2").await;
    // A direct message pushes without a mention, urgently; the next push to carol shows the queue has
    // passed everything before it.
    let (status, dm) = api(
        addr,
        &mut town.ada,
        "POST",
        "/api/dms/",
        Some(json!({"users": ["carol"]})),
    )
    .await;
    assert_eq!(status, 200, "{dm}");
    let dm_room = dm["name"].as_str().expect("a room").to_owned();
    let mut ada_dm = v2(&town.ada, &format!("/ws/chat/{dm_room}/")).await;
    let dm_id = said(&mut ada_dm, "are you coming?", "d1").await;
    let push = carol_laptop.next().await;
    assert_eq!(push.json["room"], dm_room.as_str());
    assert_eq!(push.json["id"], dm_id);
    assert_eq!(push.json["text"], "are you coming?");
    assert_eq!(push.urgency, "high");
    assert!(bob_phone.is_empty(), "bob's mention arrived once");
    assert!(carol_laptop.is_empty());
    metric_reaches(addr, "chatweb_push_sent_total{result=\"delivered\"}", 2).await;
    ada.close().await;
    ada_dm.close().await;
    town.app.stop().await;
}

async fn subscriptions_are_checked_stored_and_removed(db: &Database) {
    let service = PushService::start().await;
    let app = spawn_app_with(config(db, &service, 30_000)).await;
    let addr = app.addr;
    let first = key(addr, &service).await;
    let point = base64ct::Base64UrlUnpadded::decode_vec(&first).expect("base64url");
    assert_eq!(
        (point.len(), point[0]),
        (65, 4),
        "an uncompressed P-256 point"
    );
    let mut ada = crate::rooms::person(addr, "ada").await;
    let inbox = service.device("ada-phone");
    let (p256dh, auth) = (inbox.device.p256dh(), inbox.device.auth());
    // Refused endpoints: not listed (a private address, loopback on another port), plain http to a
    // host that is not a listed loopback one, not a URL; and bad keys.
    for (endpoint, code) in [
        ("https://10.0.0.1/push/x", "host_not_allowed"),
        ("https://127.0.0.1/push/x", "host_not_allowed"),
        ("http://fcm.googleapis.com/fcm/send/x", "not_https"),
        ("https://fcm.googleapis.com:99999/", "invalid_url"),
        ("not a url", "invalid_url"),
    ] {
        let (status, body) = subscribe(addr, &mut ada, endpoint, &p256dh, &auth).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some(code)),
            "{endpoint}: {body}"
        );
    }
    let mut bent = base64ct::Base64UrlUnpadded::decode_vec(&p256dh).expect("p256dh");
    bent[64] ^= 1;
    let bent = base64ct::Base64UrlUnpadded::encode_string(&bent);
    for (p256dh, auth) in [(bent.as_str(), auth.as_str()), (p256dh.as_str(), "AAAA")] {
        let (status, body) = subscribe(addr, &mut ada, &inbox.endpoint, p256dh, auth).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("invalid_key")),
            "{body}"
        );
    }
    // Guests cannot subscribe.
    let mut guest = Browser::new(addr);
    let (status, body) = subscribe(addr, &mut guest, &inbox.endpoint, &p256dh, &auth).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("login_required")),
        "{body}"
    );
    // Stored once however often it is sent (upsert by endpoint), listed on the settings page.
    subscribed(addr, &mut ada, &inbox).await;
    subscribed(addr, &mut ada, &inbox).await;
    let other = service.device("ada-laptop");
    subscribed(addr, &mut ada, &other).await;
    let page = ada.get("/accounts/settings/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches("class=\"device\"").count(),
        2,
        "{}",
        page.body
    );
    assert!(page.body.contains(&service.host()), "the origin is shown");
    // The settings page's remove button, then the API's DELETE.
    let page = ada
        .post(
            "/accounts/settings/devices/remove",
            &[("endpoint", other.endpoint.as_str())],
        )
        .await;
    assert_eq!(page.status, 303);
    let delete = json!({"endpoint": inbox.endpoint});
    let (status, body) = api(
        addr,
        &mut ada,
        "DELETE",
        "/api/push/subscriptions",
        Some(delete.clone()),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = api(
        addr,
        &mut ada,
        "DELETE",
        "/api/push/subscriptions",
        Some(delete),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let page = ada.get("/accounts/settings/").await;
    assert!(page.body.contains("id=\"no-devices\""), "{}", page.body);
    app.stop().await;
    // The key is kept: a node started later on the same database signs with the same one.
    let again = spawn_app_with(config(db, &service, 30_000)).await;
    assert_eq!(key(again.addr, &service).await, first);
    again.stop().await;
}

#[tokio::test]
async fn two_nodes_starting_at_once_share_one_key() {
    let test = "two_nodes_starting_at_once_share_one_key";
    let Some(db) = crate::helpers::TestDatabase::create(test).await else {
        return;
    };
    let db = Database::Postgres(db);
    let service = PushService::start().await;
    let (a, b) = tokio::join!(
        spawn_app_with(config(&db, &service, 30_000)),
        spawn_app_with(config(&db, &service, 30_000))
    );
    assert_eq!(key(a.addr, &service).await, key(b.addr, &service).await);
    a.stop().await;
    b.stop().await;
    db.done().await;
}

#[tokio::test]
async fn someone_on_the_room_gets_no_push() {
    let db = Database::sqlite();
    let service = PushService::start().await;
    let mut town = town_with(&db, config(&db, &service, 30_000)).await;
    let addr = town.app.addr;
    key(addr, &service).await;
    let mut bob_phone = service.device("bob-phone");
    let mut carol_phone = service.device("carol-phone");
    subscribed(addr, &mut town.bob, &bob_phone).await;
    subscribed(addr, &mut town.carol, &carol_phone).await;
    let bob_here = v2(&town.bob, PATH).await;
    let mut ada = v2(&town.ada, PATH).await;
    said(&mut ada, "@bob are you there?", "m1").await;
    // carol is away: her push comes, after bob's message was considered (the queue is in order).
    let id = said(&mut ada, "@carol and you?", "m2").await;
    assert_eq!(carol_phone.next().await.json["id"], id);
    assert!(bob_phone.is_empty(), "bob has a socket on the room");
    assert_eq!(
        metric(addr, "chatweb_push_sent_total{result=\"delivered\"}").await,
        1
    );
    // Once bob's socket is gone, a mention reaches him.
    bob_here.close().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut n = 0;
    loop {
        n += 1;
        let id = said(&mut ada, &format!("@bob now? {n}"), &format!("b{n}")).await;
        tokio::select! {
            push = bob_phone.next() => {
                assert_eq!(push.json["id"], id);
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                assert!(tokio::time::Instant::now() < deadline, "bob never got a push");
            }
        }
    }
    ada.close().await;
    town.app.stop().await;
}

#[tokio::test]
async fn a_mention_in_a_room_one_may_not_read_pushes_nothing() {
    let db = Database::sqlite();
    let service = PushService::start().await;
    let mut town = town_with(&db, config(&db, &service, 30_000)).await;
    let addr = town.app.addr;
    key(addr, &service).await;
    let mut bob_phone = service.device("bob-phone");
    subscribed(addr, &mut town.bob, &bob_phone).await;
    // ada's private room, bob not in it: a mention of him there tells him nothing of the room.
    let room = json!({"name": "vault", "kind": "private"});
    let (status, body) = api(addr, &mut town.ada, "POST", "/api/rooms/", Some(room)).await;
    assert_eq!(status, 201, "{body}");
    let mut vault = v2(&town.ada, "/ws/chat/vault/").await;
    said(&mut vault, "@bob the vault code is 4711", "v1").await;
    // The queue is in order: the next push bob gets is the public room's, so the vault's was passed over.
    let mut ada = v2(&town.ada, PATH).await;
    let id = said(&mut ada, "@bob see the lobby", "m1").await;
    let push = bob_phone.next().await;
    assert_eq!(push.json["room"], ROOM);
    assert_eq!(push.json["id"], id);
    assert!(bob_phone.is_empty(), "nothing from the vault");
    vault.close().await;
    ada.close().await;
    town.app.stop().await;
}

#[tokio::test]
async fn pushes_within_the_window_are_sent_as_one() {
    let db = Database::sqlite();
    let service = PushService::start().await;
    let window = Duration::from_millis(1500);
    let mut town = town_with(&db, config(&db, &service, window.as_millis() as u64)).await;
    let addr = town.app.addr;
    key(addr, &service).await;
    let mut bob_phone = service.device("bob-phone");
    subscribed(addr, &mut town.bob, &bob_phone).await;
    let mut ada = v2(&town.ada, PATH).await;
    let first = said(&mut ada, "@bob one", "1").await;
    let push = bob_phone.next().await;
    assert_eq!(
        (push.json["id"].as_u64(), push.json["more"].as_u64()),
        (Some(first), Some(0))
    );
    let opened = push.at;
    said(&mut ada, "@bob two", "2").await;
    said(&mut ada, "@bob three", "3").await;
    let last = said(&mut ada, "@bob four", "4").await;
    let push = bob_phone.next().await;
    assert_eq!(push.json["id"], last);
    assert_eq!(push.json["more"], 2);
    assert_eq!(push.json["text"], "@bob four (and 2 more)");
    assert!(
        push.at.duration_since(opened) >= window - Duration::from_millis(100),
        "held until the window's end"
    );
    assert!(bob_phone.is_empty());
    ada.close().await;
    town.app.stop().await;
}

#[tokio::test]
async fn a_gone_subscription_is_removed_and_429_is_retried_after_retry_after() {
    let db = Database::sqlite();
    let service = PushService::start().await;
    let mut town = town_with(&db, config(&db, &service, 30_000)).await;
    let addr = town.app.addr;
    key(addr, &service).await;
    let mut bob_phone = service.device("bob-phone");
    let mut carol_phone = service.device("carol-phone");
    subscribed(addr, &mut town.bob, &bob_phone).await;
    subscribed(addr, &mut town.carol, &carol_phone).await;
    service.script("bob-phone", &[(410, None)]);
    service.script("carol-phone", &[(429, Some("1"))]);
    let mut ada = v2(&town.ada, PATH).await;
    said(&mut ada, "@bob @carol standup", "m1").await;
    bob_phone.next().await;
    let refused = carol_phone.next().await;
    let retried = carol_phone.next().await;
    assert_eq!(refused.json, retried.json);
    assert!(
        retried.at.duration_since(refused.at) >= Duration::from_millis(950),
        "retried after Retry-After: {:?}",
        retried.at.duration_since(refused.at)
    );
    metric_reaches(addr, "chatweb_push_sent_total{result=\"gone\"}", 1).await;
    assert_eq!(metric(addr, "chatweb_push_retries_total").await, 1);
    // bob's subscription is gone.
    let delete = json!({"endpoint": bob_phone.endpoint});
    let (status, body) = api(
        addr,
        &mut town.bob,
        "DELETE",
        "/api/push/subscriptions",
        Some(delete),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    ada.close().await;
    town.app.stop().await;
}

/// The room page shows the bell to people signed in; `/sw.js` is served at the root for the whole site.
#[tokio::test]
async fn the_page_has_a_bell_and_the_service_worker_is_served() {
    let db = Database::sqlite();
    let service = PushService::start().await;
    let town = town_with(&db, config(&db, &service, 30_000)).await;
    let mut ada = town.ada;
    let page = ada.get(&format!("/chat/{ROOM}/")).await;
    assert!(page.body.contains("id=\"push-button\""));
    assert!(page.body.contains("/static/push.js"));
    let guest = Browser::new(town.app.addr)
        .get(&format!("/chat/{ROOM}/"))
        .await;
    assert!(!guest.body.contains("id=\"push-button\""));
    let sw = town.app.get("/sw.js", None).await;
    assert_eq!(sw.status(), 200);
    assert_eq!(sw.headers()["service-worker-allowed"], "/");
    assert!(
        sw.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/javascript")
    );
    let body = sw.text().await.expect("body");
    assert!(body.contains("addEventListener('push'") && body.contains("notificationclick"));
    let _ = Sock::new;
    town.app.stop().await;
}

/// Two nodes on PostgreSQL and Redis: someone with a socket on the room on the other node gets no push
/// (presence crosses nodes), and the one node that stored the message is the one that pushes it.
#[tokio::test]
async fn across_nodes_presence_holds_pushes_back_and_one_node_sends() {
    let test = "across_nodes_presence_holds_pushes_back_and_one_node_sends";
    let Some(redis) = crate::services::test_service("CHATWEB_TEST_REDIS_URL", test) else {
        return;
    };
    let Some(db) = crate::helpers::TestDatabase::create(test).await else {
        return;
    };
    let service = PushService::start().await;
    let prefix = crate::services::unique_prefix(test);
    let node = || {
        let mut config = crate::services::node_config(&db.url, &redis, &prefix);
        config.push.push_hosts = service.host();
        config
    };
    let a = spawn_app_with(node()).await;
    let b = spawn_app_with(node()).await;
    key(a.addr, &service).await;
    let ada_browser = crate::rooms::person(a.addr, "ada").await;
    let mut bob_browser = crate::rooms::person(a.addr, "bob").await;
    let mut carol_browser = crate::rooms::person(a.addr, "carol").await;
    let mut bob_phone = service.device("bob-phone");
    let mut carol_phone = service.device("carol-phone");
    // Subscribed through node a, which learns at once that pushes are wanted (another node within
    // two seconds).
    subscribed(a.addr, &mut bob_browser, &bob_phone).await;
    subscribed(a.addr, &mut carol_browser, &carol_phone).await;
    let bob_browser = bob_browser.on(b.addr);
    let path = "/ws/chat/hall/";
    let mut ada = v2(&ada_browser, path).await;
    let bob_on_b = v2(&bob_browser, path).await;
    // Node a knows bob is here once ada's socket there hears of his join.
    ada.joined("bob").await;
    let id = said(&mut ada, "@bob @carol review please", "m1").await;
    let push = carol_phone.next().await;
    assert_eq!(push.json["id"], id);
    assert!(
        bob_phone.is_empty(),
        "bob has a socket on the room on node b"
    );
    let delivered = "chatweb_push_sent_total{result=\"delivered\"}";
    assert_eq!(metric(a.addr, delivered).await, 1);
    assert_eq!(
        metric(b.addr, delivered).await,
        0,
        "only the storing node pushes"
    );
    ada.close().await;
    bob_on_b.close().await;
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}
