//! The optical HTTP poller against a wiremock archive: it walks the pages by cursor, rides out
//! transient errors without a restart, hands bad bodies on (bounded) to be dead-lettered, and
//! fails on a permanent error so the supervisor decides.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sda_ingest::pipeline::{Counters, EventTimeSettings, RawFrame};
use sda_ingest::transport::optical_http::{OpticalPollerConfig, optical_http};
use sda_ingest_core::SensorKind;
use sda_ingest_core::wire::optical::{MAX_BODY_LEN, OpticalPage};
use sda_orchestrator::{
    OperatorGraph, RestartPolicy, SinkContext, SupervisorEvent, SupervisorPolicy,
    monitor::GraphMonitor,
};
use tokio::time::timeout;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const LIMIT: Duration = Duration::from_secs(20);

fn page(ids: &[&str], next: Option<&str>) -> String {
    let observations: Vec<String> = ids
        .iter()
        .map(|id| {
            format!(
                r#"{{"id":"{id}","sensor":"optical-1","site":{{"lat_deg":32.9,"lon_deg":-105.5,"alt_m":2200.0}},"epoch":"2024-01-01T00:10:00Z","ra_deg":10.0,"dec_deg":5.0}}"#
            )
        })
        .collect();
    let next = next.map_or("null".to_owned(), |c| format!("\"{c}\""));
    format!(
        r#"{{"observations":[{}],"next_cursor":{next}}}"#,
        observations.join(",")
    )
}

/// A quick poller for tests: short timeouts and retries, seeded jitter.
fn config(server: &MockServer) -> OpticalPollerConfig {
    let mut config = OpticalPollerConfig::new(server.uri().parse().unwrap());
    config.poll_interval = Duration::from_millis(50);
    config.request_timeout = Duration::from_millis(500);
    config.retry = config
        .retry
        .base(Duration::from_millis(5))
        .cap(Duration::from_millis(50))
        .with_seed(7);
    config.breaker.cooldown = Duration::from_millis(100);
    config
}

async fn mount_page(server: &MockServer, cursor: Option<&str>, body: String) {
    let mock = Mock::given(method("GET")).and(path("/observations"));
    let mock = match cursor {
        None => mock.and(query_param_is_missing("cursor")),
        Some(c) => mock.and(query_param("cursor", c)),
    };
    mock.respond_with(ResponseTemplate::new(200).set_body_string(body))
        .mount(server)
        .await;
}

/// Runs the poller into a collecting sink until it finishes (or `LIMIT`), with `restart` as its
/// policy; returns how the graph ended, the frames and the monitor.
async fn run_poller(
    config: OpticalPollerConfig,
    restart: RestartPolicy,
) -> (SupervisorEvent, Vec<RawFrame>, GraphMonitor) {
    let frames = Arc::new(Mutex::new(Vec::new()));
    let store = frames.clone();
    let mut graph = OperatorGraph::new();
    let source = graph.add_source(
        "optical",
        restart,
        optical_http(
            config,
            EventTimeSettings::default().clock(SensorKind::Optical),
            Arc::new(Counters::default()),
        ),
    );
    let sink = graph.add_sink(
        "frames",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<RawFrame>| {
            let store = store.clone();
            async move {
                while let Some(frame) = ctx.input.recv().await {
                    store.lock().unwrap().push(frame);
                }
                Ok(())
            }
        },
    );
    graph.connect(&source, &sink);
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let event = timeout(LIMIT, built.run(SupervisorPolicy::default()))
        .await
        .expect("the poller must finish");
    let frames = frames.lock().unwrap().clone();
    (event, frames, monitor)
}

fn ids(frame: &RawFrame) -> Vec<String> {
    let page = OpticalPage::decode(&frame.bytes).unwrap();
    page.observations.into_iter().map(|o| o.id).collect()
}

#[tokio::test]
async fn walks_the_pages_by_cursor_and_finishes_at_a_null_cursor() {
    let server = MockServer::start().await;
    mount_page(&server, None, page(&["a", "b"], Some("c1"))).await;
    mount_page(&server, Some("c1"), page(&["c"], Some("c2"))).await;
    mount_page(&server, Some("c2"), page(&["d", "e"], None)).await;

    let (event, frames, monitor) = run_poller(config(&server), RestartPolicy::Never).await;

    assert_eq!(event, SupervisorEvent::CleanShutdown);
    let got: Vec<Vec<String>> = frames.iter().map(ids).collect();
    assert_eq!(got, [vec!["a", "b"], vec!["c"], vec!["d", "e"]]);
    assert!(frames.iter().all(|f| f.source.as_ref() == "optical"));
    assert_eq!(monitor.total_restarts(), 0);
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn an_empty_page_naming_the_same_cursor_means_wait_and_ask_again() {
    let server = MockServer::start().await;
    mount_page(&server, None, page(&["a"], Some("c1"))).await;
    // Nothing new twice, then the last page.
    Mock::given(method("GET"))
        .and(query_param("cursor", "c1"))
        .respond_with(ResponseTemplate::new(200).set_body_string(page(&[], Some("c1"))))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_page(&server, Some("c1"), page(&["b"], None)).await;

    let (event, frames, _) = run_poller(config(&server), RestartPolicy::Never).await;

    assert_eq!(event, SupervisorEvent::CleanShutdown);
    // Empty pages are not handed on.
    let got: Vec<Vec<String>> = frames.iter().map(ids).collect();
    assert_eq!(got, [vec!["a"], vec!["b"]]);
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}

#[tokio::test]
async fn server_errors_and_timeouts_are_retried_without_a_restart_and_nothing_is_skipped() {
    let server = MockServer::start().await;
    mount_page(&server, None, page(&["a"], Some("c1"))).await;
    // Cursor c1: two 500s, a 503 with Retry-After, then a response slower than the timeout.
    for template in [
        ResponseTemplate::new(500),
        ResponseTemplate::new(500),
        ResponseTemplate::new(503).insert_header("retry-after", "0"),
        ResponseTemplate::new(200)
            .set_body_string(page(&["late"], None))
            .set_delay(Duration::from_secs(2)),
    ] {
        Mock::given(method("GET"))
            .and(query_param("cursor", "c1"))
            .respond_with(template)
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
    }
    mount_page(&server, Some("c1"), page(&["b"], None)).await;

    let (event, frames, monitor) = run_poller(config(&server), RestartPolicy::Never).await;

    assert_eq!(event, SupervisorEvent::CleanShutdown);
    let got: Vec<Vec<String>> = frames.iter().map(ids).collect();
    // The timed-out response is never half-delivered; the retry gets the page.
    assert_eq!(got, [vec!["a"], vec!["b"]]);
    assert_eq!(monitor.total_restarts(), 0);
    assert_eq!(server.received_requests().await.unwrap().len(), 6);
}

#[tokio::test]
async fn an_invalid_json_body_is_handed_on_for_the_dead_letters_and_the_cursor_retried() {
    let server = MockServer::start().await;
    mount_page(&server, None, page(&["a"], Some("c1"))).await;
    Mock::given(method("GET"))
        .and(query_param("cursor", "c1"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"observations\": [tru"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_page(&server, Some("c1"), page(&["b"], None)).await;

    let (event, frames, monitor) = run_poller(config(&server), RestartPolicy::Never).await;

    assert_eq!(event, SupervisorEvent::CleanShutdown);
    assert_eq!(frames.len(), 3);
    assert_eq!(ids(&frames[0]), ["a"]);
    assert_eq!(&frames[1].bytes[..], b"{\"observations\": [tru");
    assert_eq!(
        OpticalPage::decode(&frames[1].bytes).unwrap_err().code(),
        "invalid_json"
    );
    assert_eq!(ids(&frames[2]), ["b"]);
    assert_eq!(monitor.total_restarts(), 0);
}

#[tokio::test]
async fn an_oversized_body_is_read_only_to_the_maximum_and_handed_on_as_too_large() {
    let server = MockServer::start().await;
    let huge = format!(
        "{{\"observations\":[],\"pad\":\"{}\",\"next_cursor\":null}}",
        "x".repeat(4 * MAX_BODY_LEN)
    );
    Mock::given(method("GET"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_string(huge))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_page(&server, None, page(&["a"], None)).await;

    let (event, frames, _) = run_poller(config(&server), RestartPolicy::Never).await;

    assert_eq!(event, SupervisorEvent::CleanShutdown);
    assert_eq!(frames.len(), 2);
    // One byte past the maximum, no more: the decoder reports it as too large.
    assert_eq!(frames[0].bytes.len(), MAX_BODY_LEN + 1);
    assert_eq!(
        OpticalPage::decode(&frames[0].bytes).unwrap_err().code(),
        "body_too_large"
    );
    assert_eq!(ids(&frames[1]), ["a"]);
}

#[tokio::test]
async fn a_permanent_error_fails_the_source_and_the_supervisor_escalates() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;

    let (event, frames, _) = run_poller(config(&server), RestartPolicy::Never).await;

    match event {
        SupervisorEvent::BudgetExhausted {
            operator,
            last_error,
            ..
        } => {
            assert_eq!(operator, "optical");
            assert!(last_error.contains("404"), "{last_error}");
        }
        other => panic!("expected BudgetExhausted, got {other:?}"),
    }
    assert!(frames.is_empty());
    // Permanent: asked once, not retried.
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}
