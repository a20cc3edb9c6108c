//! The production transports: where records arrive from the outside world.
//!
//! * [`radar_udp`](mod@radar_udp): radar datagrams on a UDP socket;
//! * [`isl_tcp`](mod@isl_tcp): the ISL stream, read from a TCP peer and split into frames;
//! * [`optical_http`](mod@optical_http): the optical archive, polled page by page over HTTP.
//!
//! Each is a source factory emitting [`RawFrame`](crate::pipeline::RawFrame)s, the same type
//! the in-process replay emits, and leaves decoding to `normalize`, so a malformed datagram,
//! frame or page becomes a dead letter with the decoder's reason code there, never a source
//! error. The simulator's peers that feed these on loopback are in
//! [`simulator`](crate::simulator).

pub mod isl_tcp;
pub mod optical_http;
pub mod radar_udp;

use std::net::SocketAddr;

pub use isl_tcp::{IslLink, isl_tcp};
pub use optical_http::{OpticalPollerConfig, optical_http};
pub use radar_udp::{RadarSocket, radar_udp};

/// Frames a network source hands on in one batch at most.
const BATCH: usize = 64;

/// The network transports of the radar, ISL and optical sources; `None` replays in-process.
#[derive(Debug, Clone, Default)]
pub struct Transports {
    /// The radar UDP listener, or `None` for the in-process replay.
    pub radar: Option<RadarTransport>,
    /// The ISL TCP reader, or `None` for the in-process replay.
    pub isl: Option<IslTransport>,
    /// The optical archive poller, or `None` for the in-process replay.
    pub optical: Option<OpticalPollerConfig>,
}

/// Where the radar source listens.
#[derive(Debug, Clone)]
pub struct RadarTransport {
    /// The bound socket, shared across restarts.
    pub socket: RadarSocket,
    /// Datagrams after which the source finishes (known when the built-in peer sends them).
    pub finish_after: Option<u64>,
}

/// Where the ISL source connects.
#[derive(Debug, Clone, Copy)]
pub struct IslTransport {
    /// The peer's address.
    pub addr: SocketAddr,
    /// Frames (heartbeats included) after which the source finishes.
    pub finish_after: Option<u64>,
    /// Timeouts and keepalive of the link.
    pub link: IslLink,
}
