//! Two nodes on PostgreSQL and Redis: removing a member on one node closes their socket on the other with
//! 4403 within 2 seconds, and their resume there is refused.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{api, person};
use crate::services::two_nodes;

#[tokio::test]
async fn a_removal_on_one_node_closes_the_socket_on_the_other_within_two_seconds() {
    let Some((_db, a, b)) =
        two_nodes("a_removal_on_one_node_closes_the_socket_on_the_other_within_two_seconds").await
    else {
        return;
    };
    let mut ada = person(a.addr, "ada").await;
    let bob_on_a = person(a.addr, "bob").await;
    let room = json!({"name": "plans", "kind": "private"});
    assert_eq!(
        api(a.addr, &mut ada, "POST", "/api/rooms/", Some(room))
            .await
            .0,
        201
    );
    let add = json!({"user": "bob"});
    assert_eq!(
        api(
            a.addr,
            &mut ada,
            "POST",
            "/api/rooms/plans/members",
            Some(add)
        )
        .await
        .0,
        201
    );
    // bob's session works on either node (sessions live in the database).
    let bob = bob_on_a.on(b.addr);
    let mut socket = bob
        .join("/ws/chat/plans/")
        .await
        .expect("bob enters on node b");
    let removed = Instant::now();
    let (status, _) = api(
        a.addr,
        &mut ada,
        "DELETE",
        "/api/rooms/plans/members/bob",
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(socket.closed().await, Some(4403));
    let took = removed.elapsed();
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    assert_eq!(bob.join("/ws/chat/plans/?since=1").await.err(), Some(403));
    a.stop().await;
    b.stop().await;
}
