//! A deterministic scenario: a catalog with one planted close approach, wire-encoded streams for
//! all eight sources, and the exact outcome the ingest pipeline must produce from them.
//!
//! Everything derives from [`ScenarioConfig::seed`]: the same configuration always yields
//! byte-identical streams, so end-to-end tests can compare outputs exactly.
//!
//! **Planted conjunction.** Two objects share inclination and cross planes: their ascending
//! nodes differ by 20–60°, so the planes intersect on a line through the Earth's centre. Each
//! object's perigee is placed on that line and timed to be there at the designed TCA; B's orbit
//! is 3 km larger but with just enough eccentricity that its perigee passes
//! [`PLANTED_RADIAL_MISS_KM`] above A's there. A few Newton steps on B's mean anomaly then remove
//! the along-track timing error that SGP4's perturbations add to the Keplerian design. They
//! therefore meet once, about 300 m apart, and then drift apart by about 28 km
//! per orbit, so the pair does not repeat the encounter inside the window. The generator
//! confirms the encounter with the library's own SGP4 screening and records what it found.
//!
//! **Populations.** The objects are the built-in random catalog by default; a catalog shaped
//! like the public one for load tests; or an externally supplied catalog, observed from a
//! chosen start with nothing planted (see [`Population`]).
//!
//! **Injected faults.** Each stream is sampled from SGP4 at a fixed cadence (ground sensors
//! report one visible object per sweep), then specific records are corrupted, one per
//! [`RejectReason`](crate::process::validate::RejectReason), some are re-sent (same id, or a new sequence number with identical content),
//! and some wire messages are damaged so that they fail to decode. [`Expected`] lists each.

mod config;
mod corrupt;
mod expected;
mod plant;
mod sample;
mod sensors;
mod streams;

use std::sync::Arc;

use thiserror::Error;

use crate::orbit::catalog::{Catalog, CatalogError};
use crate::orbit::propagate::{PropagateError, Propagator};
use crate::sensors::SensorRegistry;

pub use config::{Population, REALISTIC_FIRST_NORAD, SPARSE_DRAWS, ScenarioConfig};
pub use expected::{
    Expected, ExpectedDecodeError, ExpectedDuplicate, ExpectedRejection, PlantedConjunction,
};
pub use streams::Streams;

/// NORAD number of the planted pair's first object.
pub const PLANTED_A: u32 = 45_001;
/// NORAD number of the planted pair's second object.
pub const PLANTED_B: u32 = 45_002;
/// Designed radial separation of the planted pair at closest approach, km.
pub const PLANTED_RADIAL_MISS_KM: f64 = 0.3;
/// Sequence offset of re-sent records, so their ids never collide with originals.
pub const RESEND_SEQ_OFFSET: u32 = 1_000_000;
/// Optical records per archive page.
pub const OPTICAL_PAGE_LEN: usize = 25;

/// A generated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The configuration it was generated from.
    pub config: ScenarioConfig,
    /// The generated objects as element sets: random objects plus the planted pair; empty for
    /// [`Population::External`] (the caller holds that catalog's element sets).
    pub catalog: Catalog,
    /// Every object the streams observe, ready to propagate, in catalog order (for an external
    /// catalog, the objects it was given).
    pub propagators: Arc<[Propagator]>,
    /// The sensors the streams come from.
    pub sensors: SensorRegistry,
    /// Wire input per source.
    pub streams: Streams,
    /// The exact expected outcome.
    pub expected: Expected,
}

/// Why a scenario could not be generated.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScenarioError {
    /// An element set could not be written.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// An object could not be propagated.
    #[error(transparent)]
    Propagate(#[from] PropagateError),
    /// The window has too few sweeps to place every injected fault.
    #[error("stream {0} has too few records to inject its faults; lengthen the window")]
    TooFewRecords(&'static str),
    /// The planted approach was not confirmed by screening.
    #[error("planted conjunction not confirmed: closest approach {miss_km} km")]
    PlantFailed {
        /// Closest approach found, km.
        miss_km: f64,
    },
    /// A record could not be encoded.
    #[error("record could not be encoded: {0}")]
    Encode(String),
    /// An external catalog with no objects: there is nothing to observe.
    #[error("the external catalog has no objects")]
    EmptyCatalog,
}

impl Scenario {
    /// Generates the scenario for `config`.
    ///
    /// # Errors
    ///
    /// [`ScenarioError`] when the configuration cannot hold every injected fault or the
    /// planted approach is not confirmed (neither happens with the defaults).
    pub fn generate(config: &ScenarioConfig) -> Result<Scenario, ScenarioError> {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let start = config.start_unix_s;
        let (catalog, props, conjunction) = match &config.population {
            Population::External(objects) => {
                if objects.is_empty() {
                    return Err(ScenarioError::EmptyCatalog);
                }
                (Catalog::default(), Arc::clone(objects), None)
            }
            Population::Generated | Population::Realistic { .. } => {
                let mut catalog = match config.population {
                    Population::Realistic { count } => {
                        Catalog::realistic(rng.u64(..), count, REALISTIC_FIRST_NORAD, start)?
                    }
                    _ => Catalog::generate(rng.u64(..), config.objects, 40_001, start)?,
                };
                catalog.objects.extend(plant::plant_pair(&mut rng, config)?);
                let props: Vec<Propagator> = catalog
                    .objects
                    .iter()
                    .map(Propagator::new)
                    .collect::<Result<_, _>>()?;
                let conjunction = plant::confirm_plant(&props, config)?;
                (catalog, Arc::from(props), Some(conjunction))
            }
        };
        let sensors = sensors::registry();
        let mut generator = sample::Generator::new(config, &props, &sensors, rng.u64(..));
        generator.sample();
        let (streams, mut expected) = generator.finish()?;
        expected.conjunction = conjunction;
        Ok(Scenario {
            config: config.clone(),
            catalog,
            propagators: props,
            sensors,
            streams,
            expected,
        })
    }

    /// The sensor registry used by the scenario (also built by [`Scenario::generate`]).
    pub fn registry() -> SensorRegistry {
        sensors::registry()
    }
}
