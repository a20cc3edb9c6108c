//! The two ends an operator sees: an [`Inbox`] over its incoming edges and an [`Outbox`] over
//! its outgoing edges, both backed by one bounded tokio mpsc channel per edge.

mod edge;
mod inbox;
mod outbox;

pub(crate) use edge::{EdgeInfo, EdgeKind, EdgeRx, EdgeTx, InputSlot, RxEnd, TxEnd, channel};
pub use inbox::Inbox;
pub use outbox::{Outbox, SendError};
