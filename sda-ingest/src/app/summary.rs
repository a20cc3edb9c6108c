//! The final report: one JSON line on stdout.

use std::path::Path;
use std::time::Duration;

use sda_orchestrator::SupervisorEvent;
use serde::Serialize;

use crate::catalog::SharedCatalog;
use crate::pipeline::CounterSnapshot;

/// How a run ended, printed by the binary as one JSON line on stdout.
///
/// The counters are flattened in (see [`CounterSnapshot`] for their definitions), with
/// `sources`: per source, `read = delivered + dead_lettered + duplicates + dropped` after a
/// clean drain. On a successful run `lost`, `unwritten` and `dropped_items` are 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Every pipeline counter, with `lost`.
    #[serde(flatten)]
    pub counters: CounterSnapshot,
    /// Operator restarts over the run.
    pub restarts: u64,
    /// Items the orchestrator dropped with a finished or failed vertex's queue.
    pub dropped_items: u64,
    /// How the supervisor ended the run.
    pub outcome: SupervisorEvent,
    /// The operator that ended the run, when one did.
    pub failed_operator: Option<String>,
    /// Wall-clock seconds from start to the end of the drain.
    pub elapsed_s: f64,
    /// Where the output files are.
    pub out_dir: String,
    /// Objects in the catalog in use at the end.
    pub catalog_objects: usize,
    /// Element sets of that catalog rejected (skipped) when it was loaded.
    pub catalog_rejects: usize,
    /// Its generation: 1 for the catalog loaded at start, one more per catalog swapped in.
    pub catalog_generation: u64,
    /// Catalog refreshes that failed (the catalog in use was kept).
    pub catalog_refresh_failures: u64,
}

impl Summary {
    pub(super) fn new(
        counters: CounterSnapshot,
        restarts: u64,
        dropped_items: u64,
        outcome: SupervisorEvent,
        elapsed: Duration,
        out_dir: &Path,
        catalog: Option<&SharedCatalog>,
    ) -> Summary {
        let current = catalog.map(SharedCatalog::current);
        let summary = current.as_ref().map(|c| c.summary());
        Summary {
            catalog_objects: summary.map_or(0, |s| s.objects),
            catalog_rejects: summary.map_or(0, |s| s.rejects),
            catalog_generation: summary.map_or(0, |s| s.generation),
            catalog_refresh_failures: catalog.map_or(0, SharedCatalog::refresh_failures),
            counters,
            restarts,
            dropped_items,
            failed_operator: outcome.operator().map(str::to_owned),
            outcome,
            elapsed_s: elapsed.as_secs_f64(),
            out_dir: out_dir.display().to_string(),
        }
    }

    /// Whether the run ended cleanly with every record accounted for: nothing lost, dropped or
    /// unwritten, and every source's identity balanced.
    pub fn is_success(&self) -> bool {
        let c = &self.counters;
        self.outcome.is_clean()
            && c.lost == 0
            && c.unwritten == 0
            && self.dropped_items == 0
            && c.sources.values().all(|s| s.balances())
    }

    /// The process exit code: 0 on success, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.is_success())
    }

    /// Logs the outcome: info when clean, error naming the operator otherwise.
    pub(super) fn log(&self) {
        let c = &self.counters;
        if self.is_success() {
            tracing::info!(
                delivered = c.delivered,
                dead_lettered = c.dead_lettered,
                duplicates = c.duplicates,
                alerts = c.alerts,
                "pipeline finished cleanly"
            );
        } else {
            let unbalanced: Vec<&str> = c
                .sources
                .iter()
                .filter(|(_, s)| !s.balances())
                .map(|(name, _)| *name)
                .collect();
            tracing::error!(
                operator = self.failed_operator.as_deref().unwrap_or("-"),
                outcome = %self.outcome,
                lost = c.lost,
                unwritten = c.unwritten,
                dropped_items = self.dropped_items,
                unbalanced_sources = %unbalanced.join(","),
                "pipeline failed"
            );
        }
    }
}
