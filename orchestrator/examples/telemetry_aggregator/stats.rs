//! The aggregator's statistics: counters bumped with relaxed atomics on the hot path,
//! snapshots published on a tick, and read without taking a lock.
//!
//! This is the example's own code, not the library's: a fixed array of counters fits a
//! dashboard with a known set of figures. Its tests are in `tests/telemetry_aggregator.rs`.

use std::array;
use std::hint::spin_loop;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

/// A counter on its own cache line: the hot path bumps one counter while the publisher reads
/// the others, and sharing a line would make them contend for it.
#[derive(Debug, Default)]
#[repr(align(64))]
struct PaddedCounter(AtomicU64);

impl PaddedCounter {
    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Shared<const N: usize> {
    names: [&'static str; N],
    /// Bumped by the hot path.
    live: [PaddedCounter; N],
    /// The last published snapshot, guarded by `sequence` (a seqlock: odd while a publish is
    /// under way, the published generation times two when it is not).
    sequence: AtomicU64,
    published: [AtomicU64; N],
}

/// Publishes `N` named counters as snapshots that readers take without a lock.
///
/// * The hot path bumps counters through [`StatsCounters::add`]: one relaxed `fetch_add` on a
///   counter of its own cache line.
/// * [`publish`](StatsPublisher::publish) (or the ticker [`run`](StatsPublisher::run)) copies
///   the counters into a published snapshot and announces its generation on a
///   [`tokio::sync::watch`] channel.
/// * Readers ([`StatsReader`]) take the latest snapshot with [`latest`](StatsReader::latest)
///   and wait for the next one with [`changed`](StatsReader::changed).
///
/// # What "lock-free" means here
///
/// [`StatsReader::latest`] and [`StatsCounters::add`]/[`get`](StatsCounters::get) touch
/// nothing but atomics: no mutex, no `RwLock`, no allocation. The snapshot is a sequence lock
/// built from atomics only: the single publisher (the borrow checker guarantees one, since
/// `publish` takes `&mut self` and the publisher is not `Clone`) makes the sequence odd, stores
/// each value, then makes it even again with release ordering; a reader loads the sequence,
/// the values and the sequence again, and retries only if a publish overlapped its read. A
/// publish is `N` stores, so a reader retries at most while one is in progress: the read path
/// is lock-free (never waits on a lock holder that could be descheduled), not wait-free.
///
/// The values are deliberately *not* carried in the `watch` channel: tokio's
/// `watch::Receiver::borrow` takes a read lock on an `RwLock` around the value, and its writer
/// takes the write lock. The `watch` channel carries only the generation number, for
/// [`changed`](StatsReader::changed); waiting there registers on tokio's `Notify` (whose
/// waiter list is behind a mutex), which is a wait by definition and not on the read path.
///
/// # Examples
///
/// `stats_are_published_as_whole_snapshots` in `tests/telemetry_aggregator.rs` counts,
/// publishes and reads a snapshot.
pub struct StatsPublisher<const N: usize> {
    shared: Arc<Shared<N>>,
    notify: watch::Sender<u64>,
}

impl<const N: usize> std::fmt::Debug for StatsPublisher<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsPublisher")
            .field("names", &self.shared.names)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> StatsPublisher<N> {
    /// A publisher of counters named `names`, all zero, with generation 0 published.
    pub fn new(names: [&'static str; N]) -> Self {
        let (notify, _) = watch::channel(0);
        StatsPublisher {
            shared: Arc::new(Shared {
                names,
                live: array::from_fn(|_| PaddedCounter::default()),
                sequence: AtomicU64::new(0),
                published: array::from_fn(|_| AtomicU64::new(0)),
            }),
            notify,
        }
    }

    /// A handle for the hot path to bump the counters.
    pub fn counters(&self) -> StatsCounters<N> {
        StatsCounters {
            shared: Arc::clone(&self.shared),
        }
    }

    /// A handle for readers of the published snapshots.
    pub fn reader(&self) -> StatsReader<N> {
        StatsReader {
            shared: Arc::clone(&self.shared),
            notify: self.notify.subscribe(),
        }
    }

    /// Copies the counters into a new published snapshot and wakes the readers waiting in
    /// [`StatsReader::changed`]. Returns the new generation.
    pub fn publish(&mut self) -> u64 {
        let shared = &self.shared;
        let sequence = shared.sequence.load(Ordering::Relaxed);
        shared.sequence.store(sequence + 1, Ordering::Relaxed);
        // Orders the odd sequence before the value stores, for readers that see a new value.
        fence(Ordering::Release);
        for (published, live) in shared.published.iter().zip(&shared.live) {
            published.store(live.get(), Ordering::Relaxed);
        }
        shared.sequence.store(sequence + 2, Ordering::Release);
        let generation = (sequence + 2) / 2;
        self.notify.send_replace(generation);
        generation
    }

    /// Publishes every `period` until `until` fires, then publishes once more (so the last
    /// snapshot holds the final counts) and drops the publisher, which ends every reader's
    /// [`changed`](StatsReader::changed) with an error once it has seen that last snapshot.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops publishing without the final snapshot.
    pub async fn run(mut self, period: Duration, until: CancellationToken) {
        let mut ticker = interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = until.cancelled() => break,
                _ = ticker.tick() => {
                    self.publish();
                }
            }
        }
        self.publish();
    }
}

/// The hot path's handle on a [`StatsPublisher`]'s counters. Cheap to clone.
pub struct StatsCounters<const N: usize> {
    shared: Arc<Shared<N>>,
}

impl<const N: usize> Clone for StatsCounters<N> {
    fn clone(&self) -> Self {
        StatsCounters {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<const N: usize> std::fmt::Debug for StatsCounters<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsCounters")
            .field("names", &self.shared.names)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> StatsCounters<N> {
    /// Adds `n` to counter `index` (a relaxed atomic add). An index out of range is ignored.
    pub fn add(&self, index: usize, n: u64) {
        if let Some(counter) = self.shared.live.get(index) {
            counter.add(n);
        }
    }

    /// The live value of counter `index`, not yet published; 0 out of range.
    pub fn get(&self, index: usize) -> u64 {
        self.shared.live.get(index).map_or(0, PaddedCounter::get)
    }
}

/// A reader of a [`StatsPublisher`]'s snapshots. Cheap to clone.
#[derive(Clone)]
pub struct StatsReader<const N: usize> {
    shared: Arc<Shared<N>>,
    notify: watch::Receiver<u64>,
}

impl<const N: usize> std::fmt::Debug for StatsReader<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsReader")
            .field("names", &self.shared.names)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> StatsReader<N> {
    /// The latest published snapshot, read from atomics only (see [`StatsPublisher`] for why
    /// this takes no lock).
    pub fn latest(&self) -> StatsSnapshot<N> {
        let shared = &self.shared;
        loop {
            let before = shared.sequence.load(Ordering::Acquire);
            if before % 2 == 1 {
                spin_loop();
                continue;
            }
            let values = array::from_fn(|i| shared.published[i].load(Ordering::Relaxed));
            // Orders the value loads before the second sequence load.
            fence(Ordering::Acquire);
            if shared.sequence.load(Ordering::Relaxed) == before {
                return StatsSnapshot {
                    generation: before / 2,
                    names: shared.names,
                    values,
                };
            }
        }
    }

    /// Waits for a snapshot newer than the last one this reader waited for.
    ///
    /// # Errors
    ///
    /// [`watch::error::RecvError`] once the publisher is gone and its last snapshot was seen.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as `watch::Receiver::changed`.
    pub async fn changed(&mut self) -> Result<(), watch::error::RecvError> {
        self.notify.changed().await
    }
}

/// One published set of counter values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot<const N: usize> {
    generation: u64,
    names: [&'static str; N],
    values: [u64; N],
}

impl<const N: usize> StatsSnapshot<N> {
    /// How many snapshots were published before and including this one (0: none yet).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The values, in the order of the names given to [`StatsPublisher::new`].
    pub fn values(&self) -> [u64; N] {
        self.values
    }

    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.names
            .iter()
            .position(|n| *n == name)
            .and_then(|i| self.values.get(i).copied())
    }

    /// The counter names.
    pub fn names(&self) -> [&'static str; N] {
        self.names
    }
}
