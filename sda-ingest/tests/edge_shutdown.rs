//! Stopping always ends, with a summary: a control-plane client that never finishes its request
//! does not keep SIGTERM from completing, and a SIGTERM during start-up (a large scenario takes
//! seconds to generate) ends the run cleanly instead of killing it.
#![cfg(unix)]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::service::Service;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_slow_http_client_does_not_keep_sigterm_from_finishing() {
    let out = tempfile::tempdir().unwrap();
    let mut running = Service::new()
        .args([
            "--transport",
            "inprocess",
            "--rate",
            "10",
            "--passes",
            "1000",
        ])
        .args([
            "--log-format",
            "json",
            "--out",
            out.path().to_str().unwrap(),
        ])
        .spawn();
    let event = running.wait_for_event("control plane listening (http)", LIMIT);
    let addr = event["addr"].as_str().unwrap().to_owned();
    // Headers without the blank line that ends them, and then nothing.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();

    let signalled = Instant::now();
    let finished = running.terminate();
    let took = signalled.elapsed();

    assert_eq!(finished.code(), Some(0), "{}", finished.stderr);
    let summary = finished.summary();
    assert_eq!(summary["outcome"]["outcome"], "clean_shutdown", "{summary}");
    assert_eq!(summary["lost"], 0, "{summary}");
    // The drain plus the control plane's bounded stop: a few seconds, not forever.
    assert!(took < Duration::from_secs(20), "stopping took {took:?}");
    drop(slow);
}

#[test]
fn sigterm_during_start_up_ends_cleanly_with_a_summary() {
    let out = tempfile::tempdir().unwrap();
    // One sweep every 50 ms: about a million records, seconds of generation.
    let mut running = Service::new()
        .args(["--cadence", "0.05", "--log-format", "json"])
        .args(["--out", out.path().to_str().unwrap()])
        .spawn();
    running.wait_for_event("starting", LIMIT);
    let signalled = Instant::now();
    let finished = running.terminate();
    let took = signalled.elapsed();

    assert_eq!(finished.code(), Some(0), "{}", finished.stderr);
    let summary = finished.summary();
    assert_eq!(summary["outcome"]["outcome"], "clean_shutdown", "{summary}");
    assert_eq!(summary["received"], 0, "{summary}");
    assert!(
        finished.stderr.contains("stop signal during start-up"),
        "{}",
        finished.stderr
    );
    assert!(took < Duration::from_secs(20), "stopping took {took:?}");
}
