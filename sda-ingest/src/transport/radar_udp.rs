//! The radar source over UDP: one [`RawFrame`] per datagram.
//!
//! Each datagram is one frame. The receive buffer is [`MAX_DATAGRAM_LEN`]` + 1` bytes, so a
//! datagram longer than the maximum arrives longer than the maximum (the kernel cuts it at the
//! buffer, not at 64 bytes) and is dead-lettered as `oversized` by `normalize` instead of being
//! silently truncated into a valid-looking record.
//!
//! **Loss the kernel causes is counted.** UDP has no backpressure: datagrams that arrive while
//! the socket's receive queue is full are dropped by the kernel before the service could read
//! them. The socket asks for a large receive queue ([`RadarSocket::DEFAULT_RECV_BUFFER`], 4 MiB;
//! the kernel caps it at `net.core.rmem_max`, and the size it granted is logged), and the
//! kernel's drop counter for the socket is read from `/proc/self/net/udp` (Linux) into
//! `kernel_dropped`: datagrams that were sent to the service but never received. A paused radar
//! source stops reading, so while it is paused its queue fills and then the kernel drops; it
//! says so when it pauses. So does backpressure: when the pipeline downstream takes nothing for
//! a second or more (a broker outage at a scale-out edge, a stalled sink), the source holds its
//! batch and stops reading, says so once per stall, and keeps reading the drop counter every
//! second meanwhile, so the drops are reported while they happen.
//!
//! **Allowlist.** With an allowlist, datagrams from any other address are counted
//! (`disallowed`) and dropped without being decoded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ipnet::IpNet;
use sda_ingest_core::SensorKind;
use sda_ingest_core::wire::WireFormat;
use sda_ingest_core::wire::radar::MAX_DATAGRAM_LEN;
use sda_orchestrator::{SourceContext, SourceFactory};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::BATCH;
use crate::pipeline::counters::{add, bump};
use crate::pipeline::event_time::SourceClock;
use crate::pipeline::{Counters, RawFrame, Scope, unix_now};

/// How often the kernel's drop counter is read while datagrams flow.
const DROPS_EVERY: Duration = Duration::from_secs(1);

/// A bound radar socket, shared across the source's restarts so that a restart loses nothing
/// the kernel has queued.
#[derive(Debug, Clone)]
pub struct RadarSocket {
    socket: Arc<UdpSocket>,
    /// Datagrams from other addresses are dropped undecoded; empty allows every address.
    allow: Arc<[IpNet]>,
}

impl RadarSocket {
    /// The receive queue the radar socket asks the kernel for.
    pub const DEFAULT_RECV_BUFFER: usize = 4 * 1024 * 1024;

    /// Binds `addr` with a receive queue of `recv_buffer` bytes (as far as the kernel allows:
    /// the size it granted is logged, with a warning when it is less than asked).
    ///
    /// # Errors
    ///
    /// The socket cannot be created or bound.
    pub fn bind(addr: SocketAddr, recv_buffer: usize, allow: Vec<IpNet>) -> std::io::Result<Self> {
        let domain = socket2::Domain::for_address(addr);
        let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, None)?;
        socket.set_recv_buffer_size(recv_buffer)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        // Linux reports twice the size asked for (its bookkeeping overhead), capped by
        // `net.core.rmem_max`.
        let granted = socket.recv_buffer_size()?;
        if granted < recv_buffer {
            tracing::warn!(
                asked = recv_buffer,
                granted,
                "the kernel granted the radar socket a smaller receive queue than asked \
                 (raise net.core.rmem_max); bursts may be dropped, and are counted in kernel_dropped"
            );
        } else {
            tracing::info!(granted, "radar socket receive queue");
        }
        let socket = UdpSocket::from_std(socket.into())?;
        Ok(RadarSocket {
            socket: Arc::new(socket),
            allow: allow.into(),
        })
    }

    /// The bound address.
    ///
    /// # Errors
    ///
    /// As [`UdpSocket::local_addr`].
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    fn allowed(&self, peer: SocketAddr) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(&peer.ip()))
    }

    /// Datagrams the kernel has dropped on this socket so far; `None` where the counter
    /// cannot be read (not Linux).
    pub fn kernel_drops(&self) -> Option<u64> {
        kernel_drops(&self.socket)
    }
}

/// The kernel's drop counter of `socket`, from the `drops` column of `/proc/self/net/udp` (or
/// `udp6`), found by the socket's inode.
fn kernel_drops(socket: &UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let fd = socket.as_raw_fd();
    let inode = std::fs::metadata(format!("/proc/self/fd/{fd}")).ok()?.ino();
    let inode = inode.to_string();
    for table in ["/proc/self/net/udp", "/proc/self/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        // sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ref pointer drops
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(9) == Some(&inode.as_str()) {
                return fields.get(12)?.parse().ok();
            }
        }
    }
    None
}

/// The radar source over UDP: one [`RawFrame`] per datagram received on `socket` from an
/// allowed address.
///
/// Frames are numbered by a counter that survives restarts. With `finish_after` set (the
/// built-in simulator peer knows how many datagrams it sends), the source returns `Ok(())`
/// once that many datagrams have been received or dropped by the kernel; otherwise it runs
/// until shutdown.
pub fn radar_udp(
    socket: RadarSocket,
    finish_after: Option<u64>,
    clock: SourceClock,
    counters: Arc<Counters>,
) -> impl SourceFactory<RawFrame> {
    let position = Arc::new(AtomicU64::new(0));
    let name: Arc<str> = Arc::from(SensorKind::Radar.as_str());
    move |mut ctx: SourceContext<RawFrame>| {
        let (socket, counters, position, name) = (
            socket.clone(),
            counters.clone(),
            position.clone(),
            name.clone(),
        );
        async move {
            let mut reader = Reader {
                socket: &socket,
                counters: &counters,
                // One byte more than the maximum, so an oversized datagram is seen as such.
                buf: vec![0_u8; MAX_DATAGRAM_LEN + 1],
                batch: Vec::with_capacity(BATCH),
                name: &name,
                next_drops_read: Instant::now(),
                clock,
            };
            let result = reader.run(&mut ctx, &position, finish_after).await;
            reader.read_drops();
            result
        }
    }
}

/// Says what a paused radar source means: UDP cannot push back, so the kernel drops.
fn warn_paused(held: u64) {
    tracing::warn!(
        held,
        "radar paused: datagrams now queue in the socket's receive buffer, and the kernel \
         drops them once it is full (counted in kernel_dropped)"
    );
}

/// Says that backpressure has reached the radar socket: the pipeline downstream takes
/// nothing, so the source stops reading and the kernel's queue fills, then drops.
fn warn_held(held: u64) {
    tracing::warn!(
        held,
        "radar held by backpressure: the pipeline downstream takes nothing, datagrams queue \
         in the socket's receive buffer, and the kernel drops them once it is full (counted \
         in kernel_dropped)"
    );
}

struct Reader<'a> {
    socket: &'a RadarSocket,
    counters: &'a Counters,
    buf: Vec<u8>,
    batch: Vec<RawFrame>,
    name: &'a Arc<str>,
    next_drops_read: Instant,
    /// The watermark: the datagrams' epochs, less the out-of-orderness bound.
    clock: SourceClock,
}

impl Reader<'_> {
    async fn run(
        &mut self,
        ctx: &mut SourceContext<RawFrame>,
        position: &AtomicU64,
        finish_after: Option<u64>,
    ) -> anyhow::Result<()> {
        let done = |reader: &Self| {
            finish_after.is_some_and(|n| {
                position.load(Ordering::Relaxed)
                    + reader.counters.kernel_dropped.load(Ordering::Relaxed)
                    >= n
            })
        };
        loop {
            if done(self) {
                return Ok(());
            }
            if ctx.is_paused() {
                warn_paused(0);
                tokio::select! {
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    () = ctx.resumed() => {}
                }
                tracing::info!("radar resumed");
            }
            // The drop counter is read at least once a second, which also tells `done` about
            // datagrams the kernel dropped at the very end of a finite stream.
            let received = tokio::select! {
                () = ctx.shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep_until(self.next_drops_read) => None,
                received = self.socket.socket.recv_from(&mut self.buf) => Some(received?),
            };
            let Some((len, peer)) = received else {
                self.read_drops();
                continue;
            };
            let mut next = position.load(Ordering::Relaxed);
            self.take(peer, len, &mut next);
            // Take whatever else is already queued without waiting, up to a batch.
            while self.batch.len() < BATCH && finish_after.is_none_or(|n| next < n) {
                match self.socket.socket.try_recv_from(&mut self.buf) {
                    Ok((len, peer)) => self.take(peer, len, &mut next),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.into()),
                }
            }
            let count = self.batch.len() as u64;
            let paused = ctx.is_paused();
            if paused {
                // The send below waits, holding the batch, until the source is resumed.
                warn_paused(count);
            }
            let latest = SourceClock::latest_of(&self.batch);
            // The send waits while the pipeline downstream is full (a broker outage at the
            // edge, a slow sink) or paused: the socket's queue fills and the kernel drops.
            // Its drop counter is still read every second meanwhile, so the drops show in
            // `kernel_dropped_total` while they happen, not only once reading resumes.
            {
                let send = ctx.output.send_batch(&mut self.batch);
                tokio::pin!(send);
                let (waiting_since, mut held) = (Instant::now(), false);
                loop {
                    tokio::select! {
                        sent = &mut send => {
                            sent?;
                            break;
                        }
                        () = tokio::time::sleep_until(self.next_drops_read) => {
                            read_drops(self.socket, self.counters, &mut self.next_drops_read);
                            // Said once per stall, and only for a real one (a second or
                            // more), not for the moment a full edge takes to drain.
                            if !held && !paused && waiting_since.elapsed() >= DROPS_EVERY {
                                held = true;
                                warn_held(count);
                            }
                        }
                    }
                }
                if held {
                    tracing::info!("radar reading again: the pipeline took the held batch");
                }
            }
            self.clock.sent(&ctx.output, latest);
            position.fetch_add(count, Ordering::Relaxed);
            add(&self.counters.source(SensorKind::Radar).frames, count);
            if Instant::now() >= self.next_drops_read {
                self.read_drops();
            }
        }
    }

    /// Turns the datagram in `buf` into a frame, or counts and drops it when its sender is
    /// not allowed.
    fn take(&mut self, peer: SocketAddr, len: usize, next: &mut u64) {
        if !self.socket.allowed(peer) {
            bump(&self.counters.disallowed);
            return;
        }
        self.batch.push(RawFrame {
            source: self.name.clone(),
            kind: SensorKind::Radar,
            format: WireFormat::Radar,
            pass: 0,
            index: usize::try_from(*next).unwrap_or(usize::MAX),
            scope: Scope::Live,
            cursor: None,
            bytes: Bytes::copy_from_slice(&self.buf[..len]),
            received_at: unix_now(),
        });
        *next += 1;
    }

    /// Reads the kernel's drop counter into `kernel_dropped`.
    fn read_drops(&mut self) {
        read_drops(self.socket, self.counters, &mut self.next_drops_read);
    }
}

/// Reads the kernel's drop counter of `socket` into `kernel_dropped` and
/// `kernel_dropped_total{source="radar"}`, and sets when to read it next.
fn read_drops(socket: &RadarSocket, counters: &Counters, next_read: &mut Instant) {
    *next_read = Instant::now() + DROPS_EVERY;
    if let Some(drops) = socket.kernel_drops() {
        counters.kernel_dropped.fetch_max(drops, Ordering::Relaxed);
        metrics::counter!("kernel_dropped_total", "source" => "radar").absolute(drops);
    }
}
