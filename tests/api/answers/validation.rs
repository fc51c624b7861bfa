//! U+0000 in a message, an edit or a `client_id` is refused at validation with its own code
//! (`invalid_character`), on SQLite and PostgreSQL: nothing is stored and the ids stay gap-free.

use super::{Db, stored};
use crate::helpers::{spawn_app_with, texts};

/// U+0000 in a message, an edit or a `client_id` is refused with `invalid_character` (naming the
/// `client_id` when it is itself valid), nothing is stored, and the next message gets the next id.
async fn nul_is_refused_at_validation(db: Db) {
    let app = spawn_app_with(db.config()).await;
    let mut client = app.join("nul").await;
    assert_eq!(client.send_acked("before", 1).await, [1]);

    client
        .send_text(r#"{"message": "a\u0000b", "client_id": "with-nul"}"#)
        .await;
    let error = client.next_answer().await;
    assert_eq!(
        (error["code"].as_str(), error["client_id"].as_str()),
        (Some("invalid_character"), Some("with-nul")),
        "{error}"
    );
    client
        .send_text(r#"{"message": "fine", "client_id": "bad\u0000id"}"#)
        .await;
    let error = client.next_answer().await;
    assert_eq!(error["code"], "invalid_character", "{error}");
    assert!(error.get("client_id").is_none(), "{error}");
    client
        .send_text(r#"{"type": "edit", "id": 1, "message": "\u0000", "client_id": "edit"}"#)
        .await;
    let error = client.next_answer().await;
    assert_eq!(
        (error["code"].as_str(), error["client_id"].as_str()),
        (Some("invalid_character"), Some("edit")),
        "{error}"
    );

    assert_eq!(client.send_acked("after", 1).await, [2], "the next id");
    let frames = stored(&app, "nul", 2).await;
    assert_eq!(texts(&frames), ["before-0", "after-0"]);
    client.close().await;
    app.stop().await;
    db.done().await;
}

#[tokio::test]
async fn nul_is_refused_with_its_own_code_on_sqlite() {
    nul_is_refused_at_validation(Db::sqlite()).await;
}

#[tokio::test]
async fn nul_is_refused_with_its_own_code_on_postgres() {
    if let Some(db) = Db::postgres("nul_refused").await {
        nul_is_refused_at_validation(db).await;
    }
}
