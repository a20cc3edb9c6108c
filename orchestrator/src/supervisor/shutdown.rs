//! The handle that starts a graceful shutdown.

use tokio_util::sync::CancellationToken;

/// Starts a graceful shutdown of a running graph. Cloneable; every clone stops the same graph.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext, SupervisorPolicy};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut graph = OperatorGraph::new();
/// let ticks = graph.add_source("ticks", RestartPolicy::default(), |mut ctx| async move {
///     let mut n = 0u64;
///     loop {
///         tokio::select! {
///             _ = ctx.shutdown.cancelled() => return Ok(()),
///             sent = ctx.output.send(n) => sent?,
///         }
///         n += 1;
///     }
/// });
/// let sink = graph.add_sink("sink", RestartPolicy::Never, |mut ctx: SinkContext<u64>| async move {
///     while ctx.input.recv().await.is_some() {}
///     Ok(())
/// });
/// graph.connect(&ticks, &sink);
/// let built = graph.build()?;
/// let stop = built.shutdown_handle();
/// let running = tokio::spawn(built.run(SupervisorPolicy::default()));
/// stop.shutdown();
/// assert!(running.await.unwrap().is_clean());
/// # Ok::<(), sda_orchestrator::BuildError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    token: CancellationToken,
}

impl ShutdownHandle {
    pub(crate) fn new(token: CancellationToken) -> Self {
        ShutdownHandle { token }
    }

    /// Starts the shutdown. Calling it again does nothing.
    pub fn shutdown(&self) {
        self.token.cancel();
    }

    /// Whether shutdown has started.
    pub fn is_shutdown(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The underlying token: the one every source's context carries.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}
