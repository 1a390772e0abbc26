#!/usr/bin/env bash
# Forty-sixth session, call 2 (carry .carry/cuda, .carry/devbin; lib_el = the landed CUDA plugin,
# lib_n2 = anchor_few_short at head_dim 64 and 128; bin/test_cuda with a D64 case): (1) test_cuda
# whole with lib_n2; (2) peer_torch (L2 flushed), three rounds: D64 anchor decode el against n2
# (bf16 contiguous and pages of 16, f16 contiguous); D128 anchor B1 / B2 Lk12K with el: built-in,
# T (16 splits, affine copies, 16-key chunks) and T32 (32 splits) forced.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD el n2 || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
P=$OUT/peer.jsonl
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_n2 timeout 200 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda whole (n2) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED|SKIPPED" $OUT/test_cuda.log | head -20
D4=1,1,4096,32,8,64; D8=1,1,8192,32,8,64; DB=2,1,8192,32,8,64
L12=1,1,12288,32,8,128; B12=2,1,12288,32,8,128
T="decode_splits=16,decode_stages=2,decode_kernel=3,decode_chunk=16,decode_cluster=1"
T32="decode_splits=32,decode_stages=2,decode_kernel=3,decode_chunk=16,decode_cluster=1"
for r in 1 2 3; do
  for v in el n2; do
    for ps in 0 16; do
      ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes anchor --shape $D4 --shape $D8 --shape $DB --page-size $ps 2>>$OUT/peer.log
    done
    ksa_dev_peer $PWD $v $P --device cuda --dtype f16 --modes anchor --shape $D4 --shape $D8 --shape $DB 2>>$OUT/peer.log
  done
  ksa_dev_peer $PWD el $P --device cuda --dtype bf16 --modes anchor --shape $L12 --shape $B12 2>>$OUT/peer.log
  for c in T T32; do
    cfg=$T; [ $c = T32 ] && cfg=$T32
    KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_el timeout 120 python3 bench/peer_torch.py --tag $c --config "$cfg" --out $P --append \
      --device cuda --dtype bf16 --modes anchor --shape $L12 --shape $B12 2>>$OUT/peer.log
  done
  echo "round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 470 ] && break
done
python3 bench/dev_ab.py $P --base el
grep -iE "error|unsupported|invalid|disagree" $OUT/peer.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
