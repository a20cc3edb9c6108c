//! The sending side of a source or operator: every outgoing edge, with backpressure.

use std::sync::Arc;

use serde::Serialize;
use tokio::time::Instant;

use super::chunked::{self, TrySend};
use super::{EdgeTx, TxEnd};
use crate::checkpoint::{SendGuard, VertexCell};
use crate::control::PauseGate;
use crate::time::EventTime;
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
/// `send_batch` moves a batch across each edge as one unit: one slot of the edge holds the whole
/// batch, while the edge's capacity still counts items, so backpressure means the same whether
/// items travel one by one or in batches. With fan-out the batch is cloned once per extra edge.
///
/// A clone of an outbox sends on the same edges. It lets one task send on two paths at once,
/// for example an emergency loop beside a routine loop joined with `tokio::join!`, so that an
/// emergency item never waits for the task's own routine send to find room. Every clone holds
/// the edges open: downstream sees its input end only once the vertex's incarnation and every
/// clone are gone, so do not keep a clone in a task that outlives the vertex.
///
/// A source's outbox also honours its pause gate (see
/// [`GraphControls`](crate::control::GraphControls)): while the source is paused, `send` and
/// `send_batch` wait before sending, holding their items, until it is resumed or shutdown
/// begins; while it is throttled, they wait for a permit per item (a batch for all of its
/// items, a burst at a time), holding them, so nothing is dropped.
///
/// In a graph that takes checkpoints (see [`checkpoint`](crate::checkpoint)), a source's
/// barrier goes out between two sends, never inside one: a send that ends while a barrier is
/// pending emits it, behind what it sent. A send that waits for room on the source's only edge
/// (a plain edge without a filter, and a batch no larger than its capacity) has put nothing on
/// it yet, so a barrier requested while it waits goes out at once, ahead of it: backpressure
/// does not hold a source's barrier back. A larger batch, or a send on several edges, holds
/// the barrier until it ends, so a source that may fall behind its input sends in batches no
/// larger than its edge. A source that records where it is in its input
/// sends with [`send_at`](Outbox::send_at), so that the position a checkpoint records covers
/// exactly the items before the barrier. Every outbox also carries watermarks
/// ([`advance_watermark`](Outbox::advance_watermark)).
#[derive(Debug)]
pub struct Outbox<T> {
    edges: Vec<EdgeTx<T>>,
    /// A source's pause gate; `None` for operators.
    gate: Option<Arc<PauseGate>>,
    /// The vertex's checkpoint and event-time cell.
    cell: Arc<VertexCell>,
    /// Whether sends take part in a source's barrier protocol: a source in a graph that takes
    /// checkpoints. Other outboxes pay nothing for it.
    guarded: bool,
}

impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        Outbox {
            edges: self.edges.clone(),
            gate: self.gate.clone(),
            cell: Arc::clone(&self.cell),
            guarded: self.guarded,
        }
    }
}

impl<T> Outbox<T> {
    pub(crate) fn new(
        edges: Vec<EdgeTx<T>>,
        gate: Option<Arc<PauseGate>>,
        cell: Arc<VertexCell>,
    ) -> Self {
        let guarded = cell.source.is_some() && cell.checkpoints.is_some();
        Outbox {
            edges,
            gate,
            cell,
            guarded,
        }
    }

    /// Advances the watermark of the vertex's outgoing edges to `time`: a promise that no item
    /// sent on them from now on happened before `time` (see [`time`](crate::time)). The
    /// watermark goes on every outgoing edge except lossy broadcast ones, filtered or not, in
    /// order behind what was sent before; it takes no room and never waits. Returns whether the
    /// watermark moved: one that is not later than the last one is ignored, since watermarks
    /// never go back.
    ///
    /// An operator that calls this takes over its watermark: from then on its inbox no longer
    /// forwards the input watermark, so the operator advances its own as it handles time (a
    /// window that emits its results, say). Until its first call the inbox forwards, so an
    /// operator whose watermark may lag its input's calls
    /// [`take_over_watermark`](Outbox::take_over_watermark) before its first receive.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sda_orchestrator::{SourceContext, SourceFactory};
    /// use sda_orchestrator::time::EventTime;
    ///
    /// /// Readings stamped with their time, at most 2 s out of order.
    /// fn readings() -> impl SourceFactory<(EventTime, f64)> {
    ///     |mut ctx: SourceContext<(EventTime, f64)>| async move {
    ///         let mut latest = EventTime::MIN;
    ///         for (ms, value) in [(1_000, 0.5), (3_000, 0.7), (2_500, 0.6)] {
    ///             let time = EventTime::from_unix_millis(ms);
    ///             ctx.output.send((time, value)).await?;
    ///             latest = latest.max(time);
    ///             ctx.output.advance_watermark(latest.saturating_sub(Duration::from_secs(2)));
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = readings();
    /// ```
    pub fn advance_watermark(&self, time: EventTime) -> bool {
        self.cell.advance_watermark(time.as_unix_micros())
    }

    /// Declares that the vertex advances its own watermark: from now on its inbox no longer
    /// forwards its input watermark (see [`advance_watermark`](Outbox::advance_watermark)).
    /// An operator that handles event time calls it before its first receive.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{OperatorContext, OperatorFactory};
    /// use sda_orchestrator::time::EventTime;
    ///
    /// /// Counts items per second of event time; its watermark is the end of the last second
    /// /// it has emitted.
    /// fn per_second() -> impl OperatorFactory<EventTime, (i64, u64)> {
    ///     |mut ctx: OperatorContext<EventTime, (i64, u64)>| async move {
    ///         ctx.output.take_over_watermark();
    ///         let (mut second, mut count) = (None, 0);
    ///         while let Some(time) = ctx.input.recv().await {
    ///             let this = time.as_unix_micros().div_euclid(1_000_000);
    ///             if second.is_some_and(|s| s < this) {
    ///                 let done = second.unwrap_or(this);
    ///                 ctx.output.send((done, count)).await?;
    ///                 ctx.output.advance_watermark(EventTime::from_unix_micros((done + 1) * 1_000_000));
    ///                 count = 0;
    ///             }
    ///             second = Some(this);
    ///             count += 1;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = per_second();
    /// ```
    pub fn take_over_watermark(&self) {
        self.cell.take_over_watermark();
    }

    /// Records `position` as the source's position: where it is in its input, as of what it has
    /// sent. It is what a checkpoint records for the source and what
    /// [`SourceContext::restored_position`](crate::SourceContext::restored_position) gives
    /// back. Nothing for an operator's outbox.
    ///
    /// Prefer [`send_at`](Outbox::send_at), which moves the position with the send under the
    /// same lock as the barrier. A position set here, after a send, leaves a moment in which a
    /// barrier may record the previous position: that send is then replayed after a crash
    /// (at-least-once). It is for a position that moves without a send (input skipped on
    /// purpose).
    pub fn set_position<P: Serialize + Send + 'static>(&self, position: P) {
        self.cell.set_position(position);
    }

    /// Waits while the source is paused, then for throttle permits for `items` items.
    ///
    /// The wait is boxed: a send future carries only a pointer for it, so that the common send,
    /// which never waits here, does not build (and move) the gate's timer and notification.
    async fn pass_gate(&self, items: usize) {
        if let Some(gate) = &self.gate
            && gate.holds()
        {
            Box::pin(gate.pass(items)).await;
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
    /// is paused or throttled), the item is lost on the edges it had not reached yet.
    pub async fn send(&mut self, item: T) -> Result<(), SendError> {
        if self.is_gated() {
            self.pass_gate(1).await;
        }
        if self.guarded {
            // Counted out when the guard drops, with the result.
            return self.send_item_counted(item).await.0;
        }
        // Tried without waiting in this future's own poll; only the wait is a future of its own
        // (boxed). An `async fn` awaited here instead is a second state machine polled through
        // a call on every send; it was the largest entry of the per-message chain's profile
        // (see BENCHMARKS.md, what checkpoint-aligned acknowledgement costs when unused).
        match self.try_item(item) {
            Ok(sent) => sent,
            Err(rest) => Box::pin(self.wait_rest(rest)).await,
        }
    }

    /// Sends `item` as [`send`](Outbox::send) does and records `position` as the source's
    /// position once it is sent (see [`set_position`](Outbox::set_position)). In a graph that
    /// takes checkpoints the position moves with the send, under the lock the barrier is
    /// emitted under: a checkpoint's position covers exactly the items before its barrier, so
    /// that a source that replays from it after a crash sends each item after it once more,
    /// and nothing before it. The position is recorded whether or not every edge took the item.
    /// On an operator's outbox this is `send`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{SourceContext, SourceFactory};
    ///
    /// fn lines(all: Vec<String>) -> impl SourceFactory<String> {
    ///     move |mut ctx: SourceContext<String>| {
    ///         let all = all.clone();
    ///         async move {
    ///             // Resume after the last line a checkpoint (or an earlier incarnation) covers.
    ///             let start: usize = ctx.restored_position()?.unwrap_or(0);
    ///             for (index, line) in all.into_iter().enumerate().skip(start) {
    ///                 ctx.output.send_at(line, index + 1).await?;
    ///             }
    ///             Ok(())
    ///         }
    ///     }
    /// }
    /// # let _ = lines(Vec::new());
    /// ```
    ///
    /// # Errors
    ///
    /// [`SendError`] when an edge's downstream has finished for good.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`send`](Outbox::send); a cancelled send records no position.
    pub async fn send_at<P: Serialize + Send + 'static>(
        &mut self,
        item: T,
        position: P,
    ) -> Result<(), SendError> {
        if self.is_gated() {
            self.pass_gate(1).await;
        }
        let (result, guard) = if self.guarded {
            self.send_item_counted(item).await
        } else {
            let sent = match self.try_item(item) {
                Ok(sent) => sent,
                Err(rest) => Box::pin(self.wait_rest(rest)).await,
            };
            (sent, None)
        };
        match guard {
            Some(guard) => guard.finish_at(position),
            None => self.cell.set_position(position),
        }
        result
    }

    /// [`send_batch`](Outbox::send_batch) with a position, as [`send_at`](Outbox::send_at):
    /// `position` is recorded once the whole batch is sent.
    ///
    /// # Errors
    ///
    /// [`SendError`] naming the first edge whose downstream has finished.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`send_batch`](Outbox::send_batch); a cancelled send records no
    /// position.
    pub async fn send_batch_at<P: Serialize + Send + 'static>(
        &mut self,
        batch: &mut Vec<T>,
        position: P,
    ) -> Result<(), SendError> {
        if self.is_gated() {
            self.pass_gate(batch.len()).await;
        }
        let (result, guard) = if self.guarded {
            self.send_batch_counted(batch).await
        } else {
            (self.send_batch_items(batch).await, None)
        };
        match guard {
            Some(guard) => guard.finish_at(position),
            None => self.cell.set_position(position),
        }
        result
    }

    /// The only outgoing edge, when it is a plain edge without a filter: there a send either
    /// puts all of its items on the edge at once or none, so it can wait for room before it is
    /// counted in (see [`send_item_counted`](Outbox::send_item_counted)).
    #[inline]
    fn lone_plain(&self) -> Option<(&EdgeTx<T>, &chunked::Sender<T>)> {
        match self.edges.as_slice() {
            [edge] if edge.keep.is_none() => match &edge.tx {
                TxEnd::Plain(tx) => Some((edge, tx)),
                _ => None,
            },
            _ => None,
        }
    }

    /// A checkpointed source's `send`: counted in (see `SendGuard`) while it puts the item
    /// on its edges, so that a barrier goes out before it or after it, never in the middle;
    /// returns the guard still counted in, for the caller to finish with a position or drop.
    ///
    /// A send that has put nothing anywhere yet is not in the middle of anything, so on a lone
    /// plain edge a send that finds the edge full waits for room counted out: a barrier
    /// requested meanwhile goes out at once, ahead of the waiting item, with the position of
    /// what was sent before it, instead of waiting behind it for the room. A source blocked by
    /// backpressure thus still gets its barrier out, in order. Elsewhere (fan-out, filters,
    /// priority lanes) the item may be on one edge while it waits for another, so the send is
    /// counted in from its start and the barrier follows it.
    async fn send_item_counted(&self, item: T) -> (Result<(), SendError>, Option<SendGuard<'_>>) {
        let guard = self.cell.enter_send();
        let Some((edge, tx)) = self.lone_plain() else {
            return (self.send_item(item).await, guard);
        };
        match tx.try_send(item) {
            Ok(()) => {
                edge.info.sent.add(1);
                (Ok(()), guard)
            }
            Err(TrySend::Closed(_)) => (Err(undelivered(edge, 1)), guard),
            Err(TrySend::Full(item)) => {
                // Nothing of this send is on the edge: counted out while it waits.
                drop(guard);
                Box::pin(self.wait_then_push(edge, tx, Waiting::One(item))).await
            }
        }
    }

    /// A checkpointed source's `send_batch`, counted in as
    /// [`send_item_counted`](Outbox::send_item_counted) says: a batch that crosses a lone plain
    /// edge as one chunk waits for its room counted out.
    async fn send_batch_counted(
        &self,
        batch: &mut Vec<T>,
    ) -> (Result<(), SendError>, Option<SendGuard<'_>>) {
        let guard = self.cell.enter_send();
        let lone = self
            .lone_plain()
            .filter(|(_, tx)| !batch.is_empty() && batch.len() <= tx.max_chunk());
        let Some((edge, tx)) = lone else {
            return (self.send_batch_items(batch).await, guard);
        };
        let count = batch.len();
        match tx.try_send_chunk(std::mem::take(batch)) {
            Ok(()) => {
                edge.info.sent.add(count as u64);
                (Ok(()), guard)
            }
            Err(TrySend::Closed(_)) => (Err(undelivered(edge, count)), guard),
            Err(TrySend::Full(back)) => {
                // Nothing of this batch is on the edge: counted out while it waits.
                drop(guard);
                Box::pin(self.wait_then_push(edge, tx, Waiting::Many(back))).await
            }
        }
    }

    /// Waits for room on `tx` for what is waiting, counted out; then counts the send in (which
    /// emits a barrier requested meanwhile, ahead of it) and puts it on the edge. The wait is
    /// timed as blocked.
    async fn wait_then_push(
        &self,
        edge: &EdgeTx<T>,
        tx: &chunked::Sender<T>,
        waiting: Waiting<T>,
    ) -> (Result<(), SendError>, Option<SendGuard<'_>>) {
        let count = waiting.len();
        let started = Instant::now();
        let room = tx.room(count).await;
        edge.info.blocked_nanos.add(elapsed_nanos(started));
        let guard = self.cell.enter_send();
        let Some(room) = room else {
            return (Err(undelivered(edge, count)), guard);
        };
        match waiting {
            Waiting::One(item) => room.push_one(item),
            Waiting::Many(batch) => room.push_many(batch),
        }
        edge.info.sent.add(count as u64);
        (Ok(()), guard)
    }

    /// `send` past the pause gate and the barrier protocol, for the counted paths (which wait
    /// inside a future of their own anyway): [`try_item`](Outbox::try_item), then the wait.
    async fn send_item(&self, item: T) -> Result<(), SendError> {
        match self.try_item(item) {
            Ok(sent) => sent,
            Err(rest) => Box::pin(self.wait_rest(rest)).await,
        }
    }

    /// `send` past the pause gate and the barrier protocol, as far as it goes without waiting:
    /// `Ok` with the send's outcome when every edge took the item (or is closed), or the
    /// [`Rest`] to wait for when an edge is full.
    #[inline]
    fn try_item(&self, item: T) -> Result<Result<(), SendError>, Rest<T>> {
        match self.edges.as_slice() {
            // The common case, one edge (of any kind, filtered or not), without the general
            // path's loop: the filter, one attempt, and a wait only when the edge (or the
            // item's lane) is full.
            [edge] => {
                if !keeps(edge, &item) {
                    return Ok(Ok(()));
                }
                match try_send_on(edge, item) {
                    Ok(()) => Ok(Ok(())),
                    Err(TrySend::Closed(_)) => Ok(Err(undelivered(edge, 1))),
                    Err(TrySend::Full(item)) => Err(Rest::One(item)),
                }
            }
            [] => Ok(Err(SendError {
                edge: String::new(),
                undelivered: 1,
            })),
            _ => {
                let mut failed = None;
                let mut item = Some(item);
                match self.send_now(0, &mut item, &mut failed) {
                    None => Ok(failed.map_or(Ok(()), Err)),
                    Some((index, piece)) => Err(Rest::Many {
                        index,
                        piece,
                        item,
                        failed,
                    }),
                }
            }
        }
    }

    /// The waiting part of a send that [`try_item`](Outbox::try_item) could not finish.
    async fn wait_rest(&self, rest: Rest<T>) -> Result<(), SendError> {
        match rest {
            Rest::One(item) => send_on(&self.edges[0], item).await,
            Rest::Many {
                index,
                piece,
                item,
                failed,
            } => self.send_rest(index, piece, item, failed).await,
        }
    }

    /// The rest of a fan-out send once edge `index` was found full with `piece`: waits for it,
    /// then tries the edges after it without waiting, and so on.
    async fn send_rest(
        &self,
        mut index: usize,
        mut piece: T,
        mut item: Option<T>,
        mut failed: Option<SendError>,
    ) -> Result<(), SendError> {
        loop {
            if let Err(e) = send_on(&self.edges[index], piece).await {
                failed.get_or_insert(e);
            }
            match self.send_now(index + 1, &mut item, &mut failed) {
                Some((next, next_piece)) => {
                    index = next;
                    piece = next_piece;
                }
                None => return failed.map_or(Ok(()), Err),
            }
        }
    }

    /// Sends `item` on the edges from `next` on, as long as each has room: the last edge gets
    /// the item itself, the others a clone (a filtered edge decides before it is cloned). Returns
    /// the first edge that is full, with its piece, so that the caller waits for it.
    #[inline]
    fn send_now(
        &self,
        next: usize,
        item: &mut Option<T>,
        failed: &mut Option<SendError>,
    ) -> Option<(usize, T)> {
        let last = self.edges.len() - 1;
        for (index, edge) in self.edges.iter().enumerate().skip(next) {
            let kept = item.as_ref()?;
            if !keeps(edge, kept) {
                continue;
            }
            let piece = if index == last {
                item.take()?
            } else {
                kept.clone()
            };
            match try_send_on(edge, piece) {
                Ok(()) => {}
                Err(TrySend::Closed(_)) => {
                    failed.get_or_insert_with(|| undelivered(edge, 1));
                }
                Err(TrySend::Full(piece)) => return Some((index, piece)),
            }
        }
        None
    }

    /// Whether the source is paused or throttled now (an operator's outbox has no gate).
    #[inline]
    fn is_gated(&self) -> bool {
        self.gate.as_ref().is_some_and(|gate| gate.holds())
    }

    /// Sends every item of `batch`, in order, on every outgoing edge, leaving `batch` empty.
    ///
    /// The batch crosses each edge as one unit: it takes one slot of the edge's queue and
    /// wakes the consumer once, and its `Vec` is moved, not copied (so `batch` is left without
    /// its allocation; reserve again before refilling it if that matters). The edge's capacity
    /// still counts items: the batch waits until the edge has room for all of its items, and a
    /// batch larger than the capacity is sent in pieces of at most the capacity. With fan-out
    /// the batch is cloned once for each extra edge (after that edge's filter, if any). On a
    /// priority edge the batch is split by lane, and its emergency items are sent first, so they
    /// never wait behind its routine ones; on a lossy broadcast edge items go one by one.
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
        if self.is_gated() {
            self.pass_gate(batch.len()).await;
        }
        if self.guarded {
            // Counted out when the guard drops, with the result.
            return self.send_batch_counted(batch).await.0;
        }
        self.send_batch_items(batch).await
    }

    /// `send_batch` past the pause gate and the barrier protocol. The common case, one plain
    /// edge without a filter that has room for the whole batch, is tried first without
    /// waiting; the rest (which may wait) is boxed, so that the future stays small (see
    /// [`send_item`](Outbox::send_item)).
    async fn send_batch_items(&self, batch: &mut Vec<T>) -> Result<(), SendError> {
        if let [edge] = self.edges.as_slice()
            && edge.keep.is_none()
            && let TxEnd::Plain(tx) = &edge.tx
            && !batch.is_empty()
            && batch.len() <= tx.max_chunk()
        {
            let count = batch.len();
            match tx.try_send_chunk(std::mem::take(batch)) {
                Ok(()) => {
                    edge.info.sent.add(count as u64);
                    return Ok(());
                }
                Err(TrySend::Closed(_)) => return Err(undelivered(edge, count)),
                Err(TrySend::Full(back)) => *batch = back,
            }
        }
        Box::pin(self.send_batch_general(batch)).await
    }

    /// `send_batch` on every edge, waiting where one is full.
    async fn send_batch_general(&self, batch: &mut Vec<T>) -> Result<(), SendError> {
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
            let copy = match edge.keep {
                Some(keep) => {
                    let copy: Vec<T> = batch.iter().filter(|item| keep(item)).cloned().collect();
                    edge.info.filtered.add((batch.len() - copy.len()) as u64);
                    copy
                }
                None => batch.clone(),
            };
            if let Err(e) = send_batch_on(edge, copy).await {
                failed.get_or_insert(e);
            }
        }
        if let Some(keep) = last.keep {
            let before = batch.len();
            batch.retain(keep);
            last.info.filtered.add((before - batch.len()) as u64);
        }
        if let Err(e) = send_batch_on(last, std::mem::take(batch)).await {
            failed.get_or_insert(e);
        }
        failed.map_or(Ok(()), Err)
    }
}

/// What a send waiting for room holds: one item, or a batch that crosses as one chunk.
enum Waiting<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Waiting<T> {
    fn len(&self) -> usize {
        match self {
            Waiting::One(_) => 1,
            Waiting::Many(batch) => batch.len(),
        }
    }
}

/// Whether `edge` carries `item`: always, unless the edge has a filter that rejects it, which is
/// counted as filtered on the edge.
#[inline]
fn keeps<T>(edge: &EdgeTx<T>, item: &T) -> bool {
    match edge.keep {
        Some(keep) if !keep(item) => {
            edge.info.filtered.add(1);
            false
        }
        _ => true,
    }
}

/// Sends one item on one edge if it has room now, counting it as sent.
#[inline]
fn try_send_on<T>(edge: &EdgeTx<T>, item: T) -> Result<(), TrySend<T>> {
    match &edge.tx {
        TxEnd::Plain(tx) => tx.try_send(item)?,
        TxEnd::Priority {
            routine,
            emergency,
            classify,
        } => match classify(&item) {
            Lane::Emergency => {
                emergency.try_send(item)?;
                edge.info.emergency.add(1);
            }
            Lane::Routine => routine.try_send(item)?,
        },
        // A lossy edge never waits: a full ring overwrites its oldest item, which the lagging
        // receiver then reports as missed. It fails only when the receiver has gone for good.
        TxEnd::Broadcast(tx) => {
            if let Err(error) = tx.send(item) {
                return Err(TrySend::Closed(error.0));
            }
        }
    }
    edge.info.sent.add(1);
    Ok(())
}

/// Sends one item on one edge, waiting for room when it is full (the wait is timed).
async fn send_on<T>(edge: &EdgeTx<T>, item: T) -> Result<(), SendError> {
    let item = match try_send_on(edge, item) {
        Ok(()) => return Ok(()),
        Err(TrySend::Closed(_)) => return Err(undelivered(edge, 1)),
        Err(TrySend::Full(item)) => item,
    };
    let started = Instant::now();
    let (sent, emergency) = match &edge.tx {
        TxEnd::Plain(tx) => (tx.send(item).await.is_ok(), false),
        TxEnd::Priority {
            routine,
            emergency,
            classify,
        } => match classify(&item) {
            Lane::Emergency => (emergency.send(item).await.is_ok(), true),
            Lane::Routine => (routine.send(item).await.is_ok(), false),
        },
        // Never full, so not reached; sending again is the faithful answer.
        TxEnd::Broadcast(tx) => (tx.send(item).is_ok(), false),
    };
    edge.info.blocked_nanos.add(elapsed_nanos(started));
    if sent {
        if emergency {
            edge.info.emergency.add(1);
        }
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
        edge: edge.info.name().to_owned(),
        undelivered: count,
    }
}

/// Sends every item of `batch` on `edge`. The caller has already applied the edge's filter.
async fn send_batch_on<T>(edge: &EdgeTx<T>, batch: Vec<T>) -> Result<(), SendError> {
    if batch.is_empty() {
        return Ok(());
    }
    // The common case, a batch that fits on a plain edge with room, needs no waiting.
    let batch = match &edge.tx {
        TxEnd::Plain(tx) if batch.len() <= tx.max_chunk() => {
            let count = batch.len();
            match tx.try_send_chunk(batch) {
                Ok(()) => {
                    edge.info.sent.add(count as u64);
                    return Ok(());
                }
                Err(TrySend::Closed(_)) => return Err(undelivered(edge, count)),
                Err(TrySend::Full(batch)) => batch,
            }
        }
        _ => batch,
    };
    match &edge.tx {
        TxEnd::Plain(tx) => send_chunks(edge, tx, batch).await,
        TxEnd::Priority {
            routine,
            emergency,
            classify,
        } => {
            // The common case, a batch without emergencies, travels whole; otherwise the batch
            // is split by lane, order kept within each, and the emergencies go first.
            if batch.iter().all(|item| classify(item) == Lane::Routine) {
                return send_chunks(edge, routine, batch).await;
            }
            let (urgent, usual): (Vec<T>, Vec<T>) = batch
                .into_iter()
                .partition(|item| classify(item) == Lane::Emergency);
            let urgent_count = urgent.len() as u64;
            let first = send_chunks(edge, emergency, urgent).await;
            if first.is_ok() {
                edge.info.emergency.add(urgent_count);
            }
            let second = send_chunks(edge, routine, usual).await;
            match (first, second) {
                (Ok(()), second) => second,
                (Err(mut error), Err(more)) => {
                    error.undelivered += more.undelivered;
                    Err(error)
                }
                (Err(error), Ok(())) => Err(error),
            }
        }
        TxEnd::Broadcast(_) => {
            // A lossy edge takes items one by one; it never waits.
            let mut items = batch.into_iter();
            while let Some(item) = items.next() {
                if try_send_on(edge, item).is_err() {
                    let rest = items.len();
                    return Err(undelivered(edge, rest + 1));
                }
            }
            Ok(())
        }
    }
}

/// Sends `batch` on one bounded channel as one chunk, or as pieces of the channel's largest
/// chunk when it is larger; a `try_send` first, and a timed wait only when the channel is full.
async fn send_chunks<T>(
    edge: &EdgeTx<T>,
    tx: &chunked::Sender<T>,
    batch: Vec<T>,
) -> Result<(), SendError> {
    if batch.is_empty() {
        return Ok(());
    }
    if batch.len() <= tx.max_chunk() {
        return send_chunk(edge, tx, batch).await;
    }
    let mut items = batch.into_iter();
    while !items.as_slice().is_empty() {
        let piece: Vec<T> = items.by_ref().take(tx.max_chunk()).collect();
        if let Err(mut error) = send_chunk(edge, tx, piece).await {
            let rest = items.len();
            edge.info.dropped.add(rest as u64);
            error.undelivered += rest;
            return Err(error);
        }
    }
    Ok(())
}

/// Sends one chunk of at most the channel's largest chunk, counting it as sent.
async fn send_chunk<T>(
    edge: &EdgeTx<T>,
    tx: &chunked::Sender<T>,
    chunk: Vec<T>,
) -> Result<(), SendError> {
    let count = chunk.len();
    let sent = match tx.try_send_chunk(chunk) {
        Ok(()) => true,
        Err(TrySend::Closed(_)) => false,
        Err(TrySend::Full(chunk)) => {
            let started = Instant::now();
            let sent = tx.send_chunk(chunk).await;
            edge.info.blocked_nanos.add(elapsed_nanos(started));
            sent.is_ok()
        }
    };
    if sent {
        edge.info.sent.add(count as u64);
        Ok(())
    } else {
        Err(undelivered(edge, count))
    }
}

fn elapsed_nanos(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// What a send still has to do once an edge was found full.
enum Rest<T> {
    /// The one edge is full: wait for room for the item.
    One(T),
    /// A fan-out: edge `index` is full with `piece`; `item` is still to go to the edges after
    /// it (`None` once the last edge has it), and `failed` is the first closed edge met.
    Many {
        index: usize,
        piece: T,
        item: Option<T>,
        failed: Option<SendError>,
    },
}
