//! The edge's and the core's graphs.

use std::time::Duration;

use sda_orchestrator::checkpoint::CheckpointConfig;
use sda_orchestrator::nats::{jetstream_sink, jetstream_source};
use sda_orchestrator::{OperatorContext, OperatorFactory, OperatorGraph, RestartPolicy, pipeline};

use super::wire::{CoreCodec, EdgeCodec, Remote};
use super::{CORE_CHECKPOINT_DIR, CORE_CHECKPOINT_INTERVAL, jetstream_config};
use crate::pipeline::event_time::{EventTimeSettings, SourceClock};
use crate::pipeline::sinks::{
    DEAD_LETTER_ID, JsonlSpec, RecordId, count_dead_letters, files, jsonl_sink,
};
use crate::pipeline::{CORRELATOR_QUEUE, Origin, Parts, Routed};
use sda_ingest_core::SensorKind as K;
use sda_orchestrator::time::EventTime;

/// The edge: eight sources → normalize → validate → `jetstream_publish` (accepted
/// observations and the dead letters of both stages).
pub fn edge_topology(p: &Parts, url: &str) -> OperatorGraph {
    let minute = Duration::from_secs(60);
    let transient = RestartPolicy::bounded(5, minute);
    let never = RestartPolicy::Never;
    let publish = || jetstream_sink(jetstream_config(url), EdgeCodec::new(p.counters.clone()));
    pipeline! {
        source radar = p.source(K::Radar), restart = transient;
        source optical = p.source(K::Optical), restart = transient;
        source isl = p.source(K::Isl), restart = transient;
        source laser_ranging = p.source(K::LaserRanging), restart = transient;
        source passive_rf = p.source(K::PassiveRf), restart = transient;
        source space_based_optical = p.source(K::SpaceBasedOptical), restart = transient;
        source bistatic_radar = p.source(K::BistaticRadar), restart = transient;
        source photometry = p.source(K::Photometry), restart = transient;
        operator normalize = p.normalize(), restart = transient;
        operator validate = p.validate(), restart = transient;
        // The remote edge: what JetStream has stored is counted, nothing is dropped; a failed
        // sink may have lost its batch, so it is never restarted silently.
        sink jetstream_publish = publish(), restart = never;

        radar -> normalize;
        optical -> normalize;
        isl -> normalize;
        laser_ranging -> normalize;
        passive_rf -> normalize;
        space_based_optical -> normalize;
        bistatic_radar -> normalize;
        photometry -> normalize;
        normalize -> [filter = Routed::is_accepted] validate;
        // Accepted observations and validation's dead letters alike.
        validate -> jetstream_publish;
        normalize -> [filter = Routed::is_dead_letter] jetstream_publish;
    }
}

/// The core: `jetstream_consume` → dedup → {observations, audit, to_correlator → correlator →
/// alert_emitter → alerts}, the edge's dead letters → `dead_letter`, and new catalogs
/// (`--catalog` watched, `--catalog-url` polled) → the correlator, as in the single process. It takes checkpoints
/// every [`CORE_CHECKPOINT_INTERVAL`] in `--out`/[`CORE_CHECKPOINT_DIR`], at which the sinks
/// sync and the stream is acknowledged.
pub fn core_topology(p: &Parts, url: &str) -> OperatorGraph {
    let minute = Duration::from_secs(60);
    let transient = RestartPolicy::bounded(5, minute);
    let stateful = RestartPolicy::bounded(3, minute);
    let never = RestartPolicy::Never;
    let consume = jetstream_source(jetstream_config(url), CoreCodec::new(p.counters.clone()));
    let dead_letters = jsonl_sink(
        EDGE_DEAD_LETTERS,
        &p.out_dir,
        p.counters.clone(),
        p.faults.clone(),
        p.existing,
    );
    let graph = pipeline! {
        // The remote edge: the durable consumer, acknowledged at checkpoints.
        source jetstream_consume = consume, restart = transient;
        // Stateless lifting of the edge's observations into dedup's input.
        operator from_edge = from_edge(p.event_time.clone()), restart = transient;
        // New catalogs reach the core's correlator through the graph, as in the single process.
        source catalog = p.catalog_feed(), restart = transient;
        operator dedup = p.dedup(), restart = stateful;
        operator to_correlator = p.to_correlator(), restart = transient;
        operator correlator = p.correlator(), restart = stateful;
        operator alert_emitter = p.alert_emitter(), restart = transient;
        sink observations = p.observations_sink(), restart = never;
        sink audit = p.audit_sink(), restart = never;
        sink alerts = p.alerts_sink(), restart = never;
        sink dead_letter = dead_letters, restart = never;

        jetstream_consume -> [filter = Remote::is_observation] from_edge -> dedup -> observations;
        jetstream_consume -> [filter = Remote::is_dead_letter] dead_letter;
        dedup -> [capacity = CORRELATOR_QUEUE] to_correlator -> correlator -> alert_emitter -> alerts;
        dedup -> audit;
        catalog -> correlator;
    };
    graph.with_checkpoints(
        CheckpointConfig::new(p.out_dir.join(CORE_CHECKPOINT_DIR))
            .with_interval(CORE_CHECKPOINT_INTERVAL)
            .with_keep(1),
    )
}

/// The edge's observations as dedup's input (dead letters never reach it: its edge filters
/// them out).
/// Hands the edge's observations on, and gives the core's graph its event time back: the
/// watermark does not cross the broker, so it is rebuilt here from the observations' epochs,
/// per sensor kind with the same bounded out-of-orderness the edge's sources use, as the
/// minimum over the kinds seen so far (a kind the stream has not carried yet holds nothing
/// back). An observation that reaches the correlator after its window closed is still
/// delivered; the correlator counts it and leaves it out of fusion.
fn from_edge(event_time: EventTimeSettings) -> impl OperatorFactory<Remote, Routed> {
    move |mut ctx: OperatorContext<Remote, Routed>| {
        let event_time = event_time.clone();
        async move {
            ctx.output.take_over_watermark();
            let mut clocks: Vec<Option<SourceClock>> = vec![None; K::COUNT];
            let mut watermark: Option<f64> = None;
            while let Some(item) = ctx.input.recv().await {
                let Remote::Observation(obs) = item else {
                    continue;
                };
                let (kind, epoch) = (obs.sensor_kind, obs.epoch);
                // The core does not validate: the position only names a dead letter of `validate`.
                ctx.output
                    .send(Routed::Accepted(obs, Origin::unplaced()))
                    .await?;
                clocks[kind.index()]
                    .get_or_insert_with(|| event_time.clock(kind))
                    .observe(epoch);
                let lowest = clocks
                    .iter()
                    .flatten()
                    .filter_map(SourceClock::watermark)
                    .reduce(f64::min);
                if let Some(lowest) = lowest
                    && watermark.is_none_or(|w| lowest > w)
                {
                    watermark = Some(lowest);
                    ctx.output
                        .advance_watermark(EventTime::from_unix_seconds_f64(lowest));
                }
            }
            Ok(())
        }
    }
}

const EDGE_DEAD_LETTERS: JsonlSpec<Remote> = JsonlSpec {
    name: "dead_letter",
    file: files::DEAD_LETTER,
    source: |item| match item {
        Remote::DeadLetter { source, .. } => Some(*source),
        Remote::Observation(_) => None,
    },
    count: count_dead_letters,
    encode: |item, buf| match item {
        Remote::DeadLetter { json, .. } => {
            buf.extend_from_slice(json);
            Ok(true)
        }
        Remote::Observation(_) => Ok(false),
    },
    chained: false,
    // The id the edge gave it: a redelivered dead letter the file holds is skipped.
    id: Some(RecordId {
        key: DEAD_LETTER_ID,
        of: |item| match item {
            Remote::DeadLetter { id, .. } => Some(id),
            Remote::Observation(_) => None,
        },
    }),
};
