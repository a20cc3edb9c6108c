//! Test-only fault injection: make one named operator panic, or fail, on its first item (a
//! source: as it starts).
//!
//! Used by the binary's hidden `--inject-panic OPERATOR` and `--inject-error OPERATOR` flags so
//! that tests can show a panic, and a restart budget spent on repeated errors, each ending the
//! run with a non-zero exit that names the operator.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sda_orchestrator::Inbox;

/// Which operator, if any, should panic or fail.
#[derive(Debug, Clone, Default)]
pub struct FaultInjection {
    panic_in: Option<Arc<str>>,
    fail_in: Option<Arc<str>>,
    /// A point that fails the first time it is checked, and never again (across restarts).
    fail_once: Option<Arc<(String, AtomicBool)>>,
}

impl FaultInjection {
    /// No fault.
    pub fn none() -> Self {
        FaultInjection::default()
    }

    /// Panic in the operator named `operator`.
    pub fn panic_in(operator: impl Into<Arc<str>>) -> Self {
        FaultInjection {
            panic_in: Some(operator.into()),
            ..FaultInjection::default()
        }
    }

    /// Also make the operator named `operator` return an error each time it checks, so its
    /// restarts use up its budget.
    #[must_use]
    pub fn and_fail_in(mut self, operator: impl Into<Arc<str>>) -> Self {
        self.fail_in = Some(operator.into());
        self
    }

    /// Also make the check point `point` (an operator's name, or a finer point such as
    /// `correlator:alert`) fail the first time it is checked, and pass ever after: one
    /// transient error, which the operator's restart must recover from.
    #[must_use]
    pub fn and_fail_once_at(mut self, point: impl Into<String>) -> Self {
        self.fail_once = Some(Arc::new((point.into(), AtomicBool::new(false))));
        self
    }

    /// [`check`](FaultInjection::check) for an operator holding `batch`, just taken from
    /// `input`: on an injected error the batch is given back first, so the restarted operator
    /// receives it again and nothing is lost.
    ///
    /// # Errors
    ///
    /// As [`check`](FaultInjection::check).
    ///
    /// # Panics
    ///
    /// As [`check`](FaultInjection::check).
    pub fn check_holding<T>(
        &self,
        operator: &str,
        input: &mut Inbox<T>,
        batch: &mut Vec<T>,
    ) -> anyhow::Result<()> {
        let checked = self.check(operator);
        if checked.is_err() {
            input.give_back(std::mem::take(batch));
        }
        checked
    }

    /// Panics or fails if `operator` is the one chosen.
    ///
    /// # Errors
    ///
    /// `injected error in {operator}` when `operator` was chosen to fail.
    ///
    /// # Panics
    ///
    /// That is its purpose: when `operator` was chosen to panic, with the message
    /// `injected panic in {operator}`.
    pub fn check(&self, operator: &str) -> anyhow::Result<()> {
        if self.panic_in.as_deref() == Some(operator) {
            panic!("injected panic in {operator}");
        }
        if self.fail_in.as_deref() == Some(operator) {
            anyhow::bail!("injected error in {operator}");
        }
        if let Some(once) = &self.fail_once
            && once.0 == operator
            && !once.1.swap(true, Ordering::Relaxed)
        {
            anyhow::bail!("injected one-time error at {operator}");
        }
        Ok(())
    }
}
