//! One edge: a bounded channel plus the counters that make its queue visible.
//!
//! A plain edge is one [`chunked`] channel (capacity in items, slots holding a single item or a
//! whole batch); a priority edge is two of them, one per lane; a lossy broadcast edge is a tokio
//! broadcast ring, item by item.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, ready};

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::ReusableBoxFuture;

use super::chunked;
use super::marks::{MarkOutputs, Marks, NO_WATERMARK};
use crate::Lane;

/// One of an edge's counters. The counters are grouped by the side that writes them (see
/// [`EdgeInfo`]), so that a producer and a consumer on different cores do not contend for one
/// cache line, without giving every counter a line of its own.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds `n` for a counter that only one task ever writes (an edge's `received`, written by
    /// its one inbox): a plain load and store, no read-modify-write.
    pub(crate) fn add_exclusive(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Subtracts `n` from a counter that only one task ever writes (see
    /// [`add_exclusive`](Counter::add_exclusive)).
    pub(crate) fn sub_exclusive(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).saturating_sub(n),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What is known about an edge while it runs; shared by both ends and the monitor.
///
/// Laid out in order: what never changes, the counters its producers write, a cache line of
/// padding, the counters its consumer writes. It is not over-aligned, so that allocating one per
/// edge is a plain allocation (a graph of 10^5 vertices has hundreds of thousands of edges).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct EdgeInfo {
    /// Every vertex's name, by index, shared by all the graph's edges (one reference each, not
    /// two names each: building a large graph touches no vertex's name per edge).
    names: Arc<[Arc<str>]>,
    /// `from->to`, the edge's metric label, made when first asked for.
    label: OnceLock<String>,
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) capacity: usize,
    /// How the edge delivers.
    pub(crate) kind: EdgeKind,
    /// Whether checkpoint barriers travel on it, so that its consumer aligns on it: a plain or
    /// priority edge out of a vertex that takes part in checkpoints.
    pub(crate) carries_barriers: bool,
    // Written by the producers.
    pub(crate) sent: Counter,
    pub(crate) blocked_nanos: Counter,
    /// Items lost on this edge: sent after its consumer had finished for good, still queued
    /// when it did, or taken by an incarnation that failed before finishing them.
    pub(crate) dropped: Counter,
    /// Items sent on the emergency lane of a priority edge (always 0 on other edges).
    pub(crate) emergency: Counter,
    /// Items the edge's filter did not keep (always 0 on an edge without a filter).
    pub(crate) filtered: Counter,
    /// The latest watermark put on the edge, in microseconds since the Unix epoch
    /// ([`NO_WATERMARK`] before the first).
    pub(crate) watermark: AtomicI64,
    _between_sides: [u64; 8],
    // Written by the consumer.
    pub(crate) received: Counter,
    /// Items a lagging consumer of a lossy broadcast edge missed (always 0 on other edges).
    pub(crate) lagged: Counter,
    /// Whether the consumer has marked the edge idle (left out of its watermark).
    pub(crate) idle: AtomicBool,
}

/// How an edge delivers its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EdgeKind {
    /// One bounded channel: every item, with backpressure.
    Plain,
    /// Two bounded channels, an emergency lane drained before the routine lane.
    Priority,
    /// A lossy ring: the sender never waits, a lagging receiver misses the oldest items.
    Broadcast,
}

impl EdgeKind {
    pub(crate) fn noun(self) -> &'static str {
        match self {
            EdgeKind::Plain => "plain",
            EdgeKind::Priority => "priority",
            EdgeKind::Broadcast => "broadcast",
        }
    }
}

impl EdgeInfo {
    pub(crate) fn new(
        names: Arc<[Arc<str>]>,
        from: usize,
        to: usize,
        capacity: usize,
        kind: EdgeKind,
        carries_barriers: bool,
    ) -> Self {
        EdgeInfo {
            names,
            label: OnceLock::new(),
            from,
            to,
            capacity,
            kind,
            carries_barriers,
            sent: Counter::default(),
            blocked_nanos: Counter::default(),
            dropped: Counter::default(),
            emergency: Counter::default(),
            filtered: Counter::default(),
            watermark: AtomicI64::new(NO_WATERMARK),
            _between_sides: [0; 8],
            received: Counter::default(),
            lagged: Counter::default(),
            idle: AtomicBool::new(false),
        }
    }

    /// The latest watermark put on the edge, if any.
    pub(crate) fn watermark(&self) -> Option<i64> {
        let w = self.watermark.load(Ordering::Relaxed);
        (w != NO_WATERMARK).then_some(w)
    }

    /// `from->to`, the edge's metric label.
    pub(crate) fn name(&self) -> &str {
        self.label.get_or_init(|| {
            let name = |i: usize| self.names.get(i).map_or("?", |n| n);
            format!("{}->{}", name(self.from), name(self.to))
        })
    }

    /// Items sent and not yet received. Exact when the edge is quiet; while items move it may
    /// trail by the few in flight, since the two counters are read separately.
    pub(crate) fn depth(&self) -> u64 {
        self.sent
            .get()
            .saturating_sub(self.received.get())
            .saturating_sub(self.lagged.get())
    }
}

/// The sending end of one edge.
#[derive(Debug)]
pub(crate) struct EdgeTx<T> {
    pub(crate) tx: TxEnd<T>,
    pub(crate) info: Arc<EdgeInfo>,
    /// The edge's filter: only items it keeps are sent on this edge (content-based routing).
    pub(crate) keep: Option<fn(&T) -> bool>,
}

/// The channel(s) behind a sending end, by edge kind.
pub(crate) enum TxEnd<T> {
    Plain(chunked::Sender<T>),
    Priority {
        routine: chunked::Sender<T>,
        emergency: chunked::Sender<T>,
        classify: fn(&T) -> Lane,
    },
    Broadcast(broadcast::Sender<T>),
}

impl<T> std::fmt::Debug for TxEnd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TxEnd::Plain(_) => "Plain",
            TxEnd::Priority { .. } => "Priority",
            TxEnd::Broadcast(_) => "Broadcast",
        })
    }
}

impl<T> Clone for EdgeTx<T> {
    fn clone(&self) -> Self {
        let tx = match &self.tx {
            TxEnd::Plain(tx) => TxEnd::Plain(tx.clone()),
            TxEnd::Priority {
                routine,
                emergency,
                classify,
            } => TxEnd::Priority {
                routine: routine.clone(),
                emergency: emergency.clone(),
                classify: *classify,
            },
            TxEnd::Broadcast(tx) => TxEnd::Broadcast(tx.clone()),
        };
        EdgeTx {
            tx,
            info: Arc::clone(&self.info),
            keep: self.keep,
        }
    }
}

impl<T> EdgeTx<T> {
    /// A marker-only handle on the edge (see [`chunked::MarkTx`]); `None` for a lossy broadcast
    /// edge, which carries no markers.
    pub(crate) fn mark_tx(&self) -> Option<EdgeMarkTx<T>> {
        let end = match &self.tx {
            TxEnd::Plain(tx) => MarkEnd::Plain(tx.mark_tx()),
            TxEnd::Priority {
                routine, emergency, ..
            } => MarkEnd::Priority(routine.mark_tx(), emergency.mark_tx()),
            TxEnd::Broadcast(_) => return None,
        };
        Some(EdgeMarkTx {
            end,
            info: Arc::clone(&self.info),
        })
    }
}

/// Pushes markers onto one edge without holding it open.
pub(crate) struct EdgeMarkTx<T> {
    end: MarkEnd<T>,
    info: Arc<EdgeInfo>,
}

enum MarkEnd<T> {
    Plain(chunked::MarkTx<T>),
    /// A marker goes into both lanes, behind everything queued in each.
    Priority(chunked::MarkTx<T>, chunked::MarkTx<T>),
}

impl<T> EdgeMarkTx<T> {
    fn push(&self, marks: Marks) {
        match &self.end {
            MarkEnd::Plain(tx) => tx.push(marks),
            MarkEnd::Priority(routine, emergency) => {
                routine.push(marks);
                emergency.push(marks);
            }
        }
        if marks.watermark != NO_WATERMARK {
            self.info
                .watermark
                .fetch_max(marks.watermark, Ordering::Relaxed);
        }
    }
}

impl<T: Send> MarkOutputs for Vec<EdgeMarkTx<T>> {
    fn push(&self, marks: Marks) {
        for edge in self {
            edge.push(marks);
        }
    }
}

/// The marker state of one incoming edge, kept with its receiver: so that a restarted
/// incarnation continues an alignment and a watermark where the last one stopped.
#[derive(Debug, Clone)]
pub(crate) struct EdgeMarks {
    /// The barrier each lane has delivered and is held on until the inbox is aligned
    /// ([`NO_BARRIER`](super::marks::NO_BARRIER) when not held): the plain or routine lane,
    /// then a priority edge's emergency lane.
    pub(crate) blocked: [u64; 2],
    /// Whether each lane has been seen finished (every sender gone, nothing left).
    pub(crate) closed: [bool; 2],
    /// Each lane's latest watermark ([`NO_WATERMARK`] before the first).
    pub(crate) watermark: [i64; 2],
    /// Left out of the inbox's watermark for having said nothing for the idle timeout.
    pub(crate) idle: bool,
    /// Markers taken from the edge: with its `received` count, how the inbox tells that it
    /// spoke.
    pub(crate) markers: u64,
    /// The edge's `received` count and `markers` at the last idleness look, and when they last
    /// changed.
    pub(crate) seen: (u64, u64),
    pub(crate) active_at: Option<tokio::time::Instant>,
}

impl Default for EdgeMarks {
    fn default() -> Self {
        EdgeMarks {
            blocked: [0; 2],
            closed: [false; 2],
            watermark: [NO_WATERMARK; 2],
            idle: false,
            markers: 0,
            seen: (0, 0),
            active_at: None,
        }
    }
}

/// The receiving end of one edge.
#[derive(Debug)]
pub(crate) struct EdgeRx<T> {
    pub(crate) rx: RxEnd<T>,
    pub(crate) info: Arc<EdgeInfo>,
    pub(crate) marks: EdgeMarks,
}

/// The channel(s) behind a receiving end, by edge kind.
pub(crate) enum RxEnd<T> {
    Plain(chunked::Receiver<T>),
    Priority {
        routine: chunked::Receiver<T>,
        emergency: chunked::Receiver<T>,
    },
    /// Boxed so that polling it needs no `Clone` bound where the item type is generic: the
    /// bound is met once, when the edge is allocated.
    Broadcast(Box<dyn LossyRx<T>>),
}

/// The receiving side of a lossy broadcast edge, with its item type's `Clone` bound erased.
pub(crate) trait LossyRx<T>: Send {
    /// Polls for the next item; see [`BroadcastRx::poll_recv`].
    fn poll_recv(&mut self, cx: &mut Context<'_>, info: &EdgeInfo) -> Poll<Option<T>>;
}

impl<T: Clone + Send + 'static> LossyRx<T> for BroadcastRx<T> {
    fn poll_recv(&mut self, cx: &mut Context<'_>, info: &EdgeInfo) -> Poll<Option<T>> {
        BroadcastRx::poll_recv(self, cx, info)
    }
}

impl<T> std::fmt::Debug for RxEnd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RxEnd::Plain(_) => "Plain",
            RxEnd::Priority { .. } => "Priority",
            RxEnd::Broadcast(_) => "Broadcast",
        })
    }
}

type Received<T> = (Result<T, RecvError>, broadcast::Receiver<T>);

/// A broadcast receiver made pollable: `broadcast::Receiver` only offers an `async fn recv`, so
/// the pending receive lives in a reusable boxed future that owns the receiver. The future is
/// part of the edge's receiving end, so it goes back to the input slot with the rest of the
/// inbox and a restarted consumer resumes the same receive: nothing is lost across a restart.
pub(crate) struct BroadcastRx<T> {
    pending: ReusableBoxFuture<'static, Received<T>>,
    closed: bool,
}

async fn receive<T: Clone>(mut rx: broadcast::Receiver<T>) -> Received<T> {
    let result = rx.recv().await;
    (result, rx)
}

impl<T: Clone + Send + 'static> BroadcastRx<T> {
    fn new(rx: broadcast::Receiver<T>) -> Self {
        BroadcastRx {
            pending: ReusableBoxFuture::new(receive(rx)),
            closed: false,
        }
    }

    /// Polls for the next item. A lag is reported (a warning and the edge's `lagged` count) and
    /// skipped over: the receiver goes on with the oldest item still held.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>, info: &EdgeInfo) -> Poll<Option<T>> {
        loop {
            if self.closed {
                return Poll::Ready(None);
            }
            let (result, rx) = ready!(self.pending.poll(cx));
            self.pending.set(receive(rx));
            match result {
                Ok(item) => return Poll::Ready(Some(item)),
                Err(RecvError::Lagged(missed)) => {
                    info.lagged.add(missed);
                    tracing::warn!(
                        edge = %info.name(),
                        missed,
                        "broadcast receiver lagged: {missed} item(s) missed; continuing with the oldest item still held"
                    );
                }
                Err(RecvError::Closed) => {
                    self.closed = true;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl<T> RxEnd<T> {
    /// Puts `items` handed out last back in front of what this end holds (see
    /// [`chunked::Receiver::unreceive`]); `emergency` picks a priority edge's lane. A lossy
    /// broadcast end cannot take items back: it hands them back to the caller.
    pub(crate) fn unreceive(&mut self, items: Vec<T>, emergency: bool) -> Option<Vec<T>> {
        match self {
            RxEnd::Plain(rx) => rx.unreceive(items),
            RxEnd::Priority { routine, .. } if !emergency => routine.unreceive(items),
            RxEnd::Priority { emergency, .. } => emergency.unreceive(items),
            RxEnd::Broadcast(_) => return Some(items),
        }
        None
    }

    /// Items queued now. A broadcast edge's queue is estimated from the edge's counters.
    pub(crate) fn len(&self, info: &EdgeInfo) -> usize {
        match self {
            RxEnd::Plain(rx) => rx.len(),
            RxEnd::Priority { routine, emergency } => routine.len() + emergency.len(),
            RxEnd::Broadcast(_) => usize::try_from(info.depth()).unwrap_or(usize::MAX),
        }
    }
}

/// The largest ring a broadcast edge gets.
const MAX_BROADCAST_CAPACITY: usize = 1 << 30;

/// Allocates the channel(s) of one edge.
pub(crate) fn channel<T: Clone + Send + 'static>(
    info: Arc<EdgeInfo>,
    classify: Option<fn(&T) -> Lane>,
    keep: Option<fn(&T) -> bool>,
) -> (EdgeTx<T>, EdgeRx<T>) {
    let (tx, rx) = match (info.kind, classify) {
        (EdgeKind::Broadcast, _) => {
            // tokio rounds the ring up to a power of two and refuses more than `usize::MAX / 2`
            // slots; the clamp keeps an absurd capacity from panicking.
            let (tx, rx) = broadcast::channel(info.capacity.clamp(1, MAX_BROADCAST_CAPACITY));
            (
                TxEnd::Broadcast(tx),
                RxEnd::Broadcast(Box::new(BroadcastRx::new(rx))),
            )
        }
        (EdgeKind::Priority, Some(classify)) => {
            // Each lane has the edge's capacity: backpressure applies per lane, so a flood of
            // routine items never takes the room an emergency item needs.
            let (routine_tx, routine_rx) = chunked::channel(info.capacity);
            let (emergency_tx, emergency_rx) = chunked::channel(info.capacity);
            (
                TxEnd::Priority {
                    routine: routine_tx,
                    emergency: emergency_tx,
                    classify,
                },
                RxEnd::Priority {
                    routine: routine_rx,
                    emergency: emergency_rx,
                },
            )
        }
        _ => {
            let (tx, rx) = chunked::channel(info.capacity);
            (TxEnd::Plain(tx), RxEnd::Plain(rx))
        }
    };
    (
        EdgeTx {
            tx,
            info: Arc::clone(&info),
            keep,
        },
        EdgeRx {
            rx,
            info,
            marks: EdgeMarks::default(),
        },
    )
}

/// What the last receive of an incarnation handed out and the incarnation has not finished
/// with (it did not come back for more): how many items, from which edge and lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    /// The edge's position among the inbox's receivers.
    pub(crate) edge: usize,
    /// Whether they came from a priority edge's emergency lane.
    pub(crate) emergency: bool,
    pub(crate) items: u64,
}

/// Where an operator's receivers live between incarnations. Receivers cannot be cloned, so the
/// running incarnation's [`Inbox`](super::Inbox) owns them and puts them back here when it is
/// dropped, whether the operator returned, failed, panicked or was aborted. A restart takes them
/// out again, which is how queued items survive a restart. The items the incarnation held when
/// it ended are noted beside them, for the supervisor to count once it knows how it ended.
#[derive(Debug)]
pub(crate) struct InputSlot<T>(Arc<Mutex<Slot<T>>>);

#[derive(Debug)]
struct Slot<T> {
    receivers: Option<Vec<EdgeRx<T>>>,
    held: Option<Held>,
    /// The inbox's alignment and watermark, between incarnations.
    marks: InboxMarks,
}

/// The inbox-wide marker state, kept in the input slot between incarnations (each edge's own
/// is in its [`EdgeMarks`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct InboxMarks {
    /// The checkpoint being aligned: its barrier has arrived on some lanes, which are held
    /// ([`NO_BARRIER`](super::marks::NO_BARRIER) when none).
    pub(crate) aligning: u64,
    /// The latest checkpoint aligned here; barriers of it or older are stale.
    pub(crate) aligned: u64,
    /// The inbox's watermark ([`NO_WATERMARK`] before the first).
    pub(crate) watermark: i64,
    /// Whether any watermark has reached the inbox: idleness is looked for only then.
    pub(crate) timed: bool,
}

impl Default for InboxMarks {
    fn default() -> Self {
        InboxMarks {
            aligning: 0,
            aligned: 0,
            watermark: NO_WATERMARK,
            timed: false,
        }
    }
}

impl<T> Clone for InputSlot<T> {
    fn clone(&self) -> Self {
        InputSlot(Arc::clone(&self.0))
    }
}

impl<T> InputSlot<T> {
    pub(crate) fn new(receivers: Vec<EdgeRx<T>>) -> Self {
        InputSlot(Arc::new(Mutex::new(Slot {
            receivers: Some(receivers),
            held: None,
            marks: InboxMarks::default(),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // A panic while holding this lock cannot leave the slot half-written, so a poisoned
        // lock still holds a consistent value.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn take(&self) -> Option<(Vec<EdgeRx<T>>, InboxMarks)> {
        let mut slot = self.lock();
        let receivers = slot.receivers.take()?;
        Some((receivers, slot.marks))
    }

    pub(crate) fn put_back(
        &self,
        receivers: Vec<EdgeRx<T>>,
        held: Option<Held>,
        marks: InboxMarks,
    ) {
        let mut slot = self.lock();
        slot.receivers = Some(receivers);
        slot.held = held;
        slot.marks = marks;
    }

    /// Settles what the last incarnation held: nothing to count when it `finished` (returned
    /// `Ok`); otherwise the items are lost with it, counted as dropped on their edge. Returns
    /// how many were counted.
    pub(crate) fn settle_held(&self, finished: bool) -> u64 {
        let mut slot = self.lock();
        let Some(held) = slot.held.take() else {
            return 0;
        };
        if finished {
            return 0;
        }
        if let Some(edge) = slot.receivers.as_ref().and_then(|r| r.get(held.edge)) {
            edge.info.dropped.add(held.items);
        }
        held.items
    }

    /// Drops the receivers for good, counting what was still queued on each edge as dropped
    /// there; returns the total.
    pub(crate) fn release(&self) -> u64 {
        let Some(receivers) = self.lock().receivers.take() else {
            return 0;
        };
        receivers
            .iter()
            .map(|edge| {
                let queued = edge.rx.len(&edge.info) as u64;
                edge.info.dropped.add(queued);
                queued
            })
            .sum()
    }
}
