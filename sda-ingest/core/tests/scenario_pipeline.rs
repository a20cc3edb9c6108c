//! End to end over the simulator: decode → normalise → validate → dedup must reproduce the
//! scenario's expected outcome exactly, and the scenario must be a pure function of its seed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use sda_ingest_core::orbit::associate::{IndexedCatalog, associate, associate_nearest};
use sda_ingest_core::orbit::catalog::Catalog;
use sda_ingest_core::orbit::elements::load;
use sda_ingest_core::orbit::propagate::Propagator;
use sda_ingest_core::process::dedup::{DedupConfig, Deduplicator, Verdict};
use sda_ingest_core::process::normalize::normalize;
use sda_ingest_core::process::validate::{RejectReason, ValidationPolicy, validate};
use sda_ingest_core::sim::scenario::{
    ExpectedDuplicate, ExpectedRejection, PLANTED_A, PLANTED_B, Population, Scenario,
    ScenarioConfig,
};
use sda_ingest_core::wire::{WireFormat, WireRecord, decode};
use sda_ingest_core::{Measurement, Observation, SensorKind};

/// What the pipeline produced.
#[derive(Default)]
struct Run {
    messages: usize,
    decode_errors: Vec<(SensorKind, usize, &'static str)>,
    invalid: Vec<ExpectedRejection>,
    duplicates: Vec<String>,
    accepted: Vec<Observation>,
}

fn run(s: &Scenario) -> Run {
    let mut out = Run::default();
    let mut records: Vec<WireRecord> = Vec::new();
    // Radar, ISL and optical first, then the synthetic sensors: the order the scenario
    // generator records its expectations in.
    let synthetic = s.streams.synthetic.keys().copied();
    for kind in [SensorKind::Radar, SensorKind::Isl, SensorKind::Optical]
        .into_iter()
        .chain(synthetic)
    {
        for (i, message) in s.streams.of(kind).iter().enumerate() {
            let decoded = decode(WireFormat::for_kind(kind), message);
            out.messages += decoded.records.len();
            records.extend(decoded.records);
            for failure in decoded.failures {
                out.messages += 1;
                out.decode_errors.push((kind, i, failure.error.code()));
            }
        }
    }
    let policy = ValidationPolicy::default();
    let mut dedup = Deduplicator::new(DedupConfig::default());
    for (n, rec) in records.iter().enumerate() {
        match validate(normalize(rec, &s.sensors), &policy) {
            Err(rej) => out.invalid.push(ExpectedRejection {
                id: rej.observation.id,
                reason: rej.reason,
            }),
            Ok(obs) => match dedup.check(&obs, Duration::from_millis(n as u64)) {
                Verdict::Duplicate => out.duplicates.push(obs.id),
                Verdict::New => out.accepted.push(obs),
            },
        }
    }
    out
}

#[test]
fn pipeline_output_matches_expected_exactly() {
    let s = Scenario::generate(&ScenarioConfig::default()).unwrap();
    let e = &s.expected;
    let got = run(&s);
    assert_eq!(got.messages, e.messages);
    let want_decode: Vec<_> = e
        .decode_errors
        .iter()
        .map(|d| (d.source, d.index, d.code))
        .collect();
    let mut got_decode = got.decode_errors.clone();
    got_decode.sort();
    let mut want_sorted = want_decode.clone();
    want_sorted.sort();
    assert_eq!(got_decode, want_sorted);
    let mut invalid = got.invalid.clone();
    invalid.sort();
    assert_eq!(invalid, e.invalid);
    let mut dups = got.duplicates.clone();
    dups.sort();
    let mut want_dups: Vec<String> = e
        .duplicates
        .iter()
        .map(|d: &ExpectedDuplicate| d.id.clone())
        .collect();
    want_dups.sort();
    assert_eq!(dups, want_dups);
    assert_eq!(got.accepted.len(), e.accepted);
    let ids: BTreeSet<&str> = got.accepted.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids.len(), got.accepted.len(), "accepted ids must be unique");
    for d in &e.duplicates {
        assert!(
            ids.contains(d.original_id.as_str()),
            "original {} was not accepted",
            d.original_id
        );
    }
}

#[test]
fn every_reject_reason_and_sensor_kind_is_exercised() {
    let s = Scenario::generate(&ScenarioConfig::default()).unwrap();
    let reasons: BTreeSet<RejectReason> = s.expected.invalid.iter().map(|r| r.reason).collect();
    assert_eq!(reasons, RejectReason::ALL.into_iter().collect());
    let kinds: BTreeSet<SensorKind> = run(&s).accepted.iter().map(|o| o.sensor_kind).collect();
    assert_eq!(kinds, SensorKind::ALL.into_iter().collect());
    let codes: BTreeSet<&str> = s.expected.decode_errors.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        ["bad_checksum", "bad_magic", "invalid_json", "truncated"].into()
    );
}

#[test]
fn same_seed_same_scenario() {
    let cfg = ScenarioConfig::default();
    let (a, b) = (
        Scenario::generate(&cfg).unwrap(),
        Scenario::generate(&cfg).unwrap(),
    );
    assert_eq!(a.catalog, b.catalog);
    assert_eq!(a.streams, b.streams);
    assert_eq!(a.expected, b.expected);
    let c = Scenario::generate(&ScenarioConfig { seed: 43, ..cfg }).unwrap();
    assert_ne!(a.catalog, c.catalog);
    assert_ne!(a.streams, c.streams);
}

#[test]
fn several_seeds_generate_consistent_scenarios() {
    for seed in 1..=4 {
        let s = Scenario::generate(&ScenarioConfig {
            seed,
            ..Default::default()
        })
        .unwrap();
        let got = run(&s);
        assert_eq!(got.accepted.len(), s.expected.accepted, "seed {seed}");
        assert_eq!(got.invalid.len(), s.expected.invalid.len(), "seed {seed}");
        assert_eq!(
            got.duplicates.len(),
            s.expected.duplicates.len(),
            "seed {seed}"
        );
    }
}

#[test]
fn accepted_observations_associate_with_their_hinted_object() {
    let s = Scenario::generate(&ScenarioConfig::default()).unwrap();
    let props: Vec<Propagator> = s
        .catalog
        .objects
        .iter()
        .map(|o| Propagator::new(o).unwrap())
        .collect();
    let indexed = IndexedCatalog::new(props.clone());
    let mut checked = 0;
    for obs in run(&s).accepted.iter().step_by(7) {
        // Range-only measurements cannot tell objects at similar ranges apart.
        if matches!(obs.measurement, Measurement::Range { .. }) {
            continue;
        }
        // The full search, ignoring the hint, must find the hinted object by geometry alone.
        let a = associate_nearest(obs, &props, 50.0)
            .unwrap_or_else(|| panic!("{} unassociated", obs.id));
        assert_eq!(associate(obs, &props, 50.0), Some(a), "{}", obs.id);
        assert_eq!(indexed.associate(obs, 50.0), Some(a), "{}", obs.id);
        // A mis-tagged or unknown hint is not trusted: the geometry decides.
        let other = props
            .iter()
            .map(|p| p.norad_id())
            .find(|&id| Some(id) != obs.object_hint);
        for hint in [other, Some(1), None] {
            let mut tagged = obs.clone();
            tagged.object_hint = hint;
            assert_eq!(
                associate(&tagged, &props, 50.0),
                Some(a),
                "{} hinted {hint:?}",
                obs.id
            );
            assert_eq!(indexed.associate(&tagged, 50.0), Some(a), "{}", obs.id);
        }
        assert_eq!(
            Some(a.norad_id),
            obs.object_hint,
            "{}: residual {} km",
            obs.id,
            a.residual_km
        );
        assert!(
            a.residual_km < 1.0,
            "{}: residual {} km",
            obs.id,
            a.residual_km
        );
        checked += 1;
    }
    assert!(checked > 50);
}

/// The streams `run` decodes match what the scenario says it injected, count for count.
fn assert_consistent(s: &Scenario, got: &Run) {
    assert_eq!(got.messages, s.expected.messages);
    assert_eq!(got.accepted.len(), s.expected.accepted);
    assert_eq!(got.invalid.len(), s.expected.invalid.len());
    assert_eq!(got.duplicates.len(), s.expected.duplicates.len());
    assert_eq!(got.decode_errors.len(), s.expected.decode_errors.len());
}

#[test]
fn an_external_catalog_is_observed_from_the_given_start_with_nothing_planted() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/catalog/catalog.3le"
    ))
    .unwrap();
    let loaded = load(&text).unwrap();
    let start = loaded.newest_epoch.timestamp() as f64;
    let objects: Arc<[Propagator]> = loaded.propagators().into();
    let ids: BTreeSet<u32> = objects.iter().map(Propagator::norad_id).collect();
    let s = Scenario::generate(&ScenarioConfig {
        start_unix_s: start,
        population: Population::External(objects.clone()),
        ..ScenarioConfig::default()
    })
    .unwrap();
    assert!(s.expected.conjunction.is_none(), "nothing is planted");
    assert!(s.catalog.objects.is_empty());
    assert!(Arc::ptr_eq(&s.propagators, &objects));
    let got = run(&s);
    assert_consistent(&s, &got);
    assert!(got.accepted.len() > 100, "{}", got.accepted.len());
    for obs in &got.accepted {
        let hint = obs.object_hint.unwrap();
        assert!(ids.contains(&hint), "{} observes {hint}", obs.id);
        assert!(
            (start..start + s.config.duration_s).contains(&obs.epoch),
            "{} at {}",
            obs.id,
            obs.epoch
        );
    }
    // Every sensor kind still reports: the sensors see the catalog's real orbits.
    let kinds: BTreeSet<SensorKind> = got.accepted.iter().map(|o| o.sensor_kind).collect();
    assert_eq!(kinds, SensorKind::ALL.into_iter().collect());
    // A ground sensor's record places the hinted object where SGP4 has it.
    let indexed = IndexedCatalog::new(objects);
    let radar = got
        .accepted
        .iter()
        .find(|o| o.sensor_kind == SensorKind::Radar)
        .unwrap();
    let a = indexed.associate(radar, 50.0).unwrap();
    assert_eq!(Some(a.norad_id), radar.object_hint);
    assert!(a.residual_km < 1.0, "{a:?}");
}

#[test]
fn a_catalog_of_one_object_generates_without_faults_it_cannot_hold() {
    let catalog = Catalog::generate(5, 1, 40_001, 1_704_067_200.0).unwrap();
    let objects: Arc<[Propagator]> = vec![Propagator::new(&catalog.objects[0]).unwrap()].into();
    let s = Scenario::generate(&ScenarioConfig {
        population: Population::External(objects),
        ..ScenarioConfig::default()
    })
    .unwrap();
    assert_consistent(&s, &run(&s));
    let empty = ScenarioConfig {
        population: Population::External(Vec::new().into()),
        ..ScenarioConfig::default()
    };
    assert!(Scenario::generate(&empty).is_err());
}

#[test]
fn a_realistic_population_keeps_the_planted_pair_and_observes_every_regime() {
    let s = Scenario::generate(&ScenarioConfig {
        population: Population::Realistic { count: 3_000 },
        ..ScenarioConfig::default()
    })
    .unwrap();
    let planted = s.expected.conjunction.unwrap();
    assert_eq!((planted.a, planted.b), (PLANTED_A, PLANTED_B));
    assert!(planted.miss_distance_km < 1.0);
    assert_eq!(s.propagators.len(), 3_002);
    let got = run(&s);
    assert_consistent(&s, &got);
    let hinted: BTreeSet<u32> = got.accepted.iter().filter_map(|o| o.object_hint).collect();
    assert!(hinted.len() > 300, "{} objects observed", hinted.len());
}
