# call 5 (carry .carry/cuda, .carry/devbin; lib_new = the split rule with 2 / 4 splits): test_cuda at
# full size (the new case runs its reference check) with the new plugin, then its quick form.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD new || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_LIBRARY=$KSA_DEV/core/libksa.so KSA_PLUGIN_PATH=$KSA_DEV/lib_new
t0=$(date +%s)
timeout 200 $KSA_DEV/bin/test_cuda >$OUT/test_cuda.log 2>&1; echo "test_cuda rc=$? ($(($(date +%s)-t0)) s)"
KSA_TEST_QUICK=1 timeout 100 $KSA_DEV/bin/test_cuda >$OUT/test_cuda_quick.log 2>&1; echo "test_cuda quick rc=$? ($(($(date +%s)-t0)) s)"
grep -A4 'long_lists' $OUT/test_cuda.log $OUT/test_cuda_quick.log; tail -4 $OUT/test_cuda.log
