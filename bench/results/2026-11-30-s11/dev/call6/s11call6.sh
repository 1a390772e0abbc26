#!/bin/bash
# eleventh session, device call 6: which split plan pages of 16 want now that they load by TMA page by page
# (configuration sweep on lib_new2), and the REUSE 16-key chunk rule for long lists (lib_new2 vs lib_s11)
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh; ksa_device_cmocka $R >/dev/null
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH KSA_LIBRARY=$R/.carry/devbin/core/libksa.so KSA_TUNE_CACHE=off
mkdir -p $OUT/gpu
export KSA_PLUGIN_PATH=$R/.carry/devbin/lib_new2
s=$(date +%s); KSA_TEST_FILTER='test_decode*' timeout 200 .carry/devbin/bin/test_cuda > $OUT/gpu/test_cuda.log 2>&1; echo "test_cuda decode rc=$? $(( $(date +%s)-s )) s"; grep -E "PASSED|FAILED|ERROR|LINE" $OUT/gpu/test_cuda.log | head -5
s=$(date +%s)
for r in 1 2; do
TAG=r$r MODES=dense LKS=32768,8192 PAGES=16,64,0 CONFIGS=";decode_splits=16,decode_cluster=1;decode_splits=16,decode_cluster=1,decode_stages=3;decode_splits=12,decode_cluster=1;decode_kernel=3;decode_splits=8,decode_cluster=1" \
  timeout 100 python3 .carry/devbin/paged_configs.py >> $OUT/gpu/dense.txt 2>&1
done
TAG=b2 BATCH=2 MODES=dense LKS=32768,8192 PAGES=16 CONFIGS=";decode_splits=16,decode_cluster=1;decode_kernel=3" timeout 60 python3 .carry/devbin/paged_configs.py >> $OUT/gpu/dense.txt 2>&1
TAG=r1 MODES=anchor LKS=32768,8192 PAGES=16,64,0 CONFIGS=";decode_stages=3;decode_chunk=16,decode_stages=3;decode_chunk=16" timeout 100 python3 .carry/devbin/paged_configs.py >> $OUT/gpu/anchor.txt 2>&1
echo "sweep $(( $(date +%s)-s )) s"
sort -k2,2 -k3,3 -k4,4 -k6,6 -k9,9 -k1,1 $OUT/gpu/dense.txt | cut -c1-110
sort -k2,2 -k3,3 -k4,4 -k6,6 -k9,9 $OUT/gpu/anchor.txt | cut -c1-110
for v in s11 new2; do KSA_PLUGIN_PATH=$R/.carry/devbin/lib_$v TAG=$v MODES=reuse LKS=32768,8192 PAGES=0,16 timeout 60 python3 .carry/devbin/paged_configs.py >> $OUT/gpu/reuse.txt 2>&1; done
sort -k3,3 -k4,4 -k6,6 -k1,1 $OUT/gpu/reuse.txt | cut -c1-70
s=$(date +%s)
VARIANTS="old=lib_s11 new2=lib_new2" bash .carry/devbin/abv.sh 2 rdec1 rdec2
echo "abv $(( $(date +%s)-s )) s"
(cd $OUT && tar czf gpu.tar.gz gpu abv.jsonl && rm -rf gpu abv.jsonl)
