#!/usr/bin/env bash
# Forty-ninth session, call 2 (carry .carry/cuda for cmocka): the tile-blocked layouts at 16 rows,
# with the development variants KSA_CPU_AMX_DEV=q16 (Q in four tiles), pv4 (64 value columns at
# once) and both; tests with both, then interleaved A/B rounds.
set -u
ROOT=$PWD
. scripts/device/device-common.sh
t0=$(date +%s)
ksa_device_cmocka "$ROOT" && echo "cmocka from .carry/cuda"
B=$ROOT/build-cpu-dev
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=ON -DKSA_BUILD_TOOLS=ON >$OUT/build.log 2>&1 && ninja -C $B ksa-cpu-bench test_backends test_cpu_ops >>$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)"
KSA_CPU_AMX_DEV=both KSA_NUM_THREADS=8 timeout 200 $B/bin/test_cpu_ops >$OUT/test_cpu_ops.log 2>&1
echo "test_cpu_ops (both) rc=$? ($(($(date +%s)-t0)) s)"; grep -E "^\[  (PASSED|FAILED|  SKIPPED)|ktest grid|FAIL" $OUT/test_cpu_ops.log | head -20
KSA_CPU_AMX_DEV=both KSA_NUM_THREADS=8 timeout 120 $B/bin/test_backends --devices cpu >$OUT/test_backends.log 2>&1
echo "test_backends (both) rc=$? ($(($(date +%s)-t0)) s)"; grep -E "ktest grid|FAIL" $OUT/test_backends.log | head -8
timeout 60 $B/bin/ksa-cpu-bench --probe 2>/dev/null > $OUT/probe.json; head -1 $OUT/probe.json
V=KSA_CPU_AMX_DEV
KSA_CPU_ISA=amx timeout 200 $B/bin/ksa-cpu-bench --ab "sub_rows=32;KSA_CPU_AMX_PAIRS=1;sub_rows=16;sub_rows=16,$V=q16;sub_rows=16,$V=pv4;sub_rows=16,$V=both;sub_rows=16,block_q=32,$V=both" \
  --mode dense --rounds 15 2>$OUT/ab_dense.err | tee $OUT/ab.json
echo "dense ab ($(($(date +%s)-t0)) s)"
for mode in anchor reuse; do
  KSA_CPU_ISA=amx timeout 100 $B/bin/ksa-cpu-bench --ab "$V=none;$V=both;KSA_CPU_AMX_PAIRS=1" --mode $mode --rounds 11 2>>$OUT/ab_$mode.err | tee -a $OUT/ab.json
  echo "$mode ab ($(($(date +%s)-t0)) s)"
done
echo "done ($(($(date +%s)-t0)) s)"
