//! Retention (issue 12) end to end, each on SQLite and on PostgreSQL: messages are written through a real
//! node, aged with SQL on the test's own database, and a node with `--retention-days` removes them in its
//! run at start (awaited through its run counter, never slept for). Old messages go and ids stay; a
//! `chatweb.v2` resume from before the cut gets `truncated` then the kept messages then live, a plain
//! client only the kept messages; the room's own rule in the admin wins over the server's; the history
//! API stops at the cut; the recent cache never shows a removed message.

use chatweb::config::Config;
use chatweb::stats::Stats;
use chatweb::storage::{Db, Store};
use serde_json::{Value, json};

use crate::engines::{Database, on_both_engines};
use crate::helpers::{Client, PATIENCE, TestApp, ids, spawn_app_with, test_config, texts};
use crate::people::{Browser, staff_browser};

/// A day, in the milliseconds the store keeps timestamps in.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

on_both_engines!(
    old_messages_go_and_ids_stay,
    old_messages_go_and_ids_stay_on_sqlite,
    old_messages_go_and_ids_stay_on_postgres
);
on_both_engines!(
    a_resume_from_before_the_cut_gets_truncated_then_the_kept_then_live,
    a_v2_resume_from_before_the_cut_gets_truncated_on_sqlite,
    a_v2_resume_from_before_the_cut_gets_truncated_on_postgres
);
on_both_engines!(
    the_rooms_own_rule_in_the_admin_wins_over_the_server,
    the_rooms_own_rule_wins_on_sqlite,
    the_rooms_own_rule_wins_on_postgres
);
on_both_engines!(
    a_cached_room_never_shows_what_retention_removed,
    the_cache_never_shows_removed_messages_on_sqlite,
    the_cache_never_shows_removed_messages_on_postgres
);

/// A node on `db` whose server rule keeps `days` days (`None`: everything).
fn config(db: &Database, days: Option<u32>) -> Config {
    Config {
        retention_days: days,
        ..test_config(db.url())
    }
}

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

/// Starts a node with `config` and waits for its run at start.
async fn node_after_first_run(config: Config) -> TestApp {
    let app = spawn_app_with(config).await;
    ran(&app, 1).await;
    app
}

/// Runs `sql` with `binds` (integers, then the room name as the last parameter) on the test's database.
async fn execute(db: &Database, sql: &str, binds: &[i64], room: &str) {
    let backend = Store::connect(&db.url())
        .await
        .expect("the test's database");
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match backend.db() {
        Db::Sqlite(pool) => {
            let mut query = sqlx::query(sql);
            for n in binds {
                query = query.bind(*n);
            }
            query.bind(room).execute(&pool).await.expect("sql");
        }
        Db::Postgres(pool) => {
            let mut query = sqlx::query(sql);
            for n in binds {
                query = query.bind(*n);
            }
            query.bind(room).execute(&pool).await.expect("sql");
        }
    }
    backend.close().await;
}

/// Makes the rows of `room` with ids up to `through` look `days` days older.
async fn age(db: &Database, room: &str, through: i64, days: i64) {
    let sql = "UPDATE messages SET created_at = created_at - $1 \
               WHERE seq <= $2 AND room_id = (SELECT id FROM rooms WHERE name = $3)";
    execute(db, sql, &[days * DAY_MS, through], room).await;
}

/// The rows (messages and events) `room` holds in the database.
async fn stored_rows(db: &Database, room: &str) -> i64 {
    let backend = Store::connect(&db.url())
        .await
        .expect("the test's database");
    let sql = "SELECT COUNT(*) FROM messages m JOIN rooms r ON r.id = m.room_id WHERE r.name = $1";
    let count: i64 = match backend.db() {
        Db::Sqlite(pool) => sqlx::query_scalar(sql).bind(room).fetch_one(&pool).await,
        Db::Postgres(pool) => sqlx::query_scalar(sql).bind(room).fetch_one(&pool).await,
    }
    .expect("count");
    backend.close().await;
    count
}

/// Room `r` with messages 1..=5 (`old-*`) older than 30 days and 6..=8 (`new-*`) of today, on a node
/// keeping 30 days that has run once.
async fn cut_room(db: &Database) -> TestApp {
    let writer = spawn_app_with(config(db, None)).await;
    let mut client = writer.join("r").await;
    assert_eq!(client.send_acked("old", 5).await, [1, 2, 3, 4, 5]);
    assert_eq!(client.send_acked("new", 3).await, [6, 7, 8]);
    client.close().await;
    writer.stop().await;
    age(db, "r", 5, 40).await;
    node_after_first_run(config(db, Some(30))).await
}

/// One page of the history API.
async fn history(app: &TestApp, query: &str) -> Value {
    let page = app
        .get(&format!("/api/rooms/r/messages{query}"), None)
        .await;
    assert_eq!(page.status(), 200);
    serde_json::from_str(&page.text().await.expect("a body")).expect("a JSON page")
}

/// The ids of a history page's messages.
fn page_ids(page: &Value) -> Vec<u64> {
    let messages = page["messages"].as_array().expect("messages");
    messages.iter().filter_map(|m| m["id"].as_u64()).collect()
}

async fn old_messages_go_and_ids_stay(db: &Database) {
    let app = cut_room(db).await;
    assert_eq!(stored_rows(db, "r").await, 3, "the five old rows are gone");
    assert_eq!(Stats::get(&app.stats.retention_rows_removed), 5);

    // The history API ends at the first kept id, page by page.
    let newest = history(&app, "").await;
    assert_eq!(page_ids(&newest), [6, 7, 8]);
    assert_eq!(newest["before"], Value::Null, "nothing older is left");
    let first = history(&app, "?limit=2").await;
    assert_eq!(page_ids(&first), [7, 8]);
    assert_eq!(first["before"], 7);
    let last = history(&app, "?limit=2&before=7").await;
    assert_eq!(page_ids(&last), [6]);
    assert_eq!(last["before"], Value::Null);

    // A join shows what is kept; the next message gets the next id, never a removed one.
    let mut client = app.join("r").await;
    let shown = client.messages(3).await;
    assert_eq!(ids(&shown), [6, 7, 8]);
    assert_eq!(texts(&shown), ["new-0", "new-1", "new-2"]);
    client.say("after the cut").await;
    assert_eq!(client.next_message().await["id"], 9);

    // Changing a removed message: the answer for a message that does not exist.
    let member = crate::accounts::member(&app, "ada").await;
    let mut v2 = member.join_v2("/ws/chat/r/").await.expect("v2");
    v2.messages_and_events(4).await;
    v2.send_json(json!({"type": "edit", "id": 2, "message": "again", "client_id": "e1"}))
        .await;
    let answer = v2.next_json().await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["code"], "not_found", "{answer}");
    app.stop().await;
}

async fn a_resume_from_before_the_cut_gets_truncated_then_the_kept_then_live(db: &Database) {
    let app = cut_room(db).await;
    let browser = Browser::new(app.addr);

    let mut v2 = browser.join_v2("/ws/chat/r/?since=2").await.expect("v2");
    let truncated = v2.next_json().await;
    assert_eq!(truncated["type"], "truncated", "{truncated}");
    assert_eq!(truncated["first"], 6, "{truncated}");
    let kept = v2.messages_and_events(3).await;
    assert_eq!(ids(&kept), [6, 7, 8]);
    assert!(kept.iter().all(|m| m["history"] == true));

    // From just before the first kept id nothing is missing: no frame about a cut.
    let mut whole = browser.join_v2("/ws/chat/r/?since=5").await.expect("v2");
    assert_eq!(whole.next_json().await["id"], 6);

    // A plain Channels client gets only what is kept, as message frames (no new frame type).
    let mut plain = app.join_path("/ws/chat/r/?since=2", None).await;
    assert_eq!(ids(&plain.messages(3).await), [6, 7, 8]);

    // Then live, on every one of them.
    let mut sender = app.join("r").await;
    sender.messages(3).await;
    sender.say("live").await;
    for client in [&mut v2, &mut plain] {
        let live = client.next_message().await;
        assert_eq!(
            (live["id"].as_u64(), live["history"].as_bool()),
            (Some(9), Some(false))
        );
    }
    whole.messages_and_events(2).await;
    assert_eq!(whole.next_message().await["id"], 9);
    app.stop().await;
}

/// Sets the retention form of `room` on the admin's room page; returns the page it leads back to.
async fn set_retention(staff: &mut Browser, room: &str, fields: &[(&str, &str)]) -> String {
    let page = staff
        .post(&format!("/admin/rooms/{room}/retention"), fields)
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location.expect("back to the room's page");
    assert!(
        location.starts_with(&format!("/admin/rooms/{room}/?notice=")),
        "{location}"
    );
    staff.get(&location).await.body
}

/// Sends `n` messages to `room` on `app`.
async fn fill(app: &TestApp, room: &str, n: usize) -> Vec<u64> {
    let mut client = app.join(room).await;
    let acked = client.send_acked(room, n).await;
    client.close().await;
    acked
}

async fn the_rooms_own_rule_in_the_admin_wins_over_the_server(db: &Database) {
    let writer = spawn_app_with(config(db, None)).await;
    let mut staff = staff_browser(writer.addr, &db.url(), "boss").await;
    let kept = set_retention(&mut staff, "kept", &[("keep", "forever")]).await;
    assert!(kept.contains("keeps everything"), "{kept}");
    let short = set_retention(&mut staff, "short", &[("keep", "days"), ("days", "1")]).await;
    assert!(short.contains("older than 1 days"), "{short}");
    let refused = staff
        .post(
            "/admin/rooms/short/retention",
            &[("keep", "days"), ("days", "0")],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let audit = staff.get("/admin/audit/").await.body;
    assert_eq!(audit.matches("room.retention").count(), 2, "{audit}");
    assert!(
        audit.contains("keep everything") && audit.contains("1 days"),
        "{audit}"
    );

    for room in ["kept", "short", "usual"] {
        assert_eq!(fill(&writer, room, 2).await, [1, 2]);
    }
    // An event is a row of the sequence too: it goes with the messages.
    let deleted = staff.post("/admin/messages/short/1/delete", &[]).await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    writer.stop().await;
    age(db, "kept", 3, 400).await;
    age(db, "short", 3, 2).await;
    age(db, "usual", 3, 2).await;

    let app = node_after_first_run(config(db, Some(30))).await;
    assert_eq!(stored_rows(db, "kept").await, 2, "keep everything keeps");
    assert_eq!(
        stored_rows(db, "short").await,
        0,
        "one day wins over thirty"
    );
    assert_eq!(
        stored_rows(db, "usual").await,
        2,
        "the server's thirty days"
    );

    // A room with nothing left: a resume hears where its history starts, and ids go on.
    let mut v2 = Browser::new(app.addr)
        .join_v2("/ws/chat/short/?since=0")
        .await
        .expect("v2");
    let truncated = v2.next_json().await;
    assert_eq!(truncated["type"], "truncated", "{truncated}");
    assert_eq!(truncated["first"], 4, "{truncated}");
    assert_eq!(fill(&app, "short", 1).await, [4]);
    assert_eq!(v2.next_message().await["id"], 4);
    // Sessions live in the database: the same browser is signed in on the new node.
    let mut staff = staff.on(app.addr);
    let page = staff.get("/admin/rooms/short/").await.body;
    assert!(page.contains("ids before 4 were removed"), "{page}");
    app.stop().await;
}

async fn a_cached_room_never_shows_what_retention_removed(db: &Database) {
    let app = node_after_first_run(Config {
        retention_interval_secs: 1,
        ..config(db, Some(30))
    })
    .await;
    let mut sender = app.join("r").await;
    assert_eq!(sender.send_acked("m", 3).await, [1, 2, 3]);
    // A join reads the room into the recent cache.
    let mut reader: Client = app.join("r").await;
    assert_eq!(ids(&reader.messages(3).await), [1, 2, 3]);
    reader.close().await;

    age(db, "r", 2, 40).await;
    // A run that started after the aging has completed once two more have.
    let runs = Stats::get(&app.stats.retention_runs);
    ran(&app, runs + 2).await;
    assert_eq!(stored_rows(db, "r").await, 1);
    let mut late = app.join("r").await;
    assert_eq!(ids(&late.messages(1).await), [3]);
    late.say("next").await;
    assert_eq!(
        late.next_message().await["id"],
        4,
        "nothing older came first"
    );
    app.stop().await;
}
