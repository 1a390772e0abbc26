#!/bin/bash
# s23 call 6: test_topk_sampled_pivot resized again (decode of SMs / 8 + 1 lists of up to 20000 keys after the
# pooling kernel; the lists-over-SMs case at head_dim 64 in full mode only) on lib_smt: quick, then full mode, timed
D=$PWD/.carry/devbin
R=$PWD
tar xJf $D/lib_smt.tar.xz -C $D
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_smt
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_topk_sampled_pivot timeout 20 $D/bin/test_cuda > $OUT/quick.log 2>&1; echo "quick mode rc=$? $(( $(date +%s)-s )) s: $(grep -E 'PASSED|FAILED|failed' $OUT/quick.log | tr '\n' ' ')"
s=$(date +%s); KSA_TEST_FILTER=test_topk_sampled_pivot timeout 40 $D/bin/test_cuda > $OUT/full.log 2>&1; echo "full mode rc=$? $(( $(date +%s)-s )) s: $(grep -E 'PASSED|FAILED|failed' $OUT/full.log | tr '\n' ' ')"
