//! The permit for one call through a circuit breaker, and how its outcome is reported.

use std::fmt;
use std::sync::Arc;

use super::{Shared, Verdict};

/// Permission to make one call through a [`CircuitBreaker`](super::CircuitBreaker); report the
/// outcome by consuming it.
///
/// Dropping a permit without reporting counts as [`discard`](Self::discard): neither success nor
/// failure (this is what happens when a call is cancelled).
#[must_use = "report the call's outcome with success(), failure() or discard()"]
pub struct BreakerPermit {
    /// `None` once the outcome was reported, so that `Drop` does nothing.
    shared: Option<Arc<Shared>>,
    epoch: u64,
    probe: bool,
}

impl fmt::Debug for BreakerPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerPermit")
            .field("epoch", &self.epoch)
            .field("probe", &self.probe)
            .finish_non_exhaustive()
    }
}

impl BreakerPermit {
    pub(super) fn new(shared: Arc<Shared>, epoch: u64, probe: bool) -> Self {
        BreakerPermit {
            shared: Some(shared),
            epoch,
            probe,
        }
    }

    /// Whether this call is a HalfOpen probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Reports a success: closes a HalfOpen breaker.
    pub fn success(mut self) {
        self.report(Verdict::Success);
    }

    /// Reports a failure: may open a Closed breaker, re-opens a HalfOpen one.
    pub fn failure(mut self) {
        self.report(Verdict::Failure);
    }

    /// Reports neither success nor failure (a discarded item); frees a probe slot.
    pub fn discard(mut self) {
        self.report(Verdict::Neither);
    }

    fn report(&mut self, verdict: Verdict) {
        if let Some(shared) = self.shared.take() {
            shared.record(self.epoch, self.probe, verdict);
        }
    }
}

impl Drop for BreakerPermit {
    fn drop(&mut self) {
        self.report(Verdict::Neither);
    }
}
