//! `correlator`: associates observations with catalog objects and screens the catalog for
//! close approaches, all on the propagator pool so SGP4 never runs on the I/O runtime.
//!
//! Where the propagation runs is a [`PropagatorRuntime`]: the service always uses
//! [`PropagatorRuntime::Pool`]; [`PropagatorRuntime::Inline`] exists so that benchmarks can
//! measure what the bulkhead buys.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use sda_orchestrator::{DedicatedPool, OperatorContext, OperatorFactory, PoolError};

use crate::observation::Observation;
use crate::orbit::associate::associate;
use crate::orbit::conjunction::{Conjunction, ScreeningConfig, screen};
use crate::orbit::propagate::Propagator;
use crate::pipeline::Delivered;
use crate::pipeline::counters::{Counters, bump};
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
    /// bulkhead of DESIGN §7, and what the service uses.
    Pool(DedicatedPool),
    /// On the correlator's own task, on the main runtime, blocking one of its workers while
    /// it computes. No bulkhead: the comparison run of the `bulkhead_pipeline` benchmark.
    Inline,
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
            PropagatorRuntime::Inline => Ok(work()),
        }
    }
}

impl From<DedicatedPool> for PropagatorRuntime {
    fn from(pool: DedicatedPool) -> Self {
        PropagatorRuntime::Pool(pool)
    }
}

/// What survives a restart: how far the catalog has been screened and which pairs have alerted.
#[derive(Debug)]
struct ScreeningState {
    screened_until: f64,
    raised: HashSet<(u32, u32)>,
}

/// The `correlator` operator, emitting each close approach found once per pair.
///
/// Screening is driven by the data: as observation epochs advance, the catalog is screened
/// from where the last run stopped up to the latest epoch plus `lookahead_s`, in steps of at
/// least `min_step_s`; when the input closes, whatever is left up to the horizon is screened.
/// Association and screening both run on `pool` (the PropagatorPool in the service); each
/// association is followed by the extra propagations of [`CorrelatorConfig::work_factor`].
pub fn correlator(
    pool: PropagatorRuntime,
    catalog: Arc<[Propagator]>,
    config: CorrelatorConfig,
    counters: Arc<Counters>,
    faults: FaultInjection,
) -> impl OperatorFactory<Arc<Delivered>, Conjunction> {
    let state = Arc::new(Mutex::new(ScreeningState {
        screened_until: config.screen_from,
        raised: HashSet::new(),
    }));
    move |mut ctx: OperatorContext<Arc<Delivered>, Conjunction>| {
        let (pool, catalog, state) = (pool.clone(), catalog.clone(), state.clone());
        let (counters, faults) = (counters.clone(), faults.clone());
        async move {
            let mut batch = Vec::with_capacity(CORRELATOR_BATCH);
            let mut horizon = f64::NEG_INFINITY;
            while ctx.input.recv_many(&mut batch, CORRELATOR_BATCH).await > 0 {
                faults.check("correlator")?;
                let latest = batch
                    .iter()
                    .map(|d| d.observation.epoch)
                    .fold(f64::NEG_INFINITY, f64::max);
                horizon = horizon.max((latest + config.lookahead_s).min(config.screen_limit));
                let (observations, objects) = (std::mem::take(&mut batch), catalog.clone());
                let (hits, total) = pool
                    .run(move || {
                        let hits = observations
                            .iter()
                            .filter(|d| associated(&d.observation, &objects, &config))
                            .count();
                        (hits as u64, observations.len() as u64)
                    })
                    .await?;
                counters.associated.fetch_add(hits, Ordering::Relaxed);
                counters
                    .unassociated
                    .fetch_add(total - hits, Ordering::Relaxed);
                let from = lock(&state).screened_until;
                if horizon - from >= config.min_step_s {
                    screen_window(
                        &pool, &catalog, &config, &state, horizon, &counters, &mut ctx,
                    )
                    .await?;
                }
            }
            screen_window(
                &pool, &catalog, &config, &state, horizon, &counters, &mut ctx,
            )
            .await
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

fn lock(state: &Mutex<ScreeningState>) -> std::sync::MutexGuard<'_, ScreeningState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Screens the catalog from where the last run stopped up to `until` and sends each pair's
/// first close approach.
async fn screen_window(
    pool: &PropagatorRuntime,
    catalog: &Arc<[Propagator]>,
    config: &CorrelatorConfig,
    state: &Mutex<ScreeningState>,
    until: f64,
    counters: &Counters,
    ctx: &mut OperatorContext<Arc<Delivered>, Conjunction>,
) -> anyhow::Result<()> {
    let from = lock(state).screened_until;
    if until <= from {
        return Ok(());
    }
    let (objects, cfg) = (catalog.clone(), config.screening);
    let found = pool
        .run(move || screen(&objects, from, until, &cfg))
        .await?;
    bump(&counters.screenings);
    for failure in &found.failed {
        tracing::warn!(operator = "correlator", error = %failure, "object left out of screening");
    }
    let fresh: Vec<Conjunction> = {
        let mut state = lock(state);
        state.screened_until = until;
        let raised = &mut state.raised;
        found
            .conjunctions
            .into_iter()
            .filter(|c| raised.insert((c.a, c.b)))
            .collect()
    };
    for conjunction in fresh {
        ctx.output.send(conjunction).await?;
    }
    Ok(())
}
