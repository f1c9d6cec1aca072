#!/usr/bin/env bash
# Times the AVX-512 GEMM kernels of the working tree against those of another commit in one process
# (bench/kernel_ab.c says why), e.g. before committing a kernel change:
#
#   bench/kernel_ab.sh HEAD q6_K 1024 768          # one token, a 630 KB matrix (in L2)
#   bench/kernel_ab.sh HEAD q4_0 2048 8192 8 200   # a GEMM tile of 8 tokens
#   bench/kernel_ab.sh HEAD act256 3072            # the activation quantizer
#
# usage: bench/kernel_ab.sh BASE_COMMIT TYPE N_IN N_OUT [TOKENS] [ROUNDS]
#        bench/kernel_ab.sh BASE_COMMIT act32|act256 N_IN [ROUNDS]
# Builds the base's gemm_avx512.o in a temporary worktree and the current library (make).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { sed -n 2,11p "$0" >&2; exit 2; }
base=$1
shift
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/base" "$base"
make -s -C "$tmp/base" build/obj/src/tensor/gemm_avx512.o
objcopy --redefine-sym gemm_kernels_avx512=base_gemm_kernels_avx512 \
    --redefine-sym gemm_quantize_avx512=base_gemm_quantize_avx512 \
    --redefine-sym gemm_float_avx512=base_gemm_float_avx512 \
    --redefine-sym gemm_float_avx512_fma=base_gemm_float_avx512_fma \
    "$tmp/base/build/obj/src/tensor/gemm_avx512.o" "$tmp/base_gemm_avx512.o"
make -s build/libkumo.a
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc -o "$tmp/kernel_ab" bench/kernel_ab.c \
    "$tmp/base_gemm_avx512.o" build/libkumo.a -lm -lpthread
"$tmp/kernel_ab" "$@"
