//! `CircuitBreaker` state machine, gauge and composition with `with_retry`, in paused time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use sda_orchestrator::resilience::{
    BreakerConfig, BreakerError, BreakerState, CircuitBreaker, Jitter, OpFailure, RetryDisposition,
    RetryOutcome, RetryPolicy, with_retry,
};
use tokio::time::{Instant, advance};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Threshold 3 in a 10 s window, 5 s cooldown, 2 probes.
fn config() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 3,
        window: secs(10),
        cooldown: secs(5),
        half_open_probes: 2,
    }
}

fn fail(breaker: &CircuitBreaker) {
    breaker.try_acquire().expect("admitted").failure();
}

/// The gauge's value since the last snapshot (the debugging recorder resets values it reads,
/// so call this once per transition).
fn gauge(snapshotter: &Snapshotter, breaker: &str) -> Option<f64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find(|(key, ..)| {
            key.key().name() == "circuit_breaker_state"
                && key
                    .key()
                    .labels()
                    .all(|l| l.key() == "breaker" && l.value() == breaker)
        })
        .map(|(.., value)| match value {
            DebugValue::Gauge(v) => v.into_inner(),
            other => panic!("not a gauge: {other:?}"),
        })
}

#[tokio::test(start_paused = true)]
async fn opens_at_the_threshold_and_rejects_while_open() {
    let breaker = CircuitBreaker::new("threshold", config());
    fail(&breaker);
    fail(&breaker);
    assert_eq!(breaker.state(), BreakerState::Closed);
    fail(&breaker);
    assert_eq!(breaker.state(), BreakerState::Open);

    advance(secs(2)).await;
    let open = breaker.try_acquire().unwrap_err();
    assert_eq!(open.retry_after(), secs(3), "the remaining cooldown");
    assert_eq!(
        open.to_string(),
        "circuit breaker `threshold` is open; retry in 3s"
    );

    let ran = AtomicU32::new(0);
    let result = breaker
        .call(|| async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, &str>(())
        })
        .await;
    assert!(result.unwrap_err().is_open());
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "an open breaker does not run the op"
    );
}

#[tokio::test(start_paused = true)]
async fn half_open_after_cooldown_admits_only_the_configured_probes() {
    let breaker = CircuitBreaker::new("probes", config());
    for _ in 0..3 {
        fail(&breaker);
    }
    advance(secs(5)).await;
    assert_eq!(breaker.state(), BreakerState::HalfOpen);

    let first = breaker.try_acquire().expect("probe 1");
    let second = breaker.try_acquire().expect("probe 2");
    assert!(first.is_probe() && second.is_probe());
    let third = breaker.try_acquire().unwrap_err();
    assert_eq!(third.retry_after(), Duration::ZERO);

    // A discarded probe frees its slot and decides nothing.
    first.discard();
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    let replacement = breaker.try_acquire().expect("the freed slot");
    // So does a probe dropped without an outcome (a cancelled call).
    drop(replacement);
    assert_eq!(breaker.state(), BreakerState::HalfOpen);

    second.success();
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn success_closes_and_failures_start_from_zero() {
    let breaker = CircuitBreaker::new("closes", config());
    for _ in 0..3 {
        fail(&breaker);
    }
    advance(secs(5)).await;
    breaker.try_acquire().expect("probe").success();
    assert_eq!(breaker.state(), BreakerState::Closed);

    // The failures that opened it are forgotten: two new ones do not re-open it.
    fail(&breaker);
    fail(&breaker);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn probe_failure_reopens_for_a_full_cooldown() {
    let breaker = CircuitBreaker::new("reopens", config());
    for _ in 0..3 {
        fail(&breaker);
    }
    advance(secs(5)).await;
    breaker.try_acquire().expect("probe").failure();
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), secs(5));

    advance(secs(5)).await;
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn old_failures_age_out_of_the_window() {
    let breaker = CircuitBreaker::new("window", config());
    fail(&breaker); // t = 0
    advance(secs(6)).await;
    fail(&breaker); // t = 6
    advance(secs(5)).await; // t = 11: the first failure is older than the 10 s window
    fail(&breaker);
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "only two failures inside the window"
    );
    fail(&breaker);
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn discard_counts_as_neither_success_nor_failure() {
    let breaker = CircuitBreaker::new("discard", config());
    for _ in 0..10 {
        breaker.try_acquire().expect("closed").discard();
    }
    assert_eq!(breaker.state(), BreakerState::Closed);

    // Through call_classified: Discard is neither, Retry and Permanent are failures.
    let discard = || async { Err::<(), _>(OpFailure::discard("malformed")) };
    for _ in 0..5 {
        let failure = breaker.call_classified(discard).await.unwrap_err();
        assert_eq!(failure.disposition, RetryDisposition::Discard);
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    let _ = breaker
        .call_classified(|| async { Err::<(), _>(OpFailure::retry("503")) })
        .await;
    let _ = breaker
        .call_classified(|| async { Err::<(), _>(OpFailure::permanent("400")) })
        .await;
    let _ = breaker.call(|| async { Err::<(), _>("500") }).await;
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn outcomes_of_calls_admitted_before_a_transition_are_ignored() {
    let breaker = CircuitBreaker::new("stale", config());
    let slow = breaker.try_acquire().expect("admitted while closed");
    for _ in 0..3 {
        fail(&breaker);
    }
    advance(secs(5)).await;
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    // A success from before the breaker opened says nothing about the dependency now.
    slow.success();
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn gauge_reports_0_closed_1_open_2_half_open() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let breaker = CircuitBreaker::new("gauge", config());
    assert_eq!(gauge(&snapshotter, "gauge"), Some(0.0));
    for _ in 0..3 {
        fail(&breaker);
    }
    assert_eq!(gauge(&snapshotter, "gauge"), Some(1.0));
    advance(secs(5)).await;
    let probe = breaker.try_acquire().expect("probe");
    assert_eq!(gauge(&snapshotter, "gauge"), Some(2.0));
    probe.success();
    assert_eq!(gauge(&snapshotter, "gauge"), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn clones_share_state_across_tasks() {
    let breaker = CircuitBreaker::new("shared", config());
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let breaker = breaker.clone();
            tokio::spawn(async move { breaker.call(|| async { Err::<(), _>("down") }).await })
        })
        .collect();
    for handle in handles {
        let result = handle.await.expect("task");
        assert!(matches!(result, Err(BreakerError::Inner("down"))));
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_makes_with_retry_wait_out_the_cooldown() {
    let breaker = CircuitBreaker::new(
        "composed",
        BreakerConfig {
            failure_threshold: 2,
            window: secs(60),
            cooldown: secs(5),
            half_open_probes: 1,
        },
    );
    // Plain exponential from 100 ms so that each sleep is known exactly.
    let policy = RetryPolicy::new("composed")
        .base(Duration::from_millis(100))
        .cap(secs(1))
        .jitter(Jitter::None)
        .max_attempts(5);
    let calls = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let outcome = with_retry(&policy, |_| {
        let calls = Arc::clone(&calls);
        breaker.call_classified(move || async move {
            // The dependency fails twice (opening the breaker), then recovers.
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(OpFailure::retry("503"))
            } else {
                Ok("payload")
            }
        })
    })
    .await;

    assert_eq!(outcome, Ok(RetryOutcome::Succeeded("payload")));
    // Attempts: t=0 fail, t=100ms fail (opens until 5.1 s), t=300ms rejected (hint 4.8 s beats
    // the scheduled 400 ms), t=5.1 s probe succeeds. The rejection never reached the dependency.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(5100));
    assert_eq!(breaker.state(), BreakerState::Closed);
}
