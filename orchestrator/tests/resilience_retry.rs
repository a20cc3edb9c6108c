//! Backoff schedules and `with_retry`, at the public API, in virtual (paused) time.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use sda_orchestrator::resilience::{
    Backoff, Jitter, OpFailure, RetryBound, RetryError, RetryOutcome, RetryPolicy, SequenceRng,
    decorrelated_unclamped, with_retry,
};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// Float arithmetic inside `Duration::mul_f64` may be off by a nanosecond; a microsecond is far
/// below anything the schedule distinguishes.
fn assert_close(actual: &[Duration], expected: &[Duration], tolerance: Duration) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(a.abs_diff(*e) <= tolerance, "{actual:?} vs {expected:?}");
    }
}

fn delays(backoff: &mut Backoff, n: usize) -> Vec<Duration> {
    (0..n).map(|_| backoff.next_delay()).collect()
}

fn counter(snapshotter: &Snapshotter, name: &str, operator: &str) -> u64 {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| {
            key.key().name() == name
                && key
                    .key()
                    .labels()
                    .any(|l| l.key() == "operator" && l.value() == operator)
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => n,
            other => panic!("{name} is not a counter: {other:?}"),
        })
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Jitter math with a fixed RNG.

const U: [f64; 4] = [0.5, 0.25, 0.75, 0.0];

#[test]
fn design_test_vector_for_the_unclamped_formula() {
    let base = ms(100);
    let mut previous = base;
    let mut out = Vec::new();
    for u in U {
        previous = decorrelated_unclamped(base, Duration::MAX, previous, u);
        out.push(previous);
    }
    assert_close(&out, &[ms(200), ms(225), us(531_250), ms(100)], us(1));
}

#[test]
fn clamped_schedule_matches_design_vector_while_the_cap_does_not_bite() {
    let mut backoff = Backoff::new(ms(100), Duration::from_secs(10), Jitter::Decorrelated)
        .with_rng(SequenceRng::new(U.to_vec()));
    assert_close(
        &delays(&mut backoff, 4),
        &[ms(200), ms(225), us(531_250), ms(100)],
        us(1),
    );
}

#[test]
fn clamped_schedule_with_a_cap_that_bites() {
    // base 100 ms, cap 400 ms: d_k = 100 + u * (min(400, 3 * d_{k-1}) - 100)
    //   0.5  * (min(400, 300)  - 100) -> 200
    //   0.25 * (min(400, 600)  - 100) -> 175
    //   0.75 * (min(400, 525)  - 100) -> 325
    //   0.0  * (min(400, 975)  - 100) -> 100
    let mut backoff =
        Backoff::new(ms(100), ms(400), Jitter::Decorrelated).with_rng(SequenceRng::new(U.to_vec()));
    assert_close(
        &delays(&mut backoff, 4),
        &[ms(200), ms(175), ms(325), ms(100)],
        us(1),
    );
}

#[test]
fn clamping_the_ceiling_keeps_jitter_where_clamping_the_draw_collapses_to_cap() {
    // With u = 0.75 forever, base 100 ms, cap 400 ms:
    //   clamped:   250, then 100 + 0.75 * (400 - 100) = 325 every time: still spread over the range
    //   unclamped: min(400, 100 + 0.75 * (750 - 100)) = 400, then 400 forever: exactly `cap`
    let (base, cap) = (ms(100), ms(400));
    let mut clamped =
        Backoff::new(base, cap, Jitter::Decorrelated).with_rng(SequenceRng::new(vec![0.75]));
    assert_close(
        &delays(&mut clamped, 5),
        &[ms(250), ms(325), ms(325), ms(325), ms(325)],
        us(1),
    );

    let mut previous = base;
    let unclamped: Vec<_> = (0..5)
        .map(|_| {
            previous = decorrelated_unclamped(base, cap, previous, 0.75);
            previous
        })
        .collect();
    assert_eq!(unclamped, [ms(250), cap, cap, cap, cap]);
}

#[test]
fn decorrelated_delays_stay_within_base_and_cap() {
    let mut backoff = Backoff::new(ms(100), Duration::from_secs(2), Jitter::Decorrelated)
        .with_rng(fastrand::Rng::with_seed(3));
    for delay in delays(&mut backoff, 1000) {
        assert!(
            delay >= ms(100) && delay <= Duration::from_secs(2),
            "{delay:?}"
        );
    }
}

#[test]
fn full_jitter_and_plain_exponential_schedules() {
    let mut full = Backoff::new(ms(100), Duration::from_secs(1), Jitter::Full)
        .with_rng(SequenceRng::new(vec![0.5]));
    assert_close(
        &delays(&mut full, 6),
        &[ms(50), ms(100), ms(200), ms(400), ms(500), ms(500)],
        us(1),
    );

    let mut plain = Backoff::new(ms(100), Duration::from_secs(1), Jitter::None);
    assert_eq!(
        delays(&mut plain, 6),
        [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
    );
    plain.reset();
    assert_eq!(plain.next_delay(), ms(100));
}

// ---------------------------------------------------------------------------------------------
// with_retry in paused time.

/// Records the virtual instant of every attempt.
#[derive(Clone, Default)]
struct Attempts(Rc<RefCell<Vec<Instant>>>);

impl Attempts {
    fn record(&self) {
        self.0.borrow_mut().push(Instant::now());
    }

    fn count(&self) -> usize {
        self.0.borrow().len()
    }

    /// Gaps between consecutive attempts: the sleeps.
    fn gaps(&self) -> Vec<Duration> {
        self.0.borrow().windows(2).map(|w| w[1] - w[0]).collect()
    }
}

fn sequence_policy(name: &'static str) -> RetryPolicy {
    RetryPolicy::new(name)
        .base(ms(100))
        .cap(Duration::from_secs(10))
        .max_attempts(10)
        .with_rng_factory(|| SequenceRng::new(U.to_vec()))
}

#[tokio::test(start_paused = true)]
async fn permanent_propagates_at_once_without_sleeping() {
    let attempts = Attempts::default();
    let start = Instant::now();
    let result: Result<RetryOutcome<(), &str>, _> = with_retry(&sequence_policy("p"), |_| {
        attempts.record();
        async { Err(OpFailure::permanent("bad request")) }
    })
    .await;

    assert_eq!(
        result,
        Err(RetryError::Permanent {
            last_error: "bad request",
            attempts: 1
        })
    );
    assert_eq!(attempts.count(), 1);
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "the virtual clock must not move"
    );
}

#[tokio::test(start_paused = true)]
async fn permanent_after_transient_failures_reports_the_attempt_count() {
    let result: Result<RetryOutcome<(), &str>, _> =
        with_retry(&sequence_policy("p2"), |attempt| async move {
            if attempt < 3 {
                Err(OpFailure::retry("busy"))
            } else {
                Err(OpFailure::permanent("gone"))
            }
        })
        .await;
    let err = result.unwrap_err();
    assert!(err.is_permanent());
    assert_eq!(err.attempts(), 3);
    assert_eq!(*err.last_error(), "gone");
    assert_eq!(err.to_string(), "permanent failure on attempt 3: gone");
}

#[tokio::test(start_paused = true)]
async fn discard_returns_cleanly_and_is_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let start = Instant::now();
    let outcome: Result<RetryOutcome<(), &str>, _> =
        with_retry(&sequence_policy("discarder"), |attempt| async move {
            if attempt < 2 {
                Err(OpFailure::retry("busy"))
            } else {
                Err(OpFailure::discard("malformed item"))
            }
        })
        .await;

    assert_eq!(
        outcome,
        Ok(RetryOutcome::Discarded {
            reason: "malformed item",
            attempts: 2
        })
    );
    // One sleep (the first retry, 200 ms), none after the discard.
    assert_eq!(start.elapsed(), ms(200));
    let snapshot = snapshotter.snapshot().into_vec();
    let count = |name: &str| {
        snapshot
            .iter()
            .filter(|(key, ..)| key.key().name() == name)
            .map(|(.., v)| match v {
                DebugValue::Counter(n) => *n,
                _ => 0,
            })
            .sum::<u64>()
    };
    assert_eq!(count("retry_discarded_total"), 1);
    assert_eq!(count("retry_attempts_total"), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_follows_the_documented_schedule() {
    let attempts = Attempts::default();
    let outcome = with_retry(&sequence_policy("schedule"), |attempt| {
        attempts.record();
        async move {
            if attempt <= 4 {
                Err(OpFailure::retry("timeout"))
            } else {
                Ok(attempt)
            }
        }
    })
    .await;

    assert_eq!(outcome, Ok(RetryOutcome::Succeeded(5)));
    // Tokio's timer has millisecond resolution, so 531.25 ms is slept as 532 ms.
    assert_close(
        &attempts.gaps(),
        &[ms(200), ms(225), us(531_250), ms(100)],
        ms(1),
    );
}

#[tokio::test(start_paused = true)]
async fn max_attempts_is_honoured() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let attempts = Attempts::default();
    let policy = sequence_policy("bounded").max_attempts(3);
    let result: Result<RetryOutcome<(), &str>, _> = with_retry(&policy, |_| {
        attempts.record();
        async { Err(OpFailure::retry("unavailable")) }
    })
    .await;

    assert_eq!(
        result,
        Err(RetryError::Exhausted {
            last_error: "unavailable",
            attempts: 3,
            bound: RetryBound::MaxAttempts
        })
    );
    assert_eq!(attempts.count(), 3);
    assert_close(&attempts.gaps(), &[ms(200), ms(225)], ms(1));
    // Every retry is counted, under the policy's operator label and nothing else.
    assert_eq!(counter(&snapshotter, "retry_attempts_total", "bounded"), 2);
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_is_honoured_without_a_useless_last_sleep() {
    // Plain exponential: sleeps 100, 200, 400, 800 ms -> attempts at 0, 100, 300, 700 ms.
    // At 700 ms the next sleep would end at 1500 ms, past the 1 s bound, so the loop stops now.
    let policy = RetryPolicy::new("deadline")
        .base(ms(100))
        .cap(Duration::from_secs(10))
        .jitter(Jitter::None)
        .max_attempts(100)
        .max_elapsed(Duration::from_secs(1));
    let start = Instant::now();
    let attempts = Attempts::default();
    let result: Result<RetryOutcome<(), &str>, _> = with_retry(&policy, |_| {
        attempts.record();
        async { Err(OpFailure::retry("unavailable")) }
    })
    .await;

    let err = result.unwrap_err();
    assert_eq!(err.bound(), Some(RetryBound::MaxElapsed));
    assert_eq!(err.attempts(), 4);
    assert_eq!(attempts.gaps(), [ms(100), ms(200), ms(400)]);
    assert_eq!(start.elapsed(), ms(700));
    assert_eq!(
        err.to_string(),
        "retries exhausted (max elapsed time) after 4 attempts: unavailable"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_hint_raises_the_delay_but_never_lowers_it() {
    let policy = RetryPolicy::new("hinted")
        .base(ms(100))
        .cap(Duration::from_secs(10))
        .jitter(Jitter::None);
    let attempts = Attempts::default();
    let outcome = with_retry(&policy, |attempt| {
        attempts.record();
        async move {
            match attempt {
                // The server asks for 2 s: more than the scheduled 100 ms, so it wins.
                1 => Err(OpFailure::retry("429").with_retry_after(Duration::from_secs(2))),
                // 10 ms is less than the scheduled 200 ms, so the schedule wins.
                2 => Err(OpFailure::retry("429").with_retry_after(ms(10))),
                _ => Ok("done"),
            }
        }
    })
    .await;

    assert_eq!(outcome.map(RetryOutcome::into_value), Ok(Some("done")));
    assert_eq!(attempts.gaps(), [Duration::from_secs(2), ms(200)]);
}

#[tokio::test(start_paused = true)]
async fn seeded_policies_reproduce_and_concurrent_loops_draw_differently() {
    let run = |seed| async move {
        let policy = RetryPolicy::new("seeded").max_attempts(4).with_seed(seed);
        let first = Attempts::default();
        let second = Attempts::default();
        let fail = |a: &Attempts| {
            a.record();
            async { Err::<(), _>(OpFailure::retry("x")) }
        };
        let _ = tokio::join!(
            with_retry(&policy, |_| fail(&first)),
            with_retry(&policy, |_| fail(&second))
        );
        (first.gaps(), second.gaps())
    };
    let (a1, a2) = run(9).await;
    let (b1, b2) = run(9).await;
    assert_eq!((&a1, &a2), (&b1, &b2), "same seed, same delays");
    assert_ne!(a1, a2, "two loops of one policy must not retry in lockstep");
}

#[tokio::test(start_paused = true)]
async fn retry_error_converts_into_anyhow() {
    async fn fallible() -> anyhow::Result<u32> {
        let policy = RetryPolicy::new("anyhow").max_attempts(1);
        let outcome = with_retry(&policy, |_| async {
            Err::<u32, _>(OpFailure::retry(anyhow::anyhow!("boom")))
        })
        .await?;
        Ok(outcome.into_value().unwrap_or(0))
    }
    let err = fallible().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "retries exhausted (max attempts) after 1 attempts: boom"
    );
}
