//! The whole service on a skewed simulator: sensors that deliver out of order and some records
//! far too late. The planted conjunction is still found exactly once, with the alert the
//! ordered run raises; the late records are dead-lettered with reason `late` and counted per
//! source, and every source's records still add up.

mod common;

use std::time::Duration;

use sda_ingest::app::{self, AppConfig, ProgressStyle, TransportMode};
use sda_ingest::config::FileConfig;
use sda_ingest::pipeline::sinks::files;
use sda_ingest_core::SensorKind;
use sda_ingest_core::sim::scenario::{PLANTED_A, PLANTED_B};
use serde_json::Value;

/// Radar, ISL and laser ranging out of order by up to 4 minutes, with a few radar and ISL records
/// half an hour late; every source's bound covers the ordinary delays.
const SKEWED: &str = r#"
[event_time]
out_of_orderness_s = 300.0

[skew.radar]
max_delay_s = 240.0
late_fraction = 0.05
late_delay_s = 1800.0

[skew.isl]
max_delay_s = 200.0
late_fraction = 0.05
late_delay_s = 1800.0

[skew.laser_ranging]
max_delay_s = 240.0
"#;

fn file_config(text: &str) -> FileConfig {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sda-ingest.toml");
    std::fs::write(&path, text).unwrap();
    FileConfig::load(&path).unwrap()
}

async fn run(config_text: &str) -> (tempfile::TempDir, app::Summary) {
    let dir = tempfile::tempdir().unwrap();
    let config = AppConfig {
        out_dir: dir.path().to_owned(),
        // Slow enough that a source sends its stream in many small batches: a record is judged
        // against the watermark of what its source sent before it.
        rate: 20.0,
        passes: Some(1),
        progress: ProgressStyle::Off,
        transport: TransportMode::Inprocess,
        event_time: file_config(config_text).event_time_settings().unwrap(),
        ..AppConfig::default()
    };
    let summary = tokio::time::timeout(
        Duration::from_secs(90),
        app::run(config, std::future::pending()),
    )
    .await
    .expect("one pass finishes by itself")
    .unwrap();
    (dir, summary)
}

/// The alerts of a run, without when they were raised.
fn alerts(dir: &std::path::Path) -> Vec<Value> {
    common::jsonl(&dir.join(files::ALERTS))
        .into_iter()
        .map(|mut a| {
            a.as_object_mut().unwrap().remove("raised_at");
            a
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_run_finds_the_planted_conjunction_once_and_dead_letters_late_records() {
    let (ordered_dir, ordered) = run("").await;
    let (skewed_dir, skewed) = run(SKEWED).await;
    for summary in [&ordered, &skewed] {
        assert!(summary.outcome.is_clean(), "{:?}", summary.outcome);
        assert_eq!(summary.counters.lost, 0);
        for (name, source) in &summary.counters.sources {
            assert!(source.balances(), "{name}: {source:?}");
        }
    }
    assert_eq!(ordered.counters.late, 0);

    // The planted conjunction, once, and the same alert as the ordered run's.
    let found = alerts(skewed_dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["object_a"], PLANTED_A);
    assert_eq!(found[0]["object_b"], PLANTED_B);
    assert_eq!(found, alerts(ordered_dir.path()));

    // Late records: dead-lettered with reason `late`, counted against their sources, and only
    // from the streams given a late delay.
    let c = &skewed.counters;
    assert!(c.late > 0, "{c:?}");
    let letters = common::jsonl(&skewed_dir.path().join(files::DEAD_LETTER));
    let late: Vec<&Value> = letters
        .iter()
        .filter(|l| l["reason_code"] == "late")
        .collect();
    assert_eq!(late.len() as u64, c.late);
    let per_source: u64 = c.sources.values().map(|s| s.late).sum();
    assert_eq!(per_source, c.late);
    for name in c.sources.keys() {
        let expected_late = [SensorKind::Radar, SensorKind::Isl]
            .iter()
            .any(|k| k.as_str() == *name);
        if !expected_late {
            assert_eq!(c.sources[name].late, 0, "{name}");
        }
    }
    for letter in &late {
        assert_eq!(letter["stage"], "validate");
        assert!(letter["observation"]["epoch"].is_f64(), "{letter}");
    }
    // Nothing was lost to the skew: the same records were read, and the valid ones are
    // delivered, duplicates, or late.
    let o = &ordered.counters;
    assert_eq!(c.received, o.received, "the same records were read");
    assert_eq!(
        c.delivered + c.duplicates + c.late,
        o.delivered + o.duplicates
    );
}

#[test]
fn event_time_settings_are_read_and_checked() {
    let settings = file_config(
        r#"
[event_time]
window_s = 30.0
allowed_lateness_s = 0.0
idle_timeout_s = 2.5
out_of_orderness_s = 90.0
out_of_orderness = { radar = 400.0 }

[skew.photometry]
max_delay_s = 10.0
"#,
    )
    .event_time_settings()
    .unwrap();
    assert_eq!(settings.windows.window_s, 30.0);
    assert_eq!(settings.windows.allowed_lateness_s, 0.0);
    assert_eq!(settings.idle_timeout, Duration::from_millis(2_500));
    assert_eq!(
        settings.out_of_orderness_s[SensorKind::Radar.index()],
        400.0
    );
    assert_eq!(settings.out_of_orderness_s[SensorKind::Isl.index()], 90.0);
    assert_eq!(settings.skew[&SensorKind::Photometry].max_delay_s, 10.0);

    for (bad, names) in [
        ("[event_time]\nwindow_s = 0.0", "event_time.window_s"),
        (
            "[event_time]\nallowed_lateness_s = -1.0",
            "event_time.allowed_lateness_s",
        ),
        ("[event_time]\nout_of_orderness = { sonar = 1.0 }", "sonar"),
        ("[skew.radar]\nlate_fraction = 1.5", "skew.late_fraction"),
    ] {
        let error = file_config(bad)
            .event_time_settings()
            .unwrap_err()
            .to_string();
        assert!(error.contains(names), "{bad}: {error}");
    }
}
