//! The service against a real catalog, outside in: the binary loads a hand-written 3LE file
//! with one bad element set (reported by line, counted, shown at `GET /catalog` over real HTTP
//! on loopback), simulates against its objects and alerts by name with the miss vector in RTN;
//! a catalog with nothing usable refuses to start; a catalog URL (a local server) is refreshed
//! while running: a bad download is reported and kept out, a good one swapped in and screened.
//! Every wait is on a log line the service writes when the thing happened, bounded.
#![cfg(unix)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::service::{Running, Service};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const LIMIT: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/catalog")
        .join(name)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn get_json(base: &str, path: &str) -> Value {
    let response = client().get(format!("{base}{path}")).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// The control plane's base URL, once it listens.
fn control_plane(running: &mut Running) -> String {
    let event = running.wait_for_event("control plane listening (http)", LIMIT);
    format!("http://{}", event["addr"].as_str().unwrap())
}

fn read_alerts(dir: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("alerts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_catalog_is_loaded_with_its_reject_reported_and_alerts_name_the_objects() {
    let out = tempfile::tempdir().unwrap();
    let catalog = fixture("small.3le");
    let mut running = Service::new()
        .args(["--log-format", "json", "--rate", "4"])
        .args(["--catalog".as_ref(), catalog.as_os_str()])
        .args(["--out".as_ref(), out.path().as_os_str()])
        .spawn();

    // At start: size, epoch range and rejects, then the reject by line and reason.
    let loaded = running.wait_for_event("catalog loaded", LIMIT);
    assert_eq!(loaded["objects"], 8, "{loaded}");
    assert_eq!(loaded["rejects"], 1, "{loaded}");
    assert_eq!(loaded["format"], "3le");
    assert_eq!(loaded["epoch_newest"], "2024-03-01T00:00:00.000Z");
    let reject = running.wait_for_event("catalog element set rejected", LIMIT);
    assert_eq!(reject["line"], 12, "{reject}");
    assert_eq!(reject["code"], "checksum", "{reject}");
    // The simulation starts at the catalog's newest epoch.
    let ready = running.wait_for_event("simulator ready", LIMIT);
    assert_eq!(ready["start"], "2024-03-01T00:00:00.000Z", "{ready}");
    let base = control_plane(&mut running);

    let summary = get_json(&base, "/catalog").await;
    assert_eq!(summary["generation"], 1, "{summary}");
    assert_eq!(summary["objects"], 8);
    assert_eq!(summary["rejects"], 1);
    assert_eq!(summary["first_rejects"][0]["line"], 12);
    assert_eq!(summary["first_rejects"][0]["code"], "checksum");
    assert!(
        summary["source"]["file"]
            .as_str()
            .unwrap()
            .ends_with("small.3le")
    );
    assert_eq!(summary["epoch_oldest"], "2024-02-29T09:33:20.000Z");
    assert_eq!(summary["duplicates_replaced"], 0);
    assert!(summary["loaded_at"].as_str().unwrap().ends_with('Z'));

    // The catalog source is a vertex of the graph, with its edge into the correlator.
    let topology = get_json(&base, "/topology").await;
    let vertex = topology["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "catalog")
        .cloned();
    assert_eq!(vertex.map(|v| v["role"].clone()), Some("source".into()));
    assert!(
        topology["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["from"] == "catalog" && e["to"] == "correlator"),
        "{topology}"
    );

    // The fixture's two debris objects were designed to pass 300 m apart an hour in.
    let alert = running.wait_for_event("conjunction alert", LIMIT);
    assert_eq!(alert["name_a"], "FENGYUN 1C DEB", "{alert}");
    let finished = running.terminate();
    let summary = finished.summary();
    assert_eq!(finished.code(), Some(0), "{summary}\n{}", finished.stderr);
    assert_eq!(summary["catalog_rejects"], 1, "{summary}");
    assert_eq!(summary["catalog_objects"], 8, "{summary}");
    assert_eq!(summary["catalog_generation"], 1, "{summary}");

    let alerts = read_alerts(out.path());
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(
        (a["object_a"].as_u64(), a["object_b"].as_u64()),
        (Some(29_961), Some(49_863))
    );
    assert_eq!(a["name_a"], "FENGYUN 1C DEB");
    assert_eq!(a["name_b"], "COSMOS 1408 DEB");
    assert!(
        a["tca_utc"]
            .as_str()
            .unwrap()
            .starts_with("2024-03-01T01:00:0"),
        "{a}"
    );
    assert_eq!(a["severity"], "high");
    let miss = a["miss_distance_km"].as_f64().unwrap();
    assert!((0.25..0.35).contains(&miss), "{a}");
    let rtn: Vec<f64> = a["miss_rtn_km"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(rtn.len(), 3);
    let length = rtn.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((length - miss).abs() < 1e-6, "{rtn:?} vs {miss}");
    // The designed miss is radial: the second object's perigee passes above the first's.
    assert!(rtn[0] > 0.9 * miss, "{rtn:?}");
    assert!(a["relative_speed_km_s"].as_f64().unwrap() > 1.0);
}

#[test]
fn a_catalog_with_nothing_usable_refuses_to_start_and_says_why() {
    let out = tempfile::tempdir().unwrap();
    let catalog = fixture("unusable.3le");
    let finished = Service::new()
        .args(["--catalog".as_ref(), catalog.as_os_str()])
        .args(["--out".as_ref(), out.path().as_os_str()])
        .run();
    let summary = finished.summary();
    assert_eq!(finished.code(), Some(1), "{summary}\n{}", finished.stderr);
    assert_eq!(summary["outcome"]["outcome"], "startup_failed", "{summary}");
    let error = summary["outcome"]["error"].as_str().unwrap();
    for part in [
        "cannot load the catalog",
        "unusable.3le",
        "no usable element set: all 2 were rejected",
        "line 3",
        "(checksum)",
        "line 6",
    ] {
        assert!(error.contains(part), "{part:?} not in {error:?}");
    }
    assert!(
        finished.stderr.contains("start-up failed"),
        "{}",
        finished.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_url_is_refreshed_a_bad_download_kept_out_and_a_new_catalog_screened() {
    let server = MockServer::start().await;
    // Each version is mounted above the last (a lower priority number wins), so the server
    // never answers without one.
    let serve = |body: Vec<u8>, priority: u8| {
        Mock::given(method("GET"))
            .and(path("/active.3le"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(body))
            .with_priority(priority)
    };
    serve(std::fs::read(fixture("small.3le")).unwrap(), 5)
        .mount(&server)
        .await;
    let out = tempfile::tempdir().unwrap();
    let config = out.path().join("sda.toml");
    std::fs::write(&config, "catalog_refresh_s = 0.2\n").unwrap();
    let url = format!("{}/active.3le", server.uri());
    let mut running = Service::new()
        .args(["--log-format", "json", "--rate", "4", "--catalog-url", &url])
        .args(["--config".as_ref(), config.as_os_str()])
        .args(["--out".as_ref(), out.path().as_os_str()])
        .spawn();
    let loaded = running.wait_for_event("catalog loaded", LIMIT);
    assert_eq!(loaded["source"], url.as_str(), "{loaded}");
    assert_eq!(loaded["objects"], 8);
    let base = control_plane(&mut running);
    let first = running.wait_for_event("conjunction alert", LIMIT);
    assert_eq!(first["name_b"], "COSMOS 1408 DEB", "{first}");

    // A download that is not a catalog: reported, and the catalog in use stays.
    serve(b"<html>down for maintenance</html>\n".to_vec(), 4)
        .mount(&server)
        .await;
    let failed =
        running.wait_for_event("catalog refresh failed; keeping the catalog in use", LIMIT);
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("no usable element set"),
        "{failed}"
    );
    let shown = get_json(&base, "/catalog").await;
    assert_eq!(shown["generation"], 1, "{shown}");
    assert_eq!(shown["objects"], 8);
    assert!(shown["refreshes"]["failed"].as_u64() >= Some(1), "{shown}");
    assert_eq!(shown["last_error"]["source"], url.as_str());
    assert!(
        shown["last_error"]["error"]
            .as_str()
            .unwrap()
            .contains("no usable element set"),
        "{shown}"
    );

    // A new catalog with two more objects: swapped in, and screened from the latest
    // observation on, where its pair meets.
    serve(std::fs::read(fixture("refreshed.3le")).unwrap(), 3)
        .mount(&server)
        .await;
    let swapped = running.wait_for_event("catalog swapped", LIMIT);
    assert_eq!(swapped["generation"], 2, "{swapped}");
    assert_eq!(swapped["objects"], 10, "{swapped}");
    let shown = get_json(&base, "/catalog").await;
    assert_eq!(shown["generation"], 2, "{shown}");
    assert_eq!(shown["objects"], 10, "{shown}");
    assert_eq!(shown["refreshes"]["swapped"], 1, "{shown}");
    let second = running.wait_for_event("conjunction alert", LIMIT);
    assert_eq!(second["name_a"], "SL-16 R/B", "{second}");
    assert_eq!(second["name_b"], "CZ-4C R/B", "{second}");

    let finished = running.terminate();
    let summary = finished.summary();
    assert_eq!(finished.code(), Some(0), "{summary}\n{}", finished.stderr);
    assert_eq!(summary["catalog_generation"], 2, "{summary}");
    assert!(
        summary["catalog_refresh_failures"].as_u64() >= Some(1),
        "{summary}"
    );
    let pairs: Vec<(u64, u64)> = read_alerts(out.path())
        .iter()
        .map(|a| {
            (
                a["object_a"].as_u64().unwrap(),
                a["object_b"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(pairs, [(29_961, 49_863), (22_803, 40_879)]);
}

#[test]
fn a_generated_population_is_simulated_screened_and_shown() {
    let out = tempfile::tempdir().unwrap();
    let finished = Service::new()
        .args(["--population", "2000", "--passes", "1", "--rate", "20"])
        .args(["--transport", "inprocess", "--log-format", "json"])
        .args(["--out".as_ref(), out.path().as_os_str()])
        .run();
    let summary = finished.summary();
    assert_eq!(finished.code(), Some(0), "{summary}\n{}", finished.stderr);
    assert_eq!(summary["catalog_objects"], 2_002, "{summary}");
    assert_eq!(summary["unassociated"], 0, "{summary}");
    let alerts = read_alerts(out.path());
    assert!(
        alerts
            .iter()
            .any(|a| a["name_a"] == "PLANTED-45001" && a["name_b"] == "PLANTED-45002"),
        "{alerts:?}"
    );
}
