//! A bounded multi-producer, single-consumer channel whose capacity counts **items** while its
//! slots hold **chunks**: one item, or a whole batch moved as one `Vec`.
//!
//! Room is one atomic count of items, beside a queue of chunks behind a mutex:
//!
//! * A sender takes room for all the items of its chunk with one compare-and-swap, pushes the
//!   chunk under the queue's lock and wakes the receiver. A sender that finds no room waits in a
//!   FIFO queue of waiters (the slow path, behind a mutex of its own) and is granted its room as
//!   a whole and in order, so a large batch is not starved by single items and no sender jumps
//!   the queue; a dropped wait gives back what it was granted.
//! * The receiver takes everything queued into a stash of its own under one lock, and hands
//!   items out of the stash without locking. It gives the room of what it handed out back
//!   lazily: whenever it finds the queue empty (so always before it waits), and at once when it
//!   sees, on a flag, that a sender waits for room.
//!
//! So the channel never holds more than `capacity` items not yet received, however they are
//! chunked, and a producer blocked on a full channel is let in as soon as the consumer takes an
//! item. A batch of `n` items costs one room update, one push, one wake-up and a share of one
//! lock on the receiving side, instead of `n` of each, and its `Vec` is moved, never copied,
//! when the consumer takes it whole.
//!
//! Why not a tokio mpsc of `Vec`s: its capacity counts messages, not items, so a batch would
//! take one slot whatever its size and backpressure would lose its meaning; and an mpsc of items
//! beside a semaphore of item permits would pay two synchronisations per single item.
//!
//! What the receiver has taken off the queue and not yet handed out (the rest of a chunk it only
//! partly handed out included) belongs to the receiver, so it goes back to the operator's input
//! slot with the rest of the inbox and survives a restart.
//!
//! A slot can also hold **markers** (a checkpoint barrier, a watermark; see `marks`) in order
//! with the items. A marker takes no room and never waits; one pushed right behind another
//! merges into it. The receiver stops at a marker: the receive that reaches it hands out nothing
//! and keeps the marker for the inbox to take (`take_mark`), and nothing behind it is handed
//! out until the inbox has.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use futures::task::AtomicWaker;
use tokio::task::coop;

use super::marks::Marks;

/// One slot of the queue.
enum Chunk<T> {
    One(T),
    Many(Vec<T>),
    /// Markers: no item, no room.
    Mark(Marks),
}

/// Why a send without waiting failed; the item or batch comes back.
pub(crate) enum TrySend<T> {
    /// The channel holds too many items to take this many more now.
    Full(T),
    /// The receiver is gone for good.
    Closed(T),
}

/// A sender waiting for room for `need` items.
struct Waiter {
    id: u64,
    need: usize,
    waker: Waker,
    /// Its room has been counted as used; it pushes its chunk when next polled.
    granted: bool,
}

#[derive(Default)]
struct Waiters {
    queue: VecDeque<Waiter>,
    next_id: u64,
}

/// The queue proper, behind the channel's lock.
struct Queue<T> {
    chunks: VecDeque<Chunk<T>>,
    /// Whether the receiver found the queue empty after registering its waker, and has not
    /// looked since: only then does a sender wake it. Kept under the lock, so a busy receiver
    /// costs its senders no atomic operation on the waker per push.
    parked: bool,
}

/// Not padded to cache lines: a graph may have 10^5 edges, and building it touches every
/// channel's memory (see `build()`); what the two sides contend for on every item is the
/// queue's lock anyway.
struct Shared<T> {
    capacity: usize,
    /// Whether a sender waits for room not granted yet: new senders then queue behind it, and
    /// the receiver gives room back at once.
    waiting: AtomicBool,
    /// The receiver is gone for good.
    closed: AtomicBool,
    senders: AtomicUsize,
    /// Items counted against the capacity: queued, popped by the receiver and not yet handed
    /// out, handed out but not yet given back, and granted to waiting senders.
    used: AtomicUsize,
    /// The chunks sent and not yet taken by the receiver, which takes them all at once.
    queue: Mutex<Queue<T>>,
    /// How many chunks `queue` holds, readable without the lock (a hint for looking only).
    queued: AtomicUsize,
    receiver: AtomicWaker,
    waiters: Mutex<Waiters>,
}

impl<T> Shared<T> {
    /// Queues a chunk; `true` when the receiver is parked and must be woken.
    fn push(&self, chunk: Chunk<T>) -> bool {
        let mut queue = lock(&self.queue);
        queue.chunks.push_back(chunk);
        self.queued.store(queue.chunks.len(), Ordering::Relaxed);
        std::mem::take(&mut queue.parked)
    }

    /// Queues markers behind everything queued, merged into the last slot when that is a
    /// marker too; dropped when the receiver is gone.
    fn push_mark(&self, marks: Marks) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        {
            let mut queue = lock(&self.queue);
            queue.parked = false;
            match queue.chunks.back_mut() {
                Some(Chunk::Mark(last)) => last.merge(marks),
                _ => {
                    queue.chunks.push_back(Chunk::Mark(marks));
                    self.queued.store(queue.chunks.len(), Ordering::Relaxed);
                }
            }
        }
        self.receiver.wake();
    }

    fn waiters(&self) -> MutexGuard<'_, Waiters> {
        lock(&self.waiters)
    }

    /// Takes room for `n` items if it is there now.
    fn try_take(&self, n: usize) -> bool {
        let mut current = self.used.load(Ordering::Relaxed);
        loop {
            if current + n > self.capacity {
                return false;
            }
            match self.used.compare_exchange_weak(
                current,
                current + n,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// Grants room to the waiting senders in order, as far as it goes; returns the wakers of
    /// those granted.
    fn grant(&self, waiters: &mut Waiters) -> Vec<Waker> {
        let mut woken = Vec::new();
        let mut still_waiting = false;
        for waiter in waiters.queue.iter_mut().filter(|w| !w.granted) {
            if !self.try_take(waiter.need) {
                still_waiting = true;
                break;
            }
            waiter.granted = true;
            woken.push(waiter.waker.clone());
        }
        self.waiting.store(still_waiting, Ordering::SeqCst);
        woken
    }

    /// Gives back the room of `items` items and lets waiting senders in.
    fn release(&self, items: usize) {
        if items > 0 {
            self.used.fetch_sub(items, Ordering::SeqCst);
        }
        // Pairs with a new waiter raising the flag and then checking the room again: one of the
        // two sees the other.
        if self.waiting.load(Ordering::SeqCst) {
            let woken = {
                let mut waiters = self.waiters();
                self.grant(&mut waiters)
            };
            wake_all(woken);
        }
    }
}

/// Nothing panics while one of the channel's locks is held (what is dropped is dropped outside
/// them); a poisoned lock still holds a consistent value.
fn lock<V>(mutex: &Mutex<V>) -> MutexGuard<'_, V> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

/// Allocates a channel holding at most `capacity` items (at least 1).
pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        capacity: capacity.max(1),
        waiting: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        senders: AtomicUsize::new(1),
        used: AtomicUsize::new(0),
        queue: Mutex::new(Queue {
            chunks: VecDeque::new(),
            parked: false,
        }),
        queued: AtomicUsize::new(0),
        receiver: AtomicWaker::new(),
        waiters: Mutex::new(Waiters::default()),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver {
            shared,
            stash: VecDeque::new(),
            front: Vec::new().into_iter(),
            mark: None,
            unreleased: 0,
            release_every: (capacity / 8).max(1),
        },
    )
}

/// A handle that pushes markers onto a channel without counting as one of its senders, so that
/// holding it does not keep the channel open.
pub(crate) struct MarkTx<T> {
    shared: Arc<Shared<T>>,
}

impl<T> MarkTx<T> {
    /// Queues markers behind everything sent so far; never waits.
    pub(crate) fn push(&self, marks: Marks) {
        self.shared.push_mark(marks);
    }
}

/// The sending end; cloned for every producer of the edge.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.receiver.wake();
        }
    }
}

impl<T> Sender<T> {
    /// A marker-only handle on this channel.
    pub(crate) fn mark_tx(&self) -> MarkTx<T> {
        MarkTx {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The most items one chunk may hold: the capacity.
    pub(crate) fn max_chunk(&self) -> usize {
        self.shared.capacity
    }

    /// Takes room for `items` items if it is there now and no sender waits ahead.
    fn try_reserve(&self, items: usize) -> Result<(), bool> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(true);
        }
        if self.shared.waiting.load(Ordering::Relaxed) || !self.shared.try_take(items) {
            return Err(false);
        }
        Ok(())
    }

    /// Queues a chunk whose room is taken, waking the receiver if it is parked.
    fn push(&self, chunk: Chunk<T>) {
        if self.shared.push(chunk) {
            self.shared.receiver.wake();
        }
    }

    /// Sends one item if there is room for it now.
    pub(crate) fn try_send(&self, item: T) -> Result<(), TrySend<T>> {
        match self.try_reserve(1) {
            Ok(()) => {
                self.push(Chunk::One(item));
                Ok(())
            }
            Err(true) => Err(TrySend::Closed(item)),
            Err(false) => Err(TrySend::Full(item)),
        }
    }

    /// Sends one item, waiting for room; gives it back if the receiver is gone.
    ///
    /// A dropped wait gives back any room granted to it; the item is lost.
    pub(crate) async fn send(&self, item: T) -> Result<(), T> {
        if self.reserve(1).await {
            self.push(Chunk::One(item));
            Ok(())
        } else {
            Err(item)
        }
    }

    /// Sends a non-empty batch of at most [`max_chunk`](Sender::max_chunk) items as one chunk
    /// if there is room for all of them now.
    pub(crate) fn try_send_chunk(&self, batch: Vec<T>) -> Result<(), TrySend<Vec<T>>> {
        debug_assert!(!batch.is_empty() && batch.len() <= self.shared.capacity);
        match self.try_reserve(batch.len()) {
            Ok(()) => {
                self.push(Chunk::Many(batch));
                Ok(())
            }
            Err(true) => Err(TrySend::Closed(batch)),
            Err(false) => Err(TrySend::Full(batch)),
        }
    }

    /// Sends a non-empty batch of at most [`max_chunk`](Sender::max_chunk) items as one chunk,
    /// waiting until there is room for all of them; gives it back if the receiver is gone.
    pub(crate) async fn send_chunk(&self, batch: Vec<T>) -> Result<(), Vec<T>> {
        if self.reserve(batch.len()).await {
            self.push(Chunk::Many(batch));
            Ok(())
        } else {
            Err(batch)
        }
    }

    /// Waits for room for a chunk of `items` items (at most [`max_chunk`](Sender::max_chunk)),
    /// in order among the waiting senders, and takes it; `None` when the receiver is gone.
    /// Nothing is queued until [`Room::push`]: a caller may order other things (a marker)
    /// ahead of the chunk once its room is there.
    pub(crate) async fn room(&self, items: usize) -> Option<Room<'_, T>> {
        debug_assert!(items > 0 && items <= self.shared.capacity);
        self.reserve(items).await.then_some(Room {
            sender: self,
            items: items.min(self.shared.capacity),
        })
    }

    /// Waits for room for `items` items; `false` when the receiver is gone.
    async fn reserve(&self, items: usize) -> bool {
        let mut reserve = Reserve {
            shared: &self.shared,
            need: items.min(self.shared.capacity),
            id: None,
        };
        (&mut reserve).await
    }
}

/// Room taken on a channel for one chunk, not yet used: [`push`](Room::push) queues the chunk
/// in it; dropped unused, it is given back.
pub(crate) struct Room<'a, T> {
    sender: &'a Sender<T>,
    /// The room held; 0 once used.
    items: usize,
}

impl<T> Room<'_, T> {
    /// Queues one item in room taken for one, waking the receiver if it is parked.
    pub(crate) fn push_one(mut self, item: T) {
        debug_assert_eq!(self.items, 1);
        self.items = 0;
        self.sender.push(Chunk::One(item));
    }

    /// Queues `batch` as one chunk in room taken for its items, waking the receiver if it is
    /// parked.
    pub(crate) fn push_many(mut self, batch: Vec<T>) {
        debug_assert_eq!(batch.len(), self.items);
        self.items = 0;
        self.sender.push(Chunk::Many(batch));
    }
}

impl<T> Drop for Room<'_, T> {
    fn drop(&mut self) {
        if self.items > 0 {
            self.sender.shared.release(self.items);
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
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let progress = ready!(coop::poll_proceed(cx));
        let this = &mut *self;
        let shared = this.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Poll::Ready(false);
        }
        let (ready, woken) = {
            let mut waiters = shared.waiters();
            let id = match this.id {
                Some(id) => id,
                None => {
                    if !shared.waiting.load(Ordering::SeqCst) && shared.try_take(this.need) {
                        progress.made_progress();
                        return Poll::Ready(true);
                    }
                    let id = waiters.next_id;
                    waiters.next_id += 1;
                    waiters.queue.push_back(Waiter {
                        id,
                        need: this.need,
                        waker: cx.waker().clone(),
                        granted: false,
                    });
                    this.id = Some(id);
                    // Raise the flag, then look at the room again: room given back before the
                    // flag was seen is granted here.
                    shared.waiting.store(true, Ordering::SeqCst);
                    id
                }
            };
            let woken = shared.grant(&mut waiters);
            match waiters.queue.iter().position(|w| w.id == id) {
                Some(position) if waiters.queue[position].granted => {
                    waiters.queue.remove(position);
                    this.id = None;
                    (true, woken)
                }
                Some(position) => {
                    let waiter = &mut waiters.queue[position];
                    if !waiter.waker.will_wake(cx.waker()) {
                        waiter.waker = cx.waker().clone();
                    }
                    (false, woken)
                }
                // Taken out by a closing receiver.
                None => {
                    this.id = None;
                    return Poll::Ready(false);
                }
            }
        };
        wake_all(woken);
        if ready {
            progress.made_progress();
            Poll::Ready(true)
        } else {
            Poll::Pending
        }
    }
}

impl<T> Drop for Reserve<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.id else {
            return;
        };
        let woken = {
            let mut waiters = self.shared.waiters();
            let Some(position) = waiters.queue.iter().position(|w| w.id == id) else {
                return;
            };
            if waiters.queue.remove(position).is_some_and(|w| w.granted) {
                self.shared.used.fetch_sub(self.need, Ordering::SeqCst);
            }
            // What it had goes to the next in line; if it had nothing, those behind it may fit.
            self.shared.grant(&mut waiters)
        };
        wake_all(woken);
    }
}

/// The receiving end, with what is left of a chunk it has only partly handed out.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// Chunks taken off the queue all at once, in order.
    stash: VecDeque<Chunk<T>>,
    /// What is left of the chunk being handed out.
    front: std::vec::IntoIter<T>,
    /// Markers reached and not yet taken by the inbox: nothing behind them is handed out until
    /// they are.
    mark: Option<Marks>,
    /// Items handed out whose room has not been given back yet.
    unreleased: usize,
    /// How many handed-out items are given back at once without waiting for the queue to run
    /// empty: an eighth of the capacity (at least 1).
    release_every: usize,
}

impl<T> Receiver<T> {
    /// Takes every chunk queued now into the stash; `false` when there was none. Reliable: a
    /// chunk pushed before a waker registered ahead of this call is seen (the lock orders them).
    fn take_queued(&mut self) -> bool {
        self.take_queued_or_park(false)
    }

    /// [`take_queued`](Receiver::take_queued); when there is nothing and `park` is set, marks
    /// the receiver parked (its waker is registered), so that the next push wakes it. Taking
    /// chunks unparks it: a receiver that is busy is not woken.
    fn take_queued_or_park(&mut self, park: bool) -> bool {
        let mut queue = lock(&self.shared.queue);
        if queue.chunks.is_empty() {
            queue.parked |= park;
            return false;
        }
        queue.parked = false;
        std::mem::swap(&mut self.stash, &mut queue.chunks);
        self.shared.queued.store(0, Ordering::Relaxed);
        true
    }

    /// The next chunk, reliably (see [`take_queued`](Receiver::take_queued)).
    fn pop(&mut self) -> Option<Chunk<T>> {
        if self.stash.is_empty() && !self.take_queued() {
            return None;
        }
        self.stash.pop_front()
    }

    /// The next chunk if the queue looks non-empty: an empty queue costs one load, no lock. It
    /// may miss a chunk pushed at the same instant, so it is only for looking, never for
    /// deciding to wait.
    fn try_pop(&mut self) -> Option<Chunk<T>> {
        if self.stash.is_empty()
            && (self.shared.queued.load(Ordering::Relaxed) == 0 || !self.take_queued())
        {
            return None;
        }
        self.stash.pop_front()
    }

    /// Items held now: queued, and taken off the queue but not yet handed out.
    pub(crate) fn len(&self) -> usize {
        self.shared
            .used
            .load(Ordering::Relaxed)
            .saturating_sub(self.unreleased)
    }

    /// Counts `items` as handed out and gives their room back: at once when a sender waits or
    /// when what was handed out since the last time reaches an eighth of the capacity, and
    /// otherwise the next time the receiver finds its queue empty (so always before it waits).
    /// So the room counted as used exceeds what the channel really holds by less than an eighth
    /// of the capacity, and once a producer waits, the next item taken gives it back.
    fn handed_out(&mut self, items: usize) {
        self.unreleased += items;
        if self.unreleased >= self.release_every || self.shared.waiting.load(Ordering::Relaxed) {
            self.shared.release(std::mem::take(&mut self.unreleased));
        }
    }

    /// The next chunk queued now. When there is none, the room of what was handed out is given
    /// back: a receiver that finds its channel empty holds no room, whatever else it is busy
    /// with (an inbox busy with its other edges or lanes may not come back here for long).
    fn pop_or_release(&mut self) -> Option<Chunk<T>> {
        let chunk = self.try_pop();
        if chunk.is_none() && self.unreleased > 0 {
            self.shared.release(std::mem::take(&mut self.unreleased));
        }
        chunk
    }

    /// The next chunk: popped, or, when the queue is empty, after giving back the room handed
    /// out and registering the waker. `Ready(None)` when closed and empty.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Chunk<T>>> {
        if let Some(chunk) = self.pop_or_release() {
            return Poll::Ready(Some(chunk));
        }
        // Registered first, then looked at again under the lock, which marks the receiver
        // parked if the queue is still empty: the next push sees the mark and wakes it.
        self.shared.receiver.register(cx.waker());
        if self.stash.is_empty() && !self.take_queued_or_park(true) {
            if self.shared.senders.load(Ordering::Acquire) == 0 {
                // Everything pushed before the last sender left is visible now.
                return Poll::Ready(self.pop());
            }
            return Poll::Pending;
        }
        Poll::Ready(self.stash.pop_front())
    }

    /// Puts `items`, which this receiver handed out last, back in front of everything it holds,
    /// so that they are handed out again first, in the same order.
    ///
    /// Their room is counted as used again: taken back from what was not yet given back, and
    /// otherwise added, which can leave the channel over its capacity by at most `items.len()`
    /// until they are handed out again (senders then wait a little longer, never the receiver).
    pub(crate) fn unreceive(&mut self, mut items: Vec<T>) {
        let n = items.len();
        if n == 0 {
            return;
        }
        let from_unreleased = n.min(self.unreleased);
        self.unreleased -= from_unreleased;
        if n > from_unreleased {
            self.shared
                .used
                .fetch_add(n - from_unreleased, Ordering::SeqCst);
        }
        items.extend(std::mem::take(&mut self.front));
        self.front = items.into_iter();
    }

    /// Takes the markers the last receive stopped at, if it did.
    pub(crate) fn take_mark(&mut self) -> Option<Marks> {
        self.mark.take()
    }

    /// Whether every sender is gone and nothing is left to hand out: the channel is finished.
    pub(crate) fn is_finished(&self) -> bool {
        // Senders are checked first: everything a sender pushed is queued before it leaves.
        self.front.as_slice().is_empty()
            && self.mark.is_none()
            && self.stash.is_empty()
            && self.shared.senders.load(Ordering::Acquire) == 0
            && lock(&self.shared.queue).chunks.is_empty()
    }

    /// Takes one item if one is queued now, without registering for a wake-up. `None` when
    /// nothing is queued, or when markers come first (then [`take_mark`](Receiver::take_mark)
    /// has them).
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        let item = match self.front.next() {
            Some(item) => item,
            None => {
                if self.mark.is_some() {
                    return None;
                }
                match self.pop_or_release()? {
                    Chunk::One(item) => item,
                    Chunk::Many(batch) => {
                        self.front = batch.into_iter();
                        self.front.next()?
                    }
                    Chunk::Mark(marks) => {
                        self.mark = Some(marks);
                        return None;
                    }
                }
            }
        };
        self.handed_out(1);
        Some(item)
    }

    /// Takes up to `limit` (at least 1) items into `buffer` if any is queued now, without
    /// registering for a wake-up; see [`poll_recv_many`](Receiver::poll_recv_many).
    pub(crate) fn try_recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        let start = buffer.len();
        let end = start.saturating_add(limit);
        if self.front.as_slice().is_empty() {
            if self.mark.is_some() {
                return 0;
            }
            let Some(chunk) = self.pop_or_release() else {
                return 0;
            };
            if self.take_chunk(chunk, buffer, end) {
                return self.whole(buffer);
            }
            if self.mark.is_some() {
                return 0;
            }
        }
        self.fill(buffer, start, end)
    }

    /// Receives one item; `None` once every sender is gone and everything queued was taken, or
    /// when markers come first (then [`take_mark`](Receiver::take_mark) has them).
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let item = match self.front.next() {
            Some(item) => item,
            None => {
                if self.mark.is_some() {
                    return Poll::Ready(None);
                }
                match ready!(self.poll_chunk(cx)) {
                    None => return Poll::Ready(None),
                    Some(Chunk::One(item)) => item,
                    Some(Chunk::Many(batch)) => {
                        self.front = batch.into_iter();
                        match self.front.next() {
                            Some(item) => item,
                            None => return Poll::Pending,
                        }
                    }
                    Some(Chunk::Mark(marks)) => {
                        self.mark = Some(marks);
                        return Poll::Ready(None);
                    }
                }
            }
        };
        self.handed_out(1);
        Poll::Ready(Some(item))
    }

    /// Receives up to `limit` (at least 1) items into `buffer`, whole chunks where they fit:
    /// a chunk taken whole into an empty `buffer` replaces it, without a copy. Returns how many
    /// were added; `0` once every sender is gone and everything queued was taken, or when
    /// markers come first (then [`take_mark`](Receiver::take_mark) has them).
    pub(crate) fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        let start = buffer.len();
        let end = start.saturating_add(limit);
        if self.front.as_slice().is_empty() {
            if self.mark.is_some() {
                return Poll::Ready(0);
            }
            let Some(chunk) = ready!(self.poll_chunk(cx)) else {
                return Poll::Ready(0);
            };
            if self.take_chunk(chunk, buffer, end) {
                return Poll::Ready(self.whole(buffer));
            }
            if self.mark.is_some() {
                return Poll::Ready(0);
            }
        }
        match self.fill(buffer, start, end) {
            // A chunk is never empty, so this is not reached; waiting again is the safe answer.
            0 => Poll::Pending,
            added => Poll::Ready(added),
        }
    }

    /// Counts a batch moved whole into `buffer` as handed out; returns its size.
    fn whole(&mut self, buffer: &[T]) -> usize {
        self.handed_out(buffer.len());
        buffer.len()
    }

    /// Fills `buffer` up to `end` items from what is left of the front chunk and whatever else
    /// is queued now, without waiting; counts the items added since `start` as handed out and
    /// returns how many they are.
    fn fill(&mut self, buffer: &mut Vec<T>, start: usize, end: usize) -> usize {
        loop {
            let room = end.saturating_sub(buffer.len());
            if room == 0 {
                break;
            }
            if !self.front.as_slice().is_empty() {
                buffer.extend(self.front.by_ref().take(room));
                continue;
            }
            // Nothing behind markers is handed out before the inbox has taken them.
            if self.mark.is_some() {
                break;
            }
            match self.pop_or_release() {
                Some(chunk) => {
                    self.take_chunk(chunk, buffer, end);
                }
                None => break,
            }
        }
        let added = buffer.len() - start;
        if added > 0 {
            self.handed_out(added);
        }
        added
    }

    /// Moves as much of `chunk` into `buffer` as fits below `end` items; the rest is kept.
    /// `true` when the chunk was a batch moved whole into the empty `buffer`: that batch is
    /// handed over as it was sent, without gathering more behind it (which would copy). Markers
    /// are kept for the inbox.
    fn take_chunk(&mut self, chunk: Chunk<T>, buffer: &mut Vec<T>, end: usize) -> bool {
        let room = end - buffer.len();
        match chunk {
            Chunk::Mark(marks) => self.mark = Some(marks),
            Chunk::One(item) => buffer.push(item),
            Chunk::Many(batch) if batch.len() <= room && buffer.is_empty() => {
                *buffer = batch;
                return true;
            }
            Chunk::Many(mut batch) if batch.len() <= room => buffer.append(&mut batch),
            Chunk::Many(batch) => {
                self.front = batch.into_iter();
                buffer.extend(self.front.by_ref().take(room));
            }
        }
        false
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Refuse further sends, release every waiting sender (each sees the channel closed)
        // and drop what is queued.
        self.shared.closed.store(true, Ordering::SeqCst);
        let waiters = std::mem::take(&mut self.shared.waiters().queue);
        for waiter in waiters {
            waiter.waker.wake();
        }
        let queued = std::mem::take(&mut lock(&self.shared.queue).chunks);
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
        // The batch is handed over as it was sent; the single item comes next.
        let mut got = Vec::new();
        std::future::poll_fn(|cx| rx.poll_recv_many(cx, &mut got, 10)).await;
        assert_eq!(got, [1, 2, 3]);
        std::future::poll_fn(|cx| rx.poll_recv_many(cx, &mut got, 10)).await;
        assert_eq!(got, [1, 2, 3, 9]);
    }

    #[tokio::test]
    async fn a_receiver_that_finds_its_queue_empty_gives_its_room_back() {
        let (tx, mut rx) = channel::<u32>(16);
        assert!(tx.try_send(1).is_ok());
        assert_eq!(rx.try_recv(), Some(1));
        // The item taken is not counted as gone yet (less than an eighth of the capacity), so a
        // batch of the whole capacity waits.
        let mut batch = Box::pin(tx.send_chunk((0..16).collect()));
        assert!(poll!(batch.as_mut()).is_pending());
        // The receiver looks, finds nothing queued, and gives the room back: the batch gets in,
        // though nothing is handed out again (as when an inbox is busy with its other edges).
        assert_eq!(rx.try_recv(), None);
        assert!(matches!(poll!(batch.as_mut()), Poll::Ready(Ok(()))));
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

    #[tokio::test]
    async fn markers_take_no_room_merge_and_stop_the_receiver() {
        use super::super::marks::Marks;

        let (tx, mut rx) = channel::<u32>(2);
        let marks = tx.mark_tx();
        assert!(tx.try_send(1).is_ok());
        marks.push(Marks::barrier(1));
        marks.push(Marks::watermark(10)); // merges into the barrier's slot
        assert!(tx.try_send(2).is_ok(), "markers take no room");
        assert!(matches!(tx.try_send(3), Err(TrySend::Full(3))));
        assert_eq!(rx.try_recv(), Some(1));
        // The receiver stops at the markers: nothing behind them until they are taken.
        assert_eq!(rx.try_recv(), None);
        assert_eq!(rx.try_recv(), None);
        assert_eq!(
            rx.take_mark(),
            Some(Marks {
                barrier: 1,
                watermark: 10
            })
        );
        let mut batch = Vec::new();
        assert_eq!(rx.try_recv_many(&mut batch, 8), 1);
        assert_eq!(batch, [2]);
        // A marker-only handle does not keep the channel open.
        drop(tx);
        marks.push(Marks::watermark(20));
        assert_eq!(std::future::poll_fn(|cx| rx.poll_recv(cx)).await, None);
        assert_eq!(rx.take_mark(), Some(Marks::watermark(20)));
        assert_eq!(std::future::poll_fn(|cx| rx.poll_recv(cx)).await, None);
        assert_eq!(rx.take_mark(), None);
        assert!(rx.is_finished());
    }
}
