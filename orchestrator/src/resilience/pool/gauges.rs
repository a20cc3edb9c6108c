//! The pool's two gauges and the guards that keep them honest when tasks panic or are cancelled.

use std::sync::{Arc, Mutex, PoisonError};

use crate::monitor::metric_names;

/// `pool_queue_depth{pool}` and `pool_busy_workers{pool}`, with the counts behind them.
pub(crate) struct PoolGauges {
    queue_depth: metrics::Gauge,
    busy_workers: metrics::Gauge,
    /// `(queued, busy)`. Updating the counts and setting both gauges under one lock keeps the
    /// exported values consistent: with separate atomics, two threads could set gauges out of
    /// order and leave a stale value behind.
    counts: Mutex<(i64, i64)>,
}

impl PoolGauges {
    pub(crate) fn new(pool: &str) -> Self {
        let gauges = Self {
            queue_depth: metrics::gauge!(metric_names::POOL_QUEUE_DEPTH, "pool" => pool.to_owned()),
            busy_workers: metrics::gauge!(metric_names::POOL_BUSY_WORKERS, "pool" => pool.to_owned()),
            counts: Mutex::new((0, 0)),
        };
        gauges.adjust(0, 0);
        gauges
    }

    fn adjust(&self, queued: i64, busy: i64) {
        // Two integers cannot be left inconsistent by a panic, so poisoning is harmless.
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.0 += queued;
        counts.1 += busy;
        // Gauges are f64; counts this small convert exactly.
        #[allow(clippy::cast_precision_loss)]
        {
            self.queue_depth.set(counts.0 as f64);
            self.busy_workers.set(counts.1 as f64);
        }
    }
}

/// A task submitted but not started; dropping it (the task was cancelled) leaves the queue.
pub(crate) struct Queued {
    gauges: Option<Arc<PoolGauges>>,
}

impl Queued {
    pub(crate) fn new(gauges: Arc<PoolGauges>) -> Self {
        gauges.adjust(1, 0);
        Self {
            gauges: Some(gauges),
        }
    }

    /// The task started: it leaves the queue and occupies a worker until the returned guard drops
    /// (which also happens when the task panics).
    pub(crate) fn start(mut self) -> Busy {
        let gauges = self.gauges.take();
        if let Some(gauges) = &gauges {
            gauges.adjust(-1, 1);
        }
        Busy { gauges }
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        if let Some(gauges) = self.gauges.take() {
            gauges.adjust(-1, 0);
        }
    }
}

/// A running task.
pub(crate) struct Busy {
    gauges: Option<Arc<PoolGauges>>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(gauges) = self.gauges.take() {
            gauges.adjust(0, -1);
        }
    }
}
