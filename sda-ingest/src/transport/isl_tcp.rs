//! The ISL source over TCP: splits the stream into frames and hands on each frame's exact
//! bytes, leaving decoding to `normalize`.
//!
//! The reader splits the stream with [`IslCodec`] (which rejects a length prefix above
//! `MAX_FRAME_LEN` before reserving anything) and hands on each frame's exact bytes. A decode
//! error means the stream cannot be resynchronised: the offending bytes are handed on as a
//! frame (so `normalize` dead-letters them with the same code), the connection is dropped and
//! the reader reconnects. Reconnects after a decode error or a closed connection happen inside
//! the source, so a hostile peer cannot use up the supervisor's restart budget; a peer that
//! cannot be reached at all is retried a few times with backoff, then the source fails and the
//! supervisor's restart policy takes over.
//!
//! The reader drives the codec over a `BytesMut` itself; the buffering is bounded by
//! `4 + MAX_FRAME_LEN` plus one read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sda_ingest_core::SensorKind;
use sda_ingest_core::wire::WireFormat;
use sda_ingest_core::wire::isl::{IslCodec, IslError, MAX_FRAME_LEN, PREFIX_LEN};
use sda_orchestrator::{SourceContext, SourceFactory};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::BATCH;
use crate::pipeline::counters::add;
use crate::pipeline::{Counters, RawFrame, unix_now};

/// Connection attempts before the ISL source gives up and lets the supervisor restart it.
const CONNECT_ATTEMPTS: u32 = 5;

/// First delay between connection attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Longest delay between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

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
                        add(&counters.source(SensorKind::Isl).frames, count);
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
                            add(&counters.source(SensorKind::Isl).frames, count);
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
        cursor: None,
        bytes,
        received_at: unix_now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sda_ingest_core::wire::isl::{IslFrame, IslRecord};

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
