#!/usr/bin/env bash
# Forty-seventh session, call 2 (carry .carry/cuda, .carry/devbin; lib_rf = the landed CUDA plugin,
# lib_n1 = anchor_mid_d64: the anchor's K-only pass at head_dim 64 over 17-63 lists of more than
# 3840 keys by the affine copies in 16-key chunks; bin/test_cuda with three such cases):
# (1) test_cuda whole with lib_n1, test_decode_affine_paged under memcheck and racecheck;
# (2) peer_torch (L2 flushed), three rounds: D64 anchor decode rf against n1 (bf16 contiguous,
# pages of 16 and 64, f16 contiguous); dense decode over 32 lists, the built-in (TMA with V)
# against G (decode_kernel=3,decode_chunk=16) forced, D64 and D128.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD rf n1 || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
P=$OUT/peer.jsonl
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_n1 timeout 200 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda whole (n1) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED|SKIPPED" $OUT/test_cuda.log | head -20
for tool in memcheck racecheck; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_n1 KSA_TEST_FILTER=test_decode_affine_paged timeout 150 compute-sanitizer --tool $tool \
    --error-exitcode 9 $B/test_cuda >$OUT/sanitize-$tool.log 2>&1
  echo "$tool rc=$? ($(($(date +%s)-t0)) s)"; tail -3 $OUT/sanitize-$tool.log
done
forced() { # TAG CONFIG peer_torch-args...
  local tag=$1 cfg=$2
  shift 2
  KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_rf timeout 120 python3 bench/peer_torch.py --tag $tag --config "$cfg" \
    --out $P --append "$@" 2>>$OUT/peer.log
}
S64="--shape 3,1,8192,32,8,64 --shape 4,1,4096,32,8,64 --shape 4,1,8192,32,8,64 --shape 4,1,32768,32,8,64 --shape 6,1,32768,32,8,64"
SP="--shape 4,1,8192,32,8,64 --shape 4,1,32768,32,8,64"
SD="--shape 4,1,8192,32,8,64 --shape 4,1,32768,32,8,64 --shape 4,1,8192,32,8,128 --shape 4,1,32768,32,8,128"
G="decode_kernel=3,decode_chunk=16"
for r in 1 2 3; do
  for v in rf n1; do
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes anchor $S64 2>>$OUT/peer.log
    for ps in 16 64; do ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes anchor $SP --page-size $ps 2>>$OUT/peer.log; done
    ksa_dev_peer $PWD $v $P --device cuda --dtype f16 --modes anchor $SP 2>>$OUT/peer.log
  done
  ksa_dev_peer $PWD rf $P --device cuda --dtype bf16 --modes dense $SD 2>>$OUT/peer.log
  forced G "$G" --device cuda --dtype bf16 --modes dense $SD
  echo "round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 480 ] && break
done
python3 bench/dev_ab.py $P --base rf
grep -iE "error|unsupported|invalid|disagree" $OUT/peer.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
