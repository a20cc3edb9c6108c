//! A bounded multi-producer, single-consumer channel whose capacity counts **items** while its
//! slots hold **chunks**: one item, or a whole batch moved as one `Vec`.
//!
//! Room is a [`Semaphore`] of item permits beside a queue of chunks behind one mutex. A sender
//! takes as many permits as its chunk has items (all at once: tokio's semaphore is fair and its
//! acquisition cancel safe), pushes the chunk and wakes the receiver. The receiver swaps the
//! whole queue into a stash of its own under one lock, hands items out of the stash, and gives
//! their permits back as it hands them out, so the channel holds at most `capacity` items not yet
//! received however they are chunked, and a producer waiting for room gets it as soon as the
//! consumer has taken an item. A batch of `n` items costs one permit operation, one lock and one
//! wake-up on each side instead of `n`, and its `Vec` is moved, never copied, when the consumer
//! takes it whole.
//!
//! The stash (including a chunk the consumer has only partly taken) belongs to the receiver, so
//! it goes back to the operator's input slot with the rest of the inbox and survives a restart.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use tokio::sync::{Semaphore, TryAcquireError};
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
    senders: usize,
    receiver_alive: bool,
    receiver_waker: Option<Waker>,
}

struct Shared<T> {
    /// One permit per item of room.
    room: Semaphore,
    /// The largest chunk a sender pushes at once: the capacity, within what the semaphore
    /// takes in one acquisition.
    max_chunk: usize,
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

/// Allocates a channel holding at most `capacity` items (at least 1).
pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
    let shared = Arc::new(Shared {
        room: Semaphore::new(capacity),
        max_chunk: capacity.min(u32::MAX as usize),
        state: Mutex::new(State {
            queue: VecDeque::new(),
            queued: 0,
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

    /// Queues `value` (wrapped as a chunk of `items` items) whose permits are already taken;
    /// gives it back if the receiver is gone.
    fn enqueue<V>(&self, value: V, items: usize, wrap: fn(V) -> Chunk<T>) -> Result<(), V> {
        let waker = {
            let mut state = self.shared.lock();
            if !state.receiver_alive {
                return Err(value);
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
        match self.shared.room.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Err(TrySend::Full(item)),
            Err(TryAcquireError::Closed) => return Err(TrySend::Closed(item)),
        }
        self.enqueue(item, 1, Chunk::One).map_err(TrySend::Closed)
    }

    /// Sends one item, waiting for room; gives it back if the receiver is gone.
    ///
    /// Cancel safe as far as room goes (a dropped wait takes no permit), but the item is lost.
    pub(crate) async fn send(&self, item: T) -> Result<(), T> {
        match self.shared.room.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return Err(item),
        }
        self.enqueue(item, 1, Chunk::One)
    }

    /// Sends a non-empty batch of at most [`max_chunk`](Sender::max_chunk) items as one chunk
    /// if there is room for all of them now.
    pub(crate) fn try_send_chunk(&self, batch: Vec<T>) -> Result<(), TrySend<Vec<T>>> {
        let items = batch.len();
        debug_assert!(items > 0 && items <= self.shared.max_chunk);
        let permits = u32::try_from(items).unwrap_or(u32::MAX);
        match self.shared.room.try_acquire_many(permits) {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Err(TrySend::Full(batch)),
            Err(TryAcquireError::Closed) => return Err(TrySend::Closed(batch)),
        }
        self.enqueue(batch, items, Chunk::Many)
            .map_err(TrySend::Closed)
    }

    /// Sends a non-empty batch of at most [`max_chunk`](Sender::max_chunk) items as one chunk,
    /// waiting until there is room for all of them; gives it back if the receiver is gone.
    pub(crate) async fn send_chunk(&self, batch: Vec<T>) -> Result<(), Vec<T>> {
        let items = batch.len();
        let permits = u32::try_from(items).unwrap_or(u32::MAX);
        match self.shared.room.acquire_many(permits).await {
            Ok(permit) => permit.forget(),
            Err(_) => return Err(batch),
        }
        self.enqueue(batch, items, Chunk::Many)
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
}

impl<T> Receiver<T> {
    /// Items held now: queued, and taken off the queue but not yet handed out.
    pub(crate) fn len(&self) -> usize {
        self.stashed + self.shared.lock().queued
    }

    /// Gives back the room of `items` items handed out.
    fn handed_out(&mut self, items: usize) {
        self.stashed -= items;
        self.shared.room.add_permits(items);
    }

    /// Makes sure the stash holds something: `Ready(true)` when it does, `Ready(false)` when
    /// the channel is closed and empty, `Pending` (with the waker registered) otherwise.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.stashed > 0 {
            return Poll::Ready(true);
        }
        let mut state = self.shared.lock();
        if state.queued > 0 {
            std::mem::swap(&mut self.stash, &mut state.queue);
            self.stashed = std::mem::take(&mut state.queued);
            return Poll::Ready(true);
        }
        if state.senders == 0 {
            return Poll::Ready(false);
        }
        if !state
            .receiver_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.receiver_waker = Some(cx.waker().clone());
        }
        Poll::Pending
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

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Refuse further sends and release every waiting sender, then drop what was queued
        // outside the lock.
        self.shared.room.close();
        let queued = {
            let mut state = self.shared.lock();
            state.receiver_alive = false;
            state.receiver_waker = None;
            state.queued = 0;
            std::mem::take(&mut state.queue)
        };
        drop(queued);
    }
}
