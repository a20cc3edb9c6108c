//! A vertex's state is copied at its barrier and serialized with the checkpoint's write, off
//! the vertex's path: the vertex goes on handling items while its state is being serialized;
//! and the state agrees with the source's position when the source and the coordinator run in
//! parallel.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use sda_orchestrator::checkpoint::{CheckpointConfig, CheckpointStore};
use sda_orchestrator::{
    OperatorGraph, RestartPolicy, SinkContext, SourceContext, SupervisorPolicy,
};
use serde::{Deserialize, Serialize, Serializer};

/// How long the serialization waits for the sink to move on before it gives up.
const PATIENCE: Duration = Duration::from_secs(10);

/// What the serialization and the sink tell each other.
#[derive(Debug)]
struct Probe {
    /// The serialization has begun.
    serializing: AtomicBool,
    /// The sink handled an item after that.
    moved_on: Mutex<mpsc::Sender<u64>>,
    heard: Mutex<mpsc::Receiver<u64>>,
    /// What the serialization found: the count the sink had reached while it waited.
    verdict: Mutex<Option<Option<u64>>>,
}

/// The sink's state: a count, and the probe (not serialized). Its serialization waits until
/// the sink has handled an item after the serialization began, at most [`PATIENCE`]: were
/// it done at the barrier, in the sink's own task, the sink could not move on and the wait
/// would run out.
#[derive(Debug, Clone, Default, Deserialize)]
struct Counted {
    count: u64,
    #[serde(skip)]
    probe: Option<Arc<Probe>>,
}

impl Serialize for Counted {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(probe) = &self.probe {
            let mut verdict = probe.verdict.lock().unwrap();
            if verdict.is_none() {
                probe.serializing.store(true, Ordering::SeqCst);
                let heard = probe.heard.lock().unwrap().recv_timeout(PATIENCE).ok();
                *verdict = Some(heard);
            }
        }
        #[derive(Serialize)]
        struct Plain {
            count: u64,
        }
        Plain { count: self.count }.serialize(serializer)
    }
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vertex_moves_on_while_its_state_is_serialized() {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("sda-state-copy-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&scratch.0);
    let (tx, rx) = mpsc::channel();
    let probe = Arc::new(Probe {
        serializing: AtomicBool::new(false),
        moved_on: Mutex::new(tx),
        heard: Mutex::new(rx),
        verdict: Mutex::new(None),
    });
    let mut graph = OperatorGraph::new().with_checkpoints(
        CheckpointConfig::new(&scratch.0)
            .with_interval(Duration::from_millis(20))
            .with_timeout(Duration::from_secs(30)),
    );
    let source = graph.add_source(
        "numbers",
        RestartPolicy::Never,
        |mut ctx: SourceContext<u64>| async move {
            let mut completed = ctx.completed_checkpoints::<u64>();
            let mut n = 0_u64;
            // Sends without pause (the edge's backpressure paces it) until the first
            // checkpoint has completed.
            loop {
                tokio::select! {
                    biased;
                    done = completed.next() => {
                        done?;
                        return Ok(());
                    }
                    sent = ctx.output.send_at(n, n + 1) => {
                        sent?;
                        n += 1;
                    }
                }
            }
        },
    );
    let sink_probe = Arc::clone(&probe);
    let sink = graph.add_sink(
        "count",
        RestartPolicy::Never,
        move |mut ctx: SinkContext<u64>| {
            let probe = Arc::clone(&sink_probe);
            async move {
                let state = ctx.state::<Counted>()?;
                state.lock().probe = Some(Arc::clone(&probe));
                let mut told = false;
                while ctx.input.recv().await.is_some() {
                    let count = state.update(|s| {
                        s.count += 1;
                        s.count
                    });
                    if !told && probe.serializing.load(Ordering::SeqCst) {
                        told = probe.moved_on.lock().unwrap().send(count).is_ok();
                    }
                }
                Ok(())
            }
        },
    );
    graph.connect(&source, &sink);
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        graph.build().unwrap().run(SupervisorPolicy::default()),
    )
    .await
    .expect("the graph ends once its first checkpoint has completed");
    assert!(outcome.is_clean(), "{outcome:?}");

    let verdict = probe
        .verdict
        .lock()
        .unwrap()
        .expect("the state was serialized");
    let moved_on_to = verdict.expect("the sink handled an item while its state was serialized");
    let latest = CheckpointStore::new(&scratch.0)
        .latest()
        .unwrap()
        .expect("the checkpoint completed");
    #[derive(Deserialize)]
    struct Plain {
        count: u64,
    }
    let stored: Plain = latest.state("count").unwrap().unwrap();
    // The checkpoint holds the count as the barrier found it, not as it was when serialized.
    assert!(
        stored.count < moved_on_to,
        "stored {} while the sink had reached {moved_on_to}",
        stored.count
    );
    // And it agrees with the source's position: the barrier went out between two sends, on a
    // runtime where the source and the coordinator that asked for the barrier run in parallel
    // (a send that started while the barrier was being emitted once put its item ahead of it,
    // one run in four: the state then counted an item the position did not cover).
    assert_eq!(
        latest.position::<u64>("numbers").unwrap(),
        Some(stored.count),
        "the state matches the source's position"
    );
}
