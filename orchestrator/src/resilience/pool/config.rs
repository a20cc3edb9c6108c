//! How a dedicated-runtime pool is sized, named and prioritised.

/// Configuration of a [`DedicatedPool`](crate::resilience::DedicatedPool).
///
/// The pool's threads, workers and blocking threads alike, are named `{name}-{i}`
/// (`propagator-0`, `propagator-1`, ...) in the order they start; tokio hands a thread either
/// role, so the name tells whose thread it is, not which kind. `name` is also the `pool` label of
/// the pool's gauges.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::resilience::PoolConfig;
///
/// let config = PoolConfig::new("propagator").worker_threads(2).max_in_flight(64);
/// assert_eq!(config.name(), "propagator");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    pub(crate) name: String,
    pub(crate) worker_threads: usize,
    pub(crate) max_blocking_threads: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) low_priority: bool,
}

impl PoolConfig {
    /// A configuration with one worker thread per available CPU, 4 blocking threads and at most
    /// 64 tasks in flight (queued or running).
    pub fn new(name: impl Into<String>) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            name: name.into(),
            worker_threads: cpus,
            max_blocking_threads: 4,
            max_in_flight: 64,
            low_priority: false,
        }
    }

    /// Sets the number of worker threads (at least 1).
    #[must_use]
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }

    /// Sets the cap on the pool runtime's own blocking threads (at least 1), used by
    /// `tokio::task::spawn_blocking` inside pool tasks.
    #[must_use]
    pub fn max_blocking_threads(mut self, threads: usize) -> Self {
        self.max_blocking_threads = threads.max(1);
        self
    }

    /// Sets the bound on tasks in flight, queued or running (at least 1, at most
    /// `u32::MAX >> 3`); a submission beyond it waits for a slot.
    #[must_use]
    pub fn max_in_flight(mut self, tasks: usize) -> Self {
        // Tokio's semaphore holds at most `usize::MAX >> 3` permits, and `acquire_many` takes a
        // `u32`; the tighter of the two keeps shutdown's drain (which takes them all) valid.
        self.max_in_flight = tasks.clamp(1, (u32::MAX >> 3) as usize);
        self
    }

    /// Runs the pool's threads at the lowest OS priority when `true`: the `SCHED_IDLE` policy on
    /// Linux, niceness 19 where that is refused and on other systems.
    ///
    /// Off by default. Turn it on when the machine has fewer cores than busy threads: a separate
    /// runtime stops CPU-bound tasks from hogging the main runtime's *workers*, but only the OS
    /// scheduler decides who gets a *core*, and at equal priority a main-runtime thread woken by
    /// I/O may wait a scheduler slice (milliseconds) behind a pool thread. At the lowest priority
    /// the pool still uses every idle cycle, yet yields the core to anything else (under
    /// `SCHED_IDLE` the kernel preempts it for a waking thread of any other policy, within
    /// what the kernel's preemption model and tick allow), which
    /// also means it can be starved by other busy processes. If the OS refuses, a warning is
    /// logged and the threads keep their normal priority.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::resilience::PoolConfig;
    ///
    /// let config = PoolConfig::new("propagator").worker_threads(1).low_priority(true);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn low_priority(mut self, low: bool) -> Self {
        self.low_priority = low;
        self
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}
