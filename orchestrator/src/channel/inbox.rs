//! The receiving side of an operator: all of its incoming edges merged fairly.

use std::future::poll_fn;
use std::task::{Context, Poll};

use super::{EdgeRx, InputSlot};

/// The items arriving on an operator's or sink's incoming edges.
///
/// With several incoming edges (fan-in) the inbox takes from them in turn, so a busy upstream
/// cannot starve a quiet one, and items from any one upstream arrive in the order it sent them.
/// [`recv`](Inbox::recv) answers `None` once every upstream has finished and every queue is
/// empty: that is the signal for the operator to finish too, which is how a graph drains.
///
/// The inbox survives a restart: when the operator's future ends or is dropped, the inbox hands
/// its channels back to the supervisor, and the next incarnation receives the same queues, so
/// nothing already queued is lost. What a failed incarnation had already taken out (the item or
/// batch it was holding) is gone with it.
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
    slot: InputSlot<T>,
}

impl<T> Inbox<T> {
    pub(crate) fn new(edges: Vec<EdgeRx<T>>, slot: InputSlot<T>) -> Self {
        Inbox {
            edges,
            next: 0,
            slot,
        }
    }

    /// Receives the next item, or `None` once every incoming edge is closed and drained.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, no item has been taken, so
    /// it can be used as a branch of `tokio::select!`.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Receives up to `limit` items into `buffer` in one wake-up and returns how many were
    /// added; `0` means every incoming edge is closed and drained (or `limit` was 0).
    ///
    /// Taking a batch amortises the cost of the channel over many items, which is what a hot
    /// operator wants. The batch comes from one edge; the next call starts at the next edge.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`recv`](Inbox::recv).
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        poll_fn(|cx| self.poll_recv_many(cx, buffer, limit)).await
    }

    /// Items queued on all incoming edges right now.
    pub fn len(&self) -> usize {
        self.edges.iter().map(|e| e.rx.len()).sum()
    }

    /// Whether no item is queued right now (more may still arrive).
    pub fn is_empty(&self) -> bool {
        self.edges.iter().all(|e| e.rx.is_empty())
    }

    /// Polls for the next item; the building block of [`recv`](Inbox::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let count = self.edges.len();
        let mut closed = 0;
        for step in 0..count {
            let index = (self.next + step) % count;
            let edge = &mut self.edges[index];
            match edge.rx.poll_recv(cx) {
                Poll::Ready(Some(item)) => {
                    edge.info.received.add(1);
                    self.next = index + 1;
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

    fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        let count = self.edges.len();
        let mut closed = 0;
        for step in 0..count {
            let index = (self.next + step) % count;
            let edge = &mut self.edges[index];
            match edge.rx.poll_recv_many(cx, buffer, limit) {
                Poll::Ready(0) => closed += 1,
                Poll::Ready(n) => {
                    edge.info.received.add(n as u64);
                    self.next = index + 1;
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
}

impl<T> Drop for Inbox<T> {
    fn drop(&mut self) {
        self.slot.put_back(std::mem::take(&mut self.edges));
    }
}
