//! The HTTP control plane (feature `http`): an operations console, health, Prometheus metrics,
//! topology, operator and edge state, a live event stream, an OpenAPI document, and
//! pause/resume and throttling of sources, as an axum [`Router`] any pipeline can serve.
//!
//! Build a [`ControlPlane`] over a graph, then serve [`app`] (or call [`serve`]).
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /` | the operations console: one self-contained page (the graph laid out by topological depth, live state, each edge's fill and event-time watermark lag, the event log, pause/resume) |
//! | `GET /openapi.json` | the OpenAPI 3.1 document of every route below |
//! | `GET /events` | Server-Sent Events: `supervisor` (every supervisor decision and control action, with its id; `Last-Event-ID` resumes), `snapshot` (each operator's state and rates, each edge's fill and event-time watermark with its lag behind the wall clock, every second), `lagged` (events a slow client missed) |
//! | `GET /edges` | `{"edges": [...]}`: each edge's [`EdgeSnapshot`](crate::monitor::EdgeSnapshot) |
//! | `GET /{ring}` | for each ring given to [`ControlPlane::with_recent`] (such as `/dead-letters`): its latest items, `?limit=N` (1 to 1000, default 100) and `?reason=R` |
//! | `GET /health` | `{"status": ..., "operators": {name: state}}` (see below) |
//! | `GET /metrics` | the Prometheus text format (`text/plain; version=0.0.4`); 404 without a Prometheus handle |
//! | `GET /topology` | the graph's [`Topology`](crate::graph::Topology) (with its fingerprint) as JSON; `?format=mermaid` as a Mermaid flowchart (`text/plain`); any other format is a 400 |
//! | `GET /operators` | `{"operators": [...]}`: each operator's [`OperatorSnapshot`](crate::monitor::OperatorSnapshot) (state, restarts, uptime, counts, last error, paused, stalled, throttle) |
//! | `POST /operators/{name}/pause` | pauses a source (see [`GraphControls`](crate::control::GraphControls)); token required |
//! | `POST /operators/{name}/resume` | resumes it; token required |
//! | `POST /operators/{name}/throttle` | limits a source to `{"per_second": N, "burst": M}` (`burst` defaults to N); token required |
//! | `DELETE /operators/{name}/throttle` | lifts the limit; token required |
//! | `GET /{view}` | a JSON view the application added with [`ControlPlane::with_view`] |
//!
//! # Health
//!
//! `status` is `ok` (200) while every operator runs, `degraded` (200) while one waits out a
//! restart backoff, is stalled (named in `stalled`) or a source is paused, `failed` (503) once
//! an operator panicked, spent its
//! restart budget or was aborted (the supervisor escalates: the graph is going down), and
//! `stopped` (503) once every operator has finished. Each operator's state is one of
//! [`OperatorState`](crate::monitor::OperatorState)'s names.
//!
//! # Changing state
//!
//! Pause, resume, throttle and unthrottle require `Authorization: Bearer <token>` with the token
//! given to [`ControlPlane::with_token`]: no token configured → 403 (the endpoints are
//! disabled); a missing or malformed header → 401 with `WWW-Authenticate: Bearer`; a wrong
//! token → 403. Tokens are compared in constant time. Then a throttle body that is not
//! `{"per_second": N, "burst": M}` with N and M from 1 to 1,000,000,000 → 400, an
//! unknown operator → 404, an operator or sink → 409, and success → 200 with `{"operator",
//! "paused", "throttle", "state", "changed"}`; pausing twice, or setting the limit in force,
//! is accepted and changes nothing.
//!
//! Every attempt, accepted or refused (a body over the limit included), is one WARN `tracing`
//! event with target `sda_orchestrator::control` and fields `event` (`pause`, `resume`,
//! `throttle` or `unthrottle`),
//! `operator`, `outcome` (`accepted`, `disabled`, `unauthenticated`, `forbidden`,
//! `bad_request`, `payload_too_large`, `unknown_operator` or `not_a_source`), `actor` (the
//! client's address when served with [`serve`], else `unknown`, followed by the `X-Actor`
//! header's value in parentheses when given), `status`, `changed` and `reason`; and one
//! [`ControlRecord`] handed to the hook of [`ControlPlane::with_audit`]. Text from the client
//! is escaped (see [`ControlRecord`]), so it cannot forge a field or a line. An accepted action
//! that changes something is also published on the graph's event bus (`paused`, `resumed`,
//! `throttled`, `unthrottled`).
//!
//! # Everywhere
//!
//! * Request bodies larger than [`ControlPlane::body_limit`] (default [`DEFAULT_BODY_LIMIT`])
//!   are refused with 413.
//! * Every error is JSON: `{"error": "..."}`.
//! * Every request is counted in `http_requests_total{method,route,status}` and timed in
//!   `http_request_duration_seconds{method,route}`, where `route` is the matched route
//!   template (`/operators/{name}/pause`), or `unmatched`: labels never carry a raw path, an
//!   address or error text.
//!
//! # Examples
//!
//! ```
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use sda_orchestrator::http::{ControlPlane, app};
//! use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mut graph = OperatorGraph::new();
//! let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
//! let out = graph.add_sink("archive", RestartPolicy::Never, |_ctx: SinkContext<u8>| async { Ok(()) });
//! graph.connect(&src, &out);
//! let built = graph.build()?;
//!
//! let router = app(ControlPlane::for_graph(&built).with_token("s3cret"));
//! let request = Request::post("/operators/radar/pause")
//!     .header("authorization", "Bearer s3cret")
//!     .body(Body::empty())?;
//! let response = router.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(built.controls().is_paused("radar"), Ok(true));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod audit;
mod auth;
mod console;
mod control;
mod edges;
mod error;
mod events;
mod health;
mod openapi;
mod operators;
mod prometheus;
mod recent;
mod request_metrics;
mod route_name;
mod serve;
mod state;
mod topology;
mod view;

use axum::Router;
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodRouter, delete, get, post};
use tower_http::limit::RequestBodyLimitLayer;

pub use audit::ControlRecord;
pub use route_name::RouteNameError;
pub use serve::{ServeLimits, ServeReport, serve, serve_with};
pub use state::{ControlPlane, DEFAULT_BODY_LIMIT, DEFAULT_SNAPSHOT_INTERVAL};

/// One route: its path, the methods it answers (as the OpenAPI document lists them), and its
/// handlers.
pub(crate) struct Route {
    pub(crate) path: String,
    /// Read by the test that compares the routes with the document.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) methods: &'static [Method],
    pub(crate) handler: MethodRouter<ControlPlane>,
}

/// Every route of the control plane over `state`: [`app`] routes exactly these, and a test
/// checks that the OpenAPI document lists exactly these.
pub(crate) fn routes(state: &ControlPlane) -> Vec<Route> {
    let route = |path: &str, methods: &'static [Method], handler| Route {
        path: path.to_owned(),
        methods,
        handler,
    };
    let mut routes = vec![
        route("/", &[Method::GET], get(console::console)),
        route("/health", &[Method::GET], get(health::health)),
        route("/metrics", &[Method::GET], get(prometheus::metrics)),
        route("/topology", &[Method::GET], get(topology::topology)),
        route("/operators", &[Method::GET], get(operators::operators)),
        route("/edges", &[Method::GET], get(edges::edges)),
        route("/events", &[Method::GET], get(events::events)),
        route("/openapi.json", &[Method::GET], get(openapi::serve)),
        route(
            "/operators/{name}/pause",
            &[Method::POST],
            post(control::pause),
        ),
        route(
            "/operators/{name}/resume",
            &[Method::POST],
            post(control::resume),
        ),
        route(
            "/operators/{name}/throttle",
            &[Method::POST, Method::DELETE],
            post(control::throttle).merge(delete(control::unthrottle)),
        ),
    ];
    for name in state.recent.keys() {
        routes.push(route(
            &format!("/{name}"),
            &[Method::GET],
            recent::route(name.clone()),
        ));
    }
    for (name, handler) in state.views.iter() {
        routes.push(route(
            &format!("/{name}"),
            &[Method::GET],
            view::route(handler.clone()),
        ));
    }
    routes
}

/// The control plane's routes over `state`, with the body limit, JSON errors and request
/// metrics applied to every route (see the [module documentation](self)).
///
/// Serve it with [`serve`] (which records each client's address for the control events), or
/// with `axum::serve` directly; in tests, call it with `tower::ServiceExt::oneshot`.
pub fn app(state: ControlPlane) -> Router {
    let limit = state.body_limit;
    let mut router = Router::new();
    for route in routes(&state) {
        router = router.route(&route.path, route.handler);
    }
    router
        .fallback(error::not_found)
        // Innermost first: the limit refuses large bodies, the audit layer records a refused
        // control attempt, the error layer turns every error (the limit's included) into JSON,
        // and the metrics layer sees the final status.
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(from_fn_with_state(state.clone(), audit::oversized))
        .layer(from_fn_with_state(limit, error::json_errors))
        .layer(from_fn(request_metrics::record))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::monitor::RecentRing;
    use crate::{OperatorGraph, RestartPolicy, SinkContext};

    fn plane() -> ControlPlane {
        let mut graph = OperatorGraph::new();
        let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
        let out = graph.add_sink("out", RestartPolicy::Never, |_ctx: SinkContext<u8>| async {
            Ok(())
        });
        graph.connect(&src, &out);
        let built = graph.build().unwrap();
        ControlPlane::for_graph(&built)
            .with_recent("dead-letters", RecentRing::new(4))
            .unwrap()
    }

    /// The routes `app` serves and the operations the document lists are the same set: a route
    /// without documentation, or documentation without a route, fails here.
    #[test]
    fn the_document_lists_exactly_the_routes() {
        let plane = plane();
        let routed: BTreeSet<(String, String)> = routes(&plane)
            .iter()
            .flat_map(|r| {
                r.methods
                    .iter()
                    .map(|m| (r.path.clone(), m.as_str().to_lowercase()))
            })
            .collect();
        let document = serde_json::to_value(openapi::document(&plane)).unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "delete", "patch", "head", "options"]
                    .contains(&method.as_str())
                {
                    documented.insert((path.clone(), method.clone()));
                }
            }
        }
        assert_eq!(routed, documented);
        assert!(routed.contains(&("/dead-letters".to_owned(), "get".to_owned())));
        assert_eq!(document["openapi"], "3.1.0");
    }

    /// Every `$ref` of the document names a schema it has.
    #[test]
    fn every_reference_resolves() {
        fn refs(value: &serde_json::Value, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, value) in map {
                        match (key.as_str(), value.as_str()) {
                            ("$ref", Some(target)) => found.push(target.to_owned()),
                            _ => refs(value, found),
                        }
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
                _ => {}
            }
        }
        let document = serde_json::to_value(openapi::document(&plane())).unwrap();
        let mut found = Vec::new();
        refs(&document, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let name = target.strip_prefix("#/components/schemas/").unwrap();
            assert!(
                document["components"]["schemas"][name].is_object(),
                "{target} does not resolve"
            );
        }
    }

    #[test]
    fn reserved_names_are_the_fixed_routes() {
        let plane = plane();
        for route in routes(&plane) {
            let first = route
                .path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("");
            assert!(
                first.is_empty()
                    || first == "dead-letters"
                    || route_name::RESERVED.contains(&first),
                "{first} is not reserved"
            );
        }
    }
}
