//! A page holds 50 messages by default and never more than 200.

use serde_json::Value;

use super::{ok, page_ids};
use crate::helpers::{TempDir, spawn_app};

#[tokio::test]
async fn a_page_holds_50_by_default_and_never_more_than_200() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut client = app.join("busy").await;
    let ids = client.send_acked("m", 205).await;
    assert_eq!(ids, (1..=205).collect::<Vec<_>>());

    let default = ok(app.addr, "/api/rooms/busy/messages", &[]).await;
    assert_eq!(page_ids(&default), (156..=205).collect::<Vec<_>>());
    assert_eq!(default["before"], 156);
    for limit in [200, 201, 1000, i32::MAX as u64] {
        let page = ok(
            app.addr,
            &format!("/api/rooms/busy/messages?limit={limit}"),
            &[],
        )
        .await;
        assert_eq!(
            page_ids(&page),
            (6..=205).collect::<Vec<_>>(),
            "limit={limit}"
        );
        assert_eq!(page["before"], 6, "limit={limit}");
    }
    let rest = ok(app.addr, "/api/rooms/busy/messages?before=6&limit=200", &[]).await;
    assert_eq!(
        (page_ids(&rest), rest["before"].clone()),
        ((1..=5).collect(), Value::Null)
    );
    let one = ok(
        app.addr,
        "/api/rooms/busy/messages?limit=1&before=9223372036854775807",
        &[],
    )
    .await;
    assert_eq!(
        (page_ids(&one), one["before"].as_u64()),
        (vec![205], Some(205))
    );
    app.stop().await;
}
