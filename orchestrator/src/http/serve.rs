//! Serving the control plane on a listener until a shutdown signal, with every wait on a client
//! bounded.
//!
//! A control plane must never be what keeps a process from stopping, and a client must not be
//! able to hold it hostage: a client that opens a connection and never finishes its request
//! headers is cut off after [`ServeLimits::header_read_timeout`]; a request that takes longer
//! than [`ServeLimits::request_timeout`] is answered `408`; at most
//! [`ServeLimits::max_connections`] connections are served at once (more are closed on accept);
//! and a shutdown waits at most [`ServeLimits::drain`] for the requests in flight before the
//! connections still open are dropped and counted.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use super::{ControlPlane, app};

/// The bounds a served control plane keeps; the defaults suit a loopback control plane.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::http::ServeLimits;
///
/// let limits = ServeLimits::default().with_drain(Duration::from_secs(1));
/// assert_eq!(limits.drain(), Duration::from_secs(1));
/// assert_eq!(limits.max_connections(), 64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    header_read_timeout: Duration,
    request_timeout: Duration,
    max_connections: usize,
    drain: Duration,
}

impl Default for ServeLimits {
    /// Headers within 5 s, a request within 10 s, 64 connections, and a 3 s drain.
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_connections: 64,
            drain: Duration::from_secs(3),
        }
    }
}

impl ServeLimits {
    /// How long a client may take to send a request's headers.
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a request may take before it is answered `408 Request Timeout`.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How many connections are served at once; more are closed as soon as they are accepted.
    pub fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How long a shutdown waits for requests in flight before dropping the connections.
    pub fn with_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// See [`ServeLimits::with_header_read_timeout`].
    pub fn header_read_timeout(&self) -> Duration {
        self.header_read_timeout
    }

    /// See [`ServeLimits::with_request_timeout`].
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// See [`ServeLimits::with_max_connections`].
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// See [`ServeLimits::with_drain`].
    pub fn drain(&self) -> Duration {
        self.drain
    }
}

/// How a served control plane stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServeReport {
    /// Connections accepted over the server's life.
    pub accepted: u64,
    /// Connections closed at once because [`ServeLimits::max_connections`] were open.
    pub refused: u64,
    /// Connections still open when the drain ended, dropped without finishing.
    pub cut_off: usize,
}

/// Serves [`app`] over `state` on `listener` with the default [`ServeLimits`] until `shutdown`
/// completes; see [`serve_with`].
///
/// # Errors
///
/// As [`serve_with`].
///
/// # Examples
///
/// ```no_run
/// use sda_orchestrator::http::{ControlPlane, serve};
/// # async fn example(built: sda_orchestrator::BuiltGraph) -> std::io::Result<()> {
/// let plane = ControlPlane::for_graph(&built).with_token("s3cret");
/// let stop = built.shutdown_handle().token();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await?;
/// let server = tokio::spawn(serve(listener, plane, async move { stop.cancelled().await }));
/// let outcome = built.run(Default::default()).await;
/// server.await??;
/// # let _ = outcome;
/// # Ok(())
/// # }
/// ```
pub async fn serve<F>(listener: TcpListener, state: ControlPlane, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with(listener, state, ServeLimits::default(), shutdown)
        .await
        .map(|_| ())
}

/// Serves [`app`] over `state` on `listener` until `shutdown` completes, then stops accepting,
/// waits at most [`ServeLimits::drain`] for the requests in flight, drops the connections still
/// open and reports how many there were (also logged as a warning).
///
/// Each connection's peer address is recorded (axum's `ConnectInfo`), so that control events
/// name the client that acted.
///
/// # Errors
///
/// An accept error that is not about one connection (the listener itself failed).
///
/// # Cancel safety
///
/// Dropping the future stops accepting and drops every connection at once.
pub async fn serve_with<F>(
    listener: TcpListener,
    state: ControlPlane,
    limits: ServeLimits,
    shutdown: F,
) -> io::Result<ServeReport>
where
    F: Future<Output = ()> + Send + 'static,
{
    let closing = state.closing.clone();
    let router = app(state).layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut report = ServeReport::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connections so the set does not grow with the server's life.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Errors about one connection (reset before accept, out of file descriptors
                // for a moment) must not stop the server.
                Err(e) if is_per_connection(&e) => {
                    tracing::debug!(error = %e, "control plane: accept failed");
                    if is_out_of_descriptors(&e) {
                        // Accepting again at once would fail the same way; give the process
                        // a moment to close something.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        report.accepted += 1;
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            report.refused += 1;
            tracing::warn!(
                peer = %peer,
                limit = limits.max_connections,
                "control plane: connection limit reached; closing the new connection"
            );
            drop(stream);
            continue;
        };
        let service = router
            .clone()
            .map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            })
            .map_err(|never: Infallible| match never {});
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(peer = %peer, error = %e, "control plane: connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    // Event streams never end by themselves: end them, so that their connections can close.
    closing.cancel();
    // Ask every connection to finish its request in flight and close, for at most the drain.
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        report.cut_off = connections.len();
        tracing::warn!(
            connections = report.cut_off,
            drain_seconds = limits.drain.as_secs_f64(),
            "control plane: connections still open after the drain were dropped"
        );
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(report)
}

/// Whether an accept error concerns one connection only, so the server should go on.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || is_out_of_descriptors(error)
}

/// `ENFILE` or `EMFILE`: the process or the system is out of file descriptors.
fn is_out_of_descriptors(error: &io::Error) -> bool {
    error
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24)
}
