//! The OpenAPI document describes every route.

use serde_json::json;

use super::ok;
use crate::helpers::{TempDir, spawn_app};

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let document = ok(app.addr, "/api/openapi.json", &[]).await;
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{document}"
    );
    let paths = document["paths"].as_object().expect("paths");
    let mut routes: Vec<_> = paths.keys().map(String::as_str).collect();
    routes.sort_unstable();
    assert_eq!(
        routes,
        [
            "/api/dms/",
            "/api/hooks/incoming/{id}",
            "/api/hooks/outgoing",
            "/api/hooks/outgoing/{id}",
            "/api/hooks/outgoing/{id}/deliveries",
            "/api/openapi.json",
            "/api/push/key",
            "/api/push/subscriptions",
            "/api/rooms/",
            "/api/rooms/{room}",
            "/api/rooms/{room}/files",
            "/api/rooms/{room}/hooks/incoming",
            "/api/rooms/{room}/hooks/outgoing",
            "/api/rooms/{room}/invites",
            "/api/rooms/{room}/members",
            "/api/rooms/{room}/members/{user}",
            "/api/rooms/{room}/messages",
            "/api/rooms/{room}/messages/{id}/thread",
            "/api/rooms/{room}/pins",
            "/api/search"
        ]
    );
    let methods = |path: &str| {
        let mut methods: Vec<String> = paths[path]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        methods.sort_unstable();
        methods
    };
    assert_eq!(methods("/api/rooms/"), ["get", "post"]);
    assert_eq!(
        methods("/api/rooms/{room}/members/{user}"),
        ["delete", "patch"]
    );
    assert_eq!(methods("/api/rooms/{room}/messages"), ["get", "post"]);
    assert_eq!(methods("/api/push/subscriptions"), ["delete", "post"]);
    let messages = &paths["/api/rooms/{room}/messages"]["get"];
    let params: Vec<_> = messages["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default(),
                p["in"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        params,
        [
            ("room", "path"),
            ("before", "query"),
            ("around", "query"),
            ("limit", "query")
        ]
    );
    for status in ["200", "400", "401", "404", "500"] {
        assert!(
            messages["responses"].get(status).is_some(),
            "{status} is documented"
        );
    }
    let schemas = &document["components"]["schemas"];
    for schema in [
        "RoomList",
        "RoomEntry",
        "MessagePage",
        "Message",
        "ErrorBody",
        "ErrorCode",
        "RoomInfo",
        "Member",
        "RoomKind",
        "Role",
    ] {
        assert!(schemas.get(schema).is_some(), "{schema} is described");
    }
    let codes = schemas["ErrorCode"]["enum"].as_array().expect("codes");
    for code in [
        "invalid_room",
        "invalid_parameter",
        "login_required",
        "internal",
    ] {
        assert!(codes.contains(&json!(code)), "{code}");
    }
    app.stop().await;
}
