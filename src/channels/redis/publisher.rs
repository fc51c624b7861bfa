//! The publisher task: pipelines outgoing events to Redis from a bounded outbox, so Redis never slows the
//! store writer. After a failure it keeps the newest event of each room and sends those first once
//! reconnected; members elsewhere catch up on anything older from the store.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Backoff, Channels, Health, OP_TIMEOUT, Outgoing, PIPELINE, payload};
use crate::channels::Event;
use crate::domain::RoomName;

/// Pipelines outgoing events to Redis. After a failure it keeps the newest event of each room and sends
/// those first once reconnected (members elsewhere catch up on anything older from the store).
pub(super) async fn publisher(
    client: redis::Client,
    channels: Channels,
    mut outbox: mpsc::Receiver<(RoomName, Outgoing)>,
    health: Arc<Health>,
    node: u64,
    shutdown: CancellationToken,
) {
    let mut unsent: HashMap<RoomName, Event> = HashMap::new();
    let mut backoff = Backoff::default();
    loop {
        let connected = tokio::select! {
            () = shutdown.cancelled() => return,
            connected = tokio::time::timeout(OP_TIMEOUT, client.get_multiplexed_async_connection()) => connected,
        };
        let mut conn = match connected {
            Ok(Ok(conn)) => conn,
            _ => {
                health.set(
                    &health.publisher_up,
                    false,
                    "publisher",
                    Some(&"cannot connect"),
                );
                // Keep draining the outbox while waiting, so the newest event per room is what is kept.
                let sleep = tokio::time::sleep(backoff.next());
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = &mut sleep => break,
                        event = outbox.recv() => match event {
                            Some((room, event)) => keep_newest(&mut unsent, room, event),
                            None => return,
                        },
                    }
                }
                continue;
            }
        };
        health.set(&health.publisher_up, true, "publisher", None);
        backoff = Backoff::default();
        loop {
            let mut batch: Vec<(RoomName, Outgoing)> = unsent
                .drain()
                .map(|(room, event)| (room, Outgoing::Event(event)))
                .collect();
            if batch.is_empty() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    event = outbox.recv() => match event {
                        Some(event) => batch.push(event),
                        None => return,
                    },
                }
            }
            while batch.len() < PIPELINE {
                match outbox.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            let mut pipe = redis::pipe();
            for (room, event) in &batch {
                pipe.publish(channels.of(room), payload(node, event))
                    .ignore();
            }
            let sent = tokio::time::timeout(OP_TIMEOUT, pipe.query_async::<()>(&mut conn)).await;
            if !matches!(sent, Ok(Ok(()))) {
                for (room, event) in batch {
                    keep_newest(&mut unsent, room, event);
                }
                health.set(
                    &health.publisher_up,
                    false,
                    "publisher",
                    Some(&"publish failed"),
                );
                break;
            }
        }
    }
}

/// Keeps a stored event if it is the room's newest; ephemeral frames and presence news are dropped
/// (the next heartbeat heals presence).
fn keep_newest(unsent: &mut HashMap<RoomName, Event>, room: RoomName, outgoing: Outgoing) {
    let Outgoing::Event(event) = outgoing else {
        return;
    };
    if event.ephemeral {
        return;
    }
    match unsent.get(&room) {
        Some(kept) if kept.seq >= event.seq => {}
        _ => {
            unsent.insert(room, event);
        }
    }
}
