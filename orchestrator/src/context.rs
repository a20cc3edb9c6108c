//! What a factory is handed each time it starts an operator: its wired ends, its name and the
//! shutdown signal.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::SupervisorPolicy;
use crate::control::PauseGate;
use crate::events::EventBus;
use crate::{Inbox, Outbox};

/// What every context carries besides its channel ends.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub(crate) name: Arc<str>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) attempt: u32,
    /// The vertex's pause gate: present for sources (and a router's feeds), which are the
    /// vertices that can be paused.
    pub(crate) pause: Option<Arc<PauseGate>>,
    /// The graph's supervisor policy: a router restarts its feeds on the same terms as the
    /// supervisor restarts vertices.
    pub(crate) policy: Arc<SupervisorPolicy>,
    /// The graph's event bus, where a router publishes its feeds' decisions.
    pub(crate) events: EventBus,
}

/// The documentation shared by every context's `shutdown` field.
macro_rules! shutdown_doc {
    () => {
        "The graph's shutdown signal, cancelled when shutdown begins.\n\n\
         Sources must stop producing and return `Ok(())` when it fires. Operators and sinks \
         normally ignore it: they finish when their input closes, after everything upstream \
         has drained into them. It is a field, not a method, so that waiting on it in a \
         `tokio::select!` does not conflict with sending on `output`."
    };
}

macro_rules! context_accessors {
    () => {
        /// The vertex's name, as declared in the graph.
        pub fn name(&self) -> &str {
            &self.meta.name
        }

        /// How many times this vertex has been restarted before this incarnation: 0 on the
        /// first start.
        pub fn attempt(&self) -> u32 {
            self.meta.attempt
        }
    };
}

/// What a source's factory receives: where to send what it produces.
#[derive(Debug)]
pub struct SourceContext<O> {
    /// The source's outgoing edges.
    pub output: Outbox<O>,
    #[doc = shutdown_doc!()]
    pub shutdown: CancellationToken,
    pub(crate) meta: Meta,
}

impl<O> SourceContext<O> {
    context_accessors!();

    /// Whether the source is paused (see [`GraphControls`](crate::control::GraphControls)). While
    /// it is, every send on [`output`](SourceContext::output) waits, holding its item.
    pub fn is_paused(&self) -> bool {
        self.meta
            .pause
            .as_ref()
            .is_some_and(|gate| gate.is_paused())
    }

    /// Waits until the source is not paused, or until shutdown begins; returns at once when
    /// neither holds it back.
    ///
    /// A send on a paused source already waits, holding its item, so a source that pulls an
    /// item and then sends it stops after one pull. A source whose pull has a cost of its own
    /// (a poller issuing HTTP requests) awaits this before each pull, and issues none while
    /// paused. Shutdown ends the wait so that the source sees its shutdown signal and returns.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it holds nothing, so it can be a branch of a `tokio::select!`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{SourceContext, SourceFactory};
    ///
    /// fn poller() -> impl SourceFactory<u64> {
    ///     |mut ctx: SourceContext<u64>| async move {
    ///         let mut polls = 0;
    ///         while !ctx.shutdown.is_cancelled() && polls < 3 {
    ///             ctx.resumed().await; // no request goes out while paused
    ///             polls += 1; // stands for an HTTP request
    ///             ctx.output.send(polls).await?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = poller();
    /// ```
    pub async fn resumed(&self) {
        if let Some(gate) = &self.meta.pause {
            gate.wait().await;
        }
    }
}

/// What an operator's factory receives: its incoming and outgoing edges.
#[derive(Debug)]
pub struct OperatorContext<I, O> {
    /// The operator's incoming edges, merged.
    pub input: Inbox<I>,
    /// The operator's outgoing edges.
    pub output: Outbox<O>,
    #[doc = shutdown_doc!()]
    pub shutdown: CancellationToken,
    pub(crate) meta: Meta,
}

impl<I, O> OperatorContext<I, O> {
    context_accessors!();
}

/// What a sink's factory receives: its incoming edges.
#[derive(Debug)]
pub struct SinkContext<I> {
    /// The sink's incoming edges, merged.
    pub input: Inbox<I>,
    #[doc = shutdown_doc!()]
    pub shutdown: CancellationToken,
    pub(crate) meta: Meta,
}

impl<I> SinkContext<I> {
    context_accessors!();
}
