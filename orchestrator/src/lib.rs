//! Supervised async dataflow pipelines on tokio.
//!
//! A pipeline is an [`OperatorGraph`]: sources, operators and sinks joined by typed, bounded
//! edges. [`OperatorGraph::build`] validates it (roles, names, cycles — every problem at once,
//! each naming the operators involved) and wires one bounded channel per edge;
//! [`BuiltGraph::run`] starts it under one supervisor, which
//!
//! * restarts an operator that returns an error, within its [`RestartPolicy`] budget, after a
//!   jittered backoff, handing it the same edges so nothing queued is lost;
//! * never restarts a panic: the graph stops and [`SupervisorEvent::Panicked`] names the
//!   operator and the message;
//! * escalates a spent budget as [`SupervisorEvent::BudgetExhausted`];
//! * watches for stalls: an operator with input queued and no progress for its `stall_after`
//!   ([`OperatorGraph::stall_after`]) is reported once, and aborted and restarted under its
//!   budget when its [`OnStall`] says so;
//! * on shutdown stops the sources, lets every queue drain in topological order, and aborts and
//!   names whatever is still running at the deadline.
//!
//! Every supervisor decision is one structured `tracing` event (field `event`), and operators
//! and edges publish metrics through the `metrics` facade (see [`monitor::metric_names`]).
//!
//! Beyond the default edge (bounded, every item, backpressure), an edge can have **priority
//! lanes** ([`EdgeOptions::priority`]: an emergency lane drained before every routine lane of
//! the receiving [`Inbox`]) or be a **lossy broadcast** ([`EdgeOptions::broadcast`]: the
//! producer never waits, a lagging consumer warns with the count missed and continues). A
//! **router** ([`OperatorGraph::add_router`], [`RouterHandle`]) is a source whose feeds are
//! registered and removed while the graph runs, each supervised like an operator.
//!
//! A graph can take **checkpoints** ([`OperatorGraph::with_checkpoints`], [`checkpoint`]):
//! aligned barriers flow in order with the items, every operator's [`checkpoint::State`] and
//! every source's position are recorded consistently and written durably, sources learn which
//! positions are safe to acknowledge upstream, and a graph resumes from its latest checkpoint
//! after a crash. **Watermarks** ([`time`], [`Outbox::advance_watermark`],
//! [`Inbox::watermark`]) carry event time through the graph the same way.
//!
//! Sources can be **paused** and resumed, and **throttled** to a rate, while the graph runs
//! ([`BuiltGraph::controls`], [`control::GraphControls`]): a paused or throttled source's sends
//! wait, holding their items, so nothing is dropped or restarted.
//! [`monitor::describe_metrics`] gives every metric its HELP text and
//! unit. With the feature **`http`**, `http::app` is an axum control plane over a graph:
//! `/health`, `/metrics` (Prometheus), `/topology` (JSON or Mermaid), `/operators`, and
//! token-guarded pause, resume and throttle.
//!
//! The library guide, `README.md` in the crate's folder, walks through all of it with examples
//! that run as doctests.
//!
//! # Where names live
//!
//! The rule: **the crate root holds what a pipeline author types to declare, wire, run and stop
//! a graph; every other name lives in exactly one named module, and nowhere else.** So the root
//! has the graph ([`OperatorGraph`], [`BuiltGraph`], [`BuildError`]), what a factory works with
//! (the three contexts, [`Inbox`], [`Outbox`], [`InputEvent`], [`SendError`], [`Message`]), the handles and
//! factory traits, the edge options ([`EdgeOptions`], [`Lane`]), the policies and outcome
//! ([`RestartPolicy`], [`OnStall`], [`SupervisorPolicy`], [`SupervisorEvent`],
//! [`ShutdownHandle`]),
//! [`Role`] and [`pipeline!`]. The rest, needed to look closer at a graph, to operate one, or to
//! build resilience into an operator, is grouped by job:
//!
//! | module | what it holds |
//! |---|---|
//! | [`graph`] | validation errors in detail, the described topology, the traits that type-check an edge's ends, edge specifications, router errors, the default edge capacity |
//! | [`monitor`] | the live view of a running graph (`GraphMonitor`, snapshots, operator states) and the metric names with their descriptions |
//! | [`control`] | pausing, resuming and throttling sources while the graph runs |
//! | [`events`] | the event bus: every supervisor decision and control action as a structured event, live and resumable |
//! | [`checkpoint`] | checkpoints: their configuration, operator state, barrier tokens, completed-checkpoint notices, the checkpoint store |
//! | [`time`] | event time and watermarks: `EventTime`, `Timestamped` |
//! | [`supervisor`] | the building blocks of supervision: `Task`, `TaskExit`, the restart budget, the default stall threshold |
//! | [`resilience`] | retry with backoff, circuit breaker, dedicated-runtime pool |
//! | [`ops`] | ready-made operator factories for plumbing: [`ops::map`], the adapter between item types |
//! | `http` (feature `http`) | the axum control plane |
//!
//! # Features
//!
//! * `http`: the control plane (`http` module), with axum and a Prometheus exporter.
//! * `rand`: lets `rand`'s generators drive backoff jitter (see [`resilience::JitterRng`]).
//! * `test-util`: helpers for testing schedules ([`resilience`]'s `SequenceRng`, a scripted
//!   random source, and `decorrelated_unclamped`, the published formula for comparison).
//!
//! # Examples
//!
//! ```
//! use sda_orchestrator::{OperatorGraph, RestartPolicy, SupervisorEvent, SupervisorPolicy};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mut graph = OperatorGraph::new();
//! let readings = graph.add_source("readings", RestartPolicy::default(), |mut ctx| async move {
//!     for value in [3.0_f64, -1.0, 4.5] {
//!         ctx.output.send(value).await?;
//!     }
//!     Ok(())
//! });
//! let positive = graph.add_operator("positive", RestartPolicy::default(), |mut ctx| async move {
//!     while let Some(value) = ctx.input.recv().await {
//!         if value > 0.0 {
//!             ctx.output.send(value).await?;
//!         }
//!     }
//!     Ok(())
//! });
//! let total = graph.add_sink("total", RestartPolicy::Never, |mut ctx| async move {
//!     let mut sum = 0.0;
//!     while let Some(value) = ctx.input.recv().await {
//!         sum += value;
//!     }
//!     assert_eq!(sum, 7.5);
//!     Ok(())
//! });
//! graph.connect(&readings, &positive).connect(&positive, &total);
//!
//! let outcome = graph.build()?.run(SupervisorPolicy::default()).await;
//! assert_eq!(outcome, SupervisorEvent::CleanShutdown);
//! # Ok::<(), sda_orchestrator::BuildError>(())
//! # }).unwrap();
//! ```
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod channel;
pub mod checkpoint;
mod context;
pub mod control;
pub mod events;
pub mod graph;
#[cfg(feature = "http")]
pub mod http;
mod message;
pub mod monitor;
#[cfg(feature = "nats")]
pub mod nats;
pub mod ops;
pub mod resilience;
pub mod supervisor;
pub mod time;

pub use channel::{Inbox, InputEvent, Outbox, SendError};
pub use context::{OperatorContext, SinkContext, SourceContext};
pub use graph::build::BuiltGraph;
pub use graph::declare::OperatorGraph;
pub use graph::error::BuildError;
pub use graph::factory::{OperatorFactory, SinkFactory, SourceFactory};
pub use graph::handle::{OperatorHandle, SinkHandle, SourceHandle};
pub use graph::options::{EdgeOptions, Lane};
pub use graph::router::RouterHandle;
pub use message::Message;
/// Declares an [`OperatorGraph`] in a few lines and checks its topology at compile time: cycles,
/// missing edges, role errors and unknown names are spanned compile errors.
pub use sda_orchestrator_macros::pipeline;
/// What a vertex does: [`Role::Source`], [`Role::Operator`] or [`Role::Sink`].
pub use sda_orchestrator_topology::Role;
pub use supervisor::event::SupervisorEvent;
pub use supervisor::policy::SupervisorPolicy;
pub use supervisor::restart::RestartPolicy;
pub use supervisor::shutdown::ShutdownHandle;
pub use supervisor::stall::OnStall;

/// The library guide, `README.md`, whose Rust examples run as doctests of the crate: they are
/// compiled against the public API, so the guide cannot drift from it.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
