#!/usr/bin/env bash
# Forty-ninth session, call 3 (carry .carry/cuda for cmocka): the f16 pair kernels on tile-blocked
# layouts (KSA_CPU_AMX_PAIRS=1: the old pair layouts), bf16 dense block shapes on the new built-in,
# and the phase profile of the new code.
set -u
ROOT=$PWD
. scripts/device/device-common.sh
t0=$(date +%s)
ksa_device_cmocka "$ROOT" && echo "cmocka from .carry/cuda"
B=$ROOT/build-cpu-dev
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=ON -DKSA_BUILD_TOOLS=ON >$OUT/build.log 2>&1 && ninja -C $B ksa-cpu-bench test_backends test_cpu_ops >>$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)"
KSA_NUM_THREADS=8 timeout 200 $B/bin/test_cpu_ops >$OUT/test_cpu_ops.log 2>&1
echo "test_cpu_ops rc=$? ($(($(date +%s)-t0)) s)"; grep -E "^\[  (PASSED|FAILED|  SKIPPED)|ktest grid|FAIL|amx f16" $OUT/test_cpu_ops.log | head -20
KSA_NUM_THREADS=8 timeout 120 $B/bin/test_backends --devices cpu >$OUT/test_backends.log 2>&1
echo "test_backends rc=$? ($(($(date +%s)-t0)) s)"; grep -E "ktest grid|FAIL" $OUT/test_backends.log | head -8
timeout 60 $B/bin/ksa-cpu-bench --probe 2>/dev/null > $OUT/probe.json; head -1 $OUT/probe.json
P=KSA_CPU_AMX_PAIRS
for mode in dense anchor reuse; do
  KSA_CPU_ISA=amx timeout 120 $B/bin/ksa-cpu-bench --prefill-dtype f16 --ab "$P=0;$P=1;$P=0,sub_rows=16" --mode $mode --rounds 9 2>>$OUT/ab.err | tee -a $OUT/ab.json
  echo "f16 $mode ab ($(($(date +%s)-t0)) s)"
done
KSA_CPU_ISA=amx timeout 150 $B/bin/ksa-cpu-bench --ab "sub_rows=16;block_k=512;block_k=128;block_q=32;block_q=128" \
  --mode dense --rounds 11 2>>$OUT/ab.err | tee -a $OUT/ab.json
echo "bf16 dense ab ($(($(date +%s)-t0)) s)"
KSA_CPU_PROFILE=1 KSA_CPU_ISA=amx timeout 150 $B/bin/ksa-cpu-bench --prefill >$OUT/profile.json 2>$OUT/profile.err
echo "profile rc=$? ($(($(date +%s)-t0)) s)"; grep -E "profile|\"prefill\"" $OUT/profile.json | cut -c1-300 | head -20
echo "done ($(($(date +%s)-t0)) s)"
