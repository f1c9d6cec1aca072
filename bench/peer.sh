#!/usr/bin/env bash
# kumo and llama.cpp side by side, in the same minutes, on the bench models (bench/run.sh makes them).
# The reference figures of ../shared/bench/REFERENCE.md were measured on another day by a native
# build; this host's speed moves by ±30 % within minutes, so the only comparison that holds is one
# taken pair by pair. The llama.cpp here is the prebuilt CPU library of the node-llama-cpp npm package
# (its zen4/icelake/... variant picked at run time), driven by bench/reference.mjs; it is installed
# once into bench/.refengine (not in git) from the npm registry.
#
# usage: bench/peer.sh [-p 512] [-n 128] [-t 2] [-r 3] [-k 2] [-o bench/PEER.md] [MODEL-TYPE ...]
#   -k rounds: each round runs kumo, then llama.cpp, on the model; the table shows each engine's best
#   round (mean ± stddev of its R runs) and the ratio of the two bests.
set -euo pipefail
cd "$(dirname "$0")/.."

KUMO=${KUMO:-build/kumo}
NLC_VERSION=3.22.1
REFDIR=${KUMO_REFENGINE_DIR:-bench/.refengine}
P=512 N=128 T=2 R=3 K=2 OUT=bench/PEER.md
while getopts "p:n:t:r:k:o:" opt; do
    case $opt in
    p) P=$OPTARG ;; n) N=$OPTARG ;; t) T=$OPTARG ;; r) R=$OPTARG ;; k) K=$OPTARG ;; o) OUT=$OPTARG ;;
    *) echo "usage: bench/peer.sh [-p P] [-n N] [-t THREADS] [-r REPS] [-k ROUNDS] [-o OUT] [MODEL-TYPE ...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ -x "$KUMO" ] || { echo "bench/peer.sh: $KUMO not found (run make first)" >&2; exit 1; }
command -v node >/dev/null || { echo "bench/peer.sh: node not found" >&2; exit 1; }

if [ ! -f "$REFDIR/node_modules/node-llama-cpp/package.json" ]; then
    echo "installing node-llama-cpp $NLC_VERSION into $REFDIR" >&2
    mkdir -p "$REFDIR"
    # --ignore-scripts: the prebuilt binaries come as npm packages; nothing is compiled or downloaded
    npm install --prefix "$REFDIR" --ignore-scripts --no-audit --no-fund "node-llama-cpp@$NLC_VERSION" >&2
fi
export KUMO_REFENGINE_DIR=$(cd "$REFDIR" && pwd)

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
        j=$("$KUMO" bench -m "$f" -p "$P" -n "$N" -t "$T" -r "$R" --json)
        kpp+=("$(echo "$j" | json_num pp_tok_s) $(echo "$j" | json_num pp_stddev)")
        ktg+=("$(echo "$j" | json_num tg_tok_s) $(echo "$j" | json_num tg_stddev)")
        echo "round $k: $id llama.cpp" >&2
        j=$(node bench/reference.mjs "$f" -p "$P" -n "$N" -t "$T" -r "$R")
        lpp+=("$(echo "$j" | json_num pp_tok_s) $(echo "$j" | json_num pp_stddev)")
        ltg+=("$(echo "$j" | json_num tg_tok_s) $(echo "$j" | json_num tg_stddev)")
    done
    ROWS+=("$id $(printf '%s\n' "${kpp[@]}" | best) $(printf '%s\n' "${lpp[@]}" | best) $(printf '%s\n' "${ktg[@]}" | best) $(printf '%s\n' "${ltg[@]}" | best)")
done

{
    echo "# kumo and llama.cpp side by side"
    echo
    echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores;" \
        "$(date -u '+%Y-%m-%d %H:%M UTC'). Command: \`bench/peer.sh -p $P -n $N -t $T -r $R -k $K\`: per model, $K rounds of" \
        "\`kumo bench -m MODEL -p $P -n $N -t $T -r $R\` then \`node bench/reference.mjs MODEL\` (llama.cpp from node-llama-cpp" \
        "$NLC_VERSION's prebuilt CPU library, the same tests: a fresh context per run, pp in one batch, tg one token at a" \
        "time with logits); each engine's best round, mean ± stddev of its $R runs."
    echo "This llama.cpp is a generic prebuilt, not the native build of ../shared/bench/REFERENCE.md, and is slower" \
        "than the figures there: the ratios below are against it, not against the issue's reference."
    echo
    echo "| model | pp$P kumo | pp$P llama.cpp | × | tg$N kumo | tg$N llama.cpp | × |"
    echo "|---|---|---|---|---|---|---|"
    for row in "${ROWS[@]}"; do
        set -- $row
        awk -v id="$1" -v kp="$2" -v kps="$3" -v lp="$4" -v lps="$5" -v kt="$6" -v kts="$7" -v lt="$8" -v lts="$9" 'BEGIN {
            printf "| %s | %.1f ± %.1f | %.1f ± %.1f | %.2f | %.2f ± %.2f | %.2f ± %.2f | %.2f |\n",
                id, kp, kps, lp, lps, kp / lp, kt, kts, lt, lts, kt / lt
        }'
    done
} > "$OUT"
echo "wrote $OUT" >&2
cat "$OUT"
