//! The pipeline's operators, one file each.

mod alert;
mod correlator;
mod dedup;
mod normalize;
mod validate;

pub use alert::{ConjunctionAlert, alert_emitter};
pub use correlator::{CORRELATOR_BATCH, CorrelatorConfig, PropagatorRuntime, correlator};
pub use dedup::dedup;
pub use normalize::{DecodeFailure, decode_frame, normalize};
pub use validate::validate;

/// Items taken from an input per wake-up: large enough to amortise channel costs, small enough
/// to keep latency low.
pub(crate) const BATCH: usize = 256;
