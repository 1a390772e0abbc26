#!/bin/bash
# eleventh session, device call 1: GPU tests of HEAD 2918dd6 (test_cuda's clamped-lengths body moved to
# tests/common; never rerun on a GPU), the OpenCL ksa_meta path on NVIDIA's OpenCL (opencl:1.0), memcheck
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh; ksa_device_cmocka $R >/dev/null
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH
export KSA_PLUGIN_PATH=$R/.carry/devbin/lib_s11 KSA_TUNE_CACHE=off
mkdir -p $OUT/gpu
clinfo -l 2>/dev/null | head -8
for t in test_cuda test_cuda_graph; do
  s=$(date +%s); timeout 200 .carry/devbin/bin/$t > $OUT/gpu/$t.log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s"; grep -E "clamped|PASSED|FAILED|ERROR|LINE|SKIP" $OUT/gpu/$t.log | head -8
done
s=$(date +%s); KSA_TEST_OPENCL_DEVICE=opencl:1.0 timeout 200 .carry/devbin/bin/test_opencl > $OUT/gpu/test_opencl-nv.log 2>&1; echo "test_opencl opencl:1.0 rc=$? $(( $(date +%s)-s )) s"; grep -E "clamped|PASSED|FAILED|ERROR|LINE|SKIP" $OUT/gpu/test_opencl-nv.log | head -8
s=$(date +%s); timeout 240 .carry/devbin/bin/test_backends --devices cuda:0,opencl:1.0 > $OUT/gpu/test_backends.log 2>&1; echo "test_backends rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|ktest grid|PASS|bounded" $OUT/gpu/test_backends.log | head -8
s=$(date +%s); KSA_TEST_FILTER='test_lengths_clamped*' timeout 100 compute-sanitizer --tool memcheck .carry/devbin/bin/test_cuda > $OUT/gpu/memcheck-clamped.log 2>&1; echo "memcheck clamped rc=$? $(( $(date +%s)-s )) s"; grep -E "test\(s\)|ERROR SUMMARY|Invalid" $OUT/gpu/memcheck-clamped.log | head -4
(cd $OUT && tar czf gpu.tar.gz gpu && rm -rf gpu)
