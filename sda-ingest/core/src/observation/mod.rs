//! The one observation envelope every source normalises to.
//!
//! Every sensor, whatever its wire format, ends up as an [`Observation`]: one JSON object per
//! line in the observations sink. All quantities are SI (metres, radians, seconds) and the epoch
//! is UTC seconds since the Unix epoch as an `f64` (microsecond resolution is kept for any date
//! this century), because a plain number sorts, subtracts and hashes without a date library.

mod json;

use serde::{Deserialize, Serialize};

/// A normalised sensor observation.
///
/// Observations are small (a few hundred bytes, no large buffers); the service still moves
/// them behind an `Arc` so that a fan-out shares one allocation between its edges. The type is
/// `Clone + Send + Sync + 'static`.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::{Measurement, Observation, Observer, Quality, SensorKind};
///
/// let obs = Observation {
///     id: "radar-1/42".into(),
///     sensor: "radar-1".into(),
///     sensor_kind: SensorKind::Radar,
///     object_hint: Some(25544),
///     epoch: 1_704_067_200.5,
///     observer: Some(Observer::Ground { lat_rad: 0.6, lon_rad: -1.3, alt_m: 100.0 }),
///     measurement: Measurement::RangeAzEl {
///         range_m: 812_000.0,
///         az_rad: 1.2,
///         el_rad: 0.4,
///         range_rate_mps: Some(-1_500.0),
///     },
///     quality: Quality::default(),
///     ingest: Default::default(),
/// };
/// let line = serde_json::to_string(&obs)?;
/// let back: Observation = serde_json::from_str(&line)?;
/// assert_eq!(back, obs);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Stable unique id, `"{sensor}/{sequence}"` (optical: `"{sensor}/{archive id}"`).
    ///
    /// It is derived from the source's own numbering rather than generated, so a record that is
    /// delivered twice carries the same id both times and can be traced end to end.
    pub id: String,
    /// Sensor name, unique across the deployment (for example `"radar-1"`).
    pub sensor: String,
    /// What kind of sensor produced the observation.
    pub sensor_kind: SensorKind,
    /// Catalog (NORAD) number of the observed object when the sensor already knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_hint: Option<u32>,
    /// Measurement epoch: UTC seconds since 1970-01-01T00:00:00Z (leap seconds not counted).
    pub epoch: f64,
    /// Where the sensor was; required for topocentric measurements, absent for TEME states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observer: Option<Observer>,
    /// The measured quantity.
    pub measurement: Measurement,
    /// Measurement quality as reported by the sensor.
    #[serde(default)]
    pub quality: Quality,
    /// Pipeline bookkeeping, filled in after normalisation.
    #[serde(default)]
    pub ingest: IngestMeta,
}

impl Observation {
    /// Appends the observation as one line of JSON (no newline) to `out`: exactly what
    /// `serde_json` writes for its derived `Serialize`, at about half the cost, because the keys
    /// are written as constant bytes (see the `json` module).
    ///
    /// # Errors
    ///
    /// None in practice: writing to a `Vec` cannot fail, nor can encoding strings and numbers
    /// (non-finite numbers become `null`, as the derive writes them); the `Result` is
    /// `serde_json`'s.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::{Measurement, Observation, SensorKind};
    ///
    /// let obs = Observation {
    ///     id: "slr-1/1".into(), sensor: "slr-1".into(), sensor_kind: SensorKind::LaserRanging,
    ///     object_hint: None, epoch: 1.0e9, observer: None,
    ///     measurement: Measurement::Range { range_m: 1.0e6 },
    ///     quality: Default::default(), ingest: Default::default(),
    /// };
    /// let mut line = Vec::new();
    /// obs.write_json(&mut line)?;
    /// assert_eq!(line, serde_json::to_vec(&obs)?);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        json::write_observation(self, out)
    }
}

/// The kind of sensor an observation came from.
///
/// Serialised in snake_case (`"laser_ranging"`), which is also the tag used by the synthetic
/// wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    /// Ground-based tracking radar (UDP datagrams).
    Radar,
    /// Ground-based optical telescope archive (HTTP JSON pages).
    Optical,
    /// Inter-satellite link reporting TEME state vectors (TCP frames).
    Isl,
    /// Satellite laser ranging station (range only).
    LaserRanging,
    /// Passive RF direction finder (azimuth and elevation of a transmitter).
    PassiveRf,
    /// Optical telescope on a satellite (topocentric right ascension and declination).
    SpaceBasedOptical,
    /// Bistatic radar receiver (range, azimuth and elevation solved at the receiver).
    BistaticRadar,
    /// Photometric telescope (angles plus apparent visual magnitude).
    Photometry,
}

impl SensorKind {
    /// All kinds, in declaration order.
    pub const ALL: [SensorKind; 8] = [
        SensorKind::Radar,
        SensorKind::Optical,
        SensorKind::Isl,
        SensorKind::LaserRanging,
        SensorKind::PassiveRf,
        SensorKind::SpaceBasedOptical,
        SensorKind::BistaticRadar,
        SensorKind::Photometry,
    ];

    /// The number of kinds: the length of [`SensorKind::ALL`].
    pub const COUNT: usize = 8;

    /// The kind's position in [`SensorKind::ALL`], for tables indexed by kind.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::SensorKind;
    ///
    /// for (i, kind) in SensorKind::ALL.into_iter().enumerate() {
    ///     assert_eq!(kind.index(), i);
    /// }
    /// ```
    pub fn index(self) -> usize {
        self as usize
    }

    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SensorKind::Radar => "radar",
            SensorKind::Optical => "optical",
            SensorKind::Isl => "isl",
            SensorKind::LaserRanging => "laser_ranging",
            SensorKind::PassiveRf => "passive_rf",
            SensorKind::SpaceBasedOptical => "space_based_optical",
            SensorKind::BistaticRadar => "bistatic_radar",
            SensorKind::Photometry => "photometry",
        }
    }

    /// Whether this kind of sensor may produce the given measurement.
    ///
    /// Validation uses this as a schema check, so a record whose tag disagrees with its
    /// registered sensor is rejected instead of silently mis-interpreted.
    pub fn produces(self, measurement: &Measurement) -> bool {
        matches!(
            (self, measurement),
            (SensorKind::Radar, Measurement::RangeAzEl { .. })
                | (SensorKind::BistaticRadar, Measurement::RangeAzEl { .. })
                | (SensorKind::Optical, Measurement::Angles { .. })
                | (SensorKind::SpaceBasedOptical, Measurement::Angles { .. })
                | (SensorKind::Isl, Measurement::Position { .. })
                | (SensorKind::LaserRanging, Measurement::Range { .. })
                | (SensorKind::PassiveRf, Measurement::AzEl { .. })
                | (SensorKind::Photometry, Measurement::Photometry { .. })
        )
    }
}

impl std::fmt::Display for SensorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the sensor was when it measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Observer {
    /// A fixed ground site (WGS-84 geodetic coordinates).
    Ground {
        /// Geodetic latitude, radians, positive north.
        lat_rad: f64,
        /// Longitude, radians, positive east.
        lon_rad: f64,
        /// Height above the ellipsoid, metres.
        alt_m: f64,
    },
    /// A spacecraft, position in the TEME frame at the observation epoch.
    Space {
        /// TEME x, metres.
        x_m: f64,
        /// TEME y, metres.
        y_m: f64,
        /// TEME z, metres.
        z_m: f64,
    },
}

/// The measured quantity, in SI units.
///
/// Angles are radians; azimuth is measured clockwise from north in `[0, 2π)`, elevation above
/// the local horizon; right ascension and declination are topocentric in the TEME frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Measurement {
    /// Monostatic (or receiver-solved bistatic) radar track point.
    RangeAzEl {
        /// Slant range, metres.
        range_m: f64,
        /// Azimuth, radians.
        az_rad: f64,
        /// Elevation, radians.
        el_rad: f64,
        /// Range rate, metres per second, positive receding.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        range_rate_mps: Option<f64>,
    },
    /// Horizon angles only (passive RF direction finding).
    AzEl {
        /// Azimuth, radians.
        az_rad: f64,
        /// Elevation, radians.
        el_rad: f64,
    },
    /// Topocentric right ascension and declination (TEME).
    Angles {
        /// Right ascension, radians in `[0, 2π)`.
        ra_rad: f64,
        /// Declination, radians in `[-π/2, π/2]`.
        dec_rad: f64,
    },
    /// Slant range only (laser ranging).
    Range {
        /// One-way slant range, metres.
        range_m: f64,
    },
    /// TEME state of the object.
    Position {
        /// TEME x, metres.
        x_m: f64,
        /// TEME y, metres.
        y_m: f64,
        /// TEME z, metres.
        z_m: f64,
        /// TEME velocity, metres per second, when reported.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        velocity_mps: Option<[f64; 3]>,
    },
    /// Angles plus apparent visual magnitude.
    Photometry {
        /// Right ascension, radians.
        ra_rad: f64,
        /// Declination, radians.
        dec_rad: f64,
        /// Apparent visual magnitude (smaller is brighter).
        magnitude: f64,
    },
}

impl Measurement {
    /// The snake_case tag of this variant, as used in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Measurement::RangeAzEl { .. } => "range_az_el",
            Measurement::AzEl { .. } => "az_el",
            Measurement::Angles { .. } => "angles",
            Measurement::Range { .. } => "range",
            Measurement::Position { .. } => "position",
            Measurement::Photometry { .. } => "photometry",
        }
    }

    /// Every numeric value of the measurement, in a fixed order per variant.
    ///
    /// Validation scans these for NaN and infinities and dedup hashes them; keeping one
    /// enumeration means a new field cannot be forgotten by one of the two.
    pub fn values(&self) -> Vec<f64> {
        match *self {
            Measurement::RangeAzEl {
                range_m,
                az_rad,
                el_rad,
                range_rate_mps,
            } => {
                let mut v = vec![range_m, az_rad, el_rad];
                v.extend(range_rate_mps);
                v
            }
            Measurement::AzEl { az_rad, el_rad } => vec![az_rad, el_rad],
            Measurement::Angles { ra_rad, dec_rad } => vec![ra_rad, dec_rad],
            Measurement::Range { range_m } => vec![range_m],
            Measurement::Position {
                x_m,
                y_m,
                z_m,
                velocity_mps,
            } => {
                let mut v = vec![x_m, y_m, z_m];
                v.extend(velocity_mps.iter().flatten());
                v
            }
            Measurement::Photometry {
                ra_rad,
                dec_rad,
                magnitude,
            } => {
                vec![ra_rad, dec_rad, magnitude]
            }
        }
    }

    /// Whether the measurement is taken relative to an observer (and so needs one).
    pub fn is_topocentric(&self) -> bool {
        !matches!(self, Measurement::Position { .. })
    }
}

/// Measurement quality as reported by the sensor.
///
/// Both fields are optional because sensors report different figures of merit; validation only
/// checks that whatever is present is meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Quality {
    /// One-sigma uncertainty of the primary quantity, in its SI unit (metres or radians).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    /// Signal-to-noise ratio, decibels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snr_db: Option<f64>,
}

/// Pipeline metadata: where and when the pipeline received the record. Empty when an
/// observation leaves normalisation; the pipeline fills it in.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct IngestMeta {
    /// UTC seconds since the Unix epoch at which the pipeline received the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<f64>,
    /// The stream (source) the record arrived on. It can differ from
    /// [`Observation::sensor_kind`], which is what the sensor registry says the sensor is, so
    /// that every record is accounted to the stream that delivered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SensorKind>,
}
