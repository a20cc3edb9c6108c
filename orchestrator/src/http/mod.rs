//! The HTTP control plane (feature `http`): health, Prometheus metrics, topology, operator
//! state, and pause/resume of sources, as an axum [`Router`] any pipeline can serve.
//!
//! Build a [`ControlPlane`] over a graph, then serve [`app`] (or call [`serve`]).
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /health` | `{"status": ..., "operators": {name: state}}` (see below) |
//! | `GET /metrics` | the Prometheus text format (`text/plain; version=0.0.4`); 404 without a Prometheus handle |
//! | `GET /topology` | the graph's [`Topology`](crate::graph::Topology) as JSON; `?format=mermaid` as a Mermaid flowchart (`text/plain`); any other format is a 400 |
//! | `GET /operators` | `{"operators": [...]}`: each operator's [`OperatorSnapshot`](crate::monitor::OperatorSnapshot) (state, restarts, uptime, counts, last error, paused) |
//! | `POST /operators/{name}/pause` | pauses a source (see [`GraphControls`](crate::control::GraphControls)); token required |
//! | `POST /operators/{name}/resume` | resumes it; token required |
//! | `GET /{view}` | a JSON view the application added with [`ControlPlane::with_view`] |
//!
//! # Health
//!
//! `status` is `ok` (200) while every operator runs, `degraded` (200) while one waits out a
//! restart backoff or a source is paused, `failed` (503) once an operator panicked, spent its
//! restart budget or was aborted (the supervisor escalates: the graph is going down), and
//! `stopped` (503) once every operator has finished. Each operator's state is one of
//! [`OperatorState`](crate::monitor::OperatorState)'s names.
//!
//! # Changing state
//!
//! Pause and resume require `Authorization: Bearer <token>` with the token given to
//! [`ControlPlane::with_token`]: no token configured → 403 (the endpoints are disabled); a
//! missing or malformed header → 401 with `WWW-Authenticate: Bearer`; a wrong token → 403.
//! Tokens are compared in constant time. Then an unknown operator → 404, an operator or sink
//! → 409, and success → 200 with `{"operator", "paused", "state", "changed"}`; pausing twice
//! is accepted and changes nothing.
//!
//! Every attempt, accepted or refused, is one `tracing` event with target
//! `sda_orchestrator::control` and fields `event` (`pause` or `resume`), `operator`,
//! `outcome` (`accepted`, `disabled`, `unauthenticated`, `forbidden`, `bad_request`,
//! `unknown_operator` or `not_a_source`), `actor` (the client's address when served with
//! [`serve`], else `unknown`, followed by the `X-Actor` header's value in parentheses when
//! given) and `changed`. The event's own timestamp is the time of the action. A request
//! whose declared `Content-Length` is over the body limit is refused (413) before it reaches
//! the handler, so it is not a control attempt and is not recorded.
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

mod auth;
mod control;
mod error;
mod health;
mod operators;
mod prometheus;
mod request_metrics;
mod serve;
mod state;
mod topology;
mod view;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;

pub use serve::{ServeLimits, ServeReport, serve, serve_with};
pub use state::{ControlPlane, DEFAULT_BODY_LIMIT};
pub use view::ViewError;

/// The control plane's routes over `state`, with the body limit, JSON errors and request
/// metrics applied to every route (see the [module documentation](self)).
///
/// Serve it with [`serve`] (which records each client's address for the control events), or
/// with `axum::serve` directly; in tests, call it with `tower::ServiceExt::oneshot`.
pub fn app(state: ControlPlane) -> Router {
    let limit = state.body_limit;
    let mut router = Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(prometheus::metrics))
        .route("/topology", get(topology::topology))
        .route("/operators", get(operators::operators))
        .route("/operators/{name}/pause", post(control::pause))
        .route("/operators/{name}/resume", post(control::resume));
    for (name, handler) in state.views.iter() {
        router = router.route(&format!("/{name}"), view::route(handler.clone()));
    }
    router
        .fallback(error::not_found)
        // Innermost first: the limit refuses large bodies, the error layer turns every error
        // (the limit's included) into JSON, and the metrics layer sees the final status.
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(from_fn_with_state(limit, error::json_errors))
        .layer(from_fn(request_metrics::record))
        .with_state(state)
}
