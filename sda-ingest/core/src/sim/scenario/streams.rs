//! The wire-encoded input of every source.

use std::collections::BTreeMap;

use crate::observation::SensorKind;

/// Wire-encoded input for every source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Streams {
    /// Radar datagrams (both radars), in send order.
    pub radar: Vec<Vec<u8>>,
    /// ISL frames, length prefix included, heartbeats among them; concatenate for a TCP stream.
    pub isl: Vec<Vec<u8>>,
    /// Optical archive response bodies; page `k`'s `next_cursor` is `"k+1"`, the last is `null`.
    pub optical: Vec<Vec<u8>>,
    /// One JSON record per message, per synthetic sensor kind.
    pub synthetic: BTreeMap<SensorKind, Vec<Vec<u8>>>,
}

impl Streams {
    /// The wire messages of `kind`'s stream, in send order.
    pub fn of(&self, kind: SensorKind) -> &[Vec<u8>] {
        match kind {
            SensorKind::Radar => &self.radar,
            SensorKind::Isl => &self.isl,
            SensorKind::Optical => &self.optical,
            other => self.synthetic.get(&other).map_or(&[], Vec::as_slice),
        }
    }

    /// The archive page for a cursor (`None` is the first page), as the mock archive serves it.
    pub fn optical_page(&self, cursor: Option<&str>) -> Option<&[u8]> {
        let index = match cursor {
            None => 0,
            Some(c) => c.parse::<usize>().ok()?,
        };
        self.optical.get(index).map(Vec::as_slice)
    }
}
