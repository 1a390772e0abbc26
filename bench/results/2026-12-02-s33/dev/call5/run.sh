# call 5 (carry .carry/cuda, .carry/devbin; lib_head): test_cuda without KSA_TEST_QUICK (every case at
# its full size: head_dim 64 / 128 / 256 where a case loops over them, all dtypes) under memcheck,
# capped at 300 s; the log says which cases finished.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD head || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_head
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 100 $KSA_DEV/bin/test_cuda >$OUT/memcheck.log 2>&1
echo "memcheck test_cuda (full) rc=$? $(grep -E 'ERROR SUMMARY' $OUT/memcheck.log | tail -1) ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "^\[ *(OK|FAILED|PASSED|SKIPPED|RUN) *\]" $OUT/memcheck.log | tail -45 >>$S
echo "done ($(($(date +%s)-t0)) s)" | tee -a $S
