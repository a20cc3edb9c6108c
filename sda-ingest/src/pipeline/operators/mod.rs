//! The pipeline's operators, one file each: the stage's synchronous kernel (or, for the
//! correlator, the kernel that runs on the propagator pool) and the operator that drives it.

mod alert;
mod correlator;
mod dedup;
mod normalize;
mod validate;

pub use alert::{ConjunctionAlert, alert_emitter};
pub use correlator::{
    CORRELATOR_BATCH, Correlator, CorrelatorConfig, CorrelatorInput, CorrelatorState,
    NamedConjunction, PropagatorRuntime, WindowEntry, Windowing, associate_batch, correlator,
};
pub use dedup::{DedupWindow, dedup, dedup_batch};
pub use normalize::{Normalizer, normalize};
pub use validate::{Lateness, Validator, validate};

/// Items taken from an input per wake-up: large enough to amortise channel costs, small enough
/// to keep latency low.
pub const BATCH: usize = 256;
