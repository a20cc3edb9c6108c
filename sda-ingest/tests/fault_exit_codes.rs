//! Faults in each kind of operator end the binary with a non-zero exit that names the operator:
//! a panic in a source, an operator or a sink surfaces as `panicked`, and an operator that keeps
//! failing surfaces as `budget_exhausted` once its restart budget is spent.

mod common;

use common::service::Service;
use serde_json::Value;

/// Runs the binary with `args` on the in-process simulator; returns the exit code, the summary
/// and stderr.
fn run(args: &[&str]) -> (Option<i32>, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Service::new()
        .args([
            "--transport",
            "inprocess",
            "--duration",
            "30",
            "--rate",
            "40",
        ])
        .args(["--out", dir.path().to_str().unwrap()])
        .args(args)
        .run();
    let summary = output.summary();
    (output.code(), summary, output.stderr)
}

fn assert_panicked(operator: &str) {
    let (code, summary, stderr) = run(&["--inject-panic", operator]);
    assert_eq!(code, Some(1), "{summary}\n{stderr}");
    assert_eq!(summary["outcome"]["outcome"], "panicked", "{summary}");
    assert_eq!(summary["outcome"]["operator"], operator);
    assert_eq!(summary["failed_operator"], operator);
    assert!(
        stderr.contains(&format!("injected panic in {operator}")),
        "the panic message is logged:\n{stderr}"
    );
}

#[test]
fn a_panic_in_a_source_exits_non_zero_naming_it() {
    assert_panicked("radar");
}

#[test]
fn a_panic_in_an_operator_exits_non_zero_naming_it() {
    assert_panicked("dedup");
}

#[test]
fn a_panic_in_a_sink_exits_non_zero_naming_it() {
    assert_panicked("audit");
}

#[test]
fn an_operator_that_keeps_failing_spends_its_budget_and_exits_non_zero() {
    // `normalize` may restart 5 times a minute; the sixth failure escalates.
    let (code, summary, stderr) = run(&["--inject-error", "normalize"]);
    assert_eq!(code, Some(1), "{summary}\n{stderr}");
    assert_eq!(
        summary["outcome"]["outcome"], "budget_exhausted",
        "{summary}"
    );
    assert_eq!(summary["outcome"]["operator"], "normalize");
    assert_eq!(summary["restarts"], 5, "{summary}");
    assert!(stderr.contains("injected error in normalize"), "{stderr}");
}

#[test]
fn a_failing_integrity_sink_escalates_at_once() {
    // Sinks are `Never`: the first failure is the last.
    let (code, summary, _) = run(&["--inject-error", "dead_letter"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        summary["outcome"]["outcome"], "budget_exhausted",
        "{summary}"
    );
    assert_eq!(summary["outcome"]["operator"], "dead_letter");
    assert_eq!(summary["restarts"], 0);
}
