//! A named, supervised unit of work and the four ways it can end.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use tokio::task::{JoinError, JoinHandle};

use crate::RestartPolicy;

/// How a task ended. The supervisor dispatches on exactly these four cases.
#[derive(Debug)]
pub enum TaskExit {
    /// The future returned `Ok(())`: the task finished its work. Never restarted.
    Ok,
    /// The future returned an error. Restarted according to the task's [`RestartPolicy`].
    Errored(anyhow::Error),
    /// The future panicked; the payload's message is kept. Never restarted: escalated.
    Panicked(String),
    /// The task was aborted before it finished (shutdown deadline or escalation).
    Aborted,
}

impl TaskExit {
    /// Maps the result of joining a tokio task onto the four cases.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_orchestrator::supervisor::TaskExit;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let joined = tokio::spawn(async { anyhow::bail!("sensor offline") }).await;
    /// assert!(matches!(TaskExit::from_join(joined), TaskExit::Errored(e) if e.to_string() == "sensor offline"));
    /// # });
    /// ```
    pub fn from_join(result: Result<anyhow::Result<()>, JoinError>) -> TaskExit {
        match result {
            Ok(Ok(())) => TaskExit::Ok,
            Ok(Err(error)) => TaskExit::Errored(error),
            Err(error) if error.is_panic() => TaskExit::Panicked(panic_message(error.into_panic())),
            Err(_) => TaskExit::Aborted,
        }
    }

    /// A short lowercase name for the case: `ok`, `errored`, `panicked` or `aborted`.
    pub fn kind(&self) -> &'static str {
        match self {
            TaskExit::Ok => "ok",
            TaskExit::Errored(_) => "errored",
            TaskExit::Panicked(_) => "panicked",
            TaskExit::Aborted => "aborted",
        }
    }
}

/// Extracts the human-readable message from a panic payload.
pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_owned(),
            Err(_) => "panic with a non-string payload".to_owned(),
        },
    }
}

/// A named tokio task with a restart policy, whose end is reported as a [`TaskExit`].
///
/// Graphs spawn their operators through the supervisor; `Task` is the same building block for
/// code that supervises a future of its own.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::RestartPolicy;
/// use sda_orchestrator::supervisor::{Task, TaskExit};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let task = Task::spawn("probe", RestartPolicy::Never, async { panic!("bad frame") });
/// assert_eq!(task.name(), "probe");
/// assert!(matches!(task.join().await, TaskExit::Panicked(m) if m == "bad frame"));
/// # });
/// ```
#[derive(Debug)]
pub struct Task {
    name: Arc<str>,
    restart: RestartPolicy,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Task {
    /// Spawns `future` on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime, as `tokio::spawn` does.
    pub fn spawn<F>(name: impl Into<String>, restart: RestartPolicy, future: F) -> Task
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Task {
            name: Arc::from(name.into()),
            restart,
            handle: tokio::spawn(future),
        }
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The task's restart policy.
    pub fn restart_policy(&self) -> RestartPolicy {
        self.restart
    }

    /// Requests the task to stop at its next await point; [`join`](Task::join) then reports
    /// [`TaskExit::Aborted`] unless it had already finished.
    pub fn abort(&self) {
        self.handle.abort();
    }

    /// Waits for the task to end and reports how.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe only in the sense that dropping the returned future detaches the task: it
    /// keeps running, and its exit is no longer observed.
    pub async fn join(self) -> TaskExit {
        TaskExit::from_join(self.handle.await)
    }
}
