//! Association of an observation with a catalog object: the hinted one when confirmed, else the
//! nearest.
//!
//! Every measurement is turned into a point in TEME (kilometres) and compared with each object's
//! SGP4 position at the observation epoch. Angle-only measurements have no range, so the point
//! is placed along the measured line of sight at the candidate's own predicted range; the
//! residual is then the cross-track miss, which is what an angles-only sensor can vouch for.
//! Range-only measurements compare ranges.
//!
//! At catalog scale, [`IndexedCatalog`] finds the hinted object by its NORAD number in constant
//! time, and its full search skips objects whose orbit never reaches the measured point's
//! distance from the Earth's centre.

use std::collections::HashMap;
use std::sync::Arc;

use super::frames::{self, add, norm, scale, sub};
use super::propagate::Propagator;
use crate::observation::{Measurement, Observation, Observer};

/// How far SGP4's radius may stray outside the mean perigee..apogee shell of an object, km:
/// short-period terms and a few days of drag. The same margin the screening's shell filter uses.
const SHELL_PAD_KM: f64 = 50.0;

/// The catalog object an observation was matched to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Association {
    /// NORAD number of the matched object.
    pub norad_id: u32,
    /// Distance between the measurement and the object's predicted position, km.
    pub residual_km: f64,
    /// The object's predicted TEME position at the observation's epoch, km: what a fix
    /// ([`fusion::fix`](super::fusion::fix)) measures its residual against.
    pub predicted_km: [f64; 3],
}

/// Matches `obs` to a catalog object within `gate_km`: the object the sensor named
/// (`object_hint`) when its predicted position confirms it, otherwise the nearest object.
///
/// Confirming the hint costs one SGP4 propagation instead of one per catalog object, which is
/// what makes association affordable at ingest rates; an observation without a hint, or whose
/// hinted object is unknown or outside the gate (a mis-tagged track), gets the full search of
/// [`associate_nearest`]. Returns `None` as that function does.
pub fn associate(obs: &Observation, objects: &[Propagator], gate_km: f64) -> Option<Association> {
    let hinted = obs
        .object_hint
        .and_then(|hint| objects.iter().find(|p| p.norad_id() == hint));
    associate_with(obs, hinted, objects, gate_km)
}

/// [`associate`] with the hinted object already looked up.
fn associate_with(
    obs: &Observation,
    hinted: Option<&Propagator>,
    objects: &[Propagator],
    gate_km: f64,
) -> Option<Association> {
    let observer_km = observer_km(obs)?;
    let hinted = hinted
        .and_then(|p| candidate(obs, observer_km, p))
        .filter(|a| a.residual_km <= gate_km);
    hinted.or_else(|| nearest(obs, observer_km, objects, gate_km))
}

/// A catalog ready for association at catalog scale: its objects and an index of them by NORAD
/// number, so confirming a hint costs one lookup and one propagation whatever the catalog's
/// size.
///
/// Cheap to clone (the objects are shared), so one catalog can serve association on several
/// threads and screening at the same time.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::orbit::associate::IndexedCatalog;
/// use sda_ingest_core::orbit::catalog::Catalog;
/// use sda_ingest_core::orbit::propagate::Propagator;
///
/// let catalog = Catalog::generate(1, 100, 40_001, 1_704_067_200.0)?;
/// let objects: Vec<Propagator> = catalog.objects.iter().map(Propagator::new).collect::<Result<_, _>>()?;
/// let indexed = IndexedCatalog::new(objects);
/// assert_eq!(indexed.len(), 100);
/// assert_eq!(indexed.get(40_050).map(|p| p.norad_id()), Some(40_050));
/// assert!(indexed.get(99_999).is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct IndexedCatalog {
    objects: Arc<[Propagator]>,
    by_id: HashMap<u32, usize, foldhash::fast::FixedState>,
}

impl IndexedCatalog {
    /// Indexes `objects`. When a NORAD number appears more than once, the first object with it
    /// is the one a hint finds (catalogs read with [`load`](crate::orbit::elements::load) have
    /// one object per number).
    pub fn new(objects: impl Into<Arc<[Propagator]>>) -> Self {
        let objects: Arc<[Propagator]> = objects.into();
        let mut by_id =
            HashMap::with_capacity_and_hasher(objects.len(), foldhash::fast::FixedState::default());
        for (i, p) in objects.iter().enumerate() {
            by_id.entry(p.norad_id()).or_insert(i);
        }
        IndexedCatalog { objects, by_id }
    }

    /// The objects, in the order they were given.
    pub fn objects(&self) -> &Arc<[Propagator]> {
        &self.objects
    }

    /// The object with this NORAD number.
    pub fn get(&self, norad_id: u32) -> Option<&Propagator> {
        self.by_id.get(&norad_id).map(|&i| &self.objects[i])
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether there are no objects.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// [`associate`] over this catalog, the hint found through the index: the same answer, in
    /// constant time when the hint is confirmed.
    pub fn associate(&self, obs: &Observation, gate_km: f64) -> Option<Association> {
        let hinted = obs.object_hint.and_then(|hint| self.get(hint));
        associate_with(obs, hinted, &self.objects, gate_km)
    }
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
        predicted_km: predicted,
    })
}

fn nearest(
    obs: &Observation,
    observer_km: Option<[f64; 3]>,
    objects: &[Propagator],
    gate_km: f64,
) -> Option<Association> {
    // When the measurement fixes a point, an object whose orbit never comes within the gate of
    // that point's radius cannot be within the gate of the point: skip it unpropagated, which
    // is most of a large catalog.
    let reach =
        measured_radius_km(obs).map(|r| (r - gate_km - SHELL_PAD_KM, r + gate_km + SHELL_PAD_KM));
    objects
        .iter()
        .filter(|p| {
            reach.is_none_or(|(low, high)| {
                let (perigee, apogee) = p.radius_bounds_km();
                apogee >= low && perigee <= high
            })
        })
        .filter_map(|p| candidate(obs, observer_km, p))
        .filter(|a| a.residual_km <= gate_km)
        .min_by(|x, y| x.residual_km.total_cmp(&y.residual_km))
}

/// The distance from the Earth's centre of the point a measurement fixes (a position, or a
/// range with its direction from a ground site), km; `None` when it fixes no point.
fn measured_radius_km(obs: &Observation) -> Option<f64> {
    match obs.measurement {
        Measurement::Position { x_m, y_m, z_m, .. } => Some(norm([x_m, y_m, z_m]) * 1e-3),
        Measurement::RangeAzEl {
            range_m,
            az_rad,
            el_rad,
            ..
        } => match obs.observer {
            Some(Observer::Ground {
                lat_rad,
                lon_rad,
                alt_m,
            }) => {
                let point = frames::range_az_el_to_teme(
                    lat_rad, lon_rad, alt_m, obs.epoch, range_m, az_rad, el_rad,
                );
                Some(norm(point) * 1e-3)
            }
            _ => None,
        },
        _ => None,
    }
    .filter(|r| r.is_finite())
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
