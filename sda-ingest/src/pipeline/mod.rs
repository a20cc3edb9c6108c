//! The running service: simulated sources, network transports, the operators and sinks, and
//! the topology that joins them on the orchestrator.

pub mod archive_simulator;
mod counters;
mod delivered;
mod encode;
mod faults;
mod frame;
pub mod operators;
pub mod optical_poller;
mod parts;
mod routed;
pub mod sinks;
pub mod sources;
mod topology;
pub mod transport;

pub use counters::{CounterSnapshot, Counters};
pub use delivered::Delivered;
pub use faults::FaultInjection;
pub use frame::{RawFrame, WireFormat, unix_now};
pub use parts::Parts;
pub use routed::{DeadLetter, Routed};
pub use topology::{CORRELATOR_QUEUE, build_topology};
