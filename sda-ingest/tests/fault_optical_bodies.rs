//! Bad optical archive answers in the running service: invalid JSON and an oversized body are
//! counted and dead-lettered with their reason codes, 500s are retried, and the run goes on to
//! deliver every record the archive then serves, with exact accounting.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sda_ingest::app;
use sda_ingest::pipeline::sinks::files;
use sda_ingest_core::sim::scenario::{Scenario, ScenarioConfig};
use sda_ingest_core::wire::optical::MAX_BODY_LEN;
use serde_json::Value;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Serves the scenario's pages, but answers the first three requests for page 1 with invalid
/// JSON, a 500 and an oversized body.
struct Archive {
    pages: Vec<Vec<u8>>,
    faults: Mutex<Vec<ResponseTemplate>>,
    requests: Arc<AtomicUsize>,
}

impl Respond for Archive {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let cursor = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "cursor")
            .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
        if cursor == 1 {
            let mut faults = self.faults.lock().unwrap();
            if !faults.is_empty() {
                return faults.remove(0);
            }
        }
        ResponseTemplate::new(200).set_body_bytes(self.pages[cursor].clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_and_oversized_archive_bodies_are_dead_lettered_and_the_run_goes_on() {
    let scenario = Scenario::generate(&ScenarioConfig::default()).unwrap();
    let expected = scenario.expected.clone();
    let requests = Arc::new(AtomicUsize::new(0));
    let server = MockServer::start().await;
    let oversized = format!(
        r#"{{"observations":[],"pad":"{}"}}"#,
        "x".repeat(2 * MAX_BODY_LEN)
    );
    Mock::given(wiremock::matchers::path("/observations"))
        .respond_with(Archive {
            pages: scenario.streams.optical.clone(),
            faults: Mutex::new(vec![
                ResponseTemplate::new(200).set_body_string("{\"observations\": [{\"id\": "),
                ResponseTemplate::new(500),
                ResponseTemplate::new(200).set_body_string(oversized),
            ]),
            requests: requests.clone(),
        })
        .mount(&server)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let config = common::optical_app_config(dir.path(), &server.uri());
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        app::run(config, std::future::pending()),
    )
    .await
    .expect("the run finishes by itself")
    .unwrap();

    assert!(summary.outcome.is_clean(), "{:?}", summary.outcome);
    assert_eq!(summary.restarts, 0);
    let c = summary.counters.clone();
    assert_eq!(c.lost, 0, "{c:?}");
    // Every scenario record, plus the two bad bodies (one record each: they failed to decode).
    assert_eq!(c.received as usize, expected.messages + 2, "{c:?}");
    assert_eq!(
        c.dead_lettered as usize,
        expected.invalid.len() + expected.decode_errors.len() + 2
    );
    assert_eq!(c.duplicates as usize, expected.duplicates.len());
    // Pages 0..n once each, plus the three faults on page 1.
    assert_eq!(
        requests.load(Ordering::Relaxed),
        scenario.streams.optical.len() + 3
    );

    let text = std::fs::read_to_string(dir.path().join(files::DEAD_LETTER)).unwrap();
    let mut codes: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["source"] == "optical" && l["stage"] == "normalize")
        .map(|l| l["reason_code"].as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    assert_eq!(codes, ["body_too_large", "invalid_json"]);
}
