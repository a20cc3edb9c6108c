//! The planted close approach: two objects designed to meet once, confirmed by screening.

use std::f64::consts::TAU;

use crate::orbit::catalog::{CatalogObject, MU_KM3_S2, MeanElements, mean_motion_for_altitude};
use crate::orbit::conjunction::{ScreeningConfig, refine, screen};
use crate::orbit::frames::{cross, dot, norm, scale, sub};
use crate::orbit::propagate::Propagator;

use super::{
    PLANTED_A, PLANTED_B, PLANTED_RADIAL_MISS_KM, PlantedConjunction, ScenarioConfig, ScenarioError,
};

/// Builds the two planted objects (see the module docs for the geometry).
pub(super) fn plant_pair(
    rng: &mut fastrand::Rng,
    cfg: &ScenarioConfig,
) -> Result<[CatalogObject; 2], ScenarioError> {
    let inc = 50.0 + 40.0 * rng.f64();
    let raan_a = 360.0 * rng.f64();
    let raan_b = raan_a + 20.0 + 40.0 * rng.f64();
    let n_a = mean_motion_for_altitude(700.0 + 200.0 * rng.f64());
    let a_a = semi_major_axis_km(n_a);
    let a_b = a_a + 3.0;
    let e_a = 0.0001;
    // B's perigee, at the crossing, sits PLANTED_RADIAL_MISS_KM above A's perigee there.
    let e_b = 1.0 - (a_a * (1.0 - e_a) + PLANTED_RADIAL_MISS_KM) / a_b;
    let n_b = (MU_KM3_S2 / (a_b * a_b * a_b)).sqrt() * 86_400.0 / TAU;

    // Argument of latitude of the northern plane intersection in each orbit.
    let normal = |raan: f64| {
        let (i, o) = (f64::to_radians(inc), f64::to_radians(raan));
        [i.sin() * o.sin(), -i.sin() * o.cos(), i.cos()]
    };
    let mut line = cross(normal(raan_a), normal(raan_b));
    if line[2] < 0.0 {
        line = scale(line, -1.0);
    }
    let arg_of_latitude = |raan: f64| {
        let o = f64::to_radians(raan);
        let node = [o.cos(), o.sin(), 0.0];
        dot(cross(node, line), normal(raan))
            .atan2(dot(node, line))
            .to_degrees()
            .rem_euclid(360.0)
    };
    let t = cfg.conjunction_offset_s;
    let make = |norad_id, raan: f64, e, n: f64, mean_anomaly_fix_deg: f64| MeanElements {
        norad_id,
        name: format!("PLANTED-{norad_id}"),
        epoch_unix_s: cfg.start_unix_s,
        inclination_deg: inc,
        raan_deg: raan.rem_euclid(360.0),
        eccentricity: e,
        // Perigee on the intersection line, reached `t` seconds after epoch.
        arg_perigee_deg: arg_of_latitude(raan),
        mean_anomaly_deg: (-n * 360.0 / 86_400.0 * t + mean_anomaly_fix_deg).rem_euclid(360.0),
        mean_motion_rev_day: n,
        bstar: 0.0,
    };
    let a = CatalogObject::from_elements(&make(PLANTED_A, raan_a, e_a, n_a, 0.0))?;
    // The Keplerian timing above ignores SGP4's secular and short-period terms, which move both
    // objects by a kilometre or two along track. Radial and cross-track already agree by
    // symmetry, so a few Newton steps on B's mean anomaly close the along-track gap.
    let prop_a = Propagator::new(&a)?;
    let designed = cfg.start_unix_s + t;
    let mut fix_deg = 0.0;
    let mut b = CatalogObject::from_elements(&make(PLANTED_B, raan_b, e_b, n_b, fix_deg))?;
    for _ in 0..6 {
        let prop_b = Propagator::new(&b)?;
        let c = refine(&prop_a, &prop_b, designed - 300.0, designed + 300.0)?;
        let (sa, sb) = (prop_a.state_at(c.tca)?, prop_b.state_at(c.tca)?);
        let along_km =
            dot(sub(sb.position_km, sa.position_km), sb.velocity_km_s) / norm(sb.velocity_km_s);
        if along_km.abs() < 0.005 {
            break;
        }
        fix_deg -= (along_km / norm(sb.position_km)).to_degrees();
        b = CatalogObject::from_elements(&make(PLANTED_B, raan_b, e_b, n_b, fix_deg))?;
    }
    Ok([a, b])
}

fn semi_major_axis_km(rev_day: f64) -> f64 {
    let n = rev_day * TAU / 86_400.0;
    (MU_KM3_S2 / (n * n)).cbrt()
}

/// Screens the planted pair over the whole window and returns the approach nearest the design.
pub(super) fn confirm_plant(
    props: &[Propagator],
    cfg: &ScenarioConfig,
) -> Result<PlantedConjunction, ScenarioError> {
    let pair: Vec<Propagator> = props
        .iter()
        .filter(|p| p.norad_id() == PLANTED_A || p.norad_id() == PLANTED_B)
        .cloned()
        .collect();
    let designed = cfg.start_unix_s + cfg.conjunction_offset_s;
    let screening = ScreeningConfig {
        threshold_km: cfg.conjunction_threshold_km,
        ..Default::default()
    };
    let found = screen(
        &pair,
        cfg.start_unix_s,
        cfg.start_unix_s + cfg.duration_s,
        &screening,
    );
    let best = found.conjunctions.iter().min_by(|x, y| {
        (x.tca - designed)
            .abs()
            .total_cmp(&(y.tca - designed).abs())
    });
    match best {
        Some(c) => Ok(PlantedConjunction {
            a: c.a,
            b: c.b,
            designed_tca: designed,
            tca: c.tca,
            miss_distance_km: c.miss_distance_km,
            relative_speed_km_s: c.relative_speed_km_s,
        }),
        None => {
            let miss_km = match pair.as_slice() {
                [a, b] => refine(a, b, designed - 120.0, designed + 120.0)?.miss_distance_km,
                _ => f64::NAN,
            };
            Err(ScenarioError::PlantFailed { miss_km })
        }
    }
}
