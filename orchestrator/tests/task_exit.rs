//! `Task` reports each of the four ways a future can end.

use std::time::Duration;

use sda_orchestrator::RestartPolicy;
use sda_orchestrator::supervisor::{Task, TaskExit};

#[tokio::test]
async fn ok_maps_to_ok() {
    let task = Task::spawn("fine", RestartPolicy::Never, async { Ok(()) });
    assert!(matches!(task.join().await, TaskExit::Ok));
}

#[tokio::test]
async fn an_error_maps_to_errored_with_the_error() {
    let task = Task::spawn("failing", RestartPolicy::default(), async {
        anyhow::bail!("disk full")
    });
    assert_eq!(task.restart_policy(), RestartPolicy::default());
    match task.join().await {
        TaskExit::Errored(error) => assert_eq!(error.to_string(), "disk full"),
        other => panic!("expected Errored, got {other:?}"),
    }
}

#[tokio::test]
async fn a_panic_maps_to_panicked_with_the_message() {
    let formatted = Task::spawn("formatted", RestartPolicy::Never, async {
        let frame = 7;
        if frame > 0 {
            panic!("bad frame {frame}");
        }
        Ok(())
    });
    let exit = formatted.join().await;
    assert_eq!(exit.kind(), "panicked");
    assert!(matches!(exit, TaskExit::Panicked(m) if m == "bad frame 7"));

    let literal = Task::spawn("literal", RestartPolicy::Never, async {
        panic!("static message")
    });
    assert!(matches!(literal.join().await, TaskExit::Panicked(m) if m == "static message"));
}

#[tokio::test(start_paused = true)]
async fn an_abort_maps_to_aborted() {
    let task = Task::spawn("sleeper", RestartPolicy::Never, async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    });
    assert_eq!(task.name(), "sleeper");
    task.abort();
    let exit = task.join().await;
    assert_eq!(exit.kind(), "aborted");
    assert!(matches!(exit, TaskExit::Aborted));
}
