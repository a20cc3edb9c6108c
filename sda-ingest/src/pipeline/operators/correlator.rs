//! `correlator`: associates observations with catalog objects and screens the catalog for
//! close approaches, all on the propagator pool so SGP4 never runs on the I/O runtime.
//!
//! Where the propagation runs is a [`PropagatorRuntime`]: the service always uses
//! [`PropagatorRuntime::Pool`]; [`PropagatorRuntime::Inline`] exists so that benchmarks can
//! measure what the bulkhead buys.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use sda_ingest_core::Observation;
use sda_ingest_core::orbit::associate::associate;
use sda_ingest_core::orbit::conjunction::{Conjunction, ScreeningConfig, screen};
use sda_ingest_core::orbit::propagate::Propagator;
use sda_orchestrator::{
    OperatorContext, OperatorFactory,
    resilience::{DedicatedPool, PoolError},
};

use crate::pipeline::Delivered;
use crate::pipeline::counters::{Counters, add, bump};
use crate::pipeline::faults::FaultInjection;

/// Observations handed to the pool per job: one job per wake-up when the correlator keeps up,
/// bigger jobs (fewer hand-offs between runtimes) when it has a backlog to catch up on.
pub const CORRELATOR_BATCH: usize = 1024;

/// Correlator parameters.
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

/// The correlator's screening state and decisions: the synchronous kernel shared by the
/// operator and the hand-wired benchmark baseline. It lives outside the operator's incarnation,
/// so a restart resumes screening where it stopped and raises no pair twice.
#[derive(Debug, Clone)]
pub struct CorrelatorState {
    config: CorrelatorConfig,
    /// Screening has covered the catalog up to here, UTC Unix seconds.
    screened_until: f64,
    /// How far screening should reach: the latest observed epoch plus the lookahead.
    horizon: f64,
    /// Pairs already found: alerted, or waiting in `pending`.
    raised: HashSet<(u32, u32)>,
    /// Alerts found but not yet handed on. An alert leaves only once its send succeeded, so
    /// an error or abort during the send leaves it here for the next incarnation.
    pending: VecDeque<Conjunction>,
}

impl CorrelatorState {
    /// Nothing screened yet; screening starts at `config.screen_from`.
    pub fn new(config: CorrelatorConfig) -> Self {
        CorrelatorState {
            screened_until: config.screen_from,
            horizon: f64::NEG_INFINITY,
            raised: HashSet::new(),
            pending: VecDeque::new(),
            config,
        }
    }

    /// Moves the horizon to the latest epoch of `batch` plus the lookahead (never past
    /// `screen_limit`, never backwards).
    pub fn observe(&mut self, batch: &[Arc<Delivered>]) {
        let latest = batch
            .iter()
            .map(|d| d.observation.epoch)
            .fold(f64::NEG_INFINITY, f64::max);
        let reach = (latest + self.config.lookahead_s).min(self.config.screen_limit);
        self.horizon = self.horizon.max(reach);
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
    /// pair had not been found before as alerts to hand on.
    pub fn found(&mut self, until: f64, found: Vec<Conjunction>) {
        self.screened_until = self.screened_until.max(until);
        let fresh = found.into_iter().filter(|c| self.raised.insert((c.a, c.b)));
        self.pending.extend(fresh);
    }

    /// The next alert to hand on, if any; it stays queued until [`CorrelatorState::sent`].
    pub fn next_alert(&self) -> Option<Conjunction> {
        self.pending.front().copied()
    }

    /// The alert [`CorrelatorState::next_alert`] gave was handed on.
    pub fn sent(&mut self) {
        self.pending.pop_front();
    }
}

/// Associates every observation of `batch` with the catalog and returns how many found an
/// object; with a `work_factor` above 1, each also runs that many less one extra propagations
/// (the benchmark load knob). Synchronous: the caller runs it on the PropagatorPool.
pub fn associate_batch(
    batch: &[Arc<Delivered>],
    catalog: &[Propagator],
    config: &CorrelatorConfig,
) -> u64 {
    batch
        .iter()
        .filter(|d| associated(&d.observation, catalog, config))
        .count() as u64
}

/// The correlator's work, shared by the operator and the hand-wired benchmark baseline:
/// association and screening on the propagator runtime, and the [`CorrelatorState`] that
/// survives restarts. Only how alerts leave differs between the two.
#[derive(Debug, Clone)]
pub struct Correlator {
    pool: PropagatorRuntime,
    catalog: Arc<[Propagator]>,
    config: CorrelatorConfig,
    counters: Arc<Counters>,
    state: Arc<Mutex<CorrelatorState>>,
}

impl Correlator {
    /// A correlator over `catalog`, running its propagation on `pool`.
    pub fn new(
        pool: PropagatorRuntime,
        catalog: Arc<[Propagator]>,
        config: CorrelatorConfig,
        counters: Arc<Counters>,
    ) -> Self {
        Correlator {
            pool,
            catalog,
            state: Arc::new(Mutex::new(CorrelatorState::new(config))),
            config,
            counters,
        }
    }

    /// Whether the correlator only drains its input ([`PropagatorRuntime::Skip`]).
    pub fn skips(&self) -> bool {
        self.pool.is_skip()
    }

    /// Moves the screening horizon with `batch` (leaving it empty) and associates its
    /// observations on the pool, counting `associated` and `unassociated`.
    ///
    /// # Errors
    ///
    /// The pool failed ([`PoolError`]).
    pub async fn observe(&self, batch: &mut Vec<Arc<Delivered>>) -> Result<(), PoolError> {
        lock(&self.state).observe(batch);
        let (observations, objects, config) =
            (std::mem::take(batch), self.catalog.clone(), self.config);
        let total = observations.len() as u64;
        let hits = self
            .pool
            .run(move || associate_batch(&observations, &objects, &config))
            .await?;
        add(&self.counters.associated, hits);
        add(&self.counters.unassociated, total - hits);
        Ok(())
    }

    /// Screens the window that is due (see [`CorrelatorState::due`]) on the pool and queues
    /// the new conjunctions as alerts.
    ///
    /// # Errors
    ///
    /// The pool failed ([`PoolError`]).
    pub async fn screen(&self, closing: bool) -> Result<(), PoolError> {
        let due = lock(&self.state).due(closing);
        let Some((from, until)) = due else {
            return Ok(());
        };
        let (objects, config) = (self.catalog.clone(), self.config.screening);
        let found = self
            .pool
            .run(move || screen(&objects, from, until, &config))
            .await?;
        bump(&self.counters.screenings);
        for failure in &found.failed {
            tracing::warn!(operator = "correlator", error = %failure, "object left out of screening");
        }
        lock(&self.state).found(until, found.conjunctions);
        Ok(())
    }

    /// The next alert to hand on; it stays queued until [`Correlator::sent`].
    pub fn next_alert(&self) -> Option<Conjunction> {
        lock(&self.state).next_alert()
    }

    /// The alert [`Correlator::next_alert`] gave was handed on.
    pub fn sent(&self) {
        lock(&self.state).sent();
    }
}

/// The `correlator` operator, emitting each close approach found once per pair.
///
/// Screening is driven by the data: as observation epochs advance, the catalog is screened
/// from where the last run stopped up to the latest epoch plus `lookahead_s`, in steps of at
/// least `min_step_s`; when the input closes, whatever is left up to the horizon is screened.
/// Association and screening both run on the [`Correlator`]'s runtime (the PropagatorPool in
/// the service); each association is followed by the extra propagations of
/// [`CorrelatorConfig::work_factor`].
pub fn correlator(
    kernel: Correlator,
    faults: FaultInjection,
) -> impl OperatorFactory<Arc<Delivered>, Conjunction> {
    move |mut ctx: OperatorContext<Arc<Delivered>, Conjunction>| {
        let (kernel, faults) = (kernel.clone(), faults.clone());
        async move {
            let mut batch = Vec::with_capacity(CORRELATOR_BATCH);
            loop {
                let open = ctx.input.recv_many(&mut batch, CORRELATOR_BATCH).await > 0;
                if kernel.skips() {
                    batch.clear();
                    if open {
                        continue;
                    }
                    return Ok(());
                }
                if open {
                    faults.check_holding("correlator", &mut ctx.input, &mut batch)?;
                    kernel.observe(&mut batch).await?;
                    // Associated and counted: the batch is finished, whatever happens next.
                    ctx.input.done();
                }
                kernel.screen(!open).await?;
                // Alerts leave the state only once handed on: one whose send failed, or whose
                // incarnation was stopped, is sent by the next incarnation.
                while let Some(alert) = kernel.next_alert() {
                    faults.check("correlator:alert")?;
                    ctx.output.send(alert).await?;
                    kernel.sent();
                }
                if !open {
                    return Ok(());
                }
            }
        }
    }
}

/// Whether `obs` associates with an object of `objects`; with a `work_factor` above 1, also
/// runs that many less one extra propagations (the load knob).
fn associated(obs: &Observation, objects: &[Propagator], config: &CorrelatorConfig) -> bool {
    let found = associate(obs, objects, config.gate_km).is_some();
    let extra = config.work_factor.saturating_sub(1) as usize;
    for object in objects.iter().cycle().take(extra) {
        // `black_box` keeps the extra propagations from being optimised away.
        let _ = std::hint::black_box(object.state_at(std::hint::black_box(obs.epoch)));
    }
    found
}

fn lock(state: &Mutex<CorrelatorState>) -> std::sync::MutexGuard<'_, CorrelatorState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}
