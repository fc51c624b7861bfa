//! Retention takes a message's reactions, pin and mentions with it: after a run, the pins, the history's
//! aggregates and the mention counts know nothing of what was removed (SQLite and PostgreSQL).

use chatweb::config::Config;
use chatweb::stats::Stats;
use chatweb::storage::{Db, Store};
use serde_json::json;

use super::{PATH, ROOM, acked, said, town, v2};
use crate::engines::{Database, on_both_engines};
use crate::helpers::{PATIENCE, TestApp, spawn_app_with, test_config};
use crate::rooms::api;

on_both_engines!(
    retention_takes_reactions_pins_and_mentions_with_their_message,
    retention_takes_relations_with_their_message_on_sqlite,
    retention_takes_relations_with_their_message_on_postgres
);

/// A day, in the milliseconds the store keeps timestamps in.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Waits until `app` has completed `runs` retention runs.
async fn ran(app: &TestApp, runs: u64) {
    let stats = &app.stats;
    tokio::time::timeout(PATIENCE, async {
        loop {
            let woken = stats.retention_ran.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if Stats::get(&stats.retention_runs) >= runs {
                return;
            }
            woken.await;
        }
    })
    .await
    .expect("a retention run completes in time");
}

/// Makes the rows of [`ROOM`] with ids up to `through` 40 days older.
async fn age(db: &Database, through: i64) {
    let sql = "UPDATE messages SET created_at = created_at - $1 \
               WHERE seq <= $2 AND room_id = (SELECT id FROM rooms WHERE name = $3)";
    let store = Store::connect(&db.url())
        .await
        .expect("the test's database");
    match store.db() {
        Db::Sqlite(pool) => sqlx::query(sql)
            .bind(40 * DAY_MS)
            .bind(through)
            .bind(ROOM)
            .execute(&pool)
            .await
            .map(drop),
        Db::Postgres(pool) => sqlx::query(sql)
            .bind(40 * DAY_MS)
            .bind(through)
            .bind(ROOM)
            .execute(&pool)
            .await
            .map(drop),
    }
    .expect("aged");
    store.close().await;
}

/// How many rows `table` (reactions, pins or mentions) holds for [`ROOM`].
async fn rows(db: &Database, table: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {table} WHERE room_id = (SELECT id FROM rooms WHERE name = $1)"
    ));
    let store = Store::connect(&db.url())
        .await
        .expect("the test's database");
    let count: i64 = match store.db() {
        Db::Sqlite(pool) => sqlx::query_scalar(sql).bind(ROOM).fetch_one(&pool).await,
        Db::Postgres(pool) => sqlx::query_scalar(sql).bind(ROOM).fetch_one(&pool).await,
    }
    .expect("count");
    store.close().await;
    count
}

async fn retention_takes_reactions_pins_and_mentions_with_their_message(db: &Database) {
    let town = town(db).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut bob = v2(&town.bob, PATH).await;
    let old = said(&mut ada, "@carol the old plan", "a1").await;
    acked(
        &mut bob,
        json!({"type": "react", "id": old, "emoji": "👍", "client_id": "b1"}),
    )
    .await;
    acked(
        &mut ada,
        json!({"type": "pin", "id": old, "client_id": "a2"}),
    )
    .await;
    let new = said(&mut ada, "@carol the new plan", "a3").await;
    acked(
        &mut bob,
        json!({"type": "react", "id": new, "emoji": "🚀", "client_id": "b2"}),
    )
    .await;
    acked(
        &mut ada,
        json!({"type": "pin", "id": new, "client_id": "a4"}),
    )
    .await;
    assert_eq!(
        (
            rows(db, "reactions").await,
            rows(db, "pins").await,
            rows(db, "mentions").await
        ),
        (2, 2, 2)
    );
    ada.close().await;
    bob.close().await;
    town.app.stop().await;

    age(db, i64::try_from(new - 1).expect("an id")).await;
    let config = Config {
        retention_days: Some(30),
        ..test_config(db.url())
    };
    let app = spawn_app_with(config).await;
    ran(&app, 1).await;
    assert_eq!(
        (
            rows(db, "reactions").await,
            rows(db, "pins").await,
            rows(db, "mentions").await
        ),
        (1, 1, 1),
        "the old message's reaction, pin and mention went with it"
    );
    let mut carol = town.carol.on(app.addr);
    let (status, pins) = api(
        app.addr,
        &mut carol,
        "GET",
        &format!("/api/rooms/{ROOM}/pins"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{pins}");
    let pinned: Vec<_> = pins["pins"]
        .as_array()
        .expect("pins")
        .iter()
        .map(|p| p["message"]["id"].clone())
        .collect();
    assert_eq!(pinned, [json!(new)], "{pins}");
    let (_, page) = api(
        app.addr,
        &mut carol,
        "GET",
        &format!("/api/rooms/{ROOM}/messages"),
        None,
    )
    .await;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(
        page["messages"][0]["reactions"],
        json!([{"emoji": "🚀", "count": 1, "users": ["bob"]}])
    );
    let (_, list) = api(app.addr, &mut carol, "GET", "/api/rooms/", None).await;
    let room = list["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["name"] == ROOM)
        .expect("listed")
        .clone();
    assert_eq!(room["mentions"], 1, "{room}");
    app.stop().await;
}
