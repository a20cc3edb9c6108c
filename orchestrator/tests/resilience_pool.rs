//! `DedicatedPool`: thread placement, results and panics as values, bounds, gauges and shutdown.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use futures::poll;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use sda_orchestrator::resilience::{DedicatedPool, PoolConfig, PoolError};
use tokio::sync::oneshot;

fn new_pool(name: &str, workers: usize) -> DedicatedPool {
    DedicatedPool::new(PoolConfig::new(name).worker_threads(workers)).expect("pool starts")
}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned()
}

/// A closure that reports that it started, then blocks until released: it pins one worker.
fn blocker() -> (
    impl FnOnce() -> u32 + Send + 'static,
    oneshot::Receiver<()>,
    mpsc::Sender<()>,
) {
    // `started` is a tokio channel because the test awaits it: blocking the test's
    // current-thread runtime would stop the very task that submits the work.
    let (started_tx, started_rx) = oneshot::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let work = move || {
        started_tx.send(()).expect("test alive");
        // An error means the test dropped the sender: release either way.
        let _ = release_rx.recv();
        7
    };
    (work, started_rx, release_tx)
}

fn gauges(snapshotter: &Snapshotter, pool: &str) -> (Option<f64>, Option<f64>) {
    let snapshot = snapshotter.snapshot().into_vec();
    let read = |name: &str| {
        snapshot
            .iter()
            .find(|(key, ..)| {
                key.key().name() == name
                    && key
                        .key()
                        .labels()
                        .all(|l| l.key() == "pool" && l.value() == pool)
            })
            .map(|(.., value)| match value {
                DebugValue::Gauge(v) => v.into_inner(),
                other => panic!("not a gauge: {other:?}"),
            })
    };
    (read("pool_queue_depth"), read("pool_busy_workers"))
}

#[tokio::test]
async fn work_runs_on_the_pools_named_worker_threads() {
    let pool = new_pool("propagator", 2);
    let caller = thread_name();
    for _ in 0..8 {
        let name = pool.submit(thread_name).await.expect("runs");
        assert!(name.starts_with("propagator-"), "ran on {name}");
        assert_ne!(name, caller);
    }
    let from_future = pool.spawn(async { thread_name() }).await.expect("runs");
    assert!(from_future.starts_with("propagator-"), "{from_future}");

    // spawn_blocking inside a pool task uses the pool's own blocking threads.
    let blocking = pool
        .spawn(async { tokio::task::spawn_blocking(thread_name).await })
        .await
        .expect("runs")
        .expect("joins");
    assert!(blocking.starts_with("propagator-"), "{blocking}");
    assert_ne!(blocking, caller);
}

#[tokio::test]
async fn results_and_panics_come_back_as_values() {
    let pool = new_pool("panics", 1);
    assert_eq!(pool.submit(|| 6 * 7).await.expect("value"), 42);

    let str_panic = pool.submit(|| -> u32 { panic!("static message") }).await;
    assert!(
        matches!(&str_panic, Err(PoolError::Panicked { pool, message }) if pool == "panics" && message == "static message"),
        "{str_panic:?}"
    );
    let string_panic = pool
        .submit(|| -> u32 { panic!("formatted {}", 42) })
        .await
        .unwrap_err();
    assert_eq!(
        string_panic.to_string(),
        "task on pool `panics` panicked: formatted 42"
    );

    // The worker survived both panics.
    assert_eq!(
        pool.submit(|| "still here").await.expect("value"),
        "still here"
    );
}

#[tokio::test]
async fn submissions_wait_when_the_pool_is_full() {
    let pool = DedicatedPool::new(
        PoolConfig::new("bounded")
            .worker_threads(1)
            .max_in_flight(1),
    )
    .expect("pool starts");
    let (work, started, release) = blocker();
    let first = tokio::spawn({
        let pool = pool.clone();
        async move { pool.submit(work).await }
    });
    started.await.expect("first task started");

    let mut second = pin!(pool.submit(|| 1));
    assert!(
        poll!(second.as_mut()).is_pending(),
        "no slot is free, so the second submission must wait"
    );
    release.send(()).expect("blocker alive");
    assert_eq!(first.await.expect("joins").expect("value"), 7);
    assert_eq!(second.await.expect("value"), 1);
}

#[tokio::test]
async fn gauges_track_queued_and_busy_tasks() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // The pool registers its gauge handles when created, so only creation needs the recorder.
    let pool = metrics::with_local_recorder(&recorder, || new_pool("gauges", 1));
    assert_eq!(gauges(&snapshotter, "gauges"), (Some(0.0), Some(0.0)));

    let (work, started, release) = blocker();
    let running = tokio::spawn({
        let pool = pool.clone();
        async move { pool.submit(work).await }
    });
    started.await.expect("started");
    // The only worker is pinned, so a second task stays queued after one poll submits it.
    let mut queued = pin!(pool.submit(|| 2));
    assert!(poll!(queued.as_mut()).is_pending());
    assert_eq!(gauges(&snapshotter, "gauges"), (Some(1.0), Some(1.0)));

    release.send(()).expect("blocker alive");
    assert_eq!(running.await.expect("joins").expect("value"), 7);
    assert_eq!(queued.await.expect("value"), 2);
    assert_eq!(gauges(&snapshotter, "gauges"), (Some(0.0), Some(0.0)));
}

#[tokio::test]
async fn dropping_a_submission_cancels_a_task_that_has_not_started() {
    let pool = new_pool("cancel", 1);
    let (work, started, release) = blocker();
    let running = tokio::spawn({
        let pool = pool.clone();
        async move { pool.submit(work).await }
    });
    started.await.expect("started");

    let ran = Arc::new(AtomicBool::new(false));
    {
        let ran = Arc::clone(&ran);
        let mut queued = pin!(pool.submit(move || ran.store(true, Ordering::SeqCst)));
        assert!(poll!(queued.as_mut()).is_pending());
    } // dropped while queued
    release.send(()).expect("blocker alive");
    running.await.expect("joins").expect("value");
    // The single worker runs tasks in order; once a later task ran, the cancelled one is gone.
    pool.submit(|| ()).await.expect("runs");
    assert!(!ran.load(Ordering::SeqCst), "a cancelled task must not run");
}

#[tokio::test]
async fn shutdown_from_async_context_drains_and_then_rejects() {
    let pool = new_pool("drain", 1);
    let (work, started, release) = blocker();
    let running = tokio::spawn({
        let pool = pool.clone();
        async move { pool.submit(work).await }
    });
    started.await.expect("started");

    let shutdown = tokio::spawn({
        let pool = pool.clone();
        async move { pool.shutdown(Duration::from_secs(30)).await }
    });
    release.send(()).expect("blocker alive");
    shutdown.await.expect("joins").expect("drained in time");
    assert_eq!(
        running
            .await
            .expect("joins")
            .expect("in-flight work finished"),
        7
    );

    let late = pool.submit(|| 1).await;
    assert!(matches!(late, Err(PoolError::ShutDown { .. })), "{late:?}");
    assert_eq!(late.unwrap_err().to_string(), "pool `drain` is shut down");
    // Shutting down again is a no-op.
    pool.shutdown(Duration::from_secs(1))
        .await
        .expect("idempotent");
}

#[tokio::test(start_paused = true)]
async fn shutdown_past_its_deadline_reports_the_stragglers() {
    let pool = new_pool("straggler", 1);
    let (work, started, release) = blocker();
    let running = tokio::spawn({
        let pool = pool.clone();
        async move { pool.submit(work).await }
    });
    started.await.expect("started");

    // Virtual time: the deadline passes at once while the worker stays pinned.
    let result = pool.shutdown(Duration::from_secs(1)).await;
    assert!(
        matches!(result, Err(PoolError::ShutdownTimeout { .. })),
        "{result:?}"
    );
    release.send(()).expect("blocker alive");
    // The straggler finished or was cancelled; either way its submitter gets a value.
    let _ = running.await.expect("joins");
}

#[tokio::test]
async fn dropping_the_pool_inside_async_context_does_not_panic() {
    let pool = new_pool("dropped", 2);
    assert_eq!(pool.submit(|| 1).await.expect("value"), 1);
    drop(pool);

    // Also with work still running on it.
    let pool = new_pool("dropped-busy", 1);
    let (work, started, release) = blocker();
    let running = tokio::spawn({
        let pool = pool.clone();
        async move { pool.submit(work).await }
    });
    started.await.expect("started");
    drop(pool);
    release.send(()).expect("blocker alive");
    let _ = running.await.expect("joins");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_and_shutting_down_inside_a_multi_thread_runtime() {
    let first = new_pool("mt-drop", 1);
    first.submit(|| ()).await.expect("runs");
    drop(first);

    let second = new_pool("mt-shutdown", 1);
    second.submit(|| ()).await.expect("runs");
    second
        .shutdown(Duration::from_secs(5))
        .await
        .expect("drains");
    drop(second);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn low_priority_pools_run_their_threads_under_sched_idle() {
    let pool = DedicatedPool::new(PoolConfig::new("idle").worker_threads(1).low_priority(true))
        .expect("pool starts");
    // SCHED_IDLE is policy 5.
    let policy = pool.submit(policy_of_this_thread).await.expect("runs");
    assert_eq!(
        policy.as_deref(),
        Some("5"),
        "the pool's worker is not SCHED_IDLE"
    );
    // A pool built without it keeps the policy of the thread that built it (SCHED_OTHER, 0,
    // unless the test itself runs under another policy, as `chrt -i 0 cargo test` does).
    let here = policy_of_this_thread();
    let normal = DedicatedPool::new(PoolConfig::new("normal").worker_threads(1)).expect("starts");
    let policy = normal.submit(policy_of_this_thread).await.expect("runs");
    assert_eq!(policy, here);
}

/// Field 41 of /proc/thread-self/stat: the calling thread's scheduling policy.
#[cfg(target_os = "linux")]
fn policy_of_this_thread() -> Option<String> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("procfs");
    let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
    after_comm.split(' ').nth(41 - 3).map(str::to_owned)
}
