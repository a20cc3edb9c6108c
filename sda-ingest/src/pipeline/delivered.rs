//! The item type after `dedup`: an accepted, first-seen observation and its JSON, encoded once.
//!
//! Both the observations sink and the audit sink write the observation's JSON (the audit line
//! wraps it with two timestamps). Encoding it once, where `dedup` lets it through, instead of
//! once in each sink, removes the largest single cost per record in the pipeline; the sinks
//! then only copy bytes. The correlator reads the observation itself.

use sda_ingest_core::Observation;

/// Bytes reserved for an observation's JSON before encoding (most take 250–450).
const JSON_CAPACITY: usize = 512;

/// An observation on its way to the sinks and the correlator, with its JSON.
///
/// It travels behind an `Arc`, so the fan-out after `dedup` shares one allocation between its
/// three edges.
///
/// # Examples
///
/// ```
/// use sda_ingest::pipeline::Delivered;
/// # use sda_ingest_core::{Measurement, Observation, SensorKind};
/// # let obs = Observation {
/// #     id: "slr-1/1".into(), sensor: "slr-1".into(), sensor_kind: SensorKind::LaserRanging,
/// #     object_hint: None, epoch: 1.0e9, observer: None,
/// #     measurement: Measurement::Range { range_m: 1.0e6 },
/// #     quality: Default::default(), ingest: Default::default(),
/// # };
///
/// let delivered = Delivered::new(obs.clone())?;
/// assert_eq!(delivered.json(), serde_json::to_vec(&obs)?);
/// assert_eq!(delivered.observation, obs);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// The observation.
    pub observation: Observation,
    /// `observation` as one line of JSON (UTF-8), without the newline.
    json: Box<[u8]>,
}

impl Delivered {
    /// Encodes `observation`.
    ///
    /// # Errors
    ///
    /// What `serde_json` reports for the observation; its types always encode (non-finite
    /// numbers become `null`), so in practice none.
    pub fn new(observation: Observation) -> serde_json::Result<Self> {
        // Room for a typical observation up front, so the buffer is not regrown on the way;
        // the shrink to its length is done in place by the allocator.
        let mut json = Vec::with_capacity(JSON_CAPACITY);
        observation.write_json(&mut json)?;
        Ok(Delivered {
            observation,
            json: json.into_boxed_slice(),
        })
    }

    /// The observation's JSON, as written to `observations.jsonl`: UTF-8, one line, without
    /// the newline.
    pub fn json(&self) -> &[u8] {
        &self.json
    }
}
