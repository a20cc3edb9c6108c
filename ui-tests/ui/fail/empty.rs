use sda_orchestrator::pipeline;

fn main() {
    let _graph = pipeline! {};
}
