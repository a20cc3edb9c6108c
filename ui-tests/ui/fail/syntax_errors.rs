// Every syntax error at once: each statement is read on its own, so one does not hide the next.
use sda_orchestrator::pipeline;

fn main() {
    let _graph = pipeline! {
        source = emit(vec![1_u64]);
        source radar emit(vec![1_u64]);
        sink out = ;
        sink archive = discard() restart = RestartPolicy::Never;
        radar -> ;
        radar -> out archive;
        radar -> [capacity] out;
        42;
    };
}
