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

use thiserror::Error;

use crate::orbit::catalog::{Catalog, CatalogError};
use crate::orbit::propagate::{PropagateError, Propagator};
use crate::sensors::SensorRegistry;

pub use config::ScenarioConfig;
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
    /// Random objects plus the planted pair.
    pub catalog: Catalog,
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
        let mut catalog =
            Catalog::generate(rng.u64(..), config.objects, 40_001, config.start_unix_s)?;
        catalog.objects.extend(plant::plant_pair(&mut rng, config)?);
        let props: Vec<Propagator> = catalog
            .objects
            .iter()
            .map(Propagator::new)
            .collect::<Result<_, _>>()?;
        let conjunction = plant::confirm_plant(&props, config)?;
        let sensors = sensors::registry();
        let mut generator = sample::Generator::new(config, &props, &sensors, rng.u64(..));
        generator.sample();
        let (streams, mut expected) = generator.finish()?;
        expected.conjunction = conjunction;
        Ok(Scenario {
            config: config.clone(),
            catalog,
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
