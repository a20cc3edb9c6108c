#![cfg(feature = "http")]
//! The HTTP control plane, exercised at its public API with `tower::ServiceExt::oneshot` (and
//! once over a real socket): every endpoint, the token checks, the body limit, JSON errors,
//! request metrics, control events, and pause/resume of a running graph.

mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use common::{collect, pass_through, send_all, store, taken};
use http_body_util::BodyExt;
use metrics_exporter_prometheus::PrometheusBuilder;
use sda_orchestrator::http::{ControlPlane, ControlRecord, DEFAULT_BODY_LIMIT, app, serve};
use sda_orchestrator::{
    BuiltGraph, OperatorContext, OperatorGraph, RestartPolicy, SourceContext, SupervisorEvent,
    SupervisorPolicy,
};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "test-token";

/// `ticks` (a source that counts up every 10 ms until shutdown) -> `pass` -> `collect`.
fn ticking_graph(sent: Arc<AtomicU64>, out: Arc<Mutex<Vec<u64>>>) -> BuiltGraph {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "ticks",
        RestartPolicy::default(),
        move |mut ctx: SourceContext<u64>| {
            let sent = Arc::clone(&sent);
            async move {
                let mut ticker = tokio::time::interval(Duration::from_millis(10));
                loop {
                    tokio::select! {
                        biased;
                        () = ctx.shutdown.cancelled() => return Ok(()),
                        _ = ticker.tick() => {}
                    }
                    ctx.output.send(sent.load(Ordering::SeqCst)).await?;
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            }
        },
    );
    let p = graph.add_operator("pass", RestartPolicy::default(), pass_through::<u64>());
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(out));
    graph.connect(&s, &p).connect(&p, &k);
    graph.build().unwrap()
}

/// A graph that is built and not run: `ticks` -> `pass` -> `collect`.
fn idle_graph() -> BuiltGraph {
    ticking_graph(Arc::new(AtomicU64::new(0)), store())
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .map_or("", |v| v.to_str().unwrap())
    }

    /// Asserts a JSON error answer with `status` and returns its message.
    fn error(&self, status: StatusCode) -> String {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(self.content_type().starts_with("application/json"));
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

async fn call(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(router: &Router, uri: &str) -> Answer {
    call(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(router: &Router, uri: &str, token: Option<&str>) -> Answer {
    let mut request = Request::post(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    call(router, request.body(Body::empty()).unwrap()).await
}

thread_local! {
    /// Where this thread's events go, when a test captures them.
    static CAPTURE: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
}

/// Writes to the current thread's capture buffer, if any.
struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(buffer) = capture.borrow().as_ref() {
                buffer.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The events logged on this test's thread (the tests run on current-thread runtimes, so
/// their handlers log on it too).
///
/// One global JSON subscriber serves the whole binary: a thread-scoped subscriber
/// (`set_default`) is not enough here, because tracing caches each call site's interest
/// globally, and other tests hitting the same call sites on threads without a subscriber can
/// leave it disabled.
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn start() -> Self {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_writer(|| ThreadWriter)
                .with_max_level(tracing::Level::INFO)
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
        });
        let buffer = Arc::new(Mutex::new(Vec::new()));
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(Arc::clone(&buffer)));
        Captured(buffer)
    }

    /// The control events captured so far.
    fn control_events(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|event| event["target"] == "sda_orchestrator::control")
            .collect()
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        CAPTURE.with(|capture| *capture.borrow_mut() = None);
    }
}

#[tokio::test]
async fn health_reports_each_operator_and_degrades_while_a_source_is_paused() {
    let built = idle_graph();
    let router = app(ControlPlane::for_graph(&built));

    let answer = get(&router, "/health").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.content_type().starts_with("application/json"));
    assert_eq!(
        answer.json(),
        json!({
            "status": "ok",
            "operators": {"ticks": "pending", "pass": "pending", "collect": "pending"},
            "stalled": []
        })
    );

    built.controls().pause("ticks").unwrap();
    let answer = get(&router, "/health").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["status"], "degraded");
    assert_eq!(answer.json()["operators"]["ticks"], "paused");
}

#[tokio::test(start_paused = true)]
async fn health_is_503_once_the_supervisor_has_escalated() {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all(vec![1u8, 2, 3]),
    );
    let boom = graph.add_operator(
        "boom",
        RestartPolicy::default(),
        |mut ctx: OperatorContext<u8, u8>| async move {
            if ctx.input.recv().await.is_some() {
                panic!("boom");
            }
            Ok(())
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &boom).connect(&boom, &k);
    let built = graph.build().unwrap();
    let router = app(ControlPlane::for_graph(&built));
    let outcome = built.run(SupervisorPolicy::default()).await;
    assert_eq!(outcome.operator(), Some("boom"));

    let answer = get(&router, "/health").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.json()["status"], "failed");
    assert_eq!(answer.json()["operators"]["boom"], "failed");

    let answer = get(&router, "/operators").await;
    let boom = &answer.json()["operators"][1];
    assert_eq!(boom["name"], "boom");
    assert_eq!(boom["last_error"], "boom", "the panic message is kept");
}

#[tokio::test(start_paused = true)]
async fn health_is_503_stopped_once_every_operator_has_finished() {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source("numbers", RestartPolicy::default(), send_all(vec![1u8]));
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &k);
    let built = graph.build().unwrap();
    let router = app(ControlPlane::for_graph(&built));
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());

    let answer = get(&router, "/health").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.json()["status"], "stopped");
}

#[tokio::test(start_paused = true)]
async fn metrics_are_prometheus_text_with_help_and_route_labels() {
    // A recorder of this test's own, current on this (single) test thread only.
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);

    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..100u32).collect()),
    );
    let starts = Arc::new(AtomicU64::new(0));
    let flaky = graph.add_operator(
        "flaky",
        RestartPolicy::bounded(3, Duration::from_secs(60)),
        move |mut ctx: OperatorContext<u32, u32>| {
            let first = starts.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    anyhow::bail!("first start fails");
                }
                while let Some(n) = ctx.input.recv().await {
                    ctx.output.send(n).await?;
                }
                Ok(())
            }
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &flaky).connect(&flaky, &k);
    let built = graph.build().unwrap();
    let router = app(ControlPlane::for_graph(&built)
        .with_prometheus(handle)
        .with_token(TOKEN));
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());

    assert_eq!(
        get(&router, "/health").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        get(&router, "/no/such/thing").await.status,
        StatusCode::NOT_FOUND
    );
    let secret_name = "a-name-that-must-not-become-a-label";
    let answer = post(
        &router,
        &format!("/operators/{secret_name}/pause"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);

    let answer = get(&router, "/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .content_type()
            .starts_with("text/plain; version=0.0.4"),
        "{}",
        answer.content_type()
    );
    let text = answer.text();
    for expected in [
        "operator_restart_total{operator=\"flaky\"} 1",
        "operator_restart_total{operator=\"numbers\"} 0",
        "operator_uptime_seconds{operator=\"flaky\"} 0",
        "operator_received_total{operator=\"collect\"} 100",
        "edge_queue_depth{edge=\"numbers->flaky\"} 0",
        "edge_capacity{edge=\"flaky->collect\"} 1024",
        "edge_send_blocked_seconds_total{edge=\"numbers->flaky\"} 0",
        "http_requests_total{method=\"GET\",route=\"/health\",status=\"503\"} 1",
        "http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "http_requests_total{method=\"POST\",route=\"/operators/{name}/pause\",status=\"404\"} 1",
        "http_request_duration_seconds_count{method=\"GET\",route=\"/health\"} 1",
        "# HELP operator_restart_total ",
        "# HELP operator_uptime_seconds ",
        "# HELP edge_queue_depth ",
        "# HELP edge_capacity ",
        "# HELP edge_send_blocked_seconds_total ",
        "# HELP http_requests_total ",
        "# HELP http_request_duration_seconds ",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert!(
        !text.contains(secret_name),
        "a raw path became a label:\n{text}"
    );
    // Every metric that has samples has its HELP line (what `promtool check metrics` wants).
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}:\n{text}"
        );
    }
}

#[tokio::test]
async fn metrics_without_a_prometheus_handle_is_a_json_404() {
    let router = app(ControlPlane::for_graph(&idle_graph()));
    let message = get(&router, "/metrics").await.error(StatusCode::NOT_FOUND);
    assert!(message.contains("no Prometheus recorder"), "{message}");
}

#[tokio::test]
async fn topology_is_json_or_mermaid_and_a_bad_format_is_400() {
    let built = idle_graph();
    let router = app(ControlPlane::for_graph(&built));

    let answer = get(&router, "/topology").await;
    assert_eq!(answer.status, StatusCode::OK);
    let topology = answer.json();
    assert_eq!(topology, serde_json::to_value(built.topology()).unwrap());
    assert_eq!(topology["vertices"][0]["name"], "ticks");
    assert_eq!(topology["vertices"][0]["role"], "source");
    assert_eq!(topology["edges"][1]["from"], "pass");
    assert_eq!(topology["edges"][1]["to"], "collect");
    assert_eq!(get(&router, "/topology?format=json").await.json(), topology);

    let answer = get(&router, "/topology?format=mermaid").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.content_type().starts_with("text/plain"));
    assert_eq!(answer.text(), built.topology().to_mermaid());
    assert!(answer.text().starts_with("flowchart LR"));

    let message = get(&router, "/topology?format=dot")
        .await
        .error(StatusCode::BAD_REQUEST);
    assert_eq!(
        message,
        "unknown format `dot`: expected one of json, mermaid"
    );
}

#[tokio::test(start_paused = true)]
async fn operators_lists_state_restarts_uptime_counts_and_last_error() {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..10u32).collect()),
    );
    let starts = Arc::new(AtomicU64::new(0));
    let flaky = graph.add_operator(
        "flaky",
        RestartPolicy::bounded(3, Duration::from_secs(60)),
        move |mut ctx: OperatorContext<u32, u32>| {
            let first = starts.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    anyhow::bail!("first start fails");
                }
                while let Some(n) = ctx.input.recv().await {
                    ctx.output.send(n).await?;
                }
                Ok(())
            }
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &flaky).connect(&flaky, &k);
    let built = graph.build().unwrap();
    let router = app(ControlPlane::for_graph(&built));
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());

    let answer = get(&router, "/operators").await;
    assert_eq!(answer.status, StatusCode::OK);
    let operators = answer.json()["operators"].as_array().unwrap().clone();
    assert_eq!(operators.len(), 3);
    let flaky = &operators[1];
    assert_eq!(flaky["name"], "flaky");
    assert_eq!(flaky["role"], "operator");
    assert_eq!(flaky["state"], "finished");
    assert_eq!(flaky["restarts"], 1);
    assert_eq!(flaky["uptime_seconds"], 0.0);
    assert_eq!(flaky["received"], 10);
    assert_eq!(flaky["sent"], 10);
    assert_eq!(flaky["paused"], false);
    assert_eq!(flaky["last_error"], "first start fails");
    assert_eq!(operators[0]["last_error"], Value::Null);
}

#[tokio::test]
async fn pause_and_resume_answer_the_new_state() {
    let built = idle_graph();
    let controls = built.controls();
    let router = app(ControlPlane::for_graph(&built).with_token(TOKEN));

    let answer = post(&router, "/operators/ticks/pause", Some(TOKEN)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json(),
        json!({"operator": "ticks", "paused": true, "throttle": null, "state": "paused", "changed": true})
    );
    assert_eq!(controls.is_paused("ticks"), Ok(true));

    let answer = post(&router, "/operators/ticks/pause", Some(TOKEN)).await;
    assert_eq!(answer.status, StatusCode::OK, "pausing is idempotent");
    assert_eq!(answer.json()["changed"], false);

    let answer = get(&router, "/operators").await;
    assert_eq!(answer.json()["operators"][0]["paused"], true);

    let answer = post(&router, "/operators/ticks/resume", Some(TOKEN)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json(),
        json!({"operator": "ticks", "paused": false, "throttle": null, "state": "pending", "changed": true})
    );
    assert_eq!(controls.is_paused("ticks"), Ok(false));
}

#[tokio::test]
async fn a_missing_or_malformed_token_is_401_with_www_authenticate() {
    let built = idle_graph();
    let router = app(ControlPlane::for_graph(&built).with_token(TOKEN));

    let answer = post(&router, "/operators/ticks/pause", None).await;
    answer.error(StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");

    let request = Request::post("/operators/ticks/pause")
        .header(header::AUTHORIZATION, format!("Basic {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let answer = call(&router, request).await;
    answer.error(StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(built.controls().is_paused("ticks"), Ok(false));
}

#[tokio::test]
async fn a_wrong_token_is_403() {
    let built = idle_graph();
    let router = app(ControlPlane::for_graph(&built).with_token(TOKEN));
    let message = post(&router, "/operators/ticks/pause", Some("not-the-token"))
        .await
        .error(StatusCode::FORBIDDEN);
    assert_eq!(message, "invalid token");
    // A wrong token learns nothing about which operators exist.
    post(&router, "/operators/nope/pause", Some("not-the-token"))
        .await
        .error(StatusCode::FORBIDDEN);
    assert_eq!(built.controls().is_paused("ticks"), Ok(false));
}

#[tokio::test]
async fn without_a_configured_token_control_is_disabled_with_403() {
    let built = idle_graph();
    for plane in [
        ControlPlane::for_graph(&built),
        ControlPlane::for_graph(&built).with_token(""),
    ] {
        assert!(!plane.mutations_enabled());
        let router = app(plane);
        let message = post(&router, "/operators/ticks/resume", Some(TOKEN))
            .await
            .error(StatusCode::FORBIDDEN);
        assert!(message.contains("disabled"), "{message}");
    }
}

#[tokio::test]
async fn an_unknown_operator_is_404_and_a_non_source_is_409() {
    let built = idle_graph();
    let router = app(ControlPlane::for_graph(&built).with_token(TOKEN));

    let message = post(&router, "/operators/nope/pause", Some(TOKEN))
        .await
        .error(StatusCode::NOT_FOUND);
    assert_eq!(message, "no operator named `nope`");

    let message = post(&router, "/operators/collect/pause", Some(TOKEN))
        .await
        .error(StatusCode::CONFLICT);
    assert!(message.contains("sink, not a source"), "{message}");
    let message = post(&router, "/operators/pass/resume", Some(TOKEN))
        .await
        .error(StatusCode::CONFLICT);
    assert!(message.contains("operator, not a source"), "{message}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_on_every_route() {
    let built = idle_graph();
    let router = app(ControlPlane::for_graph(&built).with_token(TOKEN));
    let big = vec![b'x'; DEFAULT_BODY_LIMIT + 1];

    // Declared too large: refused before any handler runs.
    let request = Request::get("/health")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big.clone()))
        .unwrap();
    let message = call(&router, request)
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        message,
        format!("request body is larger than the limit of {DEFAULT_BODY_LIMIT} bytes")
    );

    // Streamed without a length: refused when read, and the source is not paused.
    let chunks = futures::stream::iter(
        big.chunks(1024)
            .map(|c| Ok::<_, std::io::Error>(axum::body::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let request = Request::post("/operators/ticks/pause")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from_stream(chunks))
        .unwrap();
    call(&router, request)
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(built.controls().is_paused("ticks"), Ok(false));

    // A smaller limit applies as configured; a body within it is fine.
    let router = app(ControlPlane::for_graph(&built).with_body_limit(8));
    let request = Request::get("/health")
        .body(Body::from("12345678"))
        .unwrap();
    assert_eq!(call(&router, request).await.status, StatusCode::OK);
    let request = Request::get("/health")
        .header(header::CONTENT_LENGTH, 9)
        .body(Body::from("123456789"))
        .unwrap();
    call(&router, request)
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn every_error_is_json() {
    let router = app(ControlPlane::for_graph(&idle_graph()));
    let message = get(&router, "/no/such/route")
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.contains("no such endpoint"), "{message}");
    let answer = post(&router, "/health", None).await;
    let message = answer.error(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(message, "method not allowed");
    assert!(answer.headers.contains_key(header::ALLOW));
    let answer = get(&router, "/operators/ticks/pause").await;
    answer.error(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_control_attempt_is_one_warning_and_one_audit_record_naming_the_actor() {
    let captured = Captured::start();
    let built = idle_graph();
    let client: SocketAddr = "192.0.2.7:41000".parse().unwrap();
    let audited: Arc<Mutex<Vec<ControlRecord>>> = Arc::default();
    let kept = Arc::clone(&audited);
    let plane = ControlPlane::for_graph(&built)
        .with_token(TOKEN)
        .with_body_limit(64)
        .with_audit(move |record| kept.lock().unwrap().push(record.clone()));
    let router = app(plane).layer(MockConnectInfo(client));

    // A claimed name that tries to forge a field and a line, and is too long.
    let request = Request::post("/operators/ticks/pause")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(
            "x-actor",
            format!("alice\" outcome=accepted\tops{}", "x".repeat(100)),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&router, request).await.status, StatusCode::OK);
    assert_eq!(
        post(&router, "/operators/ticks/resume", Some("wrong"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&router, "/operators/ticks/resume", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&router, "/operators/collect/resume", Some(TOKEN))
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        post(&router, "/operators/nope/pause", Some(TOKEN))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // A body over the limit is refused before the handler, and still recorded.
    let oversized = Request::post("/operators/ticks/resume")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_LENGTH, "100")
        .body(Body::from(vec![b'x'; 100]))
        .unwrap();
    assert_eq!(
        call(&router, oversized).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Reads are not control attempts.
    get(&router, "/operators").await;

    let expected = [
        ("pause", "ticks", "accepted", 200),
        ("resume", "ticks", "forbidden", 403),
        ("resume", "ticks", "unauthenticated", 401),
        ("resume", "collect", "not_a_source", 409),
        ("pause", "nope", "unknown_operator", 404),
        ("resume", "ticks", "payload_too_large", 413),
    ];
    let events = captured.control_events();
    let summary: Vec<(String, String, String, u64)> = events
        .iter()
        .map(|e| {
            let f = &e["fields"];
            (
                f["event"].as_str().unwrap().to_owned(),
                f["operator"].as_str().unwrap().to_owned(),
                f["outcome"].as_str().unwrap().to_owned(),
                f["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let owned = |list: &[(&str, &str, &str, u64)]| {
        list.iter()
            .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), *d))
            .collect::<Vec<_>>()
    };
    assert_eq!(summary, owned(&expected));
    // The claimed name is cut to 64 characters and every character that could forge a field
    // (quote, space, `=`, tab) is escaped.
    let claimed = format!(
        "alice\\x22\\x20outcome\\x3daccepted\\x09ops{}",
        "x".repeat(64 - 27)
    );
    assert_eq!(
        events[0]["fields"]["actor"],
        format!("192.0.2.7:41000 ({claimed})")
    );
    assert!(events.iter().all(|e| e["level"] == "WARN"));
    assert_eq!(events[1]["fields"]["actor"], "192.0.2.7:41000");
    assert!(events.iter().all(|e| e["timestamp"].is_string()));

    let records = audited.lock().unwrap().clone();
    let summary: Vec<(String, String, String, u64)> = records
        .iter()
        .map(|r| {
            (
                r.action.clone(),
                r.operator.clone(),
                r.outcome.clone(),
                u64::from(r.status),
            )
        })
        .collect();
    assert_eq!(summary, owned(&expected));
    assert_eq!(records[0].peer, "192.0.2.7:41000");
    assert_eq!(records[0].actor.as_deref(), Some(claimed.as_str()));
    assert!(records[0].changed);
    assert_eq!(records[1].actor, None);
    assert!(
        records
            .iter()
            .all(|r| r.time_unix_ms > 0 && !r.reason.is_empty())
    );
}

#[tokio::test]
async fn serve_answers_over_a_socket_records_the_peer_and_shuts_down() {
    let captured = Captured::start();
    let built = idle_graph();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let plane = ControlPlane::for_graph(&built).with_token(TOKEN);
    let server = tokio::spawn(serve(listener, plane, async move {
        let _ = stopped.await;
    }));

    // A plain blocking client on its own thread, while the server runs on the test's runtime.
    let (client, response) = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        let client = stream.local_addr().unwrap();
        let request = format!(
            "POST /operators/ticks/pause HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        (client, response)
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("\"paused\":true"), "{response}");
    assert_eq!(built.controls().is_paused("ticks"), Ok(true));

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let events = captured.control_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["fields"]["actor"], client.to_string());
}

#[tokio::test(start_paused = true)]
async fn pausing_over_http_holds_a_running_source_and_resuming_loses_nothing() {
    let sent = Arc::new(AtomicU64::new(0));
    let out = store();
    let built = ticking_graph(Arc::clone(&sent), out.clone());
    let monitor = built.monitor();
    let stop = built.shutdown_handle();
    let router = app(ControlPlane::for_graph(&built).with_token(TOKEN));
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));

    // Virtual time: the source ticks every 10 ms.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(sent.load(Ordering::SeqCst) > 0);
    let answer = post(&router, "/operators/ticks/pause", Some(TOKEN)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["state"], "paused");

    // The send under way when the pause came is the last; after it, the count stays flat.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let at_pause = sent.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        sent.load(Ordering::SeqCst),
        at_pause,
        "a paused source sends nothing"
    );
    let answer = get(&router, "/operators").await;
    let ticks = &answer.json()["operators"][0];
    assert_eq!(ticks["state"], "paused");
    assert_eq!(ticks["paused"], true);
    assert_eq!(ticks["restarts"], 0, "pausing restarts nothing");
    assert_eq!(ticks["sent"], at_pause);
    assert_eq!(get(&router, "/health").await.json()["status"], "degraded");
    // Everything sent before the pause has drained to the sink.
    assert_eq!(taken(&out).len() as u64, at_pause);
    assert_eq!(monitor.dropped_items(), 0);

    let answer = post(&router, "/operators/ticks/resume", Some(TOKEN)).await;
    assert_eq!(answer.json()["state"], "running");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        sent.load(Ordering::SeqCst) > at_pause,
        "it continues after resume"
    );
    assert_eq!(get(&router, "/health").await.json()["status"], "ok");

    stop.shutdown();
    assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
    let sent = sent.load(Ordering::SeqCst);
    assert_eq!(
        taken(&out),
        (0..sent).collect::<Vec<_>>(),
        "everything sent was received"
    );
    assert_eq!(monitor.total_restarts(), 0);
    assert_eq!(monitor.dropped_items(), 0);
}

#[tokio::test]
async fn edges_lists_every_edge_from_the_monitor() {
    let built = idle_graph();
    let router = app(ControlPlane::for_graph(&built));
    let answer = get(&router, "/edges").await;
    assert_eq!(answer.status, StatusCode::OK);
    let edges = answer.json()["edges"].as_array().unwrap().clone();
    let names: Vec<&str> = edges.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ticks->pass", "pass->collect"]);
    assert_eq!(edges[0]["capacity"], 1024);
    assert_eq!(edges[0]["depth"], 0);
}

#[tokio::test]
async fn a_recent_ring_is_served_newest_first_with_its_parameters_checked() {
    use sda_orchestrator::monitor::RecentRing;

    let built = idle_graph();
    let ring = RecentRing::new(3);
    for (n, reason) in [
        (1, "bad_crc"),
        (2, "truncated"),
        (3, "bad_crc"),
        (4, "bad_crc"),
    ] {
        ring.push(json!({ "n": n, "reason": reason }));
    }
    let router = app(ControlPlane::for_graph(&built)
        .with_recent("dead-letters", ring)
        .unwrap());
    let all = get(&router, "/dead-letters").await.json();
    let ns: Vec<u64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, [4, 3, 2], "newest first, the oldest left the ring");
    assert_eq!(
        (all["held"].as_u64(), all["pushed"].as_u64()),
        (Some(3), Some(4))
    );
    let one = get(&router, "/dead-letters?limit=1&reason=bad_crc")
        .await
        .json();
    assert_eq!(one["items"], json!([{ "n": 4, "reason": "bad_crc" }]));
    let none = get(&router, "/dead-letters?reason=nothing").await.json();
    assert_eq!(none["items"], json!([]));
    for bad in [
        "/dead-letters?limit=0",
        "/dead-letters?limit=1001",
        "/dead-letters?limit=ten",
        "/dead-letters?limit=-1",
        "/dead-letters?reason=",
    ] {
        get(&router, bad).await.error(StatusCode::BAD_REQUEST);
    }
    let long = format!("/dead-letters?reason={}", "r".repeat(129));
    get(&router, &long).await.error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_console_is_one_self_contained_page() {
    let built = idle_graph();
    let router = app(ControlPlane::for_graph(&built));
    let answer = get(&router, "/").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.content_type().starts_with("text/html"));
    let page = answer.text();
    assert!(page.contains("<script>") && page.contains("new EventSource(\"/events?after=0\")"));
    // Nothing is loaded from elsewhere, and the policy says so.
    // The only URL is the SVG namespace, which names and loads nothing.
    let urls = page.replace("\"http://www.w3.org/2000/svg\"", "");
    assert!(
        !urls.contains("http://") && !urls.contains("https://"),
        "no external URL"
    );
    assert!(
        !page.contains("src=\"") && !page.contains("<link"),
        "no external resource"
    );
    let policy = answer.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_the_router_answers() {
    use sda_orchestrator::monitor::RecentRing;

    let built = idle_graph();
    let plane = ControlPlane::for_graph(&built)
        .with_token(TOKEN)
        .with_recent("dead-letters", RecentRing::new(4))
        .unwrap();
    let router = app(plane);
    let document = get(&router, "/openapi.json").await.json();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = document["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            // Every documented operation is routed: not the fallback's 404, not a 405.
            let uri = path.replace("{name}", "ticks");
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            if uri == "/events" {
                continue; // an endless stream; served in tests/http_events.rs
            }
            let answer = call(&router, request).await;
            assert!(
                !(answer.status == StatusCode::METHOD_NOT_ALLOWED
                    || answer.status == StatusCode::NOT_FOUND
                        && answer.text().contains("no such endpoint")),
                "{method} {path} is documented but not routed: {}",
                answer.status
            );
            let documented: Vec<&String> =
                operation["responses"].as_object().unwrap().keys().collect();
            assert!(
                documented.contains(&&answer.status.as_u16().to_string()),
                "{method} {path} answered {} (documented: {documented:?})",
                answer.status
            );
            // Mutations name the bearer scheme.
            if method == "post" || method == "delete" {
                assert_eq!(operation["security"], json!([{ "bearer": [] }]), "{path}");
            }
        }
    }
    assert_eq!(operations, 13, "{:?}", paths.keys().collect::<Vec<_>>());
}
