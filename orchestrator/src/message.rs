//! The bound every item that travels on an edge must meet.

/// An item that can travel on an edge: owned (`'static`), movable between tasks (`Send`), and
/// `Clone` so that a fan-out can hand every consumer its own copy.
///
/// The trait is implemented for every type that meets those bounds; there is nothing to
/// implement by hand. Wrap large payloads in an [`Arc`](std::sync::Arc) so a fan-out clones a
/// pointer rather than the payload.
pub trait Message: Clone + Send + 'static {}

impl<T: Clone + Send + 'static> Message for T {}
