//! A restart loses nothing: an operator that fails holding a batch gives it back, so its next
//! incarnation processes it and every source still balances; and an alert is committed only
//! once it has been handed on, so a correlator that fails while sending it sends it again,
//! exactly once.

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

#[test]
fn an_operator_that_fails_holding_a_batch_loses_nothing() {
    for operator in ["normalize", "validate", "dedup", "correlator"] {
        let out = tempfile::tempdir().unwrap();
        let finished = Service::new()
            .args(["--transport", "inprocess", "--passes", "1", "--rate", "400"])
            .args(["--inject-error-once", operator])
            .args(["--out", out.path().to_str().unwrap()])
            .run();
        let summary = finished.summary();
        assert_eq!(
            finished.code(),
            Some(0),
            "{operator}: {summary}\n{}",
            finished.stderr
        );
        assert_eq!(summary["restarts"], 1, "{operator}: {summary}");
        assert_eq!(summary["lost"], 0, "{operator}: {summary}");
        assert_eq!(summary["dropped_items"], 0, "{operator}: {summary}");
        // Everything one pass of the scenario holds, as a run without a restart delivers it.
        assert_eq!(summary["received"], 1038, "{operator}: {summary}");
        assert_eq!(summary["delivered"], 1001, "{operator}: {summary}");
        assert_eq!(summary["audited"], 1001, "{operator}: {summary}");
        for (source, s) in summary["sources"].as_object().unwrap() {
            let n = |k: &str| s[k].as_u64().unwrap();
            assert_eq!(n("frames"), n("frames_decoded"), "{operator}/{source}: {s}");
            assert_eq!(
                n("read"),
                n("delivered") + n("dead_lettered") + n("duplicates") + n("dropped"),
                "{operator}/{source}: {s}"
            );
        }
    }
}
