//! The control plane as the service runs it: the orchestrator's router on a loopback port by
//! default, with the service's Prometheus recorder and its bearer token.

use std::fmt;
use std::net::SocketAddr;

use anyhow::Context as _;
use sda_orchestrator::BuiltGraph;
use sda_orchestrator::http::{ControlPlane, ControlRecord, ServeLimits, ServeReport, serve_with};
use sda_orchestrator::monitor::RecentRing;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::telemetry;

/// Where the binary serves the control plane unless told otherwise: loopback only.
pub const DEFAULT_CONTROL_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9898);

/// The environment variable holding the control plane's bearer token.
pub const TOKEN_ENV: &str = "SDA_CONTROL_TOKEN";

/// The bearer token for the control plane's mutating endpoints. Its `Debug` form is redacted,
/// so configurations can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlToken(String);

impl ControlToken {
    /// A token; `None` when `token` is empty or only whitespace (which would disable nothing).
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        (!token.trim().is_empty()).then_some(ControlToken(token))
    }

    /// The token from [`TOKEN_ENV`], if set and not empty.
    pub fn from_env() -> Option<Self> {
        std::env::var(TOKEN_ENV).ok().and_then(ControlToken::new)
    }
}

impl fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ControlToken(<redacted>)")
    }
}

/// A control plane being served; [`RunningControl::stop`] ends it.
#[derive(Debug)]
pub(super) struct RunningControl {
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<ServeReport>>,
}

/// How many recent dead letters `/dead-letters` can show.
pub const RECENT_DEAD_LETTERS: usize = 500;

/// The control plane of `built`, with the service's Prometheus recorder and `token`, serving
/// `dead_letters` at `/dead-letters` and handing every control action to `audit`.
pub(super) fn plane(
    built: &BuiltGraph,
    token: Option<&ControlToken>,
    dead_letters: RecentRing<serde_json::Value>,
    audit: impl Fn(&ControlRecord) + Send + Sync + 'static,
) -> anyhow::Result<ControlPlane> {
    let mut plane = ControlPlane::for_graph(built)
        .with_recent("dead-letters", dead_letters)?
        .with_audit(audit);
    if let Some(handle) = telemetry::prometheus() {
        plane = plane.with_prometheus(handle);
    }
    if let Some(ControlToken(token)) = token {
        plane = plane.with_token(token.clone());
    }
    Ok(plane)
}

/// Binds `addr` and serves `plane` on it.
pub(super) async fn start(addr: SocketAddr, plane: ControlPlane) -> anyhow::Result<RunningControl> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot bind the control plane to {addr} (choose another with --control-addr)")
    })?;
    let bound = listener.local_addr()?;
    tracing::info!(
        addr = %bound,
        controls = if plane.mutations_enabled() { "enabled" } else { "disabled: no token" },
        "control plane listening (http)"
    );
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    // Loopback defaults: headers within 5 s, requests within 10 s, 64 connections, and a stop
    // that waits at most 3 s for requests in flight before it drops the connections.
    let task = tokio::spawn(serve_with(
        listener,
        plane,
        ServeLimits::default(),
        async move {
            stopped.cancelled().await;
        },
    ));
    Ok(RunningControl { stop, task })
}

impl RunningControl {
    /// Stops accepting, lets requests in flight finish for at most the drain (3 s), drops the
    /// connections still open, and waits for the server.
    pub(super) async fn stop(self) {
        self.stop.cancel();
        match self.task.await {
            Ok(Ok(report)) if report.cut_off > 0 => tracing::warn!(
                connections = report.cut_off,
                "control plane stopped; connections still open were dropped"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "control plane failed"),
            Err(e) => tracing::warn!(error = %e, "control plane task failed"),
        }
    }
}
