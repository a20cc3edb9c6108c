//! The built binary: exit codes, the JSON summary on stdout, and the output files.

mod common;

use common::service::{Finished, Service};
use serde_json::Value;

fn run(args: &[&str]) -> (Finished, Value) {
    let finished = Service::new().args(args).run();
    let summary = finished.summary();
    (finished, summary)
}

#[test]
fn a_timed_run_exits_zero_with_a_clean_summary_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (output, summary) = run(&[
        "--duration",
        "3",
        "--rate",
        "4",
        "--progress-interval",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = &output.stderr;
    assert_eq!(output.code(), Some(0), "stderr:\n{stderr}");
    // A run that ends by itself leaves none of the service's tasks behind (the signal listener
    // included): the exit has nothing to wait for and nothing to warn about.
    assert!(
        !stderr.contains("tasks still running at exit"),
        "stderr:\n{stderr}"
    );
    assert_eq!(summary["outcome"]["outcome"], "clean_shutdown");
    assert_eq!(summary["lost"], 0);
    assert!(summary["delivered"].as_u64().unwrap() > 0, "{summary}");
    for key in [
        "accepted",
        "dead_lettered",
        "duplicates",
        "alerts",
        "restarts",
        "elapsed_s",
    ] {
        assert!(summary[key].is_number(), "summary lacks {key}: {summary}");
    }
    // stderr is a pipe here, so logs and progress are JSON lines: the service's default.
    let events: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "progress" && e["obs_per_s"].is_number()),
        "no progress event:\n{stderr}"
    );
    for name in [
        "observations.jsonl",
        "audit.jsonl",
        "alerts.jsonl",
        "dead_letter.jsonl",
    ] {
        assert!(out.join(name).is_file(), "{name} missing");
    }
    let delivered = std::fs::read_to_string(out.join("observations.jsonl")).unwrap();
    assert_eq!(
        delivered.lines().count() as u64,
        summary["delivered"].as_u64().unwrap()
    );
}

#[test]
fn an_injected_panic_exits_non_zero_naming_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let (output, summary) = run(&[
        "--duration",
        "20",
        "--inject-panic",
        "validate",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(output.code(), Some(1));
    assert_eq!(summary["outcome"]["outcome"], "panicked");
    assert_eq!(summary["outcome"]["operator"], "validate");
    assert_eq!(summary["failed_operator"], "validate");
    let stderr = &output.stderr;
    assert!(stderr.contains("validate"), "{stderr}");
}

#[test]
fn a_bad_flag_value_is_refused() {
    let output = Service::new().args(["--rate", "0"]).run();
    assert_eq!(output.code(), Some(2));
    assert!(output.stderr.contains("--rate"));
}

#[test]
fn a_config_file_sets_the_run_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("from-file");
    let config = dir.path().join("sda.toml");
    let text = format!(
        "out = {:?}\nrate = 400.0\npasses = 3\nlog_format = \"json\"\n\n[correlator]\nthreshold_km = 1.0\n",
        out.to_str().unwrap()
    );
    std::fs::write(&config, text).unwrap();
    // The flag overrides the file's three passes; the run finishes by itself after one.
    let (output, summary) = run(&["--config", config.to_str().unwrap(), "--passes", "1"]);
    assert_eq!(output.code(), Some(0));
    assert_eq!(summary["received"], 1038, "{summary}");
    assert_eq!(summary["alerts"], 1);
    assert!(out.join("observations.jsonl").is_file());
    let stderr = &output.stderr;
    let first = stderr.lines().next().unwrap();
    assert!(
        serde_json::from_str::<Value>(first).is_ok(),
        "not JSON: {first}"
    );
}

#[test]
fn an_unknown_config_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "rtae = 2.0\n").unwrap();
    let output = Service::new()
        .args(["--config", config.to_str().unwrap()])
        .run();
    assert_eq!(output.code(), Some(2));
    assert!(output.stderr.contains("rtae"));
}

#[test]
fn a_rate_limit_in_the_config_file_throttles_its_source_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("limited");
    let config = dir.path().join("sda.toml");
    // Fast enough not to slow the test: the point is that the limit is in force and loses
    // nothing.
    let text = format!(
        "out = {:?}\npasses = 1\nrate = 100.0\n\n[rate_limit]\nphotometry = {{ per_second = 100000, burst = 500 }}\n",
        out.to_str().unwrap()
    );
    std::fs::write(&config, text).unwrap();
    let (output, summary) = run(&["--config", config.to_str().unwrap()]);
    let stderr = &output.stderr;
    assert_eq!(output.code(), Some(0), "stderr:\n{stderr}");
    let limit = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["message"] == "rate limit")
        .unwrap_or_else(|| panic!("no rate limit logged:\n{stderr}"));
    assert_eq!(limit["source"], "photometry");
    assert_eq!(limit["per_second"], 100_000);
    assert_eq!(limit["burst"], 500);
    assert_eq!(summary["lost"], 0);
    assert_eq!(summary["received"], 1038, "{summary}");
}

#[test]
fn a_bad_rate_limit_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    for (text, named) in [
        ("[rate_limit]\nradr = { per_second = 5 }\n", "radr"),
        ("[rate_limit]\nradar = { per_second = 0 }\n", "radar"),
        (
            "[rate_limit]\nradar = { per_second = 5, brust = 9 }\n",
            "brust",
        ),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        let output = Service::new()
            .args(["--config", config.to_str().unwrap()])
            .run();
        assert_eq!(output.code(), Some(2), "{text}");
        assert!(output.stderr.contains(named), "{text}: {}", output.stderr);
    }
}
