//! The application: generates the scenario, wires the pipeline, runs it under the supervisor
//! until it finishes, the duration elapses or a stop signal arrives, and reports a [`Summary`].

mod checkpoints;
mod control;
mod control_audit;
mod progress;
mod signals;
mod summary;
mod transports;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::FutureExt as _;
use sda_orchestrator::{
    SupervisorEvent, SupervisorPolicy,
    control::ThrottleLimit,
    monitor::{GraphMonitor, RecentRing},
    resilience::{DedicatedPool, PoolConfig},
};
use tokio::time::Instant;

pub use checkpoints::{CHECKPOINT_DIR, CheckpointSettings};
pub use control::{ControlToken, DEFAULT_CONTROL_ADDR, RECENT_DEAD_LETTERS, TOKEN_ENV};
pub use progress::ProgressStyle;
pub use signals::Signals;
pub use summary::Summary;

pub use crate::scaleout::Role;

use sda_ingest_core::SensorKind;
use sda_ingest_core::orbit::conjunction::ScreeningConfig;
use sda_ingest_core::sim::scenario::{Population, Scenario, ScenarioConfig};

use crate::catalog::{
    ActiveCatalog, CatalogFeed, CatalogOrigin, FeedStart, SharedCatalog, SourcesDone,
};
use crate::pipeline::EventTimeSettings;
use crate::pipeline::operators::{CorrelatorConfig, PropagatorRuntime, Windowing};
use crate::pipeline::sinks::{DeadLetterLimit, files};
use crate::pipeline::{Counters, FaultInjection, Parts, build_topology};
use crate::simulator::{BASE_RECORDS_PER_S, Pacing};
use crate::transport::{IslLink, RadarSocket};
use sda_ingest_core::process::event_time::EventTimeConfig;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    /// Folder of the output files.
    pub out_dir: PathBuf,
    /// Stop after this long; `None` runs until the stop signal (or the last pass).
    pub duration: Option<Duration>,
    /// Load multiplier on [`BASE_RECORDS_PER_S`].
    pub rate: f64,
    /// Scenario seed.
    pub seed: u64,
    /// Seconds between the scenario's sensor sweeps (`None`: the scenario's default, 60 s);
    /// smaller values generate proportionally more unique records, for long or heavy runs.
    pub cadence_s: Option<f64>,
    /// Replays before the sources finish; `None` replays once and idles until stopped.
    pub passes: Option<u32>,
    /// Time between progress lines.
    pub progress_interval: Duration,
    /// How progress is reported.
    pub progress: ProgressStyle,
    /// How long a shutdown may take to drain before stragglers are aborted.
    pub drain_deadline: Duration,
    /// Correlator parameters.
    pub correlator: CorrelatorSettings,
    /// Testing only: the operator to make panic on its first item.
    pub inject_panic: Option<String>,
    /// Testing only: the operator to make fail on its first item, every time it is started.
    pub inject_error: Option<String>,
    /// Testing only: the check point (an operator, or `correlator:alert`) to make fail once.
    pub inject_error_once: Option<String>,
    /// How the radar and ISL sources receive their streams.
    pub transport: TransportMode,
    /// Listen for radar datagrams here instead of starting the simulator's UDP sender.
    pub radar_bind: Option<SocketAddr>,
    /// Read the ISL stream from this peer instead of starting the simulator's TCP server.
    pub isl_connect: Option<SocketAddr>,
    /// Poll this optical archive instead of starting the simulator's HTTP archive.
    pub optical_url: Option<reqwest::Url>,
    /// The receive queue the radar socket asks the kernel for, bytes.
    pub radar_recv_buffer: usize,
    /// Radar datagrams from addresses outside these networks are counted and dropped
    /// undecoded; empty accepts every address.
    pub radar_allow: Vec<ipnet::IpNet>,
    /// The ISL link's timeouts and keepalive.
    pub isl_link: IslLink,
    /// How many dead letters per source and reason are written.
    pub dead_letter_limit: DeadLetterLimit,
    /// Sources throttled from the start (`[rate_limit]` in the config file); the control plane
    /// can change or lift each limit while the service runs.
    pub rate_limits: Vec<(SensorKind, ThrottleLimit)>,
    /// Serve the control plane here (port 0 picks a free one); `None` serves none. The binary
    /// defaults to [`DEFAULT_CONTROL_ADDR`].
    pub control_addr: Option<SocketAddr>,
    /// The bearer token that enables pause/resume; `None` leaves them disabled.
    pub control_token: Option<ControlToken>,
    /// The catalog: the simulator's own, a file, a URL, or a generated population.
    pub catalog: CatalogSettings,
    /// Start of the simulated observations, UTC Unix seconds; `None`: the catalog's newest
    /// element epoch (the built-in scenario's start for the simulator's own catalog).
    pub epoch: Option<f64>,
    /// Start of screening, UTC Unix seconds; `None`: the simulation's start.
    pub screen_start: Option<f64>,
    /// Event time: windows, lateness, the sources' out-of-orderness, idleness and the
    /// simulator's skew (`[event_time]` and `[skew.SOURCE]` in the config file).
    pub event_time: EventTimeSettings,
    /// Checkpoints (`--checkpoint-interval`) and resuming from them (`--resume`).
    pub checkpoints: CheckpointSettings,
    /// Which part of the pipeline this process runs (see [`crate::scaleout`]).
    pub role: Role,
    /// The NATS server of the edge and core roles.
    pub nats_url: Option<String>,
}

/// Where the catalog comes from and how it is kept fresh.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogSettings {
    /// A catalog file: loaded at start, watched while running.
    pub file: Option<PathBuf>,
    /// A catalog URL: downloaded at start (unless `file` is given) and every `refresh`.
    pub url: Option<reqwest::Url>,
    /// Time between downloads of `url`.
    pub refresh: Duration,
    /// Time between looks at `file`'s modification time and size.
    pub watch: Duration,
    /// A generated catalog-shaped population of this many objects instead of the simulator's
    /// own (a load test); not with `file` or `url`.
    pub population: Option<usize>,
}

impl Default for CatalogSettings {
    /// The simulator's own catalog; a URL would be downloaded hourly and a file looked at
    /// every 10 s.
    fn default() -> Self {
        CatalogSettings {
            file: None,
            url: None,
            refresh: Duration::from_secs(3_600),
            watch: Duration::from_secs(10),
            population: None,
        }
    }
}

/// How the radar and ISL sources receive their streams when no endpoint is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportMode {
    /// Real sockets on loopback: the app starts the simulator's UDP sender and TCP server on
    /// ephemeral ports of 127.0.0.1, and the sources receive from them.
    #[default]
    Loopback,
    /// The simulator's bytes handed over in-process (no sockets), for determinism.
    Inprocess,
}

/// The correlator's tunable parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorrelatorSettings {
    /// Association gate, km.
    pub gate_km: f64,
    /// Conjunction alert threshold, km.
    pub threshold_km: f64,
    /// Screening lookahead past the latest observation epoch, seconds.
    pub lookahead_s: f64,
    /// Pool jobs a screening run (and a large association batch) is split into.
    pub jobs: usize,
}

impl Default for CorrelatorSettings {
    /// A 50 km gate, alerts under 1 km (the scenario's planted-approach threshold), one hour
    /// of lookahead, and [`default_jobs`] pool jobs.
    fn default() -> Self {
        CorrelatorSettings {
            gate_km: 50.0,
            threshold_km: ScenarioConfig::default().conjunction_threshold_km,
            lookahead_s: 3_600.0,
            jobs: default_jobs(),
        }
    }
}

/// Pool jobs per screening run by default: one per CPU but one, at least one. Screening at
/// catalog scale keeps every job's core busy for a second or more, and a core left to the I/O
/// runtime keeps the ingest path's tail lower meanwhile: on 2 vCPUs, the audit path's p99
/// during a rescreen of 25,000 objects was 2.6 ms with two jobs and 1.4 ms with one (medians
/// of 8 runs, 0.4 ms between rescreens), for a rescreen of 1.3 s against 1.6 s
/// (BENCHMARKS.md, catalog swap).
pub fn default_jobs() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    cpus.saturating_sub(1).max(1)
}

impl CorrelatorSettings {
    /// The correlator's configuration for a scenario window starting at `start_unix_s` and
    /// lasting `duration_s`: screening starts at the window and never looks more than a day
    /// past it, in steps of at least ten minutes; no extra propagation load.
    pub fn for_window(&self, start_unix_s: f64, duration_s: f64) -> CorrelatorConfig {
        CorrelatorConfig {
            gate_km: self.gate_km,
            screening: ScreeningConfig {
                threshold_km: self.threshold_km,
                ..ScreeningConfig::default()
            },
            screen_from: start_unix_s,
            // One day past the window bounds any screening run.
            screen_limit: start_unix_s + duration_s + 86_400.0,
            lookahead_s: self.lookahead_s,
            min_step_s: 600.0,
            work_factor: 1,
            jobs: self.jobs.max(1),
            windowing: Windowing::EventTime(EventTimeConfig::default()),
        }
    }
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            out_dir: PathBuf::from("./sda-out"),
            duration: None,
            rate: 1.0,
            seed: ScenarioConfig::default().seed,
            cadence_s: None,
            passes: None,
            progress_interval: Duration::from_secs(2),
            progress: ProgressStyle::Human,
            drain_deadline: Duration::from_secs(10),
            correlator: CorrelatorSettings::default(),
            inject_panic: None,
            inject_error: None,
            inject_error_once: None,
            transport: TransportMode::default(),
            radar_bind: None,
            isl_connect: None,
            optical_url: None,
            radar_recv_buffer: RadarSocket::DEFAULT_RECV_BUFFER,
            radar_allow: Vec::new(),
            isl_link: IslLink::default(),
            dead_letter_limit: DeadLetterLimit::default(),
            rate_limits: Vec::new(),
            control_addr: None,
            control_token: None,
            catalog: CatalogSettings::default(),
            epoch: None,
            screen_start: None,
            event_time: EventTimeSettings::default(),
            checkpoints: CheckpointSettings::default(),
            role: Role::All,
            nats_url: None,
        }
    }
}

/// Runs the pipeline until it finishes by itself (`passes`), `duration` elapses, or `stop`
/// completes; then drains it and reports.
///
/// # Errors
///
/// Start-up failures only: the output folder cannot be prepared, the scenario cannot be
/// generated, the pool cannot start, or the graph does not build. How the run itself ended is
/// in [`Summary::outcome`].
pub async fn run(
    config: AppConfig,
    stop: impl Future<Output = ()> + Send,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    // The stop signal is watched from the first moment: a stop during start-up (a large
    // scenario takes seconds to generate) ends the run cleanly, with a summary.
    let stop = stop.boxed().shared();
    // Before anything records a metric: what is recorded earlier has nowhere to go.
    if config.control_addr.is_some() {
        crate::telemetry::prometheus();
    }
    let pool = DedicatedPool::new(PoolConfig::new("propagator").low_priority(true))?;
    let ready = tokio::select! {
        ready = start_up(&config, &pool) => ready?,
        () = stop.clone() => {
            tracing::info!("stop signal during start-up; nothing was started");
            shut_down_pool(&pool).await;
            let summary = Summary::new(
                Counters::default().snapshot(),
                0,
                0,
                SupervisorEvent::CleanShutdown,
                started.elapsed(),
                &config.out_dir,
                None,
            );
            summary.log();
            return Ok(summary);
        }
    };
    let Ready {
        parts,
        counters,
        peers,
    } = ready;
    let dead_letters = parts
        .dead_letter_ring
        .clone()
        .unwrap_or_else(|| RecentRing::new(1));
    let catalog = parts.catalog.clone();
    let parts_existing = parts.existing;
    let declared = match (config.role, config.nats_url.as_deref()) {
        // Checkpoints (`--checkpoint-interval`, `--resume`) are the single process's; the core
        // takes its own, to acknowledge the stream.
        (Role::All, _) => config
            .checkpoints
            .apply(build_topology(&parts), &config.out_dir),
        (Role::Edge, Some(url)) => crate::scaleout::edge_topology(&parts, url),
        (Role::Core, Some(url)) => crate::scaleout::core_topology(&parts, url),
        // Refused by `start_up`.
        (_, None) => anyhow::bail!("--role edge and --role core need --nats URL"),
    };
    // A source silent this long is left out of the watermark, so it holds no window open.
    let declared = declared.with_idle_timeout(config.event_time.idle_timeout);
    let declared_fingerprint = declared.declared_fingerprint();
    let built = declared.build()?;
    tracing::info!(
        fingerprint = %built.fingerprint(),
        compiled = declared_fingerprint == Some(built.fingerprint()),
        operators = built.topology().vertices.len(),
        edges = built.topology().edges.len(),
        "topology"
    );
    for (kind, limit) in &config.rate_limits {
        built
            .controls()
            .throttle(kind.as_str(), limit.per_second, limit.burst)
            .with_context(|| format!("cannot throttle source `{}`", kind.as_str()))?;
        tracing::info!(
            source = kind.as_str(),
            per_second = limit.per_second,
            burst = limit.burst,
            "rate limit"
        );
    }
    let (shutdown, monitor) = (built.shutdown_handle(), built.monitor());
    let control_audit = control_audit::ControlAudit::start(&config.out_dir, parts_existing).await?;
    let control = match config.control_addr {
        Some(addr) => {
            let plane = control::plane(
                &built,
                config.control_token.as_ref(),
                dead_letters,
                control_audit.hook(),
            )?;
            let shown = catalog.clone();
            let plane = plane.with_view("catalog", move || shown.view())?;
            Some(control::start(addr, plane).await?)
        }
        None => None,
    };
    let publisher = crate::telemetry::spawn_publisher(counters.clone(), Duration::from_secs(1));
    let reporter = progress::spawn(
        config.progress,
        config.progress_interval,
        counters.clone(),
        monitor.clone(),
    );
    let policy = SupervisorPolicy::default().with_drain_deadline(config.drain_deadline);
    let running = built.run(policy);
    tokio::pin!(running);
    let deadline = async {
        match config.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let stopped_by = tokio::select! {
        outcome = &mut running => Err(outcome),
        () = deadline => Ok("duration reached"),
        () = stop => Ok("stop signal"),
    };
    let outcome = match stopped_by {
        Err(outcome) => outcome,
        Ok(reason) => {
            tracing::info!(reason, "draining");
            shutdown.shutdown();
            running.await
        }
    };
    stop_tasks([reporter, publisher]).await;
    crate::telemetry::publish_counters(&counters.snapshot());
    if let Some(control) = control {
        control.stop().await;
    }
    control_audit.stop().await;
    stop_tasks(peers).await;
    shut_down_pool(&pool).await;
    let summary = Summary::new(
        counters.snapshot_with(frames_lost(&monitor)),
        monitor.total_restarts(),
        monitor.dropped_items(),
        outcome,
        started.elapsed(),
        &config.out_dir,
        Some(&catalog),
    );
    summary.log();
    Ok(summary)
}

/// Aborts `tasks` and waits (at most a second in all) until each has ended: an aborted task is
/// only gone once the runtime has dropped it, and the exit counts tasks still alive.
async fn stop_tasks(tasks: impl IntoIterator<Item = tokio::task::JoinHandle<()>>) {
    let tasks: Vec<_> = tasks.into_iter().collect();
    for task in &tasks {
        task.abort();
    }
    let ended = tokio::time::timeout(Duration::from_secs(1), futures::future::join_all(tasks));
    if ended.await.is_err() {
        tracing::warn!("a reporter or simulator peer did not end within 1 s of being aborted");
    }
}

/// What start-up prepares: the pipeline's parts, its counters and the simulator's peers.
struct Ready {
    parts: Parts,
    counters: Arc<Counters>,
    peers: Vec<tokio::task::JoinHandle<()>>,
}

/// Prepares a run: the output folder, the catalog (loaded and checked on the pool), the
/// scenario (generated on the pool, against that catalog), the transports and their simulator
/// peers.
async fn start_up(config: &AppConfig, pool: &DedicatedPool) -> anyhow::Result<Ready> {
    if config.role != Role::All && config.nats_url.is_none() {
        anyhow::bail!("--role {:?} needs --nats URL", config.role);
    }
    if config.role != Role::All
        && (config.checkpoints.resume || config.checkpoints.interval.is_some())
    {
        anyhow::bail!(
            "--checkpoint-interval and --resume are for --role all; the core continues its \
             output and checkpoints on its own, and the edge's sources cannot replay"
        );
    }
    match config.role {
        Role::All if config.checkpoints.resume => {
            checkpoints::prepare_resume(&config.out_dir).await?;
        }
        Role::All => {
            prepare_out_dir(&config.out_dir).await?;
            checkpoints::remove_checkpoints(&config.out_dir).await?;
        }
        Role::Edge => create_out_dir(&config.out_dir).await?,
        Role::Core => {
            // The core continues its output; its checkpoints only served acknowledgement, and
            // the stream redelivers what none covered, so it starts without them.
            create_out_dir(&config.out_dir).await?;
            let checkpoints = config.out_dir.join(crate::scaleout::CORE_CHECKPOINT_DIR);
            match tokio::fs::remove_dir_all(&checkpoints).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e)
                        .with_context(|| format!("cannot empty {}", checkpoints.display()));
                }
                _ => {}
            }
        }
    }
    let runtime = PropagatorRuntime::from(pool.clone());
    let settings = &config.catalog;
    let mut feed = CatalogFeed::new(settings.file.clone(), settings.url.clone());
    feed.watch_interval = settings.watch;
    feed.refresh_interval = settings.refresh;
    let mut feed_start = FeedStart {
        generation: 1,
        ..FeedStart::default()
    };
    let loaded = if let Some(path) = &settings.file {
        let (catalog, digest) = crate::catalog::read_catalog(path, 1, &runtime)
            .await
            .context("cannot load the catalog")?;
        feed_start.file_digest = Some(digest);
        Some(catalog)
    } else if let Some(url) = &settings.url {
        let (catalog, digest) = crate::catalog::fetch_catalog(&feed, url, 1, &runtime)
            .await
            .context("cannot load the catalog")?;
        feed_start.url_digest = Some(digest);
        Some(catalog)
    } else {
        None
    };
    if let Some(catalog) = &loaded {
        crate::catalog::log_loaded(catalog);
    }
    let defaults = ScenarioConfig::default();
    let population = match (&loaded, settings.population) {
        (Some(catalog), _) => Population::External(Arc::clone(catalog.objects().objects())),
        (None, Some(count)) => Population::Realistic { count },
        (None, None) => Population::Generated,
    };
    let start = config
        .epoch
        .or_else(|| loaded.as_ref().and_then(ActiveCatalog::newest_epoch_unix_s))
        .unwrap_or(defaults.start_unix_s);
    let scenario_config = ScenarioConfig {
        seed: config.seed,
        cadence_s: config.cadence_s.unwrap_or(defaults.cadence_s),
        start_unix_s: start,
        population,
        ..defaults
    };
    let window = (scenario_config.start_unix_s, scenario_config.duration_s);
    let mut scenario = pool
        .submit(move || Scenario::generate(&scenario_config))
        .await?
        .context("cannot generate the simulated scenario")?;
    // Out-of-order and late delivery, when configured, before any source or peer sends.
    crate::pipeline::event_time::skew_streams(
        &mut scenario.streams,
        &config.event_time,
        config.seed,
    );
    let active = match loaded {
        Some(catalog) => catalog,
        None => {
            let origin = settings
                .population
                .map_or(CatalogOrigin::Simulator, CatalogOrigin::Population);
            let generated = ActiveCatalog::from_generated(
                &scenario.catalog,
                scenario.propagators.clone(),
                origin,
            );
            if settings.population.is_some() {
                crate::catalog::log_loaded(&generated);
            }
            generated
        }
    };
    tracing::info!(
        seed = config.seed,
        objects = active.objects().len(),
        records = scenario.expected.messages,
        start = crate::catalog::unix_rfc3339(start).as_deref().unwrap_or("-"),
        out = %config.out_dir.display(),
        "simulator ready"
    );
    let counters = Arc::new(Counters::default());
    let pacing = Pacing {
        records_per_s: BASE_RECORDS_PER_S * config.rate,
        passes: config.passes,
    };
    let (transports, peers) = if config.role == Role::Core {
        // The core reads the stream, not the sensors.
        (crate::transport::Transports::default(), Vec::new())
    } else {
        transports::start_transports(config, &scenario.streams, pacing).await?
    };
    let screen_from = config.screen_start.unwrap_or(window.0);
    let parts = Parts {
        streams: Arc::new(scenario.streams),
        pacing,
        registry: Arc::new(scenario.sensors),
        catalog: SharedCatalog::new(active),
        catalog_feed: feed,
        feed_start,
        sources_done: SourcesDone::new(SensorKind::COUNT),
        propagator: runtime,
        correlator: CorrelatorConfig {
            windowing: Windowing::EventTime(config.event_time.windows),
            ..config
                .correlator
                .for_window(screen_from, window.1 + (window.0 - screen_from).max(0.0))
        },
        event_time: config.event_time.clone(),
        dedup_window: Parts::new_dedup_window(),
        out_dir: config.out_dir.clone(),
        counters: counters.clone(),
        faults: faults(config),
        dead_letter_limit: config.dead_letter_limit,
        transports,
        dead_letter_ring: Some(RecentRing::new(RECENT_DEAD_LETTERS)),
        existing: if config.role == Role::Core {
            crate::pipeline::sinks::Existing::Continue
        } else {
            config.checkpoints.existing()
        },
        chain_audit: true,
    };
    Ok(Ready {
        parts,
        counters,
        peers,
    })
}

/// Shuts the propagator pool down, waiting at most five seconds for work in flight.
async fn shut_down_pool(pool: &DedicatedPool) {
    if let Err(e) = pool.shutdown(Duration::from_secs(5)).await {
        tracing::warn!(error = %e, "propagator pool did not shut down cleanly");
    }
}

/// Per source, the messages the orchestrator counted as lost on the source's edge into
/// `normalize`: the frames the source read that never reached decoding.
fn frames_lost(monitor: &GraphMonitor) -> impl Fn(SensorKind) -> u64 + use<> {
    let edges = monitor.snapshot().edges;
    move |kind| {
        let name = format!("{}->normalize", kind.as_str());
        edges
            .iter()
            .filter(|e| e.name == name)
            .map(|e| e.dropped)
            .sum()
    }
}

/// The faults the testing-only flags ask for.
fn faults(config: &AppConfig) -> FaultInjection {
    let faults = config
        .inject_panic
        .as_deref()
        .map_or_else(FaultInjection::none, FaultInjection::panic_in);
    let faults = match config.inject_error.as_deref() {
        Some(operator) => faults.and_fail_in(operator),
        None => faults,
    };
    match config.inject_error_once.as_deref() {
        Some(point) => faults.and_fail_once_at(point),
        None => faults,
    }
}

/// Creates the output folder (if missing), leaving what it holds.
async fn create_out_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("cannot create output folder {}", dir.display()))
}

/// Creates the output folder and empties the output files (the sinks append).
async fn prepare_out_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    create_out_dir(dir).await?;
    for name in files::ALL {
        let path = dir.join(name);
        tokio::fs::File::create(&path)
            .await
            .with_context(|| format!("cannot create {}", path.display()))?;
    }
    Ok(())
}
