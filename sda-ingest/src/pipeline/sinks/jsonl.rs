//! The JSONL writer: one JSON object per line, encoded straight into a write buffer, and counted
//! only once its bytes are in the file. The sinks and the hand-wired benchmark baseline share
//! it.
//!
//! **When a line counts as written.** A full buffer is handed to a blocking thread, which
//! writes it (`write_all` on the file) while the sink encodes the next one; the buffer is "in
//! flight" until that write has come back successfully — checked at the next hand-over or
//! flush — and only then are its lines counted as written. This keeps encoding the next buffer
//! overlapped with writing the last one, and the count exact.
//!
//! **When a write fails.** The lines in flight and in the buffer are counted as unwritten, and
//! the file is truncated back to the end of the last line known to be written, so a partial last
//! line is never left behind. If even the truncation fails, the error says at which byte the
//! complete lines end.
//!
//! **Chained files.** A file opened with [`JsonlFile::open_chained`] is hash-chained (see
//! [`crate::audit_chain`]): every buffer handed to the file ends with one chain line sealing
//! its lines. A chain line is not a record and is never counted. The seal is computed on the
//! blocking thread that writes the buffer, not on the sink's task: hashing every byte costs
//! about as much as encoding it, and the sink's task is on the pipeline's path. The chain's state
//! follows the file's: a failed write that truncates the file back also takes the chain back, so
//! the file always ends with an intact block.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sda_ingest_core::SensorKind;
use tokio::task::JoinHandle;

use crate::audit_chain::ChainState;

/// Why a file can no longer be written: it went with a write's thread that did not come back.
const LOST_FILE: &str = "the file was lost with a write's thread";

/// A sink writes its buffer out once it holds this much.
pub const BUFFER_BYTES: usize = 64 * 1024;

/// Encodes one item onto the end of a buffer; returns whether it wrote a line (an item the
/// sink does not write, such as an accepted observation on the dead-letter edge, is skipped).
pub type Encode<T> = fn(&T, &mut Vec<u8>) -> serde_json::Result<bool>;

/// Lines counted by the source of their record (`None`: lines that are not records).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    by_source: [u64; SensorKind::COUNT],
    other: u64,
}

impl Tally {
    /// Counts one line of `source`.
    pub fn add(&mut self, source: Option<SensorKind>) {
        match source {
            Some(kind) => self.by_source[kind.index()] += 1,
            None => self.other += 1,
        }
    }

    /// Adds `other` to this tally.
    pub fn merge(&mut self, other: &Tally) {
        for (a, b) in self.by_source.iter_mut().zip(other.by_source) {
            *a += b;
        }
        self.other += other.other;
    }

    /// Every line counted.
    pub fn total(&self) -> u64 {
        self.by_source.iter().sum::<u64>() + self.other
    }

    /// The sources with lines, and how many each.
    pub fn by_source(&self) -> impl Iterator<Item = (SensorKind, u64)> + '_ {
        SensorKind::ALL
            .into_iter()
            .zip(self.by_source)
            .filter(|(_, n)| *n > 0)
    }
}

/// A JSONL file opened for appending, with the lines not yet known to be in it.
#[derive(Debug)]
pub struct JsonlFile {
    /// The file, while no write is in flight (the write's thread holds it meanwhile).
    file: Option<std::fs::File>,
    /// The write in flight, if any.
    flight: Option<JoinHandle<Flight>>,
    buf: Vec<u8>,
    /// The buffer of the last write, cleared, for the next one.
    spare: Vec<u8>,
    /// Lines in `buf`.
    pending: Tally,
    /// Lines handed to the file whose write has not been confirmed yet.
    in_flight: Tally,
    /// The file's length through the last line known to be written.
    committed: u64,
    /// Lines whose fate was decided since the last [`JsonlFile::take_settled`].
    written: Tally,
    unwritten: Tally,
    name: &'static str,
    path: PathBuf,
    /// Where the chain of a chained file stands through the last line known to be written;
    /// `None` for a plain file.
    chain: Option<ChainState>,
}

/// What a write on the blocking thread gives back.
#[derive(Debug)]
struct Flight {
    file: std::fs::File,
    /// The buffer written (with its chain line), to be reused.
    buf: Vec<u8>,
    result: std::io::Result<()>,
    /// The chain's state after the block, for a chained file.
    sealed: Option<ChainState>,
}

impl JsonlFile {
    /// Opens (creating if needed) `path` for appending; `name` labels errors.
    ///
    /// # Errors
    ///
    /// The file cannot be opened.
    pub async fn open(name: &'static str, path: &Path) -> anyhow::Result<Self> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .with_context(|| format!("{name}: cannot open {}", path.display()))?;
        let committed = file
            .metadata()
            .await
            .with_context(|| format!("{name}: cannot read the length of {}", path.display()))?
            .len();
        Ok(JsonlFile {
            file: Some(file.into_std().await),
            flight: None,
            buf: Vec::with_capacity(BUFFER_BYTES + 4096),
            spare: Vec::with_capacity(BUFFER_BYTES + 4096),
            pending: Tally::default(),
            in_flight: Tally::default(),
            committed,
            written: Tally::default(),
            unwritten: Tally::default(),
            name,
            path: path.to_owned(),
            chain: None,
        })
    }

    /// Opens `path` as [`open`](JsonlFile::open) does, hash-chained (see the module docs). A
    /// file that is not empty is checked first, and the chain goes on from its end.
    ///
    /// # Errors
    ///
    /// The file cannot be opened, or its chain is broken (the error names the line).
    pub async fn open_chained(name: &'static str, path: &Path) -> anyhow::Result<Self> {
        let mut file = JsonlFile::open(name, path).await?;
        let state = if file.committed == 0 {
            ChainState::GENESIS
        } else {
            let owned = path.to_owned();
            tokio::task::spawn_blocking(move || crate::audit_chain::verify_file(&owned))
                .await
                .context("the chain check panicked")?
                .map(|verified| verified.state)
                .with_context(|| format!("{name}: {} is not intact", path.display()))?
        };
        file.chain = Some(state);
        Ok(file)
    }

    /// Opens `path` for appending after [`continue_file`](super::continue_file) has cut it to
    /// its last complete line or block; `chain`: the chain state it found, for a chained file.
    ///
    /// # Errors
    ///
    /// The file cannot be opened.
    pub async fn open_continued(
        name: &'static str,
        path: &Path,
        chain: Option<ChainState>,
    ) -> anyhow::Result<Self> {
        let mut file = JsonlFile::open(name, path).await?;
        file.chain = chain;
        Ok(file)
    }

    /// Where the chain of a chained file stands through the last line known to be written.
    pub fn chain_state(&self) -> Option<ChainState> {
        self.chain
    }

    /// Encodes every item of `items` (leaving it empty) into the buffer, counting each line
    /// against `source(item)`, and hands the buffer to the file whenever it fills.
    ///
    /// # Errors
    ///
    /// Encoding or writing failed (see the module docs for what is then counted).
    pub async fn write_batch<T>(
        &mut self,
        items: &mut Vec<T>,
        encode: Encode<T>,
        source: fn(&T) -> Option<SensorKind>,
    ) -> anyhow::Result<()> {
        for item in items.drain(..) {
            if encode(&item, &mut self.buf)? {
                self.buf.push(b'\n');
                self.pending.add(source(&item));
            }
            if self.buf.len() >= BUFFER_BYTES {
                self.hand_over().await?;
            }
        }
        Ok(())
    }

    /// Appends one line that is not a record (a notice): counted under no source.
    ///
    /// # Errors
    ///
    /// Writing failed.
    pub async fn write_line(&mut self, line: &[u8]) -> anyhow::Result<()> {
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        self.pending.add(None);
        if self.buf.len() >= BUFFER_BYTES {
            self.hand_over().await?;
        }
        Ok(())
    }

    /// Hands the buffer to the file (to a blocking thread that seals it, for a chained file, and
    /// writes it). Waits for the write before it first, whose success confirms it.
    async fn hand_over(&mut self) -> anyhow::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.settle().await?;
        let Some(mut file) = self.file.take() else {
            return Err(self.lost_file().await);
        };
        let mut buf = std::mem::replace(&mut self.buf, std::mem::take(&mut self.spare));
        let chain = self.chain;
        self.in_flight = std::mem::take(&mut self.pending);
        self.flight = Some(tokio::task::spawn_blocking(move || {
            let sealed = chain.map(|mut state| {
                let seal = state.seal(&buf);
                buf.extend_from_slice(&seal);
                state
            });
            let result = file.write_all(&buf);
            Flight {
                file,
                buf,
                result,
                sealed,
            }
        }));
        Ok(())
    }

    /// Waits for the write in flight, if any: confirms its lines, or fails with them.
    async fn settle(&mut self) -> anyhow::Result<()> {
        let Some(flight) = self.flight.take() else {
            return Ok(());
        };
        let Flight {
            file,
            mut buf,
            result,
            sealed,
        } = match flight.await {
            Ok(flight) => flight,
            Err(e) => {
                let error = std::io::Error::other(format!("the write's thread failed: {e}"));
                return Err(self.fail(error).await);
            }
        };
        self.file = Some(file);
        if let Err(e) = result {
            return Err(self.fail(e).await);
        }
        self.written.merge(&self.in_flight);
        self.in_flight = Tally::default();
        self.committed += buf.len() as u64;
        if sealed.is_some() {
            self.chain = sealed;
        }
        buf.clear();
        self.spare = buf;
        Ok(())
    }

    /// Writes everything buffered and waits until the file has it.
    ///
    /// # Errors
    ///
    /// Writing failed.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        self.hand_over().await?;
        self.settle().await
    }

    /// Flushes and asks the disk to keep the data (`fsync`).
    ///
    /// # Errors
    ///
    /// Writing or syncing failed.
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        self.flush().await?;
        let Some(file) = self.file.take() else {
            return Err(self.lost_file().await);
        };
        let (file, synced) = tokio::task::spawn_blocking(move || {
            let synced = file.sync_data();
            (file, synced)
        })
        .await
        .with_context(|| format!("{}: the sync's thread failed", self.name))?;
        self.file = Some(file);
        synced.with_context(|| format!("{}: cannot sync {}", self.name, self.path.display()))
    }

    /// The file went with a write's thread that did not come back (it panicked, or the runtime
    /// is shutting down): nothing more can be written.
    async fn lost_file(&mut self) -> anyhow::Error {
        self.fail(std::io::Error::other(LOST_FILE)).await
    }

    /// Takes the lines whose fate was decided since the last call: `(written, unwritten)`.
    pub fn take_settled(&mut self) -> (Tally, Tally) {
        (
            std::mem::take(&mut self.written),
            std::mem::take(&mut self.unwritten),
        )
    }

    /// A write failed: everything not confirmed is unwritten, and the file goes back to its last
    /// complete line (and a chained file's chain to its last intact block, where it stands).
    async fn fail(&mut self, error: std::io::Error) -> anyhow::Error {
        self.unwritten.merge(&self.in_flight);
        self.unwritten.merge(&self.pending);
        let lost = self.in_flight.total() + self.pending.total();
        self.in_flight = Tally::default();
        self.pending = Tally::default();
        self.buf.clear();
        let error = anyhow::Error::new(error).context(format!(
            "{}: cannot write {}; {lost} line(s) not written",
            self.name,
            self.path.display()
        ));
        let committed = self.committed;
        let (file, truncated) = match self.file.take() {
            Some(file) => tokio::task::spawn_blocking(move || {
                let truncated = file.set_len(committed);
                (Some(file), truncated)
            })
            .await
            .unwrap_or_else(|e| (None, Err(std::io::Error::other(e.to_string())))),
            None => (None, Err(std::io::Error::other(LOST_FILE))),
        };
        self.file = file;
        match truncated {
            Ok(()) => error,
            Err(truncate) => error.context(format!(
                "{}: cannot truncate {} to its last complete line at byte {committed} \
                 ({truncate}); a partial line may follow it",
                self.name,
                self.path.display(),
            )),
        }
    }
}
