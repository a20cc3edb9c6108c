//! The pipeline: the items that travel its edges, its operators and sinks (each with the
//! synchronous kernel it drives), the shared counters, and the topology that joins them on the
//! orchestrator.
//!
//! The sources are elsewhere: the production transports in [`transport`](crate::transport),
//! the in-process replay in [`simulator`](crate::simulator); [`Parts::source`] picks one per
//! sensor stream.

pub(crate) mod counters;
mod delivered;
pub mod event_time;
mod faults;
mod frame;
pub mod operators;
pub mod origin;
mod parts;
mod routed;
pub mod sinks;
mod topology;

pub use counters::{CounterSnapshot, Counters, SourceCounters, SourceSnapshot};
pub use delivered::Delivered;
pub use event_time::{EventTimeSettings, SourceClock};
pub use faults::FaultInjection;
pub use frame::{RawFrame, unix_now};
pub use origin::{Origin, Scope};
pub use parts::Parts;
pub use routed::{DeadLetter, LATE, Routed};
pub use topology::{CORRELATOR_QUEUE, build_topology};
