//! `DedicatedPool`: a bulkhead that runs CPU-bound work on its own tokio runtime.
//!
//! This file holds the pool itself; its configuration, errors and gauges have a file each.

mod config;
mod error;
mod gauges;

pub use config::PoolConfig;
pub use error::PoolError;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::sync::Semaphore;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use gauges::{PoolGauges, Queued};

/// A bulkhead for CPU-bound work: its own multi-thread tokio runtime, with its own named worker
/// threads and its own blocking threads, so that heavy computation cannot starve the I/O tasks
/// of the runtime that submits it.
///
/// Cheap to clone; clones share the pool. Submit from any runtime (or none) and await the result
/// there: [`submit`](Self::submit) runs a closure on a pool worker thread,
/// [`spawn`](Self::spawn) a future. Results and panics come back as values.
///
/// # Bounds
///
/// At most `max_in_flight` tasks are queued or running at once; a submission beyond that waits
/// for a slot, so a fast producer is slowed to the pool's pace instead of growing a queue
/// without bound.
///
/// # Cores
///
/// A separate runtime keeps CPU-bound tasks off the main runtime's workers, but the OS still
/// shares the cores. When busy threads outnumber cores (pool workers plus other processes),
/// build the pool with [`PoolConfig::low_priority`] so that a main-runtime thread woken by I/O
/// gets a core at once; the `bulkhead` benchmark shows the difference.
///
/// # Metrics
///
/// Gauges `pool_queue_depth{pool}` (submitted, not yet started) and `pool_busy_workers{pool}`
/// (running). Their handles are registered when the pool is created: install the metrics recorder
/// first.
///
/// # Shutdown
///
/// [`shutdown`](Self::shutdown) is an `async fn`, safe to call from async code: it stops taking
/// work, waits for tasks in flight up to a deadline, then shuts the runtime down on a plain
/// thread (a runtime may not be dropped, or block, inside another runtime). Dropping the last
/// clone without calling it is also safe anywhere: the runtime is shut down in the background,
/// and tasks still queued are cancelled.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sda_orchestrator::resilience::{DedicatedPool, PoolConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sda_orchestrator::resilience::PoolError> {
/// let pool = DedicatedPool::new(PoolConfig::new("propagator").worker_threads(2))?;
///
/// let (sum, thread) = pool
///     .submit(|| {
///         let sum: u64 = (0..1_000_000u64).sum();
///         (sum, std::thread::current().name().map(str::to_owned))
///     })
///     .await?;
/// assert_eq!(sum, 499_999_500_000);
/// assert!(thread.is_some_and(|name| name.starts_with("propagator-")));
///
/// pool.shutdown(Duration::from_secs(5)).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DedicatedPool {
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    handle: Handle,
    /// `None` once shut down; taken exactly once, by `shutdown` or by `Drop`.
    runtime: Mutex<Option<Runtime>>,
    slots: Arc<Semaphore>,
    max_in_flight: u32,
    accepting: AtomicBool,
    gauges: Arc<PoolGauges>,
}

impl fmt::Debug for DedicatedPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DedicatedPool")
            .field("name", &self.shared.name)
            .field("max_in_flight", &self.shared.max_in_flight)
            .field("accepting", &self.shared.accepting.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl DedicatedPool {
    /// Starts the pool's runtime and threads.
    ///
    /// # Errors
    ///
    /// [`PoolError::Start`] if the runtime cannot be built (for example, threads cannot be
    /// spawned).
    pub fn new(config: PoolConfig) -> Result<Self, PoolError> {
        let PoolConfig {
            name,
            worker_threads,
            max_blocking_threads,
            max_in_flight,
            low_priority,
        } = config;
        let thread_name = name.clone();
        let spawned = AtomicUsize::new(0);
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if low_priority {
            builder.on_thread_start(lower_current_thread_priority);
        }
        let runtime = builder
            .worker_threads(worker_threads)
            .max_blocking_threads(max_blocking_threads)
            // Tokio runs its workers on threads of its blocking pool and may start a thread for
            // one role and give it the other, so a name can only say whose thread it is.
            .thread_name_fn(move || {
                let index = spawned.fetch_add(1, Ordering::Relaxed);
                format!("{thread_name}-{index}")
            })
            .enable_all()
            .build()
            .map_err(|source| PoolError::Start {
                pool: name.clone(),
                source,
            })?;
        let max_in_flight = u32::try_from(max_in_flight).unwrap_or(u32::MAX >> 3);
        Ok(Self {
            shared: Arc::new(Shared {
                gauges: Arc::new(PoolGauges::new(&name)),
                handle: runtime.handle().clone(),
                runtime: Mutex::new(Some(runtime)),
                slots: Arc::new(Semaphore::new(max_in_flight as usize)),
                max_in_flight,
                accepting: AtomicBool::new(true),
                name,
            }),
        })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Runs the closure `f` on one of the pool's worker threads and returns its result.
    ///
    /// Waits for a slot first if `max_in_flight` tasks are already queued or running.
    ///
    /// # Errors
    ///
    /// [`PoolError::ShutDown`] if the pool is shutting down (the closure never runs),
    /// [`PoolError::Panicked`] if it panicked, [`PoolError::Cancelled`] if the pool shut down
    /// before it ran.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits for a slot submits nothing. Dropping it after that
    /// cancels the task if it has not started; a closure already running runs to completion (it
    /// cannot be interrupted) and its result is dropped. Either way the slot is released.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::resilience::{DedicatedPool, PoolConfig, PoolError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), PoolError> {
    /// let pool = DedicatedPool::new(PoolConfig::new("cpu").worker_threads(1))?;
    /// let panicked = pool.submit(|| -> u32 { panic!("bad orbit") }).await;
    /// assert!(matches!(panicked, Err(PoolError::Panicked { ref message, .. }) if message == "bad orbit"));
    /// assert_eq!(pool.submit(|| 2 + 2).await?, 4); // the pool survives a panic
    /// # Ok(())
    /// # }
    /// ```
    pub async fn submit<F, R>(&self, f: F) -> Result<R, PoolError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn(async move { f() }).await
    }

    /// Runs the future `task` on the pool's runtime and returns its output.
    ///
    /// Use it for CPU-heavy work that also awaits (it may call `tokio::task::spawn_blocking`,
    /// which uses the pool's own blocking threads).
    ///
    /// # Errors
    ///
    /// As for [`submit`](Self::submit).
    ///
    /// # Cancel safety
    ///
    /// As for [`submit`](Self::submit); a started future is cancelled at its next `.await`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::resilience::{DedicatedPool, PoolConfig, PoolError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), PoolError> {
    /// let pool = DedicatedPool::new(PoolConfig::new("batch").worker_threads(1))?;
    /// let total = pool
    ///     .spawn(async {
    ///         let mut total = 0u64;
    ///         for chunk in 0..4u64 {
    ///             total += (chunk * 1000..(chunk + 1) * 1000).sum::<u64>();
    ///             tokio::task::yield_now().await; // let other pool tasks in between chunks
    ///         }
    ///         total
    ///     })
    ///     .await?;
    /// assert_eq!(total, (0..4000u64).sum::<u64>());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn spawn<Fut>(&self, task: Fut) -> Result<Fut::Output, PoolError>
    where
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let shared = &self.shared;
        if !shared.accepting.load(Ordering::Acquire) {
            return Err(shared.shut_down());
        }
        let slot = Arc::clone(&shared.slots)
            .acquire_owned()
            .await
            .map_err(|_closed| shared.shut_down())?;
        // Shutdown may have begun while this submission waited for a slot: nothing new starts
        // once it has, so that its drain only waits for work already running or queued.
        if !shared.accepting.load(Ordering::Acquire) {
            return Err(shared.shut_down());
        }
        let queued = Queued::new(Arc::clone(&shared.gauges));
        let join = shared.handle.spawn(async move {
            let _busy = queued.start();
            // The slot is held until the task ends, even if the submitter stopped waiting.
            let _slot = slot;
            task.await
        });
        let mut join = AbortOnDrop(join);
        (&mut join.0)
            .await
            .map_err(|error| shared.join_error(error))
    }

    /// Stops taking work, waits up to `timeout` for tasks in flight, then shuts the runtime down.
    ///
    /// Safe to call from async code, including the runtime that submits the work: the blocking
    /// part runs on a plain thread. Submissions waiting for a slot, and any made afterwards,
    /// return [`PoolError::ShutDown`]. Calling it again, or on a clone, returns `Ok(())` once the
    /// runtime is gone.
    ///
    /// # Errors
    ///
    /// [`PoolError::ShutdownTimeout`] if tasks were still running at the deadline; they are
    /// abandoned (their submitters get [`PoolError::Cancelled`] if they were awaiting at a yield
    /// point; a running closure finishes on its thread, detached).
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime with the time driver enabled (it uses
    /// [`tokio::time::timeout`]).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the caller waiting, not the shutdown: the pool has already
    /// stopped taking work, and once the runtime was taken it is shut down in the background.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), PoolError> {
        let shared = &self.shared;
        let deadline = Instant::now() + timeout;
        shared.accepting.store(false, Ordering::Release);
        // Holding every slot means nothing is queued or running. (A closed semaphore means a
        // concurrent shutdown already drained; that counts as drained too.)
        let drained =
            tokio::time::timeout(timeout, shared.slots.acquire_many(shared.max_in_flight))
                .await
                .is_ok();
        shared.slots.close();
        let runtime = RuntimeGuard(shared.take_runtime());
        if runtime.0.is_some() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-shutdown", shared.name))
                .spawn(move || {
                    let mut runtime = runtime;
                    if let Some(runtime) = runtime.0.take() {
                        runtime.shutdown_timeout(remaining);
                    }
                    // The receiver may be gone if the caller stopped waiting; that is fine.
                    let _ = done_tx.send(());
                });
            // If the thread could not start, the closure and its guard were dropped, and the
            // guard already shut the runtime down in the background.
            if spawned.is_ok() {
                let _ = done_rx.await;
            }
        }
        if drained {
            Ok(())
        } else {
            Err(PoolError::ShutdownTimeout {
                pool: shared.name.clone(),
                timeout,
            })
        }
    }
}

impl Shared {
    fn shut_down(&self) -> PoolError {
        PoolError::ShutDown {
            pool: self.name.clone(),
        }
    }

    fn take_runtime(&self) -> Option<Runtime> {
        // The lock only guards an `Option` swap, which cannot be left half-done.
        self.runtime
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn join_error(&self, error: JoinError) -> PoolError {
        if error.is_panic() {
            let payload = error.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            PoolError::Panicked {
                pool: self.name.clone(),
                message,
            }
        } else {
            PoolError::Cancelled {
                pool: self.name.clone(),
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Dropping a runtime normally blocks until its threads stop, which panics inside async
        // code; shutting down in the background never blocks.
        drop(RuntimeGuard(self.take_runtime()));
    }
}

/// Drops the calling thread to the lowest OS priority; see [`PoolConfig::low_priority`].
///
/// On Linux that is the `SCHED_IDLE` policy: a thread of any other policy that wakes up takes
/// the core from an idle-policy thread at its wake-up, whereas a thread at niceness 19 is only weighted
/// down (the scheduler may still let it finish its slice, milliseconds, before a woken I/O
/// thread runs). Where `SCHED_IDLE` is refused, or on other systems, niceness is the fallback.
fn lower_current_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
            set_thread_priority_and_policy, thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        match set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
            Ok(()) => return,
            Err(error) => tracing::debug!(
                event = "pool_sched_idle_refused",
                error = %error,
                "SCHED_IDLE refused for a pool thread; lowering its niceness instead"
            ),
        }
    }
    if let Err(error) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        tracing::warn!(
            event = "pool_priority_unchanged",
            error = %error,
            "could not lower the priority of a pool thread"
        );
    }
}

/// Owns a runtime and shuts it down in the background if dropped while still holding it.
struct RuntimeGuard(Option<Runtime>);

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Aborts the task when the submitter stops waiting, so that queued work nobody awaits is not run.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
