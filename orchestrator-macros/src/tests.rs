//! The stages without the compiler: what each input is parsed, checked and expanded into, and
//! which messages come out. The spans are checked by the trybuild cases in `ui-tests`.

use std::str::FromStr;

use proc_macro2::TokenStream;

use crate::{check, ctxt::Ctxt, expand, parse};

/// Runs all three stages and returns the error messages (empty on success) and the expansion.
fn run(input: &str) -> (Vec<String>, String) {
    let tokens = TokenStream::from_str(input).unwrap();
    let mut cx = Ctxt::new();
    let pipeline = parse::parse(tokens, &mut cx);
    let plan = check::check(&pipeline, &mut cx);
    let errors = cx.finish().err();
    let expansion = expand::expand(&plan, errors.as_ref()).to_string();
    let messages = errors.map_or_else(Vec::new, |e| e.into_iter().map(|e| e.to_string()).collect());
    (messages, expansion)
}

fn errors(input: &str) -> Vec<String> {
    run(input).0
}

const VALID: &str = "
    source radar = radar(), restart = RestartPolicy::Never;
    operator normalize = normalize();
    sink archive = archive();
    radar -> normalize -> [capacity = 256] archive;
";

#[test]
fn a_valid_pipeline_expands_into_builder_calls_in_order() {
    let (messages, expansion) = run(VALID);
    assert!(messages.is_empty(), "{messages:?}");
    let expected = [
        "OperatorGraph :: new ()",
        "add_source (\"radar\" , RestartPolicy :: Never , radar ())",
        "add_operator (\"normalize\" , :: sda_orchestrator :: RestartPolicy :: default () , normalize ())",
        "add_sink (\"archive\"",
        "connect (& __pipeline_radar , & __pipeline_normalize)",
        "connect_with (& __pipeline_normalize , & __pipeline_archive , :: sda_orchestrator :: EdgeOptions :: new () . capacity (256) ,)",
    ];
    let mut rest = expansion.as_str();
    for piece in expected {
        let at = rest
            .find(piece)
            .unwrap_or_else(|| panic!("`{piece}` missing in order from {expansion}"));
        rest = &rest[at + piece.len()..];
    }
    assert!(!expansion.contains("compile_error"));
}

#[test]
fn statements_may_come_in_any_order() {
    let input = "a -> b; sink b = f(); source a = g();";
    assert!(errors(input).is_empty());
}

#[test]
fn cycles_are_named_in_order() {
    let input = "
        source s = f(); operator a = f(); operator b = f(); operator c = f(); sink o = f();
        s -> a -> b -> c -> o; c -> a;
    ";
    assert_eq!(errors(input), ["cycle detected: a -> b -> c -> a"]);
}

#[test]
fn a_self_edge_is_reported_once() {
    let input = "source s = f(); operator a = f(); sink o = f(); s -> a -> o; a -> a;";
    assert_eq!(errors(input), ["operator `a` has an edge to itself"]);
}

#[test]
fn missing_edges_say_which_direction() {
    let input = "source s = f(); operator dedup = f(); operator lonely = f(); sink o = f();
                 s -> o; dedup -> o; s -> lonely;";
    assert_eq!(
        errors(input),
        [
            "operator `dedup` has no incoming edge",
            "operator `lonely` has no outgoing edge"
        ]
    );
}

#[test]
fn role_errors() {
    let input = "source s = f(); source t = f(); sink o = f(); sink p = f();
                 s -> o; t -> o; s -> t; o -> p;";
    assert_eq!(
        errors(input),
        [
            "edge `s -> t` points into source `t`: sources have no inputs",
            "edge `o -> p` leaves sink `o`: sinks have no outputs",
        ]
    );
}

#[test]
fn unknown_names_get_a_suggestion_when_one_is_close() {
    let input = "source radar = f(); sink archive = f(); radr -> archive; radar -> telemetry;";
    assert_eq!(
        errors(input),
        [
            "unknown vertex `radr`: did you mean `radar`?",
            "unknown vertex `telemetry`: no source, operator or sink has this name",
        ]
    );
}

#[test]
fn duplicate_names_are_reported_at_every_site() {
    let input = "source a = f(); operator a = f(); sink a = f(); sink o = f(); a -> o;";
    let suffix = |n: &str| format!("duplicate name `a`: every vertex needs its own name ({n})");
    assert_eq!(errors(input), [suffix("1/3"), suffix("2/3"), suffix("3/3")]);
}

#[test]
fn attributes_are_checked() {
    let input = "
        source s = f(), restart = A, restart = B, priority = 1, restat = C, capacity = 3;
        sink o = f();
        s -> [capacity = 0, capacity = 2, restart = D] o;
    ";
    assert_eq!(
        errors(input),
        [
            "duplicate attribute `restart`: give each attribute at most once; valid attributes \
             on a declaration: `restart`, `stall_after`, `on_stall`",
            "unknown attribute `priority` on a declaration: `priority` belongs on an edge, in \
             brackets before its target: `a -> [priority = ...] b`",
            "unknown attribute `restat` on a declaration: did you mean `restart`? valid \
             attributes: `restart`, `stall_after`, `on_stall`",
            "unknown attribute `capacity` on a declaration: `capacity` belongs on an edge, in \
             brackets before its target: `a -> [capacity = ...] b`",
            "duplicate attribute `capacity`: give each attribute at most once; valid attributes \
             on an edge: `capacity`, `priority`, `broadcast`, `filter`",
            "unknown attribute `restart` on an edge: `restart` belongs on a declaration, after its \
             factory: `operator a = ..., restart = ...;`",
            "edge capacity must be at least 1: an edge holds at least one item",
        ]
    );
}

#[test]
fn an_empty_pipeline_is_an_error() {
    assert_eq!(
        errors(""),
        ["pipeline is empty: declare at least one source and one sink"]
    );
}

#[test]
fn errors_come_with_a_stub_of_the_right_type_and_without_the_wrong_edges() {
    let input = "source s = f(); sink o = f(); sink p = f(); s -> o; o -> p; s -> p; s -> p;";
    let (messages, expansion) = run(input);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(expansion.contains("compile_error"));
    assert!(expansion.contains("OperatorGraph :: new ()"));
    // The edge out of a sink and the repeated edge are left out; the good ones stay.
    assert_eq!(expansion.matches("connect (").count(), 2, "{expansion}");
}

#[test]
fn a_misspelt_keyword_is_read_as_the_closest_one() {
    let input = "source s = f(); operater a = f(); sink o = f(); s -> a -> o;";
    assert_eq!(
        errors(input),
        [
            "expected `source`, `operator` or `sink` to declare a vertex, or `->` to start an edge; \
          did you mean `operator`?"
        ]
    );
}

#[test]
fn a_missing_semicolon_costs_one_error() {
    let input = "source s = f() sink o = f(); s -> o";
    assert_eq!(
        errors(input),
        [
            "expected `;` after this statement",
            "expected `;` after the last statement",
        ]
    );
}

#[test]
fn a_broken_statement_does_not_cascade() {
    // The edge statement does not parse; its names are not reported as missing edges, and the
    // declaration that does not parse is not reported as unknown.
    let input = "source s = f(); sink o = f(); s -> [capacity 1] o; sink = g(); s -> p;";
    let messages = errors(input);
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[0], "expected `=` and a value after `capacity`");
    assert_eq!(messages[1], "expected the sink's name after `sink`");
    assert_eq!(
        messages[2],
        "unknown vertex `p`: no source, operator or sink has this name"
    );
}

#[test]
fn nothing_panics_on_arbitrary_token_sequences() {
    let alphabet = [
        "source",
        "sink",
        "a",
        "b",
        "=",
        "->",
        ";",
        ",",
        "[capacity = 1]",
        "restart",
        "1",
        "{}",
    ];
    let mut sequence = Vec::new();
    let mut count = 0;
    // Every sequence of up to four tokens: 12^4 + 12^3 + ... inputs.
    fn walk(alphabet: &[&str], sequence: &mut Vec<usize>, depth: usize, count: &mut usize) {
        let input: Vec<&str> = sequence.iter().map(|&i| alphabet[i]).collect();
        let _ = run(&input.join(" "));
        *count += 1;
        if depth == 0 {
            return;
        }
        for i in 0..alphabet.len() {
            sequence.push(i);
            walk(alphabet, sequence, depth - 1, count);
            sequence.pop();
        }
    }
    walk(&alphabet, &mut sequence, 4, &mut count);
    assert!(count > 20_000);
}

#[test]
fn suggestions_and_hygiene_helpers() {
    let (messages, expansion) = run("source r#type = f(); sink o = f(); r#type -> o;");
    assert!(messages.is_empty(), "{messages:?}");
    assert!(expansion.contains("add_source (\"type\""), "{expansion}");
    assert!(expansion.contains("__pipeline_type"), "{expansion}");
}

#[test]
fn priority_and_broadcast_edges_expand_into_edge_options() {
    let (messages, expansion) = run("
        source s = f();
        operator p = g();
        sink a = h();
        sink d = h();
        s -> [capacity = 64, priority = classify] p;
        p -> a;
        p -> [broadcast = 16] d;
    ");
    assert!(messages.is_empty(), "{messages:?}");
    assert!(
        expansion.contains("EdgeOptions :: new () . capacity (64) . priority (classify) ,"),
        "{expansion}"
    );
    assert!(
        expansion.contains("EdgeOptions :: new () . broadcast (16) ,"),
        "{expansion}"
    );
}

#[test]
fn filtered_edges_expand_into_edge_options() {
    let (messages, expansion) = run("
        source s = f();
        sink a = h();
        sink d = h();
        s -> [filter = is_ok] a;
        s -> [capacity = 8, priority = classify, filter = is_err] d;
    ");
    assert!(messages.is_empty(), "{messages:?}");
    assert!(
        expansion.contains("EdgeOptions :: new () . filter (is_ok) ,"),
        "{expansion}"
    );
    assert!(
        expansion.contains(
            "EdgeOptions :: new () . capacity (8) . priority (classify) . filter (is_err) ,"
        ),
        "{expansion}"
    );
}

#[test]
fn broadcast_conflicts_are_reported() {
    let input = "
        source s = f();
        sink a = h();
        sink b = h();
        s -> [broadcast = 8, priority = classify] a;
        s -> [capacity = 4, broadcast = 0] b;
    ";
    assert_eq!(
        errors(input),
        [
            "an edge cannot be both `broadcast` (lossy) and `priority` (lanes): choose one",
            "edge capacity must be at least 1: an edge holds at least one item",
            "`broadcast = N` already gives the edge's capacity (its ring size): drop `capacity`",
        ]
    );
}

#[test]
fn stall_settings_expand_into_builder_calls_after_their_vertex() {
    let (messages, expansion) = run("
        source s = f();
        operator o = g(), stall_after = Duration::from_secs(5), on_stall = restart;
        sink k = h(), on_stall = report, restart = RestartPolicy::Never;
        s -> o -> k;
    ");
    assert!(messages.is_empty(), "{messages:?}");
    let expected = [
        "add_operator (\"o\"",
        "stall_after (& __pipeline_o , Duration :: from_secs (5))",
        "on_stall (& __pipeline_o , :: sda_orchestrator :: OnStall :: Restart)",
        "add_sink (\"k\" , RestartPolicy :: Never",
        "on_stall (& __pipeline_k , :: sda_orchestrator :: OnStall :: Report)",
    ];
    let mut rest = expansion.as_str();
    for piece in expected {
        let at = rest
            .find(piece)
            .unwrap_or_else(|| panic!("`{piece}` missing in order from {expansion}"));
        rest = &rest[at + piece.len()..];
    }
}

#[test]
fn bad_stall_settings_are_reported() {
    let input = "
        source s = f();
        operator a = g(), stall_after = 30, on_stall = restrat;
        operator b = g(), stall_after = Duration::from_secs(0), on_stall = \"report\";
        operator c = g(), stall_after = std::time::Duration::ZERO, on_stall = OnStall::Restart;
        operator d = g(), stall_after = Duration::from_millis(0.0), on_stall = never;
        sink k = h(), stall_afer = Duration::from_secs(1);
        s -> a -> b -> c -> d -> k;
    ";
    let zero = "`stall_after` must be longer than zero: the watchdog would report the vertex as \
                soon as one item waited (`Duration::MAX` turns it off for this vertex)";
    assert_eq!(
        errors(input),
        [
            "`stall_after` takes a `Duration`, such as `Duration::from_secs(30)`: a bare number \
             has no unit",
            "`on_stall` takes `report` or `restart`, not `restrat`: did you mean `restart`?",
            zero,
            "`on_stall` takes `report` or `restart`, without quotes: `on_stall = report`",
            zero,
            "`on_stall` takes `report` or `restart`",
            zero,
            "`on_stall` takes `report` or `restart`, not `never`",
            "unknown attribute `stall_afer` on a declaration: did you mean `stall_after`? valid \
             attributes: `restart`, `stall_after`, `on_stall`",
        ]
    );
    // On an edge, they say where they belong.
    assert_eq!(
        errors("source s = f(); sink k = h(); s -> [stall_after = x] k;"),
        [
            "unknown attribute `stall_after` on an edge: `stall_after` belongs on a declaration, \
          after its factory: `operator a = ..., stall_after = ...;`"
        ]
    );
}
