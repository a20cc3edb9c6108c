//! Fusing several sensors' observations of one object into one state estimate, weighted by
//! each sensor's uncertainty.
//!
//! Observations of one object taken at different epochs cannot be averaged as positions (the
//! object moves 7 km every second), so each is first turned into a [`Fix`]: the measured point
//! less the catalog's predicted position at the same epoch, the **residual**. The residuals of
//! one event-time window are combined with inverse-variance weights (`1 / sigma²`, the
//! minimum-variance unbiased combination of independent estimates) into a [`FusedState`]: the
//! catalog's prediction corrected by that offset. A measurement fixes a point only when it has
//! a range and a direction (`range_az_el` from a ground site) or is a position (`position`);
//! angles-only and range-only measurements are associated but carry no residual vector, so
//! they are not fused.
//!
//! Screening uses the fused states to correct a close approach found in the catalog: the
//! separation at closest approach moves by the difference of the two objects' offsets
//! ([`fused_miss_km`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::frames::{self, norm, scale, sub};
use crate::{Measurement, Observation, Observer};

/// Position uncertainty assumed for a sensor that reports none, metres.
pub const DEFAULT_SIGMA_M: f64 = 50.0;

/// One observation's evidence about its object: how far the measured point is from the
/// catalog's prediction at the same epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// The object it was associated with.
    pub norad_id: u32,
    /// Its epoch, UTC Unix seconds.
    pub epoch: f64,
    /// Measured point less predicted point, TEME, km.
    pub residual_km: [f64; 3],
    /// One-sigma uncertainty of the measured point, km (positive).
    pub sigma_km: f64,
}

/// The measured point of `obs` in TEME, km: for a `position`, or a `range_az_el` from a ground
/// site; `None` for measurements that fix no point.
pub fn measured_point_km(obs: &Observation) -> Option<[f64; 3]> {
    let point_m = match (obs.measurement, obs.observer) {
        (Measurement::Position { x_m, y_m, z_m, .. }, _) => [x_m, y_m, z_m],
        (
            Measurement::RangeAzEl {
                range_m,
                az_rad,
                el_rad,
                ..
            },
            Some(Observer::Ground {
                lat_rad,
                lon_rad,
                alt_m,
            }),
        ) => {
            frames::range_az_el_to_teme(lat_rad, lon_rad, alt_m, obs.epoch, range_m, az_rad, el_rad)
        }
        _ => return None,
    };
    let point = scale(point_m, 1e-3);
    point.iter().all(|v| v.is_finite()).then_some(point)
}

/// The fix of `obs`, associated with `norad_id`, whose catalog position at `obs.epoch` is
/// `predicted_km`; `None` when the measurement fixes no point. Its sigma is the sensor's
/// reported one-sigma (metres, for these measurements) or [`DEFAULT_SIGMA_M`].
pub fn fix(obs: &Observation, norad_id: u32, predicted_km: [f64; 3]) -> Option<Fix> {
    let measured = measured_point_km(obs)?;
    let sigma_m = obs
        .quality
        .sigma
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(DEFAULT_SIGMA_M);
    Some(Fix {
        norad_id,
        epoch: obs.epoch,
        residual_km: sub(measured, predicted_km),
        sigma_km: sigma_m * 1e-3,
    })
}

/// One object's fused estimate over a window: the catalog's prediction corrected by
/// `offset_km`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FusedState {
    /// The object.
    pub norad_id: u32,
    /// Inverse-variance weighted mean of the window's residuals, TEME, km.
    pub offset_km: [f64; 3],
    /// One-sigma uncertainty of the offset, km: `1 / sqrt(sum of 1 / sigma²)`.
    pub sigma_km: f64,
    /// How many fixes went into it.
    pub fixes: u32,
}

/// Fuses `fixes` per object, in NORAD order: each object's offset is the inverse-variance
/// weighted mean of its residuals ([`Fusion`], so the result does not depend on the order
/// the fixes come in, to the last bit).
///
/// # Examples
///
/// ```
/// use sda_ingest_core::orbit::fusion::{Fix, fuse};
///
/// let fixes = [
///     Fix { norad_id: 7, epoch: 0.0, residual_km: [1.0, 0.0, 0.0], sigma_km: 0.01 },
///     Fix { norad_id: 7, epoch: 1.0, residual_km: [4.0, 0.0, 0.0], sigma_km: 0.02 },
/// ];
/// let fused = fuse(&fixes);
/// // Weights 10 000 and 2 500: the precise sensor counts four times as much.
/// assert!((fused[0].offset_km[0] - 1.6).abs() < 1e-12);
/// assert!(fused[0].sigma_km < 0.01);
/// assert_eq!(fused[0].fixes, 2);
/// ```
pub fn fuse(fixes: &[Fix]) -> Vec<FusedState> {
    fixes.iter().collect::<Fusion>().states()
}

/// Fixes being fused, added one at a time: per object, how many, the sum of their weights
/// and of their weighted residuals — all a fused state needs, so an event-time window holds
/// this (one entry per object) rather than every fix it received, and its checkpoints stay
/// small.
///
/// The sums are kept in fixed point (`i128` units of 2⁻⁶⁴), where addition is exact, so they
/// do not depend on the order of the fixes: replayed after a crash, or arriving interleaved
/// differently from several sensors, the same fixes give the same state to the last bit.
/// Each term is rounded once, when it is converted (products under 2⁻⁶⁴ ≈ 5·10⁻²⁰ are lost,
/// far below any sensor's noise), and clamped to ±2¹⁰⁴ (a weight above 10¹² — a sigma under
/// a micrometre — or a residual beyond 10¹² km is not a measurement).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    by_object: BTreeMap<u32, Sums>,
}

/// One object's sums in a [`Fusion`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Sums {
    fixes: u32,
    /// Σ w, fixed point.
    weight: i128,
    /// Σ w·r per axis, fixed point.
    weighted: [i128; 3],
}

/// 2⁶⁴: one in fixed point.
const FIXED_ONE: f64 = 18_446_744_073_709_551_616.0;
/// The largest magnitude of one term, in fixed-point units: 2¹⁰⁴ (2⁴⁰ ≈ 10¹² in value).
const FIXED_MAX: f64 = 20_282_409_603_651_670_423_947_251_286_016.0;

/// `x` in fixed point, clamped to [`FIXED_MAX`].
fn fixed(x: f64) -> i128 {
    // Scaling by a power of two is exact; the cast truncates the rest of the fraction.
    (x * FIXED_ONE).clamp(-FIXED_MAX, FIXED_MAX) as i128
}

impl Fusion {
    /// Adds `fix` (skipped when its weight `1 / sigma²` is not finite).
    pub fn add(&mut self, fix: &Fix) {
        let w = 1.0 / (fix.sigma_km * fix.sigma_km);
        if !w.is_finite() || fix.residual_km.iter().any(|r| !r.is_finite()) {
            return;
        }
        let sums = self.by_object.entry(fix.norad_id).or_default();
        sums.fixes += 1;
        // Wrapping addition is associative and commutative, and at most 2¹⁰⁴ a term it cannot
        // wrap before 2²³ terms of the largest size.
        sums.weight = sums.weight.wrapping_add(fixed(w));
        for (acc, r) in sums.weighted.iter_mut().zip(fix.residual_km) {
            *acc = acc.wrapping_add(fixed(w * r));
        }
    }

    /// The fused state of every object with a fix, in NORAD order.
    pub fn states(&self) -> Vec<FusedState> {
        self.by_object
            .iter()
            .filter(|(_, sums)| sums.weight > 0)
            .map(|(&norad_id, sums)| {
                let total = sums.weight as f64 / FIXED_ONE;
                FusedState {
                    norad_id,
                    offset_km: sums.weighted.map(|x| (x as f64 / FIXED_ONE) / total),
                    sigma_km: 1.0 / total.sqrt(),
                    fixes: sums.fixes,
                }
            })
            .collect()
    }
}

impl<'a> FromIterator<&'a Fix> for Fusion {
    /// The fusion of `fixes`, each [added](Fusion::add).
    fn from_iter<I: IntoIterator<Item = &'a Fix>>(fixes: I) -> Self {
        let mut fusion = Fusion::default();
        for fix in fixes {
            fusion.add(fix);
        }
        fusion
    }
}

/// The separation at closest approach corrected by fused states, km: `relative_km` is B's
/// position less A's at TCA from the catalog; each object's offset (zero without a fused
/// state) moves its end.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::orbit::fusion::{FusedState, fused_miss_km};
///
/// let b = FusedState { norad_id: 2, offset_km: [-0.1, 0.0, 0.0], sigma_km: 0.01, fixes: 3 };
/// assert!((fused_miss_km([0.3, 0.0, 0.0], None, Some(&b)) - 0.2).abs() < 1e-12);
/// assert!((fused_miss_km([0.3, 0.4, 0.0], None, None) - 0.5).abs() < 1e-12);
/// ```
pub fn fused_miss_km(relative_km: [f64; 3], a: Option<&FusedState>, b: Option<&FusedState>) -> f64 {
    let offset = |s: Option<&FusedState>| s.map_or([0.0; 3], |s| s.offset_km);
    norm(sub(
        [
            relative_km[0] + offset(b)[0],
            relative_km[1] + offset(b)[1],
            relative_km[2] + offset(b)[2],
        ],
        offset(a),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_weights_by_sigma_and_keeps_objects_apart() {
        let f = |norad_id, x, sigma_km| Fix {
            norad_id,
            epoch: 0.0,
            residual_km: [x, -x, 2.0 * x],
            sigma_km,
        };
        let fixes = [
            f(9, 3.0, 0.1),
            f(2, 1.0, 0.05),
            f(9, 1.0, 0.1),
            f(2, 2.0, 0.1),
        ];
        let fused = fuse(&fixes);
        assert_eq!(fused.len(), 2);
        assert_eq!((fused[0].norad_id, fused[1].norad_id), (2, 9));
        // Object 2: weights 400 and 100.
        assert!((fused[0].offset_km[0] - 1.2).abs() < 1e-12);
        assert!((fused[0].offset_km[2] - 2.4).abs() < 1e-12);
        assert!((fused[0].sigma_km - 1.0 / 500f64.sqrt()).abs() < 1e-12);
        // Object 9: equal weights, the plain mean.
        assert!((fused[1].offset_km[1] + 2.0).abs() < 1e-12);
        assert_eq!(fused[1].fixes, 2);
        // The order of the fixes does not matter, to the last bit.
        let mut reversed = fixes;
        reversed.reverse();
        assert_eq!(fuse(&reversed), fused);
    }

    proptest::proptest! {
        /// The sums are exact: any order of the same fixes gives the same states to the last
        /// bit, and they agree with the weighted mean computed in floating point.
        #[test]
        fn fusion_is_exact_whatever_the_order(
            fixes in proptest::collection::vec(
                (0_u32..4, -50.0_f64..50.0, -50.0_f64..50.0, -50.0_f64..50.0, 0.001_f64..5.0),
                1..60,
            ),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let fixes: Vec<Fix> = fixes
                .into_iter()
                .enumerate()
                .map(|(n, (norad_id, x, y, z, sigma_km))| Fix {
                    norad_id,
                    epoch: n as f64,
                    residual_km: [x, y, z],
                    sigma_km,
                })
                .collect();
            let mut shuffled = fixes.clone();
            // A deterministic shuffle from the seed.
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let fused = fuse(&fixes);
            proptest::prop_assert_eq!(&fuse(&shuffled), &fused);
            for state in &fused {
                let mine: Vec<&Fix> = fixes.iter().filter(|f| f.norad_id == state.norad_id).collect();
                let total: f64 = mine.iter().map(|f| 1.0 / (f.sigma_km * f.sigma_km)).sum();
                for axis in 0..3 {
                    let mean = mine
                        .iter()
                        .map(|f| f.residual_km[axis] / (f.sigma_km * f.sigma_km))
                        .sum::<f64>()
                        / total;
                    proptest::prop_assert!((state.offset_km[axis] - mean).abs() <= 1e-9 * (1.0 + mean.abs()));
                }
                proptest::prop_assert!((state.sigma_km - 1.0 / total.sqrt()).abs() <= 1e-12 * state.sigma_km.max(1.0));
                proptest::prop_assert_eq!(state.fixes as usize, mine.len());
            }
        }
    }

    #[test]
    fn a_fusion_survives_its_serialized_form() {
        let mut fusion = Fusion::default();
        for (n, sigma_km) in [0.05, 0.02, 1.0e-3].into_iter().enumerate() {
            fusion.add(&Fix {
                norad_id: 40_000 + n as u32 % 2,
                epoch: n as f64,
                residual_km: [0.3, -0.1 * n as f64, 7.0e-9],
                sigma_km,
            });
        }
        let json = serde_json::to_string(&fusion).unwrap();
        let back: Fusion = serde_json::from_str(&json).unwrap();
        assert_eq!(back, fusion);
        assert_eq!(back.states(), fusion.states());
        assert_eq!(fusion.states().len(), 2);
    }

    #[test]
    fn only_measurements_that_fix_a_point_give_a_fix() {
        let mut obs = Observation {
            id: "isl-1/1".into(),
            sensor: "isl-1".into(),
            sensor_kind: crate::SensorKind::Isl,
            object_hint: Some(1),
            epoch: 1.0e9,
            observer: None,
            measurement: Measurement::Position {
                x_m: 7.0e6,
                y_m: 0.0,
                z_m: 0.0,
                velocity_mps: None,
            },
            quality: crate::Quality {
                sigma: Some(20.0),
                snr_db: None,
            },
            ingest: Default::default(),
        };
        let got = fix(&obs, 1, [6_999.9, 0.0, 0.0]).unwrap();
        assert!((got.residual_km[0] - 0.1).abs() < 1e-9);
        assert!((got.sigma_km - 0.02).abs() < 1e-15);
        obs.measurement = Measurement::Range { range_m: 1.0e6 };
        assert_eq!(fix(&obs, 1, [0.0; 3]), None);
    }
}
