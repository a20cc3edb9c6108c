//! Vertices with their types erased: declared (waiting for their edges) and wired (ready to be
//! started, and started again, by the supervisor).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use crate::channel::{EdgeRx, EdgeTx, InputSlot};
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

/// The typed half of wiring: each end arrives as `Box<dyn Any>` from the edge list and is
/// claimed here by the vertex that knows its type.
pub(crate) trait Wire: Send {
    /// Takes the vertex's channel ends. Fails only if an end has the wrong type, which the typed
    /// `connect` makes impossible: it is checked rather than assumed.
    fn wire(
        self: Box<Self>,
        inputs: Vec<Box<dyn Any + Send>>,
        outputs: Vec<Box<dyn Any + Send>>,
    ) -> Option<Box<dyn Runnable>>;
}

impl<I: Message, O: Message> Wire for Declared<I, O> {
    fn wire(
        self: Box<Self>,
        inputs: Vec<Box<dyn Any + Send>>,
        outputs: Vec<Box<dyn Any + Send>>,
    ) -> Option<Box<dyn Runnable>> {
        let receivers = inputs
            .into_iter()
            .map(|end| end.downcast::<EdgeRx<I>>().ok().map(|rx| *rx))
            .collect::<Option<Vec<_>>>()?;
        let senders = outputs
            .into_iter()
            .map(|end| end.downcast::<EdgeTx<O>>().ok().map(|tx| *tx))
            .collect::<Option<Vec<_>>>()?;
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
    /// how many items were still queued on its inputs and are dropped with them.
    fn release(&mut self) -> u64;
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
        let receivers = self.inputs.take()?;
        let inbox = Inbox::new(receivers, self.inputs.clone());
        let outbox = Outbox::new(self.outputs.clone(), meta.pause.clone());
        Some((self.spawner)(inbox, outbox, meta))
    }

    fn release(&mut self) -> u64 {
        self.outputs.clear();
        self.inputs.take().map_or(0, |receivers| {
            receivers
                .iter()
                .map(|edge| edge.rx.len(&edge.info) as u64)
                .sum()
        })
    }
}
