#!/usr/bin/env bash
# Forty-seventh session, call 1 (carry .carry/cuda, .carry/devbin; lib_rf = the landed CUDA plugin,
# commit 73e1bac: anchor_few_free): (1) test_cuda whole with lib_rf (the refactor had not run on
# the H200); (2) peer_torch (L2 flushed), three rounds: anchor decode bf16 over 17-63 lists
# (B4 / B6 at 8 KV heads), head_dim 64 and 128, contiguous: built-in (TMA, 32-key chunks) against
# G (decode_kernel=3, decode_chunk=16: the affine cp.async copies) and G32 (decode_kernel=3,
# decode_chunk=32); D256 B1 / B2 Lk8K built-in against T (anchor_few_short's configuration).
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD rf || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
P=$OUT/peer.jsonl
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_rf timeout 200 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda whole (rf) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED|SKIPPED" $OUT/test_cuda.log | head -20
forced() { # TAG CONFIG peer_torch-args...
  local tag=$1 cfg=$2
  shift 2
  KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_rf timeout 120 python3 bench/peer_torch.py --tag $tag --config "$cfg" \
    --out $P --append "$@" 2>>$OUT/peer.log
}
S64="--shape 4,1,8192,32,8,64 --shape 4,1,32768,32,8,64 --shape 6,1,32768,32,8,64"
S128="--shape 4,1,8192,32,8,128 --shape 4,1,32768,32,8,128"
S256="--shape 1,1,8192,32,8,256 --shape 2,1,8192,32,8,256"
G="decode_kernel=3,decode_chunk=16"
G32="decode_kernel=3,decode_chunk=32"
T="decode_splits=16,decode_stages=2,decode_kernel=3,decode_chunk=16,decode_cluster=1"
for r in 1 2 3; do
  ksa_dev_peer $PWD rf $P --device cuda --dtype bf16 --modes anchor $S64 $S128 $S256 2>>$OUT/peer.log
  forced G "$G" --device cuda --dtype bf16 --modes anchor $S64 $S128
  forced G32 "$G32" --device cuda --dtype bf16 --modes anchor $S64 $S128
  forced T "$T" --device cuda --dtype bf16 --modes anchor $S256
  echo "round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 480 ] && break
done
python3 bench/dev_ab.py $P --base rf
grep -iE "error|unsupported|invalid|disagree" $OUT/peer.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
