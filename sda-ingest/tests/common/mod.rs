//! Helpers shared by the integration tests that run the service. Each test crate uses some of
//! them, hence the `dead_code` allowance.
#![allow(dead_code)]

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
