#![cfg(feature = "http")]
//! Throttling over HTTP (`POST` and `DELETE /operators/{name}/throttle`: answers, validation,
//! refusals, the audit hook and the event bus; once over a real socket on loopback) and stalls
//! as `/health` and `/operators` report them.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{collect, send_all, store};
use http_body_util::BodyExt;
use sda_orchestrator::events::{EventKind, Received};
use sda_orchestrator::http::{ControlPlane, ControlRecord, app, serve};
use sda_orchestrator::{
    BuiltGraph, OperatorContext, OperatorGraph, RestartPolicy, SourceContext, SupervisorEvent,
    SupervisorPolicy,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const TOKEN: &str = "test-token";

/// A graph that is built and not run: `ticks` -> `collect`.
fn idle_graph() -> BuiltGraph {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "ticks",
        RestartPolicy::default(),
        |ctx: SourceContext<u64>| async move {
            ctx.shutdown.cancelled().await;
            Ok(())
        },
    );
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &k);
    graph.build().unwrap()
}

/// Sends `method uri` with `body` (and the token, when given); returns the status and the
/// JSON answer.
async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, json)
}

#[tokio::test]
async fn throttle_and_unthrottle_answer_the_new_limit_and_operators_lists_it() {
    let built = idle_graph();
    let controls = built.controls();
    let mut events = built.monitor().events().subscribe();
    let router = app(ControlPlane::for_graph(&built).with_token(TOKEN));
    let throttle = "/operators/ticks/throttle";

    let answer = call(
        &router,
        Method::POST,
        throttle,
        Some(TOKEN),
        r#"{"per_second": 500, "burst": 1000}"#,
    )
    .await;
    assert_eq!(
        answer,
        (
            StatusCode::OK,
            json!({
                "operator": "ticks",
                "paused": false,
                "throttle": {"per_second": 500, "burst": 1000},
                "state": "pending",
                "changed": true
            })
        )
    );
    assert_eq!(
        controls
            .throttled("ticks")
            .unwrap()
            .map(|l| (l.per_second, l.burst)),
        Some((500, 1000))
    );
    let (status, again) = call(
        &router,
        Method::POST,
        throttle,
        Some(TOKEN),
        r#"{"per_second": 500, "burst": 1000}"#,
    )
    .await;
    assert_eq!((status, &again["changed"]), (StatusCode::OK, &json!(false)));
    // Without a burst, the burst is the rate.
    let (_, other) = call(
        &router,
        Method::POST,
        throttle,
        Some(TOKEN),
        r#"{"per_second": 20}"#,
    )
    .await;
    assert_eq!(other["throttle"], json!({"per_second": 20, "burst": 20}));

    let (_, operators) = call(&router, Method::GET, "/operators", None, "").await;
    let ticks = &operators["operators"][0];
    assert_eq!(ticks["throttle"], json!({"per_second": 20, "burst": 20}));
    assert_eq!(ticks["throttled_seconds"], 0.0);
    assert_eq!(ticks["paused"], false);
    assert_eq!(operators["operators"][1]["throttle"], Value::Null);

    // Pause and throttle are independent and both shown.
    call(
        &router,
        Method::POST,
        "/operators/ticks/pause",
        Some(TOKEN),
        "",
    )
    .await;
    let (_, paused) = call(&router, Method::GET, "/operators", None, "").await;
    assert_eq!(paused["operators"][0]["paused"], true);
    assert_eq!(paused["operators"][0]["throttle"]["per_second"], 20);

    let (status, lifted) = call(&router, Method::DELETE, throttle, Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&lifted["throttle"], &lifted["changed"]),
        (&Value::Null, &json!(true))
    );
    assert_eq!(lifted["paused"], true);
    let (_, lifted) = call(&router, Method::DELETE, throttle, Some(TOKEN), "").await;
    assert_eq!(lifted["changed"], false);
    assert_eq!(controls.throttled("ticks"), Ok(None));

    let mut kinds = Vec::new();
    while let Some(Received::Event(event)) = events.try_recv() {
        kinds.push((event.event, event.reason.clone()));
    }
    assert_eq!(
        kinds,
        [
            (
                EventKind::Throttled,
                "throttled to 500/s, burst 1000 by a control action".to_owned()
            ),
            (
                EventKind::Throttled,
                "throttled to 20/s, burst 20 by a control action".to_owned()
            ),
            (EventKind::Paused, "paused by a control action".to_owned()),
            (
                EventKind::Unthrottled,
                "unthrottled by a control action".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn a_bad_body_is_400_a_non_source_409_an_unknown_operator_404_and_every_one_is_audited() {
    let built = idle_graph();
    let records: Arc<Mutex<Vec<ControlRecord>>> = Arc::default();
    let kept = Arc::clone(&records);
    let router = app(ControlPlane::for_graph(&built)
        .with_token(TOKEN)
        .with_audit(move |record| kept.lock().unwrap().push(record.clone())));
    let throttle = "/operators/ticks/throttle";
    for body in [
        "",
        "not json",
        "{}",
        r#"{"per_second": 0}"#,
        r#"{"per_second": -5}"#,
        r#"{"per_second": 1.5}"#,
        r#"{"per_second": 1000000001}"#,
        r#"{"per_second": 10, "burst": 0}"#,
        r#"{"per_second": 10, "brust": 5}"#,
    ] {
        let (status, answer) = call(&router, Method::POST, throttle, Some(TOKEN), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
    }
    let good = r#"{"per_second": 10}"#;
    let refused = [
        (
            Method::POST,
            "/operators/collect/throttle",
            Some(TOKEN),
            StatusCode::CONFLICT,
        ),
        (
            Method::DELETE,
            "/operators/collect/throttle",
            Some(TOKEN),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/operators/nope/throttle",
            Some(TOKEN),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/operators/nope/throttle",
            Some(TOKEN),
            StatusCode::NOT_FOUND,
        ),
        (Method::POST, throttle, None, StatusCode::UNAUTHORIZED),
        (
            Method::DELETE,
            throttle,
            Some("wrong"),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::PUT,
            throttle,
            Some(TOKEN),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    for (method, uri, token, expected) in refused {
        let (status, answer) = call(&router, method.clone(), uri, token, good).await;
        assert_eq!(status, expected, "{method} {uri}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    assert_eq!(
        built.controls().throttled("ticks"),
        Ok(None),
        "nothing was set"
    );

    let records = records.lock().unwrap().clone();
    let summary: Vec<(&str, &str, &str, u16)> = records
        .iter()
        .map(|r| {
            (
                r.action.as_str(),
                r.operator.as_str(),
                r.outcome.as_str(),
                r.status,
            )
        })
        .collect();
    let mut expected = vec![("throttle", "ticks", "bad_request", 400); 9];
    expected.extend([
        ("throttle", "collect", "not_a_source", 409),
        ("unthrottle", "collect", "not_a_source", 409),
        ("throttle", "nope", "unknown_operator", 404),
        ("unthrottle", "nope", "unknown_operator", 404),
        ("throttle", "ticks", "unauthenticated", 401),
        ("unthrottle", "ticks", "forbidden", 403),
    ]);
    assert_eq!(
        summary, expected,
        "every attempt but the wrong method is recorded"
    );
    assert!(
        records[3]
            .reason
            .contains("a throttle needs 1 to 1000000000 items per second")
    );
}

#[tokio::test]
async fn an_oversized_throttle_body_is_413_and_recorded() {
    let built = idle_graph();
    let records: Arc<Mutex<Vec<ControlRecord>>> = Arc::default();
    let kept = Arc::clone(&records);
    let router = app(ControlPlane::for_graph(&built)
        .with_token(TOKEN)
        .with_body_limit(32)
        .with_audit(move |record| kept.lock().unwrap().push(record.clone())));
    let body = format!(r#"{{"per_second": 10, "pad": "{}"}}"#, "x".repeat(64));
    for method in [Method::POST, Method::DELETE] {
        let (status, _) = call(
            &router,
            method,
            "/operators/ticks/throttle",
            Some(TOKEN),
            &body,
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }
    let records = records.lock().unwrap().clone();
    let actions: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.action.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("throttle", "payload_too_large"),
            ("unthrottle", "payload_too_large")
        ]
    );
}

/// One HTTP/1.1 request over a real socket, with a bounded wait for the whole answer.
fn over_socket(address: std::net::SocketAddr, method: &str, path: &str, body: &str) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[tokio::test]
async fn throttling_works_over_a_socket_on_loopback() {
    let built = idle_graph();
    let controls = built.controls();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let server = tokio::spawn(serve(
        listener,
        ControlPlane::for_graph(&built).with_token(TOKEN),
        async move { stopped.cancelled().await },
    ));

    let set = tokio::task::spawn_blocking(move || {
        over_socket(
            address,
            "POST",
            "/operators/ticks/throttle",
            r#"{"per_second":500,"burst":1000}"#,
        )
    })
    .await
    .unwrap();
    assert!(set.starts_with("HTTP/1.1 200 OK"), "{set}");
    assert!(
        set.contains(r#""throttle":{"per_second":500,"burst":1000}"#),
        "{set}"
    );
    assert!(controls.throttled("ticks").unwrap().is_some());
    let lifted = tokio::task::spawn_blocking(move || {
        over_socket(address, "DELETE", "/operators/ticks/throttle", "")
    })
    .await
    .unwrap();
    assert!(lifted.starts_with("HTTP/1.1 200 OK"), "{lifted}");
    assert!(lifted.contains(r#""throttle":null"#), "{lifted}");
    assert_eq!(controls.throttled("ticks"), Ok(None));

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_stalled_operator_degrades_health_which_names_it() {
    let release = CancellationToken::new();
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "numbers",
        RestartPolicy::default(),
        send_all((0..10_u64).collect()),
    );
    let opened = release.clone();
    let stuck = graph.add_operator(
        "stuck",
        RestartPolicy::default(),
        move |mut ctx: OperatorContext<u64, u64>| {
            let opened = opened.clone();
            async move {
                opened.cancelled().await;
                while let Some(n) = ctx.input.recv().await {
                    ctx.output.send(n).await?;
                }
                Ok(())
            }
        },
    );
    let k = graph.add_sink("out", RestartPolicy::Never, collect(store()));
    graph
        .connect(&s, &stuck)
        .connect(&stuck, &k)
        .stall_after(&stuck, Duration::from_secs(2));
    let built = graph.build().unwrap();
    let monitor = built.monitor();
    let mut events = monitor.events().subscribe();
    let router = app(ControlPlane::for_graph(&built));
    let running = tokio::spawn(built.run(SupervisorPolicy::default()));
    loop {
        match events.recv().await {
            Some(Received::Event(e)) if e.event == EventKind::Stalled => break,
            Some(_) => {}
            None => panic!("no stall reported"),
        }
    }

    let (status, health) = call(&router, Method::GET, "/health", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["stalled"], json!(["stuck"]));
    assert_eq!(health["operators"]["stuck"], "stalled");
    let (_, operators) = call(&router, Method::GET, "/operators", None, "").await;
    assert_eq!(operators["operators"][1]["state"], "stalled");
    assert_eq!(operators["operators"][1]["stalled"], true);

    release.cancel();
    assert_eq!(running.await.unwrap(), SupervisorEvent::CleanShutdown);
    let (_, health) = call(&router, Method::GET, "/health", None, "").await;
    assert_eq!(
        (&health["status"], &health["stalled"]),
        (&json!("stopped"), &json!([]))
    );
}
