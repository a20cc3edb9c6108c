//! The `pipeline!` compile-pass and compile-fail cases.
//!
//! Each `ui/fail/*.rs` holds one mistake and its `.stderr` the exact diagnostic users see;
//! regenerate them with `TRYBUILD=overwrite cargo test -p ui-tests --test ui` and read the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/fail/*.rs");
}
