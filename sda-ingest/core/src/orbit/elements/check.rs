//! The rules every element set must pass after its syntax: field ranges, then SGP4.

use super::{ElementError, ElementSet};
use crate::orbit::catalog::{EARTH_RADIUS_KM, MU_KM3_S2};
use crate::orbit::propagate::Propagator;

/// Checks every field against the range the formats and the physics allow.
///
/// The rules are the same for every format, so a catalog means the same thing whichever way
/// it was published. The perigee rule uses the Kozai mean motion, which is within a few
/// kilometres of SGP4's own semi-major axis: close enough to refuse orbits that would start
/// inside the Earth, which SGP4 would otherwise propagate into nonsense.
pub(super) fn ranges(el: &ElementSet) -> Result<(), ElementError> {
    let range = |field, value: f64, ok: bool, range| {
        if ok {
            Ok(())
        } else {
            Err(ElementError::FieldRange {
                field,
                value,
                range,
            })
        }
    };
    let n = f64::from(el.norad_id);
    range("NORAD_CAT_ID", n, el.norad_id >= 1, "at least 1")?;
    if !matches!(el.classification, 'U' | 'C' | 'S') {
        return Err(ElementError::FieldFormat {
            field: "CLASSIFICATION_TYPE",
            value: el.classification.to_string(),
        });
    }
    // Type 0 is what every published element set carries; 2 and 3 are the old explicit codes
    // for SGP4 and SDP4. Anything else (SGP4-XP, SGP8, ...) needs another propagator.
    if !matches!(el.ephemeris_type, 0 | 2 | 3) {
        return Err(ElementError::EphemerisType(el.ephemeris_type));
    }
    let i = el.inclination_deg;
    range(
        "INCLINATION",
        i,
        (0.0..=180.0).contains(&i),
        "0 to 180 degrees",
    )?;
    for (field, v) in [
        ("RA_OF_ASC_NODE", el.raan_deg),
        ("ARG_OF_PERICENTER", el.arg_perigee_deg),
        ("MEAN_ANOMALY", el.mean_anomaly_deg),
    ] {
        range(field, v, (0.0..=360.0).contains(&v), "0 to 360 degrees")?;
    }
    let e = el.eccentricity;
    range("ECCENTRICITY", e, (0.0..1.0).contains(&e), "0 to below 1")?;
    let mm = el.mean_motion_rev_day;
    range(
        "MEAN_MOTION",
        mm,
        mm > 0.0 && mm <= 20.0,
        "above 0, at most 20 rev/day",
    )?;
    for (field, v) in [
        ("BSTAR", el.bstar),
        ("MEAN_MOTION_DOT", el.mean_motion_dot),
        ("MEAN_MOTION_DDOT", el.mean_motion_ddot),
    ] {
        range(field, v, v.is_finite(), "a finite number")?;
    }
    let n_rad_s = mm * std::f64::consts::TAU / 86_400.0;
    let perigee_km = (MU_KM3_S2 / (n_rad_s * n_rad_s)).cbrt() * (1.0 - e);
    range(
        "PERIGEE",
        perigee_km,
        perigee_km > EARTH_RADIUS_KM,
        "perigee radius above the Earth's surface (6378 km)",
    )
}

/// Initialises SGP4 and propagates to the epoch, so an element set that SGP4 cannot use is
/// rejected at load time rather than discovered by the first screening.
pub(super) fn initialise(el: &ElementSet) -> Result<Propagator, ElementError> {
    let propagator =
        Propagator::from_element_set(el).map_err(|e| ElementError::Sgp4(e.to_string()))?;
    propagator
        .state_at(propagator.epoch_unix_s())
        .map_err(|e| ElementError::Sgp4(e.to_string()))?;
    Ok(propagator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn iss() -> ElementSet {
        ElementSet {
            norad_id: 25544,
            name: "ISS (ZARYA)".into(),
            object_id: "1998-067A".into(),
            classification: 'U',
            epoch: DateTime::from_timestamp(1_704_067_200, 0).unwrap(),
            mean_motion_rev_day: 15.5,
            eccentricity: 0.0005,
            inclination_deg: 51.64,
            raan_deg: 247.46,
            arg_perigee_deg: 130.54,
            mean_anomaly_deg: 325.03,
            ephemeris_type: 0,
            element_set_no: 999,
            rev_at_epoch: 43_000,
            bstar: 1.6e-4,
            mean_motion_dot: 1e-4,
            mean_motion_ddot: 0.0,
        }
    }

    #[test]
    fn a_valid_set_passes_and_initialises() {
        ranges(&iss()).unwrap();
        let p = initialise(&iss()).unwrap();
        assert_eq!(p.norad_id(), 25544);
    }

    #[test]
    fn each_range_rule_names_its_field() {
        type Spoil = fn(&mut ElementSet);
        let cases: [(Spoil, &str); 8] = [
            (|e| e.inclination_deg = 181.0, "INCLINATION"),
            (|e| e.raan_deg = -1.0, "RA_OF_ASC_NODE"),
            (|e| e.mean_anomaly_deg = f64::NAN, "MEAN_ANOMALY"),
            (|e| e.eccentricity = 1.0, "ECCENTRICITY"),
            (|e| e.mean_motion_rev_day = 0.0, "MEAN_MOTION"),
            (|e| e.bstar = f64::INFINITY, "BSTAR"),
            (|e| e.norad_id = 0, "NORAD_CAT_ID"),
            (|e| e.eccentricity = 0.2, "PERIGEE"),
        ];
        for (spoil, field) in cases {
            let mut el = iss();
            spoil(&mut el);
            match ranges(&el) {
                Err(ElementError::FieldRange { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        let mut el = iss();
        el.ephemeris_type = 4;
        assert_eq!(
            ranges(&el).unwrap_err().code(),
            "unsupported_ephemeris_type"
        );
        el.ephemeris_type = 0;
        el.classification = 'X';
        assert_eq!(ranges(&el).unwrap_err().code(), "field_format");
    }
}
