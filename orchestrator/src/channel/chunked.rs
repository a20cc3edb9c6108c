//! A bounded multi-producer, single-consumer channel whose capacity counts **items** while its
//! slots hold **chunks**: one item, or a whole batch moved as one `Vec`.
//!
//! Room is counted in the same lock as the queue: a sender that finds room for all the items of
//! its chunk counts them as used, pushes the chunk and wakes the receiver, all under one lock; a
//! sender that finds none waits in a FIFO queue of waiters (a waiting sender is granted its room
//! as a whole, in order, so a large batch is not starved by single items, and no sender jumps
//! the queue). The receiver swaps the whole queue into a stash of its own under one lock and hands
//! items out of the stash without locking; the room of what it handed out is given back the next
//! time it takes the lock (to refill the stash, or before it waits), or at once when a sender is
//! waiting for room, which the receiver sees on a flag. So the channel never holds more than
//! `capacity` items not yet released, however they are chunked; a producer blocked on a full
//! channel is let in as soon as the consumer takes an item (at the latest at the consumer's next
//! receive, when the two cross in the same instant). A batch of `n` items costs one lock and one
//! wake-up on each side instead of `n`, and its `Vec` is moved, never copied, when the consumer
//! takes it whole.
//!
//! The stash (including a chunk the consumer has only partly taken) belongs to the receiver, so
//! it goes back to the operator's input slot with the rest of the inbox and survives a restart.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use tokio::task::coop;

/// One slot of the queue.
enum Chunk<T> {
    One(T),
    Many(Vec<T>),
}

/// Why a send without waiting failed; the item or batch comes back.
pub(crate) enum TrySend<T> {
    /// The channel holds too many items to take this many more now.
    Full(T),
    /// The receiver is gone for good.
    Closed(T),
}

struct State<T> {
    queue: VecDeque<Chunk<T>>,
    /// Items in `queue`.
    queued: usize,
    /// Items counted against the capacity: queued, in the receiver's stash, handed out but not
    /// yet released by the receiver, and granted to waiting senders.
    used: usize,
    /// Senders waiting for room, in order of arrival.
    waiters: VecDeque<Waiter>,
    next_waiter: u64,
    senders: usize,
    receiver_alive: bool,
    receiver_waker: Option<Waker>,
}

/// A sender waiting for room for `need` items.
struct Waiter {
    id: u64,
    need: usize,
    waker: Waker,
    /// The room has been counted as used for it; it pushes its chunk when next polled.
    granted: bool,
}

impl<T> State<T> {
    /// Gives back the room of `items` released items and grants it to the waiting senders in
    /// order, as far as it goes; returns the wakers of those granted.
    fn release(&mut self, items: usize, capacity: usize, waiting: &AtomicBool) -> Vec<Waker> {
        self.used -= items;
        let mut woken = Vec::new();
        if self.waiters.is_empty() {
            return woken;
        }
        let mut still_waiting = false;
        for waiter in self.waiters.iter_mut().filter(|w| !w.granted) {
            if self.used + waiter.need > capacity {
                still_waiting = true;
                break;
            }
            self.used += waiter.need;
            waiter.granted = true;
            woken.push(waiter.waker.clone());
        }
        waiting.store(still_waiting, Ordering::SeqCst);
        woken
    }

    fn has_ungranted(&self) -> bool {
        self.waiters.iter().any(|w| !w.granted)
    }
}

struct Shared<T> {
    capacity: usize,
    /// The largest chunk a sender pushes at once: the capacity.
    max_chunk: usize,
    /// Whether a sender waits for room that has not been granted yet: the receiver then gives
    /// back room as soon as it hands items out instead of at its next lock.
    waiting: AtomicBool,
    state: Mutex<State<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while the lock is held except an item's own `Drop` in `Receiver::drop`,
        // which leaves the state consistent; a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

/// Allocates a channel holding at most `capacity` items (at least 1).
pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Shared {
        capacity,
        max_chunk: capacity,
        waiting: AtomicBool::new(false),
        state: Mutex::new(State {
            queue: VecDeque::new(),
            queued: 0,
            used: 0,
            waiters: VecDeque::new(),
            next_waiter: 0,
            senders: 1,
            receiver_alive: true,
            receiver_waker: None,
        }),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver {
            shared,
            stash: VecDeque::new(),
            front: Vec::new().into_iter(),
            stashed: 0,
            unreleased: 0,
        },
    )
}

/// The sending end; cloned for every producer of the edge.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.lock();
            state.senders -= 1;
            if state.senders == 0 {
                state.receiver_waker.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Sender<T> {
    /// The most items one chunk may hold.
    pub(crate) fn max_chunk(&self) -> usize {
        self.shared.max_chunk
    }

    /// Queues `value` (a chunk of `items` items) if there is room for it now, or if its room
    /// was already granted; gives it back otherwise.
    fn try_enqueue<V>(
        &self,
        value: V,
        items: usize,
        wrap: fn(V) -> Chunk<T>,
        granted: bool,
    ) -> Result<(), TrySend<V>> {
        let waker = {
            let mut state = self.shared.lock();
            if !state.receiver_alive {
                return Err(TrySend::Closed(value));
            }
            if !granted {
                if state.used + items > self.shared.capacity || state.has_ungranted() {
                    return Err(TrySend::Full(value));
                }
                state.used += items;
            }
            state.queue.push_back(wrap(value));
            state.queued += items;
            state.receiver_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Sends one item if there is room for it now.
    pub(crate) fn try_send(&self, item: T) -> Result<(), TrySend<T>> {
        self.try_enqueue(item, 1, Chunk::One, false)
    }

    /// Sends one item, waiting for room; gives it back if the receiver is gone.
    ///
    /// A dropped wait gives back any room granted to it; the item is lost.
    pub(crate) async fn send(&self, item: T) -> Result<(), T> {
        self.send_wrapped(item, 1, Chunk::One).await
    }

    /// Sends a non-empty batch of at most [`max_chunk`](Sender::max_chunk) items as one chunk
    /// if there is room for all of them now.
    pub(crate) fn try_send_chunk(&self, batch: Vec<T>) -> Result<(), TrySend<Vec<T>>> {
        let items = batch.len();
        debug_assert!(items > 0 && items <= self.shared.max_chunk);
        self.try_enqueue(batch, items, Chunk::Many, false)
    }

    /// Sends a non-empty batch of at most [`max_chunk`](Sender::max_chunk) items as one chunk,
    /// waiting until there is room for all of them; gives it back if the receiver is gone.
    pub(crate) async fn send_chunk(&self, batch: Vec<T>) -> Result<(), Vec<T>> {
        let items = batch.len();
        self.send_wrapped(batch, items, Chunk::Many).await
    }

    async fn send_wrapped<V>(
        &self,
        value: V,
        items: usize,
        wrap: fn(V) -> Chunk<T>,
    ) -> Result<(), V> {
        let mut reserve = Reserve {
            shared: &self.shared,
            need: items.min(self.shared.capacity),
            id: None,
        };
        if (&mut reserve).await.is_err() {
            return Err(value);
        }
        // The room is ours now: the waiter is gone from the queue, so nothing gives it back.
        reserve.id = None;
        match self.try_enqueue(value, items, wrap, true) {
            Ok(()) => Ok(()),
            Err(TrySend::Closed(value) | TrySend::Full(value)) => Err(value),
        }
    }
}

/// Waits for room for `need` items, in order among the waiting senders. Dropped while waiting, it
/// leaves the queue and gives back any room it had been granted.
struct Reserve<'a, T> {
    shared: &'a Shared<T>,
    need: usize,
    /// Its place among the waiters, once it waits.
    id: Option<u64>,
}

impl<T> Future for Reserve<'_, T> {
    type Output = Result<(), ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let progress = ready!(coop::poll_proceed(cx));
        let this = &mut *self;
        let mut state = this.shared.lock();
        if !state.receiver_alive {
            return Poll::Ready(Err(()));
        }
        match this.id {
            None => {
                if state.used + this.need <= this.shared.capacity && !state.has_ungranted() {
                    state.used += this.need;
                    progress.made_progress();
                    return Poll::Ready(Ok(()));
                }
                let id = state.next_waiter;
                state.next_waiter += 1;
                state.waiters.push_back(Waiter {
                    id,
                    need: this.need,
                    waker: cx.waker().clone(),
                    granted: false,
                });
                this.shared.waiting.store(true, Ordering::SeqCst);
                this.id = Some(id);
                Poll::Pending
            }
            Some(id) => {
                let Some(position) = state.waiters.iter().position(|w| w.id == id) else {
                    return Poll::Ready(Err(()));
                };
                if state.waiters[position].granted {
                    state.waiters.remove(position);
                    this.id = None;
                    progress.made_progress();
                    return Poll::Ready(Ok(()));
                }
                let waiter = &mut state.waiters[position];
                if !waiter.waker.will_wake(cx.waker()) {
                    waiter.waker = cx.waker().clone();
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Reserve<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.id else {
            return;
        };
        let woken = {
            let mut state = self.shared.lock();
            let Some(position) = state.waiters.iter().position(|w| w.id == id) else {
                return;
            };
            let granted = state.waiters.remove(position).is_some_and(|w| w.granted);
            // What it was granted goes to the next in line; if it had nothing, those behind it
            // may fit now.
            let given_back = if granted { self.need } else { 0 };
            state.release(given_back, self.shared.capacity, &self.shared.waiting)
        };
        wake_all(woken);
    }
}

/// The receiving end, with the chunks it has taken off the queue and not yet handed out.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// Chunks taken off the shared queue in one swap, in order.
    stash: VecDeque<Chunk<T>>,
    /// What is left of a chunk partly handed out; it comes before `stash`.
    front: std::vec::IntoIter<T>,
    /// Items in `front` and `stash`.
    stashed: usize,
    /// Items handed out whose room has not been given back yet.
    unreleased: usize,
}

impl<T> Receiver<T> {
    /// Items held now: queued, and taken off the queue but not yet handed out.
    pub(crate) fn len(&self) -> usize {
        self.stashed + self.shared.lock().queued
    }

    /// Counts `items` as handed out; their room is given back at once if a sender waits for
    /// room, and otherwise at the next lock.
    fn handed_out(&mut self, items: usize) {
        self.stashed -= items;
        self.unreleased += items;
        if self.shared.waiting.load(Ordering::SeqCst) {
            let woken = {
                let mut state = self.shared.lock();
                release(&mut self.unreleased, &self.shared, &mut state)
            };
            wake_all(woken);
        }
    }

    /// Makes sure the stash holds something: `Ready(true)` when it does, `Ready(false)` when
    /// the channel is closed and empty, `Pending` (with the waker registered) otherwise.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.stashed > 0 {
            return Poll::Ready(true);
        }
        let (filled, woken) = {
            let mut state = self.shared.lock();
            let woken = release(&mut self.unreleased, &self.shared, &mut state);
            let filled = if state.queued > 0 {
                std::mem::swap(&mut self.stash, &mut state.queue);
                self.stashed = std::mem::take(&mut state.queued);
                Poll::Ready(true)
            } else if state.senders == 0 {
                Poll::Ready(false)
            } else {
                if !state
                    .receiver_waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.receiver_waker = Some(cx.waker().clone());
                }
                Poll::Pending
            };
            (filled, woken)
        };
        wake_all(woken);
        filled
    }

    /// The next item of the stash, which must not be empty.
    fn pop(&mut self) -> Option<T> {
        if let Some(item) = self.front.next() {
            return Some(item);
        }
        match self.stash.pop_front()? {
            Chunk::One(item) => Some(item),
            Chunk::Many(batch) => {
                self.front = batch.into_iter();
                self.front.next()
            }
        }
    }

    /// Receives one item; `None` once every sender is gone and everything queued was taken.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let progress = ready!(coop::poll_proceed(cx));
        if !ready!(self.poll_fill(cx)) {
            return Poll::Ready(None);
        }
        let item = self.pop();
        if item.is_some() {
            self.handed_out(1);
            progress.made_progress();
        }
        Poll::Ready(item)
    }

    /// Receives up to `limit` (at least 1) items into `buffer`, whole chunks where they fit:
    /// a chunk taken whole into an empty `buffer` replaces it, without a copy. Returns how many
    /// were added; `0` once every sender is gone and everything queued was taken.
    pub(crate) fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        let progress = ready!(coop::poll_proceed(cx));
        if !ready!(self.poll_fill(cx)) {
            return Poll::Ready(0);
        }
        let start = buffer.len();
        let end = start.saturating_add(limit);
        loop {
            let room = end - buffer.len();
            if room == 0 {
                break;
            }
            if !self.front.as_slice().is_empty() {
                buffer.extend(self.front.by_ref().take(room));
                continue;
            }
            match self.stash.pop_front() {
                Some(Chunk::One(item)) => buffer.push(item),
                Some(Chunk::Many(mut batch)) => {
                    if batch.len() <= room {
                        if buffer.is_empty() {
                            *buffer = batch;
                        } else {
                            buffer.append(&mut batch);
                        }
                    } else {
                        self.front = batch.into_iter();
                    }
                }
                // The stash is spent: take whatever has been queued since, without waiting.
                None => {
                    let mut state = self.shared.lock();
                    if state.queued == 0 {
                        break;
                    }
                    std::mem::swap(&mut self.stash, &mut state.queue);
                    self.stashed += std::mem::take(&mut state.queued);
                }
            }
        }
        let added = buffer.len() - start;
        self.handed_out(added);
        progress.made_progress();
        Poll::Ready(added)
    }
}

/// Gives back the room of what the receiver handed out since it last did.
fn release<T>(unreleased: &mut usize, shared: &Shared<T>, state: &mut State<T>) -> Vec<Waker> {
    let items = std::mem::take(unreleased);
    state.release(items, shared.capacity, &shared.waiting)
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Refuse further sends and release every waiting sender (each sees the channel closed),
        // then drop what was queued outside the lock.
        let (queued, waiters) = {
            let mut state = self.shared.lock();
            state.receiver_alive = false;
            state.receiver_waker = None;
            state.queued = 0;
            (
                std::mem::take(&mut state.queue),
                std::mem::take(&mut state.waiters),
            )
        };
        for waiter in waiters {
            waiter.waker.wake();
        }
        drop(queued);
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use futures::poll;

    use super::*;

    #[tokio::test]
    async fn waiting_senders_are_served_in_order_and_a_dropped_one_gives_way() {
        let (tx, mut rx) = channel::<u32>(4);
        assert!(tx.try_send_chunk(vec![1, 2, 3]).is_ok());
        let mut big = Box::pin(tx.send_chunk(vec![4, 5, 6, 7]));
        assert!(poll!(big.as_mut()).is_pending());
        // One item of room is free, but the batch ahead waits for four: no jumping the queue.
        assert!(matches!(tx.try_send(8), Err(TrySend::Full(8))));
        let mut small = pin!(tx.send(9));
        assert!(poll!(small.as_mut()).is_pending());
        // The batch gives up; the single item behind it gets the room.
        drop(big);
        assert!(matches!(poll!(small.as_mut()), Poll::Ready(Ok(()))));
        let mut got = Vec::new();
        std::future::poll_fn(|cx| rx.poll_recv_many(cx, &mut got, 10)).await;
        assert_eq!(got, [1, 2, 3, 9]);
    }

    #[tokio::test]
    async fn a_closed_receiver_fails_waiting_and_new_sends() {
        let (tx, rx) = channel::<u32>(1);
        assert!(tx.try_send(1).is_ok());
        let mut waiting = pin!(tx.send(2));
        assert!(poll!(waiting.as_mut()).is_pending());
        drop(rx);
        assert!(matches!(poll!(waiting.as_mut()), Poll::Ready(Err(2))));
        assert!(matches!(tx.try_send(3), Err(TrySend::Closed(3))));
    }
}
