//! An alert is committed only once it has been handed on: a correlator that fails while sending
//! its alert is restarted, and the alert still reaches `alerts.jsonl`, exactly once.

mod common;

use common::service::Service;
use sda_ingest_core::sim::scenario::{PLANTED_A, PLANTED_B};

#[test]
fn an_alert_whose_send_fails_is_sent_again_after_the_restart() {
    let out = tempfile::tempdir().unwrap();
    let finished = Service::new()
        .args(["--transport", "inprocess", "--passes", "1", "--rate", "400"])
        .args(["--inject-error-once", "correlator:alert"])
        .args(["--out", out.path().to_str().unwrap()])
        .run();
    let summary = finished.summary();
    assert_eq!(finished.code(), Some(0), "{summary}\n{}", finished.stderr);
    assert_eq!(summary["restarts"], 1, "{summary}");
    assert!(
        finished
            .stderr
            .contains("injected one-time error at correlator:alert"),
        "{}",
        finished.stderr
    );
    let alerts = std::fs::read_to_string(out.path().join("alerts.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = alerts
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{alerts}");
    assert_eq!(lines[0]["object_a"], PLANTED_A);
    assert_eq!(lines[0]["object_b"], PLANTED_B);
    assert_eq!(summary["alerts"], 1);
}
