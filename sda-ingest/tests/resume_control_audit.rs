//! `--resume` continues `control_audit.jsonl` like the other output files: the control actions
//! of the first run are still there after the second, the second run's follow them, and the
//! one hash chain over both verifies.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::service::Service;

const TOKEN: &str = "resume-audit-token";
const LIMIT: Duration = Duration::from_secs(60);

/// Starts the binary over `out`, pauses and resumes `source` through the control plane with the
/// token, and stops it with SIGTERM.
async fn run_with_control(out: &Path, resume: bool, source: &str) {
    let mut service = Service::new()
        .args(["--rate", "10", "--passes", "1000", "--log-format", "json"])
        .args(["--checkpoint-interval", "1"])
        .args(["--out", out.to_str().unwrap()])
        .env("SDA_CONTROL_TOKEN", TOKEN);
    if resume {
        service = service.args(["--resume"]);
    }
    let mut running = service.spawn();
    let event = running.wait_for_event("control plane listening (http)", LIMIT);
    let base = format!("http://{}", event["addr"].as_str().unwrap());
    let http = reqwest::Client::builder().timeout(LIMIT).build().unwrap();
    for action in ["pause", "resume"] {
        let response = http
            .post(format!("{base}/operators/{source}/{action}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{action} {source}");
    }
    let finished = running.terminate();
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr);
}

/// The record lines of a chained file, chain lines left out.
fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("{\"chain\":"))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_continues_the_control_audit_and_its_chain() {
    let out = tempfile::tempdir().unwrap();
    run_with_control(out.path(), false, "radar").await;
    let first = records(&out.path().join("control_audit.jsonl"));
    assert_eq!(first.len(), 2, "{first:?}");

    run_with_control(out.path(), true, "optical").await;
    let both = records(&out.path().join("control_audit.jsonl"));
    assert_eq!(both.len(), 4, "{both:?}");
    assert_eq!(
        both[..2],
        first[..],
        "the first run's records are kept as they were"
    );
    let operators: Vec<&str> = both
        .iter()
        .map(|r| r["operator"].as_str().unwrap())
        .collect();
    assert_eq!(operators, ["radar", "radar", "optical", "optical"]);

    let verified = Service::new()
        .args(["verify-audit", out.path().to_str().unwrap()])
        .run();
    assert_eq!(verified.code(), Some(0), "{}", verified.stdout);
    assert!(
        verified
            .stdout
            .contains("control_audit.jsonl: intact: 4 records"),
        "{}",
        verified.stdout
    );
}
