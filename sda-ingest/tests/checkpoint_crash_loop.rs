//! Exactly-once output across crashes: the service on the simulator's replayable sources, with
//! checkpoints, is killed with SIGKILL at 20 seeded random moments and restarted with
//! `--resume` each time; its final `observations.jsonl`, `audit.jsonl`, `alerts.jsonl` and
//! `dead_letter.jsonl` hold exactly the records of one run that never crashed (as sets of
//! record ids, each id once; the alerts exactly, but for when they were raised), and the last
//! run's summary balances per source.
//!
//! The scenario's corrupted messages and invalid records (about twenty, spread over the whole
//! stream, from both `normalize` and `validate`) are dead-lettered as the replay reaches them,
//! so kills land between a dead letter's write and the next checkpoint.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::service::Service;
use serde_json::Value;

/// Crashes before the last, clean run.
const CRASHES: usize = 20;
/// The seed of the crash moments.
const SEED: u64 = 0x5eed_c4a5;

/// The run's flags: the in-process replay (replayable), once through the stream at 4× (the
/// longest stream takes about 3 s), then idle until `--duration` ends the run.
fn service(out: &Path, extra: &[&str]) -> Service {
    Service::new()
        .args(["--transport", "inprocess", "--rate", "4", "--duration", "8"])
        .args(["--log-format", "json", "--out"])
        .args([out])
        .args(extra)
}

/// The ids of the record lines of `file` in `dir` (chain lines have none).
fn ids(dir: &Path, file: &str, key: &str) -> BTreeSet<String> {
    common::jsonl(&dir.join(file))
        .iter()
        .filter_map(|line| line[key].as_str().map(str::to_owned))
        .collect()
}

/// The record lines of `file`, each once, in a stable order.
fn id_list(dir: &Path, file: &str, key: &str) -> Vec<String> {
    common::jsonl(&dir.join(file))
        .iter()
        .filter_map(|line| line[key].as_str().map(str::to_owned))
        .collect()
}

/// The alerts of `dir`, without `raised_at`.
fn alerts(dir: &Path) -> Vec<Value> {
    common::jsonl(&dir.join("alerts.jsonl"))
        .into_iter()
        .map(|mut alert| {
            alert.as_object_mut().map(|a| a.remove("raised_at"));
            alert
        })
        .collect()
}

#[test]
fn twenty_kill_9s_with_resume_write_what_one_clean_run_writes() {
    let reference = tempfile::tempdir().unwrap();
    let clean = service(reference.path(), &[]).run();
    assert_eq!(clean.code(), Some(0), "{}", clean.stderr);

    let crashed = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(SEED);
    for attempt in 0..CRASHES {
        let mut flags = vec!["--checkpoint-interval", "0.2"];
        if attempt > 0 {
            flags.push("--resume");
        }
        let running = service(crashed.path(), &flags).spawn();
        // A moment from start-up to well into the replay.
        std::thread::sleep(Duration::from_millis(rng.u64(150..1_800)));
        running.signal("KILL");
        let killed = running.wait();
        assert_eq!(
            killed.code(),
            None,
            "attempt {attempt} ended before the kill"
        );
    }
    let last = service(
        crashed.path(),
        &["--checkpoint-interval", "0.2", "--resume"],
    )
    .run();
    assert_eq!(last.code(), Some(0), "{}", last.stderr);
    common::dead_letters::assert_accounting(&last.summary());

    let (want, got) = (reference.path(), crashed.path());
    let observations = ids(want, "observations.jsonl", "id");
    assert!(observations.len() > 900, "{}", observations.len());
    assert_eq!(ids(got, "observations.jsonl", "id"), observations);
    // Each written once: the continued files skipped what they already held.
    assert_eq!(
        id_list(got, "observations.jsonl", "id").len(),
        observations.len()
    );
    let audited = ids(want, "audit.jsonl", "id");
    assert_eq!(ids(got, "audit.jsonl", "id"), audited);
    assert_eq!(id_list(got, "audit.jsonl", "id").len(), audited.len());
    // Dead letters: the same inputs, each dead-lettered once.
    let letters = common::dead_letters::unique_ids(want);
    assert!(
        letters.len() >= 10,
        "the scenario dead-letters: {letters:?}"
    );
    assert_eq!(common::dead_letters::unique_ids(got), letters);
    let expected_alerts = alerts(want);
    assert_eq!(expected_alerts.len(), 1, "{expected_alerts:?}");
    assert_eq!(alerts(got), expected_alerts);
    // The chained audit file is intact after twenty torn tails.
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_sda-ingest"))
        .args(["verify-audit"])
        .arg(got)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
