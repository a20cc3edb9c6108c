//! The built-in simulator: a deterministic scenario and its expected outcome.

pub mod scenario;
pub mod skew;
