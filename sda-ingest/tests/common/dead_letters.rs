//! Reading `dead_letter.jsonl` and checking the accounting of a run's summary, for the tests
//! that crash and resume the service.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// The JSON of the complete lines of `path` (a process killed mid-write may leave a torn last
/// line, which a resumed run cuts; a missing file has none).
pub(crate) fn complete_lines(path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let complete = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(&bytes[..0], |end| &bytes[..=end]);
    complete
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_slice(line)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)))
        })
        .collect()
}

/// The `dead_letter_id` of every dead letter in `dir`'s `dead_letter.jsonl`, in file order
/// (notice lines have none); every dead letter must have one.
pub(crate) fn ids(dir: &Path) -> Vec<String> {
    complete_lines(&dir.join("dead_letter.jsonl"))
        .into_iter()
        .filter(|line| line["stage"] != "dead_letter_limit")
        .map(|line| {
            line["dead_letter_id"]
                .as_str()
                .unwrap_or_else(|| panic!("a dead letter without its id: {line}"))
                .to_owned()
        })
        .collect()
}

/// The ids of [`ids`], each once; panics naming an id that is in the file twice.
pub(crate) fn unique_ids(dir: &Path) -> BTreeSet<String> {
    let mut unique = BTreeSet::new();
    for id in ids(dir) {
        assert!(unique.insert(id.clone()), "dead letter {id} written twice");
    }
    unique
}

/// A replayable source's dead-letter id, `{source}/replay/{pass}/{index}/{part}`, as its
/// source, pass and index (`None` for another scope).
pub(crate) fn replay_position(id: &str) -> Option<(String, u64, u64)> {
    let mut parts = id.split('/');
    let (source, scope) = (parts.next()?, parts.next()?);
    if scope != "replay" {
        return None;
    }
    let pass = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    Some((source.to_owned(), pass, index))
}

/// Asserts `read = delivered + dead_lettered + duplicates + dropped` for every source of a
/// run's summary.
pub(crate) fn assert_accounting(summary: &Value) {
    let sources = summary["sources"]
        .as_object()
        .unwrap_or_else(|| panic!("no sources in {summary}"));
    for (source, s) in sources {
        let n = |key: &str| {
            s[key]
                .as_u64()
                .unwrap_or_else(|| panic!("{source}: no {key} in {summary}"))
        };
        assert_eq!(
            n("read"),
            n("delivered") + n("dead_lettered") + n("duplicates") + n("dropped"),
            "{source}: {summary}"
        );
    }
}
