//! Association of an observation with a catalog object: the hinted one when confirmed, else the
//! nearest.
//!
//! Every measurement is turned into a point in TEME (kilometres) and compared with each object's
//! SGP4 position at the observation epoch. Angle-only measurements have no range, so the point
//! is placed along the measured line of sight at the candidate's own predicted range; the
//! residual is then the cross-track miss, which is what an angles-only sensor can vouch for.
//! Range-only measurements compare ranges.

use super::frames::{self, add, norm, scale, sub};
use super::propagate::Propagator;
use crate::observation::{Measurement, Observation, Observer};

/// The catalog object an observation was matched to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Association {
    /// NORAD number of the matched object.
    pub norad_id: u32,
    /// Distance between the measurement and the object's predicted position, km.
    pub residual_km: f64,
}

/// Matches `obs` to a catalog object within `gate_km`: the object the sensor named
/// (`object_hint`) when its predicted position confirms it, otherwise the nearest object.
///
/// Confirming the hint costs one SGP4 propagation instead of one per catalog object, which is
/// what makes association affordable at ingest rates; an observation without a hint, or whose
/// hinted object is unknown or outside the gate (a mis-tagged track), gets the full search of
/// [`associate_nearest`]. Returns `None` as that function does.
pub fn associate(obs: &Observation, objects: &[Propagator], gate_km: f64) -> Option<Association> {
    let observer_km = observer_km(obs)?;
    let hinted = obs
        .object_hint
        .and_then(|hint| objects.iter().find(|p| p.norad_id() == hint))
        .and_then(|p| candidate(obs, observer_km, p))
        .filter(|a| a.residual_km <= gate_km);
    hinted.or_else(|| nearest(obs, observer_km, objects, gate_km))
}

/// Finds the catalog object nearest to `obs`, if one is within `gate_km`, ignoring any hint.
///
/// Returns `None` when no object is within the gate, when the observation is topocentric but
/// carries no observer, or when no object could be propagated to its epoch.
pub fn associate_nearest(
    obs: &Observation,
    objects: &[Propagator],
    gate_km: f64,
) -> Option<Association> {
    nearest(obs, observer_km(obs)?, objects, gate_km)
}

/// The observer's TEME position, `Some(None)` for a measurement that needs none, and `None`
/// for a topocentric measurement without an observer (it cannot be associated).
fn observer_km(obs: &Observation) -> Option<Option<[f64; 3]>> {
    match obs.observer {
        Some(o) => Some(Some(observer_teme_km(&o, obs.epoch))),
        None if obs.measurement.is_topocentric() => None,
        None => Some(None),
    }
}

fn candidate(
    obs: &Observation,
    observer_km: Option<[f64; 3]>,
    p: &Propagator,
) -> Option<Association> {
    let predicted = p.state_at(obs.epoch).ok()?.position_km;
    Some(Association {
        norad_id: p.norad_id(),
        residual_km: residual_km(obs, observer_km, predicted)?,
    })
}

fn nearest(
    obs: &Observation,
    observer_km: Option<[f64; 3]>,
    objects: &[Propagator],
    gate_km: f64,
) -> Option<Association> {
    objects
        .iter()
        .filter_map(|p| candidate(obs, observer_km, p))
        .filter(|a| a.residual_km <= gate_km)
        .min_by(|x, y| x.residual_km.total_cmp(&y.residual_km))
}

/// TEME position of the observer at `unix_s`, km.
pub fn observer_teme_km(observer: &Observer, unix_s: f64) -> [f64; 3] {
    match *observer {
        Observer::Ground {
            lat_rad,
            lon_rad,
            alt_m,
        } => scale(frames::site_teme_m(lat_rad, lon_rad, alt_m, unix_s), 1e-3),
        Observer::Space { x_m, y_m, z_m } => [x_m * 1e-3, y_m * 1e-3, z_m * 1e-3],
    }
}

fn residual_km(
    obs: &Observation,
    observer_km: Option<[f64; 3]>,
    predicted: [f64; 3],
) -> Option<f64> {
    let ground = match obs.observer {
        Some(Observer::Ground {
            lat_rad,
            lon_rad,
            alt_m,
        }) => Some((lat_rad, lon_rad, alt_m)),
        _ => None,
    };
    let to_km = |v: [f64; 3]| scale(v, 1e-3);
    match obs.measurement {
        Measurement::Position { x_m, y_m, z_m, .. } => {
            Some(norm(sub(to_km([x_m, y_m, z_m]), predicted)))
        }
        Measurement::RangeAzEl {
            range_m,
            az_rad,
            el_rad,
            ..
        } => {
            let (lat, lon, alt) = ground?;
            let point =
                frames::range_az_el_to_teme(lat, lon, alt, obs.epoch, range_m, az_rad, el_rad);
            Some(norm(sub(to_km(point), predicted)))
        }
        Measurement::AzEl { az_rad, el_rad } => {
            let (lat, lon, alt) = ground?;
            let range_m = norm(sub(predicted, observer_km?)) * 1e3;
            let point =
                frames::range_az_el_to_teme(lat, lon, alt, obs.epoch, range_m, az_rad, el_rad);
            Some(norm(sub(to_km(point), predicted)))
        }
        Measurement::Angles { ra_rad, dec_rad }
        | Measurement::Photometry {
            ra_rad, dec_rad, ..
        } => {
            let from = observer_km?;
            let range = norm(sub(predicted, from));
            // A telescope's own host satellite sits at zero range and would match any angles.
            if range < 1.0 {
                return None;
            }
            let point = add(
                from,
                scale(frames::unit_from_ra_dec(ra_rad, dec_rad), range),
            );
            Some(norm(sub(point, predicted)))
        }
        Measurement::Range { range_m } => {
            Some((norm(sub(predicted, observer_km?)) - range_m * 1e-3).abs())
        }
    }
}
