//! How one edge delivers: its capacity, whether it is a plain bounded channel, a pair of
//! priority lanes or a lossy broadcast, and which items it carries (a filter).

/// The lane of an item on a priority edge, chosen by the edge's classifier.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::Lane;
///
/// fn classify(command: &&str) -> Lane {
///     if *command == "ABORT" { Lane::Emergency } else { Lane::Routine }
/// }
/// assert_eq!(classify(&"ABORT"), Lane::Emergency);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Drained before every routine lane of the receiving inbox.
    Emergency,
    /// Taken only when no emergency item is queued on any incoming edge.
    Routine,
}

/// How an edge delivers, once declared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    Plain,
    Broadcast,
}

/// Options of one edge, given to
/// [`OperatorGraph::connect_with`](crate::OperatorGraph::connect_with).
///
/// An edge is a bounded channel by default: every item reaches the consumer, and a full edge
/// makes its producer wait. Two other kinds are available:
///
/// * [`priority`](EdgeOptions::priority): two bounded channels, an emergency lane and a routine
///   lane, each of the edge's capacity (backpressure applies per lane). A classifier picks the
///   lane of each item as it is sent, and the receiving [`Inbox`](crate::Inbox) takes every
///   emergency item queued on any of its edges before any routine item (biased), in turn across
///   edges within a lane.
/// * [`broadcast`](EdgeOptions::broadcast): a lossy ring of the given capacity for a consumer that
///   is allowed to lag. The producer never waits on it; a consumer that falls more than `capacity`
///   items behind misses the oldest, logs a warning with the count missed (also counted as the
///   edge's `lagged` items in the [`GraphMonitor`](crate::monitor::GraphMonitor)) and continues
///   with the oldest item still held.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::EdgeOptions;
///
/// let options = EdgeOptions::new().capacity(256);
/// assert_eq!(options.capacity_or(1024), 256);
/// assert!(!options.is_broadcast());
/// assert!(EdgeOptions::new().broadcast(16).is_broadcast());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EdgeOptions {
    capacity: Option<usize>,
    mode: Mode,
}

impl EdgeOptions {
    /// The defaults: a plain edge of the graph's default capacity.
    pub fn new() -> Self {
        EdgeOptions::default()
    }

    /// How many items the edge holds before its producer waits (per lane on a priority edge;
    /// the ring's size on a broadcast edge). Must be at least 1.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Makes the edge a lossy broadcast ring of `capacity` items: the producer never waits, and
    /// a consumer that lags by more than `capacity` items misses the oldest ones, with a
    /// warning. Use it only for consumers that may miss items (dashboards, samplers); the
    /// default edge loses nothing. The ring is `tokio::sync::broadcast`'s, which rounds its
    /// size up to a power of two.
    pub fn broadcast(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self.mode = Mode::Broadcast;
        self
    }

    /// Makes the edge two lanes, emergency and routine, with `classify` choosing each item's
    /// lane. The item type comes from the classifier and must be the edge's item type.
    ///
    /// A priority edge cannot also be a broadcast edge: [`build`](crate::OperatorGraph::build)
    /// reports such an edge.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{EdgeOptions, Lane, OperatorGraph, RestartPolicy, SupervisorPolicy};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut graph = OperatorGraph::new();
    /// let commands = graph.add_source("commands", RestartPolicy::Never, |mut ctx| async move {
    ///     for command in ["PING", "PING", "ABORT"] {
    ///         ctx.output.send(command).await?;
    ///     }
    ///     Ok(())
    /// });
    /// let handle = graph.add_sink("handle", RestartPolicy::Never, |mut ctx| async move {
    ///     let mut order = Vec::new();
    ///     while let Some(command) = ctx.input.recv().await {
    ///         order.push(command);
    ///     }
    ///     // All three were queued before the sink ran: the emergency one comes first.
    ///     assert_eq!(order, ["ABORT", "PING", "PING"]);
    ///     Ok(())
    /// });
    /// let classify = |c: &&str| if *c == "ABORT" { Lane::Emergency } else { Lane::Routine };
    /// graph.connect_with(&commands, &handle, EdgeOptions::new().capacity(8).priority(classify));
    ///
    /// let outcome = graph.build()?.run(SupervisorPolicy::default()).await;
    /// assert!(outcome.is_clean());
    /// # Ok::<(), sda_orchestrator::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn priority<T>(self, classify: fn(&T) -> Lane) -> EdgeSpec<T> {
        EdgeSpec::from(self).priority(classify)
    }

    /// Sends on this edge only the items `keep` accepts: content-based routing. An operator
    /// whose output fans out to several edges with filters sends each item only where it
    /// belongs — accepted records to the next stage, rejects to a dead-letter sink — and an
    /// item no edge keeps is counted as filtered, not lost. The filter runs before the item is
    /// cloned for the edge.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{EdgeOptions, OperatorGraph, RestartPolicy, SupervisorPolicy};
    ///
    /// fn is_even(n: &u32) -> bool { n % 2 == 0 }
    /// fn is_odd(n: &u32) -> bool { n % 2 == 1 }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut graph = OperatorGraph::new();
    /// let numbers = graph.add_source("numbers", RestartPolicy::Never, |mut ctx| async move {
    ///     for n in 0..6u32 {
    ///         ctx.output.send(n).await?;
    ///     }
    ///     Ok(())
    /// });
    /// let evens = graph.add_sink("evens", RestartPolicy::Never, |mut ctx| async move {
    ///     let mut got = Vec::new();
    ///     while let Some(n) = ctx.input.recv().await {
    ///         got.push(n);
    ///     }
    ///     assert_eq!(got, [0, 2, 4]);
    ///     Ok(())
    /// });
    /// let odds = graph.add_sink("odds", RestartPolicy::Never, |mut ctx| async move {
    ///     let mut got = Vec::new();
    ///     while let Some(n) = ctx.input.recv().await {
    ///         got.push(n);
    ///     }
    ///     assert_eq!(got, [1, 3, 5]);
    ///     Ok(())
    /// });
    /// graph
    ///     .connect_with(&numbers, &evens, EdgeOptions::new().filter(is_even))
    ///     .connect_with(&numbers, &odds, EdgeOptions::new().filter(is_odd));
    /// assert!(graph.build()?.run(SupervisorPolicy::default()).await.is_clean());
    /// # Ok::<(), sda_orchestrator::BuildError>(())
    /// # }).unwrap();
    /// ```
    pub fn filter<T>(self, keep: fn(&T) -> bool) -> EdgeSpec<T> {
        EdgeSpec::from(self).filter(keep)
    }

    /// The declared capacity, or `default` when none was declared.
    pub fn capacity_or(&self, default: usize) -> usize {
        self.capacity.unwrap_or(default)
    }

    /// Whether the edge is a lossy broadcast ring.
    pub fn is_broadcast(&self) -> bool {
        self.mode == Mode::Broadcast
    }
}

/// [`EdgeOptions`] bound to the edge's item type, as a priority classifier or a filter needs;
/// made by [`EdgeOptions::priority`] or [`EdgeOptions::filter`]. Plain `EdgeOptions` convert
/// into it for any item type, so [`connect_with`](crate::OperatorGraph::connect_with) takes
/// either.
pub struct EdgeSpec<T> {
    pub(crate) options: EdgeOptions,
    pub(crate) classify: Option<fn(&T) -> Lane>,
    pub(crate) keep: Option<fn(&T) -> bool>,
}

impl<T> EdgeSpec<T> {
    /// Adds priority lanes; see [`EdgeOptions::priority`].
    pub fn priority(mut self, classify: fn(&T) -> Lane) -> EdgeSpec<T> {
        self.classify = Some(classify);
        self
    }

    /// Adds a filter; see [`EdgeOptions::filter`].
    pub fn filter(mut self, keep: fn(&T) -> bool) -> EdgeSpec<T> {
        self.keep = Some(keep);
        self
    }

    /// Whether the edge sends only the items a filter keeps.
    pub fn is_filtered(&self) -> bool {
        self.keep.is_some()
    }

    /// The untyped options.
    pub fn options(&self) -> EdgeOptions {
        self.options
    }

    /// Whether the edge has priority lanes.
    pub fn is_priority(&self) -> bool {
        self.classify.is_some()
    }
}

impl<T> Clone for EdgeSpec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for EdgeSpec<T> {}

impl<T> std::fmt::Debug for EdgeSpec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeSpec")
            .field("options", &self.options)
            .field("priority", &self.classify.is_some())
            .field("filtered", &self.keep.is_some())
            .finish()
    }
}

impl<T> From<EdgeOptions> for EdgeSpec<T> {
    fn from(options: EdgeOptions) -> Self {
        EdgeSpec {
            options,
            classify: None,
            keep: None,
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::EdgeOptions {}
    impl<T> Sealed for super::EdgeSpec<T> {}
}

/// What [`connect_with`](crate::OperatorGraph::connect_with) accepts for an edge carrying `T`:
/// plain [`EdgeOptions`] (any item type) or an [`EdgeSpec<T>`] made by
/// [`EdgeOptions::priority`] with a classifier of `&T`. Sealed.
#[diagnostic::on_unimplemented(
    message = "these edge options do not fit an edge carrying `{T}`",
    label = "the priority classifier or filter of this edge must take `&{T}`",
    note = "`priority = classify` needs a `fn(&T) -> Lane` and `filter = keep` a `fn(&T) -> bool`, with `T` the edge's item type"
)]
pub trait IntoEdgeSpec<T>: sealed::Sealed {
    /// The options bound to the item type.
    fn into_spec(self) -> EdgeSpec<T>;
}

impl<T> IntoEdgeSpec<T> for EdgeOptions {
    fn into_spec(self) -> EdgeSpec<T> {
        EdgeSpec::from(self)
    }
}

impl<T> IntoEdgeSpec<T> for EdgeSpec<T> {
    fn into_spec(self) -> EdgeSpec<T> {
        self
    }
}
