//! `sda-ingest verify-audit DIR` on the files of a real run: an untouched folder verifies, and
//! one edited byte, one deleted line, two swapped lines and a truncated tail are each found and
//! named by line. The record lines of `audit.jsonl` (chain lines aside) are the `audited` count.
#![cfg(unix)]

mod common;

use std::path::Path;

use common::service::{Finished, Service};

/// One run of the default scenario, in-process, into a fresh folder.
fn run() -> (tempfile::TempDir, Finished) {
    let out = tempfile::tempdir().unwrap();
    let finished = Service::new()
        .args(["--transport", "inprocess", "--passes", "1", "--rate", "40"])
        .args([
            "--log-format",
            "json",
            "--out",
            out.path().to_str().unwrap(),
        ])
        .run();
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr);
    (out, finished)
}

fn verify(dir: &Path) -> (Option<i32>, String) {
    let finished = Service::new()
        .args(["verify-audit", dir.to_str().unwrap()])
        .run();
    (finished.code(), finished.stdout)
}

/// A copy of `dir`'s chained files in a new folder, with `audit.jsonl`'s lines changed by
/// `tamper`.
fn tampered(dir: &Path, tamper: impl FnOnce(&mut Vec<Vec<u8>>)) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for name in ["audit.jsonl", "control_audit.jsonl"] {
        std::fs::copy(dir.join(name), copy.path().join(name)).unwrap();
    }
    let bytes = std::fs::read(dir.join("audit.jsonl")).unwrap();
    let mut lines: Vec<Vec<u8>> = bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    tamper(&mut lines);
    std::fs::write(copy.path().join("audit.jsonl"), lines.concat()).unwrap();
    copy
}

fn is_chain(line: &[u8]) -> bool {
    line.starts_with(b"{\"chain\":")
}

/// The index of the first record line of a block of at least two records.
fn block_of_two(lines: &[Vec<u8>]) -> usize {
    (0..lines.len() - 2)
        .find(|&i| !is_chain(&lines[i]) && !is_chain(&lines[i + 1]))
        .expect("a block of two records")
}

#[test]
fn verify_audit_passes_an_untouched_run_and_names_each_kind_of_tampering() {
    let (out, finished) = run();
    let dir = out.path();
    let summary = finished.summary();
    let bytes = std::fs::read(dir.join("audit.jsonl")).unwrap();
    let records = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && !is_chain(l))
        .count() as u64;
    assert_eq!(records, summary["audited"].as_u64().unwrap());
    assert!(records > 100);
    assert!(finished.stderr.contains("\"message\":\"audit chain head\""));

    let (code, report) = verify(dir);
    assert_eq!(code, Some(0), "{report}");
    assert!(
        report.contains(&format!("audit.jsonl: intact: {records} records")),
        "{report}"
    );
    assert!(
        report.contains("control_audit.jsonl: intact: 0 records"),
        "{report}"
    );

    // One edited byte in a record: named by its line.
    let edited = tampered(dir, |lines| {
        let i = block_of_two(lines) + 1;
        let at = lines[i].iter().position(|b| b.is_ascii_digit()).unwrap();
        lines[i][at] = if lines[i][at] == b'9' {
            b'8'
        } else {
            lines[i][at] + 1
        };
    });
    let line = block_of_two(&lines_of(dir)) + 2;
    let (code, report) = verify(edited.path());
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains(&format!("audit.jsonl: line {line}: edited")),
        "{report}"
    );

    // One deleted line.
    let deleted = tampered(dir, |lines| {
        let i = block_of_two(lines);
        lines.remove(i);
    });
    let line = block_of_two(&lines_of(dir)) + 1;
    let (code, report) = verify(deleted.path());
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains(&format!("audit.jsonl: line {line}: a line is missing")),
        "{report}"
    );

    // Two swapped lines.
    let swapped = tampered(dir, |lines| {
        let i = block_of_two(lines);
        lines.swap(i, i + 1);
    });
    let (code, report) = verify(swapped.path());
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains(&format!("audit.jsonl: line {line}: out of order")),
        "{report}"
    );

    // A truncated tail: the file cut in the middle of its last line.
    let truncated = tampered(dir, |lines| {
        let last = lines.last_mut().unwrap();
        last.truncate(last.len() / 2);
    });
    let line = lines_of(dir).len();
    let (code, report) = verify(truncated.path());
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains(&format!("audit.jsonl: line {line}: truncated")),
        "{report}"
    );
    assert!(report.contains("control_audit.jsonl: intact"), "{report}");

    // Not a folder: a usage error.
    let (code, _) = verify(&dir.join("audit.jsonl"));
    assert_eq!(code, Some(2));
}

fn lines_of(dir: &Path) -> Vec<Vec<u8>> {
    std::fs::read(dir.join("audit.jsonl"))
        .unwrap()
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}
