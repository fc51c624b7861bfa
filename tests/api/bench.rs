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
}
