#!/usr/bin/env bash
# Builds a native llama.cpp (-O3 -march=native, OpenMP, its llamafile sgemm and weight repacking on,
# as the issue's reference build) and bench/ref_bench.c against it, into bench/.native-ref (not in git),
# so that bench/peer.sh -e native can time it beside kumo in the same minutes.
#
# This machine reaches only the Debian and npm registries, so the sources come from npm packages that
# carry llama.cpp's C/C++ sources for compiling on the user's machine:
#   - @fugood/llama.node: llama.cpp's src/, include/ and ggml's CPU backend (with llamafile/sgemm),
#     but not ggml's core (ggml.c, ggml-backend, ggml-quants, gguf ...);
#   - llama.rn: all of llama.cpp and ggml, with every ggml symbol renamed lm_ggml (a React Native
#     build), but without llamafile/sgemm.
# Both are published by the same project from the same llama.cpp commit: the script checks that every
# ggml CPU-backend file and public header the two share is identical once llama.rn's prefix is
# removed, then takes ggml's core from llama.rn (prefix removed) and everything else from llama.node.
#
# usage: bench/native-ref.sh          (prints the path of the ref_bench binary)
# needs: npm, gcc, g++ (Debian: g++; libgomp comes with gcc)
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_PKG=@fugood/llama.node@1.7.15
RN_PKG=llama.rn@0.12.9
DIR=${KUMO_NATIVE_REF_DIR:-bench/.native-ref}
BIN=$DIR/ref_bench
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

TREE=$DIR/tree
link_driver() {
    gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$TREE/include" -I"$TREE/ggml/include" -o "$BIN" \
        bench/ref_bench.c "$DIR/libllama.a" -lstdc++ -lgomp -lm -lpthread
}

# ---- check: the build must reproduce the reference engine's greedy ids of ../shared/golden ----
check_build() {
    local shared=${KUMO_SHARED:-../shared} name
    [ -d "$shared/golden" ] || { echo "native-ref: $shared/golden not found, build not checked" >&2; return 0; }
    command -v node >/dev/null || { echo "native-ref: node not found, build not checked" >&2; return 0; }
    for name in stories260K tiny-llama-q4_0 tiny-llama-q4_k_m tiny-qwen3-q8_0 tiny-qwen3moe-q8_0; do
        node -e '
            const fs = require("fs"), { execFileSync } = require("child_process");
            const [bin, shared, name] = process.argv.slice(1);
            const g = JSON.parse(fs.readFileSync(`${shared}/golden/${name}.json`, "utf8"));
            for (const p of g.prompts) {
                const out = execFileSync(bin, [`${shared}/models/${name}.gguf`, "--greedy", String(p.greedy_tokens.length),
                                               "--tokens", p.tokens.join(",")], { encoding: "utf8" });
                if (JSON.stringify(JSON.parse(out)) !== JSON.stringify(p.greedy_tokens)) {
                    console.error(`native-ref: ${name}: greedy ids differ from the golden output`);
                    process.exit(1);
                }
            }' "$BIN" "$shared" "$name" || return 1
    done
    echo "native-ref: greedy ids identical to ../shared/golden on 5 models (15 prompts × 32 steps)" >&2
}

if [ -f "$DIR/libllama.a" ] && [ "$DIR/libllama.a" -nt "$0" ]; then
    [ -x "$BIN" ] && [ "$BIN" -nt bench/ref_bench.c ] || { link_driver && check_build; } || { rm -f "$BIN"; exit 1; }
    echo "$BIN"
    exit 0
fi
for tool in npm gcc g++; do
    command -v $tool >/dev/null || { echo "bench/native-ref.sh: $tool not found" >&2; exit 1; }
done

# ---- sources ----
mkdir -p "$DIR/pkg"
fetch() { # package@version -> extracted directory
    local name=${1%@*} ver=${1##*@} tgz dst
    dst="$DIR/pkg/$(echo "$name" | tr -d '@' | tr '/' '-')-$ver"
    if [ ! -d "$dst/package" ]; then
        tgz=$(cd "$DIR/pkg" && npm pack --silent "$1" | tail -1)
        mkdir -p "$dst" && tar -xzf "$DIR/pkg/$tgz" -C "$dst"
    fi
    echo "$dst/package"
}
NODE_SRC=$(fetch "$NODE_PKG")/src/llama.cpp
RN_SRC=$(fetch "$RN_PKG")/cpp
unprefix() { sed -e 's/lm_ggml/ggml/g; s/LM_GGML/GGML/g; s/lm_gguf/gguf/g; s/LM_GGUF/GGUF/g' "$1"; }

same=0
for f in "$NODE_SRC"/ggml/src/ggml-cpu/*.[ch] "$NODE_SRC"/ggml/src/ggml-cpu/*.cpp "$NODE_SRC"/ggml/src/ggml-cpu/arch/x86/*; do
    rel=${f#"$NODE_SRC"/ggml/src/}
    [ -f "$RN_SRC/$rel" ] || continue
    unprefix "$RN_SRC/$rel" | cmp -s - "$f" || { echo "bench/native-ref.sh: $rel differs between $NODE_PKG and $RN_PKG" >&2; exit 1; }
    same=$((same + 1))
done
for f in "$NODE_SRC"/ggml/include/*.h; do
    [ -f "$RN_SRC/$(basename "$f")" ] || continue
    unprefix "$RN_SRC/$(basename "$f")" | cmp -s - "$f" || { echo "bench/native-ref.sh: $(basename "$f") differs" >&2; exit 1; }
    same=$((same + 1))
done
[ $same -ge 20 ] || { echo "bench/native-ref.sh: only $same shared files to compare" >&2; exit 1; }
echo "native-ref: $same shared ggml files identical in $NODE_PKG and $RN_PKG" >&2

rm -rf "$TREE" && mkdir -p "$TREE/ggml/src" "$TREE/ggml/include"
cp -r "$NODE_SRC/include" "$NODE_SRC/src" "$TREE/"
cp "$NODE_SRC"/ggml/include/*.h "$TREE/ggml/include/"
cp -r "$NODE_SRC/ggml/src/ggml-cpu" "$TREE/ggml/src/"
for f in ggml.c ggml-alloc.c ggml-backend.cpp ggml-backend-reg.cpp ggml-backend-impl.h ggml-backend-dl.cpp \
    ggml-backend-dl.h ggml-backend-meta.cpp ggml-common.h ggml-impl.h ggml-opt.cpp ggml-quants.c ggml-quants.h \
    ggml-threading.cpp ggml-threading.h gguf.cpp; do
    unprefix "$RN_SRC/$f" > "$TREE/ggml/src/$f"
done

# ---- build ----
DEFS="-DNDEBUG -D_GNU_SOURCE -D_XOPEN_SOURCE=600 -DGGML_USE_CPU -DGGML_USE_OPENMP -DGGML_USE_LLAMAFILE -DGGML_USE_CPU_REPACK -DGGML_SCHED_MAX_COPIES=4"
INC="-I$TREE/ggml/include -I$TREE/ggml/src -I$TREE/ggml/src/ggml-cpu -I$TREE/include -I$TREE/src"
export CFLAGS_REF="-O3 -march=native -fopenmp -std=gnu11 $DEFS $INC"
export CXXFLAGS_REF="-O3 -march=native -fopenmp -std=gnu++17 $DEFS $INC"
OBJ=$DIR/obj
rm -rf "$OBJ" && mkdir -p "$OBJ"
(
    cd "$TREE"
    ls ggml/src/*.c ggml/src/*.cpp ggml/src/ggml-cpu/*.c ggml/src/ggml-cpu/*.cpp ggml/src/ggml-cpu/arch/x86/quants.c \
        ggml/src/ggml-cpu/arch/x86/repack.cpp ggml/src/ggml-cpu/llamafile/sgemm.cpp ggml/src/ggml-cpu/amx/*.cpp \
        src/*.cpp src/models/*.cpp
) | while read -r s; do echo "$TREE/$s $OBJ/$(echo "$s" | tr '/' '_').o"; done > "$DIR/objs.txt"
echo "native-ref: compiling $(wc -l < "$DIR/objs.txt") files (a few minutes)" >&2
xargs -P "$(nproc)" -n 2 sh -c 'case $0 in *.c) gcc $CFLAGS_REF -c "$0" -o "$1" ;; *) g++ $CXXFLAGS_REF -c "$0" -o "$1" ;; esac' \
    < "$DIR/objs.txt"
rm -f "$DIR/libllama.a"
cut -d' ' -f2 "$DIR/objs.txt" | xargs ar rcs "$DIR/libllama.a"
link_driver
check_build || { rm -f "$BIN"; exit 1; }
echo "$BIN"
