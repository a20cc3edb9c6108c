//! The radar source over UDP: one [`RawFrame`] per datagram.
//!
//! Each datagram is one frame. The receive buffer is [`MAX_DATAGRAM_LEN`]` + 1` bytes, so a
//! datagram longer than the maximum arrives longer than the maximum (the kernel cuts it at the
//! buffer, not at 64 bytes) and is dead-lettered as `oversized` by `normalize` instead of being
//! silently truncated into a valid-looking record.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use sda_ingest_core::SensorKind;
use sda_ingest_core::wire::WireFormat;
use sda_ingest_core::wire::radar::MAX_DATAGRAM_LEN;
use sda_orchestrator::{SourceContext, SourceFactory};
use tokio::net::UdpSocket;

use super::BATCH;
use crate::pipeline::counters::add;
use crate::pipeline::{Counters, RawFrame, unix_now};

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
                add(&counters.source(SensorKind::Radar).frames, count);
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
        cursor: None,
        bytes: Bytes::copy_from_slice(bytes),
        received_at: unix_now(),
    }
}
