#!/usr/bin/env bash
# Fiftieth session, call 3 (carry .carry/cuda for cmocka): the AMX kernels after the forty-ninth
# session's last refactors (3c6296a: tile walks; 401dbfe: one V pair packer), which no AMX machine had
# run, through the CPU tests; and the new solo probe (amx_probe_solo). CPU-only build.
set -u
ROOT=$PWD
. scripts/device/device-common.sh
t0=$(date +%s)
ksa_device_cmocka "$ROOT" && echo "cmocka from .carry/cuda"
B=$ROOT/build-cpu-dev
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=ON -DKSA_BUILD_TOOLS=ON >$OUT/build.log 2>&1 && ninja -C $B ksa-cpu-bench test_backends test_cpu_ops >>$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)"
grep -E "warning" $OUT/build.log | head -5
KSA_NUM_THREADS=8 timeout 150 $B/bin/test_backends --devices cpu >$OUT/test_backends.log 2>&1
echo "test_backends rc=$? ($(($(date +%s)-t0)) s)"; grep -E "ktest grid|FAIL" $OUT/test_backends.log | head -8
KSA_NUM_THREADS=8 timeout 200 $B/bin/test_cpu_ops >$OUT/test_cpu_ops.log 2>&1
echo "test_cpu_ops rc=$? ($(($(date +%s)-t0)) s)"; grep -E "^\[  (PASSED|FAILED|  SKIPPED)|ktest grid|FAIL" $OUT/test_cpu_ops.log | head -20
timeout 60 $B/bin/ksa-cpu-bench --probe 2>/dev/null > $OUT/probe.jsonl; cat $OUT/probe.jsonl
echo "done ($(($(date +%s)-t0)) s)"
