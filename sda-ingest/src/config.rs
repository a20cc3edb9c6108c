//! The optional TOML configuration file (`--config FILE`).
//!
//! Every key is optional; a flag given on the command line wins over the file, and the file
//! wins over the built-in default. Unknown keys are errors, so a typo is not silently ignored.
//!
//! ```toml
//! out = "/var/lib/sda-ingest"
//! duration_s = 600          # omit to run until Ctrl-C / SIGTERM
//! rate = 2.0                # multiplier on 25 records/s per simulated source
//! seed = 42
//! cadence_s = 60.0          # seconds between simulated sweeps; smaller = more unique records
//! passes = 1                # omit to replay once and idle until stopped
//! log_format = "json"       # or "human"
//! progress_interval_s = 5.0
//! transport = "loopback"    # or "inprocess" (no sockets)
//! radar_bind = "0.0.0.0:5600"      # listen for radar here; no simulated radar sender
//! isl_connect = "10.0.0.7:5700"    # read ISL from here; no simulated ISL server
//! optical_url = "http://archive.example:8080/"  # poll this archive; no simulated archive
//! control_addr = "127.0.0.1:9898"  # the HTTP control plane
//! control_token = "change-me"      # enables pause/resume; $SDA_CONTROL_TOKEN wins over it
//! radar_recv_buffer_bytes = 4194304 # the radar socket's receive queue (capped by rmem_max)
//! radar_allow = ["127.0.0.1/32"]    # radar datagrams from elsewhere: counted, dropped undecoded
//! isl_connect_timeout_s = 5.0      # longest wait for the ISL connection
//! isl_idle_timeout_s = 30.0        # no whole ISL frame (heartbeats count) this long: reconnect
//! isl_keepalive_s = 10.0           # TCP keepalive idle time; 0 turns it off
//! catalog = "/var/lib/sda/active.tle"  # TLE, 3LE or OMM JSON/CSV; watched for changes
//! catalog_url = "https://catalog.example/active.json"  # downloaded at start and polled
//! catalog_refresh_s = 3600.0       # seconds between downloads of catalog_url
//! catalog_watch_s = 10.0           # seconds between looks at the catalog file
//! epoch = "2024-03-01T12:00:00Z"   # simulation start [default: the catalog's newest epoch]
//! screen_start = "2024-03-01T12:00:00Z"  # screening start [default: the simulation's start]
//! population = 25000               # load test: generated objects (not with a catalog)
//!
//! [correlator]
//! gate_km = 50.0            # association gate
//! threshold_km = 1.0        # conjunction alert threshold
//! lookahead_s = 3600.0      # screen this far past the latest observation epoch (--lookahead)
//! jobs = 1                  # pool jobs per screening run [default: CPUs less one, at least 1]
//!
//! [dead_letters]            # per source and reason code; above it: counted, not written
//! per_second = 100
//! burst = 1000
//!
//! [rate_limit]              # per source: its sends wait for permits (GCRA); nothing is dropped
//! radar = { per_second = 500, burst = 1000 }
//! optical = { per_second = 50 }     # burst defaults to per_second
//!
//! [event_time]
//! window_s = 60.0            # the correlator's tumbling event-time windows
//! allowed_lateness_s = 120.0 # a window closes this long after the watermark passed its end
//! idle_timeout_s = 5.0       # a source silent this long no longer holds the watermark back
//! out_of_orderness_s = 60.0  # every source's bound: watermark = latest epoch sent less this
//! out_of_orderness = { radar = 300.0 }  # per source
//!
//! [skew.radar]               # simulator: out-of-order and late delivery of one stream
//! max_delay_s = 240.0        # each message delivered up to this long (event time) after its epoch
//! late_fraction = 0.02       # ... except this fraction, delivered late_delay_s after it
//! late_delay_s = 900.0
//! ```
//!
//! `[rate_limit]` throttles sources from the start, as `POST /operators/{name}/throttle` does
//! while the service runs (and can lift: `DELETE`): each key is a source (`radar`, `optical`,
//! `isl`, `laser_ranging`, `passive_rf`, `space_based_optical`, `bistatic_radar`,
//! `photometry`), `per_second` and `burst` are 1 to 1,000,000,000. A throttled
//! source holds what it read until a permit comes; for radar that means the socket's queue
//! fills and the kernel drops what does not fit (counted in `kernel_dropped`), as when it is
//! paused.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use sda_ingest_core::SensorKind;
use sda_ingest_core::sim::skew::Skew;
use serde::Deserialize;
use thiserror::Error;

use crate::app::TransportMode;
use crate::pipeline::EventTimeSettings;

/// Log and progress output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The file's contents.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Output folder.
    pub out: Option<PathBuf>,
    /// Run length, seconds.
    pub duration_s: Option<f64>,
    /// Load multiplier.
    pub rate: Option<f64>,
    /// Scenario seed.
    pub seed: Option<u64>,
    /// Seconds between simulated sensor sweeps.
    pub cadence_s: Option<f64>,
    /// Replays before finishing.
    pub passes: Option<u32>,
    /// Log and progress format.
    pub log_format: Option<LogFormat>,
    /// Seconds between progress lines.
    pub progress_interval_s: Option<f64>,
    /// How radar and ISL arrive when no endpoint is given.
    pub transport: Option<TransportMode>,
    /// Radar UDP listen address.
    pub radar_bind: Option<SocketAddr>,
    /// ISL TCP peer address.
    pub isl_connect: Option<SocketAddr>,
    /// Optical archive base URL.
    pub optical_url: Option<String>,
    /// Control plane listen address.
    pub control_addr: Option<SocketAddr>,
    /// Control plane bearer token (the environment variable wins).
    pub control_token: Option<String>,
    /// The receive queue the radar socket asks the kernel for, bytes.
    pub radar_recv_buffer_bytes: Option<usize>,
    /// Networks radar datagrams are accepted from (`["127.0.0.1/32", …]`); others are counted
    /// and dropped undecoded.
    pub radar_allow: Option<Vec<ipnet::IpNet>>,
    /// Longest wait for the ISL connection, seconds.
    pub isl_connect_timeout_s: Option<f64>,
    /// An ISL link with no whole frame for this long is reconnected, seconds.
    pub isl_idle_timeout_s: Option<f64>,
    /// TCP keepalive idle time of the ISL link, seconds; 0 turns keepalive off.
    pub isl_keepalive_s: Option<f64>,
    /// The catalog file (TLE, 3LE, OMM JSON or CSV).
    pub catalog: Option<PathBuf>,
    /// The catalog URL, downloaded at start and every `catalog_refresh_s`.
    pub catalog_url: Option<String>,
    /// Seconds between downloads of `catalog_url`.
    pub catalog_refresh_s: Option<f64>,
    /// Seconds between looks at the catalog file's modification time and size.
    pub catalog_watch_s: Option<f64>,
    /// Simulation start, RFC 3339.
    pub epoch: Option<String>,
    /// Screening start, RFC 3339.
    pub screen_start: Option<String>,
    /// Load test: objects of a generated catalog-shaped population.
    pub population: Option<usize>,
    /// Correlator parameters.
    #[serde(default)]
    pub correlator: CorrelatorFile,
    /// The dead-letter rate limit.
    #[serde(default)]
    pub dead_letters: DeadLettersFile,
    /// Rate limits of sources, by source name (`[rate_limit]`).
    #[serde(default)]
    pub rate_limit: BTreeMap<String, RateLimitFile>,
    /// Event-time windows, lateness, out-of-orderness and idleness (`[event_time]`).
    #[serde(default)]
    pub event_time: EventTimeFile,
    /// The simulator's out-of-order and late delivery, by source name (`[skew.radar]`).
    #[serde(default)]
    pub skew: BTreeMap<String, Skew>,
}

/// The `[event_time]` table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTimeFile {
    /// Length of the correlator's tumbling event-time windows, seconds.
    pub window_s: Option<f64>,
    /// How long past its end a window stays open, seconds of event time.
    pub allowed_lateness_s: Option<f64>,
    /// A source silent this long is left out of the watermark, seconds.
    pub idle_timeout_s: Option<f64>,
    /// Every source's out-of-orderness bound, seconds of event time.
    pub out_of_orderness_s: Option<f64>,
    /// Per source bounds, by source name, over `out_of_orderness_s`.
    #[serde(default)]
    pub out_of_orderness: BTreeMap<String, f64>,
}

impl FileConfig {
    /// The event-time settings of `[event_time]` and `[skew.SOURCE]` over the defaults.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for an unknown source name or a value out of range.
    pub fn event_time_settings(&self) -> Result<EventTimeSettings, ConfigError> {
        let mut settings = EventTimeSettings::default();
        let e = &self.event_time;
        let at_least = |name: &'static str, value: f64, min: f64, strict: bool| {
            if value.is_finite() && (value > min || (!strict && value == min)) {
                Ok(value)
            } else if strict {
                Err(ConfigError::invalid(
                    name,
                    format!("must be more than {min}"),
                ))
            } else {
                Err(ConfigError::invalid(
                    name,
                    format!("must be at least {min}"),
                ))
            }
        };
        if let Some(v) = e.window_s {
            settings.windows.window_s = at_least("event_time.window_s", v, 0.0, true)?;
        }
        if let Some(v) = e.allowed_lateness_s {
            settings.windows.allowed_lateness_s =
                at_least("event_time.allowed_lateness_s", v, 0.0, false)?;
        }
        if let Some(v) = e.idle_timeout_s {
            let v = at_least("event_time.idle_timeout_s", v, 0.0, true)?;
            settings.idle_timeout = Duration::from_secs_f64(v);
        }
        if let Some(v) = e.out_of_orderness_s {
            let v = at_least("event_time.out_of_orderness_s", v, 0.0, false)?;
            settings.out_of_orderness_s = [v; SensorKind::COUNT];
        }
        for (name, bound) in &e.out_of_orderness {
            let kind = source_kind("event_time.out_of_orderness", name)?;
            settings.out_of_orderness_s[kind.index()] =
                at_least("event_time.out_of_orderness", *bound, 0.0, false)?;
        }
        for (name, skew) in &self.skew {
            let kind = source_kind("skew", name)?;
            at_least("skew.max_delay_s", skew.max_delay_s, 0.0, false)?;
            at_least("skew.late_delay_s", skew.late_delay_s, 0.0, false)?;
            if !(0.0..=1.0).contains(&skew.late_fraction) {
                return Err(ConfigError::invalid(
                    "skew.late_fraction",
                    "must be between 0 and 1",
                ));
            }
            settings.skew.insert(kind, *skew);
        }
        Ok(settings)
    }
}

/// The sensor kind a source name of the config file names.
fn source_kind(setting: &'static str, name: &str) -> Result<SensorKind, ConfigError> {
    SensorKind::ALL
        .into_iter()
        .find(|k| k.as_str() == name)
        .ok_or_else(|| ConfigError::invalid(setting, format!("names no source: {name:?}")))
}

/// One source's entry of the `[rate_limit]` table: `radar = { per_second = 500, burst = 1000 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFile {
    /// Sustained items per second the source may send.
    pub per_second: u32,
    /// Items it may send at once after sending below the rate; `per_second` when left out.
    pub burst: Option<u32>,
}

/// The `[dead_letters]` table: the rate limit per source and reason code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLettersFile {
    /// Sustained dead letters written per second.
    pub per_second: Option<u32>,
    /// Dead letters written in a burst above the sustained rate.
    pub burst: Option<u32>,
}

/// The `[correlator]` table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrelatorFile {
    /// Association gate, km.
    pub gate_km: Option<f64>,
    /// Conjunction alert threshold, km.
    pub threshold_km: Option<f64>,
    /// Screening lookahead past the latest observation epoch, seconds.
    pub lookahead_s: Option<f64>,
    /// Pool jobs a screening run is split into.
    pub jobs: Option<usize>,
}

/// Why the configuration could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A setting (a flag or a file key) has a value it cannot take.
    #[error("{setting} {reason}")]
    Invalid {
        /// The flag (`--rate`) or file key (`correlator.gate_km`).
        setting: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// It could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// It is not valid TOML for this schema.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error, with line and column.
        source: toml::de::Error,
    },
}

impl ConfigError {
    /// A setting with a value it cannot take.
    pub fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}

impl FileConfig {
    /// Reads and parses `path`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the file cannot be read or does not match the schema.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }
}
