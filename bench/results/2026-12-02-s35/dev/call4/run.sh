# call 4 (carry .carry/cuda, .carry/devbin; lib_base = the CUDA plugin of HEAD): test_cuda built after the
# review moved the workspace queries into one helper (problem_workspace), quick form, the four tests
# that query workspaces under overrides. No prediction beyond "passes".
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD base || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_LIBRARY=$KSA_DEV/core/libksa.so KSA_PLUGIN_PATH=$KSA_DEV/lib_base
for f in test_plan_follows_configuration test_decode_affine_paged test_decode_topk_cluster_pools test_decode_long_lists_many_waves; do
  KSA_TEST_QUICK=1 KSA_TEST_FILTER=$f timeout 120 $KSA_DEV/bin/test_cuda 2>&1 | grep -E "OK|FAIL|PASSED|workspace|B[0-9]+:"
done
# Outcome (11 s): all four passed; the long-list test printed "B198: workspace built-in 412160,
# 2 splits 412160, 1 split 206336 bytes".
