#!/bin/bash
# s25 call 7: lib_pr = 8f477f3 + kg_tstream_fits through ksa_topk_pivot_rank (now host and device; the streamed
# Top-k's SASS changes in its fits check only): test_cuda (quick), the full sampled-pivot test, the decode Top-k tests
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
tar xJf $D/lib_pr.tar.xz -C $D
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_pr
s=$(date +%s); KSA_TEST_QUICK=1 timeout 50 $D/bin/test_cuda > $L/test_cuda.log 2>&1; echo "test_cuda quick rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) ' $L/test_cuda.log | tr '\n' ' ')"
s=$(date +%s); KSA_TEST_FILTER=test_topk_sampled_pivot timeout 80 $D/bin/test_cuda > $L/sampled.log 2>&1; echo "sampled full rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) ' $L/sampled.log | tr '\n' ' ')"
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
