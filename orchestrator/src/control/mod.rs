//! Run-time control of a graph's sources: pause and resume.

mod controls;
mod error;
mod gate;

pub use controls::GraphControls;
pub use error::ControlError;
pub(crate) use gate::PauseGate;
