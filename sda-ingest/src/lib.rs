//! The space-domain-awareness ingest service: the pipeline that runs the pure domain of
//! [`sda_ingest_core`] on the orchestrator, the transports that meet the outside world, the
//! simulator peers, the control plane and the command line.
//!
//! * [`pipeline`]: the items on the edges, the operators and sinks, the counters, and
//!   `build_topology` (the service's graph in one `pipeline!` block);
//! * [`transport`]: the production sources: radar over UDP, ISL over TCP, the optical archive
//!   over HTTP;
//! * [`simulator`]: the in-process replay and the loopback peers that stand in for real sensors;
//! * [`catalog`]: the catalog in use (a file, a URL or the simulator's own), what was made of
//!   it, and the `catalog` source that swaps newer ones in while running;
//! * [`app`]: one run, from start-up to the summary; [`cli`] and [`config`]: flags and the TOML
//!   file; [`telemetry`]: the Prometheus recorder and the service's metrics;
//! * [`audit_chain`]: the hash chain of `audit.jsonl` and `control_audit.jsonl`, and its
//!   offline check (`sda-ingest verify-audit DIR`).
//!
//! `ARCHITECTURE.md` at the repository root follows one radar datagram from the socket to its
//! line in `observations.jsonl`.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod audit_chain;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod pipeline;
pub mod scaleout;
pub mod simulator;
pub mod telemetry;
pub mod transport;
