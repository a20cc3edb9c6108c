//! Domain core of the space-domain-awareness ingest service.
//!
//! Everything here is pure and network-free, so each stage can be tested on its own and the
//! pipeline that wires them together stays thin:
//!
//! * [`wire`] decodes each source's bytes (radar UDP, ISL TCP frames, optical HTTP JSON, the five
//!   synthetic sensors) into typed records, never panicking on hostile input;
//! * [`process`] normalises every record into one [`Observation`] envelope, validates it with
//!   stable reason codes, and suppresses duplicates in a bounded window;
//! * [`orbit`] holds the TLE catalog, SGP4 propagation, conjunction screening and association;
//! * [`sim`] generates a deterministic scenario (catalog, sensor streams, planted conjunction,
//!   injected duplicates and invalid records) together with the exact expected outcome.
//!
//! The wire formats and the envelope are documented in the crate's `README.md`.
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod cli;
pub mod config;
mod observation;
pub mod orbit;
pub mod pipeline;
pub mod process;
pub mod sensors;
pub mod sim;
pub mod telemetry;
pub mod wire;

pub use observation::{IngestMeta, Measurement, Observation, Observer, Quality, SensorKind};
