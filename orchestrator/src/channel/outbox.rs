//! The sending side of a source or operator: every outgoing edge, with backpressure.

use tokio::sync::mpsc::PermitIterator;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use super::EdgeTx;
use crate::Message;

/// The downstream side of an edge is gone, so an item could not be delivered there.
///
/// Downstream operators stay connected for the whole life of a graph, restarts included; an
/// edge closes only when the vertex behind it has finished for good (it returned early, or the
/// graph is being torn down after an escalation). The undelivered items are counted as dropped
/// on the edge (see [`GraphMonitor::dropped_items`](crate::GraphMonitor::dropped_items)), so
/// they are never lost silently. The error carries no item, so it converts into
/// `anyhow::Error` whatever the item type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("downstream of edge `{edge}` has finished; {undelivered} item(s) not delivered there")]
pub struct SendError {
    /// The label of the first closed edge, `from->to`.
    pub edge: String,
    /// How many items were not delivered on that edge.
    pub undelivered: usize,
}

/// The items a source or operator produces, delivered on each of its outgoing edges.
///
/// With one outgoing edge an item is moved; with several (fan-out) every downstream vertex gets
/// its own clone, with backpressure from the slowest: `send` waits until each edge has room. A
/// full edge is the normal way a slow consumer slows its producers down; the time spent waiting
/// is counted in `edge_send_blocked_seconds_total{edge}`.
#[derive(Debug)]
pub struct Outbox<T> {
    edges: Vec<EdgeTx<T>>,
}

impl<T> Outbox<T> {
    pub(crate) fn new(edges: Vec<EdgeTx<T>>) -> Self {
        Outbox { edges }
    }

    /// The number of outgoing edges.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }
}

impl<T: Message> Outbox<T> {
    /// Sends `item` on every outgoing edge, waiting while an edge is full.
    ///
    /// # Errors
    ///
    /// [`SendError`] when an edge's downstream has finished for good. The item is still
    /// delivered on the other edges.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if the future is dropped while waiting for room, the item is lost on
    /// the edges it had not reached yet.
    pub async fn send(&mut self, item: T) -> Result<(), SendError> {
        let Some((last, rest)) = self.edges.split_last() else {
            return Err(SendError {
                edge: String::new(),
                undelivered: 1,
            });
        };
        let mut failed = None;
        for edge in rest {
            if let Err(e) = send_on(edge, item.clone()).await {
                failed.get_or_insert(e);
            }
        }
        if let Err(e) = send_on(last, item).await {
            failed.get_or_insert(e);
        }
        failed.map_or(Ok(()), Err)
    }

    /// Sends every item of `batch`, in order, on every outgoing edge, leaving `batch` empty.
    ///
    /// Room for the whole batch (up to the edge's capacity at a time) is reserved at once, which
    /// costs far less per item than one [`send`](Outbox::send) each.
    ///
    /// # Errors
    ///
    /// [`SendError`] naming the first edge whose downstream has finished; the other edges still
    /// receive the whole batch.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: items not yet sent when the future is dropped are lost.
    pub async fn send_batch(&mut self, batch: &mut Vec<T>) -> Result<(), SendError> {
        let Some((last, rest)) = self.edges.split_last() else {
            let undelivered = batch.len();
            batch.clear();
            return Err(SendError {
                edge: String::new(),
                undelivered,
            });
        };
        let mut failed = None;
        for edge in rest {
            let mut copy = batch.clone();
            if let Err(e) = send_batch_on(edge, &mut copy).await {
                failed.get_or_insert(e);
            }
        }
        if let Err(e) = send_batch_on(last, batch).await {
            failed.get_or_insert(e);
        }
        failed.map_or(Ok(()), Err)
    }
}

/// Sends one item on one edge: a `try_send` first, so the common case pays no timing cost, and
/// a timed wait only when the edge is full.
async fn send_on<T>(edge: &EdgeTx<T>, item: T) -> Result<(), SendError> {
    let sent = match edge.tx.try_send(item) {
        Ok(()) => true,
        Err(TrySendError::Closed(_)) => false,
        Err(TrySendError::Full(item)) => {
            let started = Instant::now();
            let sent = edge.tx.send(item).await;
            edge.info.blocked_nanos.add(elapsed_nanos(started));
            sent.is_ok()
        }
    };
    if sent {
        edge.info.sent.add(1);
        Ok(())
    } else {
        Err(undelivered(edge, 1))
    }
}

/// Counts items that could not be delivered on a closed edge, and says so.
fn undelivered<T>(edge: &EdgeTx<T>, count: usize) -> SendError {
    edge.info.dropped.add(count as u64);
    SendError {
        edge: edge.info.name.clone(),
        undelivered: count,
    }
}

async fn send_batch_on<T>(edge: &EdgeTx<T>, batch: &mut Vec<T>) -> Result<(), SendError> {
    let mut items = batch.drain(..);
    loop {
        let wanted = items.len().min(edge.info.capacity);
        if wanted == 0 {
            return Ok(());
        }
        let Some(permits) = reserve_many(edge, wanted).await else {
            return Err(undelivered(edge, items.len()));
        };
        for (permit, item) in permits.zip(&mut items) {
            permit.send(item);
        }
        edge.info.sent.add(wanted as u64);
    }
}

/// Reserves room for `n` items, timing the wait when the edge is full; `None` when closed.
async fn reserve_many<T>(edge: &EdgeTx<T>, n: usize) -> Option<PermitIterator<'_, T>> {
    match edge.tx.try_reserve_many(n) {
        Ok(permits) => Some(permits),
        Err(TrySendError::Closed(())) => None,
        Err(TrySendError::Full(())) => {
            let started = Instant::now();
            let reserved = edge.tx.reserve_many(n).await;
            edge.info.blocked_nanos.add(elapsed_nanos(started));
            reserved.ok()
        }
    }
}

fn elapsed_nanos(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
