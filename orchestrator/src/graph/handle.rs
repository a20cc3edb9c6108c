//! Typed handles to declared vertices. The item types live in the handles, so an edge between
//! mismatched types, into a source or out of a sink does not compile.

use std::fmt;
use std::marker::PhantomData;

/// Which vertex of which graph a handle points at. Opaque: obtained from a handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VertexRef {
    pub(crate) graph: u64,
    pub(crate) index: usize,
}

impl VertexRef {
    /// The vertex's position in declaration order.
    pub fn index(&self) -> usize {
        self.index
    }
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident<$($t:ident),+>, $phantom:ty) => {
        $(#[$doc])*
        pub struct $name<$($t),+> {
            pub(crate) vertex: VertexRef,
            _types: PhantomData<$phantom>,
        }

        impl<$($t),+> $name<$($t),+> {
            pub(crate) fn new(vertex: VertexRef) -> Self {
                $name { vertex, _types: PhantomData }
            }

            /// The vertex this handle points at.
            pub fn vertex(&self) -> VertexRef {
                self.vertex
            }
        }

        // Written by hand: derived impls would demand `Clone`/`Copy` of the item types, which a
        // handle does not hold.
        impl<$($t),+> Clone for $name<$($t),+> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<$($t),+> Copy for $name<$($t),+> {}

        impl<$($t),+> fmt::Debug for $name<$($t),+> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("index", &self.vertex.index).finish()
            }
        }
    };
}

handle!(
    /// A declared source producing items of type `O`.
    SourceHandle<O>, fn() -> O
);
handle!(
    /// A declared operator taking items of type `I` and producing items of type `O`.
    OperatorHandle<I, O>, fn(I) -> O
);
handle!(
    /// A declared sink taking items of type `I`.
    SinkHandle<I>, fn(I)
);

mod sealed {
    pub trait Sealed {}
    impl<O> Sealed for super::SourceHandle<O> {}
    impl<I, O> Sealed for super::OperatorHandle<I, O> {}
    impl<I> Sealed for super::SinkHandle<I> {}
}

/// Any typed handle, whatever the vertex's role: the settings that apply to every vertex
/// ([`OperatorGraph::stall_after`](crate::OperatorGraph::stall_after),
/// [`OperatorGraph::on_stall`](crate::OperatorGraph::on_stall)) take one.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::graph::AnyHandle;
/// use sda_orchestrator::{OperatorGraph, RestartPolicy, SinkContext};
///
/// let mut graph = OperatorGraph::new();
/// let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
/// let out = graph.add_sink("out", RestartPolicy::default(), |_ctx: SinkContext<u8>| async { Ok(()) });
/// graph.connect(&src, &out);
/// assert_eq!(src.vertex_ref().index(), 0);
/// assert_eq!(out.vertex_ref().index(), 1);
/// ```
pub trait AnyHandle: sealed::Sealed {
    /// The vertex the handle points at.
    fn vertex_ref(&self) -> VertexRef;
}

impl<O> AnyHandle for SourceHandle<O> {
    fn vertex_ref(&self) -> VertexRef {
        self.vertex
    }
}

impl<I, O> AnyHandle for OperatorHandle<I, O> {
    fn vertex_ref(&self) -> VertexRef {
        self.vertex
    }
}

impl<I> AnyHandle for SinkHandle<I> {
    fn vertex_ref(&self) -> VertexRef {
        self.vertex
    }
}

/// A vertex that produces items of type `T`: a source or an operator.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the upstream end of an edge carrying `{T}`",
    label = "this vertex does not produce `{T}`",
    note = "an edge needs a source or operator whose output type is the downstream's input type; sinks produce nothing"
)]
pub trait Upstream<T>: sealed::Sealed {
    /// The vertex the handle points at.
    fn upstream(&self) -> VertexRef;
}

/// A vertex that takes items of type `T`: an operator or a sink.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the downstream end of an edge carrying `{T}`",
    label = "this vertex does not take `{T}`",
    note = "an edge needs an operator or sink whose input type is the upstream's output type; sources take no input"
)]
pub trait Downstream<T>: sealed::Sealed {
    /// The vertex the handle points at.
    fn downstream(&self) -> VertexRef;
}

impl<O> Upstream<O> for SourceHandle<O> {
    fn upstream(&self) -> VertexRef {
        self.vertex
    }
}

impl<I, O> Upstream<O> for OperatorHandle<I, O> {
    fn upstream(&self) -> VertexRef {
        self.vertex
    }
}

impl<I, O> Downstream<I> for OperatorHandle<I, O> {
    fn downstream(&self) -> VertexRef {
        self.vertex
    }
}

impl<I> Downstream<I> for SinkHandle<I> {
    fn downstream(&self) -> VertexRef {
        self.vertex
    }
}
