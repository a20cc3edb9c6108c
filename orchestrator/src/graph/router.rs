//! A source whose feeds are added and removed while the graph runs.

use std::collections::HashMap;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

use crate::context::Meta;
use crate::supervisor::log::decision;
use crate::supervisor::{Restart, Restarter, TaskExit, panic_message};
use crate::{Message, OperatorGraph, RestartPolicy, SourceContext, SourceFactory, SourceHandle};

/// How many registrations and removals may wait for the router at once.
const CONTROL_CAPACITY: usize = 16;

type BoxedFeed<T> =
    Box<dyn FnMut(SourceContext<T>) -> BoxFuture<'static, anyhow::Result<()>> + Send>;

enum Command<T> {
    Register {
        name: String,
        restart: RestartPolicy,
        factory: BoxedFeed<T>,
        done: oneshot::Sender<Result<(), FeedError>>,
    },
    Remove {
        name: String,
        done: oneshot::Sender<Result<(), FeedError>>,
    },
}

/// Why a feed could not be registered or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The router no longer accepts changes: the graph is shutting down or has finished.
    #[error("the router no longer accepts feeds: its graph is shutting down or has finished")]
    Closed,
    /// A feed of that name is already running.
    #[error("feed `{0}` is already registered")]
    DuplicateName(String),
    /// No feed of that name is running.
    #[error("no feed named `{0}` is registered")]
    UnknownFeed(String),
}

/// Adds and removes the feeds of a running router source (see
/// [`OperatorGraph::add_router`]). Cheap to clone; every clone controls the same router.
///
/// A feed is written like a source: a [`SourceFactory`] whose context's `output` is the
/// router's outgoing edges (with their backpressure) and whose `shutdown` token fires when the
/// feed is removed or the graph shuts down, at which point it must return `Ok(())`. Each feed
/// runs as its own task, supervised by the router like any operator by the graph's supervisor:
/// an error restarts it within its [`RestartPolicy`] after the backoff of the graph's
/// [`SupervisorPolicy`](crate::SupervisorPolicy) (the same bounds, jitter and healthy-run reset
/// as a vertex), a spent budget fails the router (whose own policy then applies), and a panic
/// is re-raised by the router so the graph's supervisor reports
/// [`Panicked`](crate::SupervisorEvent::Panicked) naming the router. Every decision is logged
/// like the supervisor's, with `operator` = `router/feed`.
///
/// On shutdown the router stops accepting registrations ([`FeedError::Closed`]), tells every
/// feed to stop and finishes once they have; what they sent drains through the graph. The
/// router also finishes on its own once every handle is dropped and every feed has finished.
///
/// Feeds live in the router's incarnation: if the router itself fails and is restarted (a
/// feed spent its restart budget), the new incarnation starts with no feeds, and they must be
/// registered again. Commands sent meanwhile wait in the handle's queue and are not lost.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::{OperatorGraph, RestartPolicy, SupervisorPolicy};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut graph = OperatorGraph::new();
/// let (feeds, router) = graph.add_router::<u32>("feeds", RestartPolicy::default());
/// let total = graph.add_sink("total", RestartPolicy::Never, |mut ctx| async move {
///     let mut sum = 0;
///     while let Some(n) = ctx.input.recv().await {
///         sum += n;
///     }
///     assert_eq!(sum, 6);
///     Ok(())
/// });
/// graph.connect(&feeds, &total);
/// let running = tokio::spawn(graph.build()?.run(SupervisorPolicy::default()));
///
/// router
///     .register("ones", RestartPolicy::Never, |mut ctx| async move {
///         for n in [1, 2, 3] {
///             ctx.output.send(n).await?;
///         }
///         Ok(())
///     })
///     .await?;
/// drop(router); // no more feeds: the router finishes when `ones` has
/// assert!(running.await?.is_clean());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct RouterHandle<T> {
    control: mpsc::Sender<Command<T>>,
}

impl<T> Clone for RouterHandle<T> {
    fn clone(&self) -> Self {
        RouterHandle {
            control: self.control.clone(),
        }
    }
}

impl<T> std::fmt::Debug for RouterHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterHandle")
            .field("closed", &self.control.is_closed())
            .finish()
    }
}

impl<T: Message> RouterHandle<T> {
    /// A handle and the factory of the router source it controls, for graphs declared with
    /// `pipeline!` (`source feeds = router_factory;`). [`OperatorGraph::add_router`] does both
    /// steps at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::{RestartPolicy, RouterHandle, pipeline};
    ///
    /// let (router, feeds) = RouterHandle::<u64>::new();
    /// let graph = pipeline! {
    ///     source feeds = feeds;
    ///     sink   print = |mut ctx: sda_orchestrator::SinkContext<u64>| async move {
    ///         while let Some(n) = ctx.input.recv().await { println!("{n}"); }
    ///         Ok(())
    ///     }, restart = RestartPolicy::Never;
    ///     feeds -> print;
    /// };
    /// # let _ = (graph, router);
    /// ```
    pub fn new() -> (RouterHandle<T>, impl SourceFactory<T>) {
        let (control, receiver) = mpsc::channel(CONTROL_CAPACITY);
        // The receiver outlives a router restart: each incarnation takes it in turn.
        let receiver = Arc::new(Mutex::new(receiver));
        let factory = move |ctx: SourceContext<T>| route(ctx, Arc::clone(&receiver));
        (RouterHandle { control }, factory)
    }

    /// Registers a feed named `name`, started at once on the running router (or when it
    /// starts). Waits only for the router to take the request.
    ///
    /// # Errors
    ///
    /// [`FeedError::Closed`] once the router is shutting down or finished;
    /// [`FeedError::DuplicateName`] when a feed of that name is running.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped while waiting, the feed may or may not have been registered.
    pub async fn register<F>(
        &self,
        name: impl Into<String>,
        restart: RestartPolicy,
        mut factory: F,
    ) -> Result<(), FeedError>
    where
        F: SourceFactory<T>,
    {
        let (done, answer) = oneshot::channel();
        let factory: BoxedFeed<T> = Box::new(move |ctx| factory(ctx).boxed());
        let command = Command::Register {
            name: name.into(),
            restart,
            factory,
            done,
        };
        self.ask(command, answer).await
    }

    /// Tells the feed named `name` to stop (its `shutdown` token fires); it is not restarted.
    ///
    /// # Errors
    ///
    /// [`FeedError::Closed`] once the router is shutting down or finished;
    /// [`FeedError::UnknownFeed`] when no feed of that name is running.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`register`](RouterHandle::register).
    pub async fn remove(&self, name: impl Into<String>) -> Result<(), FeedError> {
        let (done, answer) = oneshot::channel();
        let command = Command::Remove {
            name: name.into(),
            done,
        };
        self.ask(command, answer).await
    }

    /// Whether the router has stopped accepting registrations.
    pub fn is_closed(&self) -> bool {
        self.control.is_closed()
    }

    async fn ask(
        &self,
        command: Command<T>,
        answer: oneshot::Receiver<Result<(), FeedError>>,
    ) -> Result<(), FeedError> {
        self.control
            .send(command)
            .await
            .map_err(|_| FeedError::Closed)?;
        answer.await.unwrap_or(Err(FeedError::Closed))
    }
}

impl OperatorGraph {
    /// Declares a router: a source whose feeds are registered and removed through the returned
    /// [`RouterHandle`] while the graph runs. See [`RouterHandle`] for the semantics and an
    /// example.
    pub fn add_router<T: Message>(
        &mut self,
        name: impl Into<String>,
        restart: RestartPolicy,
    ) -> (SourceHandle<T>, RouterHandle<T>) {
        let (handle, factory) = RouterHandle::new();
        (self.add_source(name, restart, factory), handle)
    }
}

/// One registered feed, between its incarnations.
struct Feed<T> {
    factory: BoxedFeed<T>,
    stop: CancellationToken,
    restarter: Restarter,
    /// Set by `remove`: its next exit is final.
    removed: bool,
}

type FeedExit = (String, TaskExit);

/// The router's body: takes commands, runs the feeds, supervises them.
async fn route<T: Message>(
    ctx: SourceContext<T>,
    receiver: Arc<Mutex<mpsc::Receiver<Command<T>>>>,
) -> anyhow::Result<()> {
    let mut control = receiver.lock_owned().await;
    let router: Arc<str> = Arc::clone(&ctx.meta.name);
    let mut feeds: HashMap<String, Feed<T>> = HashMap::new();
    let mut running: JoinSet<FeedExit> = JoinSet::new();
    let mut open = true;
    let mut stopping = false;
    loop {
        if !open && running.is_empty() {
            return Ok(());
        }
        tokio::select! {
            biased;
            () = ctx.shutdown.cancelled(), if !stopping => {
                // Stop accepting first, so no feed is added after the others were told to stop.
                stopping = true;
                open = false;
                control.close();
                while let Ok(command) = control.try_recv() {
                    refuse(command);
                }
                for feed in feeds.values() {
                    feed.stop.cancel();
                }
            }
            Some(joined) = running.join_next() => {
                let (name, exit) = match joined {
                    Ok(exit) => exit,
                    // Only an abort gets here: every feed task catches its own panic.
                    Err(_) => continue,
                };
                on_feed_exit(&router, &ctx, &mut feeds, &mut running, name, exit, stopping)?;
            }
            command = control.recv(), if open => match command {
                Some(Command::Register { name, restart, factory, done }) => {
                    if feeds.contains_key(&name) {
                        let _ = done.send(Err(FeedError::DuplicateName(name)));
                        continue;
                    }
                    let feed = Feed {
                        factory,
                        stop: ctx.shutdown.child_token(),
                        restarter: Restarter::new(restart, &ctx.meta.policy),
                        removed: false,
                    };
                    let feed = feeds.entry(name.clone()).or_insert(feed);
                    decision!(ctx.meta.events, info, Spawn, feed_label(&router, &name), 0, 0, "registered");
                    start(&router, &ctx, &mut running, &name, feed, std::time::Duration::ZERO);
                    let _ = done.send(Ok(()));
                }
                Some(Command::Remove { name, done }) => match feeds.get_mut(&name) {
                    Some(feed) => {
                        feed.removed = true;
                        feed.stop.cancel();
                        let _ = done.send(Ok(()));
                    }
                    None => {
                        let _ = done.send(Err(FeedError::UnknownFeed(name)));
                    }
                },
                None => open = false,
            },
        }
    }
}

fn refuse<T>(command: Command<T>) {
    let done = match command {
        Command::Register { done, .. } | Command::Remove { done, .. } => done,
    };
    let _ = done.send(Err(FeedError::Closed));
}

fn feed_label(router: &str, feed: &str) -> String {
    format!("{router}/{feed}")
}

/// Starts the next incarnation of a feed after `delay`.
fn start<T: Message>(
    router: &str,
    ctx: &SourceContext<T>,
    running: &mut JoinSet<FeedExit>,
    name: &str,
    feed: &mut Feed<T>,
    delay: std::time::Duration,
) {
    let context = SourceContext {
        output: ctx.output.clone(),
        shutdown: feed.stop.clone(),
        meta: Meta {
            name: Arc::from(feed_label(router, name)),
            shutdown: feed.stop.clone(),
            attempt: feed.restarter.start(delay),
            pause: ctx.meta.pause.clone(),
            policy: Arc::clone(&ctx.meta.policy),
            events: ctx.meta.events.clone(),
            // A feed sends on the router's edges: barriers go out between the sends of all
            // its feeds alike.
            cell: Arc::clone(&ctx.meta.cell),
        },
    };
    let incarnation =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (feed.factory)(context)));
    let name = name.to_owned();
    running.spawn(async move {
        let incarnation = match incarnation {
            Ok(incarnation) => incarnation,
            Err(payload) => {
                return (name, TaskExit::Panicked(panic_message(payload)));
            }
        };
        if !delay.is_zero() {
            sleep(delay).await;
        }
        // The panic is caught here, inside the feed's task, so the router learns which feed
        // panicked and with what message.
        let exit = match std::panic::AssertUnwindSafe(incarnation)
            .catch_unwind()
            .await
        {
            Ok(Ok(())) => TaskExit::Ok,
            Ok(Err(error)) => TaskExit::Errored(error),
            Err(payload) => TaskExit::Panicked(panic_message(payload)),
        };
        (name, exit)
    });
}

/// One decision per feed exit, as the supervisor makes for operators.
fn on_feed_exit<T: Message>(
    router: &str,
    ctx: &SourceContext<T>,
    feeds: &mut HashMap<String, Feed<T>>,
    running: &mut JoinSet<FeedExit>,
    name: String,
    exit: TaskExit,
    stopping: bool,
) -> anyhow::Result<()> {
    let label = feed_label(router, &name);
    let Some(feed) = feeds.get_mut(&name) else {
        return Ok(());
    };
    let attempt = feed.restarter.attempt();
    match exit {
        TaskExit::Ok | TaskExit::Aborted => {
            let reason = if feed.removed {
                "removed"
            } else {
                "returned ok"
            };
            decision!(ctx.meta.events, info, CleanExit, label, attempt, 0, reason);
            feeds.remove(&name);
            Ok(())
        }
        TaskExit::Errored(error) if feed.removed || stopping => {
            let reason = format!("stopped with an error, not restarted: {error:#}");
            decision!(ctx.meta.events, warn, CleanExit, label, attempt, 0, reason);
            feeds.remove(&name);
            Ok(())
        }
        TaskExit::Errored(error) => match feed.restarter.on_error(Instant::now()) {
            Restart::After {
                delay,
                attempt,
                restarts_in_window,
            } => {
                decision!(
                    ctx.meta.events,
                    warn,
                    Restart,
                    label,
                    attempt,
                    restarts_in_window,
                    format!("{error:#}")
                );
                start(router, ctx, running, &name, feed, delay);
                Ok(())
            }
            Restart::Exhausted { restarts_in_window } => {
                let reason = format!("{error:#}");
                decision!(
                    ctx.meta.events,
                    error,
                    BudgetExhausted,
                    label,
                    attempt,
                    restarts_in_window,
                    reason
                );
                feeds.remove(&name);
                Err(error.context(format!("feed `{label}` spent its restart budget")))
            }
        },
        TaskExit::Panicked(message) => {
            decision!(ctx.meta.events, error, Panicked, label, attempt, 0, message);
            // Never restarted, never hidden: the router panics with the feed's message, and
            // the graph's supervisor escalates it naming the router.
            std::panic::resume_unwind(Box::new(format!("feed `{label}` panicked: {message}")))
        }
    }
}
