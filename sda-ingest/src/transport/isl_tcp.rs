//! The ISL source over TCP: splits the stream into frames by their length prefixes and hands on
//! each frame's exact bytes, leaving decoding to `normalize`.
//!
//! **Staying in step.** A frame whose length prefix is sane is handed on whole, whatever its
//! payload: a frame of an unknown type, an unsupported version or a length its type disagrees
//! with is dead-lettered alone by `normalize`, and reading goes on with the next frame on the
//! same connection. Only a length prefix that cannot be trusted (zero, or above
//! `MAX_FRAME_LEN`) puts the stream out of step for good, since the format has no
//! resynchronisation marker: then everything buffered from that prefix on is handed on as one
//! span (dead-lettered with the prefix's code and its byte count: no byte read is dropped
//! uncounted), the connection is dropped, and the reader reconnects. A connection that ends or
//! fails in the middle of a frame hands the partial frame on, dead-lettered as `truncated`.
//!
//! **A dead link is noticed.** Connecting is bounded by a timeout; a connection on which no
//! whole frame (a heartbeat counts) arrives for the idle timeout is dropped and reconnected;
//! TCP keepalive is on, so a peer that vanished without closing is found by the kernel too.
//! Every reconnect is logged and counted in `isl_reconnects_total{reason}`.
//!
//! Reconnects happen inside the source, so a hostile peer cannot use up the supervisor's
//! restart budget; a peer that cannot be reached at all is retried a few times with backoff,
//! then the source fails and the supervisor's restart policy takes over. Buffering is bounded
//! by `4 + MAX_FRAME_LEN` plus one read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use sda_ingest_core::SensorKind;
use sda_ingest_core::wire::WireFormat;
use sda_ingest_core::wire::isl::{MAX_FRAME_LEN, PREFIX_LEN, Split, split_frame};
use sda_orchestrator::{SourceContext, SourceFactory};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::BATCH;
use crate::pipeline::counters::add;
use crate::pipeline::event_time::SourceClock;
use crate::pipeline::{Counters, RawFrame, Scope, unix_now};

/// Connection attempts before the ISL source gives up and lets the supervisor restart it.
const CONNECT_ATTEMPTS: u32 = 5;

/// First delay between connection attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Longest delay between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How the ISL link is watched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IslLink {
    /// Longest wait for a connection to be established.
    pub connect_timeout: Duration,
    /// A connection with no whole frame for this long is dead: it is dropped and reconnected.
    /// The peer sends heartbeats, so a healthy quiet link still delivers frames.
    pub idle_timeout: Duration,
    /// TCP keepalive: idle time before the first probe (the kernel's interval and count
    /// apply after it); `None` leaves keepalive off.
    pub keepalive: Option<Duration>,
}

impl Default for IslLink {
    /// Connect within 5 s; a link silent for 30 s is dead; keepalive probes after 10 s idle.
    fn default() -> Self {
        IslLink {
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            keepalive: Some(Duration::from_secs(10)),
        }
    }
}

/// Why a connection was given up and another one opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reconnect {
    /// The peer closed the connection.
    Closed,
    /// Reading failed.
    Failed,
    /// No whole frame within the idle timeout.
    Idle,
    /// A length prefix that cannot be trusted.
    OutOfStep,
}

impl Reconnect {
    fn label(self) -> &'static str {
        match self {
            Reconnect::Closed => "closed",
            Reconnect::Failed => "error",
            Reconnect::Idle => "idle",
            Reconnect::OutOfStep => "out_of_step",
        }
    }
}

/// The ISL source over TCP: connects to `addr` and hands on one [`RawFrame`] per ISL frame
/// (and one per span discarded from a stream that fell out of step; see the module docs).
///
/// With `finish_after` set it returns `Ok(())` once that many frames (heartbeats included)
/// have arrived; otherwise it runs until shutdown.
///
/// # Errors
///
/// The future fails when `addr` cannot be reached in `CONNECT_ATTEMPTS` attempts; the
/// supervisor's restart policy decides what happens next.
pub fn isl_tcp(
    addr: SocketAddr,
    finish_after: Option<u64>,
    link: IslLink,
    clock: SourceClock,
    counters: Arc<Counters>,
) -> impl SourceFactory<RawFrame> {
    let position = Arc::new(AtomicU64::new(0));
    let name: Arc<str> = Arc::from(SensorKind::Isl.as_str());
    move |mut ctx: SourceContext<RawFrame>| {
        let (counters, position, name) = (counters.clone(), position.clone(), name.clone());
        async move {
            let done = || finish_after.is_some_and(|n| position.load(Ordering::Relaxed) >= n);
            while !done() {
                let Some(stream) = connect(addr, &link, &ctx).await? else {
                    return Ok(());
                };
                let mut reader = Reader {
                    stream,
                    buf: BytesMut::with_capacity(PREFIX_LEN + MAX_FRAME_LEN),
                    batch: Vec::with_capacity(BATCH),
                    name: &name,
                    position: &position,
                    clock,
                };
                let why = match reader.run(&mut ctx, &counters, link, &done).await? {
                    Some(why) => why,
                    None => return Ok(()),
                };
                metrics::counter!("isl_reconnects_total", "reason" => why.label()).increment(1);
                tracing::warn!(%addr, reason = why.label(), "isl link lost; reconnecting");
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

/// One connection's reading state.
struct Reader<'a> {
    stream: TcpStream,
    buf: BytesMut,
    batch: Vec<RawFrame>,
    name: &'a Arc<str>,
    position: &'a AtomicU64,
    /// The watermark: the frames' epochs, less the out-of-orderness bound.
    clock: SourceClock,
}

impl Reader<'_> {
    /// Reads frames until the connection must be replaced (`Some(why)`) or the source is done
    /// (`None`: shutdown, or `finish_after` frames).
    async fn run(
        &mut self,
        ctx: &mut SourceContext<RawFrame>,
        counters: &Counters,
        link: IslLink,
        done: &impl Fn() -> bool,
    ) -> anyhow::Result<Option<Reconnect>> {
        let mut last_frame = Instant::now();
        loop {
            let out_of_step = self.split();
            if !self.batch.is_empty() {
                last_frame = Instant::now();
                self.hand_on(ctx, counters).await?;
            }
            if out_of_step {
                return Ok(Some(Reconnect::OutOfStep));
            }
            if done() {
                return Ok(None);
            }
            let read = tokio::select! {
                () = ctx.shutdown.cancelled() => return Ok(None),
                read = tokio::time::timeout_at(last_frame + link.idle_timeout, self.stream.read_buf(&mut self.buf)) => read,
            };
            let why = match read {
                Ok(Ok(0)) => Reconnect::Closed,
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "isl connection failed");
                    Reconnect::Failed
                }
                Err(_) => Reconnect::Idle,
            };
            // Whatever is left is a frame cut short: hand it on, to be dead-lettered as
            // truncated, rather than drop the bytes.
            if !self.buf.is_empty() {
                let rest = self.buf.split();
                self.push(rest);
                self.hand_on(ctx, counters).await?;
            }
            return Ok(Some(why));
        }
    }

    /// Moves every whole frame off the buffer into the batch; on a length prefix that cannot
    /// be trusted, moves everything buffered into the batch as one span and returns `true`.
    fn split(&mut self) -> bool {
        loop {
            match split_frame(&mut self.buf) {
                Split::Frame(frame) => self.push(frame),
                Split::Incomplete => return false,
                Split::OutOfStep(error) => {
                    let span = self.buf.split();
                    tracing::warn!(
                        code = error.code(),
                        bytes = span.len(),
                        "isl stream out of step; dead-lettering what is buffered"
                    );
                    self.push(span);
                    return true;
                }
            }
        }
    }

    fn push(&mut self, bytes: BytesMut) {
        let n = self.position.fetch_add(1, Ordering::Relaxed);
        self.batch.push(RawFrame {
            source: self.name.clone(),
            kind: SensorKind::Isl,
            format: WireFormat::Isl,
            pass: 0,
            index: usize::try_from(n).unwrap_or(usize::MAX),
            scope: Scope::Live,
            cursor: None,
            bytes: bytes.freeze(),
            received_at: unix_now(),
        });
    }

    async fn hand_on(
        &mut self,
        ctx: &mut SourceContext<RawFrame>,
        counters: &Counters,
    ) -> anyhow::Result<()> {
        let count = self.batch.len() as u64;
        let latest = SourceClock::latest_of(&self.batch);
        ctx.output.send_batch(&mut self.batch).await?;
        self.clock.sent(&ctx.output, latest);
        add(&counters.source(SensorKind::Isl).frames, count);
        Ok(())
    }
}

/// Connects to `addr` within the link's timeout, retrying with backoff, and turns keepalive
/// on; `None` when shutdown came first.
async fn connect(
    addr: SocketAddr,
    link: &IslLink,
    ctx: &SourceContext<RawFrame>,
) -> anyhow::Result<Option<TcpStream>> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let result = tokio::select! {
            () = ctx.shutdown.cancelled() => return Ok(None),
            result = tokio::time::timeout(link.connect_timeout, TcpStream::connect(addr)) => result,
        };
        let error = match result {
            Ok(Ok(stream)) => {
                if let Some(idle) = link.keepalive {
                    let keepalive = socket2::TcpKeepalive::new().with_time(idle);
                    if let Err(e) = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive) {
                        tracing::warn!(%addr, error = %e, "cannot turn on tcp keepalive");
                    }
                }
                return Ok(Some(stream));
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no connection within {:?}", link.connect_timeout),
        };
        if attempt >= CONNECT_ATTEMPTS {
            return Err(anyhow::anyhow!(
                "cannot connect to isl peer {addr}: {error}"
            ));
        }
        tracing::warn!(%addr, attempt, error, "isl connect failed; retrying");
        tokio::select! {
            () = ctx.shutdown.cancelled() => return Ok(None),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}
