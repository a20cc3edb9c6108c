//! In-process sources: the built-in simulator, one source per sensor stream of a
//! [`Scenario`](crate::sim::scenario::Scenario), replaying the real wire bytes at a paced rate.
//!
//! Every source emits [`RawFrame`]s, so a network transport slots in as another factory with
//! the same output type, and nothing downstream changes: the radar UDP listener and the ISL TCP
//! reader are in [`transport`](super::transport); optical and the five synthetic sensors still
//! replay in-process.
//!
//! **Replay.** A source sends its stream `passes` times. The scenario's bytes cannot be
//! re-numbered here, so a second pass re-sends identical records: `dedup` drops them as
//! re-sends and the invalid ones are dead-lettered again. Without a pass limit a source replays
//! its stream once and then idles until shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use sda_orchestrator::{SourceContext, SourceFactory};
use tokio::time::Instant;

use super::counters::Counters;
use super::frame::{RawFrame, WireFormat, unix_now};
use crate::observation::SensorKind;
use crate::sim::scenario::{OPTICAL_PAGE_LEN, Streams};

/// How often a paced source wakes up to send what has come due.
const TICK: Duration = Duration::from_millis(20);

/// Records per second each source sends at `--rate 1`.
pub const BASE_RECORDS_PER_S: f64 = 25.0;

/// How fast and how often a simulated source replays its stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacing {
    /// Records per second (an optical page counts as [`OPTICAL_PAGE_LEN`] records).
    pub records_per_s: f64,
    /// Replays before the source finishes; `None` replays once and then idles until shutdown.
    pub passes: Option<u32>,
}

/// One simulated sensor stream: its vertex name, kind and wire messages.
#[derive(Debug, Clone)]
pub struct SimStream {
    /// The source vertex's name.
    pub name: Arc<str>,
    /// The sensor kind whose stream it replays.
    pub kind: SensorKind,
    /// The wire messages, in send order.
    pub messages: Arc<[Bytes]>,
}

impl SimStream {
    /// The stream of `kind` in `streams`, named after the kind (`radar`, `laser_ranging`, …).
    pub fn from_streams(streams: &Streams, kind: SensorKind) -> SimStream {
        let raw: &[Vec<u8>] = match kind {
            SensorKind::Radar => &streams.radar,
            SensorKind::Isl => &streams.isl,
            SensorKind::Optical => &streams.optical,
            other => streams.synthetic.get(&other).map_or(&[], Vec::as_slice),
        };
        SimStream {
            name: Arc::from(kind.as_str()),
            kind,
            messages: raw.iter().map(|m| Bytes::copy_from_slice(m)).collect(),
        }
    }
}

/// A source replaying `stream` at `pacing`, counting frames in `counters`.
///
/// Its position survives a restart, so a restarted source resumes where it stopped instead of
/// re-sending what it already sent. It returns `Ok(())` at shutdown, or after its last pass
/// when `pacing.passes` is set.
pub fn simulated(
    stream: SimStream,
    pacing: Pacing,
    counters: Arc<Counters>,
) -> impl SourceFactory<RawFrame> {
    let position = Arc::new(AtomicU64::new(0));
    move |mut ctx: SourceContext<RawFrame>| {
        let (stream, counters, position) = (stream.clone(), counters.clone(), position.clone());
        async move {
            let len = stream.messages.len() as u64;
            let total = len * u64::from(pacing.passes.unwrap_or(1));
            let weight = match WireFormat::for_kind(stream.kind) {
                WireFormat::OpticalPage => OPTICAL_PAGE_LEN as f64,
                _ => 1.0,
            };
            let per_s = (pacing.records_per_s / weight).max(f64::MIN_POSITIVE);
            let (started, first) = (Instant::now(), position.load(Ordering::Relaxed));
            let mut batch = Vec::new();
            loop {
                let sent = position.load(Ordering::Relaxed);
                if sent >= total || len == 0 {
                    break;
                }
                let due = first + (started.elapsed().as_secs_f64() * per_s) as u64 + 1;
                let now = unix_now();
                for n in sent..due.min(total) {
                    batch.push(frame(&stream, n, len, now));
                }
                let count = batch.len() as u64;
                ctx.output.send_batch(&mut batch).await?;
                position.fetch_add(count, Ordering::Relaxed);
                counters.frames.fetch_add(count, Ordering::Relaxed);
                tokio::select! {
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(TICK) => {}
                }
            }
            if pacing.passes.is_none() {
                ctx.shutdown.cancelled().await;
            }
            Ok(())
        }
    }
}

fn frame(stream: &SimStream, n: u64, len: u64, received_at: f64) -> RawFrame {
    let index = (n % len) as usize;
    RawFrame {
        source: stream.name.clone(),
        kind: stream.kind,
        format: WireFormat::for_kind(stream.kind),
        pass: u32::try_from(n / len).unwrap_or(u32::MAX),
        index,
        bytes: stream.messages.get(index).cloned().unwrap_or_default(),
        received_at,
    }
}
