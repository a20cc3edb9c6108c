//! The gate of one source: a pause flag and a rate limit, read on every send, and a way to wait
//! for them.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::throttle::{Limiter, ThrottleLimit};

/// The bit of [`PauseGate::flags`] set while the source is paused.
const PAUSED: u8 = 1;
/// The bit of [`PauseGate::flags`] set while the source is throttled.
const THROTTLED: u8 = 2;

/// Whether, and how fast, a source may send. Created once per source at `build()` and shared by
/// every incarnation of it, so a restarted source stays paused and throttled.
///
/// The hot path reads one byte of flags with one relaxed load; only a paused or throttled
/// sender goes further. Shutdown opens the gate for good (as far as waiters are concerned): a
/// paused or throttled source must be able to see its shutdown signal and drain, or a shutdown
/// would wait for the drain deadline and abort it.
#[derive(Debug)]
pub(crate) struct PauseGate {
    flags: AtomicU8,
    /// Wakes waiters when the source is resumed or its throttle changes.
    changed: Notify,
    throttle: Mutex<Option<Arc<Limiter>>>,
    /// Nanoseconds sends have waited for throttle permits.
    throttled_nanos: AtomicU64,
    shutdown: CancellationToken,
}

impl PauseGate {
    pub(crate) fn new(shutdown: CancellationToken) -> Self {
        PauseGate {
            flags: AtomicU8::new(0),
            changed: Notify::new(),
            throttle: Mutex::new(None),
            throttled_nanos: AtomicU64::new(0),
            shutdown,
        }
    }

    /// The hot-path check: whether a send has to pass the gate (paused or throttled). One
    /// relaxed load.
    #[inline]
    pub(crate) fn holds(&self) -> bool {
        self.flags.load(Ordering::Relaxed) != 0
    }

    /// Whether the source is paused: one relaxed load.
    #[inline]
    pub(crate) fn is_paused(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & PAUSED != 0
    }

    /// Closes the gate; `true` if it was open.
    pub(crate) fn pause(&self) -> bool {
        self.flags.fetch_or(PAUSED, Ordering::AcqRel) & PAUSED == 0
    }

    /// Opens the gate and wakes every waiter; `true` if it was closed.
    pub(crate) fn resume(&self) -> bool {
        let was_paused = self.flags.fetch_and(!PAUSED, Ordering::AcqRel) & PAUSED != 0;
        if was_paused {
            self.changed.notify_waiters();
        }
        was_paused
    }

    fn limiter(&self) -> MutexGuard<'_, Option<Arc<Limiter>>> {
        // Nothing can be left half-written under this lock: a poisoned one is still sound.
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets (`Some`) or lifts (`None`) the rate limit, waking every waiter so that it waits on
    /// the new one; `true` if that changed the limit in force. A new limit starts with its
    /// whole burst available.
    pub(crate) fn set_throttle(&self, limit: Option<ThrottleLimit>) -> bool {
        let mut current = self.limiter();
        if current.as_ref().map(|l| l.limit) == limit {
            return false;
        }
        *current = limit.map(|limit| Arc::new(Limiter::new(limit)));
        if limit.is_some() {
            self.flags.fetch_or(THROTTLED, Ordering::AcqRel);
        } else {
            self.flags.fetch_and(!THROTTLED, Ordering::AcqRel);
        }
        drop(current);
        self.changed.notify_waiters();
        true
    }

    /// The rate limit in force, if any.
    pub(crate) fn throttle(&self) -> Option<ThrottleLimit> {
        self.limiter().as_ref().map(|l| l.limit)
    }

    /// Seconds sends have waited for throttle permits so far.
    pub(crate) fn throttled_seconds(&self) -> f64 {
        self.throttled_nanos.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// Waits until the gate is open or shutdown has begun. Returns at once when neither
    /// holds back. Cancel safe: it holds nothing but a registration with the `Notify`.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registering before the check means a resume between the check and the wait
            // still wakes this waiter: `notify_waiters` reaches every enabled `Notified`.
            notified.as_mut().enable();
            if !self.is_paused() || self.shutdown.is_cancelled() {
                return;
            }
            tokio::select! {
                () = &mut notified => {}
                () = self.shutdown.cancelled() => return,
            }
        }
    }

    /// Lets a send of `items` items through: waits while the source is paused, then for
    /// throttle permits for all of them (a burst at a time when there are more than a burst).
    /// Shutdown ends both waits. The time spent waiting for permits is counted. Cancel safe:
    /// permits already taken for a part of a large batch are spent, nothing else is held.
    pub(crate) async fn pass(&self, items: usize) {
        if items == 0 {
            // Nothing to count against the rate: an empty batch waits for a pause only.
            self.wait().await;
            return;
        }
        let mut remaining = items;
        let mut waited_since: Option<Instant> = None;
        while remaining > 0 {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shutdown.is_cancelled() {
                break;
            }
            if self.is_paused() {
                self.wait().await;
                continue;
            }
            let Some(limiter) = self.limiter().clone() else {
                break;
            };
            let chunk = remaining.min(limiter.chunk());
            let wait = match limiter.try_take(chunk) {
                Ok(()) => {
                    remaining -= chunk;
                    continue;
                }
                Err(wait) => wait,
            };
            waited_since.get_or_insert_with(Instant::now);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut notified => {}
                () = self.shutdown.cancelled() => break,
            }
        }
        if let Some(since) = waited_since {
            let nanos = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.throttled_nanos.fetch_add(nanos, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn an_open_gate_does_not_wait() {
        let gate = PauseGate::new(CancellationToken::new());
        gate.wait().await;
        assert!(!gate.is_paused());
    }

    #[tokio::test]
    async fn a_resume_wakes_a_waiter() {
        let gate = Arc::new(PauseGate::new(CancellationToken::new()));
        assert!(gate.pause());
        assert!(!gate.pause(), "pausing twice changes nothing");
        let waiter = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert!(gate.resume());
        assert!(!gate.resume(), "resuming twice changes nothing");
        waiter.await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_releases_a_waiter() {
        let shutdown = CancellationToken::new();
        let gate = Arc::new(PauseGate::new(shutdown.clone()));
        gate.pause();
        let waiter = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        shutdown.cancel();
        waiter.await.unwrap();
        assert!(gate.is_paused(), "shutdown does not resume the source");
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_pass_waits_for_its_permits_and_counts_the_wait() {
        let gate = PauseGate::new(CancellationToken::new());
        assert!(!gate.holds());
        assert!(gate.set_throttle(Some(ThrottleLimit::new(10, 2).unwrap())));
        assert!(!gate.set_throttle(Some(ThrottleLimit::new(10, 2).unwrap())));
        assert!(gate.holds() && !gate.is_paused());
        let start = Instant::now();
        // Two from the burst at once, then eight more at 10/s, two at a time.
        gate.pass(10).await;
        assert_eq!(start.elapsed(), std::time::Duration::from_millis(800));
        assert!((gate.throttled_seconds() - 0.8).abs() < 1e-9);
        assert!(gate.set_throttle(None));
        assert!(!gate.holds());
        assert_eq!(gate.throttle(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn lifting_the_throttle_releases_a_waiting_pass() {
        let gate = Arc::new(PauseGate::new(CancellationToken::new()));
        gate.set_throttle(Some(ThrottleLimit::new(1, 1).unwrap()));
        gate.pass(1).await;
        let waiter = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.pass(1).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let start = Instant::now();
        gate.set_throttle(None);
        waiter.await.unwrap();
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);
    }
}
