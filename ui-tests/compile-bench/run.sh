#!/usr/bin/env bash
# Compile-time cost of `pipeline!`, code generation included: `cargo check` and `cargo build` of
# a crate holding a pipeline of 10, 100 or 1000 vertices written with the macro, against the same
# topology written as hand builder calls, measured in the same run, alternating, several times
# each; prints the medians, their spread and their ratio.
#
# Usage: ui-tests/compile-bench/run.sh [RUNS] [SIZES]   (default 5 runs of each; sizes "10 100 1000")
# Env:   BENCH_DIR (default ${TMPDIR:-/tmp}/pipeline-compile-bench) holds the throwaway crates and
#        their shared target dir; CARGO_FLAGS (default --offline) is passed to every cargo call;
#        BENCH_OPTIMIZE_MACROS=1 gives the crates `[profile.dev.build-override] opt-level = 3`, so
#        that proc macros (this one and those of the dependencies) run optimised;
#        BENCH_MODES (default "check build") chooses the cargo commands;
#        BENCH_QUICK=1 is 2 runs of 10 and 100 vertices, check and build (under a minute once the
#        dependencies are built).
#
# Each generated crate has its own `[workspace]` table, so it is not a member of this workspace,
# and depends on sda-orchestrator by path. Between runs only the crate's own `src/main.rs` is
# touched, so only that crate is compiled again, with CARGO_INCREMENTAL=0: the whole crate is
# expanded, type-checked and (for `build`) code-generated every time. "rustc only" times the
# crate's own rustc call through a RUSTC_WRAPPER, without cargo's start-up.
set -euo pipefail

runs=${1:-5}
sizes=${2:-"10 100 1000"}
modes=${BENCH_MODES:-"check build"}
if [[ -n ${BENCH_QUICK:-} ]]; then runs=2 sizes="10 100"; fi
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-${TMPDIR:-/tmp}/pipeline-compile-bench}
flags=${CARGO_FLAGS:---offline}
export CARGO_TARGET_DIR="$bench/target"

# A size's shape: `lanes` sources, each followed by `depth` operators, all merged into one
# operator that feeds `sinks` sinks: lanes + lanes * depth + 1 + sinks vertices.
shape() { # vertices -> "lanes depth sinks"
    case $1 in
        10) echo "1 7 1" ;;      # 1 + 7 + 1 + 1
        100) echo "10 8 9" ;;    # 10 + 80 + 1 + 9
        1000) echo "20 48 19" ;; # 20 + 960 + 1 + 19
        *) echo "unsupported size $1" >&2; exit 2 ;;
    esac
}

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

with_macro() { # vertices
    local lanes depth sinks sources
    read -r lanes depth sinks <<< "$(shape "$1")"
    sources=$lanes
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
    echo "    assert_eq!(graph.topology().vertices.len(), $1);"
    echo "}"
}

by_hand() { # vertices
    local lanes depth sinks sources
    read -r lanes depth sinks <<< "$(shape "$1")"
    sources=$lanes
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
    echo "    assert_eq!(graph.topology().vertices.len(), $1);"
    echo "}"
}

mkdir -p "$bench"
for size in $sizes; do
    for variant in hand macro; do
        dir="$bench/$variant-$size"
        mkdir -p "$dir/src"
        manifest "compile-bench-$variant-$size" > "$dir/Cargo.toml"
        cp "$root/Cargo.lock" "$dir/Cargo.lock"
        if [[ $variant == macro ]]; then with_macro "$size" > "$dir/src/main.rs"; else by_hand "$size" > "$dir/src/main.rs"; fi
    done
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

compile() { # mode variant size -> "cargo-seconds rustc-seconds"
    local dir="$bench/$2-$3" start end
    touch "$dir/src/main.rs"
    start=$(date +%s.%N)
    CARGO_INCREMENTAL=0 cargo "$1" $flags -q --manifest-path "$dir/Cargo.toml"
    end=$(date +%s.%N)
    echo "$(awk -v a="$end" -v b="$start" 'BEGIN { printf "%.3f", a - b }') $(cat "$BENCH_RUSTC_LOG")"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'; }

echo "building dependencies and warming up (not timed) ..." >&2
for size in $sizes; do
    for mode in $modes; do
        compile "$mode" hand "$size" > /dev/null
        compile "$mode" macro "$size" > /dev/null
    done
done

summary() { # label hand-times macro-times
    local hand macro
    hand=$(printf '%s\n' $2 | median)
    macro=$(printf '%s\n' $3 | median)
    printf '  %-22s hand %.3f s [%s], macro %.3f s [%s], macro/hand %.3f\n' "$1" \
        "$hand" "$(printf '%s\n' $2 | spread)" "$macro" "$(printf '%s\n' $3 | spread)" \
        "$(awk -v a="$macro" -v b="$hand" 'BEGIN { print a / b }')"
}

echo "rustc: $(rustc --version); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "runs: $runs of each, hand and macro alternating (the first of each pair alternates too); CARGO_INCREMENTAL=0"
for size in $sizes; do
    for mode in $modes; do
        hand_cargo="" macro_cargo="" hand_rustc="" macro_rustc=""
        for ((run = 0; run < runs; run++)); do
            if ((run % 2 == 0)); then order="hand macro"; else order="macro hand"; fi
            for variant in $order; do
                read -r cargo_s rustc_s <<< "$(compile "$mode" "$variant" "$size")"
                if [[ $variant == hand ]]; then
                    hand_cargo+="$cargo_s " hand_rustc+="$rustc_s "
                else
                    macro_cargo+="$cargo_s " macro_rustc+="$rustc_s "
                fi
            done
        done
        echo "$size vertices, cargo $mode:"
        summary "wall" "$hand_cargo" "$macro_cargo"
        summary "the crate's rustc only" "$hand_rustc" "$macro_rustc"
    done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
