//! SIGTERM under load: with all eight sources streaming over their real transports (radar UDP,
//! ISL TCP, optical HTTP, five in-process), SIGTERM makes the binary drain and exit 0 within
//! the drain deadline, and the summary's accounting is exact and matches the output files.
#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use common::service::Service;
use serde_json::Value;

/// Record lines: `audit.jsonl`'s chain lines are not records.
fn lines(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("{\"chain\":"))
        .count() as u64
}

#[test]
fn sigterm_under_load_drains_and_exits_zero_with_exact_accounting() {
    let dir = tempfile::tempdir().unwrap();
    // 1,000 records/s per source, replayed far longer than the test runs.
    let mut running = Service::new()
        .args([
            "--rate",
            "40",
            "--passes",
            "1000",
            "--progress-interval",
            "0.5",
            "--log-format",
            "human",
            "--out",
            dir.path().to_str().unwrap(),
        ])
        .spawn();

    // Wait for progress lines showing records delivered from a busy pipeline.
    for _ in 0..4 {
        running.wait_for_line("of progress", Duration::from_secs(60), |line| {
            line.contains("obs/s") && !line.contains("delivered 0 ")
        });
    }

    let signalled = Instant::now();
    let output = running.terminate();
    let drained_in = signalled.elapsed();

    assert_eq!(output.code(), Some(0), "log:\n{}", output.stderr);
    // The default drain deadline is 10 s; the drain must finish inside it.
    assert!(
        drained_in < Duration::from_secs(10),
        "drain took {drained_in:?}"
    );
    assert!(output.stderr.contains("stop signal"), "{}", output.stderr);

    let summary: Value = output.summary();
    assert_eq!(summary["outcome"]["outcome"], "clean_shutdown", "{summary}");
    let n = |key: &str| summary[key].as_u64().unwrap();
    // Replays after the first re-send the same records, which dedup removes as duplicates.
    assert!(n("accepted") > 1_000 && n("delivered") > 0, "{summary}");
    assert_eq!(n("lost"), 0, "{summary}");
    assert_eq!(n("dropped_items"), 0, "{summary}");
    assert_eq!(n("restarts"), 0, "{summary}");
    assert_eq!(n("accepted"), n("delivered") + n("duplicates"), "{summary}");
    assert_eq!(
        n("received"),
        n("delivered") + n("dead_lettered") + n("duplicates"),
        "{summary}"
    );
    // The files agree with the summary: every delivered record was written and audited.
    assert_eq!(
        lines(&dir.path().join("observations.jsonl")),
        n("delivered")
    );
    assert_eq!(lines(&dir.path().join("audit.jsonl")), n("delivered"));
    assert_eq!(
        lines(&dir.path().join("dead_letter.jsonl")),
        n("dead_lettered")
    );
}
