#!/usr/bin/env bash
# Forty-third session, call 2 (carry .carry/cuda, .carry/devbin; lib_el = the landed CUDA plugin): dense
# decode bf16 at P4's points B16 Lk8K, B64 Lk8K and B16 Lk32K under the split-count tunables,
# peer_torch's timing (L2 flushed, cuDNN in the same process), three rounds alternating the settings.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD el || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
F=$OUT/peer.jsonl
t0=$(date +%s)
for r in 1 2 3; do
  for c in builtin decode_splits=1 decode_splits=2,decode_cluster=2 decode_splits=4; do
    [ $(($(date +%s) - t0)) -gt 300 ] && break 2
    cfg=$c; [ $c = builtin ] && cfg=""
    ksa_dev_peer $PWD el $F --tag "$c" --config "$cfg" --device cuda --dtype bf16 --modes dense \
      --shape 16,1,8192,32,8,128 --shape 64,1,8192,32,8,128 --shape 16,1,32768,32,8,128 >>$OUT/peer.log 2>&1
    echo "round $r $c ($(($(date +%s) - t0)) s)" >>$OUT/summary.txt
  done
done
python3 bench/dev_ab.py $F --base builtin | tee -a $OUT/summary.txt
