use sda_orchestrator::{RestartPolicy, pipeline};
use ui_tests::{discard, emit, map};

fn main() {
    let _graph = pipeline! {
        source   radar     = emit(vec![1_u64]);
        source   optical   = emit(vec![2_u64]);
        operator normalize = map(|n: u64| n), restat = RestartPolicy::Never;
        operator dedup     = map(|n: u64| n);
        operator normalize = map(|n: u64| n);
        sink     archive   = discard();

        radar -> normalize -> archive;
        optcal -> normalize;
        archive -> dedup;
        dedup -> optical;
    };
}
