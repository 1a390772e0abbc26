#!/usr/bin/env bash
# Forty-ninth session, call 6 (after the final full run): sub_rows 16 against 32 at the AMX level on
# whichever VM kind this call draws, with the probe that tells the kind. CPU-only build, no tests.
set -u
t0=$(date +%s)
B=$PWD/build-cpu-dev
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=ON >$OUT/build.log 2>&1 && ninja -C $B ksa-cpu-bench >>$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)"
timeout 40 $B/bin/ksa-cpu-bench --probe 2>/dev/null | head -1
for m in dense anchor reuse; do
  KSA_CPU_ISA=amx timeout 60 $B/bin/ksa-cpu-bench --ab "sub_rows=32;sub_rows=16" --mode $m --rounds 11 2>/dev/null
done
timeout 40 $B/bin/ksa-cpu-bench --probe 2>/dev/null | head -1
echo "done ($(($(date +%s)-t0)) s)"
