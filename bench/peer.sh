#!/usr/bin/env bash
# kumo and llama.cpp side by side, in the same minutes, on the bench models (bench/run.sh makes them).
# The reference figures of ../shared/bench/REFERENCE.md were measured on another day by a native
# build; this host's speed moves by ±30 % within minutes, so the only comparison that holds is one
# taken pair by pair. Two llama.cpp engines (-e):
#   native (default): llama.cpp compiled here with -O3 -march=native, OpenMP, sgemm and repacking on,
#     from the llama.cpp sources the npm registry carries (bench/native-ref.sh builds it once into
#     bench/.native-ref), timed by bench/ref_bench.c the way llama-bench times;
#   node: the prebuilt CPU library of the node-llama-cpp npm package (its zen4/icelake/... variant
#     picked at run time), driven by bench/reference.mjs, installed once into bench/.refengine.
#
# usage: bench/peer.sh [-e native|node] [-p 512] [-n 128] [-d 0] [-t 2] [-r 3] [-k 2] [-o FILE] [MODEL-TYPE ...]
#   -d depth (native engine only): each run's tests follow D tokens already in the context, untimed
#   (llama-bench's -d), to compare the attention over a long context.
#   -k rounds: each round runs kumo, then llama.cpp, on the model; the table shows each engine's best
#   round (mean ± stddev of its R runs) and the ratio of the two bests. -o defaults to bench/PEER.md
#   (native) or bench/PEER-node.md (node).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/reference_figures.sh

KUMO=${KUMO:-build/kumo}
NLC_VERSION=3.22.1
REFDIR=${KUMO_REFENGINE_DIR:-bench/.refengine}
P=512 N=128 D=0 T=2 R=3 K=2 OUT= ENGINE=native
while getopts "e:p:n:d:t:r:k:o:" opt; do
    case $opt in
    e) ENGINE=$OPTARG ;; p) P=$OPTARG ;; n) N=$OPTARG ;; d) D=$OPTARG ;; t) T=$OPTARG ;; r) R=$OPTARG ;; k) K=$OPTARG ;; o) OUT=$OPTARG ;;
    *) echo "usage: bench/peer.sh [-e native|node] [-p P] [-n N] [-d DEPTH] [-t THREADS] [-r REPS] [-k ROUNDS] [-o OUT] [MODEL-TYPE ...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ -x "$KUMO" ] || { echo "bench/peer.sh: $KUMO not found (run make first)" >&2; exit 1; }
case $ENGINE in
native)
    REF=$(bench/native-ref.sh)
    OUT=${OUT:-bench/PEER.md}
    ref_run() { "$REF" "$1" -p "$P" -n "$N" -d "$D" -t "$T" -r "$R"; }
    ;;
node)
    [ "$D" = 0 ] || { echo "bench/peer.sh: -d needs the native engine" >&2; exit 2; }
    command -v node >/dev/null || { echo "bench/peer.sh: node not found" >&2; exit 1; }
    if [ ! -f "$REFDIR/node_modules/node-llama-cpp/package.json" ]; then
        echo "installing node-llama-cpp $NLC_VERSION into $REFDIR" >&2
        mkdir -p "$REFDIR"
        # --ignore-scripts: the prebuilt binaries come as npm packages; nothing is compiled or downloaded
        npm install --prefix "$REFDIR" --ignore-scripts --no-audit --no-fund "node-llama-cpp@$NLC_VERSION" >&2
    fi
    export KUMO_REFENGINE_DIR=$(cd "$REFDIR" && pwd)
    OUT=${OUT:-bench/PEER-node.md}
    ref_run() { node bench/reference.mjs "$1" -p "$P" -n "$N" -t "$T" -r "$R"; }
    ;;
*) echo "bench/peer.sh: -e takes native or node" >&2; exit 2 ;;
esac

IDS=("$@")
if [ ${#IDS[@]} -eq 0 ]; then
    for s in qwen3-0.6b llama-1b qwen3moe-mini; do for ty in q8_0 q4_0 q4_k_m; do IDS+=("$s-$ty"); done; done
fi

json_num() { sed -n "s/.*\"$1\": *\([-0-9.e+]*\).*/\1/p"; }
# best of the rounds by mean: "mean sd"
best() { sort -g -r -k1,1 | head -1; }

ROWS=()
for id in "${IDS[@]}"; do
    f="bench/models/$id.gguf"
    [ -f "$f" ] || { echo "bench/peer.sh: $f not found (bench/run.sh synthesizes it)" >&2; exit 1; }
    kpp=() ktg=() lpp=() ltg=()
    for ((k = 1; k <= K; k++)); do
        echo "round $k: $id kumo" >&2
        j=$("$KUMO" bench -m "$f" -p "$P" -n "$N" -d "$D" -t "$T" -r "$R" --json)
        kpp+=("$(echo "$j" | json_num pp_tok_s) $(echo "$j" | json_num pp_stddev)")
        ktg+=("$(echo "$j" | json_num tg_tok_s) $(echo "$j" | json_num tg_stddev)")
        echo "round $k: $id llama.cpp" >&2
        j=$(ref_run "$f")
        lpp+=("$(echo "$j" | json_num pp_tok_s) $(echo "$j" | json_num pp_stddev)")
        ltg+=("$(echo "$j" | json_num tg_tok_s) $(echo "$j" | json_num tg_stddev)")
    done
    ROWS+=("$id $(printf '%s\n' "${kpp[@]}" | best) $(printf '%s\n' "${lpp[@]}" | best) $(printf '%s\n' "${ktg[@]}" | best) $(printf '%s\n' "${ltg[@]}" | best)")
done

REFMD=${KUMO_SHARED:-../shared}/bench/REFERENCE.md
DFLAG= AT=
[ "$D" = 0 ] || { DFLAG=" -d $D"; AT=" @ d$D"; }

{
    echo "# kumo and llama.cpp side by side"
    echo
    if [ "$ENGINE" = native ]; then
        engine_text="\`bench/.native-ref/ref_bench MODEL\` (bench/ref_bench.c: llama.cpp built here by bench/native-ref.sh with -O3 -march=native, OpenMP, sgemm and repacking on, from the llama.cpp sources of the npm packages @fugood/llama.node 1.7.15 and llama.rn 0.12.9; timed as llama-bench times: a cleared context per run, pp in batches of 2048, tg one token at a time, a warm-up run first, flash attention auto)"
    else
        engine_text="\`node bench/reference.mjs MODEL\` (llama.cpp from node-llama-cpp $NLC_VERSION's prebuilt CPU library, the same tests: a fresh context per run, pp in one batch, tg one token at a time with logits)"
    fi
    echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores;" \
        "$(date -u '+%Y-%m-%d %H:%M UTC'), kumo at $(git rev-parse --short HEAD 2>/dev/null || echo '?')." \
        "Command: \`bench/peer.sh -e $ENGINE -p $P -n $N$DFLAG -t $T -r $R -k $K\`: per model, $K rounds of" \
        "\`kumo bench -m MODEL -p $P -n $N$DFLAG -t $T -r $R\` then $engine_text; each engine's best round, mean ± stddev of its $R runs." \
        "The last column sets this llama.cpp beside the issue's reference figures (../shared/bench/REFERENCE.md," \
        "a native build 10587 measured on another day; for -p 512 -n 128 at depth 0)."
    echo
    echo "| model | pp$P$AT kumo | pp$P$AT llama.cpp | × | tg$N$AT kumo | tg$N$AT llama.cpp | × | llama.cpp ÷ REFERENCE.md pp / tg |"
    echo "|---|---|---|---|---|---|---|---|"
    for row in "${ROWS[@]}"; do
        set -- $row
        rp= rt=
        [ "$D" = 0 ] && read -r rp rt <<< "$(reference_figures "${1%-*}" "${1##*-}" "$REFMD")"
        awk -v id="$1" -v kp="$2" -v kps="$3" -v lp="$4" -v lps="$5" -v kt="$6" -v kts="$7" -v lt="$8" -v lts="$9" \
            -v rp="$rp" -v rt="$rt" 'BEGIN {
            vs = (rp == "" || rt == "") ? "–" : sprintf("%.2f / %.2f", lp / rp, lt / rt)
            printf "| %s | %.1f ± %.1f | %.1f ± %.1f | %.2f | %.2f ± %.2f | %.2f ± %.2f | %.2f | %s |\n",
                id, kp, kps, lp, lps, kp / lp, kt, kts, lt, lts, kt / lt, vs
        }'
    done
} > "$OUT"
echo "wrote $OUT" >&2
cat "$OUT"
