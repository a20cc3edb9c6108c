//! Test-only fault injection: make one named operator panic on its first item.
//!
//! Used by the binary's hidden `--inject-panic OPERATOR` flag so that tests can show a panic
//! ending the run with a non-zero exit that names the operator.

use std::sync::Arc;

/// Which operator, if any, should panic on its first item.
#[derive(Debug, Clone, Default)]
pub struct FaultInjection {
    panic_in: Option<Arc<str>>,
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
        }
    }

    /// Panics if `operator` is the one chosen.
    ///
    /// # Panics
    ///
    /// That is its purpose: when `operator` matches, with the message
    /// `injected panic in {operator}`.
    pub fn check(&self, operator: &str) {
        if self.panic_in.as_deref() == Some(operator) {
            panic!("injected panic in {operator}");
        }
    }
}
