#!/bin/bash
# s15 call 2: test_cuda with GQA 12/16 decode cases (lib_new2 = c65a2cf + relaxed exit barrier in topk_cluster.cu); decode plan sweep on lib_new; anchor decode A/B new vs new2
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_new2
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
cat /tmp/test_cuda.log /tmp/test_cuda_graph.log /tmp/test_backends.log > $OUT/tests.log
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_wide_groups' timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/sanitize.log 2>&1; echo "memcheck wide_groups rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_topk_pooling' timeout 100 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda >> $OUT/sanitize.log 2>&1; echo "racecheck topk_pooling rc=$? $(( $(date +%s)-s )) s $(grep 'RACECHECK SUMMARY' $OUT/sanitize.log | tail -1)"
VARIANTS="new=lib_new new2=lib_new2" bash $D/abv.sh 3 adec1 adec16 > $OUT/abv-topk.txt 2>&1; mv $OUT/abv.jsonl $OUT/abv-topk.jsonl; cat $OUT/abv-topk.txt
VARIANTS="base=lib_new c16=lib_new@decode_chunk=16 s2=lib_new@decode_splits=2 st2=lib_new@decode_stages=2" bash $D/abv.sh 2 dec16 dec > $OUT/abv-plan.txt 2>&1; cat $OUT/abv-plan.txt
