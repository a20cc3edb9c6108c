use sda_orchestrator::{RestartPolicy, pipeline};
use ui_tests::{discard, emit};

fn main() {
    let _graph = pipeline! {
        source   radar = emit(vec![1_u64]), restart = RestartPolicy::Never, restart = RestartPolicy::Always;
        sink     out   = discard();

        radar -> out;
    };
}
