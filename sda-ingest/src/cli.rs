//! Command-line flags, merged with the optional config file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use sda_ingest_core::SensorKind;
use sda_orchestrator::control::ThrottleLimit;

use crate::app::{
    AppConfig, CatalogSettings, ControlToken, DEFAULT_CONTROL_ADDR, ProgressStyle, TransportMode,
};
use crate::config::{ConfigError, FileConfig, LogFormat};

/// `sda-ingest`: runs the SDA ingest pipeline on the built-in simulator.
///
/// With no flags it replays the simulated scenario once into `./sda-out` (radar over UDP and
/// ISL over TCP on loopback, from simulator peers it starts on ephemeral ports) and keeps running
/// until Ctrl-C or SIGTERM, printing progress every two seconds on stderr and a final JSON
/// summary on stdout. Flags override the config file, which overrides the defaults.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "sda-ingest", version, about, long_about = None)]
pub struct Cli {
    /// Instead of running the pipeline: a tool over an output folder.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// TOML configuration file (keys as the flags; see the README).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder for the output files, created if missing; the files are replaced (continued,
    /// never replaced, by --role core)
    /// [default: ./sda-out].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run this many seconds, then drain and exit [default: until Ctrl-C or SIGTERM].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Load multiplier on the simulator's base rate of 25 records/s per source [default: 1].
    #[arg(long, value_name = "MULT")]
    pub rate: Option<f64>,
    /// Seed of the simulated scenario [default: 42].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Seconds between the simulated sensors' sweeps [default: 60]. Smaller generates more
    /// unique records (0.2 gives about 280,000), for long or heavy runs; generation takes longer.
    #[arg(long, value_name = "SECS")]
    pub cadence: Option<f64>,
    /// Replay the scenario N times, then drain and exit [default: replay once, then idle until
    /// stopped]. Replays after the first re-send identical records, which dedup drops.
    #[arg(long, value_name = "N")]
    pub passes: Option<u32>,
    /// Log and progress format [default: json, or human when stderr is a terminal].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Seconds between progress lines [default: 2].
    #[arg(long, value_name = "SECS")]
    pub progress_interval: Option<f64>,
    /// How radar and ISL arrive when no endpoint is given: `loopback` (real UDP/TCP sockets on
    /// 127.0.0.1, fed by simulator peers the app starts) or `inprocess` (no sockets)
    /// [default: loopback].
    #[arg(long, value_enum)]
    pub transport: Option<TransportMode>,
    /// Listen for radar datagrams (UDP) on ADDR instead of starting the simulator's sender.
    #[arg(long, value_name = "ADDR")]
    pub radar_bind: Option<SocketAddr>,
    /// Read the ISL stream (TCP) from ADDR instead of starting the simulator's server.
    #[arg(long, value_name = "ADDR")]
    pub isl_connect: Option<SocketAddr>,
    /// Serve the HTTP control plane (health, metrics, topology, operators, pause/resume) on ADDR;
    /// port 0 picks a free port (logged). Pause/resume need a token in $SDA_CONTROL_TOKEN
    /// or the config file [default: 127.0.0.1:9898].
    #[arg(long, value_name = "ADDR")]
    pub control_addr: Option<SocketAddr>,
    /// Serve no control plane.
    #[arg(long, conflicts_with = "control_addr")]
    pub no_control: bool,
    /// Poll the optical archive at URL (HTTP) instead of starting the simulator's archive.
    #[arg(long, value_name = "URL")]
    pub optical_url: Option<String>,
    /// The catalog to associate and screen with, and to simulate against: TLE, 3LE, or CCSDS
    /// OMM as JSON or CSV (told from the content). Bad element sets are reported by line and
    /// skipped; the file is watched and a new version swapped in while running
    /// [default: the simulator's own catalog].
    #[arg(long, value_name = "FILE", conflicts_with = "population")]
    pub catalog: Option<PathBuf>,
    /// Download the catalog from URL (HTTP GET) and again every `catalog_refresh_s` (config
    /// file, default 3600); with --catalog, the file is the one loaded at start.
    #[arg(long, value_name = "URL", conflicts_with = "population")]
    pub catalog_url: Option<String>,
    /// Start of the simulated observations, RFC 3339 (e.g. 2024-03-01T12:00:00Z)
    /// [default: the catalog's newest element epoch, or 2024-01-01T00:00:00Z].
    #[arg(long, value_name = "RFC3339")]
    pub epoch: Option<String>,
    /// Start of conjunction screening, RFC 3339 [default: the simulation's start].
    #[arg(long, value_name = "RFC3339")]
    pub screen_start: Option<String>,
    /// Screen this many seconds past the latest observation epoch [default: 3600, or
    /// correlator.lookahead_s].
    #[arg(long, value_name = "SECS")]
    pub lookahead: Option<f64>,
    /// Take a checkpoint of every source's position and operator's state every SECS seconds,
    /// in `--out`/checkpoints [default: no checkpoints].
    #[arg(long, value_name = "SECS")]
    pub checkpoint_interval: Option<f64>,
    /// Start from the last complete checkpoint in `--out` and continue its output files
    /// (skipping records already written) instead of replacing them; checkpoints go on (every
    /// 10 s unless `--checkpoint-interval` says otherwise).
    #[arg(long)]
    pub resume: bool,
    /// Load test: simulate against N generated objects shaped like the public catalog
    /// (constellation shells, debris clouds, GEO, ...; at most 49,999) plus the planted pair,
    /// instead of the simulator's 32 objects.
    #[arg(long, value_name = "N")]
    pub population: Option<usize>,
    /// Which part of the pipeline to run: `all` (one process, no broker), `edge` (sources →
    /// normalize → validate → JetStream) or `core` (JetStream → dedup → sinks → correlator;
    /// continues the files in --out instead of replacing them) [default: all].
    #[arg(long, value_enum)]
    pub role: Option<crate::scaleout::Role>,
    /// The NATS server (JetStream enabled) of the edge and core roles, e.g.
    /// nats://127.0.0.1:4222.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// Testing only: make the named operator panic on its first item.
    #[arg(long, value_name = "OPERATOR", hide = true)]
    pub inject_panic: Option<String>,
    /// Testing only: make the named operator fail on its first item, every time it starts.
    #[arg(long, value_name = "OPERATOR", hide = true)]
    pub inject_error: Option<String>,
    /// Testing only: make the named check point fail once (an operator, or `correlator:alert`).
    #[arg(long, value_name = "POINT", hide = true)]
    pub inject_error_once: Option<String>,
}

/// The tools over an output folder.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Checks the hash chains of audit.jsonl and control_audit.jsonl in DIR: exit 0 when both
    /// are intact, 1 naming the first line where a file was edited, truncated or reordered.
    VerifyAudit {
        /// The output folder of a run (its --out).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

impl Cli {
    /// The config file named by `--config`, or an empty one.
    ///
    /// # Errors
    ///
    /// The file cannot be read or parsed; the error names it.
    pub fn file_config(&self) -> Result<FileConfig, ConfigError> {
        self.config
            .as_deref()
            .map_or_else(|| Ok(FileConfig::default()), FileConfig::load)
    }

    /// The log format: the flag, else the file's, else JSON — the service's format for log
    /// collectors — unless stderr is a terminal, where a person reads it.
    pub fn log_format(&self, file: &FileConfig) -> LogFormat {
        self.log_format.or(file.log_format).unwrap_or_else(|| {
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                LogFormat::Human
            } else {
                LogFormat::Json
            }
        })
    }

    /// The application configuration: flags over `file` over the defaults.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the setting when a value is out of range.
    pub fn app_config(&self, file: &FileConfig) -> Result<AppConfig, ConfigError> {
        let seconds = |name: &'static str, secs: f64| {
            Duration::try_from_secs_f64(secs)
                .map_err(|_| ConfigError::invalid(name, "must be a non-negative number of seconds"))
        };
        let positive = |name: &'static str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(value)
            } else {
                Err(ConfigError::invalid(name, "must be a positive number"))
            }
        };
        let defaults = AppConfig::default();
        let rate = positive("--rate", self.rate.or(file.rate).unwrap_or(defaults.rate))?;
        let passes = self.passes.or(file.passes);
        if passes == Some(0) {
            return Err(ConfigError::invalid("--passes", "must be at least 1"));
        }
        let mut dead_letter_limit = defaults.dead_letter_limit;
        let limit = &file.dead_letters;
        if let Some(n) = limit.per_second {
            dead_letter_limit.per_second = std::num::NonZeroU32::new(n).ok_or_else(|| {
                ConfigError::invalid("dead_letters.per_second", "must be at least 1")
            })?;
        }
        if let Some(n) = limit.burst {
            dead_letter_limit.burst = std::num::NonZeroU32::new(n)
                .ok_or_else(|| ConfigError::invalid("dead_letters.burst", "must be at least 1"))?;
        }
        let rate_limits = rate_limits(file)?;
        let mut isl_link = defaults.isl_link;
        if let Some(secs) = file.isl_connect_timeout_s {
            isl_link.connect_timeout = seconds(
                "isl_connect_timeout_s",
                positive("isl_connect_timeout_s", secs)?,
            )?;
        }
        if let Some(secs) = file.isl_idle_timeout_s {
            isl_link.idle_timeout =
                seconds("isl_idle_timeout_s", positive("isl_idle_timeout_s", secs)?)?;
        }
        if let Some(secs) = file.isl_keepalive_s {
            // Zero turns keepalive off.
            isl_link.keepalive = match seconds("isl_keepalive_s", secs)? {
                d if d.is_zero() => None,
                d => Some(d),
            };
        }
        let progress_interval = match self.progress_interval.or(file.progress_interval_s) {
            Some(secs) => seconds(
                "--progress-interval",
                positive("--progress-interval", secs)?,
            )?,
            None => defaults.progress_interval,
        };
        let duration = self.duration.or(file.duration_s);
        let mut correlator = defaults.correlator;
        let c = &file.correlator;
        correlator.gate_km = positive(
            "correlator.gate_km",
            c.gate_km.unwrap_or(correlator.gate_km),
        )?;
        correlator.threshold_km = positive(
            "correlator.threshold_km",
            c.threshold_km.unwrap_or(correlator.threshold_km),
        )?;
        correlator.lookahead_s = match self.lookahead {
            Some(secs) => positive("--lookahead", secs)?,
            None => positive(
                "correlator.lookahead_s",
                c.lookahead_s.unwrap_or(correlator.lookahead_s),
            )?,
        };
        if let Some(jobs) = c.jobs {
            if jobs == 0 {
                return Err(ConfigError::invalid(
                    "correlator.jobs",
                    "must be at least 1",
                ));
            }
            correlator.jobs = jobs;
        }
        let catalog = self.catalog_settings(file)?;
        let instant = |name: &'static str, text: Option<&String>| {
            text.map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|d| d.timestamp() as f64 + f64::from(d.timestamp_subsec_nanos()) / 1e9)
                    .map_err(|e| {
                        ConfigError::invalid(name, format!("{t:?} is not an RFC 3339 time: {e}"))
                    })
            })
            .transpose()
        };
        let epoch = instant("--epoch", self.epoch.as_ref().or(file.epoch.as_ref()))?;
        let screen_start = instant(
            "--screen-start",
            self.screen_start.as_ref().or(file.screen_start.as_ref()),
        )?;
        let event_time = file.event_time_settings()?;
        let checkpoints = crate::app::CheckpointSettings {
            interval: self
                .checkpoint_interval
                .map(|secs| {
                    seconds(
                        "--checkpoint-interval",
                        positive("--checkpoint-interval", secs)?,
                    )
                })
                .transpose()?,
            resume: self.resume,
        };
        Ok(AppConfig {
            event_time,
            checkpoints,
            out_dir: self
                .out
                .clone()
                .or_else(|| file.out.clone())
                .unwrap_or(defaults.out_dir),
            duration: duration.map(|d| seconds("--duration", d)).transpose()?,
            rate,
            seed: self.seed.or(file.seed).unwrap_or(defaults.seed),
            cadence_s: self
                .cadence
                .or(file.cadence_s)
                .map(|c| positive("--cadence", c))
                .transpose()?,
            passes,
            progress_interval,
            progress: match self.log_format(file) {
                LogFormat::Human => ProgressStyle::Human,
                LogFormat::Json => ProgressStyle::Json,
            },
            correlator,
            inject_panic: self.inject_panic.clone(),
            inject_error: self.inject_error.clone(),
            inject_error_once: self.inject_error_once.clone(),
            drain_deadline: defaults.drain_deadline,
            transport: self
                .transport
                .or(file.transport)
                .unwrap_or(defaults.transport),
            radar_bind: self.radar_bind.or(file.radar_bind),
            isl_connect: self.isl_connect.or(file.isl_connect),
            control_addr: (!self.no_control).then(|| {
                self.control_addr
                    .or(file.control_addr)
                    .unwrap_or(DEFAULT_CONTROL_ADDR)
            }),
            control_token: ControlToken::from_env()
                .or_else(|| file.control_token.clone().and_then(ControlToken::new)),
            optical_url: self
                .optical_url
                .clone()
                .or_else(|| file.optical_url.clone())
                .map(|url| {
                    reqwest::Url::parse(&url).map_err(|e| {
                        ConfigError::invalid(
                            "--optical-url",
                            format!("{url:?} is not a valid URL: {e}"),
                        )
                    })
                })
                .transpose()?,
            radar_recv_buffer: file
                .radar_recv_buffer_bytes
                .unwrap_or(defaults.radar_recv_buffer),
            radar_allow: file.radar_allow.clone().unwrap_or_default(),
            isl_link,
            dead_letter_limit,
            rate_limits,
            catalog,
            epoch,
            screen_start,
            role: self.role.unwrap_or_default(),
            nats_url: self.nats.clone(),
        })
    }

    /// The catalog settings: flags over `file` over the defaults.
    fn catalog_settings(&self, file: &FileConfig) -> Result<CatalogSettings, ConfigError> {
        let defaults = CatalogSettings::default();
        let interval = |name: &'static str, secs: Option<f64>, default: Duration| match secs {
            Some(s) if s.is_finite() && s > 0.0 => Duration::try_from_secs_f64(s)
                .map_err(|_| ConfigError::invalid(name, "must be a positive number of seconds")),
            Some(_) => Err(ConfigError::invalid(
                name,
                "must be a positive number of seconds",
            )),
            None => Ok(default),
        };
        let url = self
            .catalog_url
            .clone()
            .or_else(|| file.catalog_url.clone())
            .map(|url| {
                reqwest::Url::parse(&url).map_err(|e| {
                    ConfigError::invalid(
                        "--catalog-url",
                        format!("{url:?} is not a valid URL: {e}"),
                    )
                })
            })
            .transpose()?;
        let population = self.population.or(file.population);
        let path = self.catalog.clone().or_else(|| file.catalog.clone());
        if population.is_some() && (path.is_some() || url.is_some()) {
            return Err(ConfigError::invalid(
                "--population",
                "cannot be combined with a catalog file or URL",
            ));
        }
        if population == Some(0) {
            return Err(ConfigError::invalid("--population", "must be at least 1"));
        }
        Ok(CatalogSettings {
            file: path,
            url,
            refresh: interval(
                "catalog_refresh_s",
                file.catalog_refresh_s,
                defaults.refresh,
            )?,
            watch: interval("catalog_watch_s", file.catalog_watch_s, defaults.watch)?,
            population,
        })
    }
}

/// The `[rate_limit]` table, checked: every key a source, every limit one a throttle takes.
fn rate_limits(file: &FileConfig) -> Result<Vec<(SensorKind, ThrottleLimit)>, ConfigError> {
    file.rate_limit
        .iter()
        .map(|(name, limit)| {
            let kind = SensorKind::ALL
                .into_iter()
                .find(|k| k.as_str() == name)
                .ok_or_else(|| {
                    let sources: Vec<&str> = SensorKind::ALL.iter().map(|k| k.as_str()).collect();
                    ConfigError::invalid(
                        "rate_limit",
                        format!(
                            "names `{name}`, which is not a source; the sources are {}",
                            sources.join(", ")
                        ),
                    )
                })?;
            let burst = limit.burst.unwrap_or(limit.per_second);
            let limit = ThrottleLimit::new(limit.per_second, burst).map_err(|_| {
                ConfigError::invalid(
                    "rate_limit",
                    format!(
                        "of `{name}` needs per_second and burst from 1 to 1000000000 (got \
                         per_second = {}, burst = {burst})",
                        limit.per_second
                    ),
                )
            })?;
            Ok((kind, limit))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Result<AppConfig, ConfigError> {
        let file: FileConfig = toml::from_str(toml).map_err(|source| ConfigError::Parse {
            path: PathBuf::from("test.toml"),
            source,
        })?;
        Cli::default().app_config(&file)
    }

    #[test]
    fn rate_limits_are_read_per_source_with_the_burst_defaulting_to_the_rate() {
        let config = config(
            "[rate_limit]\nradar = { per_second = 500, burst = 1000 }\noptical = { per_second = 50 }\n",
        )
        .unwrap();
        assert_eq!(
            config.rate_limits,
            [
                (SensorKind::Optical, ThrottleLimit::new(50, 50).unwrap()),
                (SensorKind::Radar, ThrottleLimit::new(500, 1000).unwrap()),
            ]
        );
        assert!(self::config("").unwrap().rate_limits.is_empty());
    }

    #[test]
    fn a_bad_rate_limit_is_refused_naming_it() {
        let error = config("[rate_limit]\nradr = { per_second = 5 }\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "rate_limit names `radr`, which is not a source; the sources are radar, optical, isl, \
             laser_ranging, passive_rf, space_based_optical, bistatic_radar, photometry"
        );
        let error = config("[rate_limit]\nisl = { per_second = 0 }\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "rate_limit of `isl` needs per_second and burst from 1 to 1000000000 (got \
             per_second = 0, burst = 0)"
        );
        assert!(config("[rate_limit]\nisl = { per_second = 5, burst = 0 }\n").is_err());
        assert!(config("[rate_limit]\nisl = { per_second = 5, burst = 1000000001 }\n").is_err());
        assert!(config("[rate_limit]\nisl = { per_second = 2000000000 }\n").is_err());
        // Unknown keys and wrong types are parse errors, with the line.
        for text in [
            "[rate_limit]\nisl = { per_second = 5, brust = 9 }\n",
            "[rate_limit]\nisl = { per_second = -5 }\n",
            "[rate_limit]\nisl = 5\n",
        ] {
            assert!(
                matches!(config(text), Err(ConfigError::Parse { .. })),
                "{text}"
            );
        }
    }
}
