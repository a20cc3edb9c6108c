//! The scenario's sensors: ground sites, the space-based telescope and the ISL satellite.

use crate::observation::{Observer, SensorKind};
use crate::sensors::{SensorInfo, SensorRegistry};

/// A ground sensor: name, kind, numeric id, latitude and longitude (degrees), altitude (m).
pub(super) type GroundSensor = (&'static str, SensorKind, Option<u16>, f64, f64, f64);

/// The ground sensors; sites are spread over both hemispheres so LEO passes are frequent.
pub(super) const GROUND: [GroundSensor; 7] = [
    ("radar-1", SensorKind::Radar, Some(1), 42.6, -71.5, 100.0),
    ("radar-2", SensorKind::Radar, Some(2), 9.4, 167.5, 10.0),
    ("optical-1", SensorKind::Optical, None, 32.9, -105.5, 2200.0),
    ("slr-1", SensorKind::LaserRanging, None, 49.1, 12.9, 600.0),
    ("rf-1", SensorKind::PassiveRf, None, -31.0, 136.0, 150.0),
    (
        "bistatic-1",
        SensorKind::BistaticRadar,
        None,
        52.0,
        5.0,
        20.0,
    ),
    ("phot-1", SensorKind::Photometry, None, -24.6, -70.4, 2635.0),
];
pub(super) const SBO: &str = "sbo-1";
pub(super) const ISL_SATELLITE: u16 = 1;
pub(super) const MIN_ELEVATION_RAD: f64 = 10.0 * std::f64::consts::PI / 180.0;

/// A ground site in radians.
#[derive(Clone, Copy)]
pub(super) struct Site {
    pub(super) lat: f64,
    pub(super) lon: f64,
    pub(super) alt: f64,
}

/// The registry of the scenario's sensors.
pub(super) fn registry() -> SensorRegistry {
    let mut reg = SensorRegistry::new();
    for (name, kind, numeric_id, lat, lon, alt) in GROUND {
        let site = Observer::Ground {
            lat_rad: lat.to_radians(),
            lon_rad: lon.to_radians(),
            alt_m: alt,
        };
        reg.insert(SensorInfo {
            name: name.into(),
            kind,
            numeric_id,
            site: Some(site),
        });
    }
    reg.insert(SensorInfo {
        name: SBO.into(),
        kind: SensorKind::SpaceBasedOptical,
        numeric_id: None,
        site: None,
    });
    reg.insert(SensorInfo {
        name: "isl-1".into(),
        kind: SensorKind::Isl,
        numeric_id: Some(ISL_SATELLITE),
        site: None,
    });
    reg
}
