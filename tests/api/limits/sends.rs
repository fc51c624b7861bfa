//! The send rate: a burst over it is refused with `rate_limited` and `retry_after_ms`, nothing refused is
//! stored and the socket sends again after the wait; a user's bucket spans their connections, and guests
//! share their address's (the address a trusted proxy names in `X-Forwarded-For`, and only a trusted one).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chatweb::limits::LimitSettings;

use super::{
    assert_rate_limited, behind_local_proxy, guest, node, open, refusals, send, send_and_answer,
    stored,
};
use crate::helpers::TempDir;
use crate::people::PASSWORD;
use crate::tokens::accounts_on;

#[tokio::test]
async fn a_burst_over_the_send_limit_is_refused_unstored_and_the_socket_sends_again_after_the_wait()
{
    let dir = TempDir::new();
    // The defaults: 20 messages a second, bursts of 40.
    let app = node(&dir, LimitSettings::default()).await;
    let mut client = app.join("burst").await;
    const SENT: usize = 60;
    for i in 0..SENT {
        send(&mut client, &format!("b-{i}")).await;
    }
    let mut answers = BTreeMap::new();
    while answers.len() < SENT {
        let frame = client.next_answer().await;
        let id = frame["client_id"]
            .as_str()
            .expect("every answer names its send")
            .to_owned();
        answers.insert(id, frame);
    }
    let acked: BTreeSet<String> = answers
        .iter()
        .filter(|(_, f)| f["type"] == "ack")
        .map(|(id, _)| id.clone())
        .collect();
    let mut longest_wait = 0;
    for frame in answers.values().filter(|f| f["type"] != "ack") {
        let wait = assert_rate_limited(frame, "sends");
        assert!(wait <= 1000, "one token comes back within 1/20 s: {frame}");
        longest_wait = longest_wait.max(wait);
    }
    // The burst, and at most the few tokens that came back while it was read.
    assert!(
        (40..=50).contains(&acked.len()),
        "{} of {SENT} acked",
        acked.len()
    );
    let refused = SENT - acked.len();
    let kept: BTreeSet<String> = stored(&app, "burst").await.into_iter().collect();
    assert_eq!(kept, acked, "exactly the acked messages are stored");
    assert_eq!(refusals(&app, "sends").await, refused as u64);

    // The connection stays: after the wait it sends again.
    tokio::time::sleep(Duration::from_millis(longest_wait)).await;
    assert_eq!(send_and_answer(&mut client, "after").await["type"], "ack");
    app.stop().await;
}

#[tokio::test]
async fn a_users_bucket_spans_their_connections_and_no_one_elses() {
    let dir = TempDir::new();
    let app = node(
        &dir,
        LimitSettings {
            send_rate: 1,
            send_burst: 4,
            ..LimitSettings::default()
        },
    )
    .await;
    let accounts = accounts_on(&dir.sqlite_url()).await;
    let mut tokens = Vec::new();
    for name in ["ada", "bob"] {
        let user = accounts
            .create_user(name, "", PASSWORD, false)
            .await
            .expect("user");
        tokens.push(
            accounts
                .create_token(user.id, "bot")
                .await
                .expect("token")
                .1,
        );
    }
    let bearer = |token: &str| vec![("authorization", format!("Bearer {token}"))];
    let mut ada_one = open(&app, "/ws/chat/users/", &bearer(&tokens[0])).await;
    let mut ada_two = open(&app, "/ws/chat/users/", &bearer(&tokens[0])).await;
    let mut bob = open(&app, "/ws/chat/users/", &bearer(&tokens[1])).await;
    for i in 0..4 {
        let frame = send_and_answer(&mut ada_one, &format!("ada-{i}")).await;
        assert_eq!(frame["type"], "ack", "{frame}");
    }
    // Her other connection has its own bucket, but she has one.
    let frame = send_and_answer(&mut ada_two, "ada-again").await;
    assert_rate_limited(&frame, "sends");
    // Bob, from the same address, is not held back by her.
    assert_eq!(send_and_answer(&mut bob, "bob-0").await["type"], "ack");
    assert!(
        !stored(&app, "users")
            .await
            .contains(&"ada-again".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
async fn guests_share_their_addresss_bucket_as_a_trusted_proxy_names_it() {
    let dir = TempDir::new();
    let settings = LimitSettings {
        send_rate: 1,
        send_burst: 3,
        ..LimitSettings::default()
    };
    let app = node(&dir, behind_local_proxy(settings.clone())).await;
    let mut ann = open(&app, "/ws/chat/guests/", &guest(&app, "ann", None)).await;
    let mut bea = open(&app, "/ws/chat/guests/", &guest(&app, "bea", None)).await;
    for i in 0..3 {
        assert_eq!(
            send_and_answer(&mut ann, &format!("ann-{i}")).await["type"],
            "ack"
        );
    }
    // Another guest at the same address shares the bucket.
    assert_rate_limited(&send_and_answer(&mut bea, "bea-0").await, "sends");
    // Behind the loopback proxy (trusted here), its X-Forwarded-For entry is the address.
    let mut far = open(
        &app,
        "/ws/chat/guests/",
        &guest(&app, "cy", Some("203.0.113.7")),
    )
    .await;
    assert_eq!(send_and_answer(&mut far, "cy-0").await["type"], "ack");
    app.stop().await;

    // A node that trusts no proxy believes no X-Forwarded-For: every guest here is 127.0.0.1.
    let dir = TempDir::new();
    let app = node(
        &dir,
        LimitSettings {
            trusted_proxies: vec!["none".into()],
            ..settings
        },
    )
    .await;
    let mut ann = open(&app, "/ws/chat/guests/", &guest(&app, "ann", None)).await;
    for i in 0..3 {
        assert_eq!(
            send_and_answer(&mut ann, &format!("ann-{i}")).await["type"],
            "ack"
        );
    }
    let mut spoof = open(
        &app,
        "/ws/chat/guests/",
        &guest(&app, "cy", Some("203.0.113.7")),
    )
    .await;
    assert_rate_limited(&send_and_answer(&mut spoof, "cy-0").await, "sends");
    app.stop().await;
}

#[tokio::test]
async fn a_forged_x_forwarded_for_from_loopback_is_ignored_by_default_and_the_peer_is_limited() {
    let dir = TempDir::new();
    // The defaults, but for a send bucket small enough to empty: no proxy is trusted.
    let app = node(
        &dir,
        LimitSettings {
            send_rate: 1,
            send_burst: 3,
            ..LimitSettings::default()
        },
    )
    .await;
    let mut ann = open(&app, "/ws/chat/guests/", &guest(&app, "ann", None)).await;
    for i in 0..3 {
        assert_eq!(
            send_and_answer(&mut ann, &format!("ann-{i}")).await["type"],
            "ack"
        );
    }
    // A client on loopback (anyone behind a forwarder that passes the header on) names another address:
    // it is still 127.0.0.1, whose bucket is empty.
    let mut forger = open(
        &app,
        "/ws/chat/guests/",
        &guest(&app, "cy", Some("203.0.113.7")),
    )
    .await;
    assert_rate_limited(&send_and_answer(&mut forger, "cy-0").await, "sends");
    app.stop().await;
}
