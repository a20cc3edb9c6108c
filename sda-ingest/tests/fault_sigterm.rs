//! SIGTERM under load: with all eight sources streaming over their real transports (radar UDP,
//! ISL TCP, optical HTTP, five in-process), SIGTERM makes the binary drain and exit 0 within
//! the drain deadline, and the summary's accounting is exact and matches the output files.
#![cfg(unix)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn lines(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path).unwrap().lines().count() as u64
}

#[test]
fn sigterm_under_load_drains_and_exits_zero_with_exact_accounting() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sda-ingest"))
        // 1,000 records/s per source, replayed far longer than the test runs.
        .args([
            "--rate",
            "40",
            "--passes",
            "1000",
            "--progress-interval",
            "0.5",
        ])
        .args([
            "--log-format",
            "human",
            "--out",
            dir.path().to_str().unwrap(),
        ])
        .args(["--control-addr", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait for progress lines showing records delivered from a busy pipeline.
    let rx = common::stderr_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut busy_lines = 0;
    while busy_lines < 4 {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("progress lines while the pipeline runs");
        if line.contains("obs/s") && !line.contains("delivered 0 ") {
            busy_lines += 1;
        }
    }

    let signalled = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let drained_in = signalled.elapsed();
    let log: Vec<String> = rx.try_iter().collect();

    assert_eq!(output.status.code(), Some(0), "log:\n{}", log.join("\n"));
    // The default drain deadline is 10 s; the drain must finish inside it.
    assert!(
        drained_in < Duration::from_secs(10),
        "drain took {drained_in:?}"
    );
    assert!(log.iter().any(|l| l.contains("stop signal")), "{log:?}");

    let stdout = String::from_utf8(output.stdout).unwrap();
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
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
