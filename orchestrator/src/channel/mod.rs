//! The two ends an operator sees: an [`Inbox`] over its incoming edges and an [`Outbox`] over
//! its outgoing edges. A plain edge is one bounded channel counted in items whose slots hold
//! single items or whole batches (see `chunked`), so a batch crosses an edge as one unit.

mod chunked;
mod edge;
mod inbox;
mod marks;
mod outbox;

pub(crate) use edge::{
    EdgeInfo, EdgeKind, EdgeMarkTx, EdgeRx, EdgeTx, InputSlot, RxEnd, TxEnd, channel,
};
pub use inbox::{Inbox, InputEvent};
pub(crate) use marks::{MarkOutputs, Marks, NO_WATERMARK};
pub use outbox::{Outbox, SendError};
