# call 3 (carry .carry/cuda, .carry/devbin): the CPU backend's AMX level under the sanitizers CI runs
# on a machine without AMX: the README test command's build with AddressSanitizer + UBSan
# (-LE slow, as CI) and with ThreadSanitizer (-L threads), from this working tree (kernels_amx.c
# checks each tile row by instrumented loads in ASan builds); then racecheck over test_cuda_graph and
# test_backends (quick, cuda:0) with HEAD's plugin (call 1 covered test_cuda).
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); amx_bf16 $(grep -c -m1 amx_bf16 /proc/cpuinfo)" | tee -a $S
export KSA_SKIP_DEPS=1 KSA_TEST_JOBS=8
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 KSA_BUILD_DIR=/tmp/b-asan \
  KSA_CMAKE_ARGS="-DKSA_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF -DKSA_WITH_PYTHON=OFF" \
  KSA_CTEST_ARGS="-LE slow" timeout 280 bash scripts/test.sh >$OUT/asan.log 2>&1
echo "asan+ubsan rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "ksa: cpu backend kernel levels|tests passed|tests failed|\(Failed\)|\(Timeout\)|ERROR: AddressSanitizer|runtime error|test.sh:" $OUT/asan.log | head -20 >>$S
/tmp/b-asan/bin/ksa-info 2>/dev/null | grep -i -E "cpu|amx|level" | head -5 >>$S
grep -h -E "level amx|amx\.bf16" /tmp/b-asan/Testing/Temporary/LastTest.log 2>/dev/null | sort | uniq -c | head -8 >>$S
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 KSA_BUILD_DIR=/tmp/b-tsan \
  KSA_CMAKE_ARGS="-DKSA_SANITIZE_THREAD=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF -DKSA_BUILD_TOOLS=OFF -DKSA_WITH_PYTHON=OFF" \
  KSA_CTEST_ARGS="-L threads" timeout 200 bash scripts/test.sh >$OUT/tsan.log 2>&1
echo "tsan rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "tests passed|tests failed|\(Failed\)|\(Timeout\)|WARNING: ThreadSanitizer|test.sh:" $OUT/tsan.log | head -10 >>$S
grep -h -E "level amx|amx\.bf16" /tmp/b-tsan/Testing/Temporary/LastTest.log 2>/dev/null | sort | uniq -c | head -8 >>$S
ksa_dev_libs $PWD head || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_head KSA_TEST_QUICK=1
for t in test_cuda_graph "test_backends --devices cuda:0"; do
  log=$OUT/racecheck-${t%% *}.log
  timeout 150 compute-sanitizer --tool racecheck --error-exitcode 9 $KSA_DEV/bin/$t >$log 2>&1
  echo "racecheck $t rc=$? $(grep -E 'RACECHECK SUMMARY' $log | tail -1) ($(($(date +%s)-t0)) s)" | tee -a $S
  grep -E "PASSED|runs,|devices" $log | tail -2 >>$S
done
tar czf $OUT/logs.tar.gz -C /tmp b-asan/Testing/Temporary b-tsan/Testing/Temporary 2>/dev/null
echo "done ($(($(date +%s)-t0)) s)" | tee -a $S
