// Stall settings on declarations: any `Duration` expression, `report` or `restart`, in any
// order with `restart`; they reach the graph.
use std::time::Duration;

use sda_orchestrator::{OnStall, RestartPolicy, pipeline};
use ui_tests::{discard, emit, map};

const PATIENT: Duration = Duration::from_secs(120);

fn main() {
    let slow = Duration::from_millis(1500);
    let graph = pipeline! {
        source   radar  = emit(vec![1_u64]), stall_after = Duration::from_secs(1);
        operator decode = map(|n: u64| n), on_stall = restart, stall_after = slow,
                                           restart = RestartPolicy::Always;
        operator screen = map(|n: u64| n), stall_after = PATIENT * 2, on_stall = report;
        sink     out    = discard();

        radar -> decode -> screen -> out;
    };
    let vertices = graph.topology().vertices;
    let settings: Vec<(Duration, OnStall)> =
        vertices.iter().map(|v| (v.stall_after, v.on_stall)).collect();
    assert_eq!(
        settings,
        [
            (Duration::from_secs(1), OnStall::Report),
            (Duration::from_millis(1500), OnStall::Restart),
            (Duration::from_secs(240), OnStall::Report),
            (sda_orchestrator::supervisor::DEFAULT_STALL_AFTER, OnStall::Report),
        ]
    );
    assert_eq!(vertices[1].restart, RestartPolicy::Always);
    assert!(graph.build().is_ok());
}
