//! Test-only fault injection: make one named operator panic, or fail, on its first item (a
//! source: as it starts).
//!
//! Used by the binary's hidden `--inject-panic OPERATOR` and `--inject-error OPERATOR` flags so
//! that tests can show a panic, and a restart budget spent on repeated errors, each ending the
//! run with a non-zero exit that names the operator.

use std::sync::Arc;

/// Which operator, if any, should panic or fail.
#[derive(Debug, Clone, Default)]
pub struct FaultInjection {
    panic_in: Option<Arc<str>>,
    fail_in: Option<Arc<str>>,
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
            fail_in: None,
        }
    }

    /// Also make the operator named `operator` return an error each time it checks, so its
    /// restarts use up its budget.
    #[must_use]
    pub fn and_fail_in(mut self, operator: impl Into<Arc<str>>) -> Self {
        self.fail_in = Some(operator.into());
        self
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
        Ok(())
    }
}
