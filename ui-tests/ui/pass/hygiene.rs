// Statements in any order, raw identifiers, a trailing comma, and vertex names that are also the
// names of the caller's variables: the macro's own bindings never shadow the caller's.
use sda_orchestrator::pipeline;
use ui_tests::{discard, emit, map};

fn main() {
    let numbers = vec![1_u64, 2];
    let __pipeline_graph = 7_u64;
    let __pipeline_numbers = 9_u64;
    let graph = pipeline! {
        numbers -> r#type -> out;
        operator r#type = map(|n: u64| n + 1);
        source   numbers = emit(numbers.iter().map(|n| n + __pipeline_graph + __pipeline_numbers).collect());
        sink     out = discard(),;
    };
    let names: Vec<_> = graph.topology().vertices.into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["type", "numbers", "out"]);
    assert_eq!(numbers, [1, 2]);
    assert!(graph.build().is_ok());
}
