//! The hash chain that makes `audit.jsonl` and `control_audit.jsonl` tamper-evident, and the
//! offline check of it (`sda-ingest verify-audit DIR`).
//!
//! # Format
//!
//! A chained file is a sequence of **blocks**, one per write (so the hot path hashes each byte
//! once, in one pass over the write buffer, and writes one small line more per 64 KiB): the
//! block's record lines, then one chain line that seals them,
//!
//! ```text
//! {"chain":{"seq":0,"lines":3,"prev":"000…000","sha256":"…","line_xxh3":"1a2b3c4d5e6f7a8b9c0d1e2f"}}
//! ```
//!
//! * `seq`: the block's number, from 0;
//! * `lines`: how many record lines it seals (those right above it);
//! * `prev`: the previous block's `sha256` (64 zeros for the first block);
//! * `sha256`: SHA-256 over `prev` (its 64 hexadecimal digits) followed by the sealed lines'
//!   bytes exactly as in the file, each with its newline. This is what makes the file
//!   tamper-evident;
//! * `line_xxh3`: the first 4 bytes (8 hexadecimal digits, big-endian) of each sealed line's
//!   XXH3-64 (without its newline), in order. It is not what makes the file tamper-evident — a
//!   fast non-cryptographic hash, cut to 32 bits — but what lets a check name the very line
//!   that was edited, deleted or moved. A change that keeps every line's `line_xxh3` (a forged
//!   one) still breaks `sha256`, and the check names the block.
//!
//! Why not one SHA-256 per line: with SHA-NI a 64 KiB block hashes at about 1.2 GB/s in one
//! pass, while hashing each few-hundred-byte line on its own and then the digests costs about
//! 1.7× as much; on the audit sink's path, once per record, that difference is several percent
//! of the whole pipeline's CPU.
//!
//! A chain line is the only line whose JSON object has the single key `chain`: records never
//! do, so counting records means counting the lines that do not start with `{"chain":`
//! ([`is_chain_line`]).
//!
//! Editing a line, deleting or inserting one, swapping two, or cutting the file short breaks
//! the chain at a place the check names. Rewriting the file from the edited line on with fresh
//! hashes is not detected by the file alone: keep the final `sha256` elsewhere (the service
//! logs it at exit as `audit chain head`) to detect that too.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first bytes of every chain line, and of no record line.
pub const CHAIN_PREFIX: &[u8] = b"{\"chain\":";

/// The files `verify-audit` checks, in an output folder.
pub const CHAINED_FILES: [&str; 2] = ["audit.jsonl", "control_audit.jsonl"];

/// Whether `line` is a chain line rather than a record.
pub fn is_chain_line(line: &[u8]) -> bool {
    line.starts_with(CHAIN_PREFIX)
}

/// Where a chain stands: the next block's number and the last block's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainState {
    /// The number the next block gets.
    pub next_seq: u64,
    /// The last block's `sha256` (zeros before the first block).
    pub head: [u8; 32],
}

impl Default for ChainState {
    fn default() -> Self {
        ChainState::GENESIS
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainLine {
    chain: Seal,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Seal {
    seq: u64,
    lines: u64,
    prev: String,
    sha256: String,
    line_xxh3: String,
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Appends `bytes` as lowercase hexadecimal digits. By table, not `write!`: the sealing of every
/// audit block calls it once per line.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// The running SHA-256 of a block: `prev`'s hex digits first, then the block's bytes.
fn block_hasher(prev: &[u8; 32]) -> Sha256 {
    let mut sha = Sha256::new();
    sha.update(hex(prev).as_bytes());
    sha
}

/// What `line_xxh3` holds for one line (without its newline).
fn line_locator(line: &[u8]) -> [u8; 4] {
    let hash = xxhash_rust::xxh3::xxh3_64(line).to_be_bytes();
    [hash[0], hash[1], hash[2], hash[3]]
}

impl ChainState {
    /// A chain with no block yet.
    pub const GENESIS: ChainState = ChainState {
        next_seq: 0,
        head: [0; 32],
    };

    /// The head as 64 hexadecimal digits.
    pub fn head_hex(&self) -> String {
        hex(&self.head)
    }

    /// Seals `block` (complete lines, each ending in `\n`; no chain line among them): returns
    /// the chain line to write right after it, newline included, and moves the chain on. An
    /// empty block gets no chain line.
    pub fn seal(&mut self, block: &[u8]) -> Vec<u8> {
        // Each line's locator comes from a fast hash over the line; the block's SHA-256 is one
        // pass over all of its lines. This runs once per write of the audit trail (about 64 KiB,
        // every record's line), so its cost per line matters; the line ends are found with
        // `memchr` (the lines are a few hundred bytes).
        let mut short = String::new();
        let mut lines = 0u64;
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', block) {
            push_hex(&mut short, &line_locator(&block[start..end]));
            lines += 1;
            start = end + 1;
        }
        if lines == 0 {
            return Vec::new();
        }
        let mut block_sha = block_hasher(&self.head);
        block_sha.update(&block[..start]);
        let sha256: [u8; 32] = block_sha.finalize().into();
        let line = ChainLine {
            chain: Seal {
                seq: self.next_seq,
                lines,
                prev: hex(&self.head),
                sha256: hex(&sha256),
                line_xxh3: short,
            },
        };
        let mut out = serde_json::to_vec(&line).unwrap_or_default();
        out.push(b'\n');
        self.next_seq += 1;
        self.head = sha256;
        out
    }
}

/// What a check of an intact file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Blocks (chain lines).
    pub blocks: u64,
    /// Record lines.
    pub records: u64,
    /// Where the chain stands at the end of the file.
    pub state: ChainState,
}

/// Where and how a chained file is broken. The line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// A record line differs from the one that was sealed.
    #[error(
        "line {line}: edited (its hash is not the one sealed by the chain line at line {seal})"
    )]
    Edited {
        /// The edited line.
        line: u64,
        /// The chain line that sealed it.
        seal: u64,
    },
    /// Lines of a block are not in the order they were sealed in.
    #[error(
        "line {line}: out of order (it was sealed at another place of the block sealed at line {seal})"
    )]
    Reordered {
        /// The first line out of place.
        line: u64,
        /// The chain line that sealed the block.
        seal: u64,
    },
    /// A block has fewer record lines than were sealed.
    #[error(
        "line {line}: a line is missing here (deleted): the chain line at line {seal} sealed {sealed} lines, the file has {found}"
    )]
    Deleted {
        /// Where the first missing line was.
        line: u64,
        /// The chain line of the block.
        seal: u64,
        /// Lines sealed.
        sealed: u64,
        /// Lines found.
        found: u64,
    },
    /// A block has more record lines than were sealed.
    #[error(
        "line {line}: inserted (the chain line at line {seal} sealed {sealed} lines, the file has {found})"
    )]
    Inserted {
        /// The first line that was not sealed.
        line: u64,
        /// The chain line of the block.
        seal: u64,
        /// Lines sealed.
        sealed: u64,
        /// Lines found.
        found: u64,
    },
    /// A chain line does not continue the chain: a block was deleted, moved or copied, or the
    /// chain line itself was edited.
    #[error("line {line}: the chain is broken here: {why}")]
    Broken {
        /// The chain line (or where one is missing).
        line: u64,
        /// What does not match.
        why: String,
    },
    /// The file ends inside a line or with lines no chain line seals.
    #[error("line {line}: truncated: {why}")]
    Truncated {
        /// The first line after the last intact block.
        line: u64,
        /// What is missing.
        why: &'static str,
    },
    /// A line that starts like a chain line is not one.
    #[error("line {line}: a malformed chain line: {why}")]
    Malformed {
        /// The line.
        line: u64,
        /// Why it does not parse.
        why: String,
    },
    /// The file cannot be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: String,
    },
}

impl ChainError {
    /// The line the error names, if it names one.
    pub fn line(&self) -> Option<u64> {
        match self {
            ChainError::Edited { line, .. }
            | ChainError::Reordered { line, .. }
            | ChainError::Deleted { line, .. }
            | ChainError::Inserted { line, .. }
            | ChainError::Broken { line, .. }
            | ChainError::Truncated { line, .. }
            | ChainError::Malformed { line, .. } => Some(*line),
            ChainError::Io { .. } => None,
        }
    }
}

/// Checks the chain of the file at `path`.
///
/// # Errors
///
/// The first place where the file is broken ([`ChainError`]), or why it cannot be read.
pub fn verify_file(path: &Path) -> Result<Verified, ChainError> {
    let io = |e: std::io::Error| ChainError::Io {
        path: path.to_owned(),
        error: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    verify(BufReader::with_capacity(256 * 1024, file)).map_err(|e| match e {
        ChainError::Io { error, .. } => ChainError::Io {
            path: path.to_owned(),
            error,
        },
        other => other,
    })
}

/// Checks the chain of a file's bytes read from `reader`.
///
/// # Errors
///
/// As [`verify_file`].
pub fn verify(mut reader: impl BufRead) -> Result<Verified, ChainError> {
    let mut state = ChainState::GENESIS;
    let mut records = 0;
    // The record lines since the last chain line: their locators, from line `start` on, and
    // the block's hash so far.
    let mut pending: Vec<[u8; 4]> = Vec::new();
    let mut block_sha = block_hasher(&state.head);
    let mut start = 1;
    let mut number = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ChainError::Io {
                path: PathBuf::new(),
                error: e.to_string(),
            })?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.last() != Some(&b'\n') {
            return Err(ChainError::Truncated {
                line: number,
                why: "the line is incomplete: the file was cut short",
            });
        }
        let content = &line[..line.len() - 1];
        if !is_chain_line(content) {
            if pending.is_empty() {
                start = number;
            }
            pending.push(line_locator(content));
            block_sha.update(&line);
            continue;
        }
        let seal: ChainLine =
            serde_json::from_slice(content).map_err(|e| ChainError::Malformed {
                line: number,
                why: e.to_string(),
            })?;
        let seal = seal.chain;
        let hash: [u8; 32] = std::mem::take(&mut block_sha).finalize().into();
        check_block(&state, &seal, &pending, &hash, start, number)?;
        records += pending.len() as u64;
        state = ChainState {
            next_seq: state.next_seq + 1,
            head: hash,
        };
        block_sha = block_hasher(&state.head);
        pending.clear();
        start = number + 1;
    }
    if !pending.is_empty() {
        return Err(ChainError::Truncated {
            line: start,
            why: "the lines from here on are sealed by no chain line: the file was cut short \
                  (or lines were appended)",
        });
    }
    Ok(Verified {
        blocks: state.next_seq,
        records,
        state,
    })
}

/// Checks one block: its place in the chain, its lines (by their locators), then its hash
/// (`hash`: the SHA-256 computed over `prev` and the lines found).
fn check_block(
    state: &ChainState,
    seal: &Seal,
    pending: &[[u8; 4]],
    hash: &[u8; 32],
    start: u64,
    at: u64,
) -> Result<(), ChainError> {
    let sealed: Vec<&str> = (0..seal.line_xxh3.len() / 8)
        .filter_map(|i| seal.line_xxh3.get(8 * i..8 * i + 8))
        .collect();
    if !seal.line_xxh3.len().is_multiple_of(8) || sealed.len() as u64 != seal.lines {
        return Err(ChainError::Malformed {
            line: at,
            why: format!("{} line hashes for {} lines", sealed.len(), seal.lines),
        });
    }
    let found: Vec<String> = pending.iter().map(|d| hex(d)).collect();
    if seal.seq != state.next_seq {
        // A block's chain line that went missing merges its lines into this block: when this
        // block's own lines are the tail of what is pending, the missing line sat right before.
        let own = found.len().checked_sub(sealed.len());
        if seal.seq > state.next_seq
            && let Some(own) = own.filter(|&own| own > 0 && found[own..] == sealed[..])
        {
            return Err(ChainError::Broken {
                line: start + own as u64,
                why: format!(
                    "the chain line of block {} is missing (deleted) before this line",
                    state.next_seq
                ),
            });
        }
        return Err(ChainError::Broken {
            line: at,
            why: format!(
                "block {} follows block {} (a block was deleted, moved or copied)",
                seal.seq,
                state.next_seq.wrapping_sub(1)
            ),
        });
    }
    if seal.prev != hex(&state.head) {
        return Err(ChainError::Broken {
            line: at,
            why: "its `prev` is not the previous block's `sha256`".to_owned(),
        });
    }
    let first_difference = found
        .iter()
        .zip(&sealed)
        .position(|(f, s)| f != s)
        .unwrap_or_else(|| found.len().min(sealed.len()));
    let line = start + first_difference as u64;
    match found.len().cmp(&sealed.len()) {
        std::cmp::Ordering::Less => {
            return Err(ChainError::Deleted {
                line,
                seal: at,
                sealed: seal.lines,
                found: found.len() as u64,
            });
        }
        std::cmp::Ordering::Greater => {
            return Err(ChainError::Inserted {
                line,
                seal: at,
                sealed: seal.lines,
                found: found.len() as u64,
            });
        }
        std::cmp::Ordering::Equal if first_difference < found.len() => {
            let moved = sealed
                .iter()
                .any(|s| *s == found[first_difference].as_str());
            return Err(if moved {
                ChainError::Reordered { line, seal: at }
            } else {
                ChainError::Edited { line, seal: at }
            });
        }
        std::cmp::Ordering::Equal => {}
    }
    if seal.sha256 != hex(hash) {
        // Every line matched its locator, so either the chain line was edited or a line was
        // edited with its locator forged: the block is all a check can name.
        let why = if pending.is_empty() {
            "its `sha256` does not match (it seals no line): the chain line was edited".to_owned()
        } else {
            format!(
                "its `sha256` does not match the lines it seals (lines {start} to {}): the \
                 chain line, or one of those lines, was edited",
                at - 1
            )
        };
        return Err(ChainError::Broken { line: at, why });
    }
    Ok(())
}

/// The outcome of checking an output folder: each chained file's result.
pub fn verify_dir(dir: &Path) -> Vec<(PathBuf, Result<Verified, ChainError>)> {
    CHAINED_FILES
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let result = verify_file(&path);
            (path, result)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chained file of `blocks` blocks of the given record lines.
    fn chained(blocks: &[&[&str]]) -> Vec<u8> {
        let mut state = ChainState::GENESIS;
        let mut file = Vec::new();
        for block in blocks {
            let mut bytes = Vec::new();
            for line in *block {
                bytes.extend_from_slice(line.as_bytes());
                bytes.push(b'\n');
            }
            let seal = state.seal(&bytes);
            file.extend_from_slice(&bytes);
            file.extend_from_slice(&seal);
        }
        file
    }

    fn lines(file: &[u8]) -> Vec<Vec<u8>> {
        file.split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn check(file: &[u8]) -> Result<Verified, ChainError> {
        verify(file)
    }

    const BLOCKS: &[&[&str]] = &[
        &[r#"{"id":"a"}"#, r#"{"id":"b"}"#, r#"{"id":"c"}"#],
        &[r#"{"id":"d"}"#, r#"{"id":"e"}"#],
    ];

    #[test]
    fn an_untouched_file_verifies() {
        let file = chained(BLOCKS);
        let verified = check(&file).unwrap();
        assert_eq!((verified.blocks, verified.records), (2, 5));
        assert_eq!(check(b"").unwrap().records, 0);
        assert_eq!(ChainState::GENESIS.clone().seal(b""), Vec::<u8>::new());
    }

    #[test]
    fn an_edited_byte_is_named() {
        let mut file = chained(BLOCKS);
        let at = file.windows(3).position(|w| w == b"\"b\"").unwrap() + 1;
        file[at] = b'x';
        assert_eq!(check(&file), Err(ChainError::Edited { line: 2, seal: 4 }));
    }

    #[test]
    fn a_deleted_line_is_named() {
        let mut all = lines(&chained(BLOCKS));
        all.remove(1);
        let err = check(&all.concat()).unwrap_err();
        assert!(matches!(err, ChainError::Deleted { line: 2, .. }), "{err}");
        // The chain line itself deleted: named where it was.
        let mut all = lines(&chained(BLOCKS));
        all.remove(3);
        let err = check(&all.concat()).unwrap_err();
        assert_eq!(err.line(), Some(4), "{err}");
    }

    #[test]
    fn swapped_lines_are_named() {
        let mut all = lines(&chained(BLOCKS));
        all.swap(1, 2);
        assert_eq!(
            check(&all.concat()),
            Err(ChainError::Reordered { line: 2, seal: 4 })
        );
        // Whole blocks swapped.
        let all = lines(&chained(BLOCKS));
        let swapped = [&all[4..], &all[..4]].concat().concat();
        let err = check(&swapped).unwrap_err();
        assert!(matches!(err, ChainError::Broken { line: 3, .. }), "{err}");
    }

    #[test]
    fn a_truncated_tail_is_named() {
        let file = chained(BLOCKS);
        // Cut inside the last chain line.
        let err = check(&file[..file.len() - 10]).unwrap_err();
        assert!(
            matches!(err, ChainError::Truncated { line: 7, .. }),
            "{err}"
        );
        // Cut at a line boundary inside the last block.
        let all = lines(&file);
        let err = check(&all[..6].concat()).unwrap_err();
        assert!(
            matches!(err, ChainError::Truncated { line: 5, .. }),
            "{err}"
        );
    }

    #[test]
    fn an_inserted_line_and_an_edited_chain_line_are_named() {
        let mut all = lines(&chained(BLOCKS));
        all.insert(5, b"{\"id\":\"forged\"}\n".to_vec());
        let err = check(&all.concat()).unwrap_err();
        assert!(matches!(err, ChainError::Inserted { line: 6, .. }), "{err}");
        let file = chained(BLOCKS);
        let text = String::from_utf8(file).unwrap();
        let edited = text.replacen("\"seq\":1", "\"seq\":7", 1);
        let err = check(edited.as_bytes()).unwrap_err();
        assert!(matches!(err, ChainError::Broken { line: 7, .. }), "{err}");
    }

    #[test]
    fn an_edit_with_a_forged_line_hash_is_caught_by_the_block_hash() {
        let file = String::from_utf8(chained(BLOCKS)).unwrap();
        let edited_line = r#"{"id":"x"}"#;
        let forged = hex(&line_locator(edited_line.as_bytes()));
        let original = hex(&line_locator(br#"{"id":"b"}"#));
        // The line edited, and the chain line's locator for it rewritten to match.
        let edited = file
            .replacen(r#"{"id":"b"}"#, edited_line, 1)
            .replacen(&original, &forged, 1);
        assert_ne!(edited, file);
        let err = check(edited.as_bytes()).unwrap_err();
        assert!(matches!(err, ChainError::Broken { line: 4, .. }), "{err}");
        assert!(err.to_string().contains("lines 1 to 3"), "{err}");
    }

    #[test]
    fn records_are_told_from_chain_lines() {
        let file = chained(BLOCKS);
        let records = lines(&file).iter().filter(|l| !is_chain_line(l)).count();
        assert_eq!(records, 5);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever the lines, a sealed file verifies, holds every record and ends at the head
        /// the writer reached; and the seal's hash is the format's definition of it (SHA-256
        /// over `prev`'s hex digits and the block's bytes), computed here in one call.
        #[test]
        fn sealed_blocks_verify(
            blocks in proptest::collection::vec(
                proptest::collection::vec("[a-z0-9 {}\":,.]{0,160}", 0..30),
                1..6,
            )
        ) {
            let mut state = ChainState::GENESIS;
            let mut file = Vec::new();
            let mut records = 0;
            for block in &blocks {
                let bytes: Vec<u8> = block.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
                let before = state;
                let seal = state.seal(&bytes);
                if !block.is_empty() {
                    let mut by_definition = Sha256::new();
                    by_definition.update(hex(&before.head).as_bytes());
                    by_definition.update(&bytes);
                    let expected: [u8; 32] = by_definition.finalize().into();
                    proptest::prop_assert_eq!(state.head, expected);
                }
                records += block.len() as u64;
                file.extend_from_slice(&bytes);
                file.extend_from_slice(&seal);
            }
            let verified = verify(file.as_slice()).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(verified.records, records);
            proptest::prop_assert_eq!(verified.state, state);
        }
    }
}
