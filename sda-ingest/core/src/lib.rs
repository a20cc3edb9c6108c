//! The pure domain of the space-domain-awareness ingest service: no sockets, no files, no
//! async runtime, so each stage is a plain function that can be tested and fuzzed on its own.
//!
//! * [`wire`] decodes each source's bytes (radar UDP datagrams, ISL TCP frames, optical HTTP
//!   pages, the five synthetic sensors) into typed records, never panicking on hostile input;
//!   [`wire::decode`] is the one place that picks the decoder for a message;
//! * [`process`] normalises every record into one [`Observation`] envelope, validates it with
//!   stable reason codes, and suppresses duplicates in a bounded window;
//! * [`orbit`] holds the TLE catalog, SGP4 propagation, conjunction screening and association;
//! * [`sim`] generates a deterministic scenario (catalog, sensor streams, planted conjunction,
//!   injected duplicates and invalid records) together with the exact expected outcome.
//!
//! The service crate (`sda-ingest`) wires these stages into a supervised pipeline and owns
//! everything that touches the outside world. The wire formats and the envelope are documented
//! in `sda-ingest/README.md`.
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod observation;
pub mod orbit;
pub mod process;
pub mod sensors;
pub mod sim;
pub mod wire;

pub use observation::{IngestMeta, Measurement, Observation, Observer, Quality, SensorKind};
