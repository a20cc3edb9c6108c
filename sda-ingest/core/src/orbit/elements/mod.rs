//! Loading real catalogs: general-perturbations element sets in the formats public catalogs are
//! published in, checked one by one, and written back as TLE text.
//!
//! [`load`] reads two-line (TLE) and three-line (3LE, with names) element sets and CCSDS OMM
//! in CelesTrak's JSON and CSV forms, telling the format from the content. Every element set is
//! checked (line lengths, checksums, field syntax, field ranges, SGP4 initialisation); a bad one
//! becomes a [`Reject`] with its line number (or record index) and a stable reason code, and
//! the rest of the catalog still loads. Loading fails only when nothing usable is left.
//!
//! The files have one job each: `tle` splits text into element-set records and reads
//! the fixed columns, `omm_json` and `omm_csv` read the two OMM containers into one field
//! reader (`omm`), `check` holds the range rules and SGP4 initialisation, `load` keeps the
//! newest element set per object, and [`writer`] writes TLE and 3LE text.

mod check;
mod load;
mod omm;
mod omm_csv;
mod omm_json;
mod tle;
pub mod writer;

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::propagate::Propagator;

pub use load::{detect, load, load_as};
pub use writer::{TleStyle, tle_lines, write_tle};

/// One general-perturbations element set, with every field CelesTrak publishes.
///
/// Angles are in degrees and mean motion in revolutions per day, as in both TLE and OMM. The
/// mean-motion derivatives are the published values (for a TLE: first derivative divided by
/// two, second derivative divided by six); SGP4 does not use them.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementSet {
    /// NORAD catalog number (`NORAD_CAT_ID`).
    pub norad_id: u32,
    /// Object name (`OBJECT_NAME`, or line 0 of a 3LE); empty when the source has none.
    pub name: String,
    /// International designator in COSPAR form, e.g. `1998-067A` (`OBJECT_ID`); may be empty.
    pub object_id: String,
    /// Security classification: `U`, `C` or `S` (`CLASSIFICATION_TYPE`).
    pub classification: char,
    /// Element epoch, UTC (`EPOCH`).
    pub epoch: DateTime<Utc>,
    /// Mean motion, revolutions per day (`MEAN_MOTION`).
    pub mean_motion_rev_day: f64,
    /// Eccentricity (`ECCENTRICITY`).
    pub eccentricity: f64,
    /// Inclination, degrees (`INCLINATION`).
    pub inclination_deg: f64,
    /// Right ascension of the ascending node, degrees (`RA_OF_ASC_NODE`).
    pub raan_deg: f64,
    /// Argument of perigee, degrees (`ARG_OF_PERICENTER`).
    pub arg_perigee_deg: f64,
    /// Mean anomaly, degrees (`MEAN_ANOMALY`).
    pub mean_anomaly_deg: f64,
    /// Ephemeris type; 0 for SGP4 (`EPHEMERIS_TYPE`).
    pub ephemeris_type: u8,
    /// Element set number (`ELEMENT_SET_NO`).
    pub element_set_no: u32,
    /// Revolution number at epoch (`REV_AT_EPOCH`).
    pub rev_at_epoch: u32,
    /// SGP4 drag term B*, inverse Earth radii (`BSTAR`).
    pub bstar: f64,
    /// First derivative of mean motion divided by two, rev/day² (`MEAN_MOTION_DOT`).
    pub mean_motion_dot: f64,
    /// Second derivative of mean motion divided by six, rev/day³ (`MEAN_MOTION_DDOT`).
    pub mean_motion_ddot: f64,
}

impl ElementSet {
    /// The epoch as UTC seconds since the Unix epoch.
    pub fn epoch_unix_s(&self) -> f64 {
        self.epoch.timestamp() as f64 + f64::from(self.epoch.timestamp_subsec_nanos()) / 1e9
    }

    /// The same element set in the `sgp4` crate's form, ready for SGP4 initialisation.
    pub fn to_sgp4(&self) -> sgp4::Elements {
        sgp4::Elements {
            object_name: (!self.name.is_empty()).then(|| self.name.clone()),
            international_designator: (!self.object_id.is_empty()).then(|| self.object_id.clone()),
            norad_id: u64::from(self.norad_id),
            classification: match self.classification {
                'C' => sgp4::Classification::Classified,
                'S' => sgp4::Classification::Secret,
                _ => sgp4::Classification::Unclassified,
            },
            datetime: self.epoch.naive_utc(),
            mean_motion_dot: self.mean_motion_dot,
            mean_motion_ddot: self.mean_motion_ddot,
            drag_term: self.bstar,
            element_set_number: u64::from(self.element_set_no),
            inclination: self.inclination_deg,
            right_ascension: self.raan_deg,
            eccentricity: self.eccentricity,
            argument_of_perigee: self.arg_perigee_deg,
            mean_anomaly: self.mean_anomaly_deg,
            mean_motion: self.mean_motion_rev_day,
            revolution_number: u64::from(self.rev_at_epoch),
            ephemeris_type: self.ephemeris_type,
        }
    }
}

/// The formats [`load`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CatalogFormat {
    /// Two-line element sets without names.
    Tle,
    /// Three-line element sets: a name line before each pair (CelesTrak's plain name, or
    /// Space-Track's `0 NAME`).
    ThreeLine,
    /// CCSDS OMM as a JSON array of objects (or one object), keys as CelesTrak publishes them.
    OmmJson,
    /// CCSDS OMM as CSV with a header row naming CelesTrak's keys.
    OmmCsv,
}

/// Where in the input a rejected element set was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// 1-based line number in the text (TLE, 3LE and CSV).
    Line(usize),
    /// 0-based index of the record in the JSON array.
    Record(usize),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Record(n) => write!(f, "record {n}"),
        }
    }
}

/// Why one element set was rejected. [`ElementError::code`] is the stable reason code.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ElementError {
    /// A TLE line is not 69 characters long (trailing whitespace ignored).
    #[error("line {line} of the element set is {len} characters long, expected 69")]
    LineLength {
        /// 1 or 2.
        line: u8,
        /// Characters found.
        len: usize,
    },
    /// A TLE line's last digit is not the checksum of the first 68 characters.
    #[error("line {line} checksum is {found:?}, the first 68 characters sum to {expected}")]
    Checksum {
        /// 1 or 2.
        line: u8,
        /// Computed checksum.
        expected: u32,
        /// Character found in column 69.
        found: char,
    },
    /// A TLE line 1 is not followed by its line 2.
    #[error("line 1 is not followed by a line 2")]
    MissingLine2,
    /// A TLE line 2 has no line 1 before it.
    #[error("line 2 has no line 1 before it")]
    MissingLine1,
    /// A line that is neither an element line nor the name of a following element set.
    #[error("line is not followed by an element set")]
    UnexpectedLine,
    /// A field does not hold a value of its type (a number, a date, a letter).
    #[error("field {field} does not parse: {value:?}")]
    FieldFormat {
        /// Field name, in OMM spelling (`MEAN_MOTION`, `BSTAR`, ...).
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// The two lines of a TLE carry different catalog numbers.
    #[error("catalog number {line1} on line 1 differs from {line2} on line 2")]
    NoradMismatch {
        /// Catalog number text on line 1.
        line1: String,
        /// Catalog number text on line 2.
        line2: String,
    },
    /// A field parses but its value is physically or formally impossible.
    #[error("{field} = {value} is out of range: {range}")]
    FieldRange {
        /// Field name, in OMM spelling; `PERIGEE` for a perigee inside the Earth.
        field: &'static str,
        /// The value found.
        value: f64,
        /// The accepted range, in words.
        range: &'static str,
    },
    /// An OMM record lacks a field SGP4 needs.
    #[error("required field {0} is missing")]
    MissingField(&'static str),
    /// The element set is for another propagator than SGP4/SDP4.
    #[error("ephemeris type {0} is not an sgp4 element set")]
    EphemerisType(u8),
    /// An OMM record is not a record: not a JSON object, or a CSV row that does not parse.
    #[error("record is malformed: {0}")]
    RecordFormat(String),
    /// SGP4 refused the elements at initialisation or could not produce a state at epoch.
    #[error("sgp4 rejected the elements: {0}")]
    Sgp4(String),
}

impl ElementError {
    /// The stable snake_case reason code, for counters and reports.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::orbit::elements::ElementError;
    ///
    /// assert_eq!(ElementError::MissingLine2.code(), "missing_line2");
    /// assert_eq!(ElementError::Sgp4("decayed".into()).code(), "sgp4_init");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            ElementError::LineLength { .. } => "line_length",
            ElementError::Checksum { .. } => "checksum",
            ElementError::MissingLine2 => "missing_line2",
            ElementError::MissingLine1 => "missing_line1",
            ElementError::UnexpectedLine => "unexpected_line",
            ElementError::FieldFormat { .. } => "field_format",
            ElementError::NoradMismatch { .. } => "norad_mismatch",
            ElementError::FieldRange { .. } => "field_range",
            ElementError::MissingField(_) => "missing_field",
            ElementError::EphemerisType(_) => "unsupported_ephemeris_type",
            ElementError::RecordFormat(_) => "record_format",
            ElementError::Sgp4(_) => "sgp4_init",
        }
    }
}

/// An element set that was skipped, where it was and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// Line number (or JSON record index) of the offending line or record.
    pub at: Location,
    /// Why it was rejected.
    pub error: ElementError,
}

impl Reject {
    /// The stable reason code ([`ElementError::code`]).
    pub fn code(&self) -> &'static str {
        self.error.code()
    }

    /// The human-readable reason.
    pub fn message(&self) -> String {
        self.error.to_string()
    }
}

/// One usable catalog object: its elements and its initialised propagator.
#[derive(Debug, Clone)]
pub struct LoadedObject {
    /// The element set as read.
    pub elements: ElementSet,
    /// SGP4, initialised from `elements`.
    pub propagator: Propagator,
}

/// What [`load`] made of a catalog.
#[derive(Debug, Clone)]
pub struct LoadedCatalog {
    /// The format that was read.
    pub format: CatalogFormat,
    /// Usable objects, one per NORAD number (the newest epoch), in NORAD order.
    pub objects: Vec<LoadedObject>,
    /// Element sets that were skipped, in input order.
    pub rejects: Vec<Reject>,
    /// Older element sets replaced by a newer one of the same NORAD number.
    pub duplicates_replaced: usize,
    /// Oldest epoch among `objects`.
    pub oldest_epoch: DateTime<Utc>,
    /// Newest epoch among `objects`.
    pub newest_epoch: DateTime<Utc>,
}

impl LoadedCatalog {
    /// The objects' propagators, in NORAD order, for screening and association.
    pub fn propagators(&self) -> Vec<Propagator> {
        self.objects.iter().map(|o| o.propagator.clone()).collect()
    }
}

/// Why a whole catalog could not be loaded.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LoadError {
    /// The text holds no element set at all.
    #[error("the catalog is empty")]
    Empty,
    /// Every element set was rejected.
    #[error("no usable element set: all {} were rejected", rejects.len())]
    NothingUsable {
        /// Each element set and why it was rejected.
        rejects: Vec<Reject>,
    },
    /// An OMM JSON document is not valid JSON, or not an array of records.
    #[error("omm json does not parse at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line of the syntax error.
        line: usize,
        /// 1-based column of the syntax error.
        column: usize,
        /// The parser's explanation.
        message: String,
    },
}

impl LoadError {
    /// The stable snake_case code of the failure.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::Empty => "empty",
            LoadError::NothingUsable { .. } => "nothing_usable",
            LoadError::Json { .. } => "json_syntax",
        }
    }
}

/// An element set that parsed and passed the range checks, before SGP4 initialisation.
#[derive(Debug, Clone)]
struct Candidate {
    at: Location,
    elements: ElementSet,
}
