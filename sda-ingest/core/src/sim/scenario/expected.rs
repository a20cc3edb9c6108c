//! The exact outcome the pipeline must produce from a scenario's streams.

use crate::observation::SensorKind;
use crate::process::validate::RejectReason;

/// A message that must fail to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedDecodeError {
    /// Which source's stream.
    pub source: SensorKind,
    /// Position in that stream's message list.
    pub index: usize,
    /// The decoder error's `code()`.
    pub code: &'static str,
}

/// An observation that validation must reject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedRejection {
    /// Observation id.
    pub id: String,
    /// Expected reason.
    pub reason: RejectReason,
}

/// A re-sent observation that dedup must drop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedDuplicate {
    /// Id of the copy (equal to `original_id` for a byte-identical re-send).
    pub id: String,
    /// Id of the first copy, which passes.
    pub original_id: String,
}

/// The planted close approach as the generator's own screening measured it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlantedConjunction {
    /// First object ([`PLANTED_A`](super::PLANTED_A)).
    pub a: u32,
    /// Second object ([`PLANTED_B`](super::PLANTED_B)).
    pub b: u32,
    /// Designed time of closest approach, UTC Unix seconds.
    pub designed_tca: f64,
    /// Time of closest approach found by screening, UTC Unix seconds.
    pub tca: f64,
    /// Miss distance found by screening, km.
    pub miss_distance_km: f64,
    /// Relative speed at TCA, km/s.
    pub relative_speed_km_s: f64,
}

/// What the pipeline must produce from [`Scenario::streams`](super::Scenario::streams).
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// Messages that carry one observation each (heartbeats and page wrappers not counted;
    /// each optical record counts), including those that fail to decode.
    pub messages: usize,
    /// Messages that must fail to decode.
    pub decode_errors: Vec<ExpectedDecodeError>,
    /// Observations that validation must reject, one per reason at least.
    pub invalid: Vec<ExpectedRejection>,
    /// Observations that dedup must drop.
    pub duplicates: Vec<ExpectedDuplicate>,
    /// Observations that come out of dedup.
    pub accepted: usize,
    /// The planted close approach; `None` when nothing was planted (an
    /// [external](super::Population::External) catalog).
    pub conjunction: Option<PlantedConjunction>,
}
