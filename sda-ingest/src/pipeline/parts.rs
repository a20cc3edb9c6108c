//! Everything the topology's factories need, with one constructor per vertex kind so that
//! `build_topology` reads as the diagram.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use sda_orchestrator::monitor::RecentRing;
use sda_orchestrator::{OperatorFactory, SinkFactory, SourceContext, SourceFactory, ops};

use sda_ingest_core::SensorKind;
use sda_ingest_core::process::dedup::DedupConfig;
use sda_ingest_core::process::validate::ValidationPolicy;
use sda_ingest_core::sensors::SensorRegistry;
use sda_ingest_core::sim::scenario::Streams;

use super::counters::Counters;
use super::delivered::Delivered;
use super::faults::FaultInjection;
use super::frame::RawFrame;
use super::operators::{
    self, ConjunctionAlert, CorrelatorConfig, CorrelatorInput, NamedConjunction, PropagatorRuntime,
};
use super::routed::Routed;
use super::sinks;
use crate::catalog::{self, CatalogFeed, FeedStart, SharedCatalog, SourcesDone};
use crate::simulator::{self, Pacing, SimStream};
use crate::transport::{self, Transports};

/// The pipeline's shared pieces.
#[derive(Debug, Clone)]
pub struct Parts {
    /// The simulator's wire streams.
    pub streams: Arc<Streams>,
    /// How fast and how often the simulated sources replay.
    pub pacing: Pacing,
    /// Sensor names, kinds and sites for `normalize`.
    pub registry: Arc<SensorRegistry>,
    /// The catalog in use: the correlator associates and screens with it and swaps it when
    /// the `catalog` source hands on a new one; `GET /catalog` shows it.
    pub catalog: SharedCatalog,
    /// Where the `catalog` source looks for newer catalogs (nothing to follow: it finishes at
    /// once).
    pub catalog_feed: CatalogFeed,
    /// What the `catalog` source starts from: the catalog loaded at start-up.
    pub feed_start: FeedStart,
    /// The observation sources still running; the `catalog` source finishes with them.
    pub sources_done: SourcesDone,
    /// Where the correlator propagates: the PropagatorPool (the correlator's dedicated
    /// runtime) in the service; [`PropagatorRuntime::Inline`] only for benchmark comparisons.
    pub propagator: PropagatorRuntime,
    /// Correlator parameters.
    pub correlator: CorrelatorConfig,
    /// Folder of the output files.
    pub out_dir: PathBuf,
    /// Shared counters.
    pub counters: Arc<Counters>,
    /// Test-only fault injection.
    pub faults: FaultInjection,
    /// How many dead letters per source and reason are written.
    pub dead_letter_limit: sinks::DeadLetterLimit,
    /// The network transports of the radar, ISL and optical sources (`None`: in-process replay).
    pub transports: Transports,
    /// The ring of recent dead letters the control plane serves at `/dead-letters` (`None`:
    /// no ring is fed).
    pub dead_letter_ring: Option<RecentRing<serde_json::Value>>,
    /// Whether the sinks append to fresh files or continue an earlier run's output (cutting a
    /// torn tail, skipping ids already written).
    pub existing: sinks::Existing,
}

/// A source factory with its future boxed, so one constructor can return different transports.
type BoxedSource = Box<
    dyn FnMut(
            SourceContext<RawFrame>,
        ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'static>>
        + Send
        + 'static,
>;

fn boxed(mut factory: impl SourceFactory<RawFrame>) -> BoxedSource {
    Box::new(move |ctx| Box::pin(factory(ctx)))
}

impl Parts {
    /// The source of `kind`'s stream: the radar UDP listener, ISL TCP reader or optical HTTP
    /// poller when [`Parts::transports`] names one, otherwise the in-process replay.
    pub fn source(&self, kind: SensorKind) -> impl SourceFactory<RawFrame> + use<> {
        let counters = self.counters.clone();
        let t = &self.transports;
        let mut factory = match (kind, &t.radar, &t.isl, &t.optical) {
            (SensorKind::Radar, Some(radar), _, _) => boxed(transport::radar_udp(
                radar.socket.clone(),
                radar.finish_after,
                counters,
            )),
            (SensorKind::Isl, _, Some(isl), _) => boxed(transport::isl_tcp(
                isl.addr,
                isl.finish_after,
                isl.link,
                counters,
            )),
            (SensorKind::Optical, _, _, Some(optical)) => {
                boxed(transport::optical_http(optical.clone(), counters))
            }
            _ => {
                let stream = SimStream::from_streams(&self.streams, kind);
                boxed(simulator::simulated(stream, self.pacing, counters))
            }
        };
        let (faults, name) = (self.faults.clone(), kind.as_str());
        let done = self.sources_done.clone();
        move |ctx: SourceContext<RawFrame>| {
            let (run, faults, done) = (factory(ctx), faults.clone(), done.clone());
            async move {
                faults.check(name)?;
                run.await?;
                // Finished for good: an `Ok` is never restarted.
                done.finished();
                Ok(())
            }
        }
    }

    /// The `catalog` source: new catalogs from the file or URL, checked on
    /// [`Parts::propagator`], for the correlator.
    pub fn catalog_feed(&self) -> impl SourceFactory<CorrelatorInput> + use<> {
        catalog::catalog_feed(
            self.catalog_feed.clone(),
            self.feed_start,
            self.catalog.clone(),
            self.propagator.clone(),
            self.sources_done.clone(),
        )
    }

    /// The `to_correlator` adapter: an observation out of `dedup` as the correlator's input.
    pub fn to_correlator(&self) -> impl OperatorFactory<Arc<Delivered>, CorrelatorInput> + use<> {
        ops::map(CorrelatorInput::Observation)
    }

    /// The `normalize` operator.
    pub fn normalize(&self) -> impl OperatorFactory<RawFrame, Routed> + use<> {
        operators::normalize(
            self.registry.clone(),
            self.counters.clone(),
            self.faults.clone(),
        )
    }

    /// The `validate` operator.
    pub fn validate(&self) -> impl OperatorFactory<Routed, Routed> + use<> {
        let policy = ValidationPolicy::default();
        operators::validate(policy, self.counters.clone(), self.faults.clone())
    }

    /// The `dedup` operator.
    pub fn dedup(&self) -> impl OperatorFactory<Routed, Arc<Delivered>> + use<> {
        operators::dedup(
            DedupConfig::default(),
            self.counters.clone(),
            self.faults.clone(),
        )
    }

    /// The `correlator` operator, on [`Parts::propagator`] (the PropagatorPool in the service).
    pub fn correlator(&self) -> impl OperatorFactory<CorrelatorInput, NamedConjunction> + use<> {
        let kernel = operators::Correlator::new(
            self.propagator.clone(),
            self.catalog.clone(),
            self.correlator,
            self.counters.clone(),
        );
        operators::correlator(kernel, self.faults.clone())
    }

    /// The `alert_emitter` operator.
    pub fn alert_emitter(
        &self,
    ) -> impl OperatorFactory<NamedConjunction, Arc<ConjunctionAlert>> + use<> {
        operators::alert_emitter(self.faults.clone())
    }

    /// The `observations` sink: `observations.jsonl`, counting `delivered`.
    pub fn observations_sink(&self) -> impl SinkFactory<Arc<Delivered>> + use<> {
        self.jsonl(sinks::OBSERVATIONS)
    }

    /// The `audit` sink: `audit.jsonl`, counting `audited`.
    pub fn audit_sink(&self) -> impl SinkFactory<Arc<Delivered>> + use<> {
        self.jsonl(sinks::AUDIT)
    }

    /// The `alerts` sink: `alerts.jsonl`, counting `alerts`.
    pub fn alerts_sink(&self) -> impl SinkFactory<Arc<ConjunctionAlert>> + use<> {
        self.jsonl(sinks::ALERTS)
    }

    /// The `dead_letter` sink: `dead_letter.jsonl` behind the dead-letter rate limit,
    /// counting `dead_lettered`.
    pub fn dead_letter_sink(&self) -> impl SinkFactory<Routed> + use<> {
        sinks::dead_letter_sink(
            &self.out_dir,
            self.dead_letter_limit,
            self.counters.clone(),
            self.faults.clone(),
            self.dead_letter_ring.clone(),
            self.existing,
        )
    }

    fn jsonl<T: sda_orchestrator::Message>(
        &self,
        spec: sinks::JsonlSpec<T>,
    ) -> impl SinkFactory<T> + use<T> {
        sinks::jsonl_sink(
            spec,
            &self.out_dir,
            self.counters.clone(),
            self.faults.clone(),
            self.existing,
        )
    }
}
