//! The built-in simulator's moving parts: the in-process replay source and the peers that feed
//! the real transports on loopback (a UDP sender of radar datagrams, a TCP server of ISL frames
//! and a paced HTTP optical archive), all paced by one rule ([`pacing`]).
//!
//! The scenario itself (catalog, streams, expected outcome) is pure and lives in
//! [`sda_ingest_core::sim`]; nothing here runs in production except when no real endpoint is
//! configured.

pub mod archive;
pub mod isl_server;
pub mod pacing;
pub mod radar_sender;
pub mod replay;

pub use archive::ArchiveSimulator;
pub use isl_server::simulate_isl_server;
pub use pacing::{BASE_RECORDS_PER_S, Pacing};
pub use radar_sender::simulate_radar_sender;
pub use replay::{Replay, SimStream, simulated};
