#!/usr/bin/env bash
# A/B of one benchmark across commits, interleaved round by round.
#
#   scripts/ab-commits.sh [-r ROUNDS] [-b throughput|e2e] LABEL=REF LABEL=REF [...]
#
# Each REF is a commit, built here in release (a detached worktree and a target dir of its own
# under $AB_WORK, default /tmp/ab-commits.PID, both removed once its bench binary is copied out;
# the binaries are removed at the end unless AB_KEEP=1; AB_BUILD_WRAPPER, e.g. `chrt -i 0`,
# runs the builds under it), or the path of a bench binary already built. A target dir is never
# shared between commits: cargo names a workspace crate's artifacts by its name, version and
# dependencies, not by its path, so a crate that is the same version in two commits would be
# taken as fresh from the other commit's build. Round r runs every binary once, in an order rotated by
# r (A B C, B C A, C A B, ...), so that drift of the machine's load favours none; the first
# LABEL is the reference of the ratios.
#
# Benches (-b):
#   throughput  orchestrator/benches/throughput, only its row `chain, 10 stages per message`
#               (400,000 items one at a time through a source, 8 relays and a sink), each run
#               giving the median of AB_INNER_ROUNDS (default 3) orchestrated runs and of as
#               many hand-wired tokio runs, alternated in the same process: their wall time
#               and their CPU time (all threads), two metrics. The bench's source is this
#               tree's, copied into every commit before it is built (AB_OVERLAY, the paths to
#               copy; empty to build each commit's own), so that only the library differs.
#   e2e         sda-ingest/benches/e2e_throughput unpaced (SDA_BENCH_RATES=inf, one round per
#               run, SDA_BENCH_CADENCE_S from AB_CADENCE_S, default 0.25): the whole pipeline
#               with and without the correlator, each against its hand-wired twin; wall time
#               per observation (from obs/s) and CPU time per record, four metrics.
#
# The benches' own knobs pass through the environment: SDA_BENCH_QUICK=1 makes each run short
# (the throughput row then moves 100,000 items), for a check of the script in a few minutes
# once the binaries exist.
#
# Printed per metric and label: the median of its time per item over the rounds with min-max,
# the median of the within-run ratio against the hand-wired baseline (which the load moves
# less), and against the first label: the throughput ratio of each round (first's time / this
# one's; below 1 = slower than the first), its median and min-max, and the same for the
# within-run ratios.
set -euo pipefail

rounds=7
bench=throughput
while getopts "r:b:" opt; do
    case $opt in
        r) rounds=$OPTARG ;;
        b) bench=$OPTARG ;;
        *) echo "usage: $0 [-r ROUNDS] [-b throughput|e2e] LABEL=REF ..." >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -lt 2 ]; then
    echo "usage: $0 [-r ROUNDS] [-b throughput|e2e] LABEL=REF LABEL=REF [...]" >&2
    exit 2
fi
case $bench in
    throughput)
        package=sda-orchestrator; target=throughput
        overlay=${AB_OVERLAY-orchestrator/benches/throughput.rs} ;;
    e2e)
        package=sda-ingest; target=e2e_throughput
        overlay=${AB_OVERLAY-} ;;
    *) echo "unknown bench $bench" >&2; exit 2 ;;
esac

repo=$(git rev-parse --show-toplevel)
work=${AB_WORK:-/tmp/ab-commits.$$}
mkdir -p "$work"
cleanup() {
    for tree in "$work"/wt-*; do
        [ -d "$tree" ] && git -C "$repo" worktree remove --force "$tree" 2>/dev/null || true
    done
    if [ "${AB_KEEP:-0}" != 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

labels=()
binaries=()
for arg in "$@"; do
    label=${arg%%=*}
    ref=${arg#*=}
    if [ -x "$ref" ] && [ -f "$ref" ]; then
        binary=$ref
        echo "$label: binary $ref"
    else
        commit=$(git -C "$repo" rev-parse --verify "$ref^{commit}")
        tree=$work/wt-$label
        git -C "$repo" worktree add --quiet --detach "$tree" "$commit"
        for path in $overlay; do
            cp "$repo/$path" "$tree/$path"
            echo "$label: $path from this tree"
        done
        echo "$label: building $target at $(git -C "$repo" log -1 --format='%h %s' "$commit" | cut -c1-100)"
        binary=$( cd "$tree" && CARGO_INCREMENTAL=0 CARGO_TARGET_DIR=$work/target-$label \
            ${AB_BUILD_WRAPPER:-} cargo bench -p "$package" --bench "$target" --no-run --locked \
                --message-format=json 2>/dev/null \
            | grep "\"name\":\"$target\"" | grep -o '"executable":"[^"]*"' | tail -1 \
            | sed 's/"executable":"\(.*\)"/\1/' )
        [ -n "$binary" ] || { echo "$label: the build failed" >&2; exit 1; }
        cp "$binary" "$work/bin-$label"
        binary=$work/bin-$label
        git -C "$repo" worktree remove --force "$tree"
        rm -rf "$work/target-$label"
    fi
    labels+=("$label")
    binaries+=("$binary")
done

results=$work/results
: >"$results"
n=${#labels[@]}

# Runs binary $1 (label $2, round $3) and appends "metric label round time baseline" lines.
run_one() {
    local binary=$1 label=$2 round=$3 out
    case $bench in
        throughput)
            out=$(SDA_BENCH_ONLY="chain, 10 stages per message" \
                SDA_BENCH_ROUNDS=${AB_INNER_ROUNDS:-3} "$binary" 2>&1)
            # chain, 10 stages per message hand-wired  272.00 ms [...] | orchestrated  462.00 ms ...
            # ... | cpu hand-wired 290.00 ms orchestrated 610.00 ms
            echo "$out" | grep '^chain, 10 stages *per message' | awk -v l="$label" -v r="$round" '{
                for (i = 1; i <= NF; i++) {
                    if ($i == "hand-wired" && h == "") h = $(i + 1)
                    if ($i == "orchestrated" && o == "") o = $(i + 1)
                    if ($i == "cpu") { hc = $(i + 2); oc = $(i + 5) }
                }
                printf "chain-10-per-message-wall-ms %s %s %s %s\n", l, r, o, h
                if (oc != "") printf "chain-10-per-message-cpu-ms %s %s %s %s\n", l, r, oc, hc
            }' >>"$results"
            ;;
        e2e)
            out=$(SDA_BENCH_RATES=inf SDA_BENCH_ROUNDS=1 \
                SDA_BENCH_CADENCE_S=${AB_CADENCE_S:-0.25} "$binary" 2>&1)
            # round rate variant records obs/s p50 p99 wall cpu-µs/rec loss (the variant is one
            # word, or three: "orchestrated, no correl."): wall µs per observation = 1e6 / obs/s.
            echo "$out" | awk -v l="$label" -v r="$round" '
                $2 == "unpaced" && $3 == "orchestrated" && $4 ~ /^[0-9]+$/ { o = 1e6 / $5; oc = $9 }
                $2 == "unpaced" && $3 == "hand-wired" && $4 ~ /^[0-9]+$/ { h = 1e6 / $5; hc = $9 }
                $2 == "unpaced" && $3 == "orchestrated," { on = 1e6 / $7; onc = $11 }
                $2 == "unpaced" && $3 == "hand-wired," { hn = 1e6 / $7; hnc = $11 }
                END {
                    if (o == 0 || h == 0 || on == 0 || hn == 0) exit 1
                    printf "e2e-unpaced-wall-us-per-obs %s %s %.4f %.4f\n", l, r, o, h
                    printf "e2e-unpaced-cpu-us-per-obs %s %s %s %s\n", l, r, oc, hc
                    printf "e2e-unpaced-no-correlator-wall-us-per-obs %s %s %.4f %.4f\n", l, r, on, hn
                    printf "e2e-unpaced-no-correlator-cpu-us-per-obs %s %s %s %s\n", l, r, onc, hnc
                }' >>"$results" || true
            ;;
    esac
    if ! grep -q " $label $round " "$results"; then
        echo "$label round $round: no figures in its output:" >&2
        echo "$out" >&2
        exit 1
    fi
}

echo "bench $bench, $rounds rounds, labels ${labels[*]}; load average at start $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
for ((round = 1; round <= rounds; round++)); do
    order=()
    for ((k = 0; k < n; k++)); do order+=($(((k + round - 1) % n))); done
    for i in "${order[@]}"; do
        run_one "${binaries[$i]}" "${labels[$i]}" "$round"
    done
    echo "round $round ($(for i in "${order[@]}"; do printf '%s ' "${labels[$i]}"; done)) load $(cut -d' ' -f1 /proc/loadavg):"
    grep " $round " "$results" | awk -v r="$round" '$3 == r { printf "  %-40s %s %10.3f (hand-wired %.3f)\n", $1, $2, $4, $5 }'
done
echo "load average at end $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"

# The summary, per metric.
awk -v first="${labels[0]}" -v order="${labels[*]}" '
function median(list,    a, k, m) {
    m = split(list, a, " ")
    asort_num(a, m)
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function asort_num(a, m,    i, j, t) {
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
}
function lo(list,    a, k, m, x) { m = split(list, a, " "); x = a[1]; for (k = 2; k <= m; k++) if (a[k] < x) x = a[k]; return x }
function hi(list,    a, k, m, x) { m = split(list, a, " "); x = a[1]; for (k = 2; k <= m; k++) if (a[k] > x) x = a[k]; return x }
{
    metric[$1] = 1
    t[$1, $2, $3] = $4
    base[$1, $2, $3] = $5
    rounds[$3] = 1
    times[$1, $2] = times[$1, $2] " " $4
    rel[$1, $2] = rel[$1, $2] " " ($5 / $4)
}
END {
    nl = split(order, labels, " ")
    for (m in metric) {
        printf "\n%s (time per run: lower is faster)\n", m
        printf "  %-6s %12s %24s %14s | vs %s: throughput per round (median; min-max) | within-run ratio vs %s\n", "label", "median", "min - max", "hand/orch", first, first
        for (k = 1; k <= nl; k++) {
            l = labels[k]
            ratios = ""; nratios = ""; perround = ""
            for (r in rounds) {
                if ((m, l, r) in t && (m, first, r) in t) {
                    x = t[m, first, r] / t[m, l, r]
                    ratios = ratios " " x
                    nratios = nratios " " ((base[m, l, r] / t[m, l, r]) / (base[m, first, r] / t[m, first, r]))
                }
            }
            for (r = 1; (m, l, r) in t; r++) perround = perround sprintf(" %.3f", t[m, first, r] / t[m, l, r])
            printf "  %-6s %12.3f %11.3f - %-11.3f %14.3f | %.3f (%.3f - %.3f) [%s ] | %.3f (%.3f - %.3f)\n", l, median(times[m, l]), lo(times[m, l]), hi(times[m, l]), median(rel[m, l]), median(ratios), lo(ratios), hi(ratios), perround, median(nratios), lo(nratios), hi(nratios)
        }
    }
}' "$results"
