# call 6 (carry .carry/cuda, .carry/devbin; lib_new = HEAD's plugin: 10-wave built-in, block_q=192 at
# head_dim 64 and 128): the CUDA tests whole on HEAD (test_cuda, test_backends quick on cuda:0,
# test_cuda_graph with its new captured block_q=192 call), memcheck of the graph case.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD new || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_new
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
timeout 200 $B/test_cuda >$OUT/test_cuda.log 2>&1; echo "test_cuda rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
KSA_TEST_QUICK=1 timeout 100 $B/test_backends --devices cuda:0 >$OUT/test_backends.log 2>&1; echo "test_backends quick rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
timeout 60 $B/test_cuda_graph >$OUT/test_cuda_graph.log 2>&1; echo "test_cuda_graph rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
KSA_TEST_FILTER=test_graph_dense_block_q192 timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 $B/test_cuda_graph \
  >$OUT/memcheck.log 2>&1; echo "memcheck (graph case) rc=$? $(grep 'ERROR SUMMARY' $OUT/memcheck.log | tail -1)" | tee -a $S
grep -E "FAILED|PASSED|identical|SKIP" $OUT/test_cuda.log $OUT/test_cuda_graph.log | head -20 >>$S
cat $S
