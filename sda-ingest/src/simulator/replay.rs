//! The in-process replay: one source per sensor stream of a
//! [`Scenario`](sda_ingest_core::sim::scenario::Scenario), sending the real wire bytes at a
//! paced rate, with no sockets in between.
//!
//! Every source emits [`RawFrame`]s, so the network transports (the radar UDP listener, the ISL
//! TCP reader and the optical HTTP poller, in [`transport`](crate::transport)) slot in as other
//! factories with the same output type, and nothing downstream changes. The five synthetic
//! sensors always replay in-process; radar, ISL and optical do with `--transport inprocess`.
//!
//! **Replay.** A source sends its stream `passes` times. The scenario's bytes cannot be
//! re-numbered here, so a second pass re-sends identical records: `dedup` drops them as
//! re-sends and the invalid ones are dead-lettered again. Without a pass limit a source replays
//! its stream once and then idles until shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use sda_ingest_core::SensorKind;
use sda_ingest_core::sim::scenario::{OPTICAL_PAGE_LEN, Streams};
use sda_ingest_core::wire::{WireFormat, latest_epoch};
use sda_orchestrator::{SourceContext, SourceFactory};
use tokio::time::Instant;

use super::pacing::{Pacing, TICK, due};
use crate::pipeline::counters::add;
use crate::pipeline::{Counters, RawFrame, Scope, SourceClock, unix_now};

/// One simulated sensor stream: its vertex name, kind and wire messages.
#[derive(Debug, Clone)]
pub struct SimStream {
    /// The source vertex's name.
    pub name: Arc<str>,
    /// The sensor kind whose stream it replays.
    pub kind: SensorKind,
    /// The wire messages, in send order.
    pub messages: Arc<[Bytes]>,
    /// The latest record epoch of each message (`None`: no record decodes), read once here so
    /// that the replay advances its watermark without decoding as it sends.
    pub epochs: Arc<[Option<f64>]>,
}

impl SimStream {
    /// The stream of `kind` in `streams`, named after the kind (`radar`, `laser_ranging`, …).
    pub fn from_streams(streams: &Streams, kind: SensorKind) -> SimStream {
        let raw = streams.of(kind);
        let format = WireFormat::for_kind(kind);
        SimStream {
            name: Arc::from(kind.as_str()),
            kind,
            messages: raw.iter().map(|m| Bytes::copy_from_slice(m)).collect(),
            epochs: raw.iter().map(|m| latest_epoch(format, m)).collect(),
        }
    }
}

/// The synchronous kernel of a paced replay: which of a stream's frames have come due. The
/// replay source and the hand-wired benchmark baseline both drive it.
#[derive(Debug, Clone)]
pub struct Replay {
    stream: SimStream,
    /// Messages over all passes.
    total: u64,
    /// Messages per second.
    per_s: f64,
}

impl Replay {
    /// A replay of `stream` at `pacing`.
    pub fn new(stream: SimStream, pacing: Pacing) -> Replay {
        let weight = match WireFormat::for_kind(stream.kind) {
            WireFormat::OpticalPage => OPTICAL_PAGE_LEN as f64,
            _ => 1.0,
        };
        Replay {
            total: pacing.total(stream.messages.len()),
            per_s: pacing.messages_per_s(weight),
            stream,
        }
    }

    /// Messages over all passes.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The sensor kind whose stream this replays: the source its frames are counted against.
    pub fn kind(&self) -> SensorKind {
        self.stream.kind
    }

    /// Appends to `out` the frames from number `sent` on that are due `elapsed` after frame
    /// `first` was, at most `at_most` of them, stamped `received_at`; returns how many it
    /// appended.
    pub fn due_frames(
        &self,
        first: u64,
        sent: u64,
        elapsed: std::time::Duration,
        received_at: f64,
        at_most: usize,
        out: &mut Vec<RawFrame>,
    ) -> u64 {
        let until = due(first, elapsed, self.per_s, self.total)
            .min(sent.saturating_add(u64::try_from(at_most).unwrap_or(u64::MAX)));
        for n in sent..until {
            out.push(self.frame(n, received_at));
        }
        until.saturating_sub(sent)
    }

    /// The latest record epoch of frames `from..until`, if any decodes.
    pub fn latest_epoch(&self, from: u64, until: u64) -> Option<f64> {
        let len = self.stream.epochs.len().max(1) as u64;
        (from..until)
            .filter_map(|n| {
                let index = usize::try_from(n % len).ok()?;
                self.stream.epochs.get(index).copied().flatten()
            })
            .reduce(f64::max)
    }

    fn frame(&self, n: u64, received_at: f64) -> RawFrame {
        let len = self.stream.messages.len().max(1) as u64;
        let index = (n % len) as usize;
        RawFrame {
            source: self.stream.name.clone(),
            kind: self.stream.kind,
            format: WireFormat::for_kind(self.stream.kind),
            pass: u32::try_from(n / len).unwrap_or(u32::MAX),
            index,
            scope: Scope::Replay,
            cursor: None,
            bytes: self.stream.messages.get(index).cloned().unwrap_or_default(),
            received_at,
        }
    }
}

/// The most frames one send of a replay carries: the default edge capacity, so that a batch
/// crosses the source's edge as one chunk. A replay that has fallen behind its schedule, because the
/// pipeline cannot take its rate, sends what is due in batches of this size, back to back:
/// a checkpoint barrier goes out between two sends, so one send of the whole backlog (which
/// grows while it is being sent) would hold every barrier for as long as the backlog takes to
/// cross, and checkpoints would all but stop under saturation.
pub const MAX_BATCH: usize = sda_orchestrator::graph::DEFAULT_EDGE_CAPACITY;

/// A source replaying `stream` at `pacing`, counting frames in `counters`, advancing its
/// watermark with `clock` from the epochs of what it has sent.
///
/// Its position (messages sent, over all passes) survives a restart, so a restarted source
/// resumes where it stopped instead of re-sending what it already sent; it moves with each
/// send (`send_batch_at`), so a checkpoint records exactly what was sent before its barrier,
/// and a graph resumed from a checkpoint replays from there (`restored_position`): the replay
/// is a replayable source. It returns `Ok(())` at shutdown, or after its last pass when
/// `pacing.passes` is set.
pub fn simulated(
    stream: SimStream,
    pacing: Pacing,
    clock: SourceClock,
    counters: Arc<Counters>,
) -> impl SourceFactory<RawFrame> {
    let position = Arc::new(AtomicU64::new(0));
    // Whether an incarnation has run: only the first takes the checkpoint's position.
    let resumed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let replay = Replay::new(stream, pacing);
    move |mut ctx: SourceContext<RawFrame>| {
        let (replay, counters, position) = (replay.clone(), counters.clone(), position.clone());
        let resumed = resumed.clone();
        async move {
            if !resumed.swap(true, Ordering::Relaxed)
                && let Some(at) = ctx.restored_position::<u64>()?
            {
                position.store(at, Ordering::Relaxed);
            }
            let (started, first) = (Instant::now(), position.load(Ordering::Relaxed));
            let mut clock = clock;
            let mut batch = Vec::new();
            loop {
                let sent = position.load(Ordering::Relaxed);
                if sent >= replay.total() {
                    break;
                }
                let count = replay.due_frames(
                    first,
                    sent,
                    started.elapsed(),
                    unix_now(),
                    MAX_BATCH,
                    &mut batch,
                );
                ctx.output.send_batch_at(&mut batch, sent + count).await?;
                clock.sent(&ctx.output, replay.latest_epoch(sent, sent + count));
                position.fetch_add(count, Ordering::Relaxed);
                add(&counters.source(replay.kind()).frames, count);
                if count == MAX_BATCH as u64 {
                    // Behind schedule: the next batch is due already. Sent at once, yielding
                    // only when the task's budget is spent.
                    if ctx.shutdown.is_cancelled() {
                        return Ok(());
                    }
                    tokio::task::consume_budget().await;
                    continue;
                }
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
