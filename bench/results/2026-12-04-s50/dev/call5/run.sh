#!/usr/bin/env bash
# Fiftieth session, call 5: ksa-cpu-bench --probe with the solo tile-peak loop (amx_probe_solo's
# tile_peak_tflops), twice, and make_table's P7 share row from it. CPU-only build, no tests.
set -u
t0=$(date +%s)
B=$PWD/build-cpu-dev
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=ON >$OUT/build.log 2>&1 && ninja -C $B ksa-cpu-bench >>$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)"
for r in 1 2; do timeout 60 $B/bin/ksa-cpu-bench --probe 2>/dev/null | tee -a $OUT/probe.jsonl; done
echo "done ($(($(date +%s)-t0)) s)"
