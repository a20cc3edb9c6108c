//! The screening filter chain finds exactly the approaches that every-pair screening finds.
//!
//! The reference ([`AllPairs`]) looks at every pair (no shell filter, no grid) every 10 s with
//! a gate from the objects' top speeds over a whole step, then refines with the same golden
//! section. The screening under test samples every 60 s through the grid, the shell filter,
//! the sampled minimum and the interpolated minimum. Both must report the same pairs, with
//! times of closest approach within 1 s and miss distances within 10 m.
//!
//! By default a small, dense case runs (fast enough for a debug build). `SDA_NO_MISS=full`
//! runs the full case, 2,000 objects of the realistic population over 24 hours at 5 km, meant
//! for a release build:
//!
//! ```text
//! SDA_NO_MISS=full cargo test --release -p sda-ingest-core --test screening_no_miss -- --nocapture
//! ```

use sda_ingest_core::orbit::catalog::Catalog;
use sda_ingest_core::orbit::conjunction::{
    AllPairs, Conjunction, ScreeningConfig, ScreeningPlan, merge, screen,
};
use sda_ingest_core::orbit::propagate::Propagator;

const EPOCH: f64 = 1_704_067_200.0;

struct Case {
    objects: usize,
    hours: f64,
    threshold_km: f64,
    /// Fewest approaches the reference must find for the comparison to mean something.
    at_least: usize,
}

fn case() -> Case {
    match std::env::var("SDA_NO_MISS").as_deref() {
        Ok("full") => Case {
            objects: 2_000,
            hours: 24.0,
            threshold_km: 5.0,
            at_least: 20,
        },
        // A quarter of the catalog over three hours: few 5 km approaches, so a wider
        // threshold gives the comparison enough of them.
        _ => Case {
            objects: 300,
            hours: 3.0,
            threshold_km: 40.0,
            at_least: 10,
        },
    }
}

/// Pairs every approach of `expected` with one of `found` (same pair, TCA within 1 s, miss
/// within 10 m) and describes whatever is left over on either side.
fn mismatches(expected: &[Conjunction], found: &[Conjunction]) -> Vec<String> {
    let mut unmatched: Vec<&Conjunction> = found.iter().collect();
    let mut problems = Vec::new();
    for e in expected {
        let hit = unmatched.iter().position(|f| {
            (f.a, f.b) == (e.a, e.b)
                && (f.tca - e.tca).abs() <= 1.0
                && (f.miss_distance_km - e.miss_distance_km).abs() <= 0.010
        });
        match hit {
            Some(k) => {
                unmatched.swap_remove(k);
            }
            None => problems.push(format!("missed {e:?}")),
        }
    }
    problems.extend(
        unmatched
            .iter()
            .map(|f| format!("not in the reference {f:?}")),
    );
    problems
}

fn two_threads<T: Send>(a: impl FnOnce() -> T + Send, b: impl FnOnce() -> T + Send) -> [T; 2] {
    std::thread::scope(|s| {
        let (ha, hb) = (s.spawn(a), s.spawn(b));
        [ha.join().unwrap(), hb.join().unwrap()]
    })
}

#[test]
fn the_filter_chain_finds_exactly_what_every_pair_screening_finds() {
    let case = case();
    let catalog = Catalog::realistic(2_024, case.objects, 40_001, EPOCH).unwrap();
    let objects: Vec<Propagator> = catalog
        .objects
        .iter()
        .map(|o| Propagator::new(o).unwrap())
        .collect();
    let (start, end) = (EPOCH, EPOCH + case.hours * 3_600.0);
    let cfg = ScreeningConfig {
        threshold_km: case.threshold_km,
        ..ScreeningConfig::default()
    };

    let started = std::time::Instant::now();
    let reference = AllPairs::new(
        &objects,
        start,
        end,
        &ScreeningConfig {
            step_s: 10.0,
            ..cfg
        },
    );
    assert!(reference.failed().is_empty(), "{:?}", reference.failed());
    let n = objects.len();
    let expected = merge(two_threads(
        || reference.screen_rows((0..n).step_by(2)),
        || reference.screen_rows((1..n).step_by(2)),
    ));
    let reference_s = started.elapsed().as_secs_f64();

    let started = std::time::Instant::now();
    let chunks = ScreeningPlan::new(start, end, &cfg).split(2);
    let found = merge(two_threads(
        || chunks[0].screen(&objects),
        || chunks[1].screen(&objects),
    ));
    let sieve_s = started.elapsed().as_secs_f64();
    println!(
        "{} objects, {} h, {} km: reference {} approaches in {reference_s:.1} s, sieve {} in {sieve_s:.1} s",
        n,
        case.hours,
        case.threshold_km,
        expected.conjunctions.len(),
        found.conjunctions.len()
    );

    assert!(expected.failed.is_empty() && found.failed.is_empty());
    assert!(
        expected.conjunctions.len() >= case.at_least,
        "only {} approaches: the comparison would prove little",
        expected.conjunctions.len()
    );
    let problems = mismatches(&expected.conjunctions, &found.conjunctions);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The one-call form is the same screening as the chunks.
    assert_eq!(
        screen(&objects, start, end, &cfg).conjunctions,
        found.conjunctions
    );
}

#[test]
fn the_comparison_reports_a_missed_and_an_extra_approach() {
    let c = |a, tca, miss| Conjunction {
        a,
        b: a + 1,
        tca,
        miss_distance_km: miss,
        relative_speed_km_s: 10.0,
        miss_rtn_km: [miss, 0.0, 0.0],
    };
    let reference = [c(1, 100.0, 1.0), c(3, 200.0, 2.0)];
    assert!(mismatches(&reference, &[c(3, 200.5, 2.005), c(1, 100.0, 1.0)]).is_empty());
    let dropped = mismatches(&reference, &[c(1, 100.0, 1.0)]);
    assert_eq!(dropped.len(), 1);
    assert!(dropped[0].starts_with("missed"));
    let late = mismatches(&reference, &[c(1, 100.0, 1.0), c(3, 201.5, 2.0)]);
    assert_eq!(late.len(), 2, "{late:?}");
    let far = mismatches(&reference, &[c(1, 100.0, 1.02), c(3, 200.0, 2.0)]);
    assert_eq!(far.len(), 2, "{far:?}");
}
