#!/usr/bin/env bash
# Forty-seventh session, call 4 (carry .carry/cuda, .carry/devbin; lib_rf = the landed plugin of
# 73e1bac, lib_n3 = the rules as landed: anchor_mid_d64 from 32 lists; dense_mid narrowed to 16K
# keys or more, head_dim 64 from 32 lists): (1) test_cuda whole with lib_n3, test_decode_affine_paged
# under memcheck; (2) peer_torch (L2 flushed), two rounds rf against n3, dense bf16: D64 B3 Lk8K
# (left out: must be equal), D64 B4 Lk32K and D128 B3 Lk32K (in the rule).
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD rf n3 || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
P=$OUT/peer.jsonl
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_n3 timeout 200 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda whole (n3) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED|SKIPPED" $OUT/test_cuda.log | head -20
KSA_PLUGIN_PATH=$KSA_DEV/lib_n3 KSA_TEST_FILTER=test_decode_affine_paged timeout 100 compute-sanitizer --tool memcheck \
  --error-exitcode 9 $B/test_cuda >$OUT/sanitize-memcheck.log 2>&1
echo "memcheck rc=$? ($(($(date +%s)-t0)) s)"; tail -2 $OUT/sanitize-memcheck.log
S="--shape 3,1,8192,32,8,64 --shape 4,1,32768,32,8,64 --shape 3,1,32768,32,8,128"
for r in 1 2; do
  for v in rf n3; do ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense $S 2>>$OUT/peer.log; done
  echo "round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 300 ] && break
done
python3 bench/dev_ab.py $P --base rf
grep -iE "error|unsupported|invalid|disagree" $OUT/peer.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
