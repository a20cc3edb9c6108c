//! Run-time control of a graph's sources: pause and resume, throttle and unthrottle.

mod controls;
mod error;
mod gate;
mod throttle;

pub use controls::GraphControls;
pub use error::ControlError;
pub(crate) use gate::PauseGate;
pub use throttle::{MAX_BURST, MAX_PER_SECOND, ThrottleLimit};
