//! A sink whose file cannot take more bytes: it counts only the lines that are in the file,
//! reports the rest as unwritten, leaves no partial line behind, and the run exits non-zero
//! naming it. The limit is the process's file-size limit (`ulimit -f`), chosen so that only
//! `audit.jsonl`, the largest file, reaches it.
#![cfg(unix)]

mod common;

use std::path::Path;

use common::service::Service;
use serde_json::Value;

/// Lines in `path`, and whether the file ends on a complete line.
/// Record lines (`audit.jsonl`'s chain lines are not records), and whether the file ends with
/// a complete line.
fn lines(path: &Path) -> (u64, bool) {
    let bytes = std::fs::read(path).unwrap();
    let count = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"{\"chain\":"))
        .count() as u64;
    (count, bytes.last().is_none_or(|b| *b == b'\n'))
}

#[test]
fn a_sink_that_cannot_write_counts_only_what_is_in_its_file_and_names_itself() {
    let out = tempfile::tempdir().unwrap();
    // 880 × 512 bytes = 440 KiB: past what the audit trail needs for one pass of the default
    // scenario (about 510 KB), short of what the observations need (about 410 KB).
    let finished = Service::new()
        .args(["--transport", "inprocess", "--passes", "1", "--rate", "400"])
        .args(["--out", out.path().to_str().unwrap()])
        .file_size_limit(880)
        .run();
    let summary: Value = finished.summary();
    assert_eq!(finished.code(), Some(1), "{summary}\n{}", finished.stderr);
    assert_eq!(summary["failed_operator"], "audit", "{summary}");
    let n = |key: &str| summary[key].as_u64().unwrap();
    assert!(n("unwritten") > 0, "{summary}");
    assert!(n("lost") > 0, "{summary}");

    // The failing sink counted exactly the lines in its file, and left no partial line.
    let (audit_lines, complete) = lines(&out.path().join("audit.jsonl"));
    assert!(complete, "audit.jsonl ends in a partial line");
    assert_eq!(audit_lines, n("audited"), "{summary}");
    assert!(audit_lines > 0);
    // The file went back to its last complete block: its hash chain is intact.
    let verified = sda_ingest::audit_chain::verify_file(&out.path().join("audit.jsonl"))
        .unwrap_or_else(|e| panic!("the chain of audit.jsonl is broken: {e}"));
    assert_eq!(verified.records, audit_lines);
    let size = std::fs::metadata(out.path().join("audit.jsonl"))
        .unwrap()
        .len();
    assert!(size <= 880 * 512, "{size}");

    // The other sinks were stopped when the run escalated: a write of theirs still in flight
    // may land after they were aborted, so their files may hold more than they counted, never
    // less, and only whole lines.
    for (file, key) in [
        ("observations.jsonl", "delivered"),
        ("dead_letter.jsonl", "dead_lettered"),
        ("alerts.jsonl", "alerts"),
    ] {
        let (count, complete) = lines(&out.path().join(file));
        assert!(complete, "{file} ends in a partial line");
        assert!(count >= n(key), "{file}: {count} lines, {key} {}", n(key));
    }
    assert!(
        finished.stderr.contains("not written"),
        "{}",
        finished.stderr
    );
}
