//! Planning one committed batch, shared by every backend: group the batch by room (in name order, so that
//! nodes writing to the same rooms lock them in the same order), recognise repeated `client_id`s (per
//! owner: another sender's same `client_id` is a message of its own), and hand out sequence numbers after
//! the room's last one; and telling a batch the database refused for what one of its messages holds from
//! one it could not write at all ([`refuses_data`]). The backend does the I/O; this does the arithmetic.

use std::collections::{BTreeMap, HashMap};

use super::{Appended, MessageKind, NewMessage, Outcome, StoreError, StoredMessage};

/// The batch's messages by room name, in name order; each holds indexes into the batch.
pub(super) fn by_room(batch: &[NewMessage]) -> BTreeMap<&str, Vec<usize>> {
    let mut rooms: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, message) in batch.iter().enumerate() {
        rooms.entry(message.room.as_str()).or_default().push(i);
    }
    rooms
}

/// What recognises a repeated send: (owner's `sender_key`, `client_id`).
pub(super) type ClientKey<'a> = (&'a str, &'a str);

/// The message's [`ClientKey`], if it has a `client_id`.
pub(super) fn client_key(message: &NewMessage) -> Option<ClientKey<'_>> {
    let client_id = message.client_id.as_deref()?;
    Some((message.owner.as_str(), client_id))
}

/// The [`ClientKey`]s of the messages at `indexes`.
pub(super) fn client_keys<'a>(batch: &'a [NewMessage], indexes: &[usize]) -> Vec<ClientKey<'a>> {
    indexes
        .iter()
        .filter_map(|&i| client_key(&batch[i]))
        .collect()
}

/// What to write for one room.
pub(super) struct RoomPlan {
    /// The room's last sequence number after the batch.
    pub last_seq: u64,
    /// Each message's outcome, by batch index.
    pub outcomes: Vec<(usize, Outcome)>,
    /// The batch indexes to insert, with their sequence numbers.
    pub inserts: Vec<(usize, u64)>,
}

/// Assigns sequence numbers after `last_seq` to the messages at `indexes`, except those whose
/// [`ClientKey`] is already stored (`stored`) or appears earlier in the batch: those are duplicates. In a
/// `locked` room only duplicates succeed (their original is stored); every new message is refused alone.
pub(super) fn plan_room<'a>(
    batch: &'a [NewMessage],
    indexes: &[usize],
    (mut last_seq, locked): (u64, bool),
    mut stored: HashMap<ClientKey<'a>, StoredMessage>,
    now_ms: i64,
) -> RoomPlan {
    let mut outcomes = Vec::with_capacity(indexes.len());
    let mut inserts = Vec::with_capacity(indexes.len());
    for &i in indexes {
        let message = &batch[i];
        let key = client_key(message);
        if let Some(original) = key.and_then(|key| stored.get(&key)) {
            outcomes.push((
                i,
                Ok(Appended {
                    message: original.clone(),
                    duplicate: true,
                }),
            ));
            continue;
        }
        if locked {
            outcomes.push((i, Err(StoreError::RoomLocked)));
            continue;
        }
        last_seq += 1;
        let appended = StoredMessage {
            seq: last_seq,
            ts_ms: now_ms,
            author: message.author.as_str().to_owned(),
            body: message.body.as_str().to_owned(),
            guest: message.author_id.is_none() && !message.bot,
            kind: MessageKind::Message,
            edited: false,
            reply_to: message.reply_to,
            mentions: message.mentions.names.clone(),
            files: message.files.json.clone(),
            bot: message.bot,
        };
        if let Some(key) = key {
            stored.insert(key, appended.clone());
        }
        inserts.push((i, last_seq));
        outcomes.push((
            i,
            Ok(Appended {
                message: appended,
                duplicate: false,
            }),
        ));
    }
    RoomPlan {
        last_seq,
        outcomes,
        inserts,
    }
}

/// Whether `error` is the database refusing something a message of the batch holds (a constraint, a value
/// it cannot store), rather than failing to write anything (unreachable, busy, full): only such a batch is
/// worth splitting, since the messages it does not hold can still be stored.
/// - PostgreSQL, by SQLSTATE class: `22` data exception (U+0000 in text is `22021`), `23` integrity
///   constraint, `54` program limit exceeded, `P0` raised by a PL/pgSQL trigger.
/// - SQLite, by primary result code: `SQLITE_TOOBIG` (18), `SQLITE_CONSTRAINT` (19, a trigger's `RAISE`
///   included), `SQLITE_MISMATCH` (20).
/// - Either: a value the driver could not encode.
pub(super) fn refuses_data(error: &StoreError) -> bool {
    match error {
        StoreError::Database(error) => refuses(error),
        _ => false,
    }
}

/// What one message alone gets for `error`: [`StoreError::Refused`] when the database refused what it
/// holds (sending it again unchanged fails again), else `error` itself.
pub(super) fn alone(error: StoreError) -> StoreError {
    match error {
        StoreError::Database(error) if refuses(&error) => StoreError::Refused(error),
        error => error,
    }
}

fn refuses(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Encode(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                matches!(code.get(..2), Some("22" | "23" | "54" | "P0"))
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
                || db
                    .try_downcast_ref::<super::sqlite_writer::WriterError>()
                    .is_some()
            {
                code.parse::<i32>()
                    .is_ok_and(|code| matches!(code & 0xff, 18..=20))
            } else {
                false
            }
        }
        _ => false,
    }
}

/// Puts per-room outcomes back in batch order.
pub(super) fn in_batch_order(len: usize, outcomes: Vec<(usize, Outcome)>) -> Vec<Outcome> {
    let mut slots: Vec<Option<Outcome>> = vec![None; len];
    for (i, outcome) in outcomes {
        slots[i] = Some(outcome);
    }
    // Every index was planned exactly once by `plan_room`.
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClientIdOwner, MessageBody, RoomName, Username};

    fn message(room: &str, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            bot: false,
            room: RoomName::parse(room).expect("room"),
            author: Username::anonymous(),
            body: MessageBody::parse("hi", 10).expect("body"),
            client_id: client_id.map(Into::into),
            owner: ClientIdOwner::guest("a"),
            author_id: None,
            reply_to: None,
            mentions: Default::default(),
            files: Default::default(),
        }
    }

    #[test]
    fn rooms_are_planned_in_name_order_with_repeats_recognised() {
        let batch = [
            message("b", Some("x")),
            message("a", None),
            message("b", Some("x")),
            message("b", None),
        ];
        let rooms = by_room(&batch);
        assert_eq!(rooms.keys().copied().collect::<Vec<_>>(), ["a", "b"]);
        let plan = plan_room(&batch, &rooms["b"], (7, false), HashMap::new(), 1);
        assert_eq!(plan.last_seq, 9);
        assert_eq!(plan.inserts, [(0, 8), (3, 9)]);
        let dup = plan
            .outcomes
            .iter()
            .find(|(i, _)| *i == 2)
            .expect("outcome");
        let dup = dup.1.as_ref().expect("stored");
        assert!(dup.duplicate);
        assert_eq!(dup.message.seq, 8);
    }

    #[test]
    fn the_same_client_id_from_two_owners_is_two_messages() {
        let bob = NewMessage {
            owner: ClientIdOwner::guest("b"),
            ..message("r", Some("x"))
        };
        let batch = [
            message("r", Some("x")),
            bob.clone(),
            message("r", Some("x")),
            bob,
        ];
        let rooms = by_room(&batch);
        let plan = plan_room(&batch, &rooms["r"], (0, false), HashMap::new(), 1);
        assert_eq!(plan.inserts, [(0, 1), (1, 2)]);
        let outcomes = in_batch_order(4, plan.outcomes);
        let seen: Vec<_> = outcomes
            .iter()
            .map(|o| o.as_ref().map(|a| (a.message.seq, a.duplicate)).ok())
            .collect();
        assert_eq!(
            seen,
            [
                Some((1, false)),
                Some((2, false)),
                Some((1, true)),
                Some((2, true))
            ]
        );
    }

    #[tokio::test]
    async fn only_a_refusal_of_the_data_is_worth_splitting_a_batch_for() {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("sqlite");
        sqlx::query("CREATE TABLE t (x INTEGER NOT NULL CHECK (x > 0))")
            .execute(&mut db)
            .await
            .expect("table");
        let mut error = async |sql: &'static str| {
            let failed = sqlx::query(sql).execute(&mut db).await;
            StoreError::from(failed.expect_err(sql))
        };
        let check = error("INSERT INTO t VALUES (0)").await;
        assert!(refuses_data(&check), "{check}");
        let not_null = error("INSERT INTO t VALUES (NULL)").await;
        assert!(refuses_data(&not_null), "{not_null}");
        // A broken statement or a database that cannot be reached refuses no message in particular.
        let broken = error("INSERT INTO nowhere VALUES (1)").await;
        assert!(!refuses_data(&broken), "{broken}");
        assert!(!refuses_data(&StoreError::from(sqlx::Error::PoolTimedOut)));
        assert!(!refuses_data(&StoreError::Closed));
        // Alone, the refused message is told so; the others keep their error.
        assert!(matches!(alone(check), StoreError::Refused(_)));
        assert!(matches!(alone(broken), StoreError::Database(_)));
    }

    #[test]
    fn a_locked_room_refuses_new_messages_but_answers_repeats() {
        let batch = [message("r", Some("old")), message("r", None)];
        let rooms = by_room(&batch);
        let original = StoredMessage {
            bot: false,
            seq: 3,
            ts_ms: 0,
            author: "a".into(),
            body: "hi".into(),
            guest: true,
            kind: MessageKind::Message,
            edited: false,
            reply_to: None,
            mentions: String::new(),
            files: String::new(),
        };
        let stored = HashMap::from([(("g:a", "old"), original)]);
        let plan = plan_room(&batch, &rooms["r"], (3, true), stored, 1);
        assert!(plan.inserts.is_empty());
        assert_eq!(plan.last_seq, 3);
        let outcomes = in_batch_order(2, plan.outcomes);
        assert!(outcomes[0].as_ref().is_ok_and(|a| a.duplicate));
        assert!(matches!(outcomes[1], Err(StoreError::RoomLocked)));
    }
}
