//! The pause gate of one source: a flag read on every send, and a way to wait for it to clear.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Whether a source may send. Created once per source at `build()` and shared by every
/// incarnation of it, so a restarted source stays paused.
///
/// The hot path reads the flag with one relaxed load; only a paused sender touches the
/// `Notify`. Shutdown opens the gate for good (as far as waiters are concerned): a paused source
/// must be able to see its shutdown signal and drain, or a shutdown would wait for the drain
/// deadline and abort it.
#[derive(Debug)]
pub(crate) struct PauseGate {
    paused: AtomicBool,
    resumed: Notify,
    shutdown: CancellationToken,
}

impl PauseGate {
    pub(crate) fn new(shutdown: CancellationToken) -> Self {
        PauseGate {
            paused: AtomicBool::new(false),
            resumed: Notify::new(),
            shutdown,
        }
    }

    /// The hot-path check: one relaxed load.
    #[inline]
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Closes the gate; `true` if it was open.
    pub(crate) fn pause(&self) -> bool {
        !self.paused.swap(true, Ordering::AcqRel)
    }

    /// Opens the gate and wakes every waiter; `true` if it was closed.
    pub(crate) fn resume(&self) -> bool {
        let was_paused = self.paused.swap(false, Ordering::AcqRel);
        if was_paused {
            self.resumed.notify_waiters();
        }
        was_paused
    }

    /// Waits until the gate is open or shutdown has begun. Returns at once when neither
    /// holds back. Cancel safe: it holds nothing but a registration with the `Notify`.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.resumed.notified();
            tokio::pin!(notified);
            // Registering before the check means a resume between the check and the wait
            // still wakes this waiter: `notify_waiters` reaches every enabled `Notified`.
            notified.as_mut().enable();
            if !self.paused.load(Ordering::Acquire) || self.shutdown.is_cancelled() {
                return;
            }
            tokio::select! {
                () = &mut notified => {}
                () = self.shutdown.cancelled() => return,
            }
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
}
