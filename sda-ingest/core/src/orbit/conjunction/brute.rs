//! The quadratic reference: every pair, every sample, a gate that needs no argument beyond the
//! objects' top speeds, then the same refinement. What the sieve is tested against, and what
//! the benchmark extrapolates.

use super::plan::ScreeningPlan;
use super::refine::refine_inside;
use super::{Screening, ScreeningConfig, merge};
use crate::orbit::propagate::{PropagateError, Propagator};

/// Every pair of a set of objects, sampled on a common grid and kept in memory.
///
/// The table holds every object's position at every sample (24 bytes each: 2,000 objects
/// over a day at 10 s are 415 MB), and each pair costs one pass over its two rows, so this is
/// for tests and benchmarks, not for a catalog. Its rows can be screened on several threads
/// ([`AllPairs::screen_rows`]) and the parts joined with [`merge`].
#[derive(Debug)]
pub struct AllPairs<'a> {
    objects: &'a [Propagator],
    plan: ScreeningPlan,
    table: Vec<Option<Vec<[f64; 3]>>>,
    top_speed_km_s: Vec<f64>,
    failed: Vec<PropagateError>,
}

impl<'a> AllPairs<'a> {
    /// Propagates every object to every sample of `[start, end]` at `cfg.step_s`.
    ///
    /// An object that fails at any sample is left out entirely and reported by
    /// [`AllPairs::failed`].
    pub fn new(objects: &'a [Propagator], start: f64, end: f64, cfg: &ScreeningConfig) -> Self {
        let plan = ScreeningPlan::new(start, end, cfg);
        let mut failed = Vec::new();
        let table = objects
            .iter()
            .map(|p| {
                (0..plan.samples())
                    .map(|k| p.state_at(plan.time(k)).map(|s| s.position_km))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| failed.push(e))
                    .ok()
            })
            .collect();
        // Mean-element perigee speed plus 2 % and 0.1 km/s: more than SGP4's periodic terms
        // and a day of drag can add.
        let top_speed_km_s = objects
            .iter()
            .map(|p| p.max_speed_km_s() * 1.02 + 0.1)
            .collect();
        AllPairs {
            objects,
            plan,
            table,
            top_speed_km_s,
            failed,
        }
    }

    /// The objects that could not be propagated over the whole window.
    pub fn failed(&self) -> &[PropagateError] {
        &self.failed
    }

    /// Screens the pairs `(i, j)` with `i` from `rows` and every `j > i`.
    ///
    /// A pair is refined at every sample where its separation is a local minimum (the same
    /// rule as the sieve) and below the threshold plus the distance both objects can cover in
    /// a whole step at their top speeds: an approach anywhere within one step of the sample
    /// cannot be missed by that gate, whatever the geometry.
    pub fn screen_rows(&self, rows: impl IntoIterator<Item = usize>) -> Screening {
        let cfg = self.plan.config();
        let last = self.plan.samples() - 1;
        let mut out = Screening::default();
        for i in rows {
            let Some(Some(ra)) = self.table.get(i) else {
                continue;
            };
            for (j, rb) in self.table.iter().enumerate().skip(i + 1) {
                let Some(rb) = rb else {
                    continue;
                };
                let gate = cfg.threshold_km
                    + (self.top_speed_km_s[i] + self.top_speed_km_s[j]) * self.plan.step_s();
                let gate2 = gate * gate;
                let d2 = |k: usize| {
                    let (x, y) = (ra[k], rb[k]);
                    let d = [x[0] - y[0], x[1] - y[1], x[2] - y[2]];
                    d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
                };
                let (mut before, mut here) = (f64::INFINITY, d2(0));
                for k in 0..=last {
                    let after = if k < last { d2(k + 1) } else { f64::INFINITY };
                    if here < before && here <= after && here < gate2 {
                        let (lo, hi) = (
                            self.plan.time(k.saturating_sub(1)),
                            self.plan.time((k + 1).min(last)),
                        );
                        match refine_inside(&self.objects[i], &self.objects[j], lo, hi) {
                            Ok(Some(c)) if c.miss_distance_km < cfg.threshold_km => {
                                out.conjunctions.push(c);
                            }
                            Ok(_) => {}
                            Err(e) => out.failed.push(e),
                        }
                    }
                    (before, here) = (here, after);
                }
            }
        }
        merge([out])
    }
}

/// Screens every pair of `objects` over `[start, end]` the quadratic way ([`AllPairs`]), on the
/// calling thread.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::orbit::conjunction::{screen, screen_all_pairs, ScreeningConfig};
/// use sda_ingest_core::orbit::propagate::Propagator;
/// use sda_ingest_core::sim::scenario::{Scenario, ScenarioConfig};
///
/// let scenario = Scenario::generate(&ScenarioConfig::default())?;
/// let objects: Vec<Propagator> =
///     scenario.catalog.objects.iter().map(Propagator::new).collect::<Result<_, _>>()?;
/// let planted = scenario.expected.conjunction.ok_or("the built-in scenario plants a pair")?;
/// let (start, end) = (planted.tca - 600.0, planted.tca + 600.0);
/// let cfg = ScreeningConfig::default();
/// assert_eq!(screen_all_pairs(&objects, start, end, &cfg).conjunctions, screen(&objects, start, end, &cfg).conjunctions);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn screen_all_pairs(
    objects: &[Propagator],
    start: f64,
    end: f64,
    cfg: &ScreeningConfig,
) -> Screening {
    let all = AllPairs::new(objects, start, end, cfg);
    let mut found = all.screen_rows(0..objects.len());
    found.failed.extend(all.failed.iter().cloned());
    merge([found])
}
