//! Each wire record to the one [`Observation`] envelope, in SI units.
//!
//! Normalisation never fails: it only renames and converts units. Anything that makes a record
//! unusable (an unknown sensor without a site, a NaN, an angle out of range) is left for
//! [`validate`](super::validate) to reject with a reason code, so every rejection goes to the
//! dead-letter sink the same way.

use crate::observation::{Measurement, Observation, Observer, Quality, SensorKind};
use crate::sensors::SensorRegistry;
use crate::wire::WireRecord;
use crate::wire::isl::IslRecord;
use crate::wire::optical::OpticalRecord;
use crate::wire::radar::RadarRecord;
use crate::wire::synthetic::{SyntheticBody, SyntheticRecord};

/// Converts any decoded record to an [`Observation`].
///
/// # Examples
///
/// ```
/// use sda_ingest_core::process::normalize::normalize;
/// use sda_ingest_core::sensors::SensorRegistry;
/// use sda_ingest_core::wire::WireRecord;
/// use sda_ingest_core::wire::synthetic::SyntheticRecord;
///
/// let rec = SyntheticRecord::decode(
///     br#"{"sensor":"slr-1","seq":7,"epoch_us":1704067200500000,"kind":"laser_ranging","range_m":812000.0}"#,
/// )?;
/// let obs = normalize(&WireRecord::Synthetic(rec), &SensorRegistry::new());
/// assert_eq!(obs.id, "slr-1/7");
/// assert_eq!(obs.epoch, 1_704_067_200.5);
/// # Ok::<(), sda_ingest_core::wire::synthetic::SyntheticError>(())
/// ```
pub fn normalize(record: &WireRecord, registry: &SensorRegistry) -> Observation {
    match record {
        WireRecord::Radar(r) => normalize_radar(r, registry),
        WireRecord::Isl(r) => normalize_isl(r, registry),
        WireRecord::Optical(r) => normalize_optical(r, registry),
        WireRecord::Synthetic(r) => normalize_synthetic(r, registry),
    }
}

/// The name of a radar: the registry's, or `radar-{id}` for an unknown id.
fn radar_name(sensor_id: u16, registry: &SensorRegistry) -> String {
    registry
        .by_numeric(SensorKind::Radar, sensor_id)
        .map_or_else(|| format!("radar-{sensor_id}"), |i| i.name.clone())
}

/// The name of an ISL satellite: the registry's, or `isl-{id}` for an unknown id.
fn isl_name(satellite_id: u16, registry: &SensorRegistry) -> String {
    registry
        .by_numeric(SensorKind::Isl, satellite_id)
        .map_or_else(|| format!("isl-{satellite_id}"), |i| i.name.clone())
}

/// The observation id normalisation gives a radar record: `{sensor name}/{sequence}`.
pub fn radar_id(registry: &SensorRegistry, r: &RadarRecord) -> String {
    format!("{}/{}", radar_name(r.sensor_id, registry), r.sequence)
}

/// The observation id normalisation gives an ISL record: `{satellite name}/{sequence}`.
pub fn isl_id(registry: &SensorRegistry, r: &IslRecord) -> String {
    format!("{}/{}", isl_name(r.satellite_id, registry), r.sequence)
}

/// The observation id normalisation gives an optical record: `{sensor}/{archive id}`.
pub fn optical_id(r: &OpticalRecord) -> String {
    format!("{}/{}", r.sensor, r.id)
}

/// The observation id normalisation gives a synthetic record: `{sensor}/{seq}`.
pub fn synthetic_id(r: &SyntheticRecord) -> String {
    format!("{}/{}", r.sensor, r.seq)
}

/// Radar datagram: the sensor id is looked up for a name and site; an unknown id gets the name
/// `radar-{id}` and no site.
pub fn normalize_radar(r: &RadarRecord, registry: &SensorRegistry) -> Observation {
    let info = registry.by_numeric(SensorKind::Radar, r.sensor_id);
    Observation {
        id: radar_id(registry, r),
        sensor: radar_name(r.sensor_id, registry),
        sensor_kind: SensorKind::Radar,
        object_hint: r.object_id,
        epoch: micros_to_seconds(r.epoch_us),
        observer: info.and_then(|i| i.site),
        measurement: Measurement::RangeAzEl {
            range_m: r.range_m,
            az_rad: r.az_rad,
            el_rad: r.el_rad,
            range_rate_mps: r.range_rate_mps,
        },
        quality: Quality {
            sigma: None,
            snr_db: Some(f64::from(r.snr_db)),
        },
        ingest: Default::default(),
    }
}

/// ISL state vector: already SI and TEME, so only renamed.
pub fn normalize_isl(r: &IslRecord, registry: &SensorRegistry) -> Observation {
    let [x_m, y_m, z_m] = r.position_m;
    Observation {
        id: isl_id(registry, r),
        sensor: isl_name(r.satellite_id, registry),
        sensor_kind: SensorKind::Isl,
        object_hint: r.object_id,
        epoch: micros_to_seconds(r.epoch_us),
        observer: None,
        measurement: Measurement::Position {
            x_m,
            y_m,
            z_m,
            velocity_mps: Some(r.velocity_mps),
        },
        quality: Quality {
            sigma: Some(f64::from(r.sigma_m)),
            snr_db: None,
        },
        ingest: Default::default(),
    }
}

/// Optical archive record: degrees to radians, arcseconds to radians, RFC 3339 to Unix seconds.
pub fn normalize_optical(r: &OpticalRecord, registry: &SensorRegistry) -> Observation {
    let kind = registry
        .by_name(&r.sensor)
        .map_or(SensorKind::Optical, |i| i.kind);
    Observation {
        id: optical_id(r),
        sensor: r.sensor.clone(),
        sensor_kind: kind,
        object_hint: r.object,
        epoch: r.epoch.timestamp() as f64 + f64::from(r.epoch.timestamp_subsec_nanos()) / 1e9,
        observer: Some(Observer::Ground {
            lat_rad: r.site.lat_deg.to_radians(),
            lon_rad: r.site.lon_deg.to_radians(),
            alt_m: r.site.alt_m,
        }),
        measurement: Measurement::Angles {
            ra_rad: r.ra_deg.to_radians(),
            dec_rad: r.dec_deg.to_radians(),
        },
        quality: Quality {
            sigma: r.sigma_arcsec.map(|s| (s / 3600.0).to_radians()),
            snr_db: None,
        },
        ingest: Default::default(),
    }
}

/// Synthetic record: the registered kind wins over the record's tag, so a sensor that starts
/// sending the wrong kind of measurement is caught by validation instead of trusted.
pub fn normalize_synthetic(r: &SyntheticRecord, registry: &SensorRegistry) -> Observation {
    let info = registry.by_name(&r.sensor);
    let (tag_kind, measurement, snr_db) = synthetic_measurement(&r.body);
    let observer = match r.body {
        SyntheticBody::SpaceBasedOptical {
            observer_teme_m: [x_m, y_m, z_m],
            ..
        } => Some(Observer::Space { x_m, y_m, z_m }),
        _ => info.and_then(|i| i.site),
    };
    Observation {
        id: synthetic_id(r),
        sensor: r.sensor.clone(),
        sensor_kind: info.map_or(tag_kind, |i| i.kind),
        object_hint: r.object,
        epoch: micros_to_seconds(r.epoch_us),
        observer,
        measurement,
        quality: Quality {
            sigma: r.sigma,
            snr_db,
        },
        ingest: Default::default(),
    }
}

/// What a synthetic record's body measures: the kind its tag names, the measurement in SI
/// units, and the signal-to-noise ratio when the body carries one.
pub fn synthetic_measurement(body: &SyntheticBody) -> (SensorKind, Measurement, Option<f64>) {
    match *body {
        SyntheticBody::LaserRanging { range_m } => (
            SensorKind::LaserRanging,
            Measurement::Range { range_m },
            None,
        ),
        SyntheticBody::PassiveRf {
            az_rad,
            el_rad,
            snr_db,
        } => (
            SensorKind::PassiveRf,
            Measurement::AzEl { az_rad, el_rad },
            snr_db,
        ),
        SyntheticBody::SpaceBasedOptical {
            ra_rad, dec_rad, ..
        } => (
            SensorKind::SpaceBasedOptical,
            Measurement::Angles { ra_rad, dec_rad },
            None,
        ),
        SyntheticBody::BistaticRadar {
            range_m,
            az_rad,
            el_rad,
            range_rate_mps,
        } => (
            SensorKind::BistaticRadar,
            Measurement::RangeAzEl {
                range_m,
                az_rad,
                el_rad,
                range_rate_mps,
            },
            None,
        ),
        SyntheticBody::Photometry {
            ra_rad,
            dec_rad,
            magnitude,
        } => (
            SensorKind::Photometry,
            Measurement::Photometry {
                ra_rad,
                dec_rad,
                magnitude,
            },
            None,
        ),
    }
}

/// Splits before converting so whole seconds stay exact even where `i64 as f64` would round.
fn micros_to_seconds(us: i64) -> f64 {
    us.div_euclid(1_000_000) as f64 + us.rem_euclid(1_000_000) as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensors::SensorInfo;
    use crate::wire::optical::OpticalSite;

    fn registry() -> SensorRegistry {
        let mut reg = SensorRegistry::new();
        let site = Observer::Ground {
            lat_rad: 0.5,
            lon_rad: -1.0,
            alt_m: 10.0,
        };
        for (name, kind, id) in [
            ("radar-east", SensorKind::Radar, Some(1)),
            ("isl-alpha", SensorKind::Isl, Some(9)),
            ("slr-1", SensorKind::LaserRanging, None),
        ] {
            reg.insert(SensorInfo {
                name: name.into(),
                kind,
                numeric_id: id,
                site: Some(site),
            });
        }
        reg
    }

    #[test]
    fn radar_uses_the_registry() {
        let r = RadarRecord {
            sensor_id: 1,
            sequence: 5,
            epoch_us: 1_704_067_200_123_456,
            object_id: None,
            range_m: 1.0e6,
            az_rad: 1.0,
            el_rad: 0.5,
            range_rate_mps: Some(10.0),
            snr_db: 12.5,
        };
        let obs = normalize(&WireRecord::Radar(r), &registry());
        assert_eq!(obs.id, "radar-east/5");
        assert!(matches!(obs.observer, Some(Observer::Ground { .. })));
        assert!((obs.epoch - 1_704_067_200.123_456).abs() < 1e-6);
        assert_eq!(obs.quality.snr_db, Some(12.5));
        let unknown = normalize_radar(&RadarRecord { sensor_id: 77, ..r }, &registry());
        assert_eq!(
            (unknown.sensor.as_str(), unknown.observer),
            ("radar-77", None)
        );
    }

    #[test]
    fn isl_is_teme_position() {
        let r = IslRecord {
            satellite_id: 9,
            sequence: 1,
            epoch_us: 0,
            object_id: Some(3),
            position_m: [7.0e6, 0.0, 0.0],
            velocity_mps: [0.0, 7.5e3, 0.0],
            sigma_m: 30.0,
        };
        let obs = normalize_isl(&r, &registry());
        assert_eq!(obs.id, "isl-alpha/1");
        assert_eq!(obs.sensor_kind, SensorKind::Isl);
        assert_eq!(
            obs.measurement,
            Measurement::Position {
                x_m: 7.0e6,
                y_m: 0.0,
                z_m: 0.0,
                velocity_mps: Some([0.0, 7.5e3, 0.0])
            }
        );
    }

    #[test]
    fn optical_converts_units() {
        let r = OpticalRecord {
            id: "A-1".into(),
            sensor: "optical-1".into(),
            site: OpticalSite {
                lat_deg: 30.0,
                lon_deg: -105.0,
                alt_m: 2000.0,
            },
            object: None,
            epoch: chrono::DateTime::from_timestamp(1_704_067_200, 250_000_000).unwrap(),
            ra_deg: 180.0,
            dec_deg: -45.0,
            sigma_arcsec: Some(3600.0),
        };
        let obs = normalize_optical(&r, &registry());
        assert_eq!(obs.id, "optical-1/A-1");
        assert_eq!(obs.epoch, 1_704_067_200.25);
        let Measurement::Angles { ra_rad, dec_rad } = obs.measurement else {
            panic!()
        };
        assert!((ra_rad - std::f64::consts::PI).abs() < 1e-12);
        assert!((dec_rad + std::f64::consts::FRAC_PI_4).abs() < 1e-12);
        assert!((obs.quality.sigma.unwrap() - 1f64.to_radians()).abs() < 1e-15);
    }

    #[test]
    fn synthetic_registered_kind_wins_over_the_tag() {
        let r = SyntheticRecord {
            sensor: "slr-1".into(),
            seq: 3,
            epoch_us: -1,
            object: None,
            sigma: None,
            body: SyntheticBody::Photometry {
                ra_rad: 1.0,
                dec_rad: 0.0,
                magnitude: 5.0,
            },
        };
        let obs = normalize_synthetic(&r, &registry());
        assert_eq!(obs.sensor_kind, SensorKind::LaserRanging);
        assert!(!obs.sensor_kind.produces(&obs.measurement));
        assert!((obs.epoch + 0.000_001).abs() < 1e-12);
        let sbo = SyntheticRecord {
            sensor: "sbo-1".into(),
            body: SyntheticBody::SpaceBasedOptical {
                ra_rad: 1.0,
                dec_rad: 0.1,
                observer_teme_m: [7.0e6, 1.0, 2.0],
            },
            ..r
        };
        let obs = normalize_synthetic(&sbo, &registry());
        assert_eq!(obs.sensor_kind, SensorKind::SpaceBasedOptical);
        assert_eq!(
            obs.observer,
            Some(Observer::Space {
                x_m: 7.0e6,
                y_m: 1.0,
                z_m: 2.0
            })
        );
    }
}
