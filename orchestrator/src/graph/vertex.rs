//! Vertices with their types erased: declared (waiting for their edges) and wired (ready to be
//! started, and started again, by the supervisor).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::channel::{EdgeMarkTx, EdgeRx, EdgeTx, InputSlot, MarkOutputs};
use crate::context::Meta;
use crate::{Inbox, Message, Outbox};

/// One incarnation of a vertex: the future its factory returned.
pub(crate) type Incarnation = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// Builds an incarnation from the vertex's ends; wraps the user's factory and picks the ends its
/// role uses.
pub(crate) type Spawner<I, O> = Box<dyn FnMut(Inbox<I>, Outbox<O>, Meta) -> Incarnation + Send>;

/// The input type of a source and the output type of a sink: no value of it exists, so nothing
/// can be sent where there is no edge.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Nothing {}

/// A declared vertex whose edges are allocated at build time, when its types are still known
/// only to itself.
pub(crate) struct Declared<I, O> {
    pub(crate) spawner: Spawner<I, O>,
}

/// The typed half of wiring. Each vertex makes two typed collectors (`Vec<EdgeRx<I>>` for its
/// inputs and `Vec<EdgeTx<O>>` for its outputs) behind `dyn Any`; each edge's allocator, which
/// knows the edge's item type, pushes its two ends into the collectors of its two vertices; the
/// vertex then claims its collectors back. One allocation per vertex side, none per end.
pub(crate) trait Wire: Send {
    /// Empty collectors for `inputs` incoming and `outputs` outgoing edges.
    fn collectors(
        &self,
        inputs: usize,
        outputs: usize,
    ) -> (Box<dyn Any + Send>, Box<dyn Any + Send>);

    /// Takes the vertex's filled collectors. Fails only if a collector has the wrong type,
    /// which the typed `connect` makes impossible: it is checked rather than assumed.
    fn wire(
        self: Box<Self>,
        inputs: Box<dyn Any + Send>,
        outputs: Box<dyn Any + Send>,
    ) -> Option<Box<dyn Runnable>>;
}

impl<I: Message, O: Message> Wire for Declared<I, O> {
    fn collectors(
        &self,
        inputs: usize,
        outputs: usize,
    ) -> (Box<dyn Any + Send>, Box<dyn Any + Send>) {
        (
            Box::new(Vec::<EdgeRx<I>>::with_capacity(inputs)),
            Box::new(Vec::<EdgeTx<O>>::with_capacity(outputs)),
        )
    }

    fn wire(
        self: Box<Self>,
        inputs: Box<dyn Any + Send>,
        outputs: Box<dyn Any + Send>,
    ) -> Option<Box<dyn Runnable>> {
        let receivers = *inputs.downcast::<Vec<EdgeRx<I>>>().ok()?;
        let senders = *outputs.downcast::<Vec<EdgeTx<O>>>().ok()?;
        Some(Box::new(Wired {
            spawner: self.spawner,
            inputs: InputSlot::new(receivers),
            outputs: senders,
        }))
    }
}

/// What the supervisor needs of a vertex, whatever its item types.
pub(crate) trait Runnable: Send {
    /// Makes the next incarnation over the retained ends; `None` if the previous incarnation
    /// did not hand its input back (it moved the inbox into a task of its own).
    fn incarnate(&mut self, meta: Meta) -> Option<Incarnation>;

    /// Drops the retained ends for good: downstream sees the vertex's outputs close. Returns
    /// how many items were still queued on its inputs and are dropped with them (counted on
    /// their edges).
    fn release(&mut self) -> u64;

    /// Settles the items the last incarnation held (taken and not finished): nothing to count
    /// when it `finished` with `Ok`; otherwise they are counted as dropped on their edge.
    /// Returns how many were counted.
    fn settle_held(&mut self, finished: bool) -> u64;
}

struct Wired<I, O> {
    spawner: Spawner<I, O>,
    inputs: InputSlot<I>,
    /// The vertex keeps one sender per outgoing edge for its whole life, so a downstream
    /// operator does not see its input close while this one restarts; each incarnation gets
    /// clones.
    outputs: Vec<EdgeTx<O>>,
}

impl<I: Message, O: Message> Runnable for Wired<I, O> {
    fn incarnate(&mut self, meta: Meta) -> Option<Incarnation> {
        let (receivers, marks) = self.inputs.take()?;
        // Marker-only handles on the outgoing edges, made once: they do not hold the edges
        // open, so they need not be released with the senders.
        meta.cell.set_outputs(|| {
            let handles: Vec<EdgeMarkTx<O>> =
                self.outputs.iter().filter_map(EdgeTx::mark_tx).collect();
            Box::new(handles) as Box<dyn MarkOutputs>
        });
        let outputs = self.outputs.iter().map(|e| Arc::clone(&e.info)).collect();
        let inbox = Inbox::new(
            receivers,
            marks,
            self.inputs.clone(),
            outputs,
            Arc::clone(&meta.cell),
        );
        let outbox = Outbox::new(
            self.outputs.clone(),
            meta.pause.clone(),
            Arc::clone(&meta.cell),
        );
        Some((self.spawner)(inbox, outbox, meta))
    }

    fn release(&mut self) -> u64 {
        self.outputs.clear();
        self.inputs.release()
    }

    fn settle_held(&mut self, finished: bool) -> u64 {
        self.inputs.settle_held(finished)
    }
}
