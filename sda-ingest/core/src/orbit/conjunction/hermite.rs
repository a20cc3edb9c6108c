//! The closest approach between two samples, estimated without SGP4: a cubic Hermite
//! interpolation of the relative motion from positions and velocities at both ends.

use crate::orbit::catalog::{EARTH_RADIUS_KM, MU_KM3_S2};

/// A bound on the interpolation error of the relative position over a step of `step_s`.
///
/// A cubic Hermite interpolant is off by at most `h⁴/384 · max|r⁗|` on a step `h`. For
/// two-body motion `|r⁗|` is `μ²/r⁵` on a circular orbit and a small multiple of it near the
/// perigee of an eccentric one; twenty times its value at the Earth's surface covers both,
/// for each of the two objects. SGP4's short-period terms are a few kilometres at twice the
/// orbital frequency, three orders of magnitude below that. The 100 m floor covers the rest
/// (rounding, drag).
pub(super) fn error_bound_km(step_s: f64) -> f64 {
    let r4 = 20.0 * MU_KM3_S2 * MU_KM3_S2 / EARTH_RADIUS_KM.powi(5);
    0.1 + 2.0 * r4 * step_s.powi(4) / 384.0
}

/// A lower bound on the relative distance over `[-before, after]` around a sample where the
/// relative position is `p` and the relative velocity `v`, from the straight line `p + v τ`.
///
/// The relative motion leaves that line by at most `½ A τ²`, where `A` bounds the relative
/// acceleration: the gravity gradient (at most `2μ/r³` per km of separation, `r` taken 10 %
/// under the Earth's radius to cover a chord between two far-apart objects) times the largest
/// separation over the bracket (`max_separation_km`), plus 3e-5 km/s² for the oblateness
/// terms and the rest of the model.
pub(super) fn line_lower_bound(
    p: [f64; 3],
    v: [f64; 3],
    before: f64,
    after: f64,
    max_separation_km: f64,
) -> f64 {
    let r_min = 0.9 * EARTH_RADIUS_KM;
    let gradient = 2.0 * MU_KM3_S2 / (r_min * r_min * r_min);
    let accel = gradient * max_separation_km + 3e-5;
    let vv = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
    let pv = p[0] * v[0] + p[1] * v[1] + p[2] * v[2];
    let tau = if vv > 0.0 {
        (-pv / vv).clamp(-before, after)
    } else {
        0.0
    };
    let q = [p[0] + v[0] * tau, p[1] + v[1] * tau, p[2] + v[2] * tau];
    let reach = before.max(after);
    (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt() - 0.5 * accel * reach * reach
}

/// The smallest distance of the interpolated relative motion over `[0, dt]`, given relative
/// position `p0`, `p1` and velocity `v0`, `v1` at both ends.
pub(super) fn min_distance(dt: f64, p0: [f64; 3], v0: [f64; 3], p1: [f64; 3], v1: [f64; 3]) -> f64 {
    // p(τ) = c0 + c1 τ + c2 τ² + c3 τ³ on τ in [0, 1].
    let mut c = [[0.0; 3]; 4];
    for k in 0..3 {
        c[0][k] = p0[k];
        c[1][k] = dt * v0[k];
        c[2][k] = 3.0 * (p1[k] - p0[k]) - dt * (2.0 * v0[k] + v1[k]);
        c[3][k] = 2.0 * (p0[k] - p1[k]) + dt * (v0[k] + v1[k]);
    }
    let sq = |tau: f64| -> f64 {
        (0..3)
            .map(|k| {
                let x = c[0][k] + tau * (c[1][k] + tau * (c[2][k] + tau * c[3][k]));
                x * x
            })
            .sum()
    };
    // Nine samples find the basin (the squared distance of a cubic has at most three minima,
    // and over one step it is nearly a parabola), then golden section inside it.
    let mut best = (0.0, sq(0.0));
    for i in 1..=8 {
        let tau = f64::from(i) / 8.0;
        let d = sq(tau);
        if d < best.1 {
            best = (tau, d);
        }
    }
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = ((best.0 - 0.125).max(0.0), (best.0 + 0.125).min(1.0));
    let mut x1 = hi - ratio * (hi - lo);
    let mut x2 = lo + ratio * (hi - lo);
    let (mut f1, mut f2) = (sq(x1), sq(x2));
    for _ in 0..24 {
        if f1 < f2 {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - ratio * (hi - lo);
            f1 = sq(x1);
        } else {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + ratio * (hi - lo);
            f2 = sq(x2);
        }
    }
    best.1.min(f1).min(f2).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn straight_line_passes_are_exact() {
        // Relative motion along x at 10 km/s, offset 2 km in y, passing at t = 25 s.
        let (p0, v) = ([-250.0, 2.0, 0.0], [10.0, 0.0, 0.0]);
        let p1 = [350.0, 2.0, 0.0];
        assert!((min_distance(60.0, p0, v, p1, v) - 2.0).abs() < 1e-6);
        // Receding the whole step: the minimum is at the start.
        let p0 = [100.0, 0.0, 0.0];
        let p1 = [700.0, 0.0, 0.0];
        assert!((min_distance(60.0, p0, v, p1, v) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn the_line_bound_is_below_a_curved_pass() {
        // Uniform relative acceleration of 1e-3 km/s² across a 10 km/s straight pass: the
        // true path bends by 1.8 km at 60 s, and the bound allows for at least that.
        let (p, v) = ([0.0, 5.0, 0.0], [10.0, 0.0, 0.0]);
        let bound = line_lower_bound(p, v, 60.0, 60.0, 1_300.0);
        let bent = 5.0 - 0.5 * 1e-3 * 60.0 * 60.0;
        assert!(bound < bent, "{bound} vs {bent}");
        assert!(bound > -20.0);
    }

    #[test]
    fn error_bound_grows_with_the_fourth_power_of_the_step() {
        assert!((error_bound_km(60.0) - 0.12).abs() < 0.01);
        assert!(error_bound_km(120.0) - 0.1 > 15.0 * (error_bound_km(60.0) - 0.1));
    }
}
