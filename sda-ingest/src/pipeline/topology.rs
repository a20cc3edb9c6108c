//! The pipeline's topology: the diagram of `ARCHITECTURE.md`, in one `pipeline!` block.

use std::time::Duration;

use sda_orchestrator::{OperatorGraph, RestartPolicy, pipeline};

use super::parts::Parts;
use super::routed::Routed;
use sda_ingest_core::SensorKind as K;

/// Capacity of the edge into the correlator: a few hundred milliseconds of the busiest
/// observed rate, versus the default 1024 of every other edge.
pub const CORRELATOR_QUEUE: usize = 16_384;

/// Builds the ingest pipeline: eight sources → normalize → validate → dedup → {observations,
/// to_correlator → correlator → alert emitter → alerts, audit}, with normalize and validate →
/// dead letters, and the catalog source → correlator.
pub fn build_topology(p: &Parts) -> OperatorGraph {
    let minute = Duration::from_secs(60);
    // Transient faults (a dropped socket, a bad poll) are worth a few quick retries.
    let transient = RestartPolicy::bounded(5, minute);
    // Stateful operators keep their state in registered state (`ctx.state`): a restart finds
    // it as the failed incarnation left it, the batch in hand is given back, and checkpoints
    // carry it across a crash. A restart loses nothing, so they ride out transient failures
    // like the stateless stages; a crash loop still escalates (never `Always`).
    let stateful = transient;
    // A sink that failed to write may have lost records: never hide it behind a restart.
    let never = RestartPolicy::Never;
    pipeline! {
        // Radar datagrams: a transient source; it resumes at its position after a restart.
        source radar = p.source(K::Radar), restart = transient;
        // Optical archive pages: a transient source (the poller retries on its own as well).
        source optical = p.source(K::Optical), restart = transient;
        // ISL frames: a transient source; a restart is a reconnect.
        source isl = p.source(K::Isl), restart = transient;
        // Laser ranging records: a transient source.
        source laser_ranging = p.source(K::LaserRanging), restart = transient;
        // Passive RF records: a transient source.
        source passive_rf = p.source(K::PassiveRf), restart = transient;
        // Space-based optical records: a transient source.
        source space_based_optical = p.source(K::SpaceBasedOptical), restart = transient;
        // Bistatic radar records: a transient source.
        source bistatic_radar = p.source(K::BistaticRadar), restart = transient;
        // Photometry records: a transient source.
        source photometry = p.source(K::Photometry), restart = transient;
        // New catalogs: a transient source (a failed download is reported, not fatal); what it
        // has seen survives a restart.
        source catalog = p.catalog_feed(), restart = transient;
        // Stateless decoding: a restart loses nothing (the batch in hand is given back).
        operator normalize = p.normalize(), restart = transient;
        // Stateless checks: a restart loses nothing (the batch in hand is given back).
        operator validate = p.validate(), restart = transient;
        // Stateful: its window is registered state, kept across restarts and checkpointed.
        operator dedup = p.dedup(), restart = stateful;
        // Stateless lifting of observations into the correlator's input.
        operator to_correlator = p.to_correlator(), restart = transient;
        // Stateful: windows, fused states, screening progress and raised pairs, registered
        // state kept across restarts and checkpointed.
        operator correlator = p.correlator(), restart = stateful;
        // Stateless formatting of alerts.
        operator alert_emitter = p.alert_emitter(), restart = transient;
        // Integrity-critical: the record of what was delivered.
        sink observations = p.observations_sink(), restart = never;
        // Integrity-critical: the audit trail must have no gaps.
        sink audit = p.audit_sink(), restart = never;
        // Integrity-critical: a lost alert is a missed conjunction.
        sink alerts = p.alerts_sink(), restart = never;
        // Integrity-critical: every rejected record must be accounted for.
        sink dead_letter = p.dead_letter_sink(), restart = never;

        radar -> normalize;
        optical -> normalize;
        isl -> normalize;
        laser_ranging -> normalize;
        passive_rf -> normalize;
        space_based_optical -> normalize;
        bistatic_radar -> normalize;
        photometry -> normalize;
        // Each record goes one way: on to the next stage, or to the dead letters.
        normalize -> [filter = Routed::is_accepted] validate;
        validate -> [filter = Routed::is_accepted] dedup -> observations;
        normalize -> [filter = Routed::is_dead_letter] dead_letter;
        validate -> [filter = Routed::is_dead_letter] dead_letter;
        // The correlator runs at low OS priority and can fall behind in bursts; a deeper queue
        // in front of it keeps that from stalling dedup and, through it, the audit sink.
        dedup -> [capacity = CORRELATOR_QUEUE] to_correlator -> correlator -> alert_emitter -> alerts;
        dedup -> audit;
        // New catalogs reach the correlator through the graph: supervised, counted, shown.
        catalog -> correlator;
    }
}
