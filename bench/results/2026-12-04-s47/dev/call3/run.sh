#!/usr/bin/env bash
# Forty-seventh session, call 3 (carry .carry/cuda, .carry/devbin; lib_rf = the landed CUDA plugin,
# lib_n2 = anchor_mid_d64 from 32 lists, and dense_mid: dense keys with V over 17-63 lists of 16K
# keys or more (more than 3840 at head_dim 64) by the affine copies in 16-key chunks; bin/test_cuda
# with those cases): (1) test_cuda whole with lib_n2, test_decode_affine_paged under memcheck and
# racecheck; (2) peer_torch (L2 flushed), three rounds, rf against n2: dense decode over 24-48
# lists at head_dim 64 and 128 (bf16 contiguous, pages of 16 and 64, f16), anchor decode D64 over
# 32-56 lists.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD rf n2 || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
P=$OUT/peer.jsonl
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_n2 timeout 200 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda whole (n2) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED|SKIPPED" $OUT/test_cuda.log | head -20
for tool in memcheck racecheck; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_n2 KSA_TEST_FILTER=test_decode_affine_paged timeout 150 compute-sanitizer --tool $tool \
    --error-exitcode 9 $B/test_cuda >$OUT/sanitize-$tool.log 2>&1
  echo "$tool rc=$? ($(($(date +%s)-t0)) s)"; tail -3 $OUT/sanitize-$tool.log
done
D64="--shape 3,1,8192,32,8,64 --shape 6,1,8192,32,8,64 --shape 3,1,16384,32,8,64 --shape 4,1,16384,32,8,64 --shape 6,1,32768,32,8,64"
D128="--shape 3,1,16384,32,8,128 --shape 4,1,16384,32,8,128 --shape 6,1,16384,32,8,128 --shape 3,1,32768,32,8,128 --shape 4,1,32768,32,8,128 --shape 6,1,32768,32,8,128"
DP="--shape 4,1,32768,32,8,128 --shape 6,1,16384,32,8,64"
DF="--shape 4,1,32768,32,8,128 --shape 4,1,8192,32,8,64"
A64="--shape 5,1,8192,32,8,64 --shape 4,1,16384,32,8,64 --shape 7,1,32768,32,8,64"
for r in 1 2 3; do
  for v in rf n2; do
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense $D64 $D128 2>>$OUT/peer.log
    for ps in 16 64; do ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense $DP --page-size $ps 2>>$OUT/peer.log; done
    ksa_dev_peer $PWD $v $P --device cuda --dtype f16 --modes dense $DF 2>>$OUT/peer.log
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes anchor $A64 2>>$OUT/peer.log
  done
  echo "round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 470 ] && break
done
python3 bench/dev_ab.py $P --base rf
grep -iE "error|unsupported|invalid|disagree" $OUT/peer.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
