//! The control plane's shared state: what the handlers read and the one thing they change.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use super::audit::{AuditHook, ControlRecord};
use crate::BuiltGraph;
use crate::control::GraphControls;
use crate::graph::Topology;
use crate::monitor::{GraphMonitor, RecentRing, describe_metrics};

use super::route_name::{RouteNameError, check_name};
use super::view::View;

/// The request body limit a [`ControlPlane`] applies unless told otherwise: 16 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// How often `GET /events` sends a snapshot unless told otherwise.
pub const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);

/// What the control plane's handlers share: the graph's monitor, topology and controls, the
/// Prometheus handle that renders `/metrics`, the bearer token that guards the endpoints that
/// change state, and the request body limit. Cheap to clone (every field is shared).
///
/// Build one with [`new`](ControlPlane::new) or [`for_graph`](ControlPlane::for_graph), adjust
/// it with the `with_*` methods, and serve [`app`](super::app) over it.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::http::{ControlPlane, app};
/// use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext};
///
/// let mut graph = OperatorGraph::new();
/// let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
/// let out = graph.add_sink("archive", RestartPolicy::Never, |_ctx: SinkContext<u8>| async { Ok(()) });
/// graph.connect(&src, &out);
/// let built = graph.build()?;
///
/// let plane = ControlPlane::for_graph(&built)
///     .with_token("s3cret")
///     .with_body_limit(4096);
/// assert!(plane.mutations_enabled());
/// assert_eq!(plane.body_limit(), 4096);
/// let router: axum::Router = app(plane);
/// # let _ = router;
/// # Ok::<(), sda_orchestrator::BuildError>(())
/// ```
#[derive(Clone)]
pub struct ControlPlane {
    pub(super) monitor: GraphMonitor,
    pub(super) topology: Arc<Topology>,
    pub(super) controls: GraphControls,
    pub(super) prometheus: Option<PrometheusHandle>,
    pub(super) token: Option<Arc<str>>,
    pub(super) body_limit: usize,
    /// The read-only rings served at `/{name}`, by name.
    pub(super) recent: Arc<BTreeMap<String, RecentRing<serde_json::Value>>>,
    /// Called with every control attempt.
    pub(super) audit: Option<AuditHook>,
    /// How often `/events` sends a snapshot.
    pub(super) snapshot_interval: Duration,
    /// Cancelled when the server stops: ends the event streams, so that a stop does not wait
    /// for them.
    pub(super) closing: CancellationToken,
    /// The application's read-only views, by route name.
    pub(super) views: Arc<BTreeMap<String, View>>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: say only whether there is one.
        f.debug_struct("ControlPlane")
            .field("operators", &self.topology.vertices.len())
            .field("prometheus", &self.prometheus.is_some())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("body_limit", &self.body_limit)
            .field("recent", &self.recent.keys().collect::<Vec<_>>())
            .field("audit", &self.audit.is_some())
            .field("snapshot_interval", &self.snapshot_interval)
            .field("views", &self.views.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ControlPlane {
    /// A control plane over one graph's monitor, topology and controls, with no Prometheus
    /// handle (`/metrics` answers 404), no token (pause, resume and throttle answer 403) and a
    /// [`DEFAULT_BODY_LIMIT`].
    ///
    /// It calls [`describe_metrics`] so that the installed recorder has a HELP text for every
    /// metric; install the recorder before building the control plane.
    pub fn new(monitor: GraphMonitor, topology: Topology, controls: GraphControls) -> Self {
        describe_metrics();
        ControlPlane {
            monitor,
            topology: Arc::new(topology),
            controls,
            prometheus: None,
            token: None,
            body_limit: DEFAULT_BODY_LIMIT,
            recent: Arc::new(BTreeMap::new()),
            audit: None,
            snapshot_interval: DEFAULT_SNAPSHOT_INTERVAL,
            closing: CancellationToken::new(),
            views: Arc::default(),
        }
    }

    /// A control plane over `graph`, as [`new`](ControlPlane::new) with the graph's own
    /// monitor, topology and controls. Build it before [`BuiltGraph::run`] consumes the graph.
    pub fn for_graph(graph: &BuiltGraph) -> Self {
        ControlPlane::new(graph.monitor(), graph.topology().clone(), graph.controls())
    }

    /// Serves `/metrics` from `handle` (the handle of the installed Prometheus recorder). Also
    /// calls [`describe_metrics`] again, since the handle implies that the recorder now exists.
    pub fn with_prometheus(mut self, handle: PrometheusHandle) -> Self {
        describe_metrics();
        self.prometheus = Some(handle);
        self
    }

    /// Requires `Authorization: Bearer <token>` on the endpoints that change state (pause,
    /// resume, throttle and unthrottle). An empty token is no token: those endpoints stay disabled.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.token = (!token.is_empty()).then(|| Arc::from(token));
        self
    }

    /// Refuses request bodies larger than `bytes` with `413 Payload Too Large`, on every route.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Serves `ring` read-only at `GET /{name}` (`?limit=N&reason=R`: the `N` latest items,
    /// newest first, whose `reason` or `reason_code` field is `R`); the OpenAPI document lists the route. The
    /// application feeds the ring; sda-ingest serves its dead letters as `dead-letters`.
    ///
    /// # Errors
    ///
    /// [`RouteNameError::InvalidName`] unless `name` is 1 to 64 lowercase letters, digits and
    /// dashes; [`RouteNameError::Taken`] when it is a route already (`health`, `events`, ...) or
    /// another ring's.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::http::{ControlPlane, RouteNameError};
    /// use sda_orchestrator::monitor::RecentRing;
    /// # let mut graph = sda_orchestrator::OperatorGraph::new();
    /// # let src = graph.add_source("radar", Default::default(), |_ctx| async { Ok(()) });
    /// # let out = graph.add_sink("out", Default::default(), |_ctx: sda_orchestrator::SinkContext<u8>| async { Ok(()) });
    /// # graph.connect(&src, &out);
    /// # let built = graph.build()?;
    ///
    /// let letters = RecentRing::new(500);
    /// let plane = ControlPlane::for_graph(&built).with_recent("dead-letters", letters.clone())?;
    /// letters.push(serde_json::json!({"reason": "bad_crc"}));
    /// assert!(matches!(
    ///     ControlPlane::for_graph(&built).with_recent("health", RecentRing::new(1)),
    ///     Err(RouteNameError::Taken(_))
    /// ));
    /// # let _ = plane;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_recent(
        mut self,
        name: &str,
        ring: RecentRing<serde_json::Value>,
    ) -> Result<Self, RouteNameError> {
        check_name(name, self.recent.keys().chain(self.views.keys()))?;
        Arc::make_mut(&mut self.recent).insert(name.to_owned(), ring);
        Ok(self)
    }

    /// Calls `hook` with every control attempt (pause, resume, throttle, unthrottle; accepted or
    /// refused, oversized bodies included), after the answer is decided and before it is sent,
    /// so that an
    /// application can keep a durable audit trail. The hook runs on the request's task: it
    /// must not block (hand the record to a channel or a writer task).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use sda_orchestrator::http::{ControlPlane, ControlRecord};
    /// # let mut graph = sda_orchestrator::OperatorGraph::new();
    /// # let src = graph.add_source("radar", Default::default(), |_ctx| async { Ok(()) });
    /// # let out = graph.add_sink("out", Default::default(), |_ctx: sda_orchestrator::SinkContext<u8>| async { Ok(()) });
    /// # graph.connect(&src, &out);
    /// # let built = graph.build()?;
    ///
    /// let records: Arc<Mutex<Vec<ControlRecord>>> = Arc::default();
    /// let kept = Arc::clone(&records);
    /// let plane = ControlPlane::for_graph(&built)
    ///     .with_audit(move |record| kept.lock().unwrap().push(record.clone()));
    /// # let _ = plane;
    /// # Ok::<(), sda_orchestrator::BuildError>(())
    /// ```
    pub fn with_audit(mut self, hook: impl Fn(&ControlRecord) + Send + Sync + 'static) -> Self {
        self.audit = Some(Arc::new(hook));
        self
    }

    /// How often `GET /events` sends a snapshot (default one second; at least 10 ms).
    pub fn with_snapshot_interval(mut self, interval: Duration) -> Self {
        self.snapshot_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The names of the rings served with [`with_recent`](Self::with_recent).
    pub fn recent_names(&self) -> Vec<String> {
        self.recent.keys().cloned().collect()
    }

    /// Serves `GET /{name}` with the JSON `view` returns, called afresh on every request: a
    /// read-only view of the application's own state (a summary of what it loaded, say) next
    /// to the graph's. The view runs on the request's task, so it must be cheap and must not
    /// block: read a snapshot the application keeps up to date.
    ///
    /// # Errors
    ///
    /// [`RouteNameError::InvalidName`] unless `name` is 1 to 64 lowercase letters, digits and
    /// dashes; [`RouteNameError::Taken`] when it is a route already (`health`, `operators`, ...)
    /// or another view's.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::Request;
    /// use sda_orchestrator::http::{ControlPlane, RouteNameError, app};
    /// use tower::ServiceExt;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let mut graph = sda_orchestrator::OperatorGraph::new();
    /// # let src = graph.add_source("radar", Default::default(), |_ctx| async { Ok(()) });
    /// # let out = graph.add_sink("out", Default::default(), |_ctx: sda_orchestrator::SinkContext<u8>| async { Ok(()) });
    /// # graph.connect(&src, &out);
    /// # let built = graph.build()?;
    ///
    /// let plane = ControlPlane::for_graph(&built)
    ///     .with_view("catalog", || serde_json::json!({"objects": 3}))?;
    /// let response = app(plane).oneshot(Request::get("/catalog").body(Body::empty())?).await?;
    /// let body = axum::body::to_bytes(response.into_body(), 1024).await?;
    /// assert_eq!(&body[..], br#"{"objects":3}"#);
    ///
    /// let taken = ControlPlane::for_graph(&built).with_view("health", || serde_json::Value::Null);
    /// assert!(matches!(taken, Err(RouteNameError::Taken(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with_view(
        mut self,
        name: &str,
        view: impl Fn() -> serde_json::Value + Send + Sync + 'static,
    ) -> Result<Self, RouteNameError> {
        check_name(name, self.views.keys().chain(self.recent.keys()))?;
        Arc::make_mut(&mut self.views).insert(name.to_owned(), Arc::new(view));
        Ok(self)
    }

    /// The request body limit, in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// Whether the endpoints that change state are enabled, i.e. a token is configured.
    pub fn mutations_enabled(&self) -> bool {
        self.token.is_some()
    }

    /// The graph's monitor.
    pub fn monitor(&self) -> &GraphMonitor {
        &self.monitor
    }

    /// The graph's controls.
    pub fn controls(&self) -> &GraphControls {
        &self.controls
    }
}
