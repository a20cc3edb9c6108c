//! What a scenario is generated from.

use std::sync::Arc;

use crate::orbit::propagate::Propagator;

/// Scenario parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Random catalog objects besides the planted pair ([`Population::Generated`] only).
    pub objects: usize,
    /// Window start and element epoch, UTC Unix seconds.
    pub start_unix_s: f64,
    /// Window length, seconds.
    pub duration_s: f64,
    /// Seconds between sensor sweeps.
    pub cadence_s: f64,
    /// Designed time of closest approach, seconds after the start.
    pub conjunction_offset_s: f64,
    /// Miss distance below which the planted approach must come, km.
    pub conjunction_threshold_km: f64,
    /// Where the catalog's objects come from.
    pub population: Population,
}

impl Default for ScenarioConfig {
    /// 30 objects, two hours from 2024-01-01T00:00:00Z, one sweep a minute, TCA at one hour.
    fn default() -> Self {
        ScenarioConfig {
            seed: 42,
            objects: 30,
            start_unix_s: 1_704_067_200.0,
            duration_s: 7_200.0,
            cadence_s: 60.0,
            conjunction_offset_s: 3_600.0,
            conjunction_threshold_km: 1.0,
            population: Population::Generated,
        }
    }
}

/// Where a scenario's catalog objects come from, and so what its sensors observe.
///
/// The built-in catalog is small enough to propagate whole at every sweep; the two others can
/// hold a full public catalog (tens of thousands of objects), so their sensors look at objects
/// one at a time instead: each ground sensor draws objects at random until one is above its
/// elevation mask (at most [`SPARSE_DRAWS`] a sweep), which picks uniformly among the visible
/// objects as the whole-catalog sampling does, at a cost that does not grow with the catalog.
#[derive(Debug, Clone, Default)]
pub enum Population {
    /// [`ScenarioConfig::objects`] random objects
    /// ([`Catalog::generate`](crate::orbit::catalog::Catalog::generate), NORAD numbers from
    /// 40,001) and the planted pair: the built-in scenario, whose streams tests pin exactly.
    #[default]
    Generated,
    /// `count` objects shaped like the public catalog
    /// ([`Catalog::realistic`](crate::orbit::catalog::Catalog::realistic), NORAD numbers from
    /// [`REALISTIC_FIRST_NORAD`], so at most 49,999) and the planted pair: a load test at
    /// catalog scale.
    Realistic {
        /// Objects besides the planted pair.
        count: usize,
    },
    /// The objects of an externally supplied catalog (for example one read with
    /// [`load`](crate::orbit::elements::load)), observed as they are from
    /// [`ScenarioConfig::start_unix_s`]. Nothing is planted: the catalog's own close
    /// approaches are what screening should find, and invented objects would be mistaken for
    /// real ones. [`Scenario::catalog`](super::Scenario::catalog) is empty (the caller has the
    /// element sets), and a stream too short to hold its injected faults gets fewer of them
    /// instead of failing the generation (a catalog of a few objects is seen rarely).
    External(Arc<[Propagator]>),
}

/// First NORAD number of a [`Population::Realistic`] catalog, above the planted pair's.
pub const REALISTIC_FIRST_NORAD: u32 = 50_001;

/// Most objects a ground sensor of a [`Population::Realistic`] or [`Population::External`]
/// scenario looks at per sweep before it reports nothing; a catalog this small or smaller is
/// looked at whole.
pub const SPARSE_DRAWS: usize = 64;

impl Population {
    /// Whether the objects are sampled one at a time (see the type's documentation).
    pub(super) fn is_sparse(&self) -> bool {
        !matches!(self, Population::Generated)
    }
}

impl PartialEq for Population {
    /// Two external catalogs are equal when they hold the same objects (NORAD numbers and
    /// element epochs, in order), since propagators themselves cannot be compared.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Population::Generated, Population::Generated) => true,
            (Population::Realistic { count: a }, Population::Realistic { count: b }) => a == b,
            (Population::External(a), Population::External(b)) => {
                Arc::ptr_eq(a, b)
                    || (a.len() == b.len()
                        && a.iter().zip(b.iter()).all(|(x, y)| {
                            x.norad_id() == y.norad_id() && x.epoch_unix_s() == y.epoch_unix_s()
                        }))
            }
            _ => false,
        }
    }
}
