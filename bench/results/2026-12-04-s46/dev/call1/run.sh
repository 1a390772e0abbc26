#!/usr/bin/env bash
# Forty-sixth session, call 1 (carry .carry/cuda, .carry/devbin; lib_el = the landed CUDA plugin,
# lib_nw = anchor_few_short: the anchor decode of few lists of 3841-8192 keys at head_dim 128 takes
# the affine copies in 16-key chunks and 16 splits; bin/test_cuda with its cases):
# (1) test_cuda whole with lib_nw; (2) test_decode_affine_paged under memcheck and racecheck;
# (3) peer_torch (L2 flushed), three rounds alternating the plugins: anchor and dense decode, bf16
# and f16, B1 Lk4K / Lk8K, B2 Lk8K, contiguous and pages of 16 / 64; D64 anchor under the forced
# configuration (tag el64t) against the built-in (el64), contiguous, bf16.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD el nw || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
P=$OUT/peer.jsonl
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_nw timeout 200 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda whole (nw) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED|SKIPPED" $OUT/test_cuda.log | head -20
for tool in memcheck racecheck; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_nw KSA_TEST_FILTER='test_decode_affine_paged' timeout 100 \
    compute-sanitizer --tool $tool --error-exitcode 9 $B/test_cuda >$OUT/san-$tool.log 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1) ($(($(date +%s)-t0)) s)"
done
S4=1,1,4096,32,8,128; S8=1,1,8192,32,8,128; B8=2,1,8192,32,8,128
T="decode_splits=16,decode_stages=2,decode_kernel=3,decode_chunk=16,decode_cluster=1"
for r in 1 2 3; do
  for v in el nw; do
    for ps in 0 16 64; do
      ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense,anchor --shape $S4 --shape $S8 --shape $B8 --page-size $ps 2>>$OUT/peer.log
    done
    ksa_dev_peer $PWD $v $P --device cuda --dtype f16 --modes anchor --shape $S4 --shape $S8 --shape $B8 2>>$OUT/peer.log
  done
  ksa_dev_peer $PWD el $P --device cuda --dtype bf16 --modes anchor --shape 1,1,8192,32,8,64 --shape 2,1,8192,32,8,64 2>>$OUT/peer.log
  KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_el timeout 120 python3 bench/peer_torch.py --tag el64t --config "$T" --out $P --append \
    --device cuda --dtype bf16 --modes anchor --shape 1,1,8192,32,8,64 --shape 2,1,8192,32,8,64 2>>$OUT/peer.log
  echo "round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 470 ] && break
done
python3 bench/dev_ab.py $P --base el
grep -iE "error|unsupported|invalid|disagree" $OUT/peer.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
