#!/usr/bin/env bash
# kumo against the reference engine on the bench models: synthesizes them once (bench/models/, not
# in git), runs `kumo bench --json` on each with the reference's settings, and writes
# bench/RESULTS.md with the reference figures of ../shared/bench/REFERENCE.md beside kumo's.
#
# usage: bench/run.sh [-p 512] [-n 128] [-t 2] [-r 3] [-o bench/RESULTS.md] [MODEL-TYPE ...]
#   MODEL-TYPE like qwen3-0.6b-q4_0 limits the run to those rows (default: the nine of REFERENCE.md);
#   the type can be any that `kumo synth --type` takes (llama-1b-bf16, qwen3-0.6b-q5_k_m …).
# Environment: KUMO (default build/kumo), KUMO_SHARED (default ../shared).
#
# The roofline of generation is the machine's read bandwidth, measured by `kumo bench --roofline` in
# the same seconds as the tokens set against it: this host's two-thread bandwidth jumps between about
# 30 and 60 GB/s within seconds, so after each tg run N more tokens are decoded, each followed by a
# plain read of as many bytes as its weights, and a model's % roofline is the mean over its runs of
# those tokens' GB/s over the reads' GB/s.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/reference_figures.sh

KUMO=${KUMO:-build/kumo}
SHARED=${KUMO_SHARED:-../shared}
P=512 N=128 T=2 R=3 OUT=bench/RESULTS.md
while getopts "p:n:t:r:o:" opt; do
    case $opt in
    p) P=$OPTARG ;; n) N=$OPTARG ;; t) T=$OPTARG ;; r) R=$OPTARG ;; o) OUT=$OPTARG ;;
    *) echo "usage: bench/run.sh [-p P] [-n N] [-t THREADS] [-r REPS] [-o OUT] [MODEL-TYPE ...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

[ -x "$KUMO" ] || { echo "bench/run.sh: $KUMO not found (run make first)" >&2; exit 1; }
REF="$SHARED/bench/REFERENCE.md"
[ -f "$REF" ] || { echo "bench/run.sh: $REF not found" >&2; exit 1; }

SHAPES="qwen3-0.6b llama-1b qwen3moe-mini"
TYPES="Q8_0 Q4_0 Q4_K_M"
vocab_of() { [ "$1" = llama-1b ] && echo "$SHARED/vocab/ggml-vocab-llama3.gguf" || echo "$SHARED/vocab/ggml-vocab-qwen3.gguf"; }
lower() { echo "$1" | tr 'A-Z' 'a-z'; }

# "shape TYPE" of each row
PAIRS=()
if [ $# -eq 0 ]; then
    for s in $SHAPES; do for ty in $TYPES; do PAIRS+=("$s $ty"); done; done
else
    for id in "$@"; do
        s=${id%-*}
        case " $SHAPES " in
        *" $s "*) PAIRS+=("$s $(echo "${id##*-}" | tr 'a-z' 'A-Z')") ;;
        *) echo "bench/run.sh: $id: the shape is not one of $SHAPES" >&2; exit 2 ;;
        esac
    done
fi

# --- models -------------------------------------------------------------------------------------
mkdir -p bench/models
for pair in "${PAIRS[@]}"; do
    read -r s ty <<< "$pair"
    f="bench/models/$s-$(lower "$ty").gguf"
    [ -f "$f" ] && continue
    echo "synthesizing $f" >&2
    if ! "$KUMO" synth --shape "$s" --type "$ty" --vocab "$(vocab_of "$s")" -o "$f" >&2; then
        echo "bench/run.sh: could not synthesize $f" >&2
        exit 1
    fi
done

# --- measurements -------------------------------------------------------------------------------
json_num() { sed -n "s/.*\"$1\": *\([-0-9.e+]*\).*/\1/p"; }

ROWS=()
ISA=?
for pair in "${PAIRS[@]}"; do
    read -r s ty <<< "$pair"
    id="$s-$(lower "$ty")"
    echo "bench $id" >&2
    j=$("$KUMO" bench -m "bench/models/$id.gguf" -p "$P" -n "$N" -t "$T" -r "$R" --roofline --json)
    ISA=$(echo "$j" | sed -n 's/.*"isa": *"\([a-z0-9]*\)".*/\1/p')
    row="$s $(lower "$ty")"
    for k in pp_tok_s pp_stddev tg_tok_s tg_stddev tg_gb_s tg_paired_gb_s roofline_gb_s tg_roofline_pct tg_roofline_pct_stddev; do
        v=$(echo "$j" | json_num "$k")
        row="$row ${v:-0}"
    done
    ROWS+=("$row")
done

# --- report -------------------------------------------------------------------------------------
{
    echo "# kumo vs the reference engine"
    echo
    echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, ISA $ISA," \
        "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM; $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo "Command: \`bench/run.sh -p $P -n $N -t $T -r $R\` = \`kumo bench -m MODEL -p $P -n $N -t $T -r $R --roofline --json\` per model" \
        "(mean ± stddev of $R runs after a warm-up; the reference: \`llama-bench -p 512 -n 128 -t 2 -r 3\`, figures from" \
        "\`../shared/bench/REFERENCE.md\`, measured on another day: this host is shared and its speed varies)."
    echo "Roofline (\`--roofline\`): after each tg run, $N more tokens, each followed by a plain read" \
        "(\`kumo bench --bandwidth\`'s reader, on the same $T threads, round a 512 MiB buffer) of as many bytes as the" \
        "token's weights; paired GB/s is those tokens' weight bytes over their time, roofline GB/s the reads' bytes over" \
        "theirs (means over the $R runs), and % roofline the mean ± stddev of each run's paired over its roofline." \
        "tg GB/s = weight bytes read per generated token × tg tok/s of the plain runs (the KV cache reads come on top)."
    echo
    echo "| model | type | pp$P tok/s | ref | × | tg$N tok/s | ref | × | tg GB/s | paired GB/s | roofline GB/s | % roofline |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for row in "${ROWS[@]}"; do
        set -- $row
        read -r rpp rtg <<< "$(reference_figures "$1" "$2" "$REF")"
        awk -v m="$1" -v t="$2" -v pp="$3" -v pps="$4" -v tg="$5" -v tgs="$6" -v gbs="$7" -v pgb="$8" -v bw="$9" -v pct="${10}" -v pcts="${11}" \
            -v rpp="${rpp:-}" -v rtg="${rtg:-}" 'BEGIN {
            xpp = rpp != "" ? sprintf("%.2f", pp / rpp) : "–"
            xtg = rtg != "" ? sprintf("%.2f", tg / rtg) : "–"
            printf "| %s | %s | %.1f ± %.1f | %s | %s | %.2f ± %.2f | %s | %s | %.1f | %.1f | %.1f | %.0f ± %.0f%% |\n",
                m, t, pp, pps, rpp != "" ? rpp : "–", xpp, tg, tgs, rtg != "" ? rtg : "–", xtg, gbs, pgb, bw, pct, pcts
        }'
    done
} > "$OUT"
echo "wrote $OUT" >&2
cat "$OUT"
