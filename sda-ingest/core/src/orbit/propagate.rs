//! SGP4 propagation of catalog objects (the `sgp4` crate) to TEME states.

use thiserror::Error;

use super::catalog::{CatalogError, CatalogObject, EARTH_RADIUS_KM, MU_KM3_S2};
use super::elements::ElementSet;

/// A TEME position and velocity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemeState {
    /// Position, km.
    pub position_km: [f64; 3],
    /// Velocity, km/s.
    pub velocity_km_s: [f64; 3],
}

/// Why an object could not be propagated.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PropagateError {
    /// The element set did not parse.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// SGP4 rejected the elements at initialisation.
    #[error("sgp4 rejected the elements of object {norad_id}: {reason}")]
    Elements {
        /// Object.
        norad_id: u32,
        /// The crate's explanation.
        reason: String,
    },
    /// SGP4 diverged at the requested time (for example a decayed orbit).
    #[error("sgp4 diverged for object {norad_id} at {unix_s} s: {reason}")]
    Diverged {
        /// Object.
        norad_id: u32,
        /// Requested time.
        unix_s: f64,
        /// The crate's explanation.
        reason: String,
    },
}

/// A ready-to-use SGP4 propagator for one object.
///
/// Initialisation does the expensive part once; [`Propagator::state_at`] is then pure and
/// cheap, and the type is `Send + Sync`, so a pool of threads can share one catalog.
#[derive(Debug, Clone)]
pub struct Propagator {
    norad_id: u32,
    epoch_unix_s: f64,
    perigee_km: f64,
    apogee_km: f64,
    constants: sgp4::Constants,
}

impl Propagator {
    /// Parses and initialises a catalog object.
    ///
    /// # Errors
    ///
    /// [`PropagateError::Catalog`] for a bad TLE, [`PropagateError::Elements`] when SGP4
    /// refuses the elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::orbit::catalog::CatalogObject;
    /// use sda_ingest_core::orbit::propagate::Propagator;
    ///
    /// let iss = CatalogObject {
    ///     norad_id: 25544,
    ///     name: "ISS (ZARYA)".into(),
    ///     line1: "1 25544U 98067A   20194.88612269 -.00002218  00000-0 -31515-4 0  9992".into(),
    ///     line2: "2 25544  51.6461 221.2784 0001413  89.1723 280.4612 15.49507896236008".into(),
    /// };
    /// let p = Propagator::new(&iss)?;
    /// let state = p.state_at(p.epoch_unix_s() + 3600.0)?;
    /// let r = state.position_km.iter().map(|x| x * x).sum::<f64>().sqrt();
    /// assert!((6_700.0..6_850.0).contains(&r));
    /// # Ok::<(), sda_ingest_core::orbit::propagate::PropagateError>(())
    /// ```
    pub fn new(object: &CatalogObject) -> Result<Self, PropagateError> {
        Self::from_sgp4(object.norad_id, &object.elements()?)
    }

    /// Initialises an element set read by [`load`](crate::orbit::elements::load) (or built by
    /// hand), without going through TLE text, so OMM values keep their full precision.
    ///
    /// # Errors
    ///
    /// [`PropagateError::Elements`] when SGP4 refuses the elements.
    pub fn from_element_set(elements: &ElementSet) -> Result<Self, PropagateError> {
        Self::from_sgp4(elements.norad_id, &elements.to_sgp4())
    }

    fn from_sgp4(norad_id: u32, elements: &sgp4::Elements) -> Result<Self, PropagateError> {
        let constants =
            sgp4::Constants::from_elements(elements).map_err(|e| PropagateError::Elements {
                norad_id,
                reason: e.to_string(),
            })?;
        let dt = elements.datetime.and_utc();
        let epoch_unix_s = dt.timestamp() as f64 + f64::from(dt.timestamp_subsec_nanos()) / 1e9;
        // Kozai mean motion is close enough for a shell filter padded by tens of kilometres.
        let n_rad_s = elements.mean_motion * std::f64::consts::TAU / 86_400.0;
        let a_km = (MU_KM3_S2 / (n_rad_s * n_rad_s)).cbrt();
        Ok(Propagator {
            norad_id,
            epoch_unix_s,
            perigee_km: a_km * (1.0 - elements.eccentricity),
            apogee_km: a_km * (1.0 + elements.eccentricity),
            constants,
        })
    }

    /// NORAD number of the object.
    pub fn norad_id(&self) -> u32 {
        self.norad_id
    }

    /// Element epoch, UTC seconds since the Unix epoch.
    pub fn epoch_unix_s(&self) -> f64 {
        self.epoch_unix_s
    }

    /// Mean perigee and apogee radii, km from the Earth's centre.
    pub fn radius_bounds_km(&self) -> (f64, f64) {
        (self.perigee_km, self.apogee_km)
    }

    /// The largest speed the object reaches on its mean orbit (vis-viva at perigee), km/s.
    ///
    /// SGP4's osculating speed differs from it by the short-period perturbations, well under
    /// one per cent; screening adds its own margin.
    pub fn max_speed_km_s(&self) -> f64 {
        let a = (self.perigee_km + self.apogee_km) / 2.0;
        (MU_KM3_S2 * (2.0 / self.perigee_km - 1.0 / a)).sqrt()
    }

    /// Mean perigee altitude above the equatorial radius, km.
    pub fn perigee_altitude_km(&self) -> f64 {
        self.perigee_km - EARTH_RADIUS_KM
    }

    /// TEME state at `unix_s` (UTC seconds since the Unix epoch).
    ///
    /// # Errors
    ///
    /// [`PropagateError::Diverged`] when SGP4 cannot produce a state at that time.
    pub fn state_at(&self, unix_s: f64) -> Result<TemeState, PropagateError> {
        let minutes = sgp4::MinutesSinceEpoch((unix_s - self.epoch_unix_s) / 60.0);
        let prediction =
            self.constants
                .propagate(minutes)
                .map_err(|e| PropagateError::Diverged {
                    norad_id: self.norad_id,
                    unix_s,
                    reason: e.to_string(),
                })?;
        Ok(TemeState {
            position_km: prediction.position,
            velocity_km_s: prediction.velocity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vallado's "TEME example satellite" (NORAD 5), the first case of the reference test set
    /// shipped with the `sgp4` crate (`tests/test_cases.toml`).
    fn vallado_00005() -> CatalogObject {
        CatalogObject {
            norad_id: 5,
            name: "00005".into(),
            line1: "1 00005U 58002B   00179.78495062  .00000023  00000-0  28098-4 0  4753".into(),
            line2: "2 00005  34.2682 348.7242 1859667 331.7664  19.3264 10.82419157413667".into(),
        }
    }

    #[test]
    fn matches_vallado_reference_states() {
        let p = Propagator::new(&vallado_00005()).unwrap();
        let cases = [
            (
                0.0,
                [7022.46529266, -1400.08296755, 0.03995155],
                [1.893841015, 6.405893759, 4.534807250],
            ),
            (
                360.0,
                [-7154.03120202, -3783.17682504, -3536.19412294],
                [4.741887409, -4.151817765, -2.093935425],
            ),
            (
                1440.0,
                [-938.55923943, -6268.18748831, -4294.02924751],
                [7.536105209, -0.427127707, 0.989878080],
            ),
        ];
        for (minutes, r, v) in cases {
            let s = p.state_at(p.epoch_unix_s() + minutes * 60.0).unwrap();
            for i in 0..3 {
                // The reference values come from AFSPC compatibility mode; the crate documents
                // that its recommended (improved) mode, used here, may differ from them by up to
                // about a kilometre. For this object the difference is about ten metres.
                assert!(
                    (s.position_km[i] - r[i]).abs() < 0.05,
                    "t={minutes} r{i}={s:?}"
                );
                assert!(
                    (s.velocity_km_s[i] - v[i]).abs() < 5e-5,
                    "t={minutes} v{i}={s:?}"
                );
            }
        }
    }

    #[test]
    fn epoch_is_read_from_the_tle() {
        let p = Propagator::new(&vallado_00005()).unwrap();
        // 2000, day 179.78495062 -> 2000-06-27T18:50:19.733568Z.
        assert!(
            (p.epoch_unix_s() - 962_131_819.733_568).abs() < 1e-3,
            "{}",
            p.epoch_unix_s()
        );
        let (perigee, apogee) = p.radius_bounds_km();
        assert!(perigee < apogee);
    }

    #[test]
    fn bad_tle_is_an_error() {
        let mut obj = vallado_00005();
        obj.line1.pop();
        assert!(matches!(
            Propagator::new(&obj),
            Err(PropagateError::Catalog(_))
        ));
    }
}
