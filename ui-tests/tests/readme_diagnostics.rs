//! The diagnostics the library guide (`orchestrator/README.md`) quotes are the compiler's output
//! today: each quoted `error` block is part of one of the `.stderr` files that trybuild checks
//! against the compiler, so a reworded diagnostic fails here until the guide follows.

use std::fs;
use std::path::Path;

/// The `text` blocks of `markdown` that quote a compiler error.
fn quoted_errors(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match (&mut current, line) {
            (None, "```text") => current = Some(Vec::new()),
            (Some(block), "```") => {
                if block
                    .first()
                    .is_some_and(|first| first.starts_with("error"))
                {
                    blocks.push(block.join("\n"));
                }
                current = None;
            }
            (Some(block), line) => block.push(line),
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn the_guide_quotes_the_compilers_diagnostics_exactly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = fs::read_to_string(root.join("../orchestrator/README.md")).unwrap();
    let expected: Vec<String> = fs::read_dir(root.join("ui/fail"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "stderr"))
        .map(|path| fs::read_to_string(path).unwrap())
        .collect();

    let quoted = quoted_errors(&guide);
    assert!(
        quoted.len() >= 8,
        "the guide's diagnostics section went missing: {} quoted errors",
        quoted.len()
    );
    for block in &quoted {
        assert!(
            expected
                .iter()
                .any(|stderr| stderr.contains(block.as_str())),
            "the guide quotes a diagnostic that no ui/fail/*.stderr contains:\n{block}"
        );
    }
}
