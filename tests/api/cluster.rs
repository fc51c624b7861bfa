//! Several nodes acting as one chat: real Redis pub/sub between them, one real PostgreSQL store.

use crate::helpers::{
    Client, ProcessNode, TestDatabase, connect, ids, node_config, spawn_app_with, test_service,
    texts, unique_prefix,
};

/// Database and Redis for a cluster test, or `None` to skip (never on CI).
async fn services(test: &str) -> Option<(TestDatabase, String, String)> {
    let redis = test_service("CHATWEB_TEST_REDIS_URL", test)?;
    let db = TestDatabase::create(test).await?;
    Some((db, redis, unique_prefix(test)))
}

/// Sends `n` tagged messages with client ids and waits for all acks.
async fn publish(mut client: Client, tag: String, n: usize) {
    client.send_acked(&tag, n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_two_nodes_chat_as_one_and_resume_on_either() {
    let Some((db, redis, prefix)) = services("two_nodes_chat").await else {
        return;
    };
    let a = spawn_app_with(node_config(&db.url, &redis, &prefix)).await;
    let b = spawn_app_with(node_config(&db.url, &redis, &prefix)).await;
    let mut on_a = a.join("hall").await;
    let mut on_b = b.join("hall").await;

    // One message at a time: nothing on the receiving node could reveal it but Redis.
    on_a.say("from a").await;
    let got = on_b.next_message().await;
    assert_eq!(
        (got["id"].as_u64(), got["message"].as_str()),
        (Some(1), Some("from a"))
    );
    assert_eq!(on_a.next_message().await["id"], 1);
    on_b.say("from b").await;
    let got = on_a.next_message().await;
    assert_eq!(
        (got["id"].as_u64(), got["message"].as_str()),
        (Some(2), Some("from b"))
    );
    assert_eq!(on_b.next_message().await["id"], 2);
    // A client that was on A resumes on B.
    on_a.say("third").await;
    let mut back = connect(b.addr, "/ws/chat/hall/?since=1").await;
    assert_eq!(ids(&back.messages(2).await), [2, 3]);
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_on_two_nodes_lose_nothing_and_ids_stay_gap_free() {
    const PER_SENDER: usize = 100;
    let Some((db, redis, prefix)) = services("concurrent_senders").await else {
        return;
    };
    let a = spawn_app_with(node_config(&db.url, &redis, &prefix)).await;
    let b = spawn_app_with(node_config(&db.url, &redis, &prefix)).await;
    let mut readers = vec![a.join("busy").await, b.join("busy").await];
    let mut senders = Vec::new();
    for (i, node) in [&a, &b, &a, &b].into_iter().enumerate() {
        senders.push(tokio::spawn(publish(
            node.join("busy").await,
            format!("s{i}"),
            PER_SENDER,
        )));
    }
    for sender in senders {
        sender.await.expect("sender");
    }
    let total = 4 * PER_SENDER;
    for reader in &mut readers {
        let got = reader.messages(total).await;
        assert_eq!(ids(&got), (1..=total as u64).collect::<Vec<_>>());
        let mut said = texts(&got);
        said.sort();
        said.dedup();
        assert_eq!(said.len(), total, "no duplicates");
    }
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_ten_rooms_and_two_nodes_reaches_every_client_in_order() {
    const ROOMS: usize = 10;
    const CLIENTS: usize = 10;
    const MESSAGES: usize = 200;
    let Some((db, redis, prefix)) = services("burst").await else {
        return;
    };
    let nodes = [
        spawn_app_with(node_config(&db.url, &redis, &prefix)).await,
        spawn_app_with(node_config(&db.url, &redis, &prefix)).await,
    ];
    let mut readers = Vec::new();
    for room in 0..ROOMS {
        for c in 0..CLIENTS {
            let mut client = nodes[c % 2].join(&format!("burst{room}")).await;
            readers.push(tokio::spawn(async move {
                let got = client.messages(MESSAGES).await;
                assert_eq!(
                    ids(&got),
                    (1..=MESSAGES as u64).collect::<Vec<_>>(),
                    "room {room}"
                );
            }));
        }
    }
    // Per room, one sender on each node, all as fast as they can.
    let mut senders = Vec::new();
    for room in 0..ROOMS {
        for (n, node) in nodes.iter().enumerate() {
            let client = node.join(&format!("burst{room}")).await;
            senders.push(tokio::spawn(publish(
                client,
                format!("r{room}n{n}"),
                MESSAGES / 2,
            )));
        }
    }
    for task in senders.into_iter().chain(readers) {
        task.await.expect("client task");
    }
    let [a, b] = nodes;
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_node_processes_share_redis_and_postgres() {
    let Some((db, redis, prefix)) = services("two_processes").await else {
        return;
    };
    let args = [
        "--database-url",
        &db.url,
        "--redis-url",
        &redis,
        "--redis-prefix",
        &prefix,
    ];
    let mut first = ProcessNode::start_with(&args);
    let mut second = ProcessNode::start_with(&args);
    let (a, b) = (first.addr().await, second.addr().await);
    let mut reader_a = connect(a, "/ws/chat/procs/").await;
    let mut reader_b = connect(b, "/ws/chat/procs/").await;
    let senders = [
        tokio::spawn(publish(
            connect(a, "/ws/chat/procs/").await,
            "a".into(),
            100,
        )),
        tokio::spawn(publish(
            connect(b, "/ws/chat/procs/").await,
            "b".into(),
            100,
        )),
    ];
    for sender in senders {
        sender.await.expect("sender");
    }
    for reader in [&mut reader_a, &mut reader_b] {
        assert_eq!(
            ids(&reader.messages(200).await),
            (1..=200).collect::<Vec<u64>>()
        );
    }
    assert!(first.terminate().success());
    assert!(second.terminate().success());
    db.drop_database().await;
}
