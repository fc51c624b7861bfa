//! The handshake: like Channels' AllowedHostsOriginValidator, foreign or missing origins get 403; invalid
//! room names and `since` values are refused with a clear status.

use crate::helpers::{TempDir, spawn_app, spawn_app_with, test_config};

#[tokio::test]
async fn a_missing_or_foreign_origin_is_refused_with_403() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let path = "/ws/chat/lobby/";
    assert_eq!(app.handshake(path, None, None).await.err(), Some(403));
    for origin in [
        "http://evil.example",
        "null",
        "http://localhost.evil.example",
        "file://x",
    ] {
        assert_eq!(
            app.handshake(path, Some(origin), None).await.err(),
            Some(403),
            "{origin}"
        );
    }
    for origin in [
        "http://localhost:8000",
        "http://127.0.0.1",
        "https://[::1]:9",
    ] {
        assert!(
            app.handshake(path, Some(origin), None).await.is_ok(),
            "{origin}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn configured_hosts_are_allowed_as_origins() {
    let dir = TempDir::new();
    let config = chatweb::config::Config {
        allowed_hosts: vec!["chat.example.org".into(), ".example.net".into()],
        ..test_config(dir.sqlite_url())
    };
    let app = spawn_app_with(config).await;
    let path = "/ws/chat/lobby/";
    for origin in [
        "https://chat.example.org",
        "https://a.example.net",
        "http://example.net:81",
    ] {
        assert!(
            app.handshake(path, Some(origin), None).await.is_ok(),
            "{origin}"
        );
    }
    assert_eq!(
        app.handshake(path, Some("https://example.org"), None)
            .await
            .err(),
        Some(403)
    );
    app.stop().await;
}

#[tokio::test]
async fn invalid_room_names_and_since_values_are_refused() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let origin = app.origin();
    let long = "x".repeat(65);
    for room in [
        "a%20b",
        "%3Cscript%3E",
        "a%2Fb",
        long.as_str(),
        "semi%3Bcolon",
    ] {
        let path = format!("/ws/chat/{room}/");
        assert_eq!(
            app.handshake(&path, Some(&origin), None).await.err(),
            Some(404),
            "{room}"
        );
    }
    for since in ["-1", "abc", "1.5"] {
        let path = format!("/ws/chat/ok/?since={since}");
        assert_eq!(
            app.handshake(&path, Some(&origin), None).await.err(),
            Some(400),
            "{since}"
        );
    }
    let ok = format!("/ws/chat/{}/", "%C3%A9".repeat(64));
    assert!(app.handshake(&ok, Some(&origin), None).await.is_ok());
    app.stop().await;
}
