//! Supervised async dataflow pipelines on tokio.
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod resilience;
#[doc(inline)]
pub use resilience::*;
