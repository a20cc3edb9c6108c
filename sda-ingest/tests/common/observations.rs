//! The scenario's observations as the correlator receives them, for tests that drive the
//! correlator without the sources.

use std::sync::Arc;

use sda_ingest::pipeline::operators::{Normalizer, Validator};
use sda_ingest::pipeline::{Counters, Delivered, RawFrame, Routed, Scope};
use sda_ingest_core::SensorKind;
use sda_ingest_core::process::dedup::{DedupConfig, Deduplicator, Verdict};
use sda_ingest_core::process::validate::ValidationPolicy;
use sda_ingest_core::sim::scenario::Scenario;
use sda_ingest_core::wire::WireFormat;

/// The scenario's observations that reach the correlator: decoded, valid, first seen, in
/// epoch order.
pub(crate) fn delivered(scenario: &Scenario) -> Vec<Arc<Delivered>> {
    let counters = Counters::default();
    let normalizer = Normalizer::new(Arc::new(scenario.sensors.clone()));
    let validator = Validator::new(ValidationPolicy::default());
    let mut dedup = Deduplicator::new(DedupConfig::default());
    let mut frames = Vec::new();
    for kind in SensorKind::ALL {
        for (index, bytes) in scenario.streams.of(kind).iter().enumerate() {
            frames.push(RawFrame {
                source: Arc::from(kind.as_str()),
                kind,
                format: WireFormat::for_kind(kind),
                pass: 0,
                index,
                scope: Scope::Replay,
                cursor: None,
                bytes: bytes.clone().into(),
                received_at: 0.0,
            });
        }
    }
    let (mut decoded, mut valid) = (Vec::new(), Vec::new());
    normalizer.run(&mut frames, &mut decoded, &counters);
    validator.run(&mut decoded, &mut valid, &counters);
    let mut out = Vec::new();
    for item in valid {
        if let Routed::Accepted(obs, _) = item
            && dedup.check(&obs, std::time::Duration::ZERO) == Verdict::New
        {
            out.push(Arc::new(Delivered::new(Arc::unwrap_or_clone(obs)).unwrap()));
        }
    }
    out.sort_by(|a, b| a.observation.epoch.total_cmp(&b.observation.epoch));
    out
}
