//! What a factory is handed each time it starts an operator: its wired ends, its name and the
//! shutdown signal.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::SupervisorPolicy;
use crate::checkpoint::{
    CheckpointError, CompletedCheckpoints, DEFAULT_STATE_KEY, State, VertexCell,
};
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
    /// The vertex's checkpoint and event-time cell, shared by its incarnations.
    pub(crate) cell: Arc<VertexCell>,
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

/// `state` and `state_named`, shared by the contexts of operators and sinks.
macro_rules! state_accessors {
    () => {
        /// The vertex's state: a value that every incarnation shares (so it survives a
        /// restart) and that is part of every checkpoint (so it survives a crash, in a graph
        /// that resumes from its checkpoints). The first call in the graph's life registers it,
        /// from the restored checkpoint or `S::default()`; later calls, in this incarnation or
        /// the next, return the same value. See [`State`] for how to lock it.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::collections::BTreeSet;
        /// use sda_orchestrator::{OperatorContext, OperatorFactory};
        ///
        /// /// Drops repeated ids, remembering the ids seen across restarts and crashes.
        /// fn dedup() -> impl OperatorFactory<u64, u64> {
        ///     |mut ctx: OperatorContext<u64, u64>| async move {
        ///         let seen = ctx.state::<BTreeSet<u64>>()?;
        ///         while let Some(id) = ctx.input.recv().await {
        ///             let first = seen.lock().insert(id);
        ///             if first {
        ///                 ctx.output.send(id).await?;
        ///             }
        ///         }
        ///         Ok(())
        ///     }
        /// }
        /// # let _ = dedup();
        /// ```
        ///
        /// # Errors
        ///
        /// [`CheckpointError::Decode`] when the restored value is not an `S`;
        /// [`CheckpointError::StateType`] when the vertex registered its state with another
        /// type before.
        pub fn state<S>(&self) -> Result<State<S>, CheckpointError>
        where
            S: Serialize + DeserializeOwned + Default + Clone + Send + 'static,
        {
            self.meta.cell.state(DEFAULT_STATE_KEY)
        }

        /// A state of the vertex registered under `key`, for a vertex that keeps several (see
        /// [`state`](Self::state)).
        ///
        /// # Errors
        ///
        /// As [`state`](Self::state).
        pub fn state_named<S>(&self, key: &str) -> Result<State<S>, CheckpointError>
        where
            S: Serialize + DeserializeOwned + Default + Clone + Send + 'static,
        {
            self.meta.cell.state(key)
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

    /// Where the source should resume: the position it recorded last (with
    /// [`Outbox::send_at`](crate::Outbox::send_at) or
    /// [`Outbox::set_position`](crate::Outbox::set_position)) if an earlier incarnation did, else
    /// the position recorded in the checkpoint the graph resumed from, else `None` (start from
    /// the beginning).
    ///
    /// # Examples
    ///
    /// See [`Outbox::send_at`](crate::Outbox::send_at).
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Decode`] when the recorded position is not a `P`.
    pub fn restored_position<P: DeserializeOwned>(&self) -> Result<Option<P>, CheckpointError> {
        match self.meta.cell.position_json()? {
            Some(value) => P::deserialize(value)
                .map(Some)
                .map_err(|e| CheckpointError::Decode {
                    what: format!("position of `{}`", self.meta.name),
                    reason: e.to_string(),
                }),
            None => Ok(None),
        }
    }

    /// The checkpoints that complete from now on, each with the position this source had
    /// recorded when its barrier left it: once one completes, everything the source sent
    /// before that position is reflected in every state and written by every committing sink.
    /// A source over a durable log acknowledges the log up to that position. A graph resumed
    /// from a checkpoint reports that one first.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{SourceContext, SourceFactory};
    ///
    /// /// Stands for a source over a durable log, which it acknowledges as checkpoints complete.
    /// fn log_reader() -> impl SourceFactory<u64> {
    ///     |mut ctx: SourceContext<u64>| async move {
    ///         let mut completed = ctx.completed_checkpoints::<u64>();
    ///         let mut sequence: u64 = ctx.restored_position()?.unwrap_or(0);
    ///         loop {
    ///             tokio::select! {
    ///                 () = ctx.shutdown.cancelled() => return Ok(()),
    ///                 done = completed.next() => {
    ///                     if let Some(position) = done?.position {
    ///                         // Acknowledge the log up to `position` here.
    ///                         let _ = position;
    ///                     }
    ///                 }
    ///                 // Stands for waiting for the log's next entry.
    ///                 () = tokio::task::yield_now() => {
    ///                     ctx.output.send_at(sequence, sequence + 1).await?;
    ///                     sequence += 1;
    ///                 }
    ///             }
    ///         }
    ///     }
    /// }
    /// # let _ = log_reader();
    /// ```
    pub fn completed_checkpoints<P: DeserializeOwned>(&self) -> CompletedCheckpoints<P> {
        let rx = match &self.meta.cell.source {
            Some(source) => source.completed.subscribe(),
            // Not reached: every source has a source cell. A receiver that never hears of a
            // checkpoint is the faithful answer.
            None => tokio::sync::watch::channel(None).1,
        };
        CompletedCheckpoints::new(rx, Arc::clone(&self.meta.name))
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
    state_accessors!();
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
    state_accessors!();
}
