# Sourced by bench/run.sh and bench/peer.sh: the reference engine's figures in REFERENCE.md
# (rows "| model | type | size | pp ± sd | tg ± sd |").
#
# reference_figures MODEL TYPE FILE -> "pp tg" of that row, or nothing when FILE or the row is missing
reference_figures() {
    [ -f "$3" ] || return 0
    awk -F'|' -v m="$1" -v t="$2" '
        { gsub(/ /, "", $2); gsub(/ /, "", $3) }
        $2 == m && $3 == t { split($5, pp, "±"); split($6, tg, "±"); gsub(/ /, "", pp[1]); gsub(/ /, "", tg[1]); print pp[1], tg[1] }
    ' "$3"
}
