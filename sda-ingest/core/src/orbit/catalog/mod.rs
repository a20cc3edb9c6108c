//! An orbital catalog held as real two-line element sets, and its seeded generators: a small
//! random one for scenarios ([`Catalog::generate`]) and one shaped like the public catalog for
//! screening at scale ([`Catalog::realistic`]).
//!
//! The catalog stores TLE text rather than numbers because TLEs are what a real catalog feed
//! delivers: the simulator's objects go through the same parse (checksums included) as real
//! ones would, and the fixed-decimal rounding of the format is part of what gets propagated.

mod population;

use chrono::{DateTime, Datelike};
use thiserror::Error;

use super::elements::{ElementSet, tle_lines};

/// Earth's gravitational parameter, km³/s² (WGS-72, the value SGP4 is built on).
pub const MU_KM3_S2: f64 = 398_600.8;
/// Earth's equatorial radius, km (WGS-72).
pub const EARTH_RADIUS_KM: f64 = 6_378.135;

/// Mean orbital elements, in TLE units, of one catalog object.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanElements {
    /// NORAD catalog number (1..=99999).
    pub norad_id: u32,
    /// Object name (line 0 of a three-line element set).
    pub name: String,
    /// Element epoch, UTC seconds since the Unix epoch.
    pub epoch_unix_s: f64,
    /// Inclination, degrees.
    pub inclination_deg: f64,
    /// Right ascension of the ascending node, degrees.
    pub raan_deg: f64,
    /// Eccentricity.
    pub eccentricity: f64,
    /// Argument of perigee, degrees.
    pub arg_perigee_deg: f64,
    /// Mean anomaly, degrees.
    pub mean_anomaly_deg: f64,
    /// Mean motion, revolutions per day.
    pub mean_motion_rev_day: f64,
    /// SGP4 drag term B*, inverse Earth radii.
    pub bstar: f64,
}

/// One catalog entry: a named two-line element set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogObject {
    /// NORAD catalog number.
    pub norad_id: u32,
    /// Object name.
    pub name: String,
    /// TLE line 1 (69 characters, checksum last).
    pub line1: String,
    /// TLE line 2 (69 characters, checksum last).
    pub line2: String,
}

/// Why a TLE could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CatalogError {
    /// The NORAD number does not fit the five-digit field.
    #[error("norad id {0} does not fit in five digits")]
    NoradIdOutOfRange(u32),
    /// The epoch is outside the years a TLE can express (1957..=2056).
    #[error("epoch {0} cannot be written as a tle epoch")]
    EpochOutOfRange(f64),
    /// The lines do not parse as a TLE.
    #[error("invalid tle: {0}")]
    Parse(String),
    /// A value does not fit its field of the format.
    #[error("{field} = {value} cannot be written in its tle field")]
    Unwritable {
        /// Field name, in OMM spelling.
        field: &'static str,
        /// The value.
        value: String,
    },
}

/// The TLE checksum of the first 68 characters: digits count their value, `-` counts one,
/// everything else zero, modulo ten.
pub fn tle_checksum(line: &str) -> u32 {
    line.bytes()
        .take(68)
        .map(|b| match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'-' => 1,
            _ => 0,
        })
        .sum::<u32>()
        % 10
}

impl CatalogObject {
    /// Writes `elements` as a TLE (unclassified, element set 999, revolution 0).
    ///
    /// # Errors
    ///
    /// [`CatalogError::NoradIdOutOfRange`] or [`CatalogError::EpochOutOfRange`] when a value
    /// does not fit its fixed-width field.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::orbit::catalog::{CatalogObject, MeanElements};
    ///
    /// let obj = CatalogObject::from_elements(&MeanElements {
    ///     norad_id: 40001, name: "SIM-40001".into(), epoch_unix_s: 1_704_067_200.0,
    ///     inclination_deg: 51.6, raan_deg: 120.0, eccentricity: 0.0007,
    ///     arg_perigee_deg: 90.0, mean_anomaly_deg: 10.0, mean_motion_rev_day: 15.5, bstar: 2.5e-5,
    /// })?;
    /// assert_eq!(obj.line1, "1 40001U 24001A   24001.00000000  .00000000  00000-0  25000-4 0  9990");
    /// assert_eq!(obj.line2, "2 40001  51.6000 120.0000 0007000  90.0000  10.0000 15.50000000    00");
    /// assert!(obj.elements().is_ok());
    /// # Ok::<(), sda_ingest_core::orbit::catalog::CatalogError>(())
    /// ```
    pub fn from_elements(el: &MeanElements) -> Result<Self, CatalogError> {
        Self::from_element_set(&el.to_element_set()?)
    }

    /// Writes a full element set as a TLE ([`tle_lines`]).
    ///
    /// # Errors
    ///
    /// As [`tle_lines`].
    pub fn from_element_set(el: &ElementSet) -> Result<Self, CatalogError> {
        let [line1, line2] = tle_lines(el)?;
        Ok(CatalogObject {
            norad_id: el.norad_id,
            name: el.name.clone(),
            line1,
            line2,
        })
    }

    /// Parses the stored lines with the `sgp4` crate, checksums included.
    ///
    /// # Errors
    ///
    /// [`CatalogError::Parse`] with the parser's reason.
    pub fn elements(&self) -> Result<sgp4::Elements, CatalogError> {
        sgp4::Elements::from_tle(
            Some(self.name.clone()),
            self.line1.as_bytes(),
            self.line2.as_bytes(),
        )
        .map_err(|e| CatalogError::Parse(e.to_string()))
    }
}

impl MeanElements {
    /// The full element set these design elements stand for: unclassified, element set 999,
    /// revolution 0, no mean-motion derivatives, and an international designator made up from
    /// the epoch year and the NORAD number (launch `NNN` = NORAD mod 1000, piece A).
    ///
    /// # Errors
    ///
    /// [`CatalogError::EpochOutOfRange`] when the epoch is not a representable date.
    pub fn to_element_set(&self) -> Result<ElementSet, CatalogError> {
        let secs = self.epoch_unix_s.floor();
        let epoch =
            DateTime::from_timestamp(secs as i64, ((self.epoch_unix_s - secs) * 1e9) as u32)
                .ok_or(CatalogError::EpochOutOfRange(self.epoch_unix_s))?;
        Ok(ElementSet {
            norad_id: self.norad_id,
            name: self.name.clone(),
            object_id: format!("{}-{:03}A", epoch.year(), self.norad_id % 1000),
            classification: 'U',
            epoch,
            mean_motion_rev_day: self.mean_motion_rev_day,
            eccentricity: self.eccentricity,
            inclination_deg: self.inclination_deg.clamp(0.0, 180.0),
            raan_deg: self.raan_deg,
            arg_perigee_deg: self.arg_perigee_deg,
            mean_anomaly_deg: self.mean_anomaly_deg,
            ephemeris_type: 0,
            element_set_no: 999,
            rev_at_epoch: 0,
            bstar: self.bstar,
            mean_motion_dot: 0.0,
            mean_motion_ddot: 0.0,
        })
    }
}

/// Mean motion in revolutions per day for a circular orbit at `altitude_km`.
pub fn mean_motion_for_altitude(altitude_km: f64) -> f64 {
    let a = EARTH_RADIUS_KM + altitude_km;
    (MU_KM3_S2 / (a * a * a)).sqrt() * 86_400.0 / std::f64::consts::TAU
}

/// A catalog of objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Entries in NORAD order.
    pub objects: Vec<CatalogObject>,
}

impl Catalog {
    /// Generates `count` random objects with NORAD numbers from `first_norad_id`, all with
    /// their epoch at `epoch_unix_s`; the same seed always gives the same catalog.
    ///
    /// Nine in ten objects are in low Earth orbit (400–1,500 km, near-circular, any
    /// inclination); the rest in medium Earth orbit around 20,000 km, so screening sees both
    /// near-Earth and deep-space SGP4 branches.
    ///
    /// # Errors
    ///
    /// [`CatalogError`] when the NORAD range or epoch does not fit the TLE format.
    pub fn generate(
        seed: u64,
        count: usize,
        first_norad_id: u32,
        epoch_unix_s: f64,
    ) -> Result<Catalog, CatalogError> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut objects = Vec::with_capacity(count);
        for i in 0..count {
            let norad_id = first_norad_id + i as u32;
            let altitude_km = if rng.u8(0..10) == 0 {
                19_000.0 + 2_000.0 * rng.f64()
            } else {
                400.0 + 1_100.0 * rng.f64()
            };
            let elements = MeanElements {
                norad_id,
                name: format!("SIM-{norad_id}"),
                epoch_unix_s,
                inclination_deg: 180.0 * rng.f64(),
                raan_deg: 360.0 * rng.f64(),
                eccentricity: 0.0001 + 0.01 * rng.f64(),
                arg_perigee_deg: 360.0 * rng.f64(),
                mean_anomaly_deg: 360.0 * rng.f64(),
                mean_motion_rev_day: mean_motion_for_altitude(altitude_km),
                bstar: 1.0e-5 + 1.0e-4 * rng.f64(),
            };
            objects.push(CatalogObject::from_elements(&elements)?);
        }
        Ok(Catalog { objects })
    }

    /// The entry with this NORAD number.
    pub fn get(&self, norad_id: u32) -> Option<&CatalogObject> {
        self.objects.iter().find(|o| o.norad_id == norad_id)
    }

    /// The catalog as three-line element text (name, line 1, line 2 per object).
    pub fn to_tle_text(&self) -> String {
        self.objects
            .iter()
            .map(|o| format!("{}\n{}\n{}\n", o.name, o.line1, o.line2))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_the_iss_example() {
        // The sgp4 crate's documented ISS TLE; its last digits are the published checksums.
        let l1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927";
        let l2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537";
        assert_eq!(tle_checksum(l1), 7);
        assert_eq!(tle_checksum(l2), 7);
    }

    #[test]
    fn generated_catalog_parses_and_is_deterministic() {
        let a = Catalog::generate(7, 40, 40_001, 1_704_067_200.0).unwrap();
        let b = Catalog::generate(7, 40, 40_001, 1_704_067_200.0).unwrap();
        let c = Catalog::generate(8, 40, 40_001, 1_704_067_200.0).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        for o in &a.objects {
            assert_eq!((o.line1.len(), o.line2.len()), (69, 69));
            let el = o.elements().unwrap();
            assert_eq!(el.norad_id, u64::from(o.norad_id));
        }
        assert_eq!(sgp4::parse_3les(&a.to_tle_text()).unwrap().len(), 40);
    }

    #[test]
    fn a_corrupted_line_fails_its_checksum() {
        let cat = Catalog::generate(1, 1, 40_001, 1_704_067_200.0).unwrap();
        let mut obj = cat.objects[0].clone();
        obj.line2
            .replace_range(10..11, if &obj.line2[10..11] == "1" { "2" } else { "1" });
        assert!(matches!(obj.elements(), Err(CatalogError::Parse(m)) if m.contains("checksum")));
    }

    #[test]
    fn out_of_range_fields_are_refused() {
        let el = MeanElements {
            norad_id: 100_000,
            name: String::new(),
            epoch_unix_s: 1_704_067_200.0,
            inclination_deg: 0.0,
            raan_deg: 0.0,
            eccentricity: 0.0,
            arg_perigee_deg: 0.0,
            mean_anomaly_deg: 0.0,
            mean_motion_rev_day: 15.0,
            bstar: 0.0,
        };
        assert!(CatalogObject::from_elements(&el).is_err());
        let el = MeanElements {
            norad_id: 1,
            epoch_unix_s: 4_000_000_000.0,
            ..el
        };
        assert!(CatalogObject::from_elements(&el).is_err());
    }
}
