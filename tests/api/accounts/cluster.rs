//! Sessions across a cluster: two nodes on one PostgreSQL database and one Redis share sessions, so a
//! sign-up or login on one node signs in on the other, and logging out closes the session's socket on
//! whichever node holds it.

use crate::helpers::two_nodes;

use super::{member, signed_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_from_one_node_signs_in_on_the_other_and_logging_out_closes_its_socket_there() {
    let test = "sessions_across_nodes";
    let Some((db, a, b)) = two_nodes(test).await else {
        return;
    };

    let mut on_a = member(&a, "Ada").await;
    let mut on_b = on_a.on(b.addr);
    assert!(signed_in(&mut on_b).await, "node B knows the session");
    let mut socket = on_b.join("/ws/chat/hall/").await.expect("joined on B");
    let mut watcher = a.join("hall").await;
    socket
        .send_json(serde_json::json!({"message": "from b", "user": "mallory"}))
        .await;
    let frame = socket.next_message().await;
    assert_eq!(frame["user"], "Ada");
    assert!(frame.get("guest").is_none());
    let seen = watcher.next_message().await;
    assert_eq!(
        (seen["user"].as_str(), seen["message"].as_str()),
        (Some("Ada"), Some("from b"))
    );

    // A login through B is seen by A as well.
    let bea = member(&b, "Bea").await;
    assert!(signed_in(&mut bea.on(a.addr)).await);

    assert_eq!(on_a.log_out().await.status, 303);
    assert_eq!(
        socket.closed().await,
        Some(4401),
        "node B closes the logged-out session's socket"
    );
    on_b.set_cookie("sessionid", None);
    assert!(!signed_in(&mut on_b).await);
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}
