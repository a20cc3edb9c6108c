//! What can go wrong with a dedicated-runtime pool or a task on it.

use std::time::Duration;

/// Errors of a [`DedicatedPool`](crate::resilience::DedicatedPool).
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The pool's runtime could not be built.
    #[error("failed to start pool `{pool}`")]
    Start {
        /// The pool's name.
        pool: String,
        /// The runtime builder's error.
        #[source]
        source: std::io::Error,
    },
    /// The pool is shutting down or shut down; the task was not run.
    #[error("pool `{pool}` is shut down")]
    ShutDown {
        /// The pool's name.
        pool: String,
    },
    /// The task panicked; the panic was caught on the pool and the pool keeps running.
    #[error("task on pool `{pool}` panicked: {message}")]
    Panicked {
        /// The pool's name.
        pool: String,
        /// The panic payload, if it was a string.
        message: String,
    },
    /// The task was cancelled by the pool's shutdown before it finished.
    #[error("task on pool `{pool}` was cancelled by shutdown")]
    Cancelled {
        /// The pool's name.
        pool: String,
    },
    /// Shutdown's deadline passed with tasks still running; they were abandoned.
    #[error("pool `{pool}` did not drain within {timeout:?}")]
    ShutdownTimeout {
        /// The pool's name.
        pool: String,
        /// The deadline given to shutdown.
        timeout: Duration,
    },
}
