//! Continuing an output file that a previous run wrote, instead of replacing it.
//!
//! A sink opened with [`Existing::Continue`] first reads its file:
//!
//! * **A torn tail is cut off.** A run killed mid-write may leave a last line without its
//!   newline; a chained file (see [`crate::audit_chain`]) may also end with record lines that
//!   no chain line seals yet. Those bytes were never confirmed written (no flush, no checkpoint
//!   commit covered them), so the file is truncated back to its last complete line (plain) or
//!   its last intact block (chained), and the records are written again when they come again.
//! * **The ids already written are remembered.** Every record line's id (the JSON key the
//!   sink's spec names: `id` for observations and audit records, `alert_id` for alerts,
//!   `dead_letter_id` for dead letters, see [`crate::pipeline::origin`]) goes into a set; an
//!   item whose id is in the set is skipped, not written, and counted as skipped (see
//!   [`Fate::Skipped`](super::Fate::Skipped)). Each id written from then on joins the set, so
//!   an item that comes twice in one run is written once too. Lines that are not records (the
//!   dead-letter file's notices of suppressed dead letters) are kept, and neither counted nor
//!   named.
//! * **A chained file's chain goes on** from the last intact block, so `verify-audit` checks
//!   the continued file as one chain.
//!
//! Anything else wrong with the file (a complete line that is not JSON or has no id, a chain
//! broken before its tail) is an error: the sink refuses to start rather than build on a file it
//! does not understand.
//!
//! The set holds every id of the file: its memory grows with the file (about 100 bytes per
//! record), which bounds how long one output folder can be continued in one process.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::Context as _;

use crate::audit_chain::{self, ChainState};

/// What a sink does with what is already in its file when it opens it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Existing {
    /// Append after whatever is there; the app empties the files at start (a fresh run).
    #[default]
    Append,
    /// Continue the file: cut a torn tail, skip items whose id is already written (see the
    /// module docs).
    Continue,
}

/// Which JSON key names a continued file's record lines, and which of its lines are not
/// records.
#[derive(Debug, Clone, Copy)]
pub struct IdKey {
    /// The key of a record line's id.
    pub key: &'static str,
    /// Tells a line that is not a record (it has no id); `None`: every line is a record.
    pub notice: Option<fn(&JsonObject) -> bool>,
}

impl IdKey {
    /// Every line is a record with its id under `key`.
    pub const fn new(key: &'static str) -> IdKey {
        IdKey { key, notice: None }
    }
}

/// A JSON object, as a line of a JSONL file.
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// What a continued file held, once its torn tail was cut off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Continued {
    /// The ids of the record lines kept (empty when the spec names no id key).
    pub ids: HashSet<Box<str>>,
    /// Record lines kept.
    pub records: u64,
    /// The file's length once cut.
    pub kept_bytes: u64,
    /// Bytes cut off the end (a torn line, or lines no chain line sealed).
    pub cut_bytes: u64,
    /// Where a chained file's chain stands at the end of what was kept (`None` for a plain
    /// file).
    pub chain: Option<ChainState>,
}

/// Reads `path` (a missing file counts as empty), cuts its torn tail off, and collects the ids
/// of its record lines under `id_key`'s key (lines its `notice` tells are not records are
/// skipped). `chained`: the file is hash-chained, so only intact blocks are kept and the chain
/// is checked.
///
/// # Errors
///
/// The file cannot be read or cut, a kept line is neither a JSON object with a string under
/// the key nor a notice, or a chained file is broken before its tail.
pub fn continue_file(
    path: &Path,
    chained: bool,
    id_key: Option<IdKey>,
) -> anyhow::Result<Continued> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Continued {
                chain: chained.then_some(ChainState::GENESIS),
                ..Continued::default()
            });
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let total = file
        .metadata()
        .with_context(|| format!("cannot read the length of {}", path.display()))?
        .len();
    let kept_bytes = kept_length(BufReader::new(&file), chained)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut continued = Continued {
        kept_bytes,
        cut_bytes: total - kept_bytes,
        ..Continued::default()
    };
    if chained {
        let verified = audit_chain::verify(BufReader::new(
            std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?
                .take(kept_bytes),
        ))
        .with_context(|| format!("{} is not intact before its tail", path.display()))?;
        continued.chain = Some(verified.state);
    }
    let reader = BufReader::new(
        std::fs::File::open(path)
            .with_context(|| format!("cannot open {}", path.display()))?
            .take(kept_bytes),
    );
    for (number, line) in reader.split(b'\n').enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if chained && audit_chain::is_chain_line(&line) {
            continue;
        }
        let Some(id_key) = id_key else {
            continued.records += 1;
            continue;
        };
        let id = id_of_line(&line, id_key).with_context(|| {
            format!(
                "{} line {}: no `{}` to continue by",
                path.display(),
                number + 1,
                id_key.key
            )
        })?;
        if let Some(id) = id {
            continued.records += 1;
            continued.ids.insert(id);
        }
    }
    if continued.cut_bytes > 0 {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {} to cut its tail", path.display()))?;
        file.set_len(kept_bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot cut {} to {kept_bytes} bytes", path.display()))?;
        tracing::warn!(
            file = %path.display(),
            cut_bytes = continued.cut_bytes,
            kept_bytes,
            "continued output: cut a torn tail (written again when it is delivered again)"
        );
    }
    Ok(continued)
}

/// The length of the file through its last complete line (plain) or the end of its last chain
/// line (chained).
fn kept_length(mut reader: impl BufRead, chained: bool) -> std::io::Result<u64> {
    let (mut offset, mut kept) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 || line.last() != Some(&b'\n') {
            return Ok(kept);
        }
        offset += read as u64;
        if !chained || audit_chain::is_chain_line(&line) {
            kept = offset;
        }
    }
}

/// The string under `id_key`'s key in a JSON object line; `None` for a notice.
fn id_of_line(line: &[u8], id_key: IdKey) -> anyhow::Result<Option<Box<str>>> {
    let value: JsonObject = serde_json::from_slice(line).context("not a JSON object")?;
    match value.get(id_key.key) {
        Some(serde_json::Value::String(id)) => Ok(Some(id.as_str().into())),
        _ if id_key.notice.is_some_and(|notice| notice(&value)) => Ok(None),
        _ => anyhow::bail!("no string under `{}`", id_key.key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn a_missing_file_continues_empty() {
        let dir = tempfile::tempdir().unwrap();
        let got = continue_file(
            &dir.path().join("none.jsonl"),
            false,
            Some(IdKey::new("id")),
        )
        .unwrap();
        assert_eq!(got, Continued::default());
    }

    #[test]
    fn a_plain_file_keeps_its_complete_lines_and_cuts_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "o.jsonl",
            b"{\"id\":\"a\"}\n{\"id\":\"b\",\"x\":1}\n{\"id\":\"c",
        );
        let got = continue_file(&path, false, Some(IdKey::new("id"))).unwrap();
        assert_eq!(got.records, 2);
        assert_eq!(got.cut_bytes, 8);
        let ids: HashSet<Box<str>> = ["a", "b"].into_iter().map(Into::into).collect();
        assert_eq!(got.ids, ids);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{\"id\":\"a\"}\n{\"id\":\"b\",\"x\":1}\n"
        );
    }

    #[test]
    fn a_complete_line_without_the_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "o.jsonl", b"{\"id\":\"a\"}\n{\"other\":\"b\"}\n");
        let error = continue_file(&path, false, Some(IdKey::new("id"))).unwrap_err();
        assert!(format!("{error:#}").contains("line 2"), "{error:#}");
    }

    #[test]
    fn notice_lines_are_kept_but_neither_counted_nor_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "d.jsonl",
            b"{\"k\":\"a\"}\n{\"notice\":true}\n{\"k\":\"b\"}\n{\"other\":1}\n",
        );
        let key = IdKey {
            key: "k",
            notice: Some(|line| line.get("notice").is_some()),
        };
        let error = continue_file(&path, false, Some(key)).unwrap_err();
        assert!(format!("{error:#}").contains("line 4"), "{error:#}");
        let path = write(
            &dir,
            "d.jsonl",
            b"{\"k\":\"a\"}\n{\"notice\":true}\n{\"k\":\"b\"}\n",
        );
        let got = continue_file(&path, false, Some(key)).unwrap();
        assert_eq!(got.records, 2);
        let ids: HashSet<Box<str>> = ["a", "b"].into_iter().map(Into::into).collect();
        assert_eq!(got.ids, ids);
        assert_eq!(got.cut_bytes, 0);
    }

    #[test]
    fn a_chained_file_keeps_its_intact_blocks_and_cuts_unsealed_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut chain = ChainState::GENESIS;
        let block = b"{\"id\":\"a\"}\n{\"id\":\"b\"}\n".to_vec();
        let mut bytes = block.clone();
        bytes.extend(chain.seal(&block));
        let sealed_len = bytes.len() as u64;
        bytes.extend_from_slice(b"{\"id\":\"c\"}\n{\"id\":\"d");
        let path = write(&dir, "audit.jsonl", &bytes);
        let got = continue_file(&path, true, Some(IdKey::new("id"))).unwrap();
        assert_eq!(got.records, 2);
        assert_eq!(got.kept_bytes, sealed_len);
        assert_eq!(got.chain, Some(chain));
        assert!(!got.ids.contains("c"));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), sealed_len);
        // What is left verifies as a chain.
        audit_chain::verify_file(&path).unwrap();
    }

    #[test]
    fn a_chained_file_broken_before_its_tail_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut chain = ChainState::GENESIS;
        let block = b"{\"id\":\"a\"}\n".to_vec();
        let seal = chain.seal(&block);
        let mut bytes = b"{\"id\":\"EDITED\"}\n".to_vec();
        bytes.extend(seal);
        let path = write(&dir, "audit.jsonl", &bytes);
        let before = std::fs::read(&path).unwrap();
        assert!(continue_file(&path, true, Some(IdKey::new("id"))).is_err());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "a refused file is left alone"
        );
    }
}
