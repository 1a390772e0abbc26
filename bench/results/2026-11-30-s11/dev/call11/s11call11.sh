#!/bin/bash
# eleventh session, device call 11: review mends (one TMA page-rows helper for plan and launcher; test helper): GPU tests
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh; ksa_device_cmocka $R >/dev/null
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH KSA_TUNE_CACHE=off KSA_PLUGIN_PATH=$R/.carry/devbin/lib_fin
for t in test_cuda test_cuda_graph; do
  s=$(date +%s); timeout 100 .carry/devbin/bin/$t > $OUT/$t.log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|PASSED|LINE" $OUT/$t.log | head -4
done
s=$(date +%s); timeout 100 .carry/devbin/bin/test_backends --devices cuda:0 > $OUT/test_backends.log 2>&1; echo "test_backends rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|ktest grid" $OUT/test_backends.log | head -3
