//! The load generator's own loss, duplicate and order checks, run short: chatweb-bench must keep working
//! (speed is measured by the bench itself, never asserted here).

use serde_json::Value;

fn quick(scenario: &str, extra: &[&str]) -> Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chatweb-bench"))
        .arg(scenario)
        .arg("--quick")
        .args(extra)
        .output()
        .expect("run chatweb-bench");
    assert!(
        output.status.success(),
        "chatweb-bench {scenario} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON line of results")
}

#[test]
fn a_short_fanout_run_loses_duplicates_and_reorders_nothing() {
    for protocol in ["plain", "ours"] {
        let result = quick("fanout", &["--protocol", protocol]);
        let chatweb = &result["chatweb"];
        assert_eq!(chatweb["lost"], 0, "{result}");
        assert_eq!(chatweb["duplicated"], 0, "{result}");
        assert_eq!(chatweb["out_of_order"], 0, "{result}");
        assert_eq!(chatweb["id_not_increasing"], 0, "{result}");
        assert_eq!(chatweb["delivered"], chatweb["expected"], "{result}");
        // A plain client gets no frame of the live room (presence, typing, read marks).
        assert_eq!(chatweb["frames"]["presence"], 0, "{result}");
        assert_eq!(chatweb["frames"]["typing"], 0, "{result}");
        assert_eq!(chatweb["error_frames"], 0, "{result}");
        assert!(
            result["relay"]["delivered"].as_u64().is_some_and(|n| n > 0),
            "{result}"
        );
    }
}

#[test]
fn a_short_store_run_acks_every_message() {
    let result = quick("store", &[]);
    let chatweb = &result["chatweb"];
    assert_eq!(chatweb["acked"], chatweb["expected"], "{result}");
    assert_eq!(chatweb["unanswered"], 0, "{result}");
    assert_eq!(chatweb["errors"], 0, "{result}");
    assert_eq!(chatweb["duplicates"], 0, "{result}");
    // The bench runs chatweb with its limits off, and says so.
    assert_eq!(chatweb["limits"], "off", "{result}");
}

#[test]
fn a_short_conns_run_with_history_gives_every_connection_its_history() {
    let result = quick("conns", &["--history", "5"]);
    let chatweb = &result["chatweb"];
    assert_eq!(chatweb["failed"], 0, "{result}");
    assert_eq!(chatweb["closed_by_server"], 0, "{result}");
    let connected = chatweb["connected"].as_u64().expect("a count");
    assert!(connected > 0, "{result}");
    assert_eq!(chatweb["joined_with_history"], connected, "{result}");
    assert_eq!(chatweb["text_frames_received"], connected * 5, "{result}");
    assert!(chatweb["kb_per_connection"].as_f64().is_some(), "{result}");
    // The relay keeps no history: its connections get nothing on joining.
    assert_eq!(result["relay"]["text_frames_received"], 0, "{result}");
}

#[test]
fn a_short_live_fanout_run_is_signed_in_and_counts_only_messages() {
    let result = quick("fanout", &["--live"]);
    let chatweb = &result["chatweb"];
    assert_eq!(chatweb["lost"], 0, "{result}");
    assert_eq!(chatweb["duplicated"], 0, "{result}");
    assert_eq!(chatweb["delivered"], chatweb["expected"], "{result}");
    // Read frames were sent and accepted: no login_required, a mark stored in every room.
    assert_eq!(chatweb["error_frames"], 0, "{result}");
    let live = &chatweb["live"];
    assert!(
        live["read_sent"].as_u64().is_some_and(|n| n > 0),
        "{result}"
    );
    assert!(
        live["typing_sent"].as_u64().is_some_and(|n| n > 0),
        "{result}"
    );
    assert_eq!(
        live["read_marks_stored"], live["read_marks_checked"],
        "{result}"
    );
    // Every connection was a signed-in chatweb.v2 client: each got its read mark and a presence list.
    let frames = &chatweb["frames"];
    assert!(
        frames["read"].as_u64() >= live["accounts"].as_u64(),
        "{result}"
    );
    assert!(
        frames["presence"].as_u64() >= live["accounts"].as_u64(),
        "{result}"
    );
    assert!(result["relay"].is_null(), "{result}");
}

#[test]
fn a_short_search_run_finds_what_it_wrote_and_cleans_up() {
    let result = quick("search", &[]);
    let chatweb = &result["chatweb"];
    assert_eq!(chatweb["sanity_failures"], 0, "{result}");
    assert_eq!(chatweb["indexing"]["docs"], chatweb["messages"], "{result}");
    assert_eq!(chatweb["queries"], 28, "{result}");
    assert!(result["p95_ms"].as_f64().is_some(), "{result}");
    assert!(result["relay"].is_null(), "{result}");
}
