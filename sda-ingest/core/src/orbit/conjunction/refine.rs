//! Time of closest approach: golden-section search of SGP4 separations, and the miss vector
//! in the first object's radial, in-track and cross-track frame.

use super::Conjunction;
use crate::orbit::frames::{cross, dot, norm, scale, sub};
use crate::orbit::propagate::{PropagateError, Propagator, TemeState};

/// Golden-section search for the closest approach of `a` and `b` inside `[lo, hi]`.
///
/// The separation is assumed to have one minimum in the bracket, which the screening makes
/// true by bracketing two sampling steps around a sampled minimum; the result is then that
/// minimum to well under a microsecond (50 iterations). When the separation only falls or
/// only rises across the bracket, the result is the nearer end of it.
///
/// # Errors
///
/// Propagation failures of either object.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::orbit::conjunction::refine;
/// use sda_ingest_core::orbit::propagate::Propagator;
/// use sda_ingest_core::sim::scenario::{Scenario, ScenarioConfig, PLANTED_A, PLANTED_B};
///
/// let scenario = Scenario::generate(&ScenarioConfig::default())?;
/// let find = |id| -> Result<Propagator, Box<dyn std::error::Error>> {
///     Ok(Propagator::new(scenario.catalog.get(id).ok_or("not in the catalog")?)?)
/// };
/// let (a, b) = (find(PLANTED_A)?, find(PLANTED_B)?);
/// let planted = scenario.expected.conjunction.ok_or("the built-in scenario plants a pair")?;
/// let c = refine(&a, &b, planted.tca - 60.0, planted.tca + 60.0)?;
/// assert!((c.tca - planted.tca).abs() < 1e-3);
/// let rtn = c.miss_rtn_km;
/// assert!((rtn.iter().map(|x| x * x).sum::<f64>().sqrt() - c.miss_distance_km).abs() < 1e-9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn refine(
    a: &Propagator,
    b: &Propagator,
    lo: f64,
    hi: f64,
) -> Result<Conjunction, PropagateError> {
    golden(a, b, lo, hi)
}

/// [`refine`], keeping only a minimum strictly inside `[lo, hi]`: the separation must be
/// falling at `lo` and rising at `hi`.
///
/// Otherwise the pair's minimum is outside the bracket (for a bracket at the edge of the
/// window: before the window starts or after it ends), where another sample or the
/// neighbouring window finds it, and golden section would only return a bracket end. The
/// test uses the rate of change of the separation from SGP4's velocities, which unlike
/// comparing separations is not lost in rounding when two objects drift apart slowly.
pub(super) fn refine_inside(
    a: &Propagator,
    b: &Propagator,
    lo: f64,
    hi: f64,
) -> Result<Option<Conjunction>, PropagateError> {
    let closing_rate = |t: f64| -> Result<f64, PropagateError> {
        let (sa, sb) = (a.state_at(t)?, b.state_at(t)?);
        Ok(dot(
            sub(sb.position_km, sa.position_km),
            sub(sb.velocity_km_s, sa.velocity_km_s),
        ))
    };
    if closing_rate(lo)? >= 0.0 || closing_rate(hi)? <= 0.0 {
        return Ok(None);
    }
    refine(a, b, lo, hi).map(Some)
}

/// Golden-section search and the states at the minimum found.
fn golden(a: &Propagator, b: &Propagator, lo: f64, hi: f64) -> Result<Conjunction, PropagateError> {
    let dist = |t: f64| -> Result<f64, PropagateError> {
        Ok(norm(sub(
            a.state_at(t)?.position_km,
            b.state_at(t)?.position_km,
        )))
    };
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (lo, hi);
    let mut x1 = hi - ratio * (hi - lo);
    let mut x2 = lo + ratio * (hi - lo);
    let (mut f1, mut f2) = (dist(x1)?, dist(x2)?);
    // 50 iterations shrink a two-minute bracket to well under a microsecond.
    for _ in 0..50 {
        if f1 < f2 {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - ratio * (hi - lo);
            f1 = dist(x1)?;
        } else {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + ratio * (hi - lo);
            f2 = dist(x2)?;
        }
    }
    let tca = (lo + hi) / 2.0;
    let (sa, sb): (TemeState, TemeState) = (a.state_at(tca)?, b.state_at(tca)?);
    let (first, second, s1, s2) = if a.norad_id() <= b.norad_id() {
        (a.norad_id(), b.norad_id(), sa, sb)
    } else {
        (b.norad_id(), a.norad_id(), sb, sa)
    };
    let miss = sub(s2.position_km, s1.position_km);
    Ok(Conjunction {
        a: first,
        b: second,
        tca,
        miss_distance_km: norm(miss),
        relative_speed_km_s: norm(sub(s2.velocity_km_s, s1.velocity_km_s)),
        miss_rtn_km: rtn(&s1, miss),
    })
}

/// `v` in the radial, in-track, cross-track frame of `frame`'s orbit.
pub(crate) fn rtn(frame: &TemeState, v: [f64; 3]) -> [f64; 3] {
    let r = frame.position_km;
    let radial = scale(r, 1.0 / norm(r));
    let h = cross(r, frame.velocity_km_s);
    let normal = scale(h, 1.0 / norm(h));
    let in_track = cross(normal, radial);
    [dot(v, radial), dot(v, in_track), dot(v, normal)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f64; 3], b: [f64; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    #[test]
    fn rtn_of_a_circular_equatorial_orbit() {
        let s = TemeState {
            position_km: [7_000.0, 0.0, 0.0],
            velocity_km_s: [0.0, 7.5, 0.0],
        };
        assert!(close(rtn(&s, [1.0, 0.0, 0.0]), [1.0, 0.0, 0.0]));
        assert!(close(rtn(&s, [0.0, 2.0, 0.0]), [0.0, 2.0, 0.0]));
        assert!(close(rtn(&s, [0.0, 0.0, 3.0]), [0.0, 0.0, 3.0]));
        // A retrograde orbit turns in-track and cross-track round, not radial.
        let retro = TemeState {
            velocity_km_s: [0.0, -7.5, 0.0],
            ..s
        };
        assert!(close(rtn(&retro, [1.0, 2.0, 3.0]), [1.0, -2.0, -3.0]));
    }
}
