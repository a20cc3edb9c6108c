//! The dead-letter rate limit: garbage must not fill the disk.
//!
//! A peer sending random bytes produces one dead letter per message, each a kilobyte or more
//! with its raw bytes. Dead letters are therefore limited per source and reason code with a
//! GCRA limiter (`governor`): above the limit a dead letter is still **counted** (it is
//! dead-lettered: its source's `dead_lettered`, plus `suppressed` and
//! `dead_letters_suppressed_total{source,reason}`), but its bytes are not written. Once per
//! interval, and at the end, one notice line per source and reason says how many were
//! suppressed; notice lines are not records and are not counted as dead letters.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use sda_ingest_core::SensorKind;
use serde::Serialize;
use tokio::time::Instant;

use crate::pipeline::counters::{Counters, add};
use crate::pipeline::{Routed, unix_now};

/// How many dead letters per source and reason code are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetterLimit {
    /// Sustained dead letters per second, per source and reason.
    pub per_second: NonZeroU32,
    /// How many may be written in a burst above the sustained rate.
    pub burst: NonZeroU32,
    /// How often a notice of what was suppressed is written.
    pub notice_every: Duration,
}

impl Default for DeadLetterLimit {
    /// 100 per second with bursts of 1,000, per source and reason; a notice every 10 s.
    fn default() -> Self {
        DeadLetterLimit {
            per_second: NonZeroU32::MIN.saturating_add(99),
            burst: NonZeroU32::MIN.saturating_add(999),
            notice_every: Duration::from_secs(10),
        }
    }
}

/// The `stage` of a notice line.
const NOTICE_STAGE: &str = "dead_letter_limit";

/// Whether a line of `dead_letter.jsonl` is a notice of suppressed dead letters, not a dead
/// letter.
pub fn is_notice(line: &crate::pipeline::sinks::JsonObject) -> bool {
    line.get("stage").and_then(serde_json::Value::as_str) == Some(NOTICE_STAGE)
}

type Limiter<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// What a notice line says.
#[derive(Debug, Serialize)]
struct Notice<'a> {
    stage: &'static str,
    reason_code: &'static str,
    source: SensorKind,
    suppressed_reason: &'a str,
    suppressed: u64,
    at: f64,
}

/// The per source and reason limiters, and what they suppressed since the last notice.
#[derive(Debug)]
pub struct DeadLetterGate<C: Clock + Clone = DefaultClock> {
    limit: DeadLetterLimit,
    clock: C,
    limiters: BTreeMap<(SensorKind, &'static str), Arc<Limiter<C>>>,
    suppressed: BTreeMap<(SensorKind, &'static str), u64>,
    next_notice: Instant,
}

impl DeadLetterGate {
    /// A gate applying `limit` on the monotonic clock.
    pub fn new(limit: DeadLetterLimit) -> Self {
        DeadLetterGate::with_clock(limit, DefaultClock::default())
    }
}

impl<C: Clock + Clone> DeadLetterGate<C> {
    /// A gate applying `limit` on `clock` (tests pass a clock they move by hand).
    pub fn with_clock(limit: DeadLetterLimit, clock: C) -> Self {
        DeadLetterGate {
            limit,
            clock,
            limiters: BTreeMap::new(),
            suppressed: BTreeMap::new(),
            next_notice: Instant::now() + limit.notice_every,
        }
    }

    /// Keeps in `items` the dead letters the limit admits (and anything that is not a dead
    /// letter); counts each one it removes as dead-lettered and suppressed against its source.
    pub fn admit(&mut self, items: &mut Vec<Routed>, counters: &Counters) {
        items.retain(|item| {
            let Routed::DeadLetter(letter) = item else {
                return true;
            };
            let key = (letter.source, letter.reason_code);
            let (limit, clock) = (self.limit, &self.clock);
            let limiter = self.limiters.entry(key).or_insert_with(|| {
                let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
                Arc::new(RateLimiter::direct_with_clock(quota, clock.clone()))
            });
            if limiter.check().is_ok() {
                return true;
            }
            *self.suppressed.entry(key).or_insert(0) += 1;
            let source = counters.source(letter.source);
            add(&source.suppressed, 1);
            add(&source.dead_lettered, 1);
            metrics::counter!(
                "dead_letters_suppressed_total",
                "source" => letter.source.as_str(),
                "reason" => letter.reason_code
            )
            .increment(1);
            false
        });
    }

    /// The notice lines due: one per source and reason with suppressed dead letters, once
    /// the interval has passed, or now when `force` (at the end).
    pub fn notices(&mut self, force: bool) -> Vec<Vec<u8>> {
        let now = Instant::now();
        if !force && now < self.next_notice {
            return Vec::new();
        }
        self.next_notice = now + self.limit.notice_every;
        let at = unix_now();
        std::mem::take(&mut self.suppressed)
            .into_iter()
            .filter_map(|((source, reason), suppressed)| {
                tracing::warn!(
                    source = source.as_str(),
                    reason,
                    suppressed,
                    "dead letters over the rate limit were counted but not written"
                );
                serde_json::to_vec(&Notice {
                    stage: NOTICE_STAGE,
                    reason_code: "suppressed",
                    source,
                    suppressed_reason: reason,
                    suppressed,
                    at,
                })
                .ok()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;
    use crate::pipeline::DeadLetter;

    fn letter(source: SensorKind, code: &'static str) -> Routed {
        Routed::DeadLetter(Arc::new(DeadLetter::bare("", source, code)))
    }

    fn limit(per_second: u32, burst: u32) -> DeadLetterLimit {
        DeadLetterLimit {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
            notice_every: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_burst_passes_then_the_rest_is_counted_not_written_per_source_and_reason() {
        let clock = FakeRelativeClock::default();
        let mut gate = DeadLetterGate::with_clock(limit(10, 5), clock.clone());
        let counters = Counters::default();
        let mut items: Vec<Routed> = (0..20)
            .map(|_| letter(SensorKind::Radar, "oversized"))
            .chain((0..3).map(|_| letter(SensorKind::Radar, "bad_magic")))
            .chain((0..2).map(|_| letter(SensorKind::Isl, "oversized")))
            .collect();
        gate.admit(&mut items, &counters);
        // Five of the twenty oversized radar letters, and every letter of the other two keys.
        assert_eq!(items.len(), 5 + 3 + 2);
        let radar = counters.source(SensorKind::Radar);
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(load(&radar.suppressed), 15);
        assert_eq!(load(&radar.dead_lettered), 15);
        assert_eq!(load(&counters.source(SensorKind::Isl).suppressed), 0);
        // A tenth of a second later the sustained rate (10/s) has earned one more; a second
        // later the bucket is full again, which holds the burst (5), not a second's worth.
        clock.advance(Duration::from_millis(100));
        let mut more: Vec<Routed> = (0..20)
            .map(|_| letter(SensorKind::Radar, "oversized"))
            .collect();
        gate.admit(&mut more, &counters);
        assert_eq!(more.len(), 1);
        clock.advance(Duration::from_secs(1));
        let mut again: Vec<Routed> = (0..20)
            .map(|_| letter(SensorKind::Radar, "oversized"))
            .collect();
        gate.admit(&mut again, &counters);
        assert_eq!(again.len(), 5);
        let notices = gate.notices(true);
        assert_eq!(notices.len(), 1);
        let notice: serde_json::Value = serde_json::from_slice(&notices[0]).unwrap();
        assert!(is_notice(notice.as_object().unwrap()));
        let letter = serde_json::to_value(&*match letter(SensorKind::Radar, "bad_magic") {
            Routed::DeadLetter(letter) => letter,
            Routed::Accepted(..) => unreachable!(),
        })
        .unwrap();
        assert!(!is_notice(letter.as_object().unwrap()));
        assert_eq!(notice["source"], "radar");
        assert_eq!(notice["suppressed_reason"], "oversized");
        assert_eq!(notice["suppressed"], 15 + 19 + 15);
        assert!(
            gate.notices(true).is_empty(),
            "counts restart after a notice"
        );
    }

    #[test]
    fn accepted_observations_pass_untouched() {
        let mut gate = DeadLetterGate::with_clock(limit(1, 1), FakeRelativeClock::default());
        let obs = sda_ingest_core::Observation {
            id: "x/1".into(),
            sensor: "x".into(),
            sensor_kind: SensorKind::Radar,
            object_hint: None,
            epoch: 0.0,
            observer: None,
            measurement: sda_ingest_core::Measurement::Range { range_m: 1.0 },
            quality: Default::default(),
            ingest: Default::default(),
        };
        let mut items =
            vec![Routed::Accepted(Arc::new(obs), crate::pipeline::Origin::unplaced()); 5];
        gate.admit(&mut items, &Counters::default());
        assert_eq!(items.len(), 5);
    }
}
