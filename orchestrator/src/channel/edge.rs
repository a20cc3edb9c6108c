//! One edge: a bounded channel plus the counters that make its queue visible.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

/// A counter on its own cache line: the producer and consumer of an edge run on different
/// cores, and sharing a line would make every send and receive contend for it.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct PaddedCounter(AtomicU64);

impl PaddedCounter {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What is known about an edge while it runs; shared by both ends and the monitor.
#[derive(Debug)]
pub(crate) struct EdgeInfo {
    /// `from->to`, the edge's metric label.
    pub(crate) name: String,
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) capacity: usize,
    pub(crate) sent: PaddedCounter,
    pub(crate) received: PaddedCounter,
    pub(crate) blocked_nanos: PaddedCounter,
    /// Items a producer could not deliver because the edge's consumer had finished for good.
    pub(crate) dropped: PaddedCounter,
}

impl EdgeInfo {
    pub(crate) fn new(name: String, from: usize, to: usize, capacity: usize) -> Self {
        EdgeInfo {
            name,
            from,
            to,
            capacity,
            sent: PaddedCounter::default(),
            received: PaddedCounter::default(),
            blocked_nanos: PaddedCounter::default(),
            dropped: PaddedCounter::default(),
        }
    }

    /// Items sent and not yet received. Exact when the edge is quiet; while items move it may
    /// trail by the few in flight, since the two counters are read separately.
    pub(crate) fn depth(&self) -> u64 {
        self.sent.get().saturating_sub(self.received.get())
    }
}

/// The sending end of one edge.
#[derive(Debug)]
pub(crate) struct EdgeTx<T> {
    pub(crate) tx: mpsc::Sender<T>,
    pub(crate) info: Arc<EdgeInfo>,
}

impl<T> Clone for EdgeTx<T> {
    fn clone(&self) -> Self {
        EdgeTx {
            tx: self.tx.clone(),
            info: Arc::clone(&self.info),
        }
    }
}

/// The receiving end of one edge.
#[derive(Debug)]
pub(crate) struct EdgeRx<T> {
    pub(crate) rx: mpsc::Receiver<T>,
    pub(crate) info: Arc<EdgeInfo>,
}

/// Allocates the bounded channel of one edge.
pub(crate) fn channel<T>(info: Arc<EdgeInfo>) -> (EdgeTx<T>, EdgeRx<T>) {
    let (tx, rx) = mpsc::channel(info.capacity);
    (
        EdgeTx {
            tx,
            info: Arc::clone(&info),
        },
        EdgeRx { rx, info },
    )
}

/// Where an operator's receivers live between incarnations. Receivers cannot be cloned, so the
/// running incarnation's [`Inbox`](super::Inbox) owns them and puts them back here when it is
/// dropped, whether the operator returned, failed, panicked or was aborted. A restart takes them
/// out again, which is how queued items survive a restart.
#[derive(Debug)]
pub(crate) struct InputSlot<T>(Arc<Mutex<Option<Vec<EdgeRx<T>>>>>);

impl<T> Clone for InputSlot<T> {
    fn clone(&self) -> Self {
        InputSlot(Arc::clone(&self.0))
    }
}

impl<T> InputSlot<T> {
    pub(crate) fn new(receivers: Vec<EdgeRx<T>>) -> Self {
        InputSlot(Arc::new(Mutex::new(Some(receivers))))
    }

    fn lock(&self) -> MutexGuard<'_, Option<Vec<EdgeRx<T>>>> {
        // A panic while holding this lock cannot leave the Option half-written, so a poisoned
        // lock still holds a consistent value.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn take(&self) -> Option<Vec<EdgeRx<T>>> {
        self.lock().take()
    }

    pub(crate) fn put_back(&self, receivers: Vec<EdgeRx<T>>) {
        *self.lock() = Some(receivers);
    }
}
