//! Where an operator is in its life, as snapshots, the control plane and logs report it.

use serde::Serialize;

/// Where an operator is in its life. Serialized in `snake_case` (`running`, `paused`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OperatorState {
    /// Declared and wired, not started yet.
    Pending = 0,
    /// An incarnation is running.
    Running = 1,
    /// A source that was paused through [`GraphControls`](crate::control::GraphControls): started (or
    /// about to be), and holding its next send until it is resumed.
    Paused = 6,
    /// An operator or sink that has had input queued for its `stall_after` without making
    /// progress (see [`OnStall`](crate::OnStall)); back to running once it progresses.
    Stalled = 7,
    /// It failed and waits out its restart backoff.
    Restarting = 2,
    /// It returned `Ok(())`: done for good.
    Finished = 3,
    /// It panicked, spent its restart budget, or could not be restarted.
    Failed = 4,
    /// It was aborted at the shutdown deadline or during an escalation.
    Aborted = 5,
}

impl OperatorState {
    pub(super) fn from_u8(value: u8) -> Self {
        match value {
            1 => OperatorState::Running,
            2 => OperatorState::Restarting,
            3 => OperatorState::Finished,
            4 => OperatorState::Failed,
            5 => OperatorState::Aborted,
            6 => OperatorState::Paused,
            7 => OperatorState::Stalled,
            _ => OperatorState::Pending,
        }
    }

    /// The state's name as it is serialized: `pending`, `running`, `paused`, `stalled`,
    /// `restarting`, `finished`, `failed` or `aborted`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorState::Pending => "pending",
            OperatorState::Running => "running",
            OperatorState::Paused => "paused",
            OperatorState::Stalled => "stalled",
            OperatorState::Restarting => "restarting",
            OperatorState::Finished => "finished",
            OperatorState::Failed => "failed",
            OperatorState::Aborted => "aborted",
        }
    }

    /// Whether the operator is done for good: finished, failed or aborted.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OperatorState::Finished | OperatorState::Failed | OperatorState::Aborted
        )
    }
}

impl std::fmt::Display for OperatorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
