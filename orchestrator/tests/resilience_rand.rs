//! `rand`'s generators drive backoff jitter through `RandRng` (feature `rand`): seeded, they
//! give reproducible schedules that stay within the bounds.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::{SmallRng, StdRng};
use sda_orchestrator::resilience::{
    Backoff, Jitter, JitterRng, OpFailure, RandRng, RetryOutcome, RetryPolicy, with_retry,
};

const BASE: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_secs(2);

fn schedule(jitter: Jitter, rng: impl JitterRng, len: usize) -> Vec<Duration> {
    let mut backoff = Backoff::new(BASE, CAP, jitter).with_rng(rng);
    (0..len).map(|_| backoff.next_delay()).collect()
}

#[test]
fn a_seeded_std_rng_gives_a_reproducible_schedule_within_the_bounds() {
    let first = schedule(
        Jitter::Decorrelated,
        RandRng::new(StdRng::seed_from_u64(7)),
        50,
    );
    let again = schedule(
        Jitter::Decorrelated,
        RandRng::new(StdRng::seed_from_u64(7)),
        50,
    );
    let other = schedule(
        Jitter::Decorrelated,
        RandRng::new(StdRng::seed_from_u64(8)),
        50,
    );
    assert_eq!(first, again, "the same seed, the same delays");
    assert_ne!(first, other, "another seed, other delays");
    assert!(first.iter().all(|d| (BASE..=CAP).contains(d)), "{first:?}");
}

#[test]
fn a_seeded_small_rng_gives_a_reproducible_schedule_within_the_bounds() {
    for jitter in [Jitter::Decorrelated, Jitter::Full] {
        let first = schedule(jitter, RandRng::new(SmallRng::seed_from_u64(1)), 50);
        let again = schedule(jitter, RandRng::new(SmallRng::seed_from_u64(1)), 50);
        assert_eq!(first, again, "{jitter:?}");
        assert!(first.iter().all(|d| *d <= CAP), "{jitter:?}: {first:?}");
    }
}

#[test]
fn draws_are_uniform_in_the_unit_interval_and_advance_the_generator() {
    let mut rng = RandRng::new(SmallRng::seed_from_u64(3));
    let draws: Vec<f64> = (0..10_000).map(|_| rng.next_unit()).collect();
    assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    assert!((0.45..0.55).contains(&mean), "mean {mean}");

    // The wrapped generator comes back in the state the draws left it: a fresh generator of
    // the same seed, advanced as far, draws the same next number.
    let mut left = RandRng::new(rng.into_inner());
    let mut replay = RandRng::new(SmallRng::seed_from_u64(3));
    for _ in 0..10_000 {
        replay.next_unit();
    }
    assert_eq!(left.next_unit(), replay.next_unit());
}

#[tokio::test(start_paused = true)]
async fn a_retry_policy_takes_a_rand_generator_per_loop() {
    let policy = RetryPolicy::new("fetch")
        .max_attempts(4)
        .with_rng_factory(|| RandRng::new(StdRng::seed_from_u64(11)));
    let elapsed = |policy: RetryPolicy| async move {
        let start = tokio::time::Instant::now();
        let outcome = with_retry(&policy, |attempt| async move {
            if attempt < 4 {
                Err(OpFailure::retry("connection reset"))
            } else {
                Ok(attempt)
            }
        })
        .await
        .unwrap();
        assert_eq!(outcome, RetryOutcome::Succeeded(4));
        start.elapsed()
    };
    // Each loop gets a fresh generator of the same seed, so it sleeps the same three delays.
    let first = elapsed(policy.clone()).await;
    assert_eq!(first, elapsed(policy).await);
    assert!(first >= Duration::from_millis(300), "{first:?}");
}
