//! Helpers shared by the integration tests that run the service. Each test crate uses some of
//! them, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Child;
use std::sync::mpsc;

use sda_ingest::app::{AppConfig, ProgressStyle, TransportMode};

/// The child's stderr, line by line, read on a thread of its own. The thread keeps reading
/// after the receiver is dropped, so that the child never blocks on a full pipe while it logs.
pub(crate) fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

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
