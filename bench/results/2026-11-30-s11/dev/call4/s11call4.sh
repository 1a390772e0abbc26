#!/bin/bash
# eleventh session, device call 4 (configuration sweep, no code change): B1 decode bf16, contiguous vs pages
# of 16 / 64, under the configurations a new built-in rule could take (paged_configs.py)
cd "$(dirname "$0")/../.."
R=$PWD
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH
export KSA_PLUGIN_PATH=$R/.carry/devbin/lib_s11 KSA_LIBRARY=$R/.carry/devbin/core/libksa.so KSA_TUNE_CACHE=off
mkdir -p $OUT/gpu
s=$(date +%s)
MODES=dense LKS=32768,8192 CONFIGS=";decode_splits=8,decode_stages=3,decode_cluster=2;decode_splits=8,decode_cluster=2;decode_chunk=16;decode_chunk=16,decode_splits=8,decode_stages=3,decode_cluster=2;decode_splits=16,decode_stages=3,decode_cluster=2;decode_splits=16,decode_cluster=1" \
  timeout 150 python3 .carry/devbin/paged_configs.py 2>&1 | tee $OUT/gpu/dense.txt
echo "dense $(( $(date +%s)-s )) s"; s=$(date +%s)
MODES=anchor LKS=32768,8192 CONFIGS=";decode_chunk=16;decode_splits=16,decode_stages=3,decode_chunk=16,decode_cluster=2;decode_stages=3;decode_chunk=16,decode_stages=3;decode_chunk=16,decode_splits=8" \
  timeout 150 python3 .carry/devbin/paged_configs.py 2>&1 | tee $OUT/gpu/anchor.txt
echo "anchor $(( $(date +%s)-s )) s"; s=$(date +%s)
MODES=reuse LKS=32768,8192 CONFIGS=";decode_chunk=16;decode_chunk=32" timeout 100 python3 .carry/devbin/paged_configs.py 2>&1 | tee $OUT/gpu/reuse.txt
echo "reuse $(( $(date +%s)-s )) s"
(cd $OUT && tar czf gpu.tar.gz gpu && rm -rf gpu)
