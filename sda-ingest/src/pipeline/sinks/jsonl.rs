//! The JSONL writer: one JSON object per line, encoded straight into a write buffer, counted
//! only once its bytes are in the file. The sinks and the hand-wired benchmark baseline share
//! it.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tokio::io::AsyncWriteExt;

/// A sink writes its buffer out once it holds this much.
pub const BUFFER_BYTES: usize = 64 * 1024;

/// Encodes one item onto the end of a buffer; returns whether it wrote a line (an item the
/// sink does not write, such as an accepted observation on the dead-letter edge, is skipped).
pub type Encode<T> = fn(&T, &mut Vec<u8>) -> serde_json::Result<bool>;

/// A JSONL file opened for appending, with the lines not yet written to it.
#[derive(Debug)]
pub struct JsonlFile {
    file: tokio::fs::File,
    buf: Vec<u8>,
    /// Lines in `buf`, not yet in the file.
    pending: u64,
    name: &'static str,
    path: PathBuf,
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
        Ok(JsonlFile {
            file,
            buf: Vec::with_capacity(BUFFER_BYTES + 4096),
            pending: 0,
            name,
            path: path.to_owned(),
        })
    }

    /// Encodes every item of `items` (leaving it empty) into the buffer, writing the buffer out
    /// whenever it fills; returns how many lines reached the file.
    ///
    /// # Errors
    ///
    /// Encoding or writing failed.
    pub async fn write_batch<T>(
        &mut self,
        items: &mut Vec<T>,
        encode: Encode<T>,
    ) -> anyhow::Result<u64> {
        let mut written = 0;
        for item in items.drain(..) {
            if encode(&item, &mut self.buf)? {
                self.buf.push(b'\n');
                self.pending += 1;
            }
            if self.buf.len() >= BUFFER_BYTES {
                written += self.write_out().await?;
            }
        }
        Ok(written)
    }

    /// Hands the buffered lines to the file; returns how many lines that was.
    async fn write_out(&mut self) -> anyhow::Result<u64> {
        if self.buf.is_empty() {
            return Ok(0);
        }
        self.file
            .write_all(&self.buf)
            .await
            .with_context(|| self.write_error())?;
        self.buf.clear();
        Ok(std::mem::take(&mut self.pending))
    }

    /// Writes the buffered lines and waits until the file has them; returns how many lines
    /// that was.
    ///
    /// # Errors
    ///
    /// Writing failed.
    pub async fn flush(&mut self) -> anyhow::Result<u64> {
        let written = self.write_out().await?;
        self.file
            .flush()
            .await
            .with_context(|| self.write_error())?;
        Ok(written)
    }

    /// Flushes and asks the disk to keep the data (`fsync`); returns how many lines the flush
    /// wrote.
    ///
    /// # Errors
    ///
    /// Writing or syncing failed.
    pub async fn finish(&mut self) -> anyhow::Result<u64> {
        let written = self.flush().await?;
        self.file
            .sync_data()
            .await
            .with_context(|| self.write_error())?;
        Ok(written)
    }

    fn write_error(&self) -> String {
        format!("{}: cannot write {}", self.name, self.path.display())
    }
}
