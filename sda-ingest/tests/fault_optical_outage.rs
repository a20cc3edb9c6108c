//! A 30-second optical archive outage, in real time against a wiremock archive: the archive
//! answers with 500s and with responses slower than the poller's timeout for 30 s, then
//! recovers. The optical source rides it out with no restart, the breaker opens and closes,
//! the retries are jittered, and the run's accounting is exact: nothing the archive served is
//! lost.
//!
//! Real time, because the archive is a real HTTP server on another runtime: under paused time
//! the poller's request timeout would fire while the server is still answering.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sda_ingest::app;
use sda_ingest::telemetry;
use sda_ingest_core::sim::scenario::{Scenario, ScenarioConfig};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const OUTAGE: Duration = Duration::from_secs(30);
/// The cursor whose first request starts the outage (pages before it flow normally).
const OUTAGE_AT: usize = 2;

/// One request the archive saw during the outage.
#[derive(Debug, Clone, Copy)]
struct Failed {
    at: Instant,
    slow: bool,
}

#[derive(Default)]
struct Log {
    outage_started: Option<Instant>,
    failed: Vec<Failed>,
    first_after_outage: Option<Instant>,
}

/// Serves the scenario's pages by cursor, with the outage.
struct Archive {
    pages: Vec<Vec<u8>>,
    log: Arc<Mutex<Log>>,
}

impl Respond for Archive {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let cursor = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "cursor")
            .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
        let now = Instant::now();
        let mut log = self.log.lock().unwrap();
        if cursor == OUTAGE_AT && log.outage_started.is_none() {
            log.outage_started = Some(now);
        }
        if let Some(started) = log.outage_started {
            if now < started + OUTAGE {
                // Alternate hard errors and answers slower than the poller's 2 s timeout.
                let slow = log.failed.len() % 2 == 1;
                log.failed.push(Failed { at: now, slow });
                return if slow {
                    ResponseTemplate::new(200)
                        .set_body_bytes(self.pages[cursor].clone())
                        .set_delay(Duration::from_secs(4))
                } else {
                    ResponseTemplate::new(500)
                };
            }
            log.first_after_outage.get_or_insert(now);
        }
        ResponseTemplate::new(200).set_body_bytes(self.pages[cursor].clone())
    }
}

/// The value of `name{label}` in a Prometheus rendering.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_second_archive_outage_is_ridden_out_with_nothing_lost() {
    let prometheus = telemetry::prometheus().expect("this test binary installs the recorder");
    let scenario = Scenario::generate(&ScenarioConfig::default()).unwrap();
    let expected = scenario.expected.clone();
    let log = Arc::new(Mutex::new(Log::default()));
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::path("/observations"))
        .respond_with(Archive {
            pages: scenario.streams.optical.clone(),
            log: log.clone(),
        })
        .mount(&server)
        .await;

    // Watch the breaker's gauge while the run goes on.
    let breaker_series = "circuit_breaker_state{breaker=\"optical_archive\"}";
    let seen = Arc::new(Mutex::new(Vec::<f64>::new()));
    let watcher = {
        let (seen, prometheus) = (seen.clone(), prometheus.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                if let Some(v) = sample(&prometheus.render(), breaker_series) {
                    let mut seen = seen.lock().unwrap();
                    if seen.last() != Some(&v) {
                        seen.push(v);
                    }
                }
            }
        })
    };

    let dir = tempfile::tempdir().unwrap();
    let config = common::optical_app_config(dir.path(), &server.uri());
    let started = Instant::now();
    // The run ends by itself once every source has sent its last record.
    let summary = tokio::time::timeout(
        Duration::from_secs(120),
        app::run(config, std::future::pending()),
    )
    .await
    .expect("the run must finish after the outage")
    .unwrap();
    watcher.abort();

    // Nothing lost, nothing restarted: the outage is invisible in the accounting.
    assert!(summary.outcome.is_clean(), "{:?}", summary.outcome);
    assert_eq!(summary.restarts, 0);
    let c = summary.counters.clone();
    assert_eq!(c.lost, 0, "{c:?}");
    assert_eq!(c.received as usize, expected.messages, "{c:?}");
    assert_eq!(c.duplicates as usize, expected.duplicates.len());
    assert_eq!(
        c.dead_lettered as usize,
        expected.invalid.len() + expected.decode_errors.len()
    );

    // The full 30 s was exercised, with both kinds of failure, and the poller came back.
    let log = log.lock().unwrap();
    let outage_started = log.outage_started.expect("the outage happened");
    let recovered = log
        .first_after_outage
        .expect("the poller asked again after the outage");
    assert!(recovered - outage_started >= OUTAGE);
    assert!(started.elapsed() >= OUTAGE);
    let failed = &log.failed;
    assert!(failed.iter().any(|f| f.slow) && failed.iter().any(|f| !f.slow));
    assert!(failed.last().unwrap().at - outage_started >= Duration::from_secs(20));
    // Backed off, not a hot loop: at most one attempt per 100 ms on average.
    assert!(
        failed.len() >= 4 && failed.len() <= 300,
        "{} attempts",
        failed.len()
    );
    // Jittered: the gaps between attempts are not one repeated value.
    let mut gaps: Vec<u128> = failed
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_millis() / 10)
        .collect();
    gaps.sort_unstable();
    gaps.dedup();
    assert!(gaps.len() >= 3, "gaps (10 ms units): {gaps:?}");

    // The breaker opened during the outage and closed after it. The watcher samples every
    // 100 ms, so the final state is read once more now that the run is over.
    let mut seen = seen.lock().unwrap();
    if let Some(last) = sample(&prometheus.render(), breaker_series) {
        seen.push(last);
    }
    assert!(seen.contains(&1.0), "breaker states seen: {seen:?}");
    assert_eq!(seen.last(), Some(&0.0), "breaker states seen: {seen:?}");
    let text = prometheus.render();
    let retries = sample(&text, "retry_attempts_total{operator=\"optical\"}").unwrap();
    assert!(
        retries >= failed.len() as f64 - 1.0,
        "{retries} retries for {} failures",
        failed.len()
    );
}
