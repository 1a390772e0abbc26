#!/bin/bash
# eleventh session, device call 5: TMA boxes of one page for pages smaller than the chunk, and the built-in
# 8-split in-cluster dense decode for few lists (lib_new) against HEAD (lib_s11): tests, sanitizers, A/B
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh; ksa_device_cmocka $R >/dev/null
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH KSA_LIBRARY=$R/.carry/devbin/core/libksa.so KSA_TUNE_CACHE=off
mkdir -p $OUT/gpu
export KSA_PLUGIN_PATH=$R/.carry/devbin/lib_new
for t in test_cuda test_cuda_graph; do
  s=$(date +%s); timeout 200 .carry/devbin/bin/$t > $OUT/gpu/$t.log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s"; grep -E "small_pages|PASSED|FAILED|ERROR|LINE" $OUT/gpu/$t.log | head -8
done
s=$(date +%s); timeout 200 .carry/devbin/bin/test_backends --devices cuda:0 > $OUT/gpu/test_backends.log 2>&1; echo "test_backends rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|ktest grid|PASS" $OUT/gpu/test_backends.log | head -6
for tool in memcheck racecheck; do
  s=$(date +%s); KSA_TEST_FILTER='test_decode_small_pages' timeout 150 compute-sanitizer --tool $tool .carry/devbin/bin/test_cuda > $OUT/gpu/$tool-small-pages.log 2>&1; echo "$tool small pages rc=$? $(( $(date +%s)-s )) s"; grep -E "test\(s\)|ERROR SUMMARY|RACECHECK SUMMARY|Invalid|hazard" $OUT/gpu/$tool-small-pages.log | head -4
done
s=$(date +%s)
for r in 1 2; do
  for v in s11 new; do
    KSA_PLUGIN_PATH=$R/.carry/devbin/lib_$v TAG=$v MODES=dense,anchor,reuse LKS=32768,8192 timeout 100 python3 .carry/devbin/paged_configs.py >> $OUT/gpu/paged.txt 2>&1
  done
done
for v in s11 new; do KSA_PLUGIN_PATH=$R/.carry/devbin/lib_$v TAG=$v BATCH=2 MODES=dense LKS=32768,8192 timeout 60 python3 .carry/devbin/paged_configs.py >> $OUT/gpu/paged.txt 2>&1; done
echo "paged A/B $(( $(date +%s)-s )) s"
sort -k2,2 -k3,3 -k4,4 -k6,6n -k1,1 $OUT/gpu/paged.txt | cut -c1-60 | head -90
s=$(date +%s)
VARIANTS="old=lib_s11 new=lib_new" bash .carry/devbin/abv.sh 2 dec1b dec2
VARIANTS="old=lib_s11 c16=lib_s11@decode_chunk=16" bash .carry/devbin/abv.sh 2 rdec1
echo "abv $(( $(date +%s)-s )) s"
(cd $OUT && tar czf gpu.tar.gz gpu abv.jsonl && rm -rf gpu)
