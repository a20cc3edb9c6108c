//! The sending side of a source or operator: every outgoing edge, with backpressure.

use std::sync::Arc;

use tokio::sync::mpsc::PermitIterator;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use super::{EdgeTx, TxEnd};
use crate::control::PauseGate;
use crate::{Lane, Message};

/// The downstream side of an edge is gone, so an item could not be delivered there.
///
/// Downstream operators stay connected for the whole life of a graph, restarts included; an edge
/// closes only when the vertex behind it has finished for good (it returned early, or the graph is
/// being torn down after an escalation). The undelivered items are counted as dropped on the edge
/// (see [`GraphMonitor::dropped_items`](crate::monitor::GraphMonitor::dropped_items)), so they are
/// never lost silently. The error carries no item, so it converts into `anyhow::Error` whatever the
/// item type.
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
///
/// Two edge kinds change that per edge (see [`EdgeOptions`](crate::EdgeOptions)): on a
/// priority edge the item goes to the lane its classifier picks, and only that lane's room is
/// waited for; on a lossy broadcast edge `send` never waits (a lagging consumer misses the
/// oldest items instead), so a fan-out that mixes both kinds is held back only by its plain and
/// priority edges.
///
/// A source's outbox also honours its pause gate (see
/// [`GraphControls`](crate::control::GraphControls)): while the source is paused, `send` and
/// `send_batch` wait before sending, holding their items, until it is resumed or shutdown
/// begins.
#[derive(Debug)]
pub struct Outbox<T> {
    edges: Vec<EdgeTx<T>>,
    /// A source's pause gate; `None` for operators.
    gate: Option<Arc<PauseGate>>,
}

impl<T> Outbox<T> {
    pub(crate) fn new(edges: Vec<EdgeTx<T>>, gate: Option<Arc<PauseGate>>) -> Self {
        Outbox { edges, gate }
    }

    /// Another outbox over the same edges, for a task that feeds them too (a router's feeds).
    pub(crate) fn share(&self) -> Outbox<T> {
        Outbox {
            edges: self.edges.clone(),
            gate: self.gate.clone(),
        }
    }

    /// Waits while the source is paused. When it is not, this costs one relaxed load (and, for
    /// an operator's outbox, which has no gate, one branch).
    #[inline]
    async fn pass_gate(&self) {
        if let Some(gate) = &self.gate
            && gate.is_paused()
        {
            gate.wait().await;
        }
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
    /// Not cancel safe: if the future is dropped while waiting for room (or while its source
    /// is paused), the item is lost on the edges it had not reached yet.
    pub async fn send(&mut self, item: T) -> Result<(), SendError> {
        self.pass_gate().await;
        // The common case — one plain edge with room — completes without building the general
        // path's state machine.
        let item = match self.edges.as_slice() {
            [edge] if edge.keep.is_none() => match &edge.tx {
                TxEnd::Plain(tx) => match tx.try_send(item) {
                    Ok(()) => {
                        edge.info.sent.add(1);
                        return Ok(());
                    }
                    Err(TrySendError::Closed(_)) => return Err(undelivered(edge, 1)),
                    Err(TrySendError::Full(item)) => item,
                },
                _ => item,
            },
            _ => item,
        };
        let Some((last, rest)) = self.edges.split_last() else {
            return Err(SendError {
                edge: String::new(),
                undelivered: 1,
            });
        };
        let mut failed = None;
        for edge in rest {
            // A filtered edge decides before the item is cloned for it.
            if keeps(edge, &item)
                && let Err(e) = send_on(edge, item.clone()).await
            {
                failed.get_or_insert(e);
            }
        }
        if keeps(last, &item)
            && let Err(e) = send_on(last, item).await
        {
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
        self.pass_gate().await;
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
            // A filtered edge decides before anything is cloned for it, so an item it does not
            // carry costs one call of the filter and nothing else.
            let mut copy = if edge.keep.is_some() {
                batch
                    .iter()
                    .filter(|item| keeps(edge, item))
                    .cloned()
                    .collect()
            } else {
                batch.clone()
            };
            if let Err(e) = send_batch_on(edge, &mut copy).await {
                failed.get_or_insert(e);
            }
        }
        if last.keep.is_some() {
            batch.retain(|item| keeps(last, item));
        }
        if let Err(e) = send_batch_on(last, batch).await {
            failed.get_or_insert(e);
        }
        failed.map_or(Ok(()), Err)
    }
}

/// Whether `edge` carries `item`: always, unless the edge has a filter that rejects it, which is
/// counted as filtered on the edge.
fn keeps<T>(edge: &EdgeTx<T>, item: &T) -> bool {
    match edge.keep {
        Some(keep) if !keep(item) => {
            edge.info.filtered.add(1);
            false
        }
        _ => true,
    }
}

/// Sends one item on one edge: a `try_send` first, so the common case pays no timing cost, and
/// a timed wait only when the edge is full.
async fn send_on<T>(edge: &EdgeTx<T>, item: T) -> Result<(), SendError> {
    let sent = match &edge.tx {
        TxEnd::Plain(tx) => send_mpsc(edge, tx, item).await,
        TxEnd::Priority {
            routine,
            emergency,
            classify,
        } => match classify(&item) {
            Lane::Emergency => {
                let sent = send_mpsc(edge, emergency, item).await;
                if sent {
                    edge.info.emergency.add(1);
                }
                sent
            }
            Lane::Routine => send_mpsc(edge, routine, item).await,
        },
        // A lossy edge never waits: a full ring overwrites its oldest item, which the lagging
        // receiver then reports as missed. It fails only when the receiver has gone for good.
        TxEnd::Broadcast(tx) => tx.send(item).is_ok(),
    };
    if sent {
        edge.info.sent.add(1);
        Ok(())
    } else {
        Err(undelivered(edge, 1))
    }
}

/// Sends on one bounded channel, timing the wait when it is full; `false` when closed.
async fn send_mpsc<T>(edge: &EdgeTx<T>, tx: &tokio::sync::mpsc::Sender<T>, item: T) -> bool {
    match tx.try_send(item) {
        Ok(()) => true,
        Err(TrySendError::Closed(_)) => false,
        Err(TrySendError::Full(item)) => {
            let started = Instant::now();
            let sent = tx.send(item).await;
            edge.info.blocked_nanos.add(elapsed_nanos(started));
            sent.is_ok()
        }
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

/// Sends every item of `batch` on `edge`, leaving it empty. The caller has already applied the
/// edge's filter.
async fn send_batch_on<T>(edge: &EdgeTx<T>, batch: &mut Vec<T>) -> Result<(), SendError> {
    let TxEnd::Plain(tx) = &edge.tx else {
        // Priority and broadcast edges decide per item (its lane, or no waiting at all).
        let mut items = batch.drain(..);
        while let Some(item) = items.next() {
            if let Err(mut error) = send_on(edge, item).await {
                let rest = items.len();
                edge.info.dropped.add(rest as u64);
                error.undelivered += rest;
                return Err(error);
            }
        }
        return Ok(());
    };
    let mut items = batch.drain(..);
    loop {
        let wanted = items.len().min(edge.info.capacity);
        if wanted == 0 {
            return Ok(());
        }
        let Some(permits) = reserve_many(edge, tx, wanted).await else {
            return Err(undelivered(edge, items.len()));
        };
        for (permit, item) in permits.zip(&mut items) {
            permit.send(item);
        }
        edge.info.sent.add(wanted as u64);
    }
}

/// Reserves room for `n` items, timing the wait when the edge is full; `None` when closed.
async fn reserve_many<'a, T>(
    edge: &EdgeTx<T>,
    tx: &'a tokio::sync::mpsc::Sender<T>,
    n: usize,
) -> Option<PermitIterator<'a, T>> {
    match tx.try_reserve_many(n) {
        Ok(permits) => Some(permits),
        Err(TrySendError::Closed(())) => None,
        Err(TrySendError::Full(())) => {
            let started = Instant::now();
            let reserved = tx.reserve_many(n).await;
            edge.info.blocked_nanos.add(elapsed_nanos(started));
            reserved.ok()
        }
    }
}

fn elapsed_nanos(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
