//! `correlator`: associates observations with catalog objects and screens the catalog for
//! close approaches, all on the propagator pool so SGP4 never runs on the I/O runtime.
//!
//! Its input is a [`CorrelatorInput`]: observations out of `dedup` (lifted by the
//! `to_correlator` adapter) and new catalogs from the `catalog` source. Where the propagation
//! runs is a [`PropagatorRuntime`]: the service always uses [`PropagatorRuntime::Pool`];
//! [`PropagatorRuntime::Inline`] exists so that benchmarks can measure what the bulkhead buys.
//!
//! **At catalog scale.** Association finds a hinted object through the catalog's NORAD index
//! and splits a large batch into [`CorrelatorConfig::jobs`] pool jobs; screening cuts its
//! window into chunks of samples ([`ScreeningPlan::split`]) run as parallel pool jobs and
//! joined with [`merge`].
//!
//! **Catalog swaps.** A new catalog takes effect as soon as the correlator takes it from its
//! input: before the observations taken with it are associated, and between two screening runs,
//! so every run screens one whole catalog. The screening window is then rewound to the latest
//! observed epoch (never before [`CorrelatorConfig::screen_from`]), so the window ahead is
//! screened again with the new elements; a pair already alerted is not alerted again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use sda_ingest_core::Observation;
use sda_ingest_core::orbit::associate::IndexedCatalog;
use sda_ingest_core::orbit::conjunction::{
    Conjunction, Screening, ScreeningConfig, ScreeningPlan, merge,
};
use sda_ingest_core::orbit::fusion::{self, Fix, FusedState, Fusion};
use sda_ingest_core::orbit::propagate::PropagateError;
use sda_ingest_core::process::event_time::{ClosedWindow, EventTimeConfig, EventWindows};
use sda_orchestrator::checkpoint::State;
use sda_orchestrator::time::EventTime;
use sda_orchestrator::{
    InputEvent, OperatorContext, OperatorFactory,
    resilience::{DedicatedPool, PoolError},
};

use serde::{Deserialize, Serialize};

use crate::catalog::{ActiveCatalog, SharedCatalog};
use crate::pipeline::Delivered;
use crate::pipeline::counters::{Counters, add, bump};
use crate::pipeline::faults::FaultInjection;

/// What the correlator takes from its input.
#[derive(Debug, Clone)]
pub enum CorrelatorInput {
    /// An accepted, first-seen observation, from `dedup`.
    Observation(Arc<Delivered>),
    /// A new, checked catalog, from the `catalog` source.
    Catalog(Arc<ActiveCatalog>),
}

/// A close approach found by screening, with the objects' names from the catalog it was
/// found in (`None` where that catalog has no name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedConjunction {
    /// The approach.
    pub conjunction: Conjunction,
    /// Name of [`Conjunction::a`].
    #[serde(with = "shared_name")]
    pub name_a: Option<Arc<str>>,
    /// Name of [`Conjunction::b`].
    #[serde(with = "shared_name")]
    pub name_b: Option<Arc<str>>,
    /// The separation at closest approach corrected by the objects' fused states, km
    /// ([`fusion::fused_miss_km`]); the catalog's own when neither object has been fused.
    pub fused_miss_km: f64,
    /// How many observations the two objects' fused states were made from.
    pub fused_observations: u32,
}

impl NamedConjunction {
    /// `c` with the names `catalog` gives its objects, and no fused correction.
    pub fn new(c: Conjunction, catalog: &ActiveCatalog) -> Self {
        NamedConjunction {
            name_a: catalog.name(c.a),
            name_b: catalog.name(c.b),
            fused_miss_km: c.miss_distance_km,
            fused_observations: 0,
            conjunction: c,
        }
    }
}

/// A shared name, (de)serialized as a plain string.
mod shared_name {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        name: &Option<Arc<str>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match name {
            Some(name) => serializer.serialize_some(&**name),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Arc<str>>, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?.map(Arc::from))
    }
}

/// How the correlator groups observations before it fuses them and screens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Windowing {
    /// Tumbling event-time windows, closed by the input watermark (the service).
    EventTime(EventTimeConfig),
    /// What arrived together is one window, closed at once: the processing-time design the
    /// correlator had before event time, kept so that tests and benchmarks can compare.
    Arrival,
}

/// Observations one association job takes at least: smaller batches are not worth splitting.
const ASSOCIATION_CHUNK: usize = 128;

/// Samples one screening job takes at least: each chunk propagates one extra sample at each
/// side, so shorter chunks would spend more on their edges than they gain in parallel.
const SCREENING_CHUNK_SAMPLES: usize = 8;

/// Observations handed to the pool per job: one job per wake-up when the correlator keeps up,
/// bigger jobs (fewer hand-offs between runtimes) when it has a backlog to catch up on.
pub const CORRELATOR_BATCH: usize = 1024;

/// Correlator parameters. The default is a placeholder (every number zero, arrival windows):
/// what a restored [`CorrelatorState`] holds until the operator gives it the run's own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorrelatorConfig {
    /// Association gate: an observation farther than this from every object is unassociated, km.
    pub gate_km: f64,
    /// Conjunction screening parameters (threshold, step).
    pub screening: ScreeningConfig,
    /// Screening starts here: the catalog's epoch, UTC Unix seconds.
    pub screen_from: f64,
    /// Screening never looks past this (UTC Unix seconds), whatever epochs arrive, so one
    /// far-future observation cannot start an unbounded screening run.
    pub screen_limit: f64,
    /// How far past the latest observed epoch to screen, seconds.
    pub lookahead_s: f64,
    /// Screen only once the horizon has advanced at least this far, seconds.
    pub min_step_s: f64,
    /// Propagation-load multiplier, a **load knob for benchmarks**: after its association
    /// (one SGP4 propagation when it confirms the sensor's object hint, one per catalog object
    /// when it searches), each observation runs `work_factor − 1` more propagations (catalog
    /// objects in turn, at the observation's epoch), so a hinted observation costs
    /// `work_factor` propagations instead of one: "N× propagation load". The result is the
    /// same whatever the value; the service uses 1, and 0 counts as 1.
    pub work_factor: u32,
    /// Pool jobs a screening run or a large association batch is split into: the pool's worker
    /// threads; 0 counts as 1.
    pub jobs: usize,
    /// How observations are windowed.
    pub windowing: Windowing,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        CorrelatorConfig {
            gate_km: 0.0,
            screening: ScreeningConfig::default(),
            screen_from: 0.0,
            screen_limit: 0.0,
            lookahead_s: 0.0,
            min_step_s: 0.0,
            work_factor: 1,
            jobs: 1,
            windowing: Windowing::Arrival,
        }
    }
}

/// Where the correlator runs its propagation work (association and screening).
#[derive(Debug, Clone)]
pub enum PropagatorRuntime {
    /// On the PropagatorPool, a [`DedicatedPool`] with its own runtime and threads: the
    /// bulkhead that keeps SGP4 off the I/O runtime, and what the service uses.
    Pool(DedicatedPool),
    /// On the correlator's own task, on the main runtime, blocking one of its workers while
    /// it computes. No bulkhead: the comparison run of the `bulkhead_pipeline` benchmark.
    Inline,
    /// Nowhere: the correlator drains its input without associating or screening. For the
    /// benchmarks' runs of "the pipeline without its correlator" on the real topology.
    Skip,
}

impl PropagatorRuntime {
    /// Runs `work` where this runtime says and returns its result.
    ///
    /// # Errors
    ///
    /// With [`PropagatorRuntime::Pool`], as [`DedicatedPool::submit`] (the pool shut down, or
    /// `work` panicked). [`PropagatorRuntime::Inline`] never fails: a panic in `work` unwinds
    /// through the correlator's task like any operator panic.
    pub async fn run<F, R>(&self, work: F) -> Result<R, PoolError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        match self {
            PropagatorRuntime::Pool(pool) => pool.submit(work).await,
            PropagatorRuntime::Inline | PropagatorRuntime::Skip => Ok(work()),
        }
    }

    /// Whether this is [`PropagatorRuntime::Skip`].
    pub fn is_skip(&self) -> bool {
        matches!(self, PropagatorRuntime::Skip)
    }
}

impl From<DedicatedPool> for PropagatorRuntime {
    fn from(pool: DedicatedPool) -> Self {
        PropagatorRuntime::Pool(pool)
    }
}

/// One observation as association leaves it: its epoch and, when it fixes a point and was
/// associated, its fix. Its window adds the fix to its [`Fusion`] and counts the observation;
/// nothing else of it is kept (the windows are checkpointed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowEntry {
    /// The observation's epoch, UTC Unix seconds.
    pub epoch: f64,
    /// Its fix, for fusion.
    pub fix: Option<Fix>,
}

/// The correlator's windows, fused states, screening state and decisions: the synchronous
/// kernel shared by the operator and the hand-wired benchmark baseline. It lives outside the
/// operator's incarnation, so a restart resumes screening where it stopped and raises no pair
/// twice. In the service it is the operator's registered state (`ctx.state`): checkpointed,
/// restored after a crash, kept across restarts; the configuration is not part of it (each run
/// gives its own).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorrelatorState {
    #[serde(skip)]
    config: CorrelatorConfig,
    /// Whether it was made for a run's configuration (a default one, as a fresh registered
    /// state starts, is not: its screening start is a placeholder).
    configured: bool,
    /// Screening has covered the catalog up to here, UTC Unix seconds.
    screened_until: f64,
    /// How far screening should reach: the latest observed epoch plus the lookahead.
    horizon: f64,
    /// The latest observed epoch: "now" for the observations, where a rewind starts.
    latest: f64,
    /// Pairs already found: alerted, or waiting in `pending`.
    raised: HashSet<(u32, u32)>,
    /// Alerts found but not yet handed on. An alert leaves only once its send succeeded, so
    /// an error or abort during the send leaves it here for the next incarnation.
    pending: VecDeque<NamedConjunction>,
    /// Objects screening has left out (SGP4 failed) and the log has named, for this catalog.
    #[serde(skip)]
    left_out: HashSet<u32>,
    /// Observations waiting for their event-time window to close: each window's fixes, fused
    /// as they arrive, and its count and latest epoch.
    windows: EventWindows<Fusion>,
    /// Each object's latest fused state: from the last closed window that fixed it.
    fused: HashMap<u32, FusedState>,
}

impl Default for CorrelatorState {
    /// A placeholder, replaced by [`CorrelatorState::new`] with the run's configuration when
    /// the operator registers it ([`Correlator::register`]).
    fn default() -> Self {
        CorrelatorState {
            configured: false,
            ..CorrelatorState::new(CorrelatorConfig::default())
        }
    }
}

impl CorrelatorState {
    /// Nothing screened yet; screening starts at `config.screen_from`.
    pub fn new(config: CorrelatorConfig) -> Self {
        let windows = match config.windowing {
            Windowing::EventTime(windows) => windows,
            Windowing::Arrival => EventTimeConfig::default(),
        };
        CorrelatorState {
            configured: true,
            screened_until: config.screen_from,
            // The lowest finite number rather than -inf: a checkpoint stores it as JSON.
            horizon: f64::MIN,
            latest: f64::MIN,
            raised: HashSet::new(),
            pending: VecDeque::new(),
            left_out: HashSet::new(),
            windows: EventWindows::new(windows),
            fused: HashMap::new(),
            config,
        }
    }

    /// Moves the horizon to the latest epoch of `batch` plus the lookahead (never past
    /// `screen_limit`, never backwards).
    pub fn observe(&mut self, batch: &[Arc<Delivered>]) {
        self.observe_epochs(batch.iter().map(|d| d.observation.epoch));
    }

    fn observe_epochs(&mut self, epochs: impl Iterator<Item = f64>) {
        let latest = epochs.fold(f64::NEG_INFINITY, f64::max);
        let reach = (latest + self.config.lookahead_s).min(self.config.screen_limit);
        self.horizon = self.horizon.max(reach);
        self.latest = self.latest.max(latest);
    }

    /// Takes in the entries of one arrival: with [`Windowing::EventTime`], each waits in its
    /// window (returns how many were late: their window had closed, so they are not fused);
    /// with [`Windowing::Arrival`] they are one window, applied at once.
    pub fn arrived(&mut self, entries: Vec<WindowEntry>) -> u64 {
        match self.config.windowing {
            Windowing::Arrival => {
                self.apply(ClosedWindow {
                    index: 0,
                    start_s: f64::NEG_INFINITY,
                    end_s: f64::INFINITY,
                    records: entries.len() as u64,
                    latest_s: entries.iter().map(|e| e.epoch).fold(f64::MIN, f64::max),
                    contents: entries.iter().filter_map(|e| e.fix.as_ref()).collect(),
                });
                0
            }
            Windowing::EventTime(_) => {
                let mut late = 0;
                for entry in entries {
                    let in_time = match entry.fix {
                        Some(fix) => self.windows.insert_with(entry.epoch, |f| f.add(&fix)),
                        None => self.windows.insert_epoch(entry.epoch),
                    }
                    .is_ok();
                    if !in_time {
                        // Fold its epoch in anyway: screening must still reach past it.
                        self.observe_epochs(std::iter::once(entry.epoch));
                        late += 1;
                    }
                }
                late
            }
        }
    }

    /// The windows the input watermark `watermark` closes, in order (none in
    /// [`Windowing::Arrival`], or without a watermark).
    pub fn close(&mut self, watermark: Option<EventTime>) -> Vec<ClosedWindow<Fusion>> {
        match (self.config.windowing, watermark) {
            (Windowing::EventTime(_), Some(w)) => {
                self.windows.close(w.as_unix_micros() as f64 / 1e6)
            }
            _ => Vec::new(),
        }
    }

    /// Every window still open, in order: the input has ended.
    pub fn close_all(&mut self) -> Vec<ClosedWindow<Fusion>> {
        self.windows.close_all()
    }

    /// A window closed: its fixes are fused into the objects' states and screening's horizon
    /// moves to its latest epoch plus the lookahead.
    pub fn apply(&mut self, window: ClosedWindow<Fusion>) {
        for state in window.contents.states() {
            self.fused.insert(state.norad_id, state);
        }
        self.observe_epochs(std::iter::once(window.latest_s));
    }

    /// The fused state of `norad_id`, if a closed window has fixed it.
    pub fn fused(&self, norad_id: u32) -> Option<&FusedState> {
        self.fused.get(&norad_id)
    }

    /// A new catalog is in use: screening goes back to the latest observed epoch (never
    /// before `screen_from`), so the window ahead is screened again with it; the pairs already
    /// raised stay raised.
    pub fn catalog_swapped(&mut self) {
        let now = self.latest.max(self.config.screen_from);
        self.screened_until = self.screened_until.min(now);
        self.left_out.clear();
    }

    /// The failures of `failed` whose object has not been named before for this catalog.
    pub fn newly_left_out<'a>(&mut self, failed: &'a [PropagateError]) -> Vec<&'a PropagateError> {
        failed
            .iter()
            .filter(|e| match e {
                PropagateError::Elements { norad_id, .. }
                | PropagateError::Diverged { norad_id, .. } => self.left_out.insert(*norad_id),
                PropagateError::Catalog(_) => true,
            })
            .collect()
    }

    /// The window `(from, until)` to screen now: once the horizon has moved at least
    /// `min_step_s` past what was screened, or, when `closing` (the input has ended), as soon
    /// as it has moved at all.
    pub fn due(&self, closing: bool) -> Option<(f64, f64)> {
        let ahead = self.horizon - self.screened_until;
        let due = if closing {
            ahead > 0.0
        } else {
            ahead >= self.config.min_step_s
        };
        due.then_some((self.screened_until, self.horizon))
    }

    /// Records that screening reached `until`, and queues the conjunctions of `found` whose
    /// pair had not been found before as alerts to hand on, named from `catalog`. Each comes
    /// with B's position less A's at closest approach from the catalog (`None`: not known);
    /// corrected by the objects' fused states, it must still be under the screening threshold.
    pub fn found(
        &mut self,
        until: f64,
        found: Vec<(Conjunction, Option<[f64; 3]>)>,
        catalog: &ActiveCatalog,
    ) {
        self.screened_until = self.screened_until.max(until);
        for (c, relative) in found {
            let mut named = NamedConjunction::new(c, catalog);
            let (a, b) = (self.fused.get(&c.a), self.fused.get(&c.b));
            if let (Some(relative), true) = (relative, a.is_some() || b.is_some()) {
                named.fused_miss_km = fusion::fused_miss_km(relative, a, b);
                named.fused_observations = a.map_or(0, |s| s.fixes) + b.map_or(0, |s| s.fixes);
            }
            if named.fused_miss_km > self.config.screening.threshold_km {
                continue;
            }
            if self.raised.insert((c.a, c.b)) {
                self.pending.push_back(named);
            }
        }
    }

    /// The next alert to hand on, if any; it stays queued until [`CorrelatorState::sent`].
    pub fn next_alert(&self) -> Option<NamedConjunction> {
        self.pending.front().cloned()
    }

    /// The alert [`CorrelatorState::next_alert`] gave was handed on.
    pub fn sent(&mut self) {
        self.pending.pop_front();
    }
}

/// Associates every observation of `batch` with the catalog and returns how many found an
/// object, and each observation as a window holds it (its fix, when it has one); with a
/// `work_factor` above 1, each also runs that many less one extra propagations
/// (the benchmark load knob). Synchronous: the caller runs it on the PropagatorPool.
pub fn associate_batch(
    batch: &[Arc<Delivered>],
    catalog: &IndexedCatalog,
    config: &CorrelatorConfig,
) -> (u64, Vec<WindowEntry>) {
    let mut hits = 0;
    let entries = batch
        .iter()
        .map(|d| {
            let obs = &d.observation;
            let fix = associated(obs, catalog, config).and_then(|a| {
                hits += 1;
                fusion::fix(obs, a.norad_id, a.predicted_km)
            });
            WindowEntry {
                epoch: obs.epoch,
                fix,
            }
        })
        .collect();
    (hits, entries)
}

/// The correlator's work, shared by the operator and the hand-wired benchmark baseline:
/// association and screening on the propagator runtime, and the [`CorrelatorState`] that
/// survives restarts. Only how alerts leave differs between the two.
#[derive(Debug, Clone)]
pub struct Correlator {
    pool: PropagatorRuntime,
    catalog: SharedCatalog,
    config: CorrelatorConfig,
    counters: Arc<Counters>,
    state: StateSlot,
}

/// Where a [`Correlator`]'s state lives: its own, or the operator's registered state.
#[derive(Debug, Clone)]
enum StateSlot {
    Local(Arc<Mutex<CorrelatorState>>),
    Registered(State<CorrelatorState>),
}

impl StateSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, CorrelatorState> {
        match self {
            StateSlot::Local(state) => state.lock().unwrap_or_else(PoisonError::into_inner),
            StateSlot::Registered(state) => state.lock(),
        }
    }
}

impl Correlator {
    /// A correlator over the catalog `catalog` holds, running its propagation on `pool`.
    pub fn new(
        pool: PropagatorRuntime,
        catalog: SharedCatalog,
        config: CorrelatorConfig,
        counters: Arc<Counters>,
    ) -> Self {
        Correlator {
            pool,
            catalog,
            state: StateSlot::Local(Arc::new(Mutex::new(CorrelatorState::new(config)))),
            config,
            counters,
        }
    }

    /// Keeps the state in `state` (the operator's registered state) from now on: fresh, or
    /// restored from a checkpoint, or left by an earlier incarnation; it is given this
    /// correlator's configuration, which is not stored.
    pub fn register(&mut self, state: State<CorrelatorState>) {
        state.update(|s| {
            if s.configured {
                s.config = self.config;
            } else {
                *s = CorrelatorState::new(self.config);
            }
        });
        self.state = StateSlot::Registered(state);
    }

    /// Whether the correlator only drains its input ([`PropagatorRuntime::Skip`]).
    pub fn skips(&self) -> bool {
        self.pool.is_skip()
    }

    /// Associates the observations of `batch` (leaving it empty) on the pool, counting
    /// `associated` and `unassociated`, and puts them in their windows
    /// ([`CorrelatorState::arrived`]): with [`Windowing::Arrival`] that moves the screening
    /// horizon at once; with event time, when the watermark closes their window
    /// ([`Correlator::advance`]).
    ///
    /// # Errors
    ///
    /// The pool failed ([`PoolError`]).
    pub async fn observe(&self, batch: &mut Vec<Arc<Delivered>>) -> Result<(), PoolError> {
        if batch.is_empty() {
            return Ok(());
        }
        let total = batch.len() as u64;
        let per_job = batch
            .len()
            .div_ceil(self.config.jobs.max(1))
            .max(ASSOCIATION_CHUNK);
        let catalog = self.catalog.current();
        let mut jobs = Vec::new();
        while !batch.is_empty() {
            let rest = batch.split_off(per_job.min(batch.len()));
            let chunk = std::mem::replace(batch, rest);
            let (catalog, config) = (Arc::clone(&catalog), self.config);
            jobs.push(
                self.pool
                    .run(move || associate_batch(&chunk, catalog.objects(), &config)),
            );
        }
        let mut hits = 0;
        let mut entries = Vec::with_capacity(total as usize);
        for (found, part) in futures::future::try_join_all(jobs).await? {
            hits += found;
            entries.extend(part);
        }
        add(&self.counters.associated, hits);
        add(&self.counters.unassociated, total - hits);
        let late = self.state.lock().arrived(entries);
        if late > 0 {
            add(&self.counters.correlator_late, late);
            tracing::warn!(
                operator = "correlator",
                late,
                "observations arrived after their window closed: delivered, not fused"
            );
        }
        Ok(())
    }

    /// Closes the windows the input watermark `watermark` closes, one at a time in order:
    /// each is fused, moves the horizon, and is screened as [`Correlator::screen`] would, so
    /// the alerts do not depend on how far the watermark moved at once.
    ///
    /// # Errors
    ///
    /// The pool failed ([`PoolError`]).
    pub async fn advance(&self, watermark: Option<EventTime>) -> Result<(), PoolError> {
        let closed = self.state.lock().close(watermark);
        self.apply_all(closed).await
    }

    async fn apply_all(&self, closed: Vec<ClosedWindow<Fusion>>) -> Result<(), PoolError> {
        for window in closed {
            self.state.lock().apply(window);
            self.screen_due(false).await?;
        }
        Ok(())
    }

    /// Puts `next` in use (see the module documentation for when and what it rewinds).
    pub fn swap(&self, next: Arc<ActiveCatalog>) {
        self.catalog.swap(next);
        self.state.lock().catalog_swapped();
    }

    /// Screens the window that is due (see [`CorrelatorState::due`]) on the pool and queues
    /// the new conjunctions as alerts. When `closing` (the input has ended), every event-time
    /// window still open is closed first, in order.
    ///
    /// # Errors
    ///
    /// The pool failed ([`PoolError`]).
    pub async fn screen(&self, closing: bool) -> Result<(), PoolError> {
        if closing {
            let rest = self.state.lock().close_all();
            self.apply_all(rest).await?;
        }
        self.screen_due(closing).await
    }

    async fn screen_due(&self, closing: bool) -> Result<(), PoolError> {
        let due = self.state.lock().due(closing);
        let Some((from, until)) = due else {
            return Ok(());
        };
        tracing::debug!(operator = "correlator", from, until, "screening");
        let catalog = self.catalog.current();
        let plan = ScreeningPlan::new(from, until, &self.config.screening);
        let parts = (plan.samples() / SCREENING_CHUNK_SAMPLES).clamp(1, self.config.jobs.max(1));
        let jobs = plan.split(parts).into_iter().map(|chunk| {
            let objects = Arc::clone(catalog.objects().objects());
            self.pool.run(move || chunk.screen(&objects))
        });
        let found: Screening = merge(futures::future::try_join_all(jobs).await?);
        bump(&self.counters.screenings);
        // B's position less A's at each closest approach, for the fused correction: two
        // propagations per approach, on the pool as well.
        let objects = catalog.objects().clone();
        let conjunctions = found.conjunctions;
        let with_relative = self
            .pool
            .run(move || {
                conjunctions
                    .into_iter()
                    .map(|c| {
                        let at = |id| objects.get(id).and_then(|p| p.state_at(c.tca).ok());
                        let relative = at(c.a).zip(at(c.b)).map(|(a, b)| {
                            sda_ingest_core::orbit::frames::sub(b.position_km, a.position_km)
                        });
                        (c, relative)
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
        let mut state = self.state.lock();
        for failure in state.newly_left_out(&found.failed) {
            tracing::warn!(operator = "correlator", error = %failure, "object left out of screening");
        }
        state.found(until, with_relative, &catalog);
        Ok(())
    }

    /// The next alert to hand on; it stays queued until [`Correlator::sent`].
    pub fn next_alert(&self) -> Option<NamedConjunction> {
        self.state.lock().next_alert()
    }

    /// The alert [`Correlator::next_alert`] gave was handed on.
    pub fn sent(&self) {
        self.state.lock().sent();
    }
}

/// The `correlator` operator, emitting each close approach found once per pair.
///
/// Screening is driven by event time: observations wait in tumbling event-time windows
/// ([`Windowing::EventTime`]) until the input watermark closes them; each closed window is
/// fused (each object's residuals, weighted by its sensors' sigmas) and moves the horizon to
/// its latest epoch plus `lookahead_s`; the catalog is then screened from where the last run
/// stopped up to the horizon, in steps of at least `min_step_s`, and each approach found is
/// corrected by the objects' fused states before it is alerted. When the input closes, every
/// window left is closed and whatever is left up to the horizon is screened.
/// Association and screening both run on the [`Correlator`]'s runtime (the PropagatorPool in
/// the service); each association is followed by the extra propagations of
/// [`CorrelatorConfig::work_factor`]. A new catalog is put in use as soon as it is taken from
/// the input (see the module documentation).
pub fn correlator(
    kernel: Correlator,
    faults: FaultInjection,
) -> impl OperatorFactory<CorrelatorInput, NamedConjunction> {
    move |mut ctx: OperatorContext<CorrelatorInput, NamedConjunction>| {
        let (mut kernel, faults) = (kernel.clone(), faults.clone());
        async move {
            // Checkpointed, restored after a crash, the same value in every incarnation.
            kernel.register(ctx.state::<CorrelatorState>()?);
            let mut inputs = Vec::with_capacity(CORRELATOR_BATCH);
            let mut batch = Vec::with_capacity(CORRELATOR_BATCH);
            loop {
                // Events too: a watermark that advances with no item behind it (a quiet
                // moment, the end of a stream) must still close windows.
                let open = match ctx
                    .input
                    .recv_many_event(&mut inputs, CORRELATOR_BATCH)
                    .await
                {
                    Some(InputEvent::Item(_)) => true,
                    Some(InputEvent::Watermark(watermark)) => {
                        if !kernel.skips() {
                            kernel.advance(Some(watermark)).await?;
                            send_alerts(&kernel, &faults, &mut ctx).await?;
                        }
                        continue;
                    }
                    // The inbox has snapshotted the registered states at alignment; nothing
                    // here is written anywhere, so the checkpoint is committed at once.
                    Some(InputEvent::Checkpoint(token)) => {
                        token.commit();
                        continue;
                    }
                    None => false,
                };
                if open {
                    // An injected failure gives the inputs back, so the next incarnation has them.
                    faults.check_holding("correlator", &mut ctx.input, &mut inputs)?;
                }
                // Swapped here, before anything that can fail, a catalog taken from the input
                // cannot be lost to a restart.
                for input in inputs.drain(..) {
                    match input {
                        CorrelatorInput::Observation(delivered) => batch.push(delivered),
                        CorrelatorInput::Catalog(catalog) => kernel.swap(catalog),
                    }
                }
                if kernel.skips() {
                    batch.clear();
                    if open {
                        continue;
                    }
                    return Ok(());
                }
                if open {
                    kernel.observe(&mut batch).await?;
                    // Associated and counted: the batch is finished, whatever happens next.
                    ctx.input.done();
                    // The windows the input watermark closes are fused and screened now.
                    kernel.advance(ctx.input.watermark()).await?;
                }
                kernel.screen(!open).await?;
                send_alerts(&kernel, &faults, &mut ctx).await?;
                if !open {
                    return Ok(());
                }
            }
        }
    }
}

/// Hands on every queued alert. Alerts leave the state only once handed on: one whose send
/// failed, or whose incarnation was stopped, is sent by the next incarnation.
async fn send_alerts(
    kernel: &Correlator,
    faults: &FaultInjection,
    ctx: &mut OperatorContext<CorrelatorInput, NamedConjunction>,
) -> anyhow::Result<()> {
    while let Some(alert) = kernel.next_alert() {
        faults.check("correlator:alert")?;
        ctx.output.send(alert).await?;
        kernel.sent();
    }
    Ok(())
}

/// Whether `obs` associates with an object of `objects`; with a `work_factor` above 1, also
/// runs that many less one extra propagations (the load knob).
fn associated(
    obs: &Observation,
    objects: &IndexedCatalog,
    config: &CorrelatorConfig,
) -> Option<sda_ingest_core::orbit::associate::Association> {
    let found = objects.associate(obs, config.gate_km);
    let extra = config.work_factor.saturating_sub(1) as usize;
    for object in objects.objects().iter().cycle().take(extra) {
        // `black_box` keeps the extra propagations from being optimised away.
        let _ = std::hint::black_box(object.state_at(std::hint::black_box(obs.epoch)));
    }
    found
}

#[cfg(test)]
mod tests {
    use sda_ingest_core::sim::scenario::{Scenario, ScenarioConfig};
    use sda_ingest_core::{Measurement, SensorKind};

    use super::*;
    use crate::catalog::CatalogOrigin;

    fn config() -> CorrelatorConfig {
        CorrelatorConfig {
            gate_km: 50.0,
            screening: ScreeningConfig::default(),
            screen_from: 1_000.0,
            screen_limit: 100_000.0,
            lookahead_s: 3_600.0,
            min_step_s: 600.0,
            work_factor: 1,
            jobs: 2,
            windowing: Windowing::Arrival,
        }
    }

    fn delivered(epoch: f64) -> Arc<Delivered> {
        let obs = Observation {
            id: "slr-1/1".into(),
            sensor: "slr-1".into(),
            sensor_kind: SensorKind::LaserRanging,
            object_hint: None,
            epoch,
            observer: None,
            measurement: Measurement::Range { range_m: 1.0e6 },
            quality: Default::default(),
            ingest: Default::default(),
        };
        Arc::new(Delivered::new(obs).unwrap())
    }

    fn catalog() -> ActiveCatalog {
        let s = Scenario::generate(&ScenarioConfig::default()).unwrap();
        ActiveCatalog::from_generated(&s.catalog, s.propagators.clone(), CatalogOrigin::Simulator)
    }

    #[test]
    fn a_swap_rewinds_screening_to_the_latest_observation_and_keeps_raised_pairs() {
        let mut state = CorrelatorState::new(config());
        assert_eq!(state.due(false), None);
        state.observe(&[delivered(5_000.0)]);
        assert_eq!(state.due(false), Some((1_000.0, 8_600.0)));
        let catalog = catalog();
        let c = Conjunction {
            a: 45_001,
            b: 45_002,
            tca: 8_000.0,
            miss_distance_km: 0.3,
            relative_speed_km_s: 2.6,
            miss_rtn_km: [0.3, 0.0, 0.0],
        };
        state.found(8_600.0, vec![(c, None)], &catalog);
        let alert = state.next_alert().unwrap();
        assert_eq!(alert.name_a.as_deref(), Some("PLANTED-45001"));
        assert_eq!(alert.name_b.as_deref(), Some("PLANTED-45002"));
        state.sent();
        assert_eq!(state.due(true), None);

        // A new catalog: the window from the latest observation on is screened again.
        state.catalog_swapped();
        assert_eq!(state.due(false), Some((5_000.0, 8_600.0)));
        // The same pair found again is not raised twice.
        state.found(8_600.0, vec![(c, None)], &catalog);
        assert_eq!(state.next_alert(), None);
    }

    #[tokio::test]
    async fn screening_and_association_split_into_jobs_find_what_one_job_finds() {
        let s = Scenario::generate(&ScenarioConfig::default()).unwrap();
        let (start, planted) = (s.config.start_unix_s, s.expected.conjunction.unwrap());
        let mut runs = Vec::new();
        for jobs in [1, 4] {
            let settings = crate::app::CorrelatorSettings {
                jobs,
                ..Default::default()
            };
            let counters = Arc::new(Counters::default());
            let kernel = Correlator::new(
                PropagatorRuntime::Inline,
                SharedCatalog::new(catalog()),
                settings.for_window(start, s.config.duration_s),
                counters.clone(),
            );
            // Enough observations for several association jobs, and a horizon two hours on:
            // 121 samples, cut into `jobs` chunks.
            let mut batch: Vec<_> = (0..3 * ASSOCIATION_CHUNK)
                .map(|_| delivered(start + 3_600.0))
                .collect();
            kernel.observe(&mut batch).await.unwrap();
            kernel.screen(true).await.unwrap();
            let seen = counters
                .associated
                .load(std::sync::atomic::Ordering::Relaxed)
                + counters
                    .unassociated
                    .load(std::sync::atomic::Ordering::Relaxed);
            assert_eq!(seen, 3 * ASSOCIATION_CHUNK as u64);
            let mut alerts = Vec::new();
            while let Some(alert) = kernel.next_alert() {
                alerts.push(alert);
                kernel.sent();
            }
            runs.push(alerts);
        }
        assert_eq!(runs[0], runs[1]);
        let found = runs[0]
            .iter()
            .find(|a| (a.conjunction.a, a.conjunction.b) == (planted.a, planted.b))
            .unwrap();
        assert!((found.conjunction.tca - planted.tca).abs() < 1e-3);
        assert_eq!(found.name_b.as_deref(), Some("PLANTED-45002"));
    }

    #[test]
    fn a_swap_before_any_observation_starts_at_the_screening_start() {
        let mut state = CorrelatorState::new(config());
        state.catalog_swapped();
        state.observe(&[delivered(2_000.0)]);
        assert_eq!(state.due(false), Some((1_000.0, 5_600.0)));
    }
}
