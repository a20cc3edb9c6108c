//! Duplicate suppression over a sliding window bounded by both time and count.
//!
//! **Key.** Sensor name, object hint, epoch rounded to the millisecond, and every measurement
//! value quantised (to a micrometre or a nano-radian, i.e. far below sensor noise) — but *not*
//! the observation id. Sources re-send the same measurement under a new sequence number after a
//! reconnect, and those re-sends must count as duplicates too. Two different sensors reporting
//! the same object are never duplicates: that is corroboration, the correlator's business.
//!
//! **Window.** An entry is forgotten when it is older than `max_age` (measured on the arrival
//! clock the caller passes in, so tests need no real time) or when more than `max_entries`
//! newer keys have arrived, whichever comes first. Memory is therefore bounded by `max_entries`
//! whatever the input rate.
//!
//! **Cost.** One hash, one set lookup and one `VecDeque` push per observation; eviction pops
//! from the front, so everything is O(1) amortised. The set holds a 64-bit fingerprint of the
//! key rather than the key itself: the chance of two distinct keys colliding among a window's
//! million entries is about 3·10⁻⁸, an acceptable price for not storing strings twice. The
//! fingerprint is foldhash's quality hasher with a fixed seed (a fraction of SipHash's cost with
//! full 64-bit avalanche); the set hashes the already uniform fingerprints with foldhash's fast
//! hasher. Neither is meant to resist an adversary choosing keys: sensors are not adversaries,
//! and SipHash with the fixed keys of `DefaultHasher::new()` would not resist one either.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::Duration;

use foldhash::fast::FixedState as FastHash;
use foldhash::quality::FixedState as QualityHash;
use serde::{Deserialize, Serialize};

use crate::observation::Observation;

/// Outcome of [`Deduplicator::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// First sighting of this key within the window; the observation should go on.
    New,
    /// The key was seen within the window; the observation should be dropped.
    Duplicate,
}

/// Window bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupConfig {
    /// Forget keys older than this.
    pub max_age: Duration,
    /// Remember at most this many keys.
    pub max_entries: usize,
}

impl Default for DedupConfig {
    /// Ten minutes covers any sensor's reconnect-and-resend; 100,000 keys is a few MB.
    fn default() -> Self {
        DedupConfig {
            max_age: Duration::from_secs(600),
            max_entries: 100_000,
        }
    }
}

/// The dedup window.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_ingest_core::process::dedup::{DedupConfig, Deduplicator, Verdict};
/// # use sda_ingest_core::{Measurement, Observation, SensorKind};
/// # let obs = Observation {
/// #     id: "slr-1/1".into(), sensor: "slr-1".into(), sensor_kind: SensorKind::LaserRanging,
/// #     object_hint: None, epoch: 1.0e9, observer: None,
/// #     measurement: Measurement::Range { range_m: 1.0e6 },
/// #     quality: Default::default(), ingest: Default::default(),
/// # };
///
/// let mut dedup = Deduplicator::new(DedupConfig::default());
/// assert_eq!(dedup.check(&obs, Duration::ZERO), Verdict::New);
/// assert_eq!(dedup.check(&obs, Duration::from_secs(1)), Verdict::Duplicate);
/// ```
///
/// Serialized (as a checkpoint stores it) as its configuration and its keys in arrival order,
/// each with its arrival time in nanoseconds; the set of keys is rebuilt from them.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "Snapshot")]
pub struct Deduplicator {
    config: DedupConfig,
    seen: HashSet<u64, FastHash>,
    order: VecDeque<(u64, Duration)>,
}

/// What a [`Deduplicator`] deserializes from: the set of keys is the keys of `order`, and an
/// arrival time as a number of nanoseconds is a third of the size of a `Duration`'s
/// `{"secs":…,"nanos":…}`.
#[derive(Deserialize)]
struct Snapshot {
    config: DedupConfig,
    /// `(fingerprint, arrival in nanoseconds)`, oldest first.
    order: Vec<(u64, u64)>,
}

impl Serialize for Deduplicator {
    /// Its configuration and its keys in arrival order with their arrival times in
    /// nanoseconds, straight from the window (no copy of it is made).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Order<'a>(&'a VecDeque<(u64, Duration)>);
        impl Serialize for Order<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(
                    self.0
                        .iter()
                        .map(|(key, at)| (key, u64::try_from(at.as_nanos()).unwrap_or(u64::MAX))),
                )
            }
        }
        let mut snapshot = serializer.serialize_struct("Snapshot", 2)?;
        snapshot.serialize_field("config", &self.config)?;
        snapshot.serialize_field("order", &Order(&self.order))?;
        snapshot.end()
    }
}

impl From<Snapshot> for Deduplicator {
    fn from(snapshot: Snapshot) -> Self {
        let order: VecDeque<(u64, Duration)> = snapshot
            .order
            .into_iter()
            .map(|(key, nanos)| (key, Duration::from_nanos(nanos)))
            .collect();
        let mut seen = HashSet::with_capacity_and_hasher(order.len(), FastHash::default());
        seen.extend(order.iter().map(|(key, _)| *key));
        Deduplicator {
            config: snapshot.config,
            seen,
            order,
        }
    }
}

impl Default for Deduplicator {
    /// An empty window with the default configuration.
    fn default() -> Self {
        Deduplicator::new(DedupConfig::default())
    }
}

impl Deduplicator {
    /// An empty window.
    pub fn new(config: DedupConfig) -> Self {
        Deduplicator {
            config,
            seen: HashSet::with_hasher(FastHash::default()),
            order: VecDeque::new(),
        }
    }

    /// Records `obs` as arriving at `now` and says whether it is new.
    ///
    /// `now` is any monotonic clock reading (for example time since the pipeline started);
    /// it must not go backwards between calls. A duplicate does not refresh its key's age, so a
    /// source stuck re-sending one record gets it through once per `max_age`, not never.
    pub fn check(&mut self, obs: &Observation, now: Duration) -> Verdict {
        self.evict(now);
        let key = fingerprint(obs);
        if !self.seen.insert(key) {
            return Verdict::Duplicate;
        }
        self.order.push_back((key, now));
        while self.order.len() > self.config.max_entries {
            if let Some((old, _)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        Verdict::New
    }

    /// Whether `obs` would be a duplicate now: its fingerprint is remembered. Changes nothing;
    /// the pipeline's lateness check asks it so that a re-send of a record already delivered is
    /// counted as a duplicate (by [`Deduplicator::check`]) rather than as late.
    pub fn has_seen(&self, obs: &Observation) -> bool {
        self.seen.contains(&fingerprint(obs))
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn evict(&mut self, now: Duration) {
        while let Some(&(key, at)) = self.order.front() {
            if now.saturating_sub(at) <= self.config.max_age {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&key);
        }
    }
}

/// Seed of the fingerprint hasher: any constant will do.
const FINGERPRINT_SEED: u64 = 0x5da_1e55_f00d;

/// The dedup key of an observation, as a 64-bit fingerprint.
///
/// The hasher's seed is fixed, so fingerprints are stable from run to run of the same build,
/// more than an in-memory window needs.
pub fn fingerprint(obs: &Observation) -> u64 {
    let mut h = QualityHash::with_seed(FINGERPRINT_SEED).build_hasher();
    obs.sensor.hash(&mut h);
    obs.object_hint.hash(&mut h);
    ((obs.epoch * 1e3).round() as i64).hash(&mut h);
    obs.measurement.kind().hash(&mut h);
    for v in obs.measurement.values() {
        // 1e6 per unit: micrometres, micro-m/s and nano-radians all land far below noise.
        // `as i64` saturates, so huge or non-finite values still hash deterministically.
        ((v * 1e6).round() as i64).hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{Measurement, SensorKind};

    fn obs(seq: u32, range_m: f64) -> Observation {
        Observation {
            id: format!("slr-1/{seq}"),
            sensor: "slr-1".into(),
            sensor_kind: SensorKind::LaserRanging,
            object_hint: Some(40001),
            epoch: 1_704_067_200.0 + f64::from(seq),
            observer: None,
            measurement: Measurement::Range { range_m },
            quality: Default::default(),
            ingest: Default::default(),
        }
    }

    const T0: Duration = Duration::ZERO;

    #[test]
    fn same_content_under_a_new_id_is_a_duplicate() {
        let mut d = Deduplicator::new(DedupConfig::default());
        let a = obs(1, 1.0e6);
        let resent = Observation {
            id: "slr-1/999".into(),
            ..a.clone()
        };
        assert_eq!(d.check(&a, T0), Verdict::New);
        assert_eq!(d.check(&resent, T0), Verdict::Duplicate);
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn different_sensor_object_epoch_or_value_is_new() {
        let mut d = Deduplicator::new(DedupConfig::default());
        let a = obs(1, 1.0e6);
        assert_eq!(d.check(&a, T0), Verdict::New);
        for other in [
            Observation {
                sensor: "slr-2".into(),
                ..a.clone()
            },
            Observation {
                object_hint: None,
                ..a.clone()
            },
            Observation {
                epoch: a.epoch + 0.002,
                ..a.clone()
            },
            Observation {
                measurement: Measurement::Range {
                    range_m: 1.0e6 + 0.01,
                },
                ..a.clone()
            },
        ] {
            assert_eq!(d.check(&other, T0), Verdict::New, "{other:?}");
        }
        // Sub-millisecond epoch jitter is the same epoch.
        let jitter = Observation {
            epoch: a.epoch + 0.000_1,
            ..a.clone()
        };
        assert_eq!(d.check(&jitter, T0), Verdict::Duplicate);
    }

    #[test]
    fn a_window_restored_from_its_serialized_form_remembers_and_evicts_the_same() {
        let config = DedupConfig {
            max_age: Duration::from_secs(10),
            max_entries: 100,
        };
        let mut original = Deduplicator::new(config);
        for seq in 0..5 {
            original.check(
                &obs(seq, 1.0e6 + f64::from(seq)),
                Duration::from_millis(1_500) * seq,
            );
        }
        let json = serde_json::to_string(&original).unwrap();
        let mut restored: Deduplicator = serde_json::from_str(&json).unwrap();
        assert_eq!(restored.len(), 5);
        for seq in 0..5 {
            assert!(restored.has_seen(&obs(seq, 1.0e6 + f64::from(seq))));
        }
        // At 12 s, the keys that arrived before 2 s are forgotten, in both.
        let later = Duration::from_secs(12);
        let probe = obs(0, 1.0e6);
        assert_eq!(original.check(&probe, later), Verdict::New);
        assert_eq!(restored.check(&probe, later), Verdict::New);
        assert_eq!(restored.len(), original.len());
        assert_eq!(
            serde_json::to_string(&restored).unwrap(),
            serde_json::to_string(&original).unwrap()
        );
    }

    #[test]
    fn evicts_by_time() {
        let cfg = DedupConfig {
            max_age: Duration::from_secs(10),
            max_entries: 100,
        };
        let mut d = Deduplicator::new(cfg);
        let a = obs(1, 1.0e6);
        assert_eq!(d.check(&a, T0), Verdict::New);
        assert_eq!(d.check(&a, Duration::from_secs(10)), Verdict::Duplicate);
        // The duplicate did not refresh the entry, so it expires ten seconds after first seen.
        assert_eq!(
            d.check(&obs(2, 2.0e6), Duration::from_secs(11)),
            Verdict::New
        );
        assert_eq!(d.len(), 1, "the first key should have been evicted");
        assert_eq!(d.check(&a, Duration::from_secs(11)), Verdict::New);
    }

    #[test]
    fn evicts_by_count() {
        let cfg = DedupConfig {
            max_age: Duration::from_secs(3600),
            max_entries: 3,
        };
        let mut d = Deduplicator::new(cfg);
        for seq in 0..4 {
            assert_eq!(d.check(&obs(seq, 1.0e6 + f64::from(seq)), T0), Verdict::New);
        }
        assert_eq!(d.len(), 3);
        // Key 0 was pushed out by key 3; keys 1..=3 are still remembered.
        assert_eq!(d.check(&obs(3, 1.0e6 + 3.0), T0), Verdict::Duplicate);
        assert_eq!(d.check(&obs(0, 1.0e6), T0), Verdict::New);
        assert_eq!(
            d.check(&obs(1, 1.0e6 + 1.0), T0),
            Verdict::New,
            "re-adding 0 evicted 1"
        );
    }

    #[test]
    fn window_never_exceeds_its_count_bound() {
        let cfg = DedupConfig {
            max_age: Duration::from_secs(3600),
            max_entries: 50,
        };
        let mut d = Deduplicator::new(cfg);
        for seq in 0..1000 {
            d.check(
                &obs(seq, f64::from(seq)),
                Duration::from_millis(u64::from(seq)),
            );
            assert!(d.len() <= 50);
        }
    }
}
