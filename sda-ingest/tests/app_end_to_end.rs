//! The whole service in-process on the simulator: one pass of the scenario must come out
//! exactly as `Scenario::expected` says, with every record accounted for — over the default
//! loopback transports (radar over UDP, ISL over TCP, paced so loopback drops nothing) and over
//! the in-process replay.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use sda_ingest::app::{self, AppConfig, ProgressStyle, TransportMode};
use sda_ingest::pipeline::sinks::files;
use sda_ingest_core::sim::scenario::{PLANTED_A, PLANTED_B, Scenario, ScenarioConfig};
use serde_json::Value;

fn read_jsonl(dir: &Path, name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: {e}: {line}")))
        .collect()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{key}` in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pass_of_the_scenario_is_accounted_for_exactly() {
    assert_eq!(AppConfig::default().transport, TransportMode::Loopback);
    one_pass(TransportMode::Loopback).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pass_replayed_in_process_is_accounted_for_exactly() {
    one_pass(TransportMode::Inprocess).await;
}

async fn one_pass(transport: TransportMode) {
    let dir = tempfile::tempdir().unwrap();
    let config = AppConfig {
        out_dir: dir.path().to_owned(),
        rate: 400.0,
        passes: Some(1),
        progress: ProgressStyle::Off,
        transport,
        ..AppConfig::default()
    };
    let run = app::run(config, std::future::pending());
    let summary = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the run must finish by itself after one pass")
        .unwrap();
    let expected = Scenario::generate(&ScenarioConfig::default())
        .unwrap()
        .expected;
    let c = summary.counters.clone();

    // Accounting.
    assert!(summary.outcome.is_clean(), "{:?}", summary.outcome);
    assert_eq!(summary.exit_code(), 0);
    assert_eq!(c.lost, 0);
    assert_eq!(summary.dropped_items, 0);
    assert_eq!(c.received as usize, expected.messages);
    assert_eq!(c.received, c.accepted + c.dead_lettered);
    assert_eq!(c.accepted, c.delivered + c.duplicates);
    assert_eq!(c.received, c.delivered + c.dead_lettered + c.duplicates);
    for (source, s) in &c.sources {
        assert!(s.balances(), "{source}: {s:?}");
    }
    assert_eq!(c.frames, c.frames_decoded, "{c:?}");
    assert_eq!(c.duplicates as usize, expected.duplicates.len());
    assert_eq!(c.delivered as usize, expected.accepted);
    assert_eq!(c.audited, c.delivered);
    assert_eq!(
        c.dead_lettered as usize,
        expected.invalid.len() + expected.decode_errors.len()
    );

    // Observations: every delivered one, once; re-sends gone, originals kept.
    let observations = read_jsonl(dir.path(), files::OBSERVATIONS);
    assert_eq!(observations.len() as u64, c.delivered);
    let ids: BTreeSet<&str> = observations.iter().map(|o| str_of(o, "id")).collect();
    assert_eq!(
        ids.len(),
        observations.len(),
        "delivered ids must be unique"
    );
    for d in &expected.duplicates {
        assert!(
            ids.contains(d.original_id.as_str()),
            "{} missing",
            d.original_id
        );
    }
    for r in &expected.invalid {
        assert!(
            !ids.contains(r.id.as_str()),
            "invalid {} was delivered",
            r.id
        );
    }
    assert!(
        observations
            .iter()
            .all(|o| o["ingest"]["received_at"].is_f64())
    );
    // The audit trail's records (its chain lines aside), and an intact chain.
    let audit = read_jsonl(dir.path(), files::AUDIT);
    let records = audit.iter().filter(|l| l.get("chain").is_none()).count() as u64;
    assert_eq!(records, c.delivered);
    let verified = sda_ingest::audit_chain::verify_file(&dir.path().join(files::AUDIT)).unwrap();
    assert_eq!(verified.records, c.delivered);

    // Dead letters: validation rejections by id and code, decode failures by stream position.
    let letters = read_jsonl(dir.path(), files::DEAD_LETTER);
    let rejected: BTreeSet<(String, String)> = letters
        .iter()
        .filter(|l| str_of(l, "stage") == "validate")
        .map(|l| {
            (
                str_of(l, "id").to_owned(),
                str_of(l, "reason_code").to_owned(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = expected
        .invalid
        .iter()
        .map(|r| (r.id.clone(), r.reason.code().to_owned()))
        .collect();
    assert_eq!(rejected, want);
    let undecodable: BTreeSet<(String, u64, String)> = letters
        .iter()
        .filter(|l| str_of(l, "stage") == "normalize")
        .map(|l| {
            let index = l["index"].as_u64().unwrap();
            (
                str_of(l, "source").to_owned(),
                index,
                str_of(l, "reason_code").to_owned(),
            )
        })
        .collect();
    let want: BTreeSet<(String, u64, String)> = expected
        .decode_errors
        .iter()
        .map(|d| {
            (
                d.source.as_str().to_owned(),
                d.index as u64,
                d.code.to_owned(),
            )
        })
        .collect();
    assert_eq!(undecodable, want);
    assert!(
        letters
            .iter()
            .all(|l| l["raw"].is_string() || l["observation"].is_object())
    );

    // The planted close approach raised exactly one alert, and nothing else did.
    let alerts = read_jsonl(dir.path(), files::ALERTS);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(c.alerts, 1);
    let alert = &alerts[0];
    assert_eq!(alert["object_a"], u64::from(PLANTED_A));
    assert_eq!(alert["object_b"], u64::from(PLANTED_B));
    assert!(alert["miss_distance_km"].as_f64().unwrap() < 1.0);
    let tca = alert["tca"].as_f64().unwrap();
    assert!(
        (tca - expected.conjunction.unwrap().tca).abs() < 1.0,
        "tca {tca}"
    );

    // The correlator saw every delivered observation.
    assert_eq!(c.associated + c.unassociated, c.delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_pass_is_suppressed_as_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let config = AppConfig {
        out_dir: dir.path().to_owned(),
        rate: 400.0,
        passes: Some(2),
        progress: ProgressStyle::Off,
        ..AppConfig::default()
    };
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        app::run(config, std::future::pending()),
    )
    .await
    .unwrap()
    .unwrap();
    let expected = Scenario::generate(&ScenarioConfig::default())
        .unwrap()
        .expected;
    let c = summary.counters.clone();
    assert!(summary.outcome.is_clean());
    assert_eq!(c.lost, 0);
    assert_eq!(c.received as usize, 2 * expected.messages);
    assert_eq!(c.delivered as usize, expected.accepted);
    // The second pass re-sends every record the first one accepted, its re-sends included.
    // Each is a duplicate, except that a re-send whose event-time window has closed while its
    // original was still between `validate` and `dedup` cannot be told from a late record
    // there, and is dead-lettered `late` instead: counted either way, never delivered twice.
    assert_eq!(
        (c.duplicates + c.late) as usize,
        expected.accepted + 2 * expected.duplicates.len()
    );
    assert!(
        c.late <= c.duplicates / 5,
        "most re-sends are duplicates: {} late, {} duplicates",
        c.late,
        c.duplicates
    );
    assert_eq!(c.alerts, 1, "alerts are raised once per pair");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_operator_ends_the_run_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = AppConfig {
        out_dir: dir.path().to_owned(),
        passes: Some(1),
        progress: ProgressStyle::Off,
        inject_panic: Some("dedup".into()),
        ..AppConfig::default()
    };
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        app::run(config, std::future::pending()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!summary.outcome.is_clean());
    assert_eq!(summary.failed_operator.as_deref(), Some("dedup"));
    assert_eq!(summary.exit_code(), 1);
}
