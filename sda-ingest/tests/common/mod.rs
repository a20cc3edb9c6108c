//! Helpers shared by the integration tests that run the service. Each test crate uses some of
//! them, hence the `dead_code` allowance.
#![allow(dead_code)]

pub(crate) mod dead_letters;
#[cfg(feature = "nats")]
pub(crate) mod nats;
pub(crate) mod observations;
pub(crate) mod peers;
pub(crate) mod service;

use std::path::Path;

use sda_ingest::app::{AppConfig, ProgressStyle, TransportMode};

/// The app with its optical source polling the archive at `url`, everything else in-process,
/// one pass at 40× into `out`, without progress output.
pub(crate) fn optical_app_config(out: &Path, url: &str) -> AppConfig {
    AppConfig {
        out_dir: out.to_owned(),
        rate: 40.0,
        passes: Some(1),
        progress: ProgressStyle::Off,
        transport: TransportMode::Inprocess,
        optical_url: Some(url.parse().expect("a valid URL")),
        ..AppConfig::default()
    }
}

/// The JSON lines of `path` (complete lines only; a missing file has none).
pub(crate) fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The lines of `file` in `dir` whose source is `source` (`ingest.source` for observations,
/// `source` for dead letters).
pub(crate) fn lines_of(dir: &Path, file: &str, source: &str) -> Vec<serde_json::Value> {
    jsonl(&dir.join(file))
        .into_iter()
        .filter(|l| l["source"] == source || l["ingest"]["source"] == source)
        .collect()
}

/// Polls `ready` every 20 ms until it holds, for at most `limit`.
///
/// # Panics
///
/// When `limit` passes first, naming `what`.
pub(crate) fn wait_until(what: &str, limit: std::time::Duration, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
