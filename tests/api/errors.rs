//! Bad input gets an error frame with a stable code; the connection stays open and nothing is stored.

use serde_json::json;

use crate::helpers::{TempDir, spawn_app};

#[tokio::test]
async fn every_bad_input_gets_its_error_code_and_the_connection_carries_on() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut client = app.join("errors").await;

    let too_long = "x".repeat(4097);
    let cases: Vec<(String, &str)> = vec![
        ("this is not json".into(), "invalid_json"),
        ("[\"message\"]".into(), "invalid_frame"),
        (json!({"text": "hi"}).to_string(), "missing_message"),
        (json!({"message": 42}).to_string(), "missing_message"),
        (json!({"message": null}).to_string(), "missing_message"),
        (json!({"message": ""}).to_string(), "empty_message"),
        (json!({"message": " \n\t "}).to_string(), "empty_message"),
        (
            json!({ "message": too_long }).to_string(),
            "message_too_long",
        ),
        (
            json!({"message": "hi", "client_id": 5}).to_string(),
            "invalid_client_id",
        ),
        (
            json!({"type": "shout", "message": "hi"}).to_string(),
            "unknown_type",
        ),
    ];
    for (frame, code) in &cases {
        client.send_text(frame).await;
        let answer = client.next_json().await;
        assert_eq!(answer["type"], "error", "for {frame}");
        assert_eq!(answer["code"], *code, "for {frame}");
        assert!(answer["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    client.send_binary(b"\x00\x01binary").await;
    let answer = client.next_json().await;
    assert_eq!(answer["code"], "binary_not_supported");

    // The same connection still works, and nothing bad was stored: the first good message is id 1.
    client.say("finally, a good one").await;
    let frame = client.next_message().await;
    assert_eq!(frame["message"], "finally, a good one");
    assert_eq!(frame["id"], 1);
    assert_eq!(
        chatweb::stats::Stats::get(&app.stats.rejected_frames),
        cases.len() as u64 + 1
    );
    app.stop().await;
}

#[tokio::test]
async fn a_message_at_the_limit_is_accepted_and_one_byte_more_is_refused() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut client = app.join("limits").await;
    // 4096 bytes of two-byte characters is exactly the limit.
    client.say(&"é".repeat(2048)).await;
    assert_eq!(client.next_message().await["id"], 1);
    client.say(&format!("{}a", "é".repeat(2048))).await;
    assert_eq!(client.next_json().await["code"], "message_too_long");
    // A message many times the limit still gets an error frame, not a closed socket.
    client.say(&"y".repeat(64 * 1024)).await;
    assert_eq!(client.next_json().await["code"], "message_too_long");
    client.say("still here").await;
    assert_eq!(client.next_message().await["id"], 2);
    app.stop().await;
}
