#!/bin/bash
# s23 call 5 (after the final run): the resized test_topk_sampled_pivot on the landed kernels (lib_smt, the same
# device code as the final run's build): the test alone in full and quick mode, then the quick test_cuda under
# memcheck, each timed (the final run's memcheck of test_cuda hit its 15 s cap, and ctest's test_cuda took 114 s)
D=$PWD/.carry/devbin
R=$PWD
tar xJf $D/lib_smt.tar.xz -C $D
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_smt
s=$(date +%s); KSA_TEST_FILTER=test_topk_sampled_pivot timeout 60 $D/bin/test_cuda > $OUT/full.log 2>&1; echo "full mode rc=$? $(( $(date +%s)-s )) s: $(grep -E 'PASSED|FAILED|failed' $OUT/full.log | tr '\n' ' ')"
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_topk_sampled_pivot timeout 30 $D/bin/test_cuda > $OUT/quick.log 2>&1; echo "quick mode rc=$? $(( $(date +%s)-s )) s: $(grep -E 'PASSED|FAILED|failed' $OUT/quick.log | tr '\n' ' ')"
s=$(date +%s); KSA_TEST_QUICK=1 timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/memcheck.log 2>&1; echo "memcheck quick test_cuda rc=$? $(( $(date +%s)-s )) s: $(grep -E 'ERROR SUMMARY' $OUT/memcheck.log | tail -1)"
