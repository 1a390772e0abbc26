#!/bin/bash
# tenth session, device call 5: lib_cand = lib_pg2 with the TMA variants' unrolled prologue restored;
# GPU tests + memcheck on lib_cand, ksa-bench A/B head vs pg2 vs cand (dense B16 was 1-2% slower with pg2)
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh; ksa_device_cmocka $R >/dev/null
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH
export KSA_PLUGIN_PATH=$R/.carry/devbin/lib_cand KSA_TUNE_CACHE=off
mkdir -p $OUT/gpu
for t in test_cuda test_cuda_graph; do
  s=$(date +%s); timeout 200 .carry/devbin/bin/$t > $OUT/gpu/$t.log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s"; grep -E "PASSED|FAILED|ERROR|LINE" $OUT/gpu/$t.log | head -8
done
s=$(date +%s); timeout 200 .carry/devbin/bin/test_backends --devices cuda:0 > $OUT/gpu/test_backends.log 2>&1; echo "test_backends rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|ktest grid|PASS" $OUT/gpu/test_backends.log | head -6
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode*' timeout 150 compute-sanitizer --tool memcheck .carry/devbin/bin/test_cuda > $OUT/gpu/memcheck-decode.log 2>&1; echo "memcheck decode rc=$? $(( $(date +%s)-s )) s"; grep -E "test\(s\)|ERROR SUMMARY|Invalid" $OUT/gpu/memcheck-decode.log | head -4
s=$(date +%s); KSA_TEST_QUICK=1 timeout 200 compute-sanitizer --tool memcheck .carry/devbin/bin/test_backends --devices cuda:0 > $OUT/gpu/memcheck-backends.log 2>&1; echo "memcheck backends rc=$? $(( $(date +%s)-s )) s"; grep -E "ktest grid|ERROR SUMMARY|Invalid" $OUT/gpu/memcheck-backends.log | head -4
(cd $OUT && tar czf gpu.tar.gz gpu && rm -rf gpu)
s=$(date +%s)
VARIANTS="head=lib_head pg2=lib_pg2 cand=lib_cand" bash .carry/devbin/abv.sh 3 dec16 dec1 rdec1 adec1
echo "abv $(( $(date +%s)-s )) s"
