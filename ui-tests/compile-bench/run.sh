#!/usr/bin/env bash
# Compile-time cost of `pipeline!`: `cargo check` of a crate holding a 100-vertex pipeline written
# with the macro, against the same topology written as hand builder calls, measured in the same
# run, alternating, several times each; prints the medians and their ratio.
#
# Usage: ui-tests/compile-bench/run.sh [RUNS]       (default 7 runs of each)
# Env:   BENCH_DIR (default ${TMPDIR:-/tmp}/pipeline-compile-bench) holds the two throwaway crates
#        and their shared target dir; CARGO_FLAGS (default --offline) is passed to every cargo call;
#        BENCH_OPTIMIZE_MACROS=1 gives both crates `[profile.dev.build-override] opt-level = 3`, so
#        that proc macros (this one and those of the dependencies) run optimised under `cargo check`.
#
# Each generated crate has its own `[workspace]` table, so it is not a member of this workspace,
# and depends on sda-orchestrator by path. Between runs only the crate's own `src/main.rs` is
# touched, so only that crate is checked again. Two modes are timed: CARGO_INCREMENTAL=0 (the
# whole crate is checked again: expansion, name resolution, type checking) and the default
# incremental mode (what an edit-check loop sees when the edit is elsewhere in the crate).
set -euo pipefail

runs=${1:-7}
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-${TMPDIR:-/tmp}/pipeline-compile-bench}
flags=${CARGO_FLAGS:---offline}
export CARGO_TARGET_DIR="$bench/target"

sources=10 lanes=10 depth=8 sinks=9   # 10 + 10 * 8 + 1 merge + 9 = 100 vertices, 99 edges

manifest() { # name
    cat <<TOML
[package]
name = "$1"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
sda-orchestrator = { path = "$root/orchestrator" }

[workspace]
TOML
    if [[ -n ${BENCH_OPTIMIZE_MACROS:-} ]]; then
        printf '\n[profile.dev.build-override]\nopt-level = 3\n'
    fi
}

prelude() {
    cat <<'RS'
#![allow(dead_code)]
use sda_orchestrator::{OperatorFactory, RestartPolicy, SinkFactory, SourceFactory};

fn emit(n: u64) -> impl SourceFactory<u64> {
    move |mut ctx| async move {
        ctx.output.send(n).await?;
        Ok(())
    }
}

fn relay() -> impl OperatorFactory<u64, u64> {
    |mut ctx| async move {
        while let Some(n) = ctx.input.recv().await {
            ctx.output.send(n + 1).await?;
        }
        Ok(())
    }
}

fn drain() -> impl SinkFactory<u64> {
    |mut ctx| async move {
        while ctx.input.recv().await.is_some() {}
        Ok(())
    }
}
RS
}

# The restart policy and capacity of a vertex and an edge vary, as in a real pipeline.
restart() { case $(($1 % 3)) in 0) echo "RestartPolicy::bounded(5, std::time::Duration::from_secs(60))" ;; 1) echo "RestartPolicy::Never" ;; *) echo "" ;; esac; }

with_macro() {
    prelude
    echo
    echo "fn main() {"
    echo "    let graph = sda_orchestrator::pipeline! {"
    local i l k r
    for ((i = 0; i < sources; i++)); do
        r=$(restart $i); echo "        source s$i = emit($i)${r:+, restart = $r};"
    done
    for ((l = 0; l < lanes; l++)); do for ((k = 0; k < depth; k++)); do
        r=$(restart $((l + k))); echo "        operator op${l}_$k = relay()${r:+, restart = $r};"
    done; done
    echo "        operator merge = relay();"
    for ((i = 0; i < sinks; i++)); do
        r=$(restart $i); echo "        sink out$i = drain()${r:+, restart = $r};"
    done
    for ((l = 0; l < lanes; l++)); do
        local chain="s$l"
        for ((k = 0; k < depth; k++)); do
            if ((k % 4 == 3)); then chain+=" -> [capacity = 256] op${l}_$k"; else chain+=" -> op${l}_$k"; fi
        done
        echo "        $chain -> merge;"
    done
    for ((i = 0; i < sinks; i++)); do echo "        merge -> out$i;"; done
    echo "    };"
    echo "    assert_eq!(graph.topology().vertices.len(), 100);"
    echo "}"
}

by_hand() {
    prelude
    echo
    echo "fn main() {"
    echo "    let mut graph = sda_orchestrator::OperatorGraph::new();"
    local i l k r
    for ((i = 0; i < sources; i++)); do
        r=$(restart $i); echo "    let s$i = graph.add_source(\"s$i\", ${r:-RestartPolicy::default()}, emit($i));"
    done
    for ((l = 0; l < lanes; l++)); do for ((k = 0; k < depth; k++)); do
        r=$(restart $((l + k))); echo "    let op${l}_$k = graph.add_operator(\"op${l}_$k\", ${r:-RestartPolicy::default()}, relay());"
    done; done
    echo "    let merge = graph.add_operator(\"merge\", RestartPolicy::default(), relay());"
    for ((i = 0; i < sinks; i++)); do
        r=$(restart $i); echo "    let out$i = graph.add_sink(\"out$i\", ${r:-RestartPolicy::default()}, drain());"
    done
    for ((l = 0; l < lanes; l++)); do
        local prev="s$l"
        for ((k = 0; k < depth; k++)); do
            if ((k % 4 == 3)); then
                echo "    graph.connect_with(&$prev, &op${l}_$k, sda_orchestrator::EdgeOptions::new().capacity(256));"
            else
                echo "    graph.connect(&$prev, &op${l}_$k);"
            fi
            prev="op${l}_$k"
        done
        echo "    graph.connect(&$prev, &merge);"
    done
    for ((i = 0; i < sinks; i++)); do echo "    graph.connect(&merge, &out$i);"; done
    echo "    assert_eq!(graph.topology().vertices.len(), 100);"
    echo "}"
}

mkdir -p "$bench"
for variant in hand macro; do
    dir="$bench/$variant"
    mkdir -p "$dir/src"
    manifest "compile-bench-$variant" > "$dir/Cargo.toml"
    cp "$root/Cargo.lock" "$dir/Cargo.lock"
    if [[ $variant == macro ]]; then with_macro > "$dir/src/main.rs"; else by_hand > "$dir/src/main.rs"; fi
done

# A RUSTC_WRAPPER that times the generated crates' own rustc invocation, so that the figures can
# also be read without cargo's start-up and fingerprinting (the same for both variants).
cat > "$bench/time-rustc.sh" <<'SH'
#!/usr/bin/env bash
case " $* " in
    *" --crate-name compile_bench_"*)
        start=$(date +%s.%N)
        "$@"
        status=$?
        end=$(date +%s.%N)
        awk -v a="$end" -v b="$start" 'BEGIN { printf "%.3f\n", a - b }' > "$BENCH_RUSTC_LOG"
        exit $status
        ;;
    *) exec "$@" ;;
esac
SH
chmod +x "$bench/time-rustc.sh"
export RUSTC_WRAPPER="$bench/time-rustc.sh" BENCH_RUSTC_LOG="$bench/rustc-time"

check() { # variant -> "cargo-seconds rustc-seconds"
    local dir="$bench/$1" start end
    touch "$dir/src/main.rs"
    start=$(date +%s.%N)
    cargo check $flags -q --manifest-path "$dir/Cargo.toml"
    end=$(date +%s.%N)
    echo "$(awk -v a="$end" -v b="$start" 'BEGIN { printf "%.3f", a - b }') $(cat "$BENCH_RUSTC_LOG")"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "building dependencies and warming up (not timed) ..." >&2
for mode in 0 1; do
    CARGO_INCREMENTAL=$mode check hand > /dev/null
    CARGO_INCREMENTAL=$mode check macro > /dev/null
done

summary() { # label hand-times macro-times
    local hand macro
    hand=$(printf '%s\n' $2 | median)
    macro=$(printf '%s\n' $3 | median)
    echo "  $1"
    echo "    hand  runs: $2"
    echo "    macro runs: $3"
    printf '    median hand %.3f s, macro %.3f s, ratio macro/hand %.3f\n' \
        "$hand" "$macro" "$(awk -v a="$macro" -v b="$hand" 'BEGIN { print a / b }')"
}

echo "rustc: $(rustc --version)"
echo "vertices: 100, edges: 99, runs: $runs of each, alternating"
for mode in 0 1; do
    hand_cargo="" macro_cargo="" hand_rustc="" macro_rustc=""
    for ((run = 0; run < runs; run++)); do
        read -r cargo_s rustc_s <<< "$(CARGO_INCREMENTAL=$mode check hand)"
        hand_cargo+="$cargo_s " hand_rustc+="$rustc_s "
        read -r cargo_s rustc_s <<< "$(CARGO_INCREMENTAL=$mode check macro)"
        macro_cargo+="$cargo_s " macro_rustc+="$rustc_s "
    done
    echo
    [[ $mode == 0 ]] && echo "CARGO_INCREMENTAL=0 (the crate checked again in full)" || echo "incremental (the default)"
    summary "cargo check, wall" "$hand_cargo" "$macro_cargo"
    summary "the crate's rustc only" "$hand_rustc" "$macro_rustc"
done
