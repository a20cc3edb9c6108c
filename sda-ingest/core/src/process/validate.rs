//! Schema and range checks: an observation is either passed on unchanged or rejected with one
//! reason code.
//!
//! Checks run in a fixed order and the first failure is reported: schema (sensor, kind,
//! observer), then NaN/infinity, then the epoch window, then measurement bounds, then quality.
//! Non-finite values are checked before bounds because every comparison with NaN is false and
//! would otherwise slip through as "in range".

use std::f64::consts::{FRAC_PI_2, TAU};

use serde::{Deserialize, Serialize};

use crate::observation::{Measurement, Observation, Observer};

/// Why an observation was rejected.
///
/// [`RejectReason::code`] is stable (dashboards and the dead-letter sink key on it); the
/// human text may be reworded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The sensor name is empty.
    MissingSensor,
    /// The sensor's kind cannot produce this measurement type.
    SensorMeasurementMismatch,
    /// A topocentric measurement has no observer position.
    MissingObserver,
    /// The observer position is impossible (latitude beyond a pole, spacecraft inside the Earth).
    InvalidObserver,
    /// A value is NaN or infinite.
    NonFinite,
    /// The epoch is outside the accepted window.
    EpochOutOfWindow,
    /// Range is not positive or beyond the maximum.
    RangeOutOfBounds,
    /// Range rate is beyond the maximum speed.
    RangeRateOutOfBounds,
    /// Azimuth outside `[0, 2π)`.
    AzimuthOutOfRange,
    /// Elevation below the horizon limit or above the zenith.
    ElevationOutOfRange,
    /// Right ascension outside `[0, 2π)`.
    RightAscensionOutOfRange,
    /// Declination outside `[-π/2, π/2]`.
    DeclinationOutOfRange,
    /// Position inside the Earth or implausibly far away.
    PositionOutOfBounds,
    /// Velocity beyond the maximum speed.
    VelocityOutOfBounds,
    /// Visual magnitude outside the physical range.
    MagnitudeOutOfRange,
    /// Uncertainty or SNR is non-finite, or a sigma is not positive.
    InvalidUncertainty,
}

impl RejectReason {
    /// Every reason, in check order.
    pub const ALL: [RejectReason; 16] = [
        RejectReason::MissingSensor,
        RejectReason::SensorMeasurementMismatch,
        RejectReason::MissingObserver,
        RejectReason::InvalidObserver,
        RejectReason::NonFinite,
        RejectReason::EpochOutOfWindow,
        RejectReason::RangeOutOfBounds,
        RejectReason::RangeRateOutOfBounds,
        RejectReason::AzimuthOutOfRange,
        RejectReason::ElevationOutOfRange,
        RejectReason::RightAscensionOutOfRange,
        RejectReason::DeclinationOutOfRange,
        RejectReason::PositionOutOfBounds,
        RejectReason::VelocityOutOfBounds,
        RejectReason::MagnitudeOutOfRange,
        RejectReason::InvalidUncertainty,
    ];

    /// Stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::MissingSensor => "missing_sensor",
            RejectReason::SensorMeasurementMismatch => "sensor_measurement_mismatch",
            RejectReason::MissingObserver => "missing_observer",
            RejectReason::InvalidObserver => "invalid_observer",
            RejectReason::NonFinite => "non_finite",
            RejectReason::EpochOutOfWindow => "epoch_out_of_window",
            RejectReason::RangeOutOfBounds => "range_out_of_bounds",
            RejectReason::RangeRateOutOfBounds => "range_rate_out_of_bounds",
            RejectReason::AzimuthOutOfRange => "azimuth_out_of_range",
            RejectReason::ElevationOutOfRange => "elevation_out_of_range",
            RejectReason::RightAscensionOutOfRange => "right_ascension_out_of_range",
            RejectReason::DeclinationOutOfRange => "declination_out_of_range",
            RejectReason::PositionOutOfBounds => "position_out_of_bounds",
            RejectReason::VelocityOutOfBounds => "velocity_out_of_bounds",
            RejectReason::MagnitudeOutOfRange => "magnitude_out_of_range",
            RejectReason::InvalidUncertainty => "invalid_uncertainty",
        }
    }

    /// Human-readable explanation.
    pub fn describe(self) -> &'static str {
        match self {
            RejectReason::MissingSensor => "the sensor name is empty",
            RejectReason::SensorMeasurementMismatch => {
                "the sensor's registered kind cannot produce this measurement type"
            }
            RejectReason::MissingObserver => "a topocentric measurement has no observer position",
            RejectReason::InvalidObserver => "the observer position is impossible",
            RejectReason::NonFinite => "a numeric field is NaN or infinite",
            RejectReason::EpochOutOfWindow => "the epoch is outside the accepted time window",
            RejectReason::RangeOutOfBounds => "range is not positive or exceeds the maximum",
            RejectReason::RangeRateOutOfBounds => "range rate exceeds the maximum speed",
            RejectReason::AzimuthOutOfRange => "azimuth is outside [0, 2π)",
            RejectReason::ElevationOutOfRange => {
                "elevation is below the horizon limit or above 90°"
            }
            RejectReason::RightAscensionOutOfRange => "right ascension is outside [0, 2π)",
            RejectReason::DeclinationOutOfRange => "declination is outside [-90°, 90°]",
            RejectReason::PositionOutOfBounds => "position is inside the Earth or implausibly far",
            RejectReason::VelocityOutOfBounds => "velocity exceeds the maximum speed",
            RejectReason::MagnitudeOutOfRange => "visual magnitude is outside [-30, 30]",
            RejectReason::InvalidUncertainty => "uncertainty is not positive or not finite",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A rejected observation, ready for the dead-letter sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// Why.
    pub reason: RejectReason,
    /// Human text (the reason's description).
    pub message: String,
    /// The observation as normalised (boxed so the `Err` side of a result stays small).
    pub observation: Box<Observation>,
}

/// Limits applied by [`validate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidationPolicy {
    /// Earliest accepted epoch, UTC Unix seconds.
    pub epoch_min: f64,
    /// Latest accepted epoch, UTC Unix seconds.
    pub epoch_max: f64,
    /// Largest accepted slant range, metres.
    pub max_range_m: f64,
    /// Largest accepted speed (range rate or velocity magnitude), m/s.
    pub max_speed_mps: f64,
    /// Lowest accepted elevation, radians (slightly negative allows for refraction).
    pub min_elevation_rad: f64,
    /// Smallest accepted geocentric radius of a position, metres.
    pub min_radius_m: f64,
    /// Largest accepted geocentric radius of a position, metres.
    pub max_radius_m: f64,
}

impl Default for ValidationPolicy {
    /// From Sputnik 1 (1957-10-04) to 2100-01-01; ranges to 100,000 km; speeds to 20 km/s (above
    /// Earth escape speed in LEO); positions between 6,300 km (just under the surface, to allow
    /// for SGP4 and measurement error) and 500,000 km (beyond the Moon).
    fn default() -> Self {
        ValidationPolicy {
            epoch_min: -386_380_800.0,
            epoch_max: 4_102_444_800.0,
            max_range_m: 1.0e8,
            max_speed_mps: 20_000.0,
            min_elevation_rad: -1f64.to_radians(),
            min_radius_m: 6.3e6,
            max_radius_m: 5.0e8,
        }
    }
}

/// Checks one observation.
///
/// # Errors
///
/// A [`Rejection`] carrying the first failed check and the observation itself.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::process::validate::{validate, RejectReason, ValidationPolicy};
/// use sda_ingest_core::{Measurement, Observation, SensorKind};
///
/// let obs = Observation {
///     id: "isl-1/1".into(), sensor: "isl-1".into(), sensor_kind: SensorKind::Isl,
///     object_hint: None, epoch: 1_704_067_200.0, observer: None,
///     measurement: Measurement::Position { x_m: 1.0e6, y_m: 0.0, z_m: 0.0, velocity_mps: None },
///     quality: Default::default(), ingest: Default::default(),
/// };
/// let rejected = validate(obs, &ValidationPolicy::default()).unwrap_err();
/// assert_eq!(rejected.reason, RejectReason::PositionOutOfBounds);
/// assert_eq!(rejected.reason.code(), "position_out_of_bounds");
/// ```
pub fn validate(obs: Observation, policy: &ValidationPolicy) -> Result<Observation, Rejection> {
    match check(&obs, policy) {
        None => Ok(obs),
        Some(reason) => Err(Rejection {
            reason,
            message: reason.describe().to_owned(),
            observation: Box::new(obs),
        }),
    }
}

/// The first failed check, if any.
pub fn check(obs: &Observation, p: &ValidationPolicy) -> Option<RejectReason> {
    use RejectReason as R;
    let m = &obs.measurement;
    if obs.sensor.trim().is_empty() {
        return Some(R::MissingSensor);
    }
    if !obs.sensor_kind.produces(m) {
        return Some(R::SensorMeasurementMismatch);
    }
    if m.is_topocentric() && obs.observer.is_none() {
        return Some(R::MissingObserver);
    }
    let observer_values = match obs.observer {
        Some(Observer::Ground {
            lat_rad,
            lon_rad,
            alt_m,
        }) => [lat_rad, lon_rad, alt_m],
        Some(Observer::Space { x_m, y_m, z_m }) => [x_m, y_m, z_m],
        None => [0.0; 3],
    };
    if !obs.epoch.is_finite()
        || !m.values().iter().all(|v| v.is_finite())
        || !observer_values.iter().all(|v| v.is_finite())
    {
        return Some(R::NonFinite);
    }
    match obs.observer {
        Some(Observer::Ground {
            lat_rad,
            lon_rad,
            alt_m,
        }) if lat_rad.abs() > FRAC_PI_2
            || lon_rad.abs() > TAU
            || !(-500.0..=1.0e5).contains(&alt_m) =>
        {
            return Some(R::InvalidObserver);
        }
        Some(Observer::Space { x_m, y_m, z_m })
            if !(p.min_radius_m..=p.max_radius_m).contains(&radius([x_m, y_m, z_m])) =>
        {
            return Some(R::InvalidObserver);
        }
        _ => {}
    }
    if !(p.epoch_min..=p.epoch_max).contains(&obs.epoch) {
        return Some(R::EpochOutOfWindow);
    }
    if let Some(reason) = check_measurement(m, p) {
        return Some(reason);
    }
    let q = obs.quality;
    if q.sigma.is_some_and(|s| !(s.is_finite() && s > 0.0))
        || q.snr_db.is_some_and(|s| !s.is_finite())
    {
        return Some(R::InvalidUncertainty);
    }
    None
}

fn check_measurement(m: &Measurement, p: &ValidationPolicy) -> Option<RejectReason> {
    use RejectReason as R;
    let range_ok = |r: f64| r > 0.0 && r <= p.max_range_m;
    let az_ok = |a: f64| (0.0..TAU).contains(&a);
    let el_ok = |e: f64| (p.min_elevation_rad..=FRAC_PI_2).contains(&e);
    let ra_ok = |a: f64| (0.0..TAU).contains(&a);
    let dec_ok = |d: f64| (-FRAC_PI_2..=FRAC_PI_2).contains(&d);
    let first =
        |checks: &[(bool, RejectReason)]| checks.iter().find(|(ok, _)| !ok).map(|(_, r)| *r);
    match *m {
        Measurement::RangeAzEl {
            range_m,
            az_rad,
            el_rad,
            range_rate_mps,
        } => first(&[
            (range_ok(range_m), R::RangeOutOfBounds),
            (az_ok(az_rad), R::AzimuthOutOfRange),
            (el_ok(el_rad), R::ElevationOutOfRange),
            (
                range_rate_mps.is_none_or(|v| v.abs() <= p.max_speed_mps),
                R::RangeRateOutOfBounds,
            ),
        ]),
        Measurement::AzEl { az_rad, el_rad } => first(&[
            (az_ok(az_rad), R::AzimuthOutOfRange),
            (el_ok(el_rad), R::ElevationOutOfRange),
        ]),
        Measurement::Angles { ra_rad, dec_rad } => first(&[
            (ra_ok(ra_rad), R::RightAscensionOutOfRange),
            (dec_ok(dec_rad), R::DeclinationOutOfRange),
        ]),
        Measurement::Range { range_m } => first(&[(range_ok(range_m), R::RangeOutOfBounds)]),
        Measurement::Position {
            x_m,
            y_m,
            z_m,
            velocity_mps,
        } => first(&[
            (
                (p.min_radius_m..=p.max_radius_m).contains(&radius([x_m, y_m, z_m])),
                R::PositionOutOfBounds,
            ),
            (
                velocity_mps.is_none_or(|v| radius(v) <= p.max_speed_mps),
                R::VelocityOutOfBounds,
            ),
        ]),
        Measurement::Photometry {
            ra_rad,
            dec_rad,
            magnitude,
        } => first(&[
            (ra_ok(ra_rad), R::RightAscensionOutOfRange),
            (dec_ok(dec_rad), R::DeclinationOutOfRange),
            ((-30.0..=30.0).contains(&magnitude), R::MagnitudeOutOfRange),
        ]),
    }
}

fn radius(v: [f64; 3]) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{Quality, SensorKind};

    fn radar() -> Observation {
        Observation {
            id: "radar-1/1".into(),
            sensor: "radar-1".into(),
            sensor_kind: SensorKind::Radar,
            object_hint: Some(40001),
            epoch: 1_704_067_200.0,
            observer: Some(Observer::Ground {
                lat_rad: 0.5,
                lon_rad: -1.0,
                alt_m: 100.0,
            }),
            measurement: Measurement::RangeAzEl {
                range_m: 1.0e6,
                az_rad: 1.0,
                el_rad: 0.3,
                range_rate_mps: Some(-2000.0),
            },
            quality: Quality {
                sigma: Some(15.0),
                snr_db: Some(20.0),
            },
            ingest: Default::default(),
        }
    }

    fn reason(obs: Observation) -> Option<RejectReason> {
        validate(obs, &ValidationPolicy::default())
            .err()
            .map(|r| r.reason)
    }

    fn with(m: Measurement) -> Observation {
        Observation {
            measurement: m,
            ..radar()
        }
    }

    #[test]
    fn a_good_observation_passes_unchanged() {
        assert_eq!(validate(radar(), &ValidationPolicy::default()), Ok(radar()));
    }

    #[test]
    fn each_reason_is_reachable() {
        use RejectReason as R;
        let ra = |range_m, az_rad, el_rad, range_rate_mps| Measurement::RangeAzEl {
            range_m,
            az_rad,
            el_rad,
            range_rate_mps,
        };
        let pos = |x_m, v| Measurement::Position {
            x_m,
            y_m: 0.0,
            z_m: 0.0,
            velocity_mps: v,
        };
        let isl = |m| Observation {
            sensor_kind: SensorKind::Isl,
            observer: None,
            measurement: m,
            ..radar()
        };
        let phot = |ra_rad, dec_rad, magnitude| Observation {
            sensor_kind: SensorKind::Photometry,
            measurement: Measurement::Photometry {
                ra_rad,
                dec_rad,
                magnitude,
            },
            ..radar()
        };
        let cases = [
            (
                Observation {
                    sensor: " ".into(),
                    ..radar()
                },
                R::MissingSensor,
            ),
            (
                Observation {
                    sensor_kind: SensorKind::Optical,
                    ..radar()
                },
                R::SensorMeasurementMismatch,
            ),
            (
                Observation {
                    observer: None,
                    ..radar()
                },
                R::MissingObserver,
            ),
            (
                Observation {
                    observer: Some(Observer::Ground {
                        lat_rad: 2.0,
                        lon_rad: 0.0,
                        alt_m: 0.0,
                    }),
                    ..radar()
                },
                R::InvalidObserver,
            ),
            (with(ra(f64::NAN, 1.0, 0.3, None)), R::NonFinite),
            (
                Observation {
                    epoch: f64::INFINITY,
                    ..radar()
                },
                R::NonFinite,
            ),
            (
                Observation {
                    epoch: 5.0e9,
                    ..radar()
                },
                R::EpochOutOfWindow,
            ),
            (with(ra(-5.0, 1.0, 0.3, None)), R::RangeOutOfBounds),
            (
                with(ra(1e6, 1.0, 0.3, Some(25_000.0))),
                R::RangeRateOutOfBounds,
            ),
            (with(ra(1e6, 7.0, 0.3, None)), R::AzimuthOutOfRange),
            (with(ra(1e6, 1.0, -0.5, None)), R::ElevationOutOfRange),
            (phot(6.5, 0.0, 5.0), R::RightAscensionOutOfRange),
            (phot(1.0, 1.7, 5.0), R::DeclinationOutOfRange),
            (isl(pos(1.0e6, None)), R::PositionOutOfBounds),
            (
                isl(pos(7.0e6, Some([0.0, 5.0e4, 0.0]))),
                R::VelocityOutOfBounds,
            ),
            (phot(1.0, 0.2, 99.0), R::MagnitudeOutOfRange),
            (
                Observation {
                    quality: Quality {
                        sigma: Some(-1.0),
                        snr_db: None,
                    },
                    ..radar()
                },
                R::InvalidUncertainty,
            ),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (obs, expected) in cases {
            assert_eq!(reason(obs), Some(expected), "{expected}");
            seen.insert(expected);
        }
        assert_eq!(
            seen.len(),
            RejectReason::ALL.len(),
            "a reason has no test case"
        );
    }

    #[test]
    fn codes_are_stable_and_match_serde() {
        for r in RejectReason::ALL {
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.code())
            );
            assert!(!r.describe().is_empty());
        }
    }

    #[test]
    fn rejection_serialises_for_the_dead_letter_sink() {
        let rej = validate(
            with(Measurement::Range { range_m: 1.0 }),
            &ValidationPolicy::default(),
        )
        .unwrap_err();
        let json = serde_json::to_value(&rej).unwrap();
        assert_eq!(json["reason"], "sensor_measurement_mismatch");
        assert_eq!(json["observation"]["id"], "radar-1/1");
    }
}
