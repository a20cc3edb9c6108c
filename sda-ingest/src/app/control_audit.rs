//! `control_audit.jsonl`: every control action of the control plane (accepted or refused), one
//! JSON line each, hash-chained like `audit.jsonl` (see [`crate::audit_chain`]) and synced to
//! disk as it is written.
//!
//! The control plane's audit hook runs on the request's task, so it only hands the record to a
//! bounded queue; one writer task appends what is queued as one block and syncs the file. A
//! record that finds the queue full (more than [`QUEUE`] actions waiting on the disk) is logged
//! at ERROR with its fields instead, so that it is never lost silently.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use sda_orchestrator::http::ControlRecord;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::audit_chain::ChainState;
use crate::pipeline::sinks::{Existing, JsonlFile, files};

/// How many control records may wait for the writer.
pub(super) const QUEUE: usize = 1024;

/// The most records written as one block.
const BLOCK: usize = 64;

/// How long a stop waits for the writer to finish.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The writer of `control_audit.jsonl` and the hook that feeds it.
#[derive(Debug)]
pub(super) struct ControlAudit {
    sender: Option<mpsc::Sender<ControlRecord>>,
    task: JoinHandle<anyhow::Result<Option<ChainState>>>,
}

impl ControlAudit {
    /// Creates (or empties, unless `existing` says to continue it) `control_audit.jsonl` in
    /// `out_dir` and starts its writer.
    pub(super) async fn start(out_dir: &Path, existing: Existing) -> anyhow::Result<Self> {
        let path = out_dir.join(files::CONTROL_AUDIT);
        let mut file = match existing {
            Existing::Append => {
                tokio::fs::File::create(&path)
                    .await
                    .with_context(|| format!("cannot create {}", path.display()))?;
                JsonlFile::open_chained("control_audit", &path).await?
            }
            Existing::Continue => {
                let owned = path.clone();
                let continued = tokio::task::spawn_blocking(move || {
                    crate::pipeline::sinks::continue_file(&owned, true, None)
                })
                .await
                .context("reading the control audit panicked")??;
                JsonlFile::open_continued(
                    "control_audit",
                    &path,
                    Some(continued.chain.unwrap_or(ChainState::GENESIS)),
                )
                .await?
            }
        };
        let (sender, mut receiver) = mpsc::channel::<ControlRecord>(QUEUE);
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BLOCK);
            while receiver.recv_many(&mut batch, BLOCK).await > 0 {
                for record in batch.drain(..) {
                    let line = serde_json::to_vec(&record)?;
                    file.write_line(&line).await?;
                }
                // One block per batch, on disk before the next.
                file.finish().await?;
            }
            Ok(file.chain_state())
        });
        Ok(ControlAudit {
            sender: Some(sender),
            task,
        })
    }

    /// The hook for `ControlPlane::with_audit`.
    pub(super) fn hook(&self) -> impl Fn(&ControlRecord) + Send + Sync + 'static + use<> {
        let sender = self.sender.clone();
        move |record: &ControlRecord| {
            let Some(sender) = &sender else { return };
            if let Err(e) = sender.try_send(record.clone()) {
                tracing::error!(
                    record = %serde_json::to_string(record).unwrap_or_default(),
                    error = %e,
                    "control audit: the record could not be queued for control_audit.jsonl"
                );
            }
        }
    }

    /// Waits (at most five seconds) for the writer to write what is queued, once every hook
    /// is gone (the control plane has stopped), and logs the chain's head.
    pub(super) async fn stop(mut self) {
        self.sender.take();
        match tokio::time::timeout(STOP_WAIT, &mut self.task).await {
            Ok(Ok(Ok(state))) => {
                if let Some(state) = state {
                    tracing::info!(
                        file = files::CONTROL_AUDIT,
                        blocks = state.next_seq,
                        head = %state.head_hex(),
                        "audit chain head"
                    );
                }
            }
            Ok(Ok(Err(e))) => {
                tracing::error!(error = format!("{e:#}"), "control audit: writing failed");
            }
            Ok(Err(e)) => tracing::error!(error = %e, "control audit: the writer failed"),
            Err(_) => {
                self.task.abort();
                tracing::error!("control audit: the writer did not finish in time");
            }
        }
    }
}
