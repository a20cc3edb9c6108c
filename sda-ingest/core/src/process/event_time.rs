//! Event time for observations: when a measurement was *taken* (its epoch), as opposed to when
//! the pipeline received it.
//!
//! * A source promises how far out of order its records may come ([`OutOfOrderness`]): its
//!   watermark is the latest epoch it has sent less that bound, so a record delayed by less
//!   than the bound never falls behind it.
//! * Observations are grouped in **tumbling** event-time windows ([`EventWindows`]) of
//!   [`EventTimeConfig::window_s`]. A window `[start, end)` closes once the input watermark,
//!   less the allowed lateness, has reached its end: every record of it that will ever count
//!   has then arrived, whatever order they came in.
//! * A record whose window has closed is **late** ([`EventTimeConfig::is_late`]): it arrived
//!   after the results it belonged to were computed. The pipeline dead-letters it (reason
//!   `late`) rather than fold it into a later window, which would make results depend on
//!   arrival order again.
//!
//! **Why tumbling, not sliding.** A fused state is an estimate of one object from the
//! observations of one span of time; each observation should count in exactly one estimate, so
//! that its weight is not multiplied by the overlap and a screening run sees independent
//! estimates. Sliding windows would fuse each observation `size / slide` times and close a
//! window every slide, multiplying the fusion and screening work for no new information:
//! screening already looks ahead by its own lookahead, far longer than any window. One window
//! per sensor sweep (60 s by default) matches the cadence at which the sensors revisit.
//!
//! Everything here is pure and synchronous: the service's operators drive it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How observations are windowed in event time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EventTimeConfig {
    /// Length of a tumbling window, seconds of event time (positive).
    pub window_s: f64,
    /// How long past its end a window stays open for records delayed beyond their source's
    /// out-of-orderness bound, seconds of event time (zero or more).
    pub allowed_lateness_s: f64,
}

impl Default for EventTimeConfig {
    /// One-minute windows (one sensor sweep), open two minutes past their end.
    fn default() -> Self {
        EventTimeConfig {
            window_s: 60.0,
            allowed_lateness_s: 120.0,
        }
    }
}

impl EventTimeConfig {
    /// The window an epoch falls in: `floor(epoch / window_s)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::process::event_time::EventTimeConfig;
    ///
    /// let config = EventTimeConfig { window_s: 60.0, allowed_lateness_s: 0.0 };
    /// assert_eq!(config.window_of(119.9), 1);
    /// assert_eq!(config.window_of(120.0), 2);
    /// assert_eq!(config.window_end(1), 120.0);
    /// ```
    pub fn window_of(&self, epoch: f64) -> i64 {
        // `as` saturates for out-of-range floats and maps NaN to 0; epochs are validated before.
        (epoch / self.window_s.max(f64::MIN_POSITIVE)).floor() as i64
    }

    /// Where window `index` starts, UTC Unix seconds.
    pub fn window_start(&self, index: i64) -> f64 {
        index as f64 * self.window_s
    }

    /// Where window `index` ends (exclusive), UTC Unix seconds.
    pub fn window_end(&self, index: i64) -> f64 {
        index.saturating_add(1) as f64 * self.window_s
    }

    /// Whether window `index` is closed under the input watermark `watermark_s`: its end is at
    /// or before the watermark less the allowed lateness.
    pub fn is_closed(&self, index: i64, watermark_s: f64) -> bool {
        self.window_end(index) <= watermark_s - self.allowed_lateness_s
    }

    /// Whether a record taken at `epoch` is late under the input watermark `watermark_s`
    /// (`None`: no watermark yet, nothing is late): its window has closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::process::event_time::EventTimeConfig;
    ///
    /// let config = EventTimeConfig { window_s: 60.0, allowed_lateness_s: 30.0 };
    /// // The window [60, 120) closes when the watermark reaches 150.
    /// assert!(!config.is_late(100.0, Some(149.0)));
    /// assert!(config.is_late(100.0, Some(150.0)));
    /// assert!(!config.is_late(100.0, None));
    /// ```
    pub fn is_late(&self, epoch: f64, watermark_s: Option<f64>) -> bool {
        watermark_s.is_some_and(|w| self.is_closed(self.window_of(epoch), w))
    }
}

/// A source's watermark under bounded out-of-orderness: the latest epoch it has sent less
/// `bound_s`. Epochs outside `[epoch_min, epoch_max]` (what validation accepts) and non-finite
/// ones are ignored, so one corrupted epoch in the far future cannot make everything after it
/// late.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::process::event_time::OutOfOrderness;
///
/// let mut clock = OutOfOrderness::new(10.0, 0.0, 1.0e10);
/// assert_eq!(clock.watermark(), None);
/// assert_eq!(clock.observe(100.0), Some(90.0));
/// assert_eq!(clock.observe(95.0), None); // out of order, within the bound: no change
/// assert_eq!(clock.observe(9.0e20), None); // outside what validation accepts: ignored
/// assert_eq!(clock.watermark(), Some(90.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutOfOrderness {
    bound_s: f64,
    epoch_min: f64,
    epoch_max: f64,
    latest: f64,
}

impl OutOfOrderness {
    /// No epoch seen yet; at most `bound_s` seconds out of order; epochs outside
    /// `[epoch_min, epoch_max]` ignored.
    pub fn new(bound_s: f64, epoch_min: f64, epoch_max: f64) -> Self {
        OutOfOrderness {
            bound_s: bound_s.max(0.0),
            epoch_min,
            epoch_max,
            latest: f64::NEG_INFINITY,
        }
    }

    /// Takes a sent record's epoch into account; returns the new watermark when it moved.
    pub fn observe(&mut self, epoch: f64) -> Option<f64> {
        if !epoch.is_finite() || epoch < self.epoch_min || epoch > self.epoch_max {
            return None;
        }
        if epoch <= self.latest {
            return None;
        }
        self.latest = epoch;
        self.watermark()
    }

    /// The watermark: the latest epoch seen less the bound; `None` before the first epoch.
    pub fn watermark(&self) -> Option<f64> {
        self.latest
            .is_finite()
            .then_some(self.latest - self.bound_s)
    }
}

/// A window that has closed, with what arrived in it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedWindow<A> {
    /// The window's index ([`EventTimeConfig::window_of`]).
    pub index: i64,
    /// Its start, UTC Unix seconds.
    pub start_s: f64,
    /// Its end (exclusive), UTC Unix seconds.
    pub end_s: f64,
    /// What its records left in its accumulator (for `EventWindows<Vec<T>>`, the items
    /// inserted, in arrival order).
    pub contents: A,
    /// How many records it received.
    pub records: u64,
    /// The latest epoch among them, UTC Unix seconds.
    pub latest_s: f64,
}

/// A record whose window had already closed when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Late;

/// One open window: its accumulator, how many records it received and their latest epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Open<A> {
    contents: A,
    records: u64,
    latest_s: f64,
}

impl<A: Default> Default for Open<A> {
    fn default() -> Self {
        Open {
            contents: A::default(),
            records: 0,
            // The lowest finite number rather than -inf: a checkpoint stores it as JSON. A
            // window exists only once a record arrived in it, so it never closes with this.
            latest_s: f64::MIN,
        }
    }
}

/// Tumbling event-time windows, each with an accumulator `A` that its records are added to
/// until the watermark closes it.
///
/// Only windows that received something exist; closing them hands them out in window order,
/// so the results of a sequence of closes do not depend on how the watermark advanced (one
/// jump or many steps close the same windows in the same order). Besides its accumulator a
/// window counts its records and keeps their latest epoch.
///
/// The accumulator is what a window holds until it closes, and what a checkpoint stores: a
/// `Vec` of the records (with [`insert`](EventWindows::insert)) keeps everything, while an
/// aggregate updated as records arrive ([`insert_with`](EventWindows::insert_with), Flink's
/// incremental window aggregation) keeps the state as small as the result needs.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::process::event_time::{EventTimeConfig, EventWindows};
///
/// let mut windows = EventWindows::new(EventTimeConfig { window_s: 10.0, allowed_lateness_s: 5.0 });
/// // Out of order: 25 before 3.
/// windows.insert(25.0, "c").unwrap();
/// windows.insert(3.0, "a").unwrap();
/// windows.insert(7.0, "b").unwrap();
/// assert!(windows.close(14.9).is_empty());
/// let closed = windows.close(15.0); // [0, 10) closes at 10 + 5
/// assert_eq!(closed.len(), 1);
/// assert_eq!(closed[0].contents, ["a", "b"]);
/// // Its window closed: a record for it is late and is given back.
/// assert_eq!(windows.insert(9.0, "late"), Err("late"));
/// // A record of which only the epoch matters is counted, not kept.
/// windows.insert_epoch(28.5).unwrap();
/// let last = &windows.close_all()[0];
/// assert_eq!((last.contents.as_slice(), last.records, last.latest_s), (&["c"][..], 2, 28.5));
///
/// // An aggregate per window: a sum.
/// let mut sums = EventWindows::<f64>::new(EventTimeConfig { window_s: 10.0, allowed_lateness_s: 0.0 });
/// for (epoch, value) in [(1.0, 2.5), (4.0, 0.5), (12.0, 1.0)] {
///     sums.insert_with(epoch, |sum| *sum += value).unwrap();
/// }
/// assert_eq!(sums.close(10.0)[0].contents, 3.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventWindows<A> {
    config: EventTimeConfig,
    /// The open windows that received something, by index.
    open: BTreeMap<i64, Open<A>>,
    /// Every window with an index below this is closed.
    closed_below: Option<i64>,
}

impl<A: Default> EventWindows<A> {
    /// No window yet.
    pub fn new(config: EventTimeConfig) -> Self {
        EventWindows {
            config,
            open: BTreeMap::new(),
            closed_below: None,
        }
    }

    /// The windowing.
    pub fn config(&self) -> &EventTimeConfig {
        &self.config
    }

    /// Adds a record taken at `epoch` to its window: counted, its epoch kept if the latest,
    /// and `add` applied to the window's accumulator.
    ///
    /// # Errors
    ///
    /// [`Late`] when its window has already closed (`add` is not called).
    pub fn insert_with(&mut self, epoch: f64, add: impl FnOnce(&mut A)) -> Result<(), Late> {
        let index = self.config.window_of(epoch);
        if self.closed_below.is_some_and(|below| index < below) {
            return Err(Late);
        }
        let window = self.open.entry(index).or_default();
        window.records += 1;
        window.latest_s = window.latest_s.max(epoch);
        add(&mut window.contents);
        Ok(())
    }

    /// Counts a record taken at `epoch` in its window, leaving the accumulator as it is.
    ///
    /// # Errors
    ///
    /// [`Late`] when its window has already closed.
    pub fn insert_epoch(&mut self, epoch: f64) -> Result<(), Late> {
        self.insert_with(epoch, |_| {})
    }

    /// Closes every window the watermark `watermark_s` closes and hands them out in order.
    pub fn close(&mut self, watermark_s: f64) -> Vec<ClosedWindow<A>> {
        // The first window that is still open: the one holding `watermark - lateness`.
        let first_open = self
            .config
            .window_of(watermark_s - self.config.allowed_lateness_s);
        self.close_below(first_open)
    }

    /// Closes every window (the input has ended) and hands them out in order.
    pub fn close_all(&mut self) -> Vec<ClosedWindow<A>> {
        self.close_below(i64::MAX)
    }

    fn close_below(&mut self, below: i64) -> Vec<ClosedWindow<A>> {
        if self.closed_below.is_some_and(|b| b >= below) {
            return Vec::new();
        }
        self.closed_below = Some(below);
        let still_open = self.open.split_off(&below);
        let closed = std::mem::replace(&mut self.open, still_open);
        closed
            .into_iter()
            .map(|(index, window)| ClosedWindow {
                index,
                start_s: self.config.window_start(index),
                end_s: self.config.window_end(index),
                contents: window.contents,
                records: window.records,
                latest_s: window.latest_s,
            })
            .collect()
    }

    /// Records counted in open windows.
    pub fn held(&self) -> u64 {
        self.open.values().map(|w| w.records).sum()
    }

    /// Open windows that hold something.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }
}

impl<T> EventWindows<Vec<T>> {
    /// Puts `item`, taken at `epoch`, in its window.
    ///
    /// # Errors
    ///
    /// The item back when its window has already closed: it is late.
    pub fn insert(&mut self, epoch: f64, item: T) -> Result<(), T> {
        let mut item = Some(item);
        match self.insert_with(epoch, |items| items.extend(item.take())) {
            Ok(()) => Ok(()),
            // Late: `add` was not called, so the item is still here to give back.
            Err(Late) => item.map_or(Ok(()), Err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EventTimeConfig {
        EventTimeConfig {
            window_s: 10.0,
            allowed_lateness_s: 5.0,
        }
    }

    #[test]
    fn windows_close_in_order_whatever_the_steps_of_the_watermark() {
        let epochs = [31.0, 2.0, 17.0, 11.0, 45.0, 5.0, 28.0];
        let mut one_jump = EventWindows::new(config());
        let mut many_steps = EventWindows::new(config());
        for (n, epoch) in epochs.iter().enumerate() {
            one_jump.insert(*epoch, n).unwrap();
            many_steps.insert(*epoch, n).unwrap();
        }
        let jumped = one_jump.close(45.0);
        let mut stepped = Vec::new();
        for w in [12.0, 15.0, 15.0, 26.0, 33.0, 45.0] {
            stepped.extend(many_steps.close(w));
        }
        assert_eq!(jumped, stepped);
        let indices: Vec<i64> = jumped.iter().map(|w| w.index).collect();
        assert_eq!(indices, [0, 1, 2, 3]); // [40, 50) closes at 55
        assert_eq!(jumped[0].contents, [1, 5]);
        assert_eq!(one_jump.held(), 1);
    }

    #[test]
    fn a_record_counted_by_its_epoch_closes_with_its_window_and_can_be_late() {
        let mut windows = EventWindows::new(config());
        windows.insert(12.0, "kept").unwrap();
        windows.insert_epoch(18.5).unwrap();
        windows.insert_epoch(11.0).unwrap();
        assert_eq!(windows.held(), 3);
        let closed = windows.close(25.0);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].contents, ["kept"]);
        assert_eq!((closed[0].records, closed[0].latest_s), (3, 18.5));
        assert_eq!(windows.insert_epoch(19.9), Err(Late));
        // A window that only counted records still closes, with nothing kept.
        windows.insert_epoch(33.0).unwrap();
        let last = windows.close_all();
        assert_eq!(last.len(), 1);
        assert_eq!((last[0].index, last[0].contents.len()), (3, 0));
        assert_eq!((last[0].records, last[0].latest_s), (1, 33.0));
    }

    #[test]
    fn a_record_for_a_closed_window_is_late_and_one_for_an_open_window_is_not() {
        let mut windows = EventWindows::new(config());
        windows.insert(12.0, "x").unwrap();
        assert!(windows.close(24.0).is_empty()); // [10, 20) closes at 25
        assert_eq!(windows.insert(19.9, "in time"), Ok(()));
        assert_eq!(windows.close(25.0)[0].contents, ["x", "in time"]);
        assert_eq!(windows.insert(19.9, "late"), Err("late"));
        assert!(config().is_late(19.9, Some(25.0)));
        assert!(!config().is_late(20.0, Some(25.0)));
        // A window that never received anything closes too: its records are late after it.
        windows.close(60.0);
        assert_eq!(windows.insert(40.0, "late"), Err("late"));
        assert!(windows.close_all().is_empty());
    }

    #[test]
    fn the_watermark_never_goes_back_and_ignores_implausible_epochs() {
        let mut clock = OutOfOrderness::new(30.0, 0.0, 1_000.0);
        assert_eq!(clock.observe(f64::NAN), None);
        assert_eq!(clock.observe(-5.0), None);
        assert_eq!(clock.observe(100.0), Some(70.0));
        assert_eq!(clock.observe(80.0), None);
        assert_eq!(clock.observe(5_000.0), None);
        assert_eq!(clock.observe(130.0), Some(100.0));
        assert_eq!(clock.watermark(), Some(100.0));
    }
}
