//! Serving the control plane on a listener until a shutdown signal.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use super::{ControlPlane, app};

/// Serves [`app`] over `state` on `listener` until `shutdown` completes, then stops accepting
/// and waits for the requests in flight to finish (axum's graceful shutdown).
///
/// Each connection's peer address is recorded (axum's `ConnectInfo`), so that control events
/// name the client that acted.
///
/// # Errors
///
/// The I/O error that ends the server, if any; a shutdown is `Ok(())`.
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
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}
