//! The receiving side of an operator: all of its incoming edges merged fairly.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::task::coop;
use tokio::time::{Instant, Sleep, sleep_until};

use super::chunked::Receiver;
use super::edge::{Held, InboxMarks, LossyRx};
use super::marks::{Marks, NO_BARRIER, NO_WATERMARK};
use super::{EdgeInfo, EdgeRx, InputSlot, RxEnd};
use crate::checkpoint::{CheckpointToken, VertexCell};
use crate::time::{EventTime, Timestamped};

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
/// # Checkpoints and event time
///
/// Markers travel in order with the items (see [`checkpoint`](crate::checkpoint) and
/// [`time`](crate::time)), and the inbox handles them for the operator:
///
/// * **Barriers.** When checkpoint `k`'s barrier arrives on one incoming edge, that edge is not
///   read again until `k` has arrived on every other incoming edge that is still open (lossy
///   broadcast edges, which carry no barriers, are read throughout). Once aligned, at the
///   operator's next receive (so it has finished every item from before the barrier), the
///   inbox snapshots the operator's [`State`](crate::checkpoint::State)s, forwards barrier `k`
///   on its outgoing edges and reads every edge again. [`recv`](Inbox::recv) and
///   [`recv_many`](Inbox::recv_many) acknowledge the checkpoint then;
///   [`recv_event`](Inbox::recv_event) hands the operator a
///   [`CheckpointToken`](crate::checkpoint::CheckpointToken) to commit instead. The alignment
///   survives a restart: the next incarnation goes on with it.
/// * **Watermarks.** [`watermark`](Inbox::watermark) is the minimum of the watermarks of the
///   incoming edges (edges marked idle, finished edges and broadcast edges left out; never
///   going back), forwarded on the operator's outgoing edges as it advances unless the
///   operator advances its own ([`Outbox::advance_watermark`](crate::Outbox::advance_watermark)).
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
    /// The vertex's checkpoint and event-time cell: states, marker outputs, acknowledgements.
    cell: Arc<VertexCell>,
    /// Alignment and watermark, kept in the slot between incarnations.
    marks: InboxMarks,
    /// Whether the receive in progress returns events (`recv_event`) rather than items only.
    events: bool,
    /// A checkpoint aligned during an event receive, to be handed out.
    token: Option<CheckpointToken>,
    /// The watermark advanced during an event receive, to be reported.
    watermark_event: bool,
    /// Whether any edge is marked idle: only then is an item's edge looked at for it.
    any_idle: bool,
    /// When the next idleness look is due, and the timer that wakes a waiting inbox for it.
    idle_deadline: Option<Instant>,
    idle_timer: Option<Pin<Box<Sleep>>>,
    /// Counts the times held lanes were released: a waiting round that saw one starts again,
    /// since it skipped (and did not register on) the lanes that were held.
    released: u64,
}

/// What one receive gives: an item (or a count of items), or an event to report.
enum Next<G> {
    Got(G),
    Event,
}

/// One kind of receive: a single item, or up to `limit` items into a buffer.
trait Take<T> {
    /// What a successful receive gives: the item, or how many items were added.
    type Got;
    fn try_take(&mut self, rx: &mut Receiver<T>) -> Option<Self::Got>;
    fn poll_take(&mut self, rx: &mut Receiver<T>, cx: &mut Context<'_>) -> Poll<Option<Self::Got>>;
    fn poll_lossy(
        &mut self,
        rx: &mut Box<dyn LossyRx<T>>,
        cx: &mut Context<'_>,
        info: &EdgeInfo,
    ) -> Poll<Option<Self::Got>>;
    fn count(got: &Self::Got) -> u64;
}

/// `recv`: one item.
struct One;

impl<T> Take<T> for One {
    type Got = T;

    #[inline]
    fn try_take(&mut self, rx: &mut Receiver<T>) -> Option<T> {
        rx.try_recv()
    }

    #[inline]
    fn poll_take(&mut self, rx: &mut Receiver<T>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        rx.poll_recv(cx)
    }

    fn poll_lossy(
        &mut self,
        rx: &mut Box<dyn LossyRx<T>>,
        cx: &mut Context<'_>,
        info: &EdgeInfo,
    ) -> Poll<Option<T>> {
        rx.poll_recv(cx, info)
    }

    #[inline]
    fn count(_: &T) -> u64 {
        1
    }
}

/// `recv_many`: up to `limit` items into `buffer`.
struct Many<'a, T> {
    buffer: &'a mut Vec<T>,
    limit: usize,
}

impl<T> Take<T> for Many<'_, T> {
    type Got = usize;

    #[inline]
    fn try_take(&mut self, rx: &mut Receiver<T>) -> Option<usize> {
        match rx.try_recv_many(self.buffer, self.limit) {
            0 => None,
            n => Some(n),
        }
    }

    #[inline]
    fn poll_take(&mut self, rx: &mut Receiver<T>, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        rx.poll_recv_many(cx, self.buffer, self.limit)
            .map(|n| (n > 0).then_some(n))
    }

    fn poll_lossy(
        &mut self,
        rx: &mut Box<dyn LossyRx<T>>,
        cx: &mut Context<'_>,
        info: &EdgeInfo,
    ) -> Poll<Option<usize>> {
        rx.poll_recv(cx, info).map(|item| {
            item.map(|item| {
                self.buffer.push(item);
                1
            })
        })
    }

    #[inline]
    fn count(got: &usize) -> u64 {
        *got as u64
    }
}

/// How one lane answered a waiting poll.
enum Lane<G> {
    Got(G),
    Event,
    Closed,
    /// Pending, or held by a barrier (not polled: its release starts the round again).
    Waiting,
}

/// The channel of lane `lane` of an edge: 0 is a plain edge's channel or a priority edge's
/// routine lane, 1 a priority edge's emergency lane; a lossy broadcast edge has none.
#[inline]
fn lane_rx<T>(rx: &mut RxEnd<T>, lane: usize) -> Option<&mut Receiver<T>> {
    match (rx, lane) {
        (RxEnd::Plain(rx), 0) => Some(rx),
        (RxEnd::Priority { routine, .. }, 0) => Some(routine),
        (RxEnd::Priority { emergency, .. }, 1) => Some(emergency),
        _ => None,
    }
}

/// How many lanes an edge's markers travel on.
fn lanes<T>(rx: &RxEnd<T>) -> usize {
    match rx {
        RxEnd::Plain(_) => 1,
        RxEnd::Priority { .. } => 2,
        RxEnd::Broadcast(_) => 0,
    }
}

/// What a receive in event mode hands out.
///
/// From [`Inbox::recv_event`] (with the item) and [`Inbox::recv_many_event`] (with how many
/// items were added to the buffer).
#[derive(Debug)]
pub enum InputEvent<T> {
    /// The next item (or, from `recv_many_event`, how many items were added to the buffer).
    Item(T),
    /// A checkpoint's barrier has been aligned: everything before it has been received and
    /// the operator's states have been snapshotted. Commit the token once what was done with
    /// those items is durable (see [`CheckpointToken`]).
    Checkpoint(CheckpointToken),
    /// The inbox's watermark advanced to this time (see [`Inbox::watermark`]).
    Watermark(EventTime),
}

impl<T> Inbox<T> {
    pub(crate) fn new(
        edges: Vec<EdgeRx<T>>,
        marks: InboxMarks,
        slot: InputSlot<T>,
        outputs: Vec<Arc<EdgeInfo>>,
        cell: Arc<VertexCell>,
    ) -> Self {
        let special = edges.iter().any(|e| !matches!(e.rx, RxEnd::Plain(_)));
        let any_idle = edges.iter().any(|e| e.marks.idle);
        Inbox {
            edges,
            next: 0,
            next_emergency: 0,
            special,
            slot,
            held: None,
            outputs,
            sent_at_receive: 0,
            cell,
            marks,
            events: false,
            token: None,
            watermark_event: false,
            any_idle,
            idle_deadline: None,
            idle_timer: None,
            released: 0,
        }
    }

    /// Items sent on the operator's outgoing edges so far.
    fn sent(&self) -> u64 {
        self.outputs.iter().map(|e| e.sent.get()).sum()
    }

    /// Notes what a receive just handed out.
    #[inline]
    fn hold(&mut self, edge: usize, emergency: bool, items: u64) {
        self.held = Some(Held {
            edge,
            emergency,
            items,
        });
        if !self.outputs.is_empty() {
            self.sent_at_receive = self.sent();
        }
        if self.any_idle && self.edges[edge].marks.idle {
            self.wake_idle(edge);
        }
    }

    /// Receives the next item, or `None` once every incoming edge is closed and drained.
    ///
    /// Checkpoint barriers are handled on the way (acknowledged at alignment, see the type's
    /// documentation) and watermarks recorded; only items are returned.
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
    /// operator works on a routine batch is taken by the next call). A call never gathers items
    /// across a checkpoint barrier or a watermark.
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

    /// Receives the next item or event: a checkpoint barrier aligned here (to be committed),
    /// or an advance of the inbox's watermark. `None` once every incoming edge is closed and
    /// drained.
    ///
    /// This is how a sink that writes durable output makes a checkpoint wait for its writes:
    /// on [`InputEvent::Checkpoint`] it flushes what it wrote, then commits the token (see
    /// [`CheckpointToken`]). An operator that handles event time itself gets each advance of
    /// its input watermark as [`InputEvent::Watermark`], in order with the items.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{InputEvent, OperatorGraph, RestartPolicy, SupervisorPolicy};
    /// use sda_orchestrator::time::EventTime;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut graph = OperatorGraph::new();
    /// let clock = graph.add_source("clock", RestartPolicy::Never, |mut ctx| async move {
    ///     ctx.output.send(1_u32).await?;
    ///     ctx.output.advance_watermark(EventTime::from_unix_millis(5));
    ///     Ok(())
    /// });
    /// let log = graph.add_sink("log", RestartPolicy::Never, |mut ctx| async move {
    ///     let mut seen = Vec::new();
    ///     while let Some(event) = ctx.input.recv_event().await {
    ///         match event {
    ///             InputEvent::Item(n) => seen.push(format!("item {n}")),
    ///             InputEvent::Watermark(t) => seen.push(format!("watermark {t}")),
    ///             InputEvent::Checkpoint(token) => token.commit(),
    ///         }
    ///     }
    ///     assert_eq!(seen, ["item 1", "watermark 5000us"]);
    ///     Ok(())
    /// });
    /// graph.connect(&clock, &log);
    /// assert!(graph.build()?.run(SupervisorPolicy::default()).await.is_clean());
    /// # Ok::<(), sda_orchestrator::BuildError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped before it completes, it has taken no item, and an event it found
    /// is returned by the next call.
    pub async fn recv_event(&mut self) -> Option<InputEvent<T>> {
        poll_fn(|cx| self.poll_event(cx, &mut One)).await
    }

    /// [`recv_event`](Inbox::recv_event) for batches: receives up to `limit` items into
    /// `buffer` as [`recv_many`](Inbox::recv_many) does (`InputEvent::Item(n)`: `n` items were
    /// added), or an event. `None` once every incoming edge is closed and drained (or `limit`
    /// was 0).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`recv_event`](Inbox::recv_event); `buffer` is unchanged by a call
    /// that does not complete.
    pub async fn recv_many_event(
        &mut self,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Option<InputEvent<usize>> {
        if limit == 0 {
            return None;
        }
        poll_fn(|cx| self.poll_event(cx, &mut Many { buffer, limit })).await
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

    /// The inbox's watermark: the minimum of its incoming edges' watermarks, leaving out edges
    /// marked idle, finished edges and lossy broadcast edges. `None` until every edge it counts
    /// has carried a watermark. It never goes back.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{OperatorGraph, RestartPolicy, SupervisorPolicy};
    /// use sda_orchestrator::time::EventTime;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut graph = OperatorGraph::new();
    /// let mut sources = Vec::new();
    /// for (name, time) in [("fast", 50), ("slow", 20)] {
    ///     sources.push(graph.add_source(name, RestartPolicy::Never, move |mut ctx| async move {
    ///         ctx.output.advance_watermark(EventTime::from_unix_micros(time));
    ///         ctx.output.send(time).await?;
    ///         Ok(())
    ///     }));
    /// }
    /// let sink = graph.add_sink("sink", RestartPolicy::Never, |mut ctx| async move {
    ///     let mut received = 0;
    ///     while ctx.input.recv().await.is_some() {
    ///         received += 1;
    ///         if received == 2 {
    ///             // Both watermarks came before the items: the minimum of the two.
    ///             assert_eq!(ctx.input.watermark(), Some(EventTime::from_unix_micros(20)));
    ///         }
    ///     }
    ///     Ok(())
    /// });
    /// for source in &sources {
    ///     graph.connect(source, &sink);
    /// }
    /// assert!(graph.build()?.run(SupervisorPolicy::default()).await.is_clean());
    /// # Ok::<(), sda_orchestrator::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn watermark(&self) -> Option<EventTime> {
        (self.marks.watermark != NO_WATERMARK)
            .then(|| EventTime::from_unix_micros(self.marks.watermark))
    }

    /// Whether `item` happened before the inbox's watermark: a producer promised no such item,
    /// so it is late (an idle edge that spoke again, or a producer that broke its promise).
    pub fn is_late(&self, item: &T) -> bool
    where
        T: Timestamped,
    {
        self.watermark().is_some_and(|w| item.event_time() < w)
    }

    /// The checkpoint this inbox is aligning: its barrier has arrived on some incoming edges,
    /// which are held until it arrives on the others. `None` when no alignment is in progress.
    pub fn aligning(&self) -> Option<u64> {
        (self.marks.aligning != NO_BARRIER).then_some(self.marks.aligning)
    }

    /// Polls for the next item; the building block of [`recv`](Inbox::recv).
    ///
    /// With priority edges, every emergency lane is polled (in turn) before any routine lane:
    /// an emergency item queued anywhere is taken before every routine item.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.events = false;
        self.poll_items(cx, &mut One)
    }

    fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        self.events = false;
        self.poll_items(cx, &mut Many { buffer, limit })
            .map(|n| n.unwrap_or(0))
    }

    /// A receive that returns items only (events are handled on the way).
    #[inline]
    fn poll_items<K: Take<T>>(
        &mut self,
        cx: &mut Context<'_>,
        take: &mut K,
    ) -> Poll<Option<K::Got>> {
        loop {
            match ready!(self.poll_next(cx, take)) {
                Some(Next::Got(got)) => return Poll::Ready(Some(got)),
                // Not produced outside event mode; looking again is the faithful answer.
                Some(Next::Event) => continue,
                None => return Poll::Ready(None),
            }
        }
    }

    /// A receive in event mode.
    fn poll_event<K: Take<T>>(
        &mut self,
        cx: &mut Context<'_>,
        take: &mut K,
    ) -> Poll<Option<InputEvent<K::Got>>> {
        self.events = true;
        if let Some(event) = self.take_event() {
            self.held = None;
            return Poll::Ready(Some(event));
        }
        match ready!(self.poll_next(cx, take)) {
            Some(Next::Got(got)) => Poll::Ready(Some(InputEvent::Item(got))),
            Some(Next::Event) => match self.take_event() {
                Some(event) => Poll::Ready(Some(event)),
                // An event is always stored before `Next::Event`; asking again is safe.
                None => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            },
            None => Poll::Ready(None),
        }
    }

    /// The pending event: a checkpoint token first, then a watermark advance.
    fn take_event<G>(&mut self) -> Option<InputEvent<G>> {
        if let Some(token) = self.token.take() {
            return Some(InputEvent::Checkpoint(token));
        }
        if std::mem::take(&mut self.watermark_event) {
            return self.watermark().map(InputEvent::Watermark);
        }
        None
    }

    /// The next item(s) or event; `None` once every edge is closed and drained.
    #[inline]
    fn poll_next<K: Take<T>>(
        &mut self,
        cx: &mut Context<'_>,
        take: &mut K,
    ) -> Poll<Option<Next<K::Got>>> {
        // Coming back for more means the operator finished what the last receive handed out.
        self.held = None;
        // One unit of the task's cooperative budget per receive, as tokio's own channels do.
        let progress = ready!(coop::poll_proceed(cx));
        // What is queued now is taken without registering for a wake-up anywhere; only when
        // every edge is empty does the inbox poll them all (and register).
        let received = match self.try_now(take) {
            Some(next) => Poll::Ready(Some(next)),
            None => self.poll_waiting(cx, take),
        };
        if let Poll::Ready(Some(_)) = received {
            progress.made_progress();
        }
        received
    }

    /// Takes from lane `lane` of edge `index` what is there now, handling the markers in front
    /// of it; `None` when the lane has nothing now or is held by a barrier.
    #[inline]
    fn take_lane<K: Take<T>>(
        &mut self,
        index: usize,
        lane: usize,
        take: &mut K,
    ) -> Option<Next<K::Got>> {
        loop {
            let edge = &mut self.edges[index];
            if edge.marks.blocked[lane] != NO_BARRIER {
                return None;
            }
            let rx = lane_rx(&mut edge.rx, lane)?;
            if let Some(got) = take.try_take(rx) {
                edge.info.received.add_exclusive(K::count(&got));
                self.hold(index, lane == 1, K::count(&got));
                return Some(Next::Got(got));
            }
            let marks = rx.take_mark()?;
            if self.on_marks(index, lane, marks) {
                return Some(Next::Event);
            }
        }
    }

    /// One round, emergency lanes first, over what is queued now.
    #[inline]
    fn try_now<K: Take<T>>(&mut self, take: &mut K) -> Option<Next<K::Got>> {
        let count = self.edges.len();
        if self.special {
            for step in 0..count {
                let index = (self.next_emergency + step) % count;
                if matches!(self.edges[index].rx, RxEnd::Priority { .. })
                    && let Some(next) = self.take_lane(index, 1, take)
                {
                    self.next_emergency = index + 1;
                    return Some(next);
                }
            }
        }
        for step in 0..count {
            let index = (self.next + step) % count;
            if let Some(next) = self.take_lane(index, 0, take) {
                self.next = index + 1;
                return Some(next);
            }
        }
        None
    }

    /// Polls lane `lane` of edge `index`, registering for a wake-up, and handles the markers
    /// and the close it finds.
    fn poll_lane<K: Take<T>>(
        &mut self,
        index: usize,
        lane: usize,
        cx: &mut Context<'_>,
        take: &mut K,
    ) -> Lane<K::Got> {
        loop {
            let edge = &mut self.edges[index];
            if edge.marks.closed[lane] {
                return Lane::Closed;
            }
            if edge.marks.blocked[lane] != NO_BARRIER {
                return Lane::Waiting;
            }
            let Some(rx) = lane_rx(&mut edge.rx, lane) else {
                return Lane::Closed;
            };
            match take.poll_take(rx, cx) {
                Poll::Ready(Some(got)) => {
                    edge.info.received.add_exclusive(K::count(&got));
                    self.hold(index, lane == 1, K::count(&got));
                    return Lane::Got(got);
                }
                Poll::Ready(None) => match rx.take_mark() {
                    Some(marks) => {
                        if self.on_marks(index, lane, marks) {
                            return Lane::Event;
                        }
                    }
                    None => {
                        return if self.on_lane_closed(index, lane) {
                            Lane::Event
                        } else {
                            Lane::Closed
                        };
                    }
                },
                Poll::Pending => return Lane::Waiting,
            }
        }
    }

    /// Polls every edge (emergency lanes first), registering for a wake-up on each.
    fn poll_waiting<K: Take<T>>(
        &mut self,
        cx: &mut Context<'_>,
        take: &mut K,
    ) -> Poll<Option<Next<K::Got>>> {
        'round: loop {
            let released = self.released;
            if self.poll_idle_timer(cx) {
                return Poll::Ready(Some(Next::Event));
            }
            let count = self.edges.len();
            if self.special {
                for step in 0..count {
                    let index = (self.next_emergency + step) % count;
                    if !matches!(self.edges[index].rx, RxEnd::Priority { .. }) {
                        continue;
                    }
                    match self.poll_lane(index, 1, cx, take) {
                        Lane::Got(got) => {
                            self.next_emergency = index + 1;
                            return Poll::Ready(Some(Next::Got(got)));
                        }
                        Lane::Event => return Poll::Ready(Some(Next::Event)),
                        Lane::Closed | Lane::Waiting => {}
                    }
                }
            }
            let mut closed = 0;
            for step in 0..count {
                let index = (self.next + step) % count;
                let edge = &mut self.edges[index];
                let answer = if let RxEnd::Broadcast(rx) = &mut edge.rx {
                    match take.poll_lossy(rx, cx, &edge.info) {
                        Poll::Ready(Some(got)) => {
                            edge.info.received.add_exclusive(K::count(&got));
                            self.hold(index, false, K::count(&got));
                            Lane::Got(got)
                        }
                        Poll::Ready(None) => Lane::Closed,
                        Poll::Pending => Lane::Waiting,
                    }
                } else if matches!(edge.rx, RxEnd::Plain(_)) {
                    self.poll_lane(index, 0, cx, take)
                } else {
                    // A priority edge counts as closed only once both lanes are: when the
                    // routine lane closes, its senders are gone and with them the emergency
                    // lane's, but an emergency item sent just before the close is still taken.
                    match self.poll_lane(index, 0, cx, take) {
                        Lane::Closed => self.poll_lane(index, 1, cx, take),
                        other => other,
                    }
                };
                match answer {
                    Lane::Got(got) => {
                        self.next = index + 1;
                        return Poll::Ready(Some(Next::Got(got)));
                    }
                    Lane::Event => return Poll::Ready(Some(Next::Event)),
                    Lane::Closed => closed += 1,
                    Lane::Waiting => {}
                }
            }
            if self.released != released {
                // Held lanes were released during the round, after it had passed them by.
                continue 'round;
            }
            return if closed == count {
                Poll::Ready(None)
            } else {
                Poll::Pending
            };
        }
    }

    // -----------------------------------------------------------------------------------------
    // Markers.

    /// Handles the markers taken from lane `lane` of edge `index`; `true` when an event is now
    /// pending for the receive to return.
    fn on_marks(&mut self, index: usize, lane: usize, marks: Marks) -> bool {
        let edge = &mut self.edges[index];
        edge.marks.markers += 1;
        let mut event = false;
        if edge.marks.idle {
            self.wake_idle(index);
        }
        if marks.watermark != NO_WATERMARK {
            let edge = &mut self.edges[index];
            if marks.watermark > edge.marks.watermark[lane] {
                edge.marks.watermark[lane] = marks.watermark;
            }
            self.marks.timed = true;
            if self.idle_deadline.is_some_and(|d| Instant::now() >= d) {
                event |= self.check_idle(Instant::now());
            }
            event |= self.update_watermark();
        }
        if marks.barrier != NO_BARRIER && self.edges[index].info.carries_barriers {
            event |= self.on_barrier(index, lane, marks.barrier);
        }
        event
    }

    /// Barrier `id` arrived on a lane: the lane is held, and the inbox aligned if it was the
    /// last one awaited.
    fn on_barrier(&mut self, index: usize, lane: usize, id: u64) -> bool {
        let aligning = self.marks.aligning;
        if id <= self.marks.aligned || (aligning != NO_BARRIER && id < aligning) {
            // An abandoned checkpoint's barrier, arriving late.
            return false;
        }
        if id > aligning {
            if aligning != NO_BARRIER {
                // A newer checkpoint: the older one was abandoned; align on this one instead.
                self.release_lanes();
            }
            self.marks.aligning = id;
        }
        self.edges[index].marks.blocked[lane] = id;
        self.complete_alignment()
    }

    /// Completes the alignment in progress if every lane that carries barriers has delivered
    /// it or is finished: snapshots the states, forwards the barrier, releases the lanes, and
    /// acknowledges (or, in event mode, stores the token). `true` when an event is pending.
    fn complete_alignment(&mut self) -> bool {
        let id = self.marks.aligning;
        if id == NO_BARRIER {
            return false;
        }
        for edge in &mut self.edges {
            if !edge.info.carries_barriers {
                continue;
            }
            for lane in 0..lanes(&edge.rx) {
                if edge.marks.blocked[lane] == id || edge.marks.closed[lane] {
                    continue;
                }
                if lane_rx(&mut edge.rx, lane).is_some_and(|rx| rx.is_finished()) {
                    edge.marks.closed[lane] = true;
                    continue;
                }
                return false;
            }
        }
        // Aligned, and the operator is back for more: it has finished everything before the
        // barrier, and nothing after it has been handed out.
        let ack = self.cell.state_ack();
        self.cell.push(Marks::barrier(id));
        self.release_lanes();
        self.marks.aligned = id;
        self.marks.aligning = NO_BARRIER;
        if self.events {
            self.token = Some(CheckpointToken::new(id, Arc::clone(&self.cell), ack));
            true
        } else {
            self.cell.ack(id, ack);
            false
        }
    }

    fn release_lanes(&mut self) {
        for edge in &mut self.edges {
            edge.marks.blocked = [NO_BARRIER; 2];
        }
        self.released += 1;
    }

    /// A lane was seen finished: it no longer counts for alignment nor for the watermark.
    fn on_lane_closed(&mut self, index: usize, lane: usize) -> bool {
        self.edges[index].marks.closed[lane] = true;
        let aligned = self.complete_alignment();
        self.update_watermark() | aligned
    }

    /// Recomputes the watermark: the minimum over the lanes that count, forwarded when it
    /// advances. `true` when an event is pending.
    fn update_watermark(&mut self) -> bool {
        if !self.marks.timed {
            return false;
        }
        let mut minimum = i64::MAX;
        let mut any = false;
        for edge in &self.edges {
            if edge.marks.idle {
                continue;
            }
            for lane in 0..lanes(&edge.rx) {
                if !edge.marks.closed[lane] {
                    any = true;
                    minimum = minimum.min(edge.marks.watermark[lane]);
                }
            }
        }
        if !any || minimum == NO_WATERMARK || minimum <= self.marks.watermark {
            return false;
        }
        self.marks.watermark = minimum;
        if !self.cell.handles_time() {
            self.cell.forward_watermark(minimum);
        }
        if self.events {
            self.watermark_event = true;
        }
        self.events
    }

    /// An idle edge spoke: it counts for the watermark again (which does not go back).
    fn wake_idle(&mut self, index: usize) {
        let edge = &mut self.edges[index];
        edge.marks.idle = false;
        edge.info
            .idle
            .store(false, std::sync::atomic::Ordering::Relaxed);
        edge.marks.active_at = None;
        self.any_idle = self.edges.iter().any(|e| e.marks.idle);
        if self.idle_deadline.is_none() {
            self.idle_deadline = Some(Instant::now());
        }
    }

    /// Looks for edges that said nothing for the idle timeout (no item received, no marker)
    /// and marks them idle; sets the next look. `true` when an event is pending.
    fn check_idle(&mut self, now: Instant) -> bool {
        let Some(timeout) = self.cell.idle_timeout else {
            return false;
        };
        let mut changed = false;
        let mut next: Option<Instant> = None;
        for edge in &mut self.edges {
            let open = (0..lanes(&edge.rx)).any(|lane| !edge.marks.closed[lane]);
            if edge.marks.idle || !open {
                continue;
            }
            let activity = (edge.info.received.get(), edge.marks.markers);
            let active_at = match edge.marks.active_at {
                Some(at) if activity == edge.marks.seen => at,
                _ => {
                    edge.marks.seen = activity;
                    edge.marks.active_at = Some(now);
                    now
                }
            };
            if now >= active_at + timeout {
                edge.marks.idle = true;
                edge.info
                    .idle
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                changed = true;
            } else {
                let due = active_at + timeout;
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        self.idle_deadline = next;
        if changed {
            self.any_idle = true;
            self.update_watermark()
        } else {
            false
        }
    }

    /// Polls the idleness timer of a waiting inbox that tracks event time; `true` when a look
    /// it triggered left an event pending.
    fn poll_idle_timer(&mut self, cx: &mut Context<'_>) -> bool {
        if self.cell.idle_timeout.is_none() || !self.marks.timed {
            return false;
        }
        let mut event = false;
        // At most a few rounds: each look either sets a later deadline or marks edges idle.
        for _ in 0..4 {
            let deadline = match self.idle_deadline {
                Some(deadline) => deadline,
                None => {
                    event |= self.check_idle(Instant::now());
                    match self.idle_deadline {
                        Some(deadline) => deadline,
                        None => return event,
                    }
                }
            };
            let timer = self
                .idle_timer
                .get_or_insert_with(|| Box::pin(sleep_until(deadline)));
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => event |= self.check_idle(Instant::now()),
                Poll::Pending => return event,
            }
        }
        event
    }
}

impl<T> Drop for Inbox<T> {
    fn drop(&mut self) {
        // An operator that put something out since its last receive has finished that
        // receive's items (what it could not finish, it gives back).
        let held = self.held.take().filter(|h| {
            h.items > 0 && (self.outputs.is_empty() || self.sent() == self.sent_at_receive)
        });
        self.slot
            .put_back(std::mem::take(&mut self.edges), held, self.marks);
    }
}
