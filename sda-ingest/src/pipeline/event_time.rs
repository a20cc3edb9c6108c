//! Event time in the service: how its sources advance their watermarks, and the settings of
//! the windows, the lateness check and the simulator's skew.
//!
//! Every observation source (the simulator's replay and the radar, ISL and optical transports)
//! keeps a [`SourceClock`]: after each send it reads the epochs of the records it sent and
//! advances its watermark to the latest one less its out-of-orderness bound
//! ([`OutOfOrderness`]), through the orchestrator
//! ([`Outbox::advance_watermark`](sda_orchestrator::Outbox::advance_watermark)). The watermark
//! travels with the items through `normalize` (the minimum over the eight sources), `validate`
//! (which dead-letters records whose window has closed: reason `late`), `dedup` and on to the
//! correlator, which closes its event-time windows with it. A source that has said nothing
//! for [`EventTimeSettings::idle_timeout`] is left out of the minimum (it is idle), so a quiet
//! sensor does not hold every window open.

use std::collections::BTreeMap;
use std::time::Duration;

use sda_ingest_core::SensorKind;
use sda_ingest_core::process::event_time::{EventTimeConfig, OutOfOrderness};
use sda_ingest_core::process::validate::ValidationPolicy;
use sda_ingest_core::sim::skew::Skew;
use sda_ingest_core::wire::latest_epoch;
use sda_orchestrator::Outbox;
use sda_orchestrator::time::EventTime;

use super::frame::RawFrame;

/// Every source's out-of-orderness bound unless configured: one sensor sweep.
pub const DEFAULT_OUT_OF_ORDERNESS_S: f64 = 60.0;

/// Event-time settings of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTimeSettings {
    /// The correlator's windows and the allowed lateness.
    pub windows: EventTimeConfig,
    /// Each source's out-of-orderness bound, seconds of event time, by
    /// [`SensorKind::index`].
    pub out_of_orderness_s: [f64; SensorKind::COUNT],
    /// An input that has said nothing for this long is left out of its consumer's watermark.
    pub idle_timeout: Duration,
    /// The simulator's out-of-order and late delivery, per sensor stream.
    pub skew: BTreeMap<SensorKind, Skew>,
}

impl Default for EventTimeSettings {
    /// One-minute windows open two minutes past their end, every source at most a minute out
    /// of order, idle after 5 s of silence, no skew.
    fn default() -> Self {
        EventTimeSettings {
            windows: EventTimeConfig::default(),
            out_of_orderness_s: [DEFAULT_OUT_OF_ORDERNESS_S; SensorKind::COUNT],
            idle_timeout: Duration::from_secs(5),
            skew: BTreeMap::new(),
        }
    }
}

impl EventTimeSettings {
    /// A new clock for `kind`'s source.
    pub fn clock(&self, kind: SensorKind) -> SourceClock {
        let policy = ValidationPolicy::default();
        SourceClock {
            clock: OutOfOrderness::new(
                self.out_of_orderness_s[kind.index()],
                policy.epoch_min,
                policy.epoch_max,
            ),
        }
    }
}

/// A source's watermark: bounded out-of-orderness over the epochs it has sent.
#[derive(Debug, Clone, Copy)]
pub struct SourceClock {
    clock: OutOfOrderness,
}

impl SourceClock {
    /// A record taken at `epoch` was sent: advances `output`'s watermark if it moves.
    pub fn sent_epoch<T: sda_orchestrator::Message>(&mut self, output: &Outbox<T>, epoch: f64) {
        if let Some(watermark) = self.clock.observe(epoch) {
            output.advance_watermark(EventTime::from_unix_seconds_f64(watermark));
        }
    }

    /// Frames whose records' latest epoch was `latest` (see [`SourceClock::latest_of`]) were
    /// sent: advances `output`'s watermark.
    pub fn sent(&mut self, output: &Outbox<RawFrame>, latest: Option<f64>) {
        if let Some(epoch) = latest {
            self.sent_epoch(output, epoch);
        }
    }

    /// The latest epoch of the records in `frames`, read by decoding them: for the transports,
    /// which know nothing of their frames' contents. Taken before a send, which moves them.
    pub fn latest_of(frames: &[RawFrame]) -> Option<f64> {
        frames
            .iter()
            .filter_map(|f| latest_epoch(f.format, &f.bytes))
            .reduce(f64::max)
    }

    /// Takes in an epoch without sending anything: for an operator that rebuilds a watermark
    /// from the records it relays (the core of a split pipeline).
    pub fn observe(&mut self, epoch: f64) {
        let _ = self.clock.observe(epoch);
    }

    /// The watermark, UTC Unix seconds; `None` before the first epoch.
    pub fn watermark(&self) -> Option<f64> {
        self.clock.watermark()
    }
}

/// Applies each configured skew of `settings` to its sensor's stream in `streams` (a seed per
/// stream, drawn from `seed`), and logs how many messages each made late.
pub fn skew_streams(
    streams: &mut sda_ingest_core::sim::scenario::Streams,
    settings: &EventTimeSettings,
    seed: u64,
) {
    use sda_ingest_core::sim::skew::skew_messages;
    use sda_ingest_core::wire::WireFormat;
    for (kind, skew) in &settings.skew {
        let messages = match kind {
            SensorKind::Radar => &mut streams.radar,
            SensorKind::Isl => &mut streams.isl,
            SensorKind::Optical => &mut streams.optical,
            other => match streams.synthetic.get_mut(other) {
                Some(messages) => messages,
                None => continue,
            },
        };
        let stream_seed = seed ^ (0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(kind.index() as u64 + 1));
        let late = skew_messages(messages, WireFormat::for_kind(*kind), skew, stream_seed);
        tracing::info!(
            source = kind.as_str(),
            max_delay_s = skew.max_delay_s,
            late_delay_s = skew.late_delay_s,
            late_messages = late.len(),
            "simulated skew"
        );
    }
}
