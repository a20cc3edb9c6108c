//! The receiving side of an operator: all of its incoming edges merged fairly.

use std::future::poll_fn;
use std::task::{Context, Poll, ready};

use tokio::task::coop;

use std::sync::Arc;

use super::edge::Held;
use super::{EdgeInfo, EdgeRx, InputSlot, RxEnd};

/// The items arriving on an operator's or sink's incoming edges.
///
/// With several incoming edges (fan-in) the inbox takes from them in turn, so a busy upstream
/// cannot starve a quiet one, and items from any one upstream arrive in the order it sent them.
/// With priority edges (see [`EdgeOptions::priority`](crate::EdgeOptions::priority)) the inbox
/// is biased: every emergency lane of every edge is drained before any routine lane, and each
/// lane is taken in turn across edges. From a lossy broadcast edge, a receiver that fell behind
/// skips what it missed, logs a `tracing` warning with the count, adds it to the edge's
/// `lagged` count, and goes on with the oldest item still held.
/// [`recv`](Inbox::recv) answers `None` once every upstream has finished and every queue is
/// empty: that is the signal for the operator to finish too, which is how a graph drains.
///
/// Batches sent with [`Outbox::send_batch`](crate::Outbox::send_batch) arrive as units:
/// [`recv_many`](Inbox::recv_many) takes them whole (moving the batch's `Vec` into an empty
/// buffer, without a copy), and [`recv`](Inbox::recv) takes them apart, keeping the rest of a
/// batch for the next call.
///
/// The inbox survives a restart: when the operator's future ends or is dropped, the inbox hands
/// its channels back to the supervisor, and the next incarnation receives the same queues, so
/// nothing already queued is lost, the rest of a batch that was only partly received included.
/// What a failed incarnation had already taken out (the item or batch it was holding) is gone
/// with it.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{OperatorGraph, RestartPolicy, SupervisorPolicy};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut graph = OperatorGraph::new();
/// let numbers = graph.add_source("numbers", RestartPolicy::Never, |mut ctx| async move {
///     for n in 0..100u64 {
///         ctx.output.send(n).await?;
///     }
///     Ok(())
/// });
/// let total = graph.add_sink("total", RestartPolicy::Never, |mut ctx| async move {
///     let mut batch = Vec::new();
///     let mut sum = 0;
///     // Take up to 32 queued items per wake-up.
///     while ctx.input.recv_many(&mut batch, 32).await > 0 {
///         sum += batch.drain(..).sum::<u64>();
///     }
///     assert_eq!(sum, 4950);
///     Ok(())
/// });
/// graph.connect(&numbers, &total);
/// let outcome = graph.build()?.run(SupervisorPolicy::default()).await;
/// assert!(outcome.is_clean());
/// # Ok::<(), sda_orchestrator::BuildError>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Inbox<T> {
    edges: Vec<EdgeRx<T>>,
    next: usize,
    /// The round-robin cursor of the emergency lanes, kept apart from the routine one so that
    /// each lane is fair on its own.
    next_emergency: usize,
    /// Whether any edge is not a plain channel; plain inboxes keep the original fast path.
    special: bool,
    slot: InputSlot<T>,
    /// What the last receive handed out; finished once the operator comes back for more, or
    /// puts something out.
    held: Option<Held>,
    /// The operator's outgoing edges: sending after a receive says its items were finished.
    outputs: Vec<Arc<EdgeInfo>>,
    /// Items sent on `outputs` when the last receive handed its items out.
    sent_at_receive: u64,
}

impl<T> Inbox<T> {
    pub(crate) fn new(
        edges: Vec<EdgeRx<T>>,
        slot: InputSlot<T>,
        outputs: Vec<Arc<EdgeInfo>>,
    ) -> Self {
        let special = edges.iter().any(|e| !matches!(e.rx, RxEnd::Plain(_)));
        Inbox {
            edges,
            next: 0,
            next_emergency: 0,
            special,
            slot,
            held: None,
            outputs,
            sent_at_receive: 0,
        }
    }

    /// Items sent on the operator's outgoing edges so far.
    fn sent(&self) -> u64 {
        self.outputs.iter().map(|e| e.sent.get()).sum()
    }

    /// Notes what a receive just handed out.
    fn hold(&mut self, edge: usize, emergency: bool, items: u64) {
        self.held = Some(Held {
            edge,
            emergency,
            items,
        });
        if !self.outputs.is_empty() {
            self.sent_at_receive = self.sent();
        }
    }

    /// Receives the next item, or `None` once every incoming edge is closed and drained.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, no item has been taken (what
    /// is left of a batch stays in the inbox), so it can be used as a branch of
    /// `tokio::select!`.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Receives up to `limit` items into `buffer` in one wake-up and returns how many were
    /// added; `0` means every incoming edge is closed and drained (or `limit` was 0).
    ///
    /// A batch sent with [`send_batch`](crate::Outbox::send_batch) is handed over whole: taken
    /// into an empty `buffer` it replaces it (its allocation included), without a copy, and the
    /// call returns that batch alone; a batch larger than `limit` is split, and the rest waits
    /// for the next call. Items sent one by one are gathered up to `limit` (a batch that follows
    /// them in the same call is appended if it fits). The items come from one
    /// edge, in the order its producer sent them; the next call starts at the next edge. With
    /// priority edges, a call returns emergency items alone whenever any is queued, so an
    /// emergency never sits behind routine items in a batch (an emergency that arrives while the
    /// operator works on a routine batch is taken by the next call).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, nothing has been taken and
    /// `buffer` is unchanged, so it can be used as a branch of `tokio::select!`.
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        poll_fn(|cx| self.poll_recv_many(cx, buffer, limit)).await
    }

    /// Says that the operator has finished every item the last receive handed out, so that an
    /// incarnation that fails before it comes back for more is not counted as having dropped
    /// them (see [`give_back`](Inbox::give_back)). Coming back for more says the same.
    pub fn done(&mut self) {
        self.held = None;
    }

    /// Gives back items the last receive handed out, so that they are received again first, in
    /// the same order: the way for an operator that cannot finish a batch (it is about to fail,
    /// or to stop) to lose nothing. A restarted operator receives them before anything else.
    ///
    /// Give back items of the last receive only: all of them, or the ones at its end; giving
    /// back says the others were finished. Items from a lossy broadcast edge, or given back with
    /// no receive before, cannot be put back and are counted as dropped instead.
    ///
    /// Items the last receive handed out that were neither given back nor finished are counted
    /// as dropped on their edge if the incarnation then ends other than by returning `Ok` — an
    /// error, a panic or an abort — so that nothing an operator held disappears uncounted. An
    /// operator has finished them when it comes back for more, calls [`done`](Inbox::done), or
    /// has sent anything since that receive (what it produced from them is out; what it could
    /// not finish, it gives back).
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{OperatorGraph, RestartPolicy, SupervisorPolicy};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut graph = OperatorGraph::new();
    /// let numbers = graph.add_source("numbers", RestartPolicy::Never, |mut ctx| async move {
    ///     let mut batch: Vec<u64> = (0..10).collect();
    ///     ctx.output.send_batch(&mut batch).await?;
    ///     Ok(())
    /// });
    /// let flaky = graph.add_operator("flaky", RestartPolicy::default(), |mut ctx| async move {
    ///     let mut batch = Vec::new();
    ///     while ctx.input.recv_many(&mut batch, 64).await > 0 {
    ///         if ctx.attempt() == 0 {
    ///             // Not ready to handle it: give it back, then fail and be restarted.
    ///             ctx.input.give_back(std::mem::take(&mut batch));
    ///             anyhow::bail!("not yet");
    ///         }
    ///         ctx.output.send_batch(&mut batch).await?;
    ///     }
    ///     Ok(())
    /// });
    /// let total = graph.add_sink("total", RestartPolicy::Never, |mut ctx| async move {
    ///     let mut sum = 0;
    ///     while let Some(n) = ctx.input.recv().await {
    ///         sum += n;
    ///     }
    ///     assert_eq!(sum, 45, "the batch given back was not lost");
    ///     Ok(())
    /// });
    /// graph.connect(&numbers, &flaky).connect(&flaky, &total);
    /// let built = graph.build()?;
    /// let monitor = built.monitor();
    /// let policy = SupervisorPolicy::default()
    ///     .with_restart_backoff(std::time::Duration::ZERO, std::time::Duration::ZERO);
    /// assert!(built.run(policy).await.is_clean());
    /// assert_eq!(monitor.dropped_items(), 0);
    /// # Ok::<(), sda_orchestrator::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn give_back(&mut self, items: Vec<T>) {
        let n = items.len() as u64;
        if n == 0 {
            return;
        }
        let Some(held) = self.held.as_mut() else {
            if let Some(edge) = self.edges.first() {
                edge.info.dropped.add(n);
            }
            tracing::warn!(
                items = n,
                "items given back with no receive before them cannot be put back; counted as dropped"
            );
            return;
        };
        let Some(edge) = self.edges.get_mut(held.edge) else {
            return;
        };
        match edge.rx.unreceive(items, held.emergency) {
            None => edge.info.received.sub_exclusive(n),
            // A lossy broadcast edge holds no queue to put them back in.
            Some(_) => edge.info.dropped.add(n),
        }
        // Giving back says which items the operator could not finish: the others it did.
        held.items = 0;
    }

    /// Items queued on all incoming edges right now (both lanes of a priority edge; on a lossy
    /// broadcast edge, an estimate from the edge's counters).
    pub fn len(&self) -> usize {
        self.edges.iter().map(|e| e.rx.len(&e.info)).sum()
    }

    /// Items queued on the emergency lanes of the incoming priority edges right now (0 when
    /// there are none).
    pub fn emergency_len(&self) -> usize {
        self.edges
            .iter()
            .map(|e| match &e.rx {
                RxEnd::Priority { emergency, .. } => emergency.len(),
                _ => 0,
            })
            .sum()
    }

    /// Whether no item is queued right now (more may still arrive).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Polls for the next item; the building block of [`recv`](Inbox::recv).
    ///
    /// With priority edges, every emergency lane is polled (in turn) before any routine lane:
    /// an emergency item queued anywhere is taken before every routine item.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // Coming back for more means the operator finished what the last receive handed out.
        self.held = None;
        // One unit of the task's cooperative budget per item, as tokio's own channels do.
        let progress = ready!(coop::poll_proceed(cx));
        // What is queued now is taken without registering for a wake-up anywhere; only when
        // every edge is empty does the inbox poll them all (and register).
        let received = match self.try_recv_now() {
            Some(item) => Poll::Ready(Some(item)),
            None => self.poll_recv_waiting(cx),
        };
        if let Poll::Ready(Some(_)) = received {
            progress.made_progress();
        }
        received
    }

    /// One round, emergency lanes first, over what is queued now.
    fn try_recv_now(&mut self) -> Option<T> {
        let count = self.edges.len();
        if self.special {
            for step in 0..count {
                let index = (self.next_emergency + step) % count;
                let edge = &mut self.edges[index];
                if let RxEnd::Priority { emergency, .. } = &mut edge.rx
                    && let Some(item) = emergency.try_recv()
                {
                    edge.info.received.add_exclusive(1);
                    self.next_emergency = index + 1;
                    self.hold(index, true, 1);
                    return Some(item);
                }
            }
        }
        for step in 0..count {
            let index = (self.next + step) % count;
            let edge = &mut self.edges[index];
            let item = match &mut edge.rx {
                RxEnd::Plain(rx) => rx.try_recv(),
                RxEnd::Priority { routine, .. } => routine.try_recv(),
                RxEnd::Broadcast(_) => None,
            };
            if let Some(item) = item {
                edge.info.received.add_exclusive(1);
                self.next = index + 1;
                self.hold(index, false, 1);
                return Some(item);
            }
        }
        None
    }

    /// [`try_recv_now`](Inbox::try_recv_now) for a batch.
    fn try_recv_many_now(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        let count = self.edges.len();
        if self.special {
            for step in 0..count {
                let index = (self.next_emergency + step) % count;
                let edge = &mut self.edges[index];
                if let RxEnd::Priority { emergency, .. } = &mut edge.rx {
                    let n = emergency.try_recv_many(buffer, limit);
                    if n > 0 {
                        edge.info.received.add_exclusive(n as u64);
                        self.next_emergency = index + 1;
                        self.hold(index, true, n as u64);
                        return n;
                    }
                }
            }
        }
        for step in 0..count {
            let index = (self.next + step) % count;
            let edge = &mut self.edges[index];
            let n = match &mut edge.rx {
                RxEnd::Plain(rx) => rx.try_recv_many(buffer, limit),
                RxEnd::Priority { routine, .. } => routine.try_recv_many(buffer, limit),
                RxEnd::Broadcast(_) => 0,
            };
            if n > 0 {
                edge.info.received.add_exclusive(n as u64);
                self.next = index + 1;
                self.hold(index, false, n as u64);
                return n;
            }
        }
        0
    }

    /// Polls every edge (emergency lanes first), registering for a wake-up on each.
    fn poll_recv_waiting(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.special
            && let Poll::Ready(item) = self.poll_emergency(cx)
        {
            return Poll::Ready(Some(item));
        }
        let count = self.edges.len();
        let mut closed = 0;
        for step in 0..count {
            let index = (self.next + step) % count;
            let edge = &mut self.edges[index];
            match poll_edge(edge, cx) {
                Poll::Ready(Some(item)) => {
                    edge.info.received.add_exclusive(1);
                    self.next = index + 1;
                    // A priority edge's routine lane closed first gives its emergency items
                    // here; either way they came from this edge.
                    self.hold(index, false, 1);
                    return Poll::Ready(Some(item));
                }
                Poll::Ready(None) => closed += 1,
                Poll::Pending => {}
            }
        }
        if closed == count {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }

    /// One round over the emergency lanes of the priority edges, in turn; `Pending` when none
    /// holds an item.
    fn poll_emergency(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        let count = self.edges.len();
        for step in 0..count {
            let index = (self.next_emergency + step) % count;
            let edge = &mut self.edges[index];
            if let RxEnd::Priority { emergency, .. } = &mut edge.rx
                && let Poll::Ready(Some(item)) = emergency.poll_recv(cx)
            {
                edge.info.received.add_exclusive(1);
                self.next_emergency = index + 1;
                self.hold(index, true, 1);
                return Poll::Ready(item);
            }
        }
        Poll::Pending
    }

    fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        // Coming back for more means the operator finished what the last receive handed out.
        self.held = None;
        let progress = ready!(coop::poll_proceed(cx));
        let received = match self.try_recv_many_now(buffer, limit) {
            0 => self.poll_recv_many_waiting(cx, buffer, limit),
            n => Poll::Ready(n),
        };
        if let Poll::Ready(1..) = received {
            progress.made_progress();
        }
        received
    }

    /// Polls every edge for a batch (emergency lanes first), registering for a wake-up on each.
    fn poll_recv_many_waiting(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        if self.special
            && let Poll::Ready(n) = self.poll_emergency_many(cx, buffer, limit)
        {
            return Poll::Ready(n);
        }
        let count = self.edges.len();
        let mut closed = 0;
        for step in 0..count {
            let index = (self.next + step) % count;
            let edge = &mut self.edges[index];
            match poll_edge_many(edge, cx, buffer, limit) {
                Poll::Ready(0) => closed += 1,
                Poll::Ready(n) => {
                    edge.info.received.add_exclusive(n as u64);
                    self.next = index + 1;
                    self.hold(index, false, n as u64);
                    return Poll::Ready(n);
                }
                Poll::Pending => {}
            }
        }
        if closed == count {
            Poll::Ready(0)
        } else {
            Poll::Pending
        }
    }

    /// [`poll_emergency`](Inbox::poll_emergency) for a batch: up to `limit` emergency items
    /// from the first emergency lane (in turn) that holds any.
    fn poll_emergency_many(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        let count = self.edges.len();
        for step in 0..count {
            let index = (self.next_emergency + step) % count;
            let edge = &mut self.edges[index];
            if let RxEnd::Priority { emergency, .. } = &mut edge.rx
                && let Poll::Ready(n @ 1..) = emergency.poll_recv_many(cx, buffer, limit)
            {
                edge.info.received.add_exclusive(n as u64);
                self.next_emergency = index + 1;
                self.hold(index, true, n as u64);
                return Poll::Ready(n);
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for Inbox<T> {
    fn drop(&mut self) {
        // An operator that put something out since its last receive has finished that
        // receive's items (what it could not finish, it gives back).
        let held = self.held.take().filter(|h| {
            h.items > 0 && (self.outputs.is_empty() || self.sent() == self.sent_at_receive)
        });
        self.slot.put_back(std::mem::take(&mut self.edges), held);
    }
}

/// [`poll_edge`] for a batch of up to `limit` items; a lossy broadcast edge gives one item.
fn poll_edge_many<T>(
    edge: &mut EdgeRx<T>,
    cx: &mut Context<'_>,
    buffer: &mut Vec<T>,
    limit: usize,
) -> Poll<usize> {
    match &mut edge.rx {
        RxEnd::Plain(rx) => rx.poll_recv_many(cx, buffer, limit),
        RxEnd::Priority { routine, emergency } => match routine.poll_recv_many(cx, buffer, limit) {
            Poll::Ready(0) => emergency.poll_recv_many(cx, buffer, limit),
            other => other,
        },
        RxEnd::Broadcast(rx) => rx.poll_recv(cx, &edge.info).map(|item| match item {
            Some(item) => {
                buffer.push(item);
                1
            }
            None => 0,
        }),
    }
}

/// Polls one edge's only channel, or a priority edge's routine lane. A priority edge counts as
/// closed only once both lanes are: when the routine lane closes, its senders are gone and with
/// them the emergency lane's, but an emergency item sent just before the close is still taken.
fn poll_edge<T>(edge: &mut EdgeRx<T>, cx: &mut Context<'_>) -> Poll<Option<T>> {
    match &mut edge.rx {
        RxEnd::Plain(rx) => rx.poll_recv(cx),
        RxEnd::Priority { routine, emergency } => match routine.poll_recv(cx) {
            Poll::Ready(None) => emergency.poll_recv(cx),
            other => other,
        },
        RxEnd::Broadcast(rx) => rx.poll_recv(cx, &edge.info),
    }
}
