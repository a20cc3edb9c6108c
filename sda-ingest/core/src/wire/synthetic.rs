//! The five future-load sensors: one shared JSON record with a `kind` tag.
//!
//! One record is one JSON object, carried one per UDP datagram or one per line on a TCP stream.
//! Common fields come first; the `kind` tag selects the measurement fields:
//!
//! | `kind`                | sensor                           | fields                                   |
//! |-----------------------|----------------------------------|------------------------------------------|
//! | `laser_ranging`       | satellite laser ranging station  | `range_m`                                |
//! | `passive_rf`          | RF direction finder              | `az_rad`, `el_rad`, `snr_db?`            |
//! | `space_based_optical` | telescope on a satellite         | `ra_rad`, `dec_rad`, `observer_teme_m`   |
//! | `bistatic_radar`      | bistatic radar receiver          | `range_m`, `az_rad`, `el_rad`, `range_rate_mps?` |
//! | `photometry`          | photometric telescope            | `ra_rad`, `dec_rad`, `magnitude`         |
//!
//! ```json
//! {"sensor":"slr-1","seq":7,"epoch_us":1704067200000000,"object":25544,"sigma":0.02,
//!  "kind":"laser_ranging","range_m":812000.0}
//! ```
//!
//! These sensors do not exist yet, so the format is deliberately plain SI JSON: a new sensor
//! type is one enum variant here and one arm in normalisation.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest record accepted; fits in one UDP datagram with room to spare.
pub const MAX_RECORD_LEN: usize = 2048;

/// One synthetic-sensor record.
///
/// Decoding reads the object in one pass into a flat set of optional fields and then checks
/// that the `kind` has the fields it needs (a missing one is the usual "missing field" error):
/// the derived form of a flattened, internally tagged enum would first buffer the whole record
/// as a generic value and then decode it again, several times the cost. Fields another kind
/// uses are ignored, like unknown fields, but must still have the right type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyntheticRecord {
    /// Sensor name; ground sites are looked up by it in the sensor registry.
    pub sensor: String,
    /// Per-sensor sequence number.
    pub seq: u64,
    /// UTC microseconds since the Unix epoch.
    pub epoch_us: i64,
    /// NORAD number when the sensor knows the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<u32>,
    /// One-sigma uncertainty of the primary quantity (metres or radians).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    /// Kind-specific measurement.
    #[serde(flatten)]
    pub body: SyntheticBody,
}

/// The kind-specific part of a [`SyntheticRecord`], tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SyntheticBody {
    /// Two-way laser time of flight, already halved to a one-way range.
    LaserRanging {
        /// Slant range, metres.
        range_m: f64,
    },
    /// Direction of arrival of a transmitter's signal.
    PassiveRf {
        /// Azimuth, radians.
        az_rad: f64,
        /// Elevation, radians.
        el_rad: f64,
        /// Signal-to-noise ratio, decibels.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snr_db: Option<f64>,
    },
    /// Angles measured by a telescope in orbit.
    SpaceBasedOptical {
        /// Right ascension, radians.
        ra_rad: f64,
        /// Declination, radians.
        dec_rad: f64,
        /// Observer position (TEME, metres) at the epoch.
        observer_teme_m: [f64; 3],
    },
    /// Receiver-solved bistatic radar track point.
    BistaticRadar {
        /// Receiver-to-object range, metres.
        range_m: f64,
        /// Azimuth at the receiver, radians.
        az_rad: f64,
        /// Elevation at the receiver, radians.
        el_rad: f64,
        /// Receiver range rate, metres per second.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        range_rate_mps: Option<f64>,
    },
    /// Angles plus brightness.
    Photometry {
        /// Right ascension, radians.
        ra_rad: f64,
        /// Declination, radians.
        dec_rad: f64,
        /// Apparent visual magnitude.
        magnitude: f64,
    },
}

/// A synthetic record as it appears on the wire: every field any kind uses, each optional.
#[derive(Deserialize)]
struct FlatRecord {
    sensor: String,
    seq: u64,
    epoch_us: i64,
    #[serde(default)]
    object: Option<u32>,
    #[serde(default)]
    sigma: Option<f64>,
    kind: Kind,
    #[serde(default)]
    range_m: Option<f64>,
    #[serde(default)]
    az_rad: Option<f64>,
    #[serde(default)]
    el_rad: Option<f64>,
    #[serde(default)]
    snr_db: Option<f64>,
    #[serde(default)]
    ra_rad: Option<f64>,
    #[serde(default)]
    dec_rad: Option<f64>,
    #[serde(default)]
    observer_teme_m: Option<[f64; 3]>,
    #[serde(default)]
    range_rate_mps: Option<f64>,
    #[serde(default)]
    magnitude: Option<f64>,
}

/// The `kind` tag.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    LaserRanging,
    PassiveRf,
    SpaceBasedOptical,
    BistaticRadar,
    Photometry,
}

impl<'de> Deserialize<'de> for SyntheticRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let flat = FlatRecord::deserialize(deserializer)?;
        let need = |value: Option<f64>, name: &'static str| {
            value.ok_or_else(|| serde::de::Error::missing_field(name))
        };
        let body = match flat.kind {
            Kind::LaserRanging => SyntheticBody::LaserRanging {
                range_m: need(flat.range_m, "range_m")?,
            },
            Kind::PassiveRf => SyntheticBody::PassiveRf {
                az_rad: need(flat.az_rad, "az_rad")?,
                el_rad: need(flat.el_rad, "el_rad")?,
                snr_db: flat.snr_db,
            },
            Kind::SpaceBasedOptical => SyntheticBody::SpaceBasedOptical {
                ra_rad: need(flat.ra_rad, "ra_rad")?,
                dec_rad: need(flat.dec_rad, "dec_rad")?,
                observer_teme_m: flat
                    .observer_teme_m
                    .ok_or_else(|| serde::de::Error::missing_field("observer_teme_m"))?,
            },
            Kind::BistaticRadar => SyntheticBody::BistaticRadar {
                range_m: need(flat.range_m, "range_m")?,
                az_rad: need(flat.az_rad, "az_rad")?,
                el_rad: need(flat.el_rad, "el_rad")?,
                range_rate_mps: flat.range_rate_mps,
            },
            Kind::Photometry => SyntheticBody::Photometry {
                ra_rad: need(flat.ra_rad, "ra_rad")?,
                dec_rad: need(flat.dec_rad, "dec_rad")?,
                magnitude: need(flat.magnitude, "magnitude")?,
            },
        };
        Ok(SyntheticRecord {
            sensor: flat.sensor,
            seq: flat.seq,
            epoch_us: flat.epoch_us,
            object: flat.object,
            sigma: flat.sigma,
            body,
        })
    }
}

/// Why a synthetic record could not be decoded.
#[derive(Debug, Error)]
pub enum SyntheticError {
    /// The record is longer than [`MAX_RECORD_LEN`].
    #[error("synthetic record of {len} bytes exceeds the maximum {MAX_RECORD_LEN}")]
    TooLarge {
        /// Record length.
        len: usize,
    },
    /// The record is not valid JSON for any kind.
    #[error("invalid synthetic record json")]
    InvalidJson(#[from] serde_json::Error),
}

impl SyntheticError {
    /// Stable snake_case code for metrics and the dead-letter sink.
    pub fn code(&self) -> &'static str {
        match self {
            SyntheticError::TooLarge { .. } => "too_large",
            SyntheticError::InvalidJson(_) => "invalid_json",
        }
    }
}

impl SyntheticRecord {
    /// Parses one record (a trailing newline is allowed).
    ///
    /// # Errors
    ///
    /// [`SyntheticError::TooLarge`] before parsing; [`SyntheticError::InvalidJson`] otherwise.
    /// Never panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::wire::synthetic::{SyntheticBody, SyntheticRecord};
    ///
    /// let rec = SyntheticRecord::decode(
    ///     br#"{"sensor":"slr-1","seq":7,"epoch_us":1704067200000000,"kind":"laser_ranging","range_m":812000.0}"#,
    /// )?;
    /// assert_eq!(rec.body, SyntheticBody::LaserRanging { range_m: 812_000.0 });
    /// # Ok::<(), sda_ingest_core::wire::synthetic::SyntheticError>(())
    /// ```
    pub fn decode(data: &[u8]) -> Result<Self, SyntheticError> {
        if data.len() > MAX_RECORD_LEN {
            return Err(SyntheticError::TooLarge { len: data.len() });
        }
        Ok(serde_json::from_slice(data)?)
    }

    /// Serialises the record as one JSON object without a trailing newline.
    ///
    /// # Errors
    ///
    /// Only if a float is NaN or infinite, which JSON cannot carry.
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_every_kind() {
        let bodies = [
            SyntheticBody::LaserRanging { range_m: 812_000.0 },
            SyntheticBody::PassiveRf {
                az_rad: 1.0,
                el_rad: 0.5,
                snr_db: Some(12.0),
            },
            SyntheticBody::SpaceBasedOptical {
                ra_rad: 2.0,
                dec_rad: -0.3,
                observer_teme_m: [7.0e6, 0.0, 1.0e3],
            },
            SyntheticBody::BistaticRadar {
                range_m: 9.0e5,
                az_rad: 3.0,
                el_rad: 0.2,
                range_rate_mps: None,
            },
            SyntheticBody::Photometry {
                ra_rad: 0.1,
                dec_rad: 0.2,
                magnitude: 6.5,
            },
        ];
        for (seq, body) in bodies.into_iter().enumerate() {
            let rec = SyntheticRecord {
                sensor: "s".into(),
                seq: seq as u64,
                epoch_us: 1_704_067_200_000_000,
                object: Some(5),
                sigma: Some(0.5),
                body,
            };
            assert_eq!(
                SyntheticRecord::decode(&rec.encode().unwrap()).unwrap(),
                rec
            );
        }
    }

    #[test]
    fn invalid_json_and_unknown_kind() {
        let err = SyntheticRecord::decode(b"not json").unwrap_err();
        assert_eq!(err.code(), "invalid_json");
        let unknown = br#"{"sensor":"x","seq":1,"epoch_us":0,"kind":"sonar","depth_m":3}"#;
        assert!(SyntheticRecord::decode(unknown).is_err());
        let missing_field = br#"{"sensor":"x","seq":1,"epoch_us":0,"kind":"laser_ranging"}"#;
        assert!(SyntheticRecord::decode(missing_field).is_err());
    }

    #[test]
    fn oversized_record() {
        let err = SyntheticRecord::decode(&[b' '; MAX_RECORD_LEN + 1]).unwrap_err();
        assert_eq!(err.code(), "too_large");
    }

    fn f() -> impl Strategy<Value = f64> {
        -1.0e9f64..1.0e9
    }

    fn body() -> impl Strategy<Value = SyntheticBody> {
        prop_oneof![
            f().prop_map(|range_m| SyntheticBody::LaserRanging { range_m }),
            (f(), f(), proptest::option::of(f())).prop_map(|(az_rad, el_rad, snr_db)| {
                SyntheticBody::PassiveRf {
                    az_rad,
                    el_rad,
                    snr_db,
                }
            }),
            (f(), f(), [f(), f(), f()]).prop_map(|(ra_rad, dec_rad, observer_teme_m)| {
                SyntheticBody::SpaceBasedOptical {
                    ra_rad,
                    dec_rad,
                    observer_teme_m,
                }
            }),
            (f(), f(), f(), proptest::option::of(f())).prop_map(|(range_m, az_rad, el_rad, rr)| {
                SyntheticBody::BistaticRadar {
                    range_m,
                    az_rad,
                    el_rad,
                    range_rate_mps: rr,
                }
            }),
            (f(), f(), f()).prop_map(|(ra_rad, dec_rad, magnitude)| {
                SyntheticBody::Photometry {
                    ra_rad,
                    dec_rad,
                    magnitude,
                }
            }),
        ]
    }

    fn record() -> impl Strategy<Value = SyntheticRecord> {
        (
            "[ -~]{0,10}",
            any::<u64>(),
            any::<i64>(),
            proptest::option::of(any::<u32>()),
            proptest::option::of(f()),
            body(),
        )
            .prop_map(
                |(sensor, seq, epoch_us, object, sigma, body)| SyntheticRecord {
                    sensor,
                    seq,
                    epoch_us,
                    object,
                    sigma,
                    body,
                },
            )
    }

    /// The derived decoding of the same format (a flattened, internally tagged enum): the
    /// oracle the one-pass decoder must agree with.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Derived {
        sensor: String,
        seq: u64,
        epoch_us: i64,
        #[serde(default)]
        object: Option<u32>,
        #[serde(default)]
        sigma: Option<f64>,
        #[serde(flatten)]
        body: DerivedBody,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum DerivedBody {
        LaserRanging {
            range_m: f64,
        },
        PassiveRf {
            az_rad: f64,
            el_rad: f64,
            #[serde(default)]
            snr_db: Option<f64>,
        },
        SpaceBasedOptical {
            ra_rad: f64,
            dec_rad: f64,
            observer_teme_m: [f64; 3],
        },
        BistaticRadar {
            range_m: f64,
            az_rad: f64,
            el_rad: f64,
            #[serde(default)]
            range_rate_mps: Option<f64>,
        },
        Photometry {
            ra_rad: f64,
            dec_rad: f64,
            magnitude: f64,
        },
    }

    /// `rec` as the derived decoding would give it.
    fn derived(rec: &SyntheticRecord) -> Derived {
        serde_json::from_slice(&rec.encode().unwrap()).unwrap()
    }

    const FIELDS: [&str; 15] = [
        "sensor",
        "seq",
        "epoch_us",
        "object",
        "sigma",
        "kind",
        "range_m",
        "az_rad",
        "el_rad",
        "snr_db",
        "ra_rad",
        "dec_rad",
        "observer_teme_m",
        "range_rate_mps",
        "magnitude",
    ];

    #[test]
    fn a_field_of_another_kind_is_ignored_but_must_have_its_type() {
        let extra = br#"{"sensor":"x","seq":1,"epoch_us":0,"kind":"laser_ranging","range_m":5.0,"magnitude":3}"#;
        assert_eq!(
            SyntheticRecord::decode(extra).unwrap().body,
            SyntheticBody::LaserRanging { range_m: 5.0 }
        );
        let mistyped = br#"{"sensor":"x","seq":1,"epoch_us":0,"kind":"laser_ranging","range_m":5.0,"magnitude":"bright"}"#;
        assert_eq!(
            SyntheticRecord::decode(mistyped).unwrap_err().code(),
            "invalid_json"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Valid records, and records with one field removed or one (well-typed) field of any
        /// kind added, decode exactly as the derived decoding does, or fail where it fails.
        #[test]
        fn one_pass_decoding_agrees_with_the_derived_one(
            rec in record(),
            edit in 0usize..3,
            field in 0usize..FIELDS.len(),
            value in f(),
        ) {
            let mut object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&rec.encode().unwrap()).unwrap();
            let name = FIELDS[field];
            match edit {
                1 => {
                    object.remove(name);
                }
                2 if name == "observer_teme_m" => {
                    object.insert(name.into(), serde_json::json!([value, value, value]));
                }
                2 if !["sensor", "kind", "seq", "epoch_us", "object"].contains(&name) => {
                    object.insert(name.into(), serde_json::json!(value));
                }
                _ => {}
            }
            let bytes = serde_json::to_vec(&object).unwrap();
            let ours = SyntheticRecord::decode(&bytes);
            let theirs: Result<Derived, _> = serde_json::from_slice(&bytes);
            match (ours, theirs) {
                (Ok(ours), Ok(theirs)) => {
                    let expected = derived(&ours);
                    prop_assert_eq!(expected, theirs);
                }
                (Err(_), Err(_)) => {}
                (ours, theirs) => prop_assert!(false, "disagree on {}: {:?} vs {:?}",
                    String::from_utf8_lossy(&bytes), ours.map(|_| ()), theirs.map(|_| ())),
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = SyntheticRecord::decode(&data);
        }

        #[test]
        fn encode_decode_is_identity(rec in record()) {
            let bytes = rec.encode().unwrap();
            prop_assert_eq!(SyntheticRecord::decode(&bytes).unwrap(), rec);
        }

        #[test]
        fn truncation_always_errors(rec in record(), cut in 0.0f64..1.0) {
            let bytes = rec.encode().unwrap();
            let cut = ((bytes.len() as f64) * cut) as usize;
            prop_assert!(SyntheticRecord::decode(&bytes[..cut]).is_err());
        }
    }
}
