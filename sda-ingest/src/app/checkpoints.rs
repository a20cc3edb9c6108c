//! Checkpoints of the service (`--checkpoint-interval`) and resuming from them (`--resume`).
//!
//! With an interval, the graph takes a checkpoint that often in `--out`/`checkpoints/` (the
//! library's aligned barriers: every source's position, every operator's registered state, and
//! every JSONL sink's output flushed and `fsync`ed before the checkpoint completes). With
//! `--resume`, the run starts from the latest complete checkpoint there: the simulator's
//! sources replay from their recorded positions, `dedup`'s window and the correlator's windows,
//! fused states, screening progress and raised pairs are restored, and the sinks continue
//! their files, skipping the ids already written (what was written after the checkpoint is
//! written once; dead letters go by their `dead_letter_id`, see [`crate::pipeline::origin`]). Without `--resume` the output folder, checkpoints included, is replaced.
//!
//! Replayable sources resume exactly: the simulator's in-process replay (its position is the
//! number of messages sent). The network transports are not replayable: what the radar socket,
//! the ISL stream or the optical poller had read after the last checkpoint is gone with the
//! process (the radar's kernel buffer included); they start afresh, and the summary counts what
//! they read in this run only.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use sda_orchestrator::OperatorGraph;
use sda_orchestrator::checkpoint::CheckpointConfig;

use crate::pipeline::sinks::{Existing, files};

/// The folder of `--out` that holds the checkpoints.
pub const CHECKPOINT_DIR: &str = "checkpoints";

/// How a run takes checkpoints and whether it resumes from one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointSettings {
    /// Time between checkpoints (`None`: none are taken, unless resuming).
    pub interval: Option<Duration>,
    /// Resume from the latest complete checkpoint and continue the output files.
    pub resume: bool,
}

impl CheckpointSettings {
    /// `graph` with checkpoints in `out_dir` when an interval is set or the run resumes (a
    /// resumed run keeps checkpointing, every 10 s unless told otherwise).
    pub fn apply(&self, graph: OperatorGraph, out_dir: &Path) -> OperatorGraph {
        if self.interval.is_none() && !self.resume {
            return graph;
        }
        let mut config = CheckpointConfig::new(out_dir.join(CHECKPOINT_DIR));
        if let Some(interval) = self.interval {
            config = config.with_interval(interval);
        }
        graph.with_checkpoints(config)
    }

    /// How the sinks treat what their files hold.
    pub fn existing(&self) -> Existing {
        if self.resume {
            Existing::Continue
        } else {
            Existing::Append
        }
    }
}

/// A fresh run: no checkpoint of an earlier run may be resumed from.
pub(super) async fn remove_checkpoints(out_dir: &Path) -> anyhow::Result<()> {
    let dir = out_dir.join(CHECKPOINT_DIR);
    match tokio::fs::remove_dir_all(&dir).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", dir.display())),
    }
}

/// A resumed run: the output folder and its files exist (created empty where missing); what
/// they hold is kept.
pub(super) async fn prepare_resume(out_dir: &Path) -> anyhow::Result<()> {
    tokio::fs::create_dir_all(out_dir)
        .await
        .with_context(|| format!("cannot create output folder {}", out_dir.display()))?;
    for name in files::ALL {
        let path = out_dir.join(name);
        tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await
            .with_context(|| format!("cannot open {}", path.display()))?;
    }
    Ok(())
}
