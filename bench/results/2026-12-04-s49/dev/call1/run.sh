#!/usr/bin/env bash
# Forty-ninth session, call 1 (carry .carry/cuda for cmocka): the AMX level's tile-blocked K/V
# layouts. CPU-only build, the CPU tests (the amx grid against the reference), then interleaved
# A/B rounds: KSA_CPU_AMX_PAIRS=1 is the old pair layout, 0 the new tile-blocked one.
set -u
ROOT=$PWD
SUM=$OUT/summary.txt
. scripts/device/device-common.sh
t0=$(date +%s)
ksa_device_cmocka "$ROOT" && echo "cmocka from .carry/cuda"
B=$ROOT/build-cpu-dev
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=ON -DKSA_BUILD_TOOLS=ON >$OUT/build.log 2>&1 && ninja -C $B ksa-cpu-bench test_backends test_cpu_ops >>$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)"
grep -E "warning" $OUT/build.log | head -5
KSA_NUM_THREADS=8 timeout 120 $B/bin/test_backends --devices cpu >$OUT/test_backends.log 2>&1
echo "test_backends rc=$? ($(($(date +%s)-t0)) s)"; grep -E "ktest grid|FAIL" $OUT/test_backends.log | head -8
KSA_NUM_THREADS=8 timeout 200 $B/bin/test_cpu_ops >$OUT/test_cpu_ops.log 2>&1
echo "test_cpu_ops rc=$? ($(($(date +%s)-t0)) s)"; grep -E "^\[  (PASSED|FAILED|  SKIPPED)|ktest grid|FAIL" $OUT/test_cpu_ops.log | head -20
KSA_CPU_AMX_PAIRS=1 KSA_NUM_THREADS=8 timeout 100 $B/bin/test_cpu_ops >$OUT/test_cpu_ops_pairs.log 2>&1
echo "test_cpu_ops (pairs) rc=$? ($(($(date +%s)-t0)) s)"
timeout 60 $B/bin/ksa-cpu-bench --probe 2>/dev/null > $OUT/probe.json; cat $OUT/probe.json | head -5
P=KSA_CPU_AMX_PAIRS
KSA_CPU_ISA=amx timeout 150 $B/bin/ksa-cpu-bench --ab "$P=1;$P=0;$P=1,sub_rows=64;$P=0,sub_rows=64;$P=0,sub_rows=16;$P=1,sub_rows=16;$P=0,sub_rows=64,block_k=128" \
  --mode dense --rounds 11 2>$OUT/ab_dense.err | tee $OUT/ab.json
echo "dense ab ($(($(date +%s)-t0)) s)"
for mode in anchor reuse; do
  KSA_CPU_ISA=amx timeout 100 $B/bin/ksa-cpu-bench --ab "$P=1;$P=0;$P=0,sub_rows=32" --mode $mode --rounds 11 2>>$OUT/ab_$mode.err | tee -a $OUT/ab.json
  echo "$mode ab ($(($(date +%s)-t0)) s)"
done
KSA_CPU_PROFILE=1 KSA_CPU_ISA=amx timeout 60 $B/bin/ksa-cpu-bench --ab "$P=1;$P=0" --mode dense --rounds 3 2>&1 | grep -i "profile\|pct" | head -6
echo "done ($(($(date +%s)-t0)) s)"
