#!/bin/bash
# s13 call 11: PoCL >= 4 left out unless POCL_WORK_GROUP_METHOD=cbs; test_opencl on PoCL 5.0 with cbs
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export LD_LIBRARY_PATH=$D/core_full:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_ocl KSA_TUNE_CACHE=off
echo "== default loader vendors: $(ls /etc/OpenCL/vendors 2>/dev/null | tr '\n' ' ')"
KSA_LOG=1 $D/bin/ksa-info 2>&1 | grep -i 'opencl\|left out' | head -8
echo "== with POCL_WORK_GROUP_METHOD=cbs"
POCL_WORK_GROUP_METHOD=cbs $D/bin/ksa-info 2>&1 | grep -i 'opencl' | head -4
for i in 1 2; do
  s=$(date +%s); POCL_WORK_GROUP_METHOD=cbs KSA_TEST_OPENCL_DEVICE=opencl:0.0 timeout 110 $D/bin/test_opencl > $OUT/test_opencl_cbs_$i.log 2>&1
  echo "test_opencl PoCL cbs run $i rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |FAIL ' $OUT/test_opencl_cbs_$i.log | head -4 | tr '\n' ' ' | cut -c1-300)"
done
s=$(date +%s); KSA_TEST_OPENCL_DEVICE=opencl timeout 60 $D/bin/test_opencl > $OUT/test_opencl_default.log 2>&1
echo "test_opencl default device rc=$? $(( $(date +%s)-s )) s: $(grep -E 'device opencl|^\[  (PASSED|FAILED) |skip' $OUT/test_opencl_default.log | head -4 | tr '\n' ' ' | cut -c1-300)"
