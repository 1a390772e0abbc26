#!/bin/bash
# eleventh session, device call 8: test_decode_small_pages with its long case in bf16 (call 7 ran it in f32 by mistake)
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh; ksa_device_cmocka $R >/dev/null
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH KSA_TUNE_CACHE=off KSA_PLUGIN_PATH=$R/.carry/devbin/lib_new3
mkdir -p $OUT/gpu
s=$(date +%s); KSA_TEST_FILTER='test_decode_small_pages' timeout 100 .carry/devbin/bin/test_cuda > $OUT/gpu/test_cuda.log 2>&1; echo "test_cuda small pages rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|PASSED|ERROR|LINE" $OUT/gpu/test_cuda.log | head -6
for tool in memcheck racecheck; do
  s=$(date +%s); KSA_TEST_FILTER='test_decode_small_pages' timeout 200 compute-sanitizer --tool $tool .carry/devbin/bin/test_cuda > $OUT/gpu/$tool-small-pages.log 2>&1; echo "$tool small pages rc=$? $(( $(date +%s)-s )) s"; grep -E "PASSED|FAILED|ERROR SUMMARY|RACECHECK SUMMARY" $OUT/gpu/$tool-small-pages.log | head -3
done
(cd $OUT && tar czf gpu.tar.gz gpu && rm -rf gpu)
