//! Markers: checkpoint barriers and watermarks, travelling in order with the items of an edge.
//!
//! A marker is one slot of an edge's queue that holds no item: it takes no room (an edge's
//! capacity counts items), and it never makes its producer wait. Two markers with no item
//! between them merge into one slot (the later barrier and the later watermark win), so an edge
//! holds at most one marker slot between two item slots: at most `capacity + 2` marker slots
//! in all, whatever the producers do. Merging barriers loses nothing: a barrier queued right
//! behind another belongs to a newer checkpoint, which is only started once the older one is
//! complete (its barriers all taken) or abandoned (its alignment is replaced by the newer one's).

/// The markers of one slot: a checkpoint barrier and a watermark, each possibly absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marks {
    /// The checkpoint id of a barrier; [`NO_BARRIER`] when there is none.
    pub(crate) barrier: u64,
    /// A watermark, in microseconds since the Unix epoch; [`NO_WATERMARK`] when there is none.
    pub(crate) watermark: i64,
}

/// No barrier: checkpoint ids start at 1.
pub(crate) const NO_BARRIER: u64 = 0;
/// No watermark: the earliest event time is reserved for it.
pub(crate) const NO_WATERMARK: i64 = i64::MIN;

impl Marks {
    pub(crate) const fn barrier(id: u64) -> Self {
        Marks {
            barrier: id,
            watermark: NO_WATERMARK,
        }
    }

    pub(crate) const fn watermark(micros: i64) -> Self {
        Marks {
            barrier: NO_BARRIER,
            watermark: micros,
        }
    }

    /// Merges a later slot's markers into this one.
    pub(crate) fn merge(&mut self, later: Marks) {
        self.barrier = self.barrier.max(later.barrier);
        self.watermark = self.watermark.max(later.watermark);
    }
}

/// Pushes markers onto a vertex's outgoing edges, whatever their item type. Implemented over
/// marker-only handles of the edges' channels, which do not count as senders: holding one does
/// not keep an edge open.
pub(crate) trait MarkOutputs: Send + Sync {
    /// Pushes `marks` onto every outgoing edge that carries markers (not lossy broadcast edges),
    /// filtered or not. Never waits.
    fn push(&self, marks: Marks);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_the_later_of_each() {
        let mut slot = Marks::barrier(3);
        slot.merge(Marks::watermark(10));
        slot.merge(Marks::barrier(4));
        slot.merge(Marks::watermark(7));
        assert_eq!(
            slot,
            Marks {
                barrier: 4,
                watermark: 10
            }
        );
    }
}
