//! The optical archive at the edge: a page with one bad record costs only that record — it is
//! dead-lettered with its index in the page and the page's cursor, the page's other records are
//! delivered, and records (not pages) are what is counted.

mod common;

use std::time::Duration;

use common::lines_of;
use sda_ingest::app;
use serde_json::{Value, json};
use wiremock::matchers::{path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A valid record; its id also sets its epoch's second, so no two are duplicates.
fn record(id: &str, second: u32) -> Value {
    json!({
        "id": id,
        "sensor": "optical-1",
        "site": { "lat_deg": 32.9, "lon_deg": -105.5, "alt_m": 2200.0 },
        "object": 40001,
        "epoch": format!("2024-01-01T00:10:{second:02}.250Z"),
        "ra_deg": 123.456,
        "dec_deg": -12.345,
        "sigma_arcsec": 1.5
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_record_costs_only_itself_and_records_are_counted_not_pages() {
    let server = MockServer::start().await;
    let mut bad = record("E-2", 2);
    bad["object"] = json!(-5);
    let first =
        json!({ "observations": [record("E-1", 1), bad, record("E-3", 3)], "next_cursor": "p2" });
    let last = json!({ "observations": [record("E-4", 4)], "next_cursor": null });
    Mock::given(path("/observations"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .mount(&server)
        .await;
    Mock::given(path("/observations"))
        .and(query_param("cursor", "p2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(last))
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
    assert!(summary.is_success(), "{summary:?}");

    let delivered: Vec<String> = lines_of(dir.path(), "observations.jsonl", "optical")
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        delivered,
        ["optical-1/E-1", "optical-1/E-3", "optical-1/E-4"]
    );
    let letters = lines_of(dir.path(), "dead_letter.jsonl", "optical");
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter["reason_code"], "invalid_record");
    assert_eq!(letter["record"], 1);
    // The first page was asked for without a cursor.
    assert_eq!(letter["cursor"], "");
    assert!(
        letter["raw"].as_str().unwrap().contains("\"E-2\""),
        "{letter}"
    );

    let optical = &summary.counters.sources["optical"];
    assert_eq!(optical.frames, 2, "two pages");
    assert_eq!(optical.read, 4, "four records");
    assert_eq!(optical.delivered, 3);
    assert_eq!(optical.dead_lettered, 1);
    assert!(optical.balances());
}
