//! Why event time matters, shown on the correlator's kernel with the built-in scenario.
//!
//! The scenario's valid, first-seen observations are delivered to the correlator three ways:
//! in epoch order; skewed (each delayed by up to four minutes of event time, so they arrive
//! out of order); and skewed again into the processing-time design the correlator had before
//! (what arrives together is fused and screened together). With event-time windows the skewed
//! delivery raises exactly the alerts of the ordered one — same pairs, same fused miss
//! distances — because a window is fused only once the watermark says all of it has arrived.
//! With processing-time windows the fused states depend on what happened to arrive together,
//! so the alerts differ.

mod common;

use std::sync::Arc;

use sda_ingest::catalog::{ActiveCatalog, CatalogOrigin, SharedCatalog};
use sda_ingest::pipeline::operators::{Correlator, NamedConjunction, PropagatorRuntime, Windowing};
use sda_ingest::pipeline::{Counters, Delivered};
use sda_ingest_core::process::event_time::EventTimeConfig;
use sda_ingest_core::sim::scenario::{PLANTED_A, PLANTED_B, Scenario, ScenarioConfig};
use sda_orchestrator::time::EventTime;

/// The sources' out-of-orderness bound in these runs: at least the largest delay.
const BOUND_S: f64 = 300.0;
/// The largest delivery delay of the skewed runs.
const MAX_DELAY_S: f64 = 240.0;
/// Observations the correlator takes per wake-up.
const BATCH: usize = 24;

/// `observations` in the order a network delaying each by up to `MAX_DELAY_S` (seeded)
/// delivers them.
fn skewed(observations: &[Arc<Delivered>], seed: u64) -> Vec<Arc<Delivered>> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut keyed: Vec<(f64, Arc<Delivered>)> = observations
        .iter()
        .map(|d| (d.observation.epoch + rng.f64() * MAX_DELAY_S, d.clone()))
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    keyed.into_iter().map(|(_, d)| d).collect()
}

/// Runs the correlator on `delivery` in batches, advancing the watermark after each as a
/// source with `BOUND_S` out-of-orderness would, and returns its alerts in order.
async fn correlate(
    scenario: &Scenario,
    windowing: Windowing,
    delivery: &[Arc<Delivered>],
) -> Vec<NamedConjunction> {
    let catalog = ActiveCatalog::from_generated(
        &scenario.catalog,
        scenario.propagators.clone(),
        CatalogOrigin::Simulator,
    );
    let settings = sda_ingest::app::CorrelatorSettings {
        jobs: 1,
        ..Default::default()
    };
    let config = sda_ingest::pipeline::operators::CorrelatorConfig {
        windowing,
        ..settings.for_window(scenario.config.start_unix_s, scenario.config.duration_s)
    };
    let kernel = Correlator::new(
        PropagatorRuntime::Inline,
        SharedCatalog::new(catalog),
        config,
        Arc::new(Counters::default()),
    );
    let mut alerts = Vec::new();
    let mut latest = f64::NEG_INFINITY;
    for chunk in delivery.chunks(BATCH) {
        latest = chunk
            .iter()
            .map(|d| d.observation.epoch)
            .fold(latest, f64::max);
        kernel.observe(&mut chunk.to_vec()).await.unwrap();
        let watermark = EventTime::from_unix_seconds_f64(latest - BOUND_S);
        kernel.advance(Some(watermark)).await.unwrap();
        kernel.screen(false).await.unwrap();
        while let Some(alert) = kernel.next_alert() {
            alerts.push(alert);
            kernel.sent();
        }
    }
    kernel.screen(true).await.unwrap();
    while let Some(alert) = kernel.next_alert() {
        alerts.push(alert);
        kernel.sent();
    }
    alerts
}

#[tokio::test]
async fn event_time_alerts_do_not_depend_on_delivery_order_and_processing_time_ones_do() {
    let scenario = Scenario::generate(&ScenarioConfig::default()).unwrap();
    let ordered = common::observations::delivered(&scenario);
    assert!(ordered.len() > 500, "{} observations", ordered.len());
    let event_time = Windowing::EventTime(EventTimeConfig::default());

    let baseline = correlate(&scenario, event_time, &ordered).await;
    // The planted approach, once, corrected by fused states of both objects' observations.
    assert_eq!(baseline.len(), 1, "{baseline:?}");
    let planted = &baseline[0];
    assert_eq!(
        (planted.conjunction.a, planted.conjunction.b),
        (PLANTED_A, PLANTED_B)
    );
    assert!(planted.fused_observations > 0, "{planted:?}");
    assert_ne!(planted.fused_miss_km, planted.conjunction.miss_distance_km);
    assert!(planted.fused_miss_km < 1.0);

    for seed in [1, 2, 3] {
        let delivery = skewed(&ordered, seed);
        assert_ne!(delivery, ordered, "the skew reorders");
        // Event time: exactly the same alerts, fused miss distances included.
        assert_eq!(
            correlate(&scenario, event_time, &delivery).await,
            baseline,
            "seed {seed}"
        );
        // Processing time: what arrived together was fused together, and screening ran as soon
        // as an early arrival pushed the horizon past the approach, before the rest of its
        // window was in: the planted pair's fused states then are not those of its window
        // (with these seeds: none, or one observation instead of two).
        let arrival = correlate(&scenario, Windowing::Arrival, &delivery).await;
        assert_ne!(arrival, baseline, "seed {seed}");
        // The approach is still found (the skew is small next to the threshold); what the
        // alert says about it is not what its observations say.
        assert_eq!(arrival.len(), 1, "{arrival:?}");
        assert_ne!(arrival[0].fused_miss_km, planted.fused_miss_km);
    }
}
