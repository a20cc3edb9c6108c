//! Network transports: the radar UDP listener and the ISL TCP reader, and the simulator peers
//! (a paced UDP sender and a paced TCP server) that feed them on loopback.
//!
//! Both sources emit the same [`RawFrame`]s as the in-process replay, and leave decoding to
//! `normalize`, so a malformed datagram or frame becomes a dead letter with the decoder's reason
//! code there, never a source error.
//!
//! **Radar (UDP).** Each datagram is one frame. The receive buffer is
//! [`MAX_DATAGRAM_LEN`]` + 1` bytes, so a datagram longer than the maximum arrives longer than
//! the maximum (the kernel cuts it at the buffer, not at 64 bytes) and is dead-lettered as
//! `oversized` instead of being silently truncated into a valid-looking record.
//!
//! **ISL (TCP).** The reader splits the stream with [`IslCodec`] (which rejects a length prefix
//! above `MAX_FRAME_LEN` before reserving anything) and hands on each frame's exact bytes. A
//! decode error means the stream cannot be resynchronised: the offending bytes are handed on as
//! a frame (so `normalize` dead-letters them with the same code), the connection is dropped
//! and the reader reconnects. Reconnects after a decode error or a closed connection happen
//! inside the source, so a hostile peer cannot use up the supervisor's restart budget; a peer
//! that cannot be reached at all is retried a few times with backoff, then the source fails
//! and the supervisor's restart policy takes over.
//!
//! The reader drives the codec over a `BytesMut` itself rather than through `FramedRead`,
//! whose only interface is the `futures` `Stream` trait (a dependency this crate does not
//! take); the buffering is the same, and bounded by `4 + MAX_FRAME_LEN` plus one read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sda_orchestrator::{SourceContext, SourceFactory};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Instant;
use tokio_util::codec::Decoder;

use super::counters::Counters;
use super::frame::{RawFrame, WireFormat, unix_now};
use super::optical_poller::OpticalPollerConfig;
use super::sources::Pacing;
use crate::observation::SensorKind;
use crate::wire::isl::{IslCodec, IslError, MAX_FRAME_LEN, PREFIX_LEN};
use crate::wire::radar::MAX_DATAGRAM_LEN;

/// The network transports the radar and ISL sources use; `None` replays in-process.
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
    pub socket: Arc<UdpSocket>,
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
}

/// Frames a source hands on in one batch at most.
const BATCH: usize = 64;

/// How often a simulator peer wakes up to send what has come due.
const TICK: Duration = Duration::from_millis(20);

/// Datagrams the simulator's UDP sender sends per tick at most (1,600/s): a burst the default
/// loopback receive buffer holds, so a loopback run does not drop datagrams.
const UDP_BURST: u64 = 32;

/// Connection attempts before the ISL source gives up and lets the supervisor restart it.
const CONNECT_ATTEMPTS: u32 = 5;

/// First delay between connection attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Longest delay between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The radar source over UDP: one [`RawFrame`] per datagram received on `socket`.
///
/// The socket is shared across restarts, so a restart loses nothing the kernel has queued.
/// Frames are numbered by a counter that also survives restarts. With `finish_after` set (the
/// built-in simulator peer knows how many datagrams it sends), the source returns `Ok(())`
/// after that many datagrams; otherwise it runs until shutdown.
pub fn radar_udp(
    socket: Arc<UdpSocket>,
    finish_after: Option<u64>,
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
            // One byte more than the maximum, so an oversized datagram is seen as such.
            let mut buf = vec![0_u8; MAX_DATAGRAM_LEN + 1];
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                if finish_after.is_some_and(|n| position.load(Ordering::Relaxed) >= n) {
                    return Ok(());
                }
                let len = tokio::select! {
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    received = socket.recv(&mut buf) => received?,
                };
                let mut next = position.load(Ordering::Relaxed);
                batch.push(datagram_frame(&name, next, &buf[..len]));
                next += 1;
                // Take whatever else is already queued without waiting, up to a batch.
                while batch.len() < BATCH && finish_after.is_none_or(|n| next < n) {
                    match socket.try_recv(&mut buf) {
                        Ok(len) => {
                            batch.push(datagram_frame(&name, next, &buf[..len]));
                            next += 1;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e.into()),
                    }
                }
                let count = batch.len() as u64;
                ctx.output.send_batch(&mut batch).await?;
                position.fetch_add(count, Ordering::Relaxed);
                counters.frames.fetch_add(count, Ordering::Relaxed);
            }
        }
    }
}

fn datagram_frame(name: &Arc<str>, n: u64, bytes: &[u8]) -> RawFrame {
    RawFrame {
        source: name.clone(),
        kind: SensorKind::Radar,
        format: WireFormat::Radar,
        pass: 0,
        index: usize::try_from(n).unwrap_or(usize::MAX),
        bytes: Bytes::copy_from_slice(bytes),
        received_at: unix_now(),
    }
}

/// The ISL source over TCP: connects to `addr` and hands on one [`RawFrame`] per ISL frame.
///
/// After a decode error it hands on the offending bytes (so `normalize` dead-letters them with
/// the decoder's code), drops the connection and reconnects; a closed connection is
/// reconnected too. With `finish_after` set it returns `Ok(())` once that many frames
/// (heartbeats included) have arrived; otherwise it runs until shutdown.
///
/// # Errors
///
/// The future fails when `addr` cannot be reached in `CONNECT_ATTEMPTS` attempts, or when a
/// connected socket fails; the supervisor's restart policy decides what happens next.
pub fn isl_tcp(
    addr: SocketAddr,
    finish_after: Option<u64>,
    counters: Arc<Counters>,
) -> impl SourceFactory<RawFrame> {
    let position = Arc::new(AtomicU64::new(0));
    let name: Arc<str> = Arc::from(SensorKind::Isl.as_str());
    move |mut ctx: SourceContext<RawFrame>| {
        let (counters, position, name) = (counters.clone(), position.clone(), name.clone());
        async move {
            let done = |position: &AtomicU64| {
                finish_after.is_some_and(|n| position.load(Ordering::Relaxed) >= n)
            };
            while !done(&position) {
                let Some(mut stream) = connect(addr, &ctx).await? else {
                    return Ok(());
                };
                let mut buf = BytesMut::with_capacity(PREFIX_LEN + MAX_FRAME_LEN);
                let mut batch = Vec::with_capacity(BATCH);
                loop {
                    let (frames, broken) = split_frames(&mut buf, false);
                    let broken = broken.is_some();
                    for bytes in frames {
                        let n = position.fetch_add(1, Ordering::Relaxed);
                        batch.push(isl_frame(&name, n, bytes));
                    }
                    if !batch.is_empty() {
                        let count = batch.len() as u64;
                        ctx.output.send_batch(&mut batch).await?;
                        counters.frames.fetch_add(count, Ordering::Relaxed);
                    }
                    if broken {
                        tracing::warn!(%addr, "isl stream cannot be decoded; reconnecting");
                        break;
                    }
                    if done(&position) {
                        return Ok(());
                    }
                    let read = tokio::select! {
                        () = ctx.shutdown.cancelled() => return Ok(()),
                        read = stream.read_buf(&mut buf) => read,
                    };
                    match read {
                        Ok(0) => {
                            // End of stream: a partial frame left over is a truncated one.
                            let (frames, _) = split_frames(&mut buf, true);
                            for bytes in frames {
                                let n = position.fetch_add(1, Ordering::Relaxed);
                                batch.push(isl_frame(&name, n, bytes));
                            }
                            let count = batch.len() as u64;
                            ctx.output.send_batch(&mut batch).await?;
                            counters.frames.fetch_add(count, Ordering::Relaxed);
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(%addr, error = %e, "isl connection failed; reconnecting");
                            break;
                        }
                    }
                }
                // Pause before reconnecting so a peer that closes at once is not hammered.
                tokio::select! {
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(FIRST_BACKOFF) => {}
                }
            }
            Ok(())
        }
    }
}

/// Connects to `addr`, retrying with backoff; `None` when shutdown came first.
async fn connect(
    addr: SocketAddr,
    ctx: &SourceContext<RawFrame>,
) -> anyhow::Result<Option<TcpStream>> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let result = tokio::select! {
            () = ctx.shutdown.cancelled() => return Ok(None),
            result = TcpStream::connect(addr) => result,
        };
        match result {
            Ok(stream) => return Ok(Some(stream)),
            Err(e) if attempt >= CONNECT_ATTEMPTS => {
                return Err(anyhow::anyhow!("cannot connect to isl peer {addr}: {e}"));
            }
            Err(e) => tracing::warn!(%addr, attempt, error = %e, "isl connect failed; retrying"),
        }
        tokio::select! {
            () = ctx.shutdown.cancelled() => return Ok(None),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}

/// Splits the complete frames off the front of `buf`, each with its exact bytes (prefix
/// included), using [`IslCodec`] to decide where frames end and whether they are valid.
///
/// On a decode error the last element holds the bytes that caused it — the frame the codec
/// rejected, or the length prefix it refused, or (at end of stream) the truncated remainder —
/// and the second element is that error: the stream is out of step and must be dropped.
fn split_frames(buf: &mut BytesMut, eof: bool) -> (Vec<Bytes>, Option<IslError>) {
    let mut frames = Vec::new();
    loop {
        // The bytes the codec is about to look at: a whole frame when the prefix is within
        // bounds and the frame has arrived, otherwise just the prefix (or the remainder at
        // end of stream). The length is checked against the maximum before any copy.
        let announced = buf
            .get(..PREFIX_LEN)
            .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize);
        let span = match announced {
            Some(len) if (1..=MAX_FRAME_LEN).contains(&len) => (PREFIX_LEN + len).min(buf.len()),
            Some(_) => PREFIX_LEN,
            None => buf.len(),
        };
        let raw = Bytes::copy_from_slice(&buf[..span]);
        let decoded = if eof {
            IslCodec.decode_eof(buf)
        } else {
            IslCodec.decode(buf)
        };
        match decoded {
            Ok(Some(_)) => frames.push(raw),
            Ok(None) => return (frames, None),
            Err(e) => {
                frames.push(raw);
                buf.clear();
                return (frames, Some(e));
            }
        }
    }
}

fn isl_frame(name: &Arc<str>, n: u64, bytes: Bytes) -> RawFrame {
    RawFrame {
        source: name.clone(),
        kind: SensorKind::Isl,
        format: WireFormat::Isl,
        pass: 0,
        index: usize::try_from(n).unwrap_or(usize::MAX),
        bytes,
        received_at: unix_now(),
    }
}

/// How many messages are due at `elapsed` for a peer pacing `per_s`, capped at `total`.
fn due(elapsed: Duration, per_s: f64, total: u64) -> u64 {
    ((elapsed.as_secs_f64() * per_s) as u64 + 1).min(total)
}

/// The simulator's radar peer: sends `messages` (`pacing.passes` times, once when unset) as
/// datagrams to `target` at the paced rate, at most `UDP_BURST` per tick.
///
/// # Errors
///
/// The local socket cannot be bound or a send fails.
pub async fn simulate_radar_sender(
    messages: Arc<[Bytes]>,
    pacing: Pacing,
    target: SocketAddr,
) -> std::io::Result<()> {
    let local: SocketAddr = if target.is_ipv4() {
        ([127, 0, 0, 1], 0).into()
    } else {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    let len = messages.len() as u64;
    let total = len * u64::from(pacing.passes.unwrap_or(1));
    let per_s = pacing.records_per_s.max(f64::MIN_POSITIVE);
    let (started, mut sent) = (Instant::now(), 0_u64);
    while sent < total {
        let until = due(started.elapsed(), per_s, total).min(sent + UDP_BURST);
        for n in sent..until {
            let bytes = messages.get((n % len) as usize).map_or(&[][..], |b| &b[..]);
            socket.send_to(bytes, target).await?;
        }
        sent = until;
        tokio::time::sleep(TICK).await;
    }
    Ok(())
}

/// The simulator's ISL peer: a TCP server on `listener` that streams `messages` (length
/// prefixes included; `pacing.passes` times, once when unset) to whoever connects, at the paced
/// rate.
///
/// A reconnecting client resumes where the last connection stopped. After the last frame the
/// connection is held open, like a quiet link, until the client closes it.
///
/// # Errors
///
/// Accepting fails.
pub async fn simulate_isl_server(
    listener: TcpListener,
    messages: Arc<[Bytes]>,
    pacing: Pacing,
) -> std::io::Result<()> {
    let len = messages.len() as u64;
    let total = len * u64::from(pacing.passes.unwrap_or(1));
    let per_s = pacing.records_per_s.max(f64::MIN_POSITIVE);
    let mut sent = 0_u64;
    loop {
        let (mut stream, peer) = listener.accept().await?;
        tracing::debug!(%peer, "isl simulator: client connected");
        let first = sent;
        let since = Instant::now();
        let mut out = Vec::new();
        let served: std::io::Result<()> = async {
            while sent < total {
                let until = (first + due(since.elapsed(), per_s, total)).min(total);
                out.clear();
                for n in sent..until {
                    if let Some(m) = messages.get((n % len) as usize) {
                        out.extend_from_slice(m);
                    }
                }
                stream.write_all(&out).await?;
                stream.flush().await?;
                sent = until;
                tokio::time::sleep(TICK).await;
            }
            // Hold the link open until the client goes away.
            let mut sink = [0_u8; 64];
            while stream.read(&mut sink).await? > 0 {}
            Ok(())
        }
        .await;
        if let Err(e) = served {
            tracing::debug!(%peer, error = %e, "isl simulator: client went away");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::isl::{IslFrame, IslRecord};

    fn state() -> Vec<u8> {
        IslFrame::State(IslRecord {
            satellite_id: 2,
            sequence: 9,
            epoch_us: 1_704_067_260_000_000,
            object_id: Some(40_001),
            position_m: [6_778_000.0, 0.0, 0.0],
            velocity_mps: [0.0, 7_650.0, 0.0],
            sigma_m: 25.0,
        })
        .encode()
    }

    #[test]
    fn complete_frames_are_split_with_their_exact_bytes_and_partial_ones_wait() {
        let (a, b) = (state(), IslFrame::Heartbeat { satellite_id: 1 }.encode());
        let mut buf = BytesMut::from(&[&a[..], &b[..], &a[..10]].concat()[..]);
        let (frames, error) = split_frames(&mut buf, false);
        assert!(error.is_none());
        assert_eq!(frames, [Bytes::from(a.clone()), Bytes::from(b)]);
        assert_eq!(&buf[..], &a[..10]);
    }

    #[test]
    fn a_frame_the_codec_rejects_is_handed_on_whole_and_the_stream_is_broken() {
        // A state frame announced with a heartbeat's length: bad_length.
        let mut bad = state();
        bad.truncate(PREFIX_LEN + 4);
        bad[..PREFIX_LEN].copy_from_slice(&4_u32.to_be_bytes());
        let mut buf = BytesMut::from(&[&bad[..], &state()[..]].concat()[..]);
        let (frames, error) = split_frames(&mut buf, false);
        assert_eq!(error.map(|e| e.code()), Some("bad_length"));
        assert_eq!(frames, [Bytes::from(bad)]);
        assert!(buf.is_empty(), "the rest of a broken stream is dropped");
    }

    #[test]
    fn a_huge_length_prefix_keeps_only_the_prefix() {
        let mut buf = BytesMut::from(&[0xff_u8, 0xff, 0xff, 0xff, 1, 2, 3][..]);
        let (frames, error) = split_frames(&mut buf, false);
        assert_eq!(error.map(|e| e.code()), Some("frame_too_large"));
        assert_eq!(frames, [Bytes::from_static(&[0xff, 0xff, 0xff, 0xff])]);
        assert!(buf.capacity() < PREFIX_LEN + MAX_FRAME_LEN + 64);
    }

    #[test]
    fn a_partial_frame_at_end_of_stream_is_truncated() {
        let a = state();
        let mut buf = BytesMut::from(&a[..30]);
        let (frames, error) = split_frames(&mut buf, true);
        assert_eq!(error.map(|e| e.code()), Some("truncated"));
        assert_eq!(frames, [Bytes::copy_from_slice(&a[..30])]);
    }
}
