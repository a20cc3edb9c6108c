//! Conjunction screening: which object pairs come close, when, and how close.
//!
//! A chain of filters, cheapest first, finds the same approaches as checking every pair at
//! every instant would, at a cost that grows with the number of objects rather than with the
//! number of pairs:
//!
//! 1. **Sampling and a spatial sieve.** Every object is propagated on a common time grid
//!    ([`ScreeningConfig::step_s`]). At each sample the positions go into a uniform grid whose
//!    cells are as wide as the largest distance two objects can be apart at the sample nearest
//!    to an approach closer than the threshold: the threshold plus the distance both can cover
//!    in half a step, from a speed bound taken from their SGP4 velocities at that sample and
//!    its neighbours plus the largest change of speed gravity allows over half a step. Only
//!    pairs in neighbouring cells are looked at; objects fast enough to outrun a cell (eccentric
//!    orbits near perigee) search a wider neighbourhood.
//! 2. **Shell filter.** Pairs whose radius ranges (perigee..apogee, padded) do not overlap
//!    within the threshold can never meet, whatever their phasing.
//! 3. **Sampled minimum.** The pair's separation must be a local minimum over the samples and
//!    below its own gate at that sample.
//! 4. **Interpolated minimum.** The straight line of the relative motion through the sample,
//!    less the largest bend the relative acceleration allows over the two steps around it,
//!    must come within the threshold; then a cubic Hermite interpolation of the relative
//!    motion between neighbouring samples (positions and velocities at both ends) must come
//!    within the threshold plus a bound on the interpolation error.
//! 5. **Refinement.** Golden-section search of SGP4 separations on the two steps around the
//!    sample finds the time of closest approach to well under a millisecond. Only minima
//!    strictly inside the window count: a pair already drawing apart at the start, or still
//!    closing at the end, has its closest approach in the neighbouring window.
//!
//! [`screen`] runs the chain in one call. For a thread pool, [`ScreeningPlan::split`] cuts the
//! window into chunks of time steps that are screened independently ([`ScreeningChunk::screen`])
//! and joined with [`merge`]; the result does not depend on how the window was cut.
//! [`AllPairs`] is the quadratic reference that the chain is tested against.

mod brute;
mod hermite;
mod plan;
mod refine;
mod sieve;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::propagate::{PropagateError, Propagator};

pub use brute::{AllPairs, screen_all_pairs};
pub use plan::{ScreeningChunk, ScreeningPlan};
pub use refine::refine;

/// Screening parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScreeningConfig {
    /// Report approaches closer than this, km.
    pub threshold_km: f64,
    /// Sampling step of the sieve, seconds.
    pub step_s: f64,
    /// Padding of the shell filter for SGP4 perturbations around the mean radii, km.
    pub shell_pad_km: f64,
}

impl Default for ScreeningConfig {
    /// 5 km, one-minute samples, 50 km of shell padding.
    fn default() -> Self {
        ScreeningConfig {
            threshold_km: 5.0,
            step_s: 60.0,
            shell_pad_km: 50.0,
        }
    }
}

/// A close approach between two objects.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Conjunction {
    /// NORAD number of the first object (the smaller of the two).
    pub a: u32,
    /// NORAD number of the second object.
    pub b: u32,
    /// Time of closest approach, UTC seconds since the Unix epoch.
    pub tca: f64,
    /// Separation at the time of closest approach, km.
    pub miss_distance_km: f64,
    /// Relative speed at the time of closest approach, km/s.
    pub relative_speed_km_s: f64,
    /// The miss vector (second object's position less the first's) at the time of closest
    /// approach in the first object's radial, in-track and cross-track frame, km.
    ///
    /// Radial is along the first object's position, cross-track along its orbit normal
    /// (position × velocity), in-track completes the right-handed frame. Its length is
    /// [`Conjunction::miss_distance_km`].
    pub miss_rtn_km: [f64; 3],
}

/// What a screening run found.
#[derive(Debug, Clone, Default)]
pub struct Screening {
    /// Close approaches, ordered by time of closest approach.
    pub conjunctions: Vec<Conjunction>,
    /// Objects that SGP4 could not propagate somewhere in the window: one entry per object,
    /// its earliest failure, in NORAD order.
    ///
    /// Reported rather than hidden: a decayed object must not silently drop out of screening.
    /// Such an object is left out of the pairs at the samples where it fails and next to them;
    /// its approaches elsewhere in the window are still screened.
    pub failed: Vec<PropagateError>,
}

/// Screens every pair of `objects` over `[start, end]` (UTC Unix seconds).
///
/// The filter chain of the module documentation, in one call on the calling thread; the same
/// as merging the chunks of [`ScreeningPlan::split`] screened anywhere.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::orbit::conjunction::{screen, ScreeningConfig};
/// use sda_ingest_core::orbit::propagate::Propagator;
/// use sda_ingest_core::sim::scenario::{Scenario, ScenarioConfig};
///
/// let scenario = Scenario::generate(&ScenarioConfig::default())?;
/// let objects: Vec<Propagator> =
///     scenario.catalog.objects.iter().map(Propagator::new).collect::<Result<_, _>>()?;
/// let planted = scenario.expected.conjunction.ok_or("the built-in scenario plants a pair")?;
/// let found = screen(&objects, planted.tca - 600.0, planted.tca + 600.0, &ScreeningConfig::default());
/// assert!(found.conjunctions.iter().any(|c| (c.a, c.b) == (planted.a, planted.b)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn screen(objects: &[Propagator], start: f64, end: f64, cfg: &ScreeningConfig) -> Screening {
    ScreeningPlan::new(start, end, cfg).whole().screen(objects)
}

/// Two refinements of the same pair whose times of closest approach are this close describe
/// one approach (found from two sample minima whose refinement brackets touch).
const SAME_APPROACH_S: f64 = 1e-3;

/// Joins the results of independently screened chunks (or of any screenings of the same
/// objects) into one: approaches ordered by time with duplicates removed, and one failure per
/// object, the earliest.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::orbit::conjunction::{merge, screen, ScreeningConfig, ScreeningPlan};
/// use sda_ingest_core::orbit::propagate::Propagator;
/// use sda_ingest_core::sim::scenario::{Scenario, ScenarioConfig};
///
/// let scenario = Scenario::generate(&ScenarioConfig::default())?;
/// let objects: Vec<Propagator> =
///     scenario.catalog.objects.iter().map(Propagator::new).collect::<Result<_, _>>()?;
/// let (start, end) = (scenario.config.start_unix_s, scenario.config.start_unix_s + 7_200.0);
/// let cfg = ScreeningConfig { threshold_km: 1.0, ..Default::default() };
/// let plan = ScreeningPlan::new(start, end, &cfg);
/// // Each chunk could run on its own worker thread.
/// let merged = merge(plan.split(4).iter().map(|chunk| chunk.screen(&objects)));
/// assert_eq!(merged.conjunctions, screen(&objects, start, end, &cfg).conjunctions);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn merge(parts: impl IntoIterator<Item = Screening>) -> Screening {
    let mut conjunctions = Vec::new();
    let mut failed: BTreeMap<u32, PropagateError> = BTreeMap::new();
    for part in parts {
        conjunctions.extend(part.conjunctions);
        for failure in part.failed {
            let id = failed_object(&failure);
            match failed.get(&id) {
                Some(kept) if failure_time(kept) <= failure_time(&failure) => {}
                _ => {
                    failed.insert(id, failure);
                }
            }
        }
    }
    conjunctions.sort_by(|x, y| (x.a, x.b).cmp(&(y.a, y.b)).then(x.tca.total_cmp(&y.tca)));
    let mut unique: Vec<Conjunction> = Vec::with_capacity(conjunctions.len());
    for c in conjunctions {
        match unique.last_mut() {
            Some(last)
                if (last.a, last.b) == (c.a, c.b) && (c.tca - last.tca).abs() < SAME_APPROACH_S =>
            {
                if c.miss_distance_km < last.miss_distance_km {
                    *last = c;
                }
            }
            _ => unique.push(c),
        }
    }
    unique.sort_by(|x, y| x.tca.total_cmp(&y.tca).then((x.a, x.b).cmp(&(y.a, y.b))));
    Screening {
        conjunctions: unique,
        failed: failed.into_values().collect(),
    }
}

fn failed_object(e: &PropagateError) -> u32 {
    match e {
        PropagateError::Elements { norad_id, .. } | PropagateError::Diverged { norad_id, .. } => {
            *norad_id
        }
        PropagateError::Catalog(_) => 0,
    }
}

fn failure_time(e: &PropagateError) -> f64 {
    match e {
        PropagateError::Diverged { unix_s, .. } => *unix_s,
        _ => f64::NEG_INFINITY,
    }
}
